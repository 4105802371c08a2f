"""One reconciliation under faults and hostile input, on the in-memory cluster: a failed status
write is retried (or a transient fault would leave a stale status forever), Retry-After is
obeyed, and nobody who can create SealedSecrets in the key namespace can plant a sealing key."""

from __future__ import annotations

import datetime as dt
from typing import Any

import kopf
import pytest

from controller import reconcile
from controller.cluster import ApiError
from sealer.keys import KEY_LABEL, KeyPair
from tests.integration.controller_fixtures import sealed_secret
from tests.unit.test_controller_unsealer import FakeCluster, make, put

Obj = dict[str, Any]


class FlakyStatus(FakeCluster):
    def __init__(self, failures: list[ApiError]) -> None:
        super().__init__()
        self.status_failures = failures

    async def patch_sealed_secret_status(self, namespace: str, name: str, status: Obj) -> Obj:
        if self.status_failures:
            raise self.status_failures.pop(0)
        return await super().patch_sealed_secret_status(namespace, name, status)


@pytest.fixture(scope="module")
def pair(key_pairs: tuple[KeyPair, ...]) -> KeyPair:
    return key_pairs[0]


async def test_a_failed_status_write_is_retried_without_decrypting(pair: KeyPair) -> None:
    unsealer, _, bodies = make([pair])
    flaky = FlakyStatus([ApiError(500, "InternalError", "etcd is sad")])
    unsealer.cluster = flaky  # type: ignore[assignment]
    unsealer.recorder.cluster = flaky  # type: ignore[assignment]
    key = put(bodies, sealed_secret(pair, "app", "db", {"pw": b"hunter2-value"}))
    with pytest.raises(kopf.TemporaryError, match="updating the status"):
        await unsealer.sync(key)
    assert key in flaky.secrets  # the Secret was written before the status failed
    assert await unsealer.sync(key, attempt=1) == "in-sync"
    assert unsealer.counters.decryptions == 1
    (_, _, status), = flaky.statuses
    assert status["conditions"][0]["status"] == "True"


async def test_a_status_write_to_a_deleted_object_is_not_an_error(pair: KeyPair) -> None:
    unsealer, _, bodies = make([pair])
    flaky = FlakyStatus([ApiError(404, "NotFound", "gone")])
    unsealer.cluster = flaky  # type: ignore[assignment]
    unsealer.recorder.cluster = flaky  # type: ignore[assignment]
    key = put(bodies, sealed_secret(pair, "app", "db", {"pw": b"hunter2-value"}))
    assert await unsealer.sync(key) == "written"


@pytest.mark.parametrize("method", ["create_secret", "get_secret"])
async def test_retry_after_of_a_429_is_the_delay(pair: KeyPair, method: str) -> None:
    unsealer, cluster, bodies = make([pair])
    cluster.fail[method] = ApiError(429, "TooManyRequests", "slow down", retry_after=7.0)
    key = put(bodies, sealed_secret(pair, "app", "db", {"pw": b"hunter2-value"}))
    with pytest.raises(kopf.TemporaryError) as caught:
        await unsealer.sync(key, attempt=1)  # so that it reads first
    assert caught.value.delay == 7.0
    assert await unsealer.sync(key) == "written"


@pytest.mark.parametrize(("name", "labels", "why"), [
    ("planted", {KEY_LABEL: "active"}, f"{KEY_LABEL} is reserved"),
    ("planted", {KEY_LABEL: "compromised"}, f"{KEY_LABEL} is reserved"),
    ("sealed-secrets-key", None, "legacy sealing-key Secret"),
])
async def test_no_key_can_be_planted_in_the_key_namespace(
        pair: KeyPair, name: str, labels: dict[str, str] | None, why: str) -> None:
    unsealer, cluster, bodies = make([pair])
    template: Obj = {"type": "kubernetes.io/tls", "metadata": {"labels": labels or {}}}
    obj = sealed_secret(pair, "kube-system", name, {"tls.crt": b"c", "tls.key": b"k"},
                        template=template)
    key = put(bodies, obj)
    with pytest.raises(kopf.PermanentError, match=why):
        await unsealer.sync(key)
    assert key not in cluster.secrets and unsealer.counters.decryptions == 0
    (_, _, status), = cluster.statuses
    assert status["conditions"][0]["reason"] == "ErrUnsealFailed"
    # the same object anywhere else is an ordinary Secret
    elsewhere = put(bodies, sealed_secret(pair, "team-a", name, {"tls.crt": b"c", "tls.key": b"k"},
                                          template=template))
    assert await unsealer.sync(elsewhere) == "written"


def test_a_write_plan_never_shows_its_values(pair: KeyPair) -> None:
    write = reconcile.Write({"data": {"pw": "aHVudGVyMi12YWx1ZQ=="}}, create=True)
    assert "aHVudGVy" not in repr(write) and "create=True" in repr(write)


class LostAnswer(FakeCluster):
    """Creates the Secret, then fails as a timed-out request would: the write is made."""

    async def create_secret(self, namespace: str, body: Obj) -> Obj:
        await super().create_secret(namespace, body)
        raise ApiError(0, "ServerTimeoutError", "no answer")


async def test_a_key_whose_creation_answer_was_lost_is_not_made_twice() -> None:
    from tests.unit.test_controller_unsealer import manager

    cluster = LostAnswer()
    km, _ = manager(cluster, key_renew_period=dt.timedelta(0))
    await km.load()
    with pytest.raises(ApiError):
        await km.ensure_fresh(at_start=True)  # kopf retries the startup...
    assert len(cluster.secrets) == 1
    await km.load()  # ...which loads the keys first: the one made is there
    assert await km.ensure_fresh(at_start=True) is None
    assert len(cluster.secrets) == 1 and len(km.keys.ring) == 1
    # while running, the key Secret's watch event puts it in the ring before any retry
    km2, _ = manager(cluster, key_renew_period=dt.timedelta(0))
    (stored,) = cluster.secrets.values()
    assert await km2.on_secret("ADDED", stored)
    assert await km2.ensure_fresh() is None and len(cluster.secrets) == 1
