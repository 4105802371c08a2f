"""The controller's HTTP API over loopback with a real HTTP client: every route, good and bad."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from controller.api import Api, ApiState, bound_port, metrics_app, serve
from controller.metrics import Metrics
from sealer import crypto, keys
from sealer.keys import KeyPair, KeyRing
from sealer.manifests import seal_secret
from sealer.scope import CLUSTER_WIDE_ANNOTATION, KEY_FINGERPRINT_ANNOTATION, Scope

VECTOR = json.loads((Path(__file__).parents[1] / "vectors" / "02-strict-1byte.json").read_text())
SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "db", "namespace": "team-a", "labels": {"app": "db"}},
    "type": "Opaque",
    "stringData": {"password": "correct horse battery staple", "user": "admin"},
}


@pytest.fixture(scope="module")
def old_pair() -> KeyPair:
    return keys.key_pair(VECTOR["private_key_pem"].encode(), VECTOR["cert_pem"].encode())


@pytest.fixture(scope="module")
def new_pair() -> KeyPair:
    key, cert = keys.generate()
    return keys.key_pair(keys.private_key_pem(key), keys.certificate_from_x509(cert).pem)


class Served:
    def __init__(self, state: ApiState, url: str, metrics_url: str, session: aiohttp.ClientSession):
        self.state, self.url, self.metrics_url, self.session = state, url, metrics_url, session

    async def post(self, path: str, body: bytes | str, **headers: str) -> tuple[int, str]:
        async with self.session.post(self.url + path, data=body, headers=headers) as resp:
            return resp.status, await resp.text()


async def _serve(ring: KeyRing, **kwargs: object) -> AsyncIterator[Served]:
    metrics = Metrics()
    holder = {"ring": ring}
    state = ApiState(keyring=lambda: holder["ring"], ready=lambda: True, metrics=metrics,
                     **kwargs)  # type: ignore[arg-type]
    api_runner = await serve(Api(state).app(), "127.0.0.1:0")
    metrics_runner = await serve(metrics_app(metrics), "127.0.0.1:0")
    async with aiohttp.ClientSession() as session:
        yield Served(state, f"http://127.0.0.1:{bound_port(api_runner)}",
                     f"http://127.0.0.1:{bound_port(metrics_runner)}", session)
    await api_runner.cleanup()
    await metrics_runner.cleanup()


@pytest.fixture
async def api(old_pair: KeyPair, new_pair: KeyPair) -> AsyncIterator[Served]:
    async for served in _serve(KeyRing((old_pair, new_pair)), verify_rate="1000/second"):
        yield served


@pytest.fixture
async def empty_api() -> AsyncIterator[Served]:
    async for served in _serve(KeyRing()):
        yield served


async def test_healthz_and_readyz(api: Served, empty_api: Served) -> None:
    async with api.session.get(api.url + "/healthz") as resp:
        assert (resp.status, await resp.text()) == (200, "ok\n")
    async with api.session.get(api.url + "/readyz") as resp:
        assert resp.status == 200
    async with empty_api.session.get(empty_api.url + "/readyz") as resp:
        assert resp.status == 503


async def test_cert_is_the_newest_certificate(api: Served, new_pair: KeyPair) -> None:
    async with api.session.get(api.url + "/v1/cert.pem") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("application/x-pem-file")
        body = await resp.read()
    assert keys.load_certificate(body).fingerprint == new_pair.fingerprint


async def test_cert_without_keys_is_a_clear_500(empty_api: Served) -> None:
    async with empty_api.session.get(empty_api.url + "/v1/cert.pem") as resp:
        assert resp.status == 500
        assert "no sealing key" in await resp.text()


async def test_verify_accepts_what_a_held_key_opens(api: Served, old_pair: KeyPair) -> None:
    sealed = seal_secret(SECRET, old_pair.certificate)
    assert await api.post("/v1/verify", json.dumps(sealed)) == (200, "ok\n")


async def test_verify_refuses_a_foreign_or_tampered_item(api: Served, new_pair: KeyPair) -> None:
    sealed = seal_secret(SECRET, new_pair.certificate)
    blob = bytearray(crypto.b64decode(sealed["spec"]["encryptedData"]["user"]))
    blob[-1] ^= 1
    sealed["spec"]["encryptedData"]["user"] = crypto.b64encode(bytes(blob))
    status, text = await api.post("/v1/verify", json.dumps(sealed))
    assert status == 409
    assert "spec.encryptedData.user" in text
    assert "admin" not in text and "correct horse" not in text


async def test_verify_refuses_an_item_moved_to_another_name(api: Served, new_pair: KeyPair) -> None:
    sealed = seal_secret(SECRET, new_pair.certificate)
    sealed["metadata"]["name"] = "stolen"
    status, _ = await api.post("/v1/verify", json.dumps(sealed))
    assert status == 409


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("{not yaml: [", "request body: invalid JSON"),
        ("not: yaml: [", "request body: invalid YAML"),
        ('{"kind": "Secret", "metadata": {"name": "x"}}', "not a SealedSecret"),
        ("kind: SealedSecret\n---\nkind: SealedSecret\n", "2 documents"),
        ("a: &a [x, x]\nb: *a\nkind: SealedSecret\n", "aliases"),
        ("kind: SealedSecret\nkind: SealedSecret\n", "duplicate key"),
        (b"\xff\xfe".decode("latin-1"), "not a Kubernetes object"),
        ('{"kind": "SealedSecret", "metadata": {"name": "x"}, "spec": []}', "spec"),
    ],
)
async def test_verify_rejects_a_body_that_is_not_one_sealed_secret(
    api: Served, body: str, why: str
) -> None:
    status, text = await api.post("/v1/verify", body)
    assert status == 400
    assert why in text


async def test_oversized_body_is_refused(old_pair: KeyPair) -> None:
    async for served in _serve(KeyRing((old_pair,)), max_body=1024):
        status, _ = await served.post("/v1/verify", "x" * 4096)
        assert status == 413


async def test_verify_is_rate_limited_per_client(old_pair: KeyPair) -> None:
    sealed = json.dumps(seal_secret(SECRET, old_pair.certificate))
    async for served in _serve(KeyRing((old_pair,)), verify_rate="2/minute"):
        codes = [(await served.post("/v1/verify", sealed, **{"X-Forwarded-For": "10.0.0.1"}))[0]
                 for _ in range(3)]
        assert codes == [200, 200, 429]
        other, _ = await served.post("/v1/verify", sealed, **{"X-Forwarded-For": "10.0.0.2"})
        assert other == 200


async def test_rotate_reseals_to_the_newest_key_and_keeps_the_rest(
    api: Served, old_pair: KeyPair, new_pair: KeyPair
) -> None:
    sealed = seal_secret(SECRET, old_pair.certificate)
    sealed["metadata"]["uid"] = "server-made"
    status, text = await api.post("/v1/rotate", json.dumps(sealed))
    assert status == 200
    rotated = json.loads(text)
    assert rotated["metadata"]["annotations"][KEY_FINGERPRINT_ANNOTATION] == new_pair.fingerprint
    assert "uid" not in rotated["metadata"]
    assert rotated["spec"]["template"] == sealed["spec"]["template"]
    assert sorted(rotated["spec"]["encryptedData"]) == ["password", "user"]
    label = Scope.STRICT.label("team-a", "db")
    blob = crypto.b64decode(rotated["spec"]["encryptedData"]["user"])
    assert crypto.unseal_with(new_pair.private_key, blob, label) == b"admin"
    assert "admin" not in text


async def test_rotate_never_widens_the_scope(api: Served, new_pair: KeyPair) -> None:
    """Upstream's hole: a template saying cluster-wide turned a strict item into a cluster one."""
    sealed = seal_secret(SECRET, new_pair.certificate)
    sealed["spec"]["template"]["metadata"]["annotations"] = {CLUSTER_WIDE_ANNOTATION: "true"}
    sealed["spec"]["template"]["metadata"]["namespace"] = "elsewhere"
    status, text = await api.post("/v1/rotate", json.dumps(sealed))
    assert status == 200
    rotated = json.loads(text)
    assert rotated["metadata"]["name"] == "db" and rotated["metadata"]["namespace"] == "team-a"
    assert CLUSTER_WIDE_ANNOTATION not in rotated["metadata"]["annotations"]
    blob = crypto.b64decode(rotated["spec"]["encryptedData"]["user"])
    for label in (Scope.CLUSTER_WIDE.label("", ""), Scope.NAMESPACE_WIDE.label("team-a", "")):
        with pytest.raises(crypto.DecryptionError):
            crypto.unseal_with(new_pair.private_key, blob, label)
    assert crypto.unseal_with(new_pair.private_key, blob, Scope.STRICT.label("team-a", "db"))


