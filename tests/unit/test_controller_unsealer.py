"""controller.unsealer and controller.keyring against an in-memory cluster: every outcome of one
reconciliation, and the key ring's loading, generation and hot reload."""

from __future__ import annotations

import base64
import copy
import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

import kopf
import pytest

from controller.cluster import ApiError
from controller.config import Config
from controller.events import EventRecorder
from controller.keyring import ClusterKeys, KeyManager, load_source
from controller.metrics import Metrics
from controller.unsealer import Unsealer
from sealer import keys
from sealer.keys import KEY_LABEL, KeyPair
from tests.integration.controller_fixtures import key_secret, sealed_secret

T = TypeVar("T")
Obj = dict[str, Any]


class FakeCluster:
    """Secrets, status patches and events in dicts; ``fail`` maps a method to an ApiError."""

    def __init__(self) -> None:
        self.secrets: dict[tuple[str, str], Obj] = {}
        self.statuses: list[tuple[str, str, Obj]] = []
        self.events: list[Obj] = []
        self.fail: dict[str, ApiError] = {}
        self.version = 0

    def _check(self, method: str) -> None:
        if method in self.fail:
            raise self.fail.pop(method)

    def _store(self, namespace: str, body: Obj) -> Obj:
        self.version += 1
        body = copy.deepcopy(body)
        meta = body["metadata"]
        if "generateName" in meta and "name" not in meta:
            meta["name"] = meta.pop("generateName") + f"x{self.version}"
        meta.update(namespace=namespace, resourceVersion=str(self.version))
        meta.setdefault("creationTimestamp", "2030-01-01T00:00:00Z")
        body.setdefault("type", "Opaque")
        self.secrets[namespace, meta["name"]] = body
        return copy.deepcopy(body)

    async def get_secret(self, namespace: str, name: str) -> Obj | None:
        self._check("get_secret")
        found = self.secrets.get((namespace, name))
        return copy.deepcopy(found) if found else None

    async def list_secrets(self, namespace: str, label_selector: str = "") -> list[Obj]:
        key, _, value = label_selector.partition("=")
        return [copy.deepcopy(s) for (ns, _), s in self.secrets.items() if ns == namespace
                and (s["metadata"].get("labels") or {}).get(key) == value]

    async def create_secret(self, namespace: str, body: Obj) -> Obj:
        self._check("create_secret")
        name = body["metadata"]["name"]
        if (namespace, name) in self.secrets:
            raise ApiError(409, "AlreadyExists", f'secrets "{name}" already exists')
        return self._store(namespace, body)

    async def replace_secret(self, namespace: str, name: str, body: Obj) -> Obj:
        self._check("replace_secret")
        return self._store(namespace, body)

    async def patch_sealed_secret_status(self, namespace: str, name: str, status: Obj) -> Obj:
        self.statuses.append((namespace, name, status))
        return {}

    async def create_event(self, namespace: str, body: Obj) -> Obj:
        self.events.append(body)
        return body


class InlinePool:
    def __init__(self) -> None:
        self.calls = 0

    async def run(self, fn: Callable[[], T]) -> T:
        self.calls += 1
        return fn()


def make(ring_pairs: list[KeyPair], **config: Any) -> tuple[Unsealer, FakeCluster, dict[Any, Obj]]:
    cluster = FakeCluster()
    ring = ClusterKeys("kube-system", "sealed-secrets-key")
    ring.replace(load_source(key_secret(p, f"k{i}")) for i, p in enumerate(ring_pairs))
    bodies: dict[Any, Obj] = {}
    unsealer = Unsealer(Config(**config), cluster, ring, InlinePool(),  # type: ignore[arg-type]
                        Metrics(), EventRecorder(cluster), bodies,  # type: ignore[arg-type]
                        now=lambda: "T")
    return unsealer, cluster, bodies


def put(bodies: dict[Any, Obj], obj: Obj, generation: int = 1) -> tuple[str, str]:
    obj = copy.deepcopy(obj)
    obj["metadata"].update(uid="uid-1", generation=generation)
    key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
    bodies[key] = obj
    return key


@pytest.fixture(scope="module")
def pair(key_pairs: tuple[KeyPair, ...]) -> KeyPair:
    return key_pairs[0]


