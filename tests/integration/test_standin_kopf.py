"""A real kopf operator against the stand-in: finalizers, status patches, owned Secrets
(garbage-collected), events, update and delete handlers, and a watch cut mid-way."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

import kopf
import kubernetes
import pytest

from tests.support import KubeAPI
from tests.support.fixtures import OperatorFactory

GROUP, VERSION, PLURAL = "bitnami.com", "v1alpha1", "sealedsecrets"
FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"


def eventually(check: Callable[[], Any], timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            assert result, "the condition was not met in time"
            return result
        time.sleep(0.02)


@pytest.fixture
def registry(kube_client: kubernetes.client.ApiClient) -> kopf.OperatorRegistry:
    """A tiny SealedSecret-like operator: 'unseals' by base64-decoding into an owned Secret."""
    registry = kopf.OperatorRegistry()
    core = kubernetes.client.CoreV1Api(kube_client)

    def secret_for(body: kopf.Body) -> dict[str, Any]:
        data = {k: base64.b64encode(base64.b64decode(v)).decode()
                for k, v in body["spec"]["encryptedData"].items()}
        secret: dict[str, Any] = {"metadata": {"name": body["metadata"]["name"]}, "data": data}
        kopf.adopt(secret, owner=body)
        return secret

    def synced(patch: kopf.Patch, body: kopf.Body) -> None:
        patch.status["observedGeneration"] = body["metadata"]["generation"]
        patch.status["conditions"] = [{"type": "Synced", "status": "True"}]

    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)
    def create(body: kopf.Body, patch: kopf.Patch, namespace: str, **_: Any) -> None:
        core.create_namespaced_secret(namespace, secret_for(body))
        kopf.info(body, reason="Unsealed", message="Secret created")
        synced(patch, body)

    @kopf.on.update(GROUP, VERSION, PLURAL, field="spec", registry=registry)
    def update(body: kopf.Body, patch: kopf.Patch, namespace: str, name: str, **_: Any) -> None:
        core.replace_namespaced_secret(name, namespace, secret_for(body))
        synced(patch, body)

    @kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry)
    def delete(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        memo.deleted.append(body["metadata"]["name"])  # the operator's list, shared

    return registry


def sealed(name: str, value: bytes) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "SealedSecret",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"encryptedData": {"v": base64.b64encode(value).decode()}}}


@pytest.mark.parametrize("clusterwide", [False, True])
def test_kopf_operator_end_to_end(kube_api: KubeAPI, kopf_operator: OperatorFactory,
                                  registry: kopf.OperatorRegistry, clusterwide: bool) -> None:
    memo = kopf.Memo(deleted=[])
    kopf_operator(registry, memo=memo, clusterwide=clusterwide)
    kube_api.create(sealed("db", b"hunter2"))

    obj = eventually(lambda: (o := kube_api.get(PLURAL, "db", "default")) and
                     o.get("status", {}).get("observedGeneration") == 1 and o)
    assert obj["metadata"]["finalizers"] == [FINALIZER]
    assert obj["status"]["conditions"] == [{"type": "Synced", "status": "True"}]
    secret = kube_api.get("secrets", "db", "default")
    assert base64.b64decode(secret["data"]["v"]) == b"hunter2"
    [owner] = secret["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"]) == ("SealedSecret", obj["metadata"]["uid"])
    events = kube_api.list("events", "default")
    assert [e["reason"] for e in events] == ["Unsealed"]
    assert events[0]["metadata"]["name"].startswith("kopf-event-")

    # a toy operator: kopf logs its diffs, so no value here is one a real test seals (the
    # session's leak scan would rightly find it in the log)
    kube_api.patch(PLURAL, "db", {"spec": {"encryptedData": {
        "v": base64.b64encode(b"toy-value-2").decode()}}}, "default")
    eventually(lambda: kube_api.get(PLURAL, "db", "default")["status"].get(
        "observedGeneration") == 2)
    secret = kube_api.get("secrets", "db", "default")
    assert base64.b64decode(secret["data"]["v"]) == b"toy-value-2"

    kube_api.delete(PLURAL, "db", "default")
    eventually(lambda: kube_api.get(PLURAL, "db", "default") is None)
    assert memo.deleted == ["db"]
    assert kube_api.get("secrets", "db", "default") is None  # garbage-collected
    assert kube_api.count(verb="patch", resource=PLURAL, status=422) == 0


def test_kopf_survives_cut_watches_and_api_errors(kube_api: KubeAPI,
                                                  kopf_operator: OperatorFactory,
                                                  registry: kopf.OperatorRegistry) -> None:
    kopf_operator(registry)
    eventually(lambda: kube_api.watching("sealedsecrets") == 1)
    kube_api.inject(verb="create", resource="secrets", status=500, times=1)
    assert kube_api.cut_watches(abort=True) >= 1
    kube_api.create(sealed("after-cut", b"x"))
    eventually(lambda: kube_api.get("secrets", "after-cut", "default"))
    assert kube_api.count(verb="create", resource="secrets", status=500) == 1
    assert kube_api.count(verb="watch", resource=PLURAL) >= 2
