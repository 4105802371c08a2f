"""Writes as the API server does them: resourceVersion, uid, generation, timestamps,
generateName, status codes, conflicts, Secret defaulting and immutability, no-op updates."""

from __future__ import annotations

import base64
import re
from typing import Any

import kubernetes
import pytest

from tests.support import KubeAPI

SS_PATH = "/apis/bitnami.com/v1alpha1/namespaces/default/sealedsecrets"


def sealed(name: str, data: str = "AgB1") -> dict[str, Any]:
    return {"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
            "metadata": {"name": name}, "spec": {"encryptedData": {"k": data}}}


def test_create_answers_201_with_server_fields(kube_api: KubeAPI) -> None:
    before = kube_api.resource_version
    result = kube_api.http("POST", SS_PATH, sealed("one"))
    assert result.status == 201
    obj = result.json()
    meta = obj["metadata"]
    assert (obj["apiVersion"], obj["kind"]) == ("bitnami.com/v1alpha1", "SealedSecret")
    assert meta["namespace"] == "default" and meta["generation"] == 1
    assert int(meta["resourceVersion"]) == before + 1
    assert re.fullmatch(r"[0-9a-f-]{36}", meta["uid"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["creationTimestamp"])
    second = kube_api.http("POST", SS_PATH, sealed("two")).json()
    assert second["metadata"]["uid"] != meta["uid"]
    assert int(second["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])


def test_resource_versions_are_global_and_monotonic(kube_api: KubeAPI) -> None:
    versions = []
    for index in range(5):
        versions.append(int(kube_api.http("POST", SS_PATH, sealed(f"s{index}")).json()
                            ["metadata"]["resourceVersion"]))
        cm = {"metadata": {"name": f"c{index}"}, "data": {"a": "b"}}
        versions.append(int(kube_api.http("POST", "/api/v1/namespaces/default/configmaps", cm)
                            .json()["metadata"]["resourceVersion"]))
    assert versions == sorted(versions) and len(set(versions)) == len(versions)


def test_generate_name(kube_client: kubernetes.client.ApiClient) -> None:
    core = kubernetes.client.CoreV1Api(kube_client)
    names = {core.create_namespaced_event("default", {
        "metadata": {"generateName": "kopf-event-"}, "involvedObject": {"name": "x"},
        "reason": "Test", "message": "m"}).metadata.name for _ in range(3)}
    assert len(names) == 3
    assert all(re.fullmatch(r"kopf-event-[bcdfghjklmnpqrstvwxz2456789]{5}", n) for n in names)


def test_create_conflicts_and_validation(kube_api: KubeAPI) -> None:
    assert kube_api.http("POST", SS_PATH, sealed("dup")).status == 201
    again = kube_api.http("POST", SS_PATH, sealed("dup"))
    assert again.status == 409 and again.json()["reason"] == "AlreadyExists"
    assert again.json()["details"] == {"name": "dup", "kind": "sealedsecrets",
                                       "group": "bitnami.com"}
    nameless = kube_api.http("POST", SS_PATH, {"spec": {}})
    assert nameless.status == 422 and nameless.json()["reason"] == "Invalid"
    bad_name = kube_api.http("POST", SS_PATH, sealed("Not_Valid"))
    assert bad_name.status == 422
    other_ns = kube_api.http("POST", SS_PATH, {**sealed("x"), "metadata": {
        "name": "x", "namespace": "elsewhere"}})
    assert other_ns.status == 400 and other_ns.json()["reason"] == "BadRequest"


def test_put_replaces_with_200_404_and_409(kube_api: KubeAPI) -> None:
    created = kube_api.http("POST", SS_PATH, sealed("r")).json()
    replaced = dict(created, spec={"encryptedData": {"k": "new"}})
    result = kube_api.http("PUT", f"{SS_PATH}/r", replaced)
    assert result.status == 200
    assert result.json()["spec"] == {"encryptedData": {"k": "new"}}
    assert result.json()["metadata"]["generation"] == 2
    stale = kube_api.http("PUT", f"{SS_PATH}/r", replaced)  # still the old resourceVersion
    assert stale.status == 409 and stale.json()["reason"] == "Conflict"
    assert "the object has been modified" in stale.json()["message"]
    unconditional = {**replaced, "metadata": {"name": "r"}, "spec": {"encryptedData": {}}}
    assert kube_api.http("PUT", f"{SS_PATH}/r", unconditional).status == 200
    missing = kube_api.http("PUT", f"{SS_PATH}/nope", sealed("nope"))
    assert missing.status == 404 and missing.json()["reason"] == "NotFound"
    renamed = kube_api.http("PUT", f"{SS_PATH}/r", sealed("other"))
    assert renamed.status == 400


def test_generation_moves_with_spec_only(kube_api: KubeAPI) -> None:
    kube_api.http("POST", SS_PATH, sealed("g"))
    url, merge = f"{SS_PATH}/g", "application/merge-patch+json"
    labels = kube_api.http("PATCH", url, {"metadata": {"labels": {"a": "b"}}}, content_type=merge)
    assert labels.json()["metadata"]["generation"] == 1
    status = kube_api.http("PATCH", f"{url}/status", {"status": {"observedGeneration": 1}},
                           content_type=merge)
    assert status.json()["metadata"]["generation"] == 1
    spec = kube_api.http("PATCH", url, {"spec": {"encryptedData": {"k": "v2"}}},
                         content_type=merge)
    assert spec.json()["metadata"]["generation"] == 2


def test_server_owned_fields_survive_client_writes(kube_api: KubeAPI) -> None:
    created = kube_api.http("POST", SS_PATH, sealed("owned")).json()
    forged = {"metadata": {"uid": "forged", "creationTimestamp": "2000-01-01T00:00:00Z",
                           "generation": 99, "labels": {"ok": "yes"}}}
    patched = kube_api.http("PATCH", f"{SS_PATH}/owned", forged,
                            content_type="application/merge-patch+json").json()
    for field in ("uid", "creationTimestamp", "generation"):
        assert patched["metadata"][field] == created["metadata"][field]
    assert patched["metadata"]["labels"] == {"ok": "yes"}


def test_no_op_update_keeps_resource_version(kube_api: KubeAPI) -> None:
    created = kube_api.http("POST", SS_PATH, sealed("same")).json()
    rv = kube_api.resource_version
    result = kube_api.http("PATCH", f"{SS_PATH}/same", {"spec": created["spec"]},
                           content_type="application/merge-patch+json").json()
    assert result["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert kube_api.resource_version == rv


def test_secret_string_data_and_type_default(kube_client: kubernetes.client.ApiClient) -> None:
    core = kubernetes.client.CoreV1Api(kube_client)
    secret = core.create_namespaced_secret("default", {
        "metadata": {"name": "s"}, "data": {"a": base64.b64encode(b"1").decode()},
        "stringData": {"b": "two"}})
    assert secret.type == "Opaque"
    assert secret.string_data is None
    assert {k: base64.b64decode(v) for k, v in secret.data.items()} == {"a": b"1", "b": b"two"}


def test_immutable_secret_keeps_data(kube_client: kubernetes.client.ApiClient) -> None:
    core = kubernetes.client.CoreV1Api(kube_client)
    core.create_namespaced_secret("default", {"metadata": {"name": "frozen"}, "immutable": True,
                                              "stringData": {"a": "1"}})
    with pytest.raises(kubernetes.client.ApiException) as failure:
        core.patch_namespaced_secret("frozen", "default", {"stringData": {"a": "2"}})
    assert failure.value.status == 422
    with pytest.raises(kubernetes.client.ApiException):
        core.patch_namespaced_secret("frozen", "default", {"immutable": False})
    labelled = core.patch_namespaced_secret("frozen", "default",
                                            {"metadata": {"labels": {"ok": "1"}}})
    assert labelled.metadata.labels == {"ok": "1"}


def test_server_side_dry_run_changes_nothing(kube_api: KubeAPI) -> None:
    rv = kube_api.resource_version
    result = kube_api.http("POST", f"{SS_PATH}?dryRun=All", sealed("dry"))
    assert result.status == 201 and result.json()["metadata"]["name"] == "dry"
    assert kube_api.get("sealedsecrets", "dry", "default") is None
    assert kube_api.resource_version == rv


def test_protobuf_typed_create_of_core_kinds(kube_api: KubeAPI) -> None:
    # kubectl create secret generic s --from-literal=a=b, as kubectl 1.37 encodes it.
    body = (b"k8s\x00\n\x0c\n\x02v1\x12\x06Secret\x12\x1e\n\x12\n\x02s2\x12\x00\x1a\x00\"\x00*"
            b"\x002\x008\x00B\x00\x12\x06\n\x01a\x12\x01b\x1a\x00\x1a\x00\"\x00")
    result = kube_api.http("POST", "/api/v1/namespaces/default/secrets", body,
                           content_type="application/vnd.kubernetes.protobuf")
    assert result.status == 201
    assert result.json()["data"] == {"a": "Yg=="} and result.json()["type"] == "Opaque"
    other = kube_api.http("POST", SS_PATH, b"k8s\x00\n\x0c\n\x02v1\x12\x06Widget",
                          content_type="application/vnd.kubernetes.protobuf")
    assert other.status == 415 and other.json()["reason"] == "UnsupportedMediaType"
