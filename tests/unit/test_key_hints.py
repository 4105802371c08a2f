"""One private-key operation per item whatever the number of keys: the key ring's hint order,
the key that opened the previous item, and what the controller remembers for objects sealed by
kubeseal (no key-fingerprint annotation): its own memory, the Secret's hash, the status."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from controller import unsealer as unsealer_module
from controller.metrics import Metrics
from controller.unsealer import known_keys
from sealer import crypto
from sealer.keys import KeyPair, KeyRing
from sealer.sealedsecret import SealedSecret, unseal
from tests.integration.controller_fixtures import sealed_secret
from tests.unit.test_controller_unsealer import make, put

ITEMS = {"a": b"1", "b": b"2", "c": b"3"}


@pytest.fixture
def attempts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every single-key decryption attempt (a private-key operation), by key size check."""
    tried: list[str] = []
    real = crypto.unseal_with

    def counting(key: Any, ciphertext: bytes, label: crypto.Label) -> bytes:
        tried.append(crypto.fingerprint(key.public_key()))
        return real(key, ciphertext, label)

    monkeypatch.setattr(crypto, "unseal_with", counting)
    yield tried


def test_candidates_hints_in_order_then_newest_first(key_pairs: tuple[KeyPair, ...]) -> None:
    ring = KeyRing(key_pairs)
    newest, oldest = ring.pairs
    assert ring.candidates() == [newest, oldest]
    assert ring.candidates(oldest.fingerprint) == [oldest, newest]
    assert ring.candidates([None, "SHA256:unknown", oldest.fingerprint, oldest.fingerprint]) == [
        oldest, newest]
    assert ring.candidates((newest.fingerprint, oldest.fingerprint)) == [newest, oldest]


def test_kubeseal_object_first_and_remembered(key_pairs: tuple[KeyPair, ...],
                                              attempts: list[str]) -> None:
    ring = KeyRing(key_pairs)
    oldest = ring.pairs[-1]
    sealed = SealedSecret.from_manifest(sealed_secret(oldest, "app", "db", ITEMS, hint=False))
    first = unseal(sealed, ring)
    # The newest key is tried first for the first item only; the others use the key that
    # opened it.
    assert len(attempts) == len(ITEMS) + 1 and first.keys == {oldest.fingerprint}
    assert first.tries == len(attempts)
    attempts.clear()
    again = unseal(sealed, ring, known=(oldest.fingerprint,))
    assert attempts == [oldest.fingerprint] * len(ITEMS) and again.tries == len(ITEMS)


def test_annotation_is_one_operation_per_item(key_pairs: tuple[KeyPair, ...],
                                              attempts: list[str]) -> None:
    oldest = KeyRing(key_pairs).pairs[-1]
    unseal(SealedSecret.from_manifest(sealed_secret(oldest, "app", "db", ITEMS)),
           KeyRing(key_pairs))
    assert attempts == [oldest.fingerprint] * len(ITEMS)


def test_known_keys_sources() -> None:
    live = {"metadata": {"annotations": {
        "sealer.dev/unsealed-hash": "v1:SHA256:fromhash:" + "0" * 64}}}
    body = {"status": {"keyFingerprints": ["SHA256:fromstatus", 7, "SHA256:fromhash"]}}
    assert known_keys("SHA256:mem", body, live) == (
        "SHA256:mem", "SHA256:fromhash", "SHA256:fromstatus")
    assert known_keys(None, {"status": "garbage"}, None) == ()
    many = {"status": {"keyFingerprints": [f"SHA256:{i}" for i in range(50)]}}
    assert len(known_keys(None, many, None)) == unsealer_module.MAX_KNOWN_KEYS


async def test_controller_remembers_kubeseal_key_without_its_secret(
        key_pairs: tuple[KeyPair, ...], attempts: list[str]) -> None:
    """After a restart with the Secret gone, status.keyFingerprints still names the key."""
    ring = KeyRing(key_pairs)
    oldest = ring.pairs[-1]
    unsealer, cluster, bodies = make(list(key_pairs))
    key = put(bodies, sealed_secret(oldest, "app", "db", ITEMS, hint=False))
    assert await unsealer.sync(key) == "written"
    assert len(attempts) == len(ITEMS) + 1
    status = cluster.statuses[-1][2]
    assert status["keyFingerprints"] == [oldest.fingerprint]

    assert unsealer.metrics.private_key_operations._value.get() == len(ITEMS) + 1

    restarted, cluster2, bodies2 = make(list(key_pairs))  # fresh memory, no Secret
    key = put(bodies2, sealed_secret(oldest, "app", "db", ITEMS, hint=False))
    bodies2[key]["status"] = status
    attempts.clear()
    assert await restarted.sync(key) == "written"
    assert attempts == [oldest.fingerprint] * len(ITEMS)


def test_metrics_exposition_by_name() -> None:
    metrics = Metrics()
    metrics.observe_condition("ns", "a", "True")
    metrics.items_decrypted.inc(3)
    only = metrics.exposition(["sealed_secrets_controller_items_decrypted_total"]).decode()
    assert "sealed_secrets_controller_items_decrypted_total 3.0" in only
    assert "condition_info" not in only and "condition_info" in metrics.exposition().decode()
    metrics.observe_key_usage("SHA256:k", 2)
    metrics.observe_key_usage("SHA256:k", 0)
    assert "objects_by_key{" not in metrics.exposition().decode()
