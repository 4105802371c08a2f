"""The leak scan (tests/support/leaks.py) finds what it must, and what holds a key or a value
shows neither in ``repr``."""

from __future__ import annotations

import base64
import logging

from controller import digest, reconcile
from controller.keyring import ClusterKeys, load_source
from sealer import keys
from sealer.keys import KeyPair, KeyRing
from sealer.sealedsecret import SealedSecret, unseal
from tests.integration.controller_fixtures import key_secret, sealed_secret
from tests.support.leaks import REGISTRY, canary


def test_a_logged_canary_is_found_and_reported_where() -> None:
    value = canary(b"leak-scan-self-test-7c1e")
    source = "log tests.leak-self-test"
    try:
        logging.getLogger("tests.leak-self-test").debug("oops: %s", base64.b64encode(value))
        hits = [h for h in REGISTRY.hits() if h[0] == source]
        assert hits and "(base64)" in hits[0][1]
    finally:
        with REGISTRY.lock:
            REGISTRY.seen.pop(source, None)


def test_session_keys_and_sealed_values_are_canaries(key_pairs: tuple[KeyPair, ...]) -> None:
    pem = keys.private_key_pem(key_pairs[0].private_key).decode().splitlines()
    assert any(line in REGISTRY.canaries for line in pem[1:-1])
    sealed_secret(key_pairs[0], "ns", "n", {"k": b"registered-by-sealing-9f"})
    assert "registered-by-sealing-9f" in REGISTRY.canaries
    assert base64.b64encode(b"registered-by-sealing-9f").decode() in REGISTRY.canaries


def test_repr_shows_no_key_and_no_value(key_pairs: tuple[KeyPair, ...]) -> None:
    pair = key_pairs[0]
    value = canary(b"repr-must-not-show-3b8d")
    source = load_source(key_secret(pair, "k0"))
    ring = ClusterKeys("kube-system", "sealed-secrets-key")
    ring.replace([source])
    obj = sealed_secret(pair, "ns", "n", {"k": value})
    unsealed = unseal(SealedSecret.from_manifest(obj), KeyRing((pair,)))
    write = reconcile.Write(unsealed.secret, create=True)
    texts = [repr(x) for x in (pair, KeyRing((pair,)), source, ring, ring.ring, unsealed, write,
                               pair.certificate)]
    texts.append(repr(digest.derive_key(pair.private_key) == source.hmac_key))
    scanned = "\n".join(texts)
    found = [c for c in REGISTRY.canaries if c in scanned]
    assert found == []
    assert source.hmac_key.hex() not in scanned
