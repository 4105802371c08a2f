"""controller.cluster over controller.transport (aiohttp on the event loop) against the stand-in:
every call the controller makes, its errors, and the credentials it sends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from aiohttp import web

from controller.cluster import ApiError, Cluster
from sealer.kube import load_configuration
from tests.support.kubeapi import KubeAPI

Obj = dict[str, Any]


def secret(name: str, namespace: str = "default", **data: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace}, "data": data}


@pytest.fixture
async def cluster(kubeconfig: Path) -> AsyncIterator[Cluster]:
    client = Cluster(load_configuration(str(kubeconfig)), max_connections=4)
    try:
        yield client
    finally:
        await client.close()


async def test_secret_round_trip(cluster: Cluster, kube_api: KubeAPI) -> None:
    assert await cluster.get_secret("default", "db") is None
    created = await cluster.create_secret("default", secret("db", pw="aHVudGVyMg=="))
    assert created["metadata"]["resourceVersion"]
    got = await cluster.get_secret("default", "db")
    assert got is not None and got["data"] == {"pw": "aHVudGVyMg=="}
    got["data"] = {"pw": "b3RoZXI="}
    await cluster.replace_secret("default", "db", got)
    assert kube_api.get("secrets", "db", "default")["data"] == {"pw": "b3RoZXI="}  # type: ignore[index]


async def test_errors_carry_status_reason_and_message(cluster: Cluster) -> None:
    await cluster.create_secret("default", secret("db"))
    with pytest.raises(ApiError) as exists:
        await cluster.create_secret("default", secret("db"))
    assert exists.value.conflict and exists.value.reason == "AlreadyExists"
    assert "db" in exists.value.api_message
    stale = await cluster.get_secret("default", "db")
    assert stale is not None
    await cluster.replace_secret("default", "db", {**stale, "data": {"a": "YQ=="}})
    with pytest.raises(ApiError) as conflict:  # stale resourceVersion
        await cluster.replace_secret("default", "db", {**stale, "data": {"b": "Yg=="}})
    assert conflict.value.status == 409


async def test_list_by_label(cluster: Cluster, kube_api: KubeAPI) -> None:
    labelled = secret("k1", "kube-system")
    labelled["metadata"]["labels"] = {"role": "key"}
    kube_api.create(labelled)
    kube_api.create(secret("k2", "kube-system"))
    found = await cluster.list_secrets("kube-system", "role=key")
    assert [s["metadata"]["name"] for s in found] == ["k1"]
    assert len(await cluster.list_secrets("kube-system")) == 2


async def test_status_patch_and_events(cluster: Cluster, kube_api: KubeAPI) -> None:
    kube_api.create({"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
                     "metadata": {"name": "s", "namespace": "default"},
                     "spec": {"encryptedData": {}}})
    assert await cluster.get_sealed_secret("default", "missing") is None
    await cluster.patch_sealed_secret_status("default", "s", {"observedGeneration": 1})
    got = await cluster.get_sealed_secret("default", "s")
    assert got is not None and got["status"] == {"observedGeneration": 1}
    await cluster.create_event("default", {
        "metadata": {"name": "s.1", "namespace": "default"}, "reason": "Unsealed",
        "involvedObject": {"kind": "SealedSecret", "name": "s", "namespace": "default"}})
    assert [e["reason"] for e in kube_api.list("events", "default")] == ["Unsealed"]


async def test_injected_fault_with_retry_after(cluster: Cluster, kube_api: KubeAPI) -> None:
    kube_api.inject(verb="get", resource="secrets", status=429, retry_after=3)
    with pytest.raises(ApiError) as throttled:
        await cluster.get_secret("default", "db")
    assert throttled.value.status == 429 and throttled.value.retry_after == 3


async def test_session_is_reopened_after_close(cluster: Cluster) -> None:
    await cluster.close()
    assert await cluster.get_secret("default", "nothing") is None


async def test_unreachable_server_is_status_0() -> None:
    cfg = kubernetes.client.Configuration()
    cfg.host = "http://127.0.0.1:9"  # discard port: nothing listens
    client = Cluster(cfg, timeout=(2.0, 2.0))
    try:
        with pytest.raises(ApiError) as failed:
            await client.get_secret("default", "db")
        assert failed.value.status == 0 and failed.value.reason
    finally:
        await client.close()


async def test_read_timeout_is_status_0(kubeconfig: Path, kube_api: KubeAPI) -> None:
    kube_api.inject(verb="get", resource="secrets", status=None, delay=2.0)
    client = Cluster(load_configuration(str(kubeconfig)), timeout=(5.0, 0.3))
    try:
        with pytest.raises(ApiError) as failed:
            await client.get_secret("default", "db")
        assert failed.value.status == 0
    finally:
        await client.close()


async def test_credentials_sent_like_the_kubernetes_client() -> None:
    """A bearer token (re-read through the refresh hook, as in-cluster tokens rotate), JSON
    bodies with their content type, query parameters."""
    seen: list[tuple[str, str, str | None, str | None, bytes]] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append((request.method, request.path_qs, request.headers.get("Authorization"),
                     request.headers.get("Content-Type"), await request.read()))
        return web.json_response({"items": []})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    tokens = iter(["first", "second"])
    cfg = kubernetes.client.Configuration()
    cfg.host = f"http://127.0.0.1:{port}"
    cfg.api_key_prefix["authorization"] = "Bearer"

    def refresh(c: kubernetes.client.Configuration) -> None:
        c.api_key["authorization"] = next(tokens)

    cfg.refresh_api_key_hook = refresh
    client = Cluster(cfg)
    try:
        await client.list_secrets("ns", "a=b")
        await client.patch_sealed_secret_status("ns", "s", {"x": 1})
    finally:
        await client.close()
        await runner.cleanup()
    assert seen[0][:4] == ("GET", "/api/v1/namespaces/ns/secrets?labelSelector=a%3Db",
                           "Bearer first", None)
    method, path, auth, ctype, body = seen[1]
    assert (method, auth, ctype) == ("PATCH", "Bearer second", "application/merge-patch+json")
    assert path.endswith("/namespaces/ns/sealedsecrets/s/status")
    assert body == b'{"status":{"x":1}}'


async def test_concurrent_calls_share_the_loop(cluster: Cluster) -> None:
    await asyncio.gather(*(cluster.create_secret("default", secret(f"s{i}")) for i in range(20)))
    found = await asyncio.gather(*(cluster.get_secret("default", f"s{i}") for i in range(20)))
    assert all(f is not None for f in found)