async def test_written_then_in_sync_without_decrypting(pair: KeyPair) -> None:
    unsealer, cluster, bodies = make([pair])
    key = put(bodies, sealed_secret(pair, "app", "db", {"pw": b"hunter2"}))
    assert await unsealer.sync(key) == "written"
    secret = cluster.secrets[key]
    assert base64.b64decode(secret["data"]["pw"]) == b"hunter2"
    (_, _, status), = cluster.statuses
    assert status["conditions"][0]["status"] == "True"
    assert [e["reason"] for e in cluster.events] == ["Unsealed"]
    assert unsealer.written[key] == secret["metadata"]["resourceVersion"]

    bodies[key]["status"] = status  # what the watch brings back
    assert await unsealer.sync(key) == "in-sync"
    assert unsealer.counters.decryptions == 1 and unsealer.counters.in_sync == 1
    assert len(cluster.statuses) == 1 and len(cluster.events) == 1  # nothing new to say


async def test_foreign_secret_is_refused(pair: KeyPair) -> None:
    unsealer, cluster, bodies = make([pair])
    cluster.secrets["app", "db"] = {"metadata": {"name": "db", "namespace": "app"},
                                    "data": {"pw": "eA=="}}
    key = put(bodies, sealed_secret(pair, "app", "db", {"pw": b"new"}))
    for attempt in range(3):
        with pytest.raises(kopf.TemporaryError) as info:
            await unsealer.sync(key, attempt)
        assert info.value.delay is None  # the queue's backoff
    assert cluster.secrets[key]["data"] == {"pw": "eA=="}
    assert len(cluster.events) == 1  # the same warning is not repeated on every retry
    # new (no status): decrypted and created without a read, which the API refused; retries
    # read first and decrypt nothing
    assert unsealer.counters.decryptions == 1
    assert key in unsealer.failing


@pytest.mark.parametrize(("case", "error"), [
    ("bad-base64", kopf.PermanentError),
    ("bad-template", kopf.PermanentError),
    ("wrong-key", kopf.TemporaryError),
])
async def test_bad_input(pair: KeyPair, key_pairs: tuple[KeyPair, ...], case: str,
                         error: type[Exception]) -> None:
    unsealer, cluster, bodies = make([pair])
    obj = sealed_secret(key_pairs[1] if case == "wrong-key" else pair, "app", "db",
                        {"pw": b"hunter2"})
    if case == "bad-base64":
        obj["spec"]["encryptedData"]["pw"] = "%%%"
    if case == "bad-template":
        obj["spec"]["template"] = {"data": {"x": "{{ .nope }}"}}
    key = put(bodies, obj)
    with pytest.raises(error):
        await unsealer.sync(key)
    (_, _, status), = cluster.statuses
    cond = status["conditions"][0]
    assert cond["status"] == "False" and cond["reason"] == "ErrUnsealFailed"
    assert "hunter2" not in str(cond) and key not in cluster.secrets


async def test_write_failures(pair: KeyPair) -> None:
    unsealer, cluster, bodies = make([pair])
    key = put(bodies, sealed_secret(pair, "app", "db", {"pw": b"v"}))
    cluster.fail["create_secret"] = ApiError(409, "AlreadyExists", "already exists")
    with pytest.raises(kopf.TemporaryError) as info:
        await unsealer.sync(key, attempt=1)  # read first: a create refused then is a race
    assert info.value.delay == pytest.approx(0.2)  # a race: look again at once, quietly
    assert cluster.events == [] and cluster.statuses == []
    cluster.fail["create_secret"] = ApiError(409, "AlreadyExists", "already exists")
    with pytest.raises(kopf.TemporaryError) as info:
        await unsealer.sync(key, attempt=3)
    assert info.value.delay is None  # it keeps happening: back off and say so
    assert cluster.events[-1]["reason"] == "ErrUpdateFailed"
    await unsealer.sync(key)
    bodies[key]["spec"] = sealed_secret(pair, "app", "db", {"pw": b"v2"})["spec"]
    cluster.fail["replace_secret"] = ApiError(
        422, "Invalid", "data: Forbidden: field is immutable when `immutable` is set")
    with pytest.raises(kopf.PermanentError, match="the target Secret is immutable"):
        await unsealer.sync(key)
    assert cluster.events[-1]["reason"] == "ErrUpdateFailed"


async def test_unreadable_secret_is_reported(pair: KeyPair) -> None:
    unsealer, cluster, bodies = make([pair])
    key = put(bodies, sealed_secret(pair, "app", "db", {"pw": b"v"}))
    cluster.fail["get_secret"] = ApiError(403, "Forbidden", "secrets \"db\" is forbidden")
    with pytest.raises(kopf.TemporaryError):
        await unsealer.sync(key, attempt=1)  # a new object's first try does not read
    cond = cluster.statuses[-1][2]["conditions"][0]
    assert cond["reason"] == "ErrUpdateFailed" and "forbidden" in cond["message"]


