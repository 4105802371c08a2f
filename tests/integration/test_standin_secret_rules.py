"""The stand-in validates Secrets as the API server's ``ValidateSecret``/``ValidateSecretUpdate``
do: what a real cluster refuses fails here too (422, values never quoted)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.support import KubeAPI

PATH = "/api/v1/namespaces/default/secrets"


def secret(name: str, data: dict[str, bytes], type_: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                            "data": {k: base64.b64encode(v).decode() for k, v in data.items()}}
    if type_:
        body["type"] = type_
    return body


@pytest.mark.parametrize(("body", "field"), [
    (secret("a", {"..x": b"v"}), "data[..x]"),
    (secret("b", {"k": b"v" * (1024 * 1024 + 1)}), "Too long"),
    (secret("c", {"pw": b"value-not-quoted"}, "kubernetes.io/tls"), "data[tls.crt]: Required"),
    (secret("d", {"pw": b"v"}, "kubernetes.io/basic-auth"), "data[username]: Required"),
])
def test_invalid_secrets_are_refused(kube_api: KubeAPI, body: dict[str, Any], field: str) -> None:
    result = kube_api.http("POST", PATH, body)
    assert result.status == 422, result.body
    assert field in result.json()["message"]
    assert b"value-not-quoted" not in result.body


def test_valid_secrets_and_type_immutability(kube_api: KubeAPI) -> None:
    tls = secret("t", {"tls.crt": b"c", "tls.key": b"k"}, "kubernetes.io/tls")
    assert kube_api.http("POST", PATH, tls).status == 201
    assert kube_api.http("POST", PATH, secret("u", {"password": b"p"},
                                              "kubernetes.io/basic-auth")).status == 201
    assert kube_api.http("POST", PATH, secret("x", {"k": b"v" * 1024 * 1024})).status == 201
    changed = kube_api.http("PATCH", PATH + "/u", {"type": "Opaque"},
                            content_type="application/merge-patch+json")
    assert changed.status == 422 and "type: field is immutable" in changed.json()["message"]


def test_a_dependent_of_a_gone_owner_is_collected(kube_api: KubeAPI) -> None:
    """As the garbage collector does (shortly, in a cluster) for an object written with an owner
    reference to an owner deleted meanwhile: a controller racing a deletion leaves nothing."""
    owner = kube_api.create({"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": "owner", "namespace": "default"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
           "uid": owner["metadata"]["uid"], "controller": True}
    late = secret("late", {"k": b"v"})
    late["metadata"]["ownerReferences"] = [ref]
    kube_api.delete("configmaps", "owner", "default")
    assert kube_api.http("POST", PATH, late).status == 201
    assert kube_api.get("secrets", "late", "default") is None
    kube_api.create({**owner, "metadata": {"name": "owner", "namespace": "default"}})
    alive = kube_api.create({"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": "alive", "namespace": "default"}})
    kept = secret("kept", {"k": b"v"})
    kept["metadata"]["ownerReferences"] = [{**ref, "name": "alive",
                                            "uid": alive["metadata"]["uid"]}]
    assert kube_api.http("POST", PATH, kept).status == 201
    assert kube_api.get("secrets", "kept", "default") is not None
