"""Discovery documents, the core and kopf resources, CRDs loaded from YAML or created through
the API, and standard ``Status`` error bodies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes
import kubernetes_validate
import pytest
import yaml

from tests.support import SEALEDSECRET_CRD, KubeAPI


def resources(api: KubeAPI, path: str) -> dict[str, dict[str, Any]]:
    doc = api.http("GET", path).json()
    assert doc["kind"] == "APIResourceList"
    return {entry["name"]: entry for entry in doc["resources"]}


def test_core_discovery(kube_api: KubeAPI) -> None:
    assert kube_api.http("GET", "/api").json()["versions"] == ["v1"]
    doc = kube_api.http("GET", "/api/v1").json()
    assert doc["groupVersion"] == "v1"
    core = resources(kube_api, "/api/v1")
    for name in ("secrets", "events", "services", "configmaps", "serviceaccounts"):
        assert core[name]["namespaced"] is True
        assert {"get", "list", "watch", "create", "patch", "delete"} <= set(core[name]["verbs"])
    assert core["namespaces"]["namespaced"] is False
    assert {"services/proxy", "services/status", "namespaces/status"} <= set(core)
    version = kube_api.http("GET", "/version").json()
    assert (version["major"], version["minor"]) == ("1", "37")


def test_group_discovery(kube_api: KubeAPI) -> None:
    groups = {g["name"]: g for g in kube_api.http("GET", "/apis").json()["groups"]}
    for name in ("kopf.dev", "coordination.k8s.io", "apiextensions.k8s.io", "events.k8s.io",
                 "bitnami.com"):
        assert name in groups
    assert groups["autoscaling"]["preferredVersion"]["version"] == "v2"
    assert groups["bitnami.com"]["versions"] == [
        {"groupVersion": "bitnami.com/v1alpha1", "version": "v1alpha1"}]
    group = kube_api.http("GET", "/apis/bitnami.com").json()
    assert (group["kind"], group["name"]) == ("APIGroup", "bitnami.com")
    kopf_dev = resources(kube_api, "/apis/kopf.dev/v1")
    assert kopf_dev["clusterkopfpeerings"]["namespaced"] is False
    assert kopf_dev["kopfpeerings"]["kind"] == "KopfPeering"
    sealed = resources(kube_api, "/apis/bitnami.com/v1alpha1")
    assert sealed["sealedsecrets"]["kind"] == "SealedSecret"
    assert sealed["sealedsecrets"]["singularName"] == "sealedsecret"
    assert {"list", "watch", "patch"} <= set(sealed["sealedsecrets"]["verbs"])
    assert "sealedsecrets/status" in sealed
    assert kube_api.http("GET", "/apis/nothing.example.com/v1").status == 404
    assert "/apis/bitnami.com/v1alpha1" in kube_api.http("GET", "/").json()["paths"]


def test_namespaces_and_events_paths(kube_client: kubernetes.client.ApiClient) -> None:
    core = kubernetes.client.CoreV1Api(kube_client)
    created = core.create_namespace({"metadata": {"name": "team-a"}})
    assert created.status.phase == "Active"
    assert core.read_namespace("team-a").metadata.uid == created.metadata.uid
    patched = core.patch_namespace("team-a", {"metadata": {"labels": {"a": "b"}}})
    assert patched.metadata.labels == {"a": "b"}
    assert core.read_namespace_status("team-a").status.phase == "Active"
    event = {"metadata": {"generateName": "e-"}, "involvedObject": {"name": "x"},
             "reason": "R", "message": "m", "type": "Normal"}
    assert core.create_namespaced_event("team-a", event).metadata.name.startswith("e-")
    events_v1 = kubernetes.client.EventsV1Api(kube_client)
    new_event = {"metadata": {"generateName": "e-"}, "eventTime": "2026-01-01T00:00:00.000000Z",
                 "reportingController": "x", "reportingInstance": "y", "action": "A",
                 "reason": "R", "type": "Normal"}
    assert events_v1.create_namespaced_event("team-a", new_event).metadata.name
    assert len(core.list_namespaced_event("team-a").items) == 1


def test_leases_and_kopf_peerings(kube_client: kubernetes.client.ApiClient) -> None:
    leases = kubernetes.client.CoordinationV1Api(kube_client)
    lease = leases.create_namespaced_lease("default", {
        "metadata": {"name": "leader"}, "spec": {"holderIdentity": "me"}})
    lease.spec.holder_identity = "you"
    replaced = leases.replace_namespaced_lease("leader", "default", lease)
    assert replaced.spec.holder_identity == "you"
    custom = kubernetes.client.CustomObjectsApi(kube_client)
    custom.create_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings", {
        "apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering",
        "metadata": {"name": "default"}})
    custom.create_namespaced_custom_object("kopf.dev", "v1", "default", "kopfpeerings", {
        "apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": "default"}})
    peerings = custom.list_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings")
    assert [p["metadata"]["name"] for p in peerings["items"]] == ["default"]


def test_crd_from_yaml_is_served_and_stored(kube_api: KubeAPI) -> None:
    crd = kube_api.get("customresourcedefinitions", "sealedsecrets.bitnami.com")
    assert crd is not None
    path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/sealedsecrets.bitnami.com"
    same = kube_api.http("PUT", path, {**crd, "status": {}}).json()
    assert same["metadata"]["resourceVersion"] == crd["metadata"]["resourceVersion"]
    assert {c["type"]: c["status"] for c in crd["status"]["conditions"]} == {
        "NamesAccepted": "True", "Established": "True"}
    spec = yaml.safe_load(SEALEDSECRET_CRD.read_text())["spec"]
    assert crd["spec"] == spec
    version = spec["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["Synced"] == '.status.conditions[?(@.type=="Synced")].status'
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert status["x-kubernetes-preserve-unknown-fields"] is True
    assert {"conditions", "observedGeneration", "keyFingerprints", "unsealedHash"} <= set(
        status["properties"])
    encrypted = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"][
        "encryptedData"]
    assert encrypted["x-kubernetes-preserve-unknown-fields"] is True


def test_crd_manifest_is_valid_and_accepts_upstream_shaped_objects() -> None:
    doc = yaml.safe_load(SEALEDSECRET_CRD.read_text())
    kubernetes_validate.validate(doc, "1.33.0", strict=True)
    schema = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    upstream_shaped = {  # as kubeseal writes them, plus a status as upstream's controller does
        "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
        "metadata": {"name": "db", "namespace": "team-a",
                     "annotations": {"sealedsecrets.bitnami.com/namespace-wide": "true"}},
        "spec": {"encryptedData": {"password": "AgBy3i4OJSWK+PiTySYZZA=="},
                 "template": {"metadata": {"name": "db", "labels": {"app": "db"}},
                              "type": "Opaque", "immutable": True, "data": None}},
        "status": {"observedGeneration": 1, "conditions": [
            {"type": "Synced", "status": "True", "lastUpdateTime": "2026-01-01T00:00:00Z",
             "lastTransitionTime": "2026-01-01T00:00:00Z"}],
            "keyFingerprints": ["ab12"], "unsealedHash": "h", "futureField": {"x": 1}},
    }
    schema_for_python = _nullable_as_jsonschema(schema)
    jsonschema.validate(upstream_shaped, schema_for_python)
    for broken in ({"spec": {}}, {"spec": {"encryptedData": {"k": "v"}, "template": {
            "immutable": "yes"}}}, {"spec": {"encryptedData": {}}, "status": {
            "conditions": [{"type": "Synced"}]}}, {"metadata": {}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
                                 **broken}, schema_for_python)


def _nullable_as_jsonschema(schema: Any) -> Any:
    """OpenAPI's ``nullable: true`` in JSON Schema terms (``type: [T, "null"]``)."""
    if isinstance(schema, list):
        return [_nullable_as_jsonschema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {k: _nullable_as_jsonschema(v) for k, v in schema.items() if k != "nullable"}
    if schema.get("nullable") and "type" in schema:
        result["type"] = [schema["type"], "null"]
    return result


def test_crd_created_through_the_api_registers_its_resource(
        kube_api: KubeAPI, kube_client: kubernetes.client.ApiClient, tmp_path: Path) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Cluster",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget",
                           "shortNames": ["wd"]},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": {"type": "object"}}}]},
    }
    assert kube_api.http("GET", "/apis/example.com/v1/widgets").status == 404
    extensions = kubernetes.client.ApiextensionsV1Api(kube_client)
    extensions.create_custom_resource_definition(crd)
    widgets = resources(kube_api, "/apis/example.com/v1")["widgets"]
    assert (widgets["namespaced"], widgets["shortNames"]) == (False, ["wd"])
    custom = kubernetes.client.CustomObjectsApi(kube_client)
    custom.create_cluster_custom_object("example.com", "v1", "widgets", {
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}})
    assert kube_api.get("wd", "w1")["metadata"]["generation"] == 1
    wrong = dict(crd, metadata={"name": "wrong.example.com"})
    with pytest.raises(kubernetes.client.ApiException) as failure:
        extensions.create_custom_resource_definition(wrong)
    assert failure.value.status == 422


@pytest.mark.parametrize(("method", "path", "code", "reason"), [
    ("GET", "/api/v1/namespaces/default/secrets/nope", 404, "NotFound"),
    ("GET", "/apis/bitnami.com/v1alpha1/namespaces/default/widgets", 404, "NotFound"),
    ("GET", "/nothing/here", 404, "NotFound"),
    ("POST", "/api/v1/namespaces/default/secrets/named", 405, "MethodNotAllowed"),
    ("POST", "/api/v1/namespaces/default/secrets", 400, "BadRequest"),
    ("POST", "/api/v1/componentstatuses", 405, "MethodNotAllowed"),
])
def test_error_bodies_are_standard_statuses(kube_api: KubeAPI, method: str, path: str,
                                            code: int, reason: str) -> None:
    result = kube_api.http(method, path, b"[]" if method == "POST" else None)
    assert result.status == code
    body = result.json()
    assert {k: body[k] for k in ("kind", "apiVersion", "status", "reason", "code")} == {
        "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason,
        "code": code}
    assert body["message"]