async def test_no_status_when_disabled_and_forget(pair: KeyPair) -> None:
    unsealer, cluster, bodies = make([pair], update_status=False)
    key = put(bodies, sealed_secret(pair, "app", "db", {"pw": b"v"}))
    await unsealer.sync(key)
    assert cluster.statuses == []
    del bodies[key]
    assert await unsealer.sync(key) == "gone"
    assert key not in unsealer.written and key not in unsealer.seen


async def test_needs_sync_ignores_status_only_changes(pair: KeyPair) -> None:
    unsealer, _, bodies = make([pair])
    key = put(bodies, sealed_secret(pair, "app", "db", {"pw": b"v"}))
    await unsealer.sync(key)
    changed = copy.deepcopy(bodies[key])
    changed["status"] = {"observedGeneration": 1}
    changed["metadata"]["resourceVersion"] = "99"
    assert not unsealer.needs_sync(key, changed)
    changed["metadata"]["annotations"]["sealedsecrets.bitnami.com/cluster-wide"] = "true"
    assert unsealer.needs_sync(key, changed)


# --- keys -----------------------------------------------------------------------------------


def manager(cluster: FakeCluster, **config: Any) -> tuple[KeyManager, list[int]]:
    parses = [0]

    async def offload(fn: Callable[[], T]) -> T:
        parses[0] += 1
        return fn()

    options = {"key_namespace": "kube-system", "key_size": 1024, **config}
    return KeyManager(Config(**options), cluster, offload), parses  # type: ignore[arg-type]


async def test_load_generate_and_hot_reload(key_pairs: tuple[KeyPair, ...]) -> None:
    cluster = FakeCluster()
    first, second = key_pairs
    cluster._store("kube-system", key_secret(first, "active-one"))
    legacy = key_secret(second, "sealed-secrets-key")
    del legacy["metadata"]["labels"]
    cluster._store("kube-system", legacy)
    broken = key_secret(first, "broken")
    broken["data"]["tls.key"] = base64.b64encode(b"not a key").decode()
    cluster._store("kube-system", broken)
    km, parses = manager(cluster, key_renew_period=dt.timedelta(0),
                         private_key_labels={"team": "sec"})
    await km.load()
    assert set(km.keys.ring.fingerprints) == {first.fingerprint, second.fingerprint}
    assert await km.ensure_fresh(at_start=True) is None

    made = await km.generate()
    stored = next(s for s in cluster.secrets.values()
                  if s["metadata"]["name"] == made.name)
    assert stored["metadata"]["labels"] == {"team": "sec", KEY_LABEL: "active"}
    assert stored["type"] == "kubernetes.io/tls"
    assert km.keys.ring.newest == made
    before = parses[0]
    assert not await km.on_secret("ADDED", stored)  # our own write's echo: not re-parsed
    assert parses[0] == before

    relabelled = copy.deepcopy(stored)
    relabelled["metadata"]["labels"][KEY_LABEL] = "compromised"
    assert await km.on_secret("MODIFIED", relabelled)
    assert made.fingerprint not in km.keys.ring.fingerprints
    assert await km.on_secret("MODIFIED", stored)
    assert await km.on_secret("DELETED", stored)
    assert made.fingerprint not in km.keys.ring.fingerprints


def test_staleness(key_pairs: tuple[KeyPair, ...]) -> None:
    ring = ClusterKeys("ns", "p")
    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    period = dt.timedelta(days=30)
    assert ring.is_stale(now, period, None)  # no key at all
    source = load_source(key_secret(key_pairs[0], "k"))
    old = dataclasses.replace(source, pair=dataclasses.replace(
        source.pair, created=now - dt.timedelta(days=31)))
    ring.put(old)
    assert ring.is_stale(now, period, None)
    assert not ring.is_stale(now, dt.timedelta(0), None)  # renewal disabled
    assert ring.is_stale(now, dt.timedelta(0), now - dt.timedelta(days=1))  # cutoff
    assert ring.renewal_due(period) == now - dt.timedelta(days=1)
    assert ring.renewal_due(dt.timedelta(0)) is None


def test_key_order_priority(key_pairs: tuple[KeyPair, ...]) -> None:
    secret = key_secret(key_pairs[0], "k")
    secret["metadata"]["creationTimestamp"] = "2031-05-05T00:00:00Z"
    by_cert = load_source(secret, "CertNotBefore").pair
    by_secret = load_source(secret, "SecretCreationTimestamp").pair
    assert by_cert.created == key_pairs[0].certificate.not_before
    assert by_secret.created == dt.datetime(2031, 5, 5, tzinfo=dt.UTC)
    assert keys.private_key_pem(by_cert.private_key) == keys.private_key_pem(
        key_pairs[0].private_key)
