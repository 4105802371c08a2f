"""The real operator unsealing SealedSecrets in the API stand-in: lifecycle, scopes, templates,
upstream-made ciphertexts, and objects it must refuse."""

from __future__ import annotations

import hashlib

import pytest

from sealer.keys import KeyPair
from sealer.scope import MANAGED_ANNOTATION, PATCH_ANNOTATION, Scope
from tests.integration.controller_fixtures import (
    KEY_NS,
    ControllerFactory,
    data_of,
    key_secret,
    sealed_secret,
    vector,
    vector_key_pair,
    wait_for,
)

VECTORS = [
    "01-strict-empty.json",
    "02-strict-1byte.json",
    "03-namespace-text-newline.json",
    "04-namespace-binary256.json",
    "05-cluster-1byte.json",
    "06-cluster-70000.json",
]


def test_create_update_delete(controller: ControllerFactory,
                              key_pairs: tuple[KeyPair, ...]) -> None:
    ctl = controller([key_pairs[0]])
    api = ctl.api
    created = api.create(sealed_secret(key_pairs[0], "default", "db", {"password": b"hunter2"}))
    secret = ctl.wait_secret("default", "db")
    assert data_of(secret) == {"password": b"hunter2"}
    assert secret["type"] == "Opaque"
    (owner,) = secret["metadata"]["ownerReferences"]
    assert owner == {"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "name": "db",
                     "uid": created["metadata"]["uid"], "controller": True}
    cond = ctl.wait_condition("default", "db", "True")
    assert "message" not in cond
    status = api.get("sealedsecrets", "db", "default")["status"]
    assert status["observedGeneration"] == 1
    assert status["keyFingerprints"] == [key_pairs[0].fingerprint]
    assert ctl.events("default", "db", "Unsealed")

    # update: a new value and a new item
    update = sealed_secret(key_pairs[0], "default", "db",
                           {"password": b"correct horse", "user": b"admin"})
    api.patch("sealedsecrets", "db", {"spec": update["spec"]}, "default")
    ctl.wait_secret("default", "db",
                    lambda s: data_of(s) == {"password": b"correct horse", "user": b"admin"})
    wait_for(lambda: api.get("sealedsecrets", "db", "default")["status"]["observedGeneration"] == 2)

    # delete: Kubernetes garbage-collects the Secret through the owner reference
    api.delete("sealedsecrets", "db", "default")
    wait_for(lambda: ctl.secret("default", "db") is None, what="Secret garbage-collected")


@pytest.mark.parametrize("scope", list(Scope))
def test_every_scope(controller: ControllerFactory, key_pairs: tuple[KeyPair, ...],
                     scope: Scope) -> None:
    ctl = controller([key_pairs[0]])
    ctl.api.create(sealed_secret(key_pairs[0], "default", "s", {"k": b"v"}, scope=scope))
    assert data_of(ctl.wait_secret("default", "s")) == {"k": b"v"}


def test_scope_binds_the_ciphertext(controller: ControllerFactory,
                                    key_pairs: tuple[KeyPair, ...]) -> None:
    """A strict value copied under another name, or relabelled wider, does not open."""
    ctl = controller([key_pairs[0]])
    strict = sealed_secret(key_pairs[0], "default", "original", {"k": b"v"})
    moved = {**strict, "metadata": {**strict["metadata"], "name": "copy"}}
    widened = {**strict, "metadata": {**strict["metadata"], "name": "original",
                                      "namespace": "kube-public",
                                      "annotations": Scope.CLUSTER_WIDE.annotate(None)}}
    ctl.api.create(moved)
    ctl.api.create(widened)
    for ns, name in (("default", "copy"), ("kube-public", "original")):
        cond = ctl.wait_condition(ns, name, "False")
        assert cond["reason"] == "ErrUnsealFailed"
        assert "spec.encryptedData.k" in cond["message"]
        assert ctl.secret(ns, name) is None


def test_template(controller: ControllerFactory, key_pairs: tuple[KeyPair, ...]) -> None:
    ctl = controller([key_pairs[0]])
    template = {
        "metadata": {"name": "ignored", "namespace": "ignored",
                     "labels": {"app": "web"}, "annotations": {"team": "a"}},
        "type": "kubernetes.io/basic-auth",
        "immutable": True,
        "data": {"url": "postgres://{{ .username }}:{{ index . \"password\" }}@db"},
    }
    ctl.api.create(sealed_secret(key_pairs[0], "default", "web",
                                 {"username": b"admin", "password": b"pw"}, template=template))
    secret = ctl.wait_secret("default", "web")
    assert secret["metadata"]["name"] == "web" and secret["metadata"]["namespace"] == "default"
    assert secret["metadata"]["labels"] == {"app": "web"}
    assert secret["metadata"]["annotations"]["team"] == "a"
    assert secret["type"] == "kubernetes.io/basic-auth"
    assert secret["immutable"] is True
    assert data_of(secret) == {"username": b"admin", "password": b"pw",
                               "url": b"postgres://admin:pw@db"}


def test_skip_owner_references(controller: ControllerFactory,
                               key_pairs: tuple[KeyPair, ...]) -> None:
    ctl = controller([key_pairs[0]])
    template = {"metadata": {"annotations": {
        "sealedsecrets.bitnami.com/skip-set-owner-references": "true"}}}
    ctl.api.create(sealed_secret(key_pairs[0], "default", "free", {"k": b"v"}, template=template))
    secret = ctl.wait_secret("default", "free")
    assert "ownerReferences" not in secret["metadata"]
    ctl.wait_condition("default", "free", "True")
    # without an owner reference it is still ours to update (upstream: "not managed" from now on)
    update = sealed_secret(key_pairs[0], "default", "free", {"k": b"v2"}, template=template)
    ctl.api.patch("sealedsecrets", "free", {"spec": update["spec"]}, "default")
    ctl.wait_secret("default", "free", lambda s: data_of(s) == {"k": b"v2"})
    ctl.idle()
    assert ctl.condition("default", "free")["status"] == "True"


