"""PATCH flavours (JSON patch, merge patch, strategic merge as merge) and the status
subresource: status writes change only status, main writes never change status."""

from __future__ import annotations

from typing import Any

import kubernetes
import pytest

from tests.support import KubeAPI

SS_PATH = "/apis/bitnami.com/v1alpha1/namespaces/default/sealedsecrets"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
SMP = "application/strategic-merge-patch+json"


@pytest.fixture
def obj(kube_api: KubeAPI) -> dict[str, Any]:
    body = {"metadata": {"name": "p", "labels": {"a": "1"}},
            "spec": {"encryptedData": {"k": "v"}, "template": {"type": "Opaque"}}}
    created: dict[str, Any] = kube_api.http("POST", SS_PATH, body).json()
    return created


def test_json_patch_test_op_guards_resource_version(kube_api: KubeAPI,
                                                    obj: dict[str, Any]) -> None:
    rv = obj["metadata"]["resourceVersion"]
    ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": rv},
           {"op": "add", "path": "/metadata/finalizers", "value": ["example.com/f"]}]
    first = kube_api.http("PATCH", f"{SS_PATH}/p", ops, content_type=JSON_PATCH)
    assert first.status == 200
    assert first.json()["metadata"]["finalizers"] == ["example.com/f"]
    again = kube_api.http("PATCH", f"{SS_PATH}/p", ops, content_type=JSON_PATCH)
    assert again.status == 422 and again.json()["reason"] == "Invalid"
    bad_path = kube_api.http("PATCH", f"{SS_PATH}/p",
                             [{"op": "remove", "path": "/spec/nothing"}], content_type=JSON_PATCH)
    assert bad_path.status == 422


def test_merge_patch_semantics_and_stale_version(kube_api: KubeAPI, obj: dict[str, Any]) -> None:
    patched = kube_api.http("PATCH", f"{SS_PATH}/p", {
        "metadata": {"labels": {"a": None, "b": "2"}},
        "spec": {"template": None, "encryptedData": {"k2": "v2"}}}, content_type=MERGE).json()
    assert patched["metadata"]["labels"] == {"b": "2"}
    assert patched["spec"] == {"encryptedData": {"k": "v", "k2": "v2"}}
    stale = kube_api.http("PATCH", f"{SS_PATH}/p", {
        "metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]}, "spec": {}},
        content_type=MERGE)
    assert stale.status == 409 and stale.json()["reason"] == "Conflict"
    fresh = kube_api.http("PATCH", f"{SS_PATH}/p", {
        "metadata": {"resourceVersion": patched["metadata"]["resourceVersion"]},
        "spec": {"encryptedData": {"k": "w"}}}, content_type=MERGE)
    assert fresh.status == 200


def test_strategic_merge_is_a_merge_patch_minus_directives(kube_api: KubeAPI,
                                                           obj: dict[str, Any]) -> None:
    patch = {"$setElementOrder/finalizers": ["x"],
             "metadata": {"labels": {"c": "3"}, "$retainKeys": ["labels"]},
             "spec": {"encryptedData": {"k": "smp"}}}
    result = kube_api.http("PATCH", f"{SS_PATH}/p", patch, content_type=SMP)
    assert result.status == 200
    assert result.json()["metadata"]["labels"] == {"a": "1", "c": "3"}
    assert result.json()["spec"]["encryptedData"] == {"k": "smp"}
    assert not any(key.startswith("$") for key in result.json())


def test_unsupported_patch_types(kube_api: KubeAPI, obj: dict[str, Any]) -> None:
    apply = kube_api.http("PATCH", f"{SS_PATH}/p", b"spec: {}",
                          content_type="application/apply-patch+yaml")
    assert apply.status == 415 and apply.json()["reason"] == "UnsupportedMediaType"
    missing = kube_api.http("PATCH", f"{SS_PATH}/none", {}, content_type=MERGE)
    assert missing.status == 404


def test_status_subresource_writes_only_status(kube_api: KubeAPI, obj: dict[str, Any]) -> None:
    result = kube_api.http("PATCH", f"{SS_PATH}/p/status", {
        "metadata": {"labels": {"sneaky": "1"}}, "spec": {"encryptedData": {}},
        "status": {"observedGeneration": 1, "unsealedHash": "h"}}, content_type=MERGE).json()
    assert result["status"] == {"observedGeneration": 1, "unsealedHash": "h"}
    assert result["spec"] == obj["spec"] and result["metadata"]["labels"] == {"a": "1"}
    put = dict(result, status={"observedGeneration": 2}, spec={"encryptedData": {}})
    replaced = kube_api.http("PUT", f"{SS_PATH}/p/status", put).json()
    assert replaced["status"] == {"observedGeneration": 2} and replaced["spec"] == obj["spec"]
    got = kube_api.http("GET", f"{SS_PATH}/p/status").json()
    assert got["status"] == {"observedGeneration": 2}
    assert kube_api.http("DELETE", f"{SS_PATH}/p/status").status == 405


def test_main_resource_writes_never_change_status(kube_api: KubeAPI,
                                                  obj: dict[str, Any]) -> None:
    kube_api.http("PATCH", f"{SS_PATH}/p/status", {"status": {"observedGeneration": 1}},
                  content_type=MERGE)
    merged = kube_api.http("PATCH", f"{SS_PATH}/p", {"status": {"observedGeneration": 7}},
                           content_type=MERGE).json()
    assert merged["status"] == {"observedGeneration": 1}
    ops = [{"op": "replace", "path": "/status", "value": {}}]
    jsoned = kube_api.http("PATCH", f"{SS_PATH}/p", ops, content_type=JSON_PATCH).json()
    assert jsoned["status"] == {"observedGeneration": 1}
    created = kube_api.http("POST", SS_PATH, {"metadata": {"name": "q"}, "spec": {},
                                              "status": {"observedGeneration": 5}}).json()
    assert "status" not in created


def test_status_via_the_official_client(kube_api: KubeAPI,
                                        kube_client: kubernetes.client.ApiClient,
                                        obj: dict[str, Any]) -> None:
    custom = kubernetes.client.CustomObjectsApi(kube_client)
    conditions = [{"type": "Synced", "status": "True", "message": ""}]
    result = custom.patch_namespaced_custom_object_status(
        "bitnami.com", "v1alpha1", "default", "sealedsecrets", "p",
        {"status": {"conditions": conditions, "keyFingerprints": ["ab12"]}})
    assert result["status"]["keyFingerprints"] == ["ab12"]
    kubernetes.client.CoreV1Api(kube_client).create_namespaced_secret(
        "default", {"metadata": {"name": "x"}})
    no_status = kube_api.http("GET", "/api/v1/namespaces/default/secrets/x/status")
    assert no_status.status == 404  # Secrets declare no status subresource
