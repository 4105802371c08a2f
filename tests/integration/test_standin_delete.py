"""Deletion: at once without finalizers, deletionTimestamp + MODIFIED until the last finalizer
goes, propagation policies and preconditions, the owner-reference garbage collector,
deletecollection, and namespace and CRD deletion."""

from __future__ import annotations

from typing import Any

import kubernetes
import pytest

from tests.support import KubeAPI

SS_PATH = "/apis/bitnami.com/v1alpha1/namespaces/default/sealedsecrets"
SECRETS = "/api/v1/namespaces/default/secrets"
JSON_PATCH = "application/json-patch+json"


def events_since(api: KubeAPI, path: str, rv: int) -> list[tuple[str, str, str]]:
    """(type, name, resourceVersion) of the events after ``rv``, replayed from the log."""
    result = api.http("GET", f"{path}?watch=true&resourceVersion={rv}&timeoutSeconds=0.2")
    return [(e["type"], e["object"]["metadata"]["name"],
             e["object"]["metadata"]["resourceVersion"]) for e in result.lines()]


def make(api: KubeAPI, name: str, **meta: Any) -> dict[str, Any]:
    body = {"metadata": {"name": name, **meta}, "spec": {"encryptedData": {}}}
    created: dict[str, Any] = api.http("POST", SS_PATH, body).json()
    return created


def owned_secret(api: KubeAPI, name: str, *owners: dict[str, Any]) -> None:
    refs = [{"apiVersion": o["apiVersion"], "kind": o["kind"], "name": o["metadata"]["name"],
             "uid": o["metadata"]["uid"], "controller": i == 0} for i, o in enumerate(owners)]
    assert api.http("POST", SECRETS, {"metadata": {"name": name, "ownerReferences": refs}}
                    ).status == 201


def test_delete_without_finalizers_is_immediate(kube_api: KubeAPI) -> None:
    make(kube_api, "plain")
    rv = kube_api.resource_version
    result = kube_api.http("DELETE", f"{SS_PATH}/plain")
    assert result.status == 200 and result.json()["metadata"]["name"] == "plain"
    assert kube_api.http("GET", f"{SS_PATH}/plain").status == 404
    assert [e[:2] for e in events_since(kube_api, SS_PATH, rv)] == [("DELETED", "plain")]
    assert kube_api.http("DELETE", f"{SS_PATH}/plain").status == 404


def test_finalizers_hold_the_object_until_the_last_goes(kube_api: KubeAPI) -> None:
    make(kube_api, "held", finalizers=["a.example.com/x", "b.example.com/y"])
    rv = kube_api.resource_version
    marked = kube_api.http("DELETE", f"{SS_PATH}/held").json()
    assert marked["metadata"]["deletionTimestamp"]
    assert marked["metadata"]["generation"] == 2
    assert kube_api.http("GET", f"{SS_PATH}/held").status == 200
    again = kube_api.http("DELETE", f"{SS_PATH}/held").json()
    assert again["metadata"]["resourceVersion"] == marked["metadata"]["resourceVersion"]
    adding = kube_api.http("PATCH", f"{SS_PATH}/held", [
        {"op": "add", "path": "/metadata/finalizers/-", "value": "c.example.com/z"}],
        content_type=JSON_PATCH)
    assert adding.status == 422
    kube_api.http("PATCH", f"{SS_PATH}/held", [
        {"op": "remove", "path": "/metadata/finalizers/0"}], content_type=JSON_PATCH)
    assert kube_api.http("GET", f"{SS_PATH}/held").status == 200
    last = kube_api.http("PATCH", f"{SS_PATH}/held", [
        {"op": "test", "path": "/metadata/finalizers", "value": ["b.example.com/y"]},
        {"op": "remove", "path": "/metadata/finalizers"}], content_type=JSON_PATCH)
    assert last.status == 200
    assert kube_api.http("GET", f"{SS_PATH}/held").status == 404
    events = events_since(kube_api, SS_PATH, rv)
    assert [e[0] for e in events] == ["MODIFIED", "MODIFIED", "MODIFIED", "DELETED"]
    assert [int(e[2]) for e in events] == sorted(int(e[2]) for e in events)


def test_delete_options_policies_and_preconditions(kube_api: KubeAPI) -> None:
    obj = make(kube_api, "opts")
    wrong = kube_api.http("DELETE", f"{SS_PATH}/opts", {
        "kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": "not-it"}})
    assert wrong.status == 409 and wrong.json()["reason"] == "Conflict"
    bad = kube_api.http("DELETE", f"{SS_PATH}/opts", {"propagationPolicy": "Sideways"})
    assert bad.status == 400
    for policy, name in [("Foreground", "fg"), ("Background", "bg"), ("Orphan", "or")]:
        make(kube_api, name)
        assert kube_api.http("DELETE", f"{SS_PATH}/{name}", {
            "kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": policy,
            "gracePeriodSeconds": 0}).status == 200
    assert kube_api.http("DELETE", f"{SS_PATH}/opts?propagationPolicy=Background", {
        "preconditions": {"uid": obj["metadata"]["uid"]}}).status == 200