@pytest.mark.parametrize("name", VECTORS)
def test_upstream_ciphertexts(controller: ControllerFactory, name: str) -> None:
    """Objects sealed by upstream's Go code, with upstream's key as a key Secret."""
    v = vector(name)
    pair = vector_key_pair(v["private_key_pem"], v["cert_pem"])
    ctl = controller([pair])
    scope = Scope(v["scope"])
    ns, obj_name = v["namespace"] or "default", v["name"] or "vector"
    ss = sealed_secret(pair, ns, obj_name, {}, scope=scope, hint=False)
    ss["spec"]["encryptedData"] = {"value": v["ciphertext_b64"]}
    ctl.api.create(ss)
    secret = ctl.wait_secret(ns, obj_name)
    assert hashlib.sha256(data_of(secret)["value"]).hexdigest() == v["plaintext_sha256"]


def test_undecryptable_then_key_arrives(controller: ControllerFactory,
                                        key_pairs: tuple[KeyPair, ...]) -> None:
    """Sealed to a key the controller lacks: a clear error, no Secret; hot-loading that key
    heals it without a restart (upstream would have given up after 5 tries)."""
    ctl = controller([key_pairs[0]])
    ctl.api.create(sealed_secret(key_pairs[1], "default", "later", {"token": b"s3cret"}))
    cond = ctl.wait_condition("default", "later", "False")
    assert cond["reason"] == "ErrUnsealFailed"
    assert cond["message"] == ("Failed to unseal: SealedSecret default/later: "
                               "spec.encryptedData.token: no key could decrypt it")
    (event,) = ctl.events("default", "later", "ErrUnsealFailed")[:1]
    assert event["type"] == "Warning"
    assert ctl.secret("default", "later") is None
    ctl.api.create(key_secret(key_pairs[1], "sealed-secrets-keylater", KEY_NS))
    assert data_of(ctl.wait_secret("default", "later")) == {"token": b"s3cret"}
    ctl.wait_condition("default", "later", "True")


def test_unowned_secret_is_never_touched(controller: ControllerFactory,
                                         key_pairs: tuple[KeyPair, ...]) -> None:
    ctl = controller([key_pairs[0]])
    mine = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": "taken", "namespace": "default", "labels": {"owner": "me"}},
            "data": {"k": "b3JpZ2luYWw="}}
    before = ctl.api.create(mine)
    ctl.api.create(sealed_secret(key_pairs[0], "default", "taken", {"k": b"new"}))
    cond = ctl.wait_condition("default", "taken", "False")
    assert cond["reason"] == "ErrUpdateFailed"
    assert cond["message"] == 'Resource "taken" already exists and is not managed by SealedSecret'
    assert ctl.events("default", "taken", "ErrUpdateFailed")
    ctl.idle()
    assert ctl.secret("default", "taken")["metadata"]["resourceVersion"] == (
        before["metadata"]["resourceVersion"])

    # its owner allows a take-over: the watch on Secrets notices, no restart or retry wait needed
    ctl.api.patch("secrets", "taken",
                  {"metadata": {"annotations": {MANAGED_ANNOTATION: "true"}}}, "default")
    secret = ctl.wait_secret("default", "taken", lambda s: data_of(s) == {"k": b"new"})
    assert secret["metadata"]["ownerReferences"][0]["kind"] == "SealedSecret"
    assert "labels" not in secret["metadata"]  # replaced by the template's (none), as upstream
    ctl.wait_condition("default", "taken", "True")


def test_patch_annotation_merges(controller: ControllerFactory,
                                 key_pairs: tuple[KeyPair, ...]) -> None:
    ctl = controller([key_pairs[0]])
    ctl.api.create({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                    "metadata": {"name": "shared", "namespace": "default",
                                 "labels": {"owner": "helm"},
                                 "annotations": {PATCH_ANNOTATION: "true"}},
                    "data": {"theirs": "dGhlaXJz", "k": "b2xk"}})
    template = {"metadata": {"labels": {"from": "sealed"}}}
    ctl.api.create(sealed_secret(key_pairs[0], "default", "shared", {"k": b"new"},
                                 template=template))
    secret = ctl.wait_secret("default", "shared", lambda s: data_of(s).get("k") == b"new")
    assert data_of(secret) == {"theirs": b"theirs", "k": b"new"}
    assert secret["metadata"]["labels"] == {"owner": "helm", "from": "sealed"}
    assert "ownerReferences" not in secret["metadata"]  # patched, not managed: not ours
    ctl.wait_condition("default", "shared", "True")


def test_invalid_object_reports_and_recovers_on_edit(controller: ControllerFactory,
                                                    key_pairs: tuple[KeyPair, ...]) -> None:
    ctl = controller([key_pairs[0]])
    bad = sealed_secret(key_pairs[0], "default", "bad", {"k": b"v"})
    bad["spec"]["encryptedData"]["k"] = "not base64!"
    ctl.api.create(bad)
    cond = ctl.wait_condition("default", "bad", "False")
    assert "spec.encryptedData.k" in cond["message"] and "base64" in cond["message"]
    good = sealed_secret(key_pairs[0], "default", "bad", {"k": b"v"})
    ctl.api.patch("sealedsecrets", "bad", {"spec": good["spec"]}, "default")
    assert data_of(ctl.wait_secret("default", "bad")) == {"k": b"v"}