async def test_rotate_of_an_undecryptable_object_is_409(api: Served) -> None:
    foreign_key, foreign_cert = keys.generate(bits=2048)
    sealed = seal_secret(SECRET, keys.certificate_from_x509(foreign_cert))
    status, _ = await api.post("/v1/rotate", json.dumps(sealed))
    assert status == 409


async def test_metrics_count_requests_by_route(api: Served) -> None:
    for _ in range(3):
        async with api.session.get(api.url + "/healthz"):
            pass
    await api.post("/v1/verify", "nonsense: [")
    async with api.session.get(api.metrics_url + "/metrics") as resp:
        assert resp.status == 200
        families = {f.name: f for f in text_string_to_metric_families(await resp.text())}
    requests = families["sealed_secrets_controller_http_requests"]
    counted = {(s.labels["path"], s.labels["code"]): s.value for s in requests.samples
               if s.name.endswith("_total")}
    assert counted[("/healthz", "200")] == 3
    assert counted[("/v1/verify", "400")] == 1
    assert "sealed_secrets_controller_build_info" in families


async def test_rate_limit_key_is_the_address_the_proxy_appended(old_pair: KeyPair) -> None:
    """Entries before the last one of X-Forwarded-For are the caller's to choose: keying on them
    would give a caller a fresh quota per request."""
    sealed = json.dumps(seal_secret(SECRET, old_pair.certificate))
    async for served in _serve(KeyRing((old_pair,)), verify_rate="2/minute"):
        codes = [(await served.post("/v1/verify", sealed,
                                    **{"X-Forwarded-For": f"10.9.9.{n}, 10.0.0.1"}))[0]
                 for n in range(3)]
        assert codes == [200, 200, 429]


