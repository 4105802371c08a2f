"""What one SealedSecret costs in API requests: a new one (no status yet) has its Secret created
without a read first; one that looks new but whose Secret exists (made by a controller that ran
without status updates) is read after the refused create, and adopted or refused as usual; a
restart reads each Secret once and decrypts nothing."""

from __future__ import annotations

from typing import Any

from sealer.keys import KeyPair
from tests.integration.controller_fixtures import (
    ControllerFactory,
    data_of,
    sealed_secret,
)
from tests.support.kubeapi import KubeAPI

NS = "calls"


def calls(api: KubeAPI, verb: str, resource: str, **match: Any) -> list[int]:
    return [r.status for r in api.requests(verb=verb, resource=resource, namespace=NS, **match)]


def owned_secret(obj: dict[str, Any], data: dict[str, str]) -> dict[str, Any]:
    meta = obj["metadata"]
    return {"apiVersion": "v1", "kind": "Secret", "data": data, "metadata": {
        "name": meta["name"], "namespace": NS, "ownerReferences": [{
            "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "name": meta["name"],
            "uid": meta["uid"], "controller": True}]}}  # fmt: skip


def test_a_new_object_is_created_unread_and_a_restart_only_reads(
    controller: ControllerFactory, kube_api: KubeAPI, key_pairs: tuple[KeyPair, ...]
) -> None:
    ctl = controller([key_pairs[0]])
    for i in range(3):
        kube_api.create(sealed_secret(key_pairs[0], NS, f"new-{i}", {"pw": f"v{i}".encode()}))
    for i in range(3):
        ctl.wait_condition(NS, f"new-{i}", "True")
    ctl.idle()
    assert calls(kube_api, "get", "secrets") == []
    assert calls(kube_api, "create", "secrets") == [201] * 3
    assert calls(kube_api, "patch", "sealedsecrets", subresource="status") == [200] * 3
    assert ctl.counters.decryptions == 3

    ctl.stop()
    kube_api.reset_log()
    again = controller([key_pairs[0]])
    for i in range(3):
        again.wait_condition(NS, f"new-{i}", "True")
    again.idle()
    assert again.counters.in_sync == 3 and again.counters.decryptions == 0
    assert calls(kube_api, "get", "secrets") == [200] * 3
    assert calls(kube_api, "create", "secrets") == []


def test_an_object_without_status_whose_secret_exists(
    controller: ControllerFactory, kube_api: KubeAPI, key_pairs: tuple[KeyPair, ...]
) -> None:
    """Ours (an owner reference to it, stale data): the refused create leads to a read and a
    replace. Someone else's: refused, left as it is, and the object says why."""
    ours = kube_api.create(sealed_secret(key_pairs[0], NS, "ours", {"pw": b"fresh"}))
    kube_api.create(owned_secret(ours, {"pw": "c3RhbGU="}))
    theirs = kube_api.create(sealed_secret(key_pairs[0], NS, "theirs", {"pw": b"sealed"}))
    kube_api.create({"apiVersion": "v1", "kind": "Secret", "data": {"pw": "aGFuZC1tYWRl"},
                     "metadata": {"name": "theirs", "namespace": NS}})  # fmt: skip
    assert "status" not in ours and "status" not in theirs
    ctl = controller([key_pairs[0]])
    ctl.wait_secret(NS, "ours", lambda s: data_of(s) == {"pw": b"fresh"})
    condition = ctl.wait_condition(NS, "theirs", "False")
    assert "already exists and is not managed by SealedSecret" in condition["message"]
    assert data_of(kube_api.get("secrets", "theirs", NS) or {}) == {"pw": b"hand-made"}
    # one create each, refused; retries read first: no Secret made twice
    assert calls(kube_api, "create", "secrets") == [409, 409]
    assert 200 in calls(kube_api, "update", "secrets", name="ours")
    assert len([s for s in kube_api.list("secrets", NS) if s["metadata"]["name"] == "ours"]) == 1