def test_official_client_delete_calls(kube_client: kubernetes.client.ApiClient) -> None:
    core = kubernetes.client.CoreV1Api(kube_client)
    core.create_namespaced_secret("default", {"metadata": {"name": "gone"}})
    core.delete_namespaced_secret("gone", "default", propagation_policy="Foreground",
                                  body=kubernetes.client.V1DeleteOptions(grace_period_seconds=0))
    with pytest.raises(kubernetes.client.ApiException) as failure:
        core.read_namespaced_secret("gone", "default")
    assert failure.value.status == 404


def test_garbage_collector_deletes_dependents(kube_api: KubeAPI) -> None:
    owner = make(kube_api, "owner")
    owned_secret(kube_api, "child", owner)
    other = make(kube_api, "other")
    owned_secret(kube_api, "shared", owner, other)
    kube_api.http("DELETE", f"{SS_PATH}/owner")
    assert kube_api.get("secrets", "child", "default") is None
    shared = kube_api.get("secrets", "shared", "default")
    assert shared is not None
    assert [r["name"] for r in shared["metadata"]["ownerReferences"]] == ["other"]
    kube_api.http("DELETE", f"{SS_PATH}/other")
    assert kube_api.get("secrets", "shared", "default") is None


def test_garbage_collector_waits_for_the_owners_finalizers(kube_api: KubeAPI) -> None:
    owner = make(kube_api, "slow", finalizers=["example.com/f"])
    owned_secret(kube_api, "kept-for-now", owner)
    kube_api.http("DELETE", f"{SS_PATH}/slow")
    assert kube_api.get("secrets", "kept-for-now", "default") is not None
    kube_api.patch("sealedsecrets", "slow", {"metadata": {"finalizers": None}}, "default")
    assert kube_api.get("secrets", "kept-for-now", "default") is None


def test_orphan_policy_keeps_dependents_without_the_reference(kube_api: KubeAPI) -> None:
    owner = make(kube_api, "parent")
    owned_secret(kube_api, "orphan", owner)
    kube_api.http("DELETE", f"{SS_PATH}/parent", {"propagationPolicy": "Orphan"})
    orphan = kube_api.get("secrets", "orphan", "default")
    assert orphan is not None and "ownerReferences" not in orphan["metadata"]


def test_garbage_collector_can_be_switched_off() -> None:
    with KubeAPI.start(crds=[], garbage_collector=False) as api:
        owner = api.http("POST", SECRETS, {"metadata": {"name": "owner"}}).json()
        refs = [{"apiVersion": "v1", "kind": "Secret", "name": "owner",
                 "uid": owner["metadata"]["uid"]}]
        api.http("POST", SECRETS, {"metadata": {"name": "dependent", "ownerReferences": refs}})
        api.http("DELETE", f"{SECRETS}/owner")
        assert api.get("secrets", "dependent", "default") is not None


def test_deletecollection_with_selector(kube_api: KubeAPI) -> None:
    for name, tier in [("a", "x"), ("b", "x"), ("c", "y")]:
        kube_api.http("POST", SECRETS, {"metadata": {"name": name, "labels": {"tier": tier}}})
    result = kube_api.http("DELETE", f"{SECRETS}?labelSelector=tier%3Dx")
    assert result.status == 200
    assert [i["metadata"]["name"] for i in result.json()["items"]] == ["a", "b"]
    assert [o["metadata"]["name"] for o in kube_api.list("secrets")] == ["c"]


def test_namespace_deletion_takes_its_objects(kube_api: KubeAPI) -> None:
    kube_api.http("POST", "/api/v1/namespaces", {"metadata": {"name": "team-a"}})
    kube_api.http("POST", "/api/v1/namespaces/team-a/secrets", {"metadata": {"name": "s"}})
    kube_api.http("POST", SECRETS, {"metadata": {"name": "s"}})
    assert kube_api.http("DELETE", "/api/v1/namespaces/team-a").status == 200
    assert kube_api.http("GET", "/api/v1/namespaces/team-a").status == 404
    assert kube_api.list("secrets", "team-a") == []
    assert len(kube_api.list("secrets", "default")) == 1


def test_crd_deletion_unregisters_the_resource(kube_api: KubeAPI) -> None:
    make(kube_api, "doomed")
    rv = kube_api.resource_version
    crd = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/sealedsecrets.bitnami.com"
    assert kube_api.http("DELETE", crd).status == 200
    assert kube_api.http("GET", SS_PATH).status == 404
    assert kube_api.http("GET", "/apis/bitnami.com/v1alpha1").status == 404
    log = kube_api.call(lambda: list(kube_api.emulator.hub.log))
    deleted = [e for e in log if e.rv > rv and e.type == "DELETED"]
    assert {e.obj["metadata"]["name"] for e in deleted} == {"doomed", "sealedsecrets.bitnami.com"}