async def test_rotate_is_rate_limited_too(old_pair: KeyPair, new_pair: KeyPair) -> None:
    sealed = json.dumps(seal_secret(SECRET, old_pair.certificate))
    async for served in _serve(KeyRing((old_pair, new_pair)), verify_rate="2/minute"):
        codes = [(await served.post("/v1/rotate", sealed))[0] for _ in range(3)]
        assert codes == [200, 200, 429]
        assert (await served.post("/v1/verify", sealed))[0] == 200  # a quota of its own


async def test_decryption_requests_take_one_thread_at_most(old_pair: KeyPair) -> None:
    import asyncio
    import threading

    running, peak, lock = [0], [0], threading.Lock()

    async def offload(fn):  # type: ignore[no-untyped-def]
        def counted():  # type: ignore[no-untyped-def]
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            try:
                return fn()
            finally:
                with lock:
                    running[0] -= 1
        return await asyncio.to_thread(counted)

    sealed = json.dumps(seal_secret(SECRET, old_pair.certificate))
    async for served in _serve(KeyRing((old_pair,)), verify_rate="1000/second", offload=offload):
        answers = await asyncio.gather(*(served.post("/v1/verify", sealed) for _ in range(6)),
                                       *(served.post("/v1/rotate", sealed) for _ in range(2)))
        assert {status for status, _ in answers} == {200}
    assert peak[0] == 1


@pytest.mark.parametrize("body", ["[" * 1_000_000, "a: " + "[" * 1_000_000])
async def test_deeply_nested_bodies_are_400_not_500(api: Served, body: str) -> None:
    for path in ("/v1/verify", "/v1/rotate"):
        status, text = await api.post(path, body)
        assert status == 400 and "nested too deeply" in text
