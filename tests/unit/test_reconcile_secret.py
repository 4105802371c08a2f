"""controller.reconcile: whose a Secret is, what to write (upstream's merge rules), and the keyed
hash that tells an unchanged Secret without decrypting."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from controller import digest, reconcile
from controller.reconcile import Ownership
from sealer.scope import MANAGED_ANNOTATION, PATCH_ANNOTATION, Scope
from sealer.sealedsecret import SealedSecret

UID = "0b6c-uid"
KEY = b"k" * 32
FP = "SHA256:test"


def sealed_body(**template: Any) -> dict[str, Any]:
    return {
        "apiVersion": "bitnami.com/v1alpha1",
        "kind": "SealedSecret",
        "metadata": {"name": "db", "namespace": "app", "uid": UID, "generation": 1},
        "spec": {"encryptedData": {"password": "AAAA"}, "template": template},
    }


def unsealed(body: dict[str, Any], data: dict[str, str]) -> dict[str, Any]:
    tmeta = copy.deepcopy(body["spec"]["template"].get("metadata") or {})
    tmeta.update(name="db", namespace="app", ownerReferences=[
        {"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "name": "db", "uid": UID,
         "controller": True}])
    secret: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": tmeta,
                              "data": data}
    if body["spec"]["template"].get("type"):
        secret["type"] = body["spec"]["template"]["type"]
    return secret


def live(data: dict[str, str], **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": "db", "namespace": "app", "resourceVersion": "7", **meta},
            "data": data}


OWNED_REF = [{"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "name": "db",
              "uid": UID, "controller": True}]


@pytest.mark.parametrize(("secret", "expected"), [
    (None, Ownership.ABSENT),
    (live({}, ownerReferences=OWNED_REF), Ownership.OWNED),
    (live({}, ownerReferences=[{**OWNED_REF[0], "uid": "other"}]), Ownership.FOREIGN),
    (live({}, ownerReferences=[{**OWNED_REF[0], "controller": False}]), Ownership.FOREIGN),
    (live({}, annotations={MANAGED_ANNOTATION: "true"}), Ownership.MANAGED),
    (live({}, annotations={PATCH_ANNOTATION: "true"}), Ownership.PATCHED),
    (live({}, annotations={MANAGED_ANNOTATION: "yes"}), Ownership.FOREIGN),
    (live({}), Ownership.FOREIGN),
])
def test_ownership(secret: dict[str, Any] | None, expected: Ownership) -> None:
    assert reconcile.ownership(secret, UID) is expected


def test_secret_made_without_owner_reference_stays_ours() -> None:
    body = sealed_body(metadata={"annotations": {
        "sealedsecrets.bitnami.com/skip-set-owner-references": "true"}})
    sealed = SealedSecret.from_manifest(body)
    skip = reconcile.skips_owner_reference(sealed)
    write = reconcile.plan(None, unsealed(body, {"password": "cHc="}), sealed,
                           reconcile.inputs(body, sealed), KEY, FP)
    assert write is not None
    made = write.secret
    made["metadata"].pop("ownerReferences", None)
    assert reconcile.ownership(made, UID, skip) is Ownership.OWNED
    assert reconcile.ownership(made, UID, False) is Ownership.FOREIGN
    foreign = live({}, annotations={digest.HASH_ANNOTATION: "forged"})
    assert reconcile.ownership(foreign, UID, skip) is Ownership.FOREIGN


def test_create_when_absent() -> None:
    body = sealed_body(metadata={"labels": {"a": "1"}})
    sealed = SealedSecret.from_manifest(body)
    write = reconcile.plan(None, unsealed(body, {"password": "cHc="}), sealed,
                           reconcile.inputs(body, sealed), KEY, FP)
    assert write is not None and write.create
    meta = write.secret["metadata"]
    assert meta["labels"] == {"a": "1"} and meta["ownerReferences"] == OWNED_REF
    assert meta["annotations"][digest.HASH_ANNOTATION].startswith(f"v1:{FP}:")


def test_replace_sets_template_metadata_and_keeps_type_and_version() -> None:
    """Upstream: data, labels, annotations, owner references replaced; here also no type change
    to an empty one (the API forbids changing a Secret's type)."""
    body = sealed_body(metadata={"annotations": {"x": "1"}})
    sealed = SealedSecret.from_manifest(body)
    current = live({"password": "b2xk", "stale": "eA=="}, labels={"gone": "1"},
                   annotations={MANAGED_ANNOTATION: "true"})
    current["type"] = "kubernetes.io/basic-auth"
    write = reconcile.plan(current, unsealed(body, {"password": "cHc="}), sealed,
                           reconcile.inputs(body, sealed), KEY, FP)
    assert write is not None and not write.create
    secret = write.secret
    assert secret["data"] == {"password": "cHc="}
    assert "labels" not in secret["metadata"]
    assert set(secret["metadata"]["annotations"]) == {"x", digest.HASH_ANNOTATION}
    assert secret["metadata"]["ownerReferences"] == OWNED_REF
    assert secret["metadata"]["resourceVersion"] == "7"
    assert secret["type"] == "kubernetes.io/basic-auth"


@pytest.mark.parametrize("managed", [False, True])
def test_patch_merges(managed: bool) -> None:
    body = sealed_body(metadata={"labels": {"from": "sealed"}})
    sealed = SealedSecret.from_manifest(body)
    annotations = {PATCH_ANNOTATION: "true", **({MANAGED_ANNOTATION: "true"} if managed else {})}
    current = live({"theirs": "dA==", "password": "b2xk"}, labels={"owner": "helm"},
                   annotations=annotations)
    write = reconcile.plan(current, unsealed(body, {"password": "cHc="}), sealed,
                           reconcile.inputs(body, sealed), KEY, FP)
    assert write is not None
    secret = write.secret
    assert secret["data"] == {"theirs": "dA==", "password": "cHc="}
    assert secret["metadata"]["labels"] == {"owner": "helm", "from": "sealed"}
    assert PATCH_ANNOTATION in secret["metadata"]["annotations"]
    assert ("ownerReferences" in secret["metadata"]) is managed


def test_nothing_to_write_when_equal_and_in_sync_afterwards() -> None:
    body = sealed_body(metadata={"labels": {"a": "1"}}, type="Opaque")
    sealed = SealedSecret.from_manifest(body)
    inputs = reconcile.inputs(body, sealed)
    first = reconcile.plan(None, unsealed(body, {"password": "cHc="}), sealed, inputs, KEY, FP)
    assert first is not None
    stored = copy.deepcopy(first.secret)
    stored["metadata"].update(resourceVersion="9", uid="s-uid", creationTimestamp="now")
    assert reconcile.plan(stored, unsealed(body, {"password": "cHc="}), sealed, inputs,
                          KEY, FP) is None
    keys = {FP: KEY}.get
    assert reconcile.in_sync(stored, sealed, inputs, keys)
    # other tools' labels are not drift
    stored["metadata"]["labels"]["reloader"] = "x"
    assert reconcile.in_sync(stored, sealed, inputs, keys)


@pytest.mark.parametrize("change", ["data", "template-label", "owner", "hash", "spec", "scope",
                                    "key"])
def test_in_sync_notices(change: str) -> None:
    body = sealed_body(metadata={"labels": {"a": "1"}})
    sealed = SealedSecret.from_manifest(body)
    inputs = reconcile.inputs(body, sealed)
    write = reconcile.plan(None, unsealed(body, {"password": "cHc="}), sealed, inputs, KEY, FP)
    assert write is not None
    stored = copy.deepcopy(write.secret)
    keys: Any = {FP: KEY}.get
    if change == "data":
        stored["data"]["password"] = "eA=="
    elif change == "template-label":
        stored["metadata"]["labels"]["a"] = "2"
    elif change == "owner":
        del stored["metadata"]["ownerReferences"]
    elif change == "hash":
        del stored["metadata"]["annotations"][digest.HASH_ANNOTATION]
    elif change == "spec":
        body["spec"]["encryptedData"]["password"] = "BBBB"
        sealed = SealedSecret.from_manifest(body)
        inputs = reconcile.inputs(body, sealed)
    elif change == "scope":
        body["metadata"]["annotations"] = Scope.NAMESPACE_WIDE.annotate(None)
        sealed = SealedSecret.from_manifest(body)
        inputs = reconcile.inputs(body, sealed)
    elif change == "key":
        keys = {}.get  # the key that made the hash is gone
    assert not reconcile.in_sync(stored, sealed, inputs, keys)


def test_hash_is_keyed() -> None:
    inputs, projection = {"spec": 1}, {"data": {"k": "djE="}}
    a = digest.compute(b"a" * 32, FP, inputs, projection)
    b = digest.compute(b"b" * 32, FP, inputs, projection)
    assert a != b and digest.fingerprint_of(a) == FP
    assert digest.verify(a, {FP: b"a" * 32}.get, inputs, projection)
    assert not digest.verify(a, {FP: b"b" * 32}.get, inputs, projection)
    for bad in (None, "", "v2:x:y", f"v1:{FP}:short"):
        assert digest.fingerprint_of(bad) is None


def test_patched_legacy_data_cannot_be_checked_without_decrypting() -> None:
    body = sealed_body()
    body["spec"] = {"data": "AAAA"}
    sealed = SealedSecret.from_manifest(body)
    assert reconcile.projection(live({}, annotations={PATCH_ANNOTATION: "true"}), sealed) is None
