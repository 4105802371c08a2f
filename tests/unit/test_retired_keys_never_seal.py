"""A retired key decrypts but is never the sealing key; /v1/keys describes keys, not secrets."""

from __future__ import annotations

import dataclasses
import datetime as dt

from controller.api import describe_keys
from sealer import crypto, keys
from sealer.keys import KeyPair, KeyRing

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def aged(pair: KeyPair, days: int, name: str) -> KeyPair:
    return dataclasses.replace(pair, created=NOW - dt.timedelta(days=days), name=name)


def test_the_newest_key_not_retired_seals_and_every_key_decrypts(
    key_pairs: tuple[KeyPair, KeyPair]
) -> None:
    old, new = aged(key_pairs[0], 60, "k-old"), aged(key_pairs[1], 1, "k-new")
    ring = KeyRing((old, new))
    assert ring.newest is new
    retired = KeyRing((old, new), frozenset({new.fingerprint}))
    assert retired.newest is old and len(retired) == 2
    assert KeyRing((old,), frozenset({old.fingerprint})).newest is None
    assert retired.with_pair(old).retired == retired.retired
    label = crypto.Label(b"ns/name")
    blob = crypto.seal(new.certificate.public_key, b"value", label)
    assert retired.unseal(blob, label)[0] == b"value"


def test_keys_endpoint_shows_public_facts_only(key_pairs: tuple[KeyPair, KeyPair]) -> None:
    old, new = aged(key_pairs[0], 60, "k-old"), aged(key_pairs[1], 1, "k-new")
    described = describe_keys(KeyRing((old, new), frozenset({old.fingerprint})))
    assert [(k["secret"], k["state"]) for k in described] == [("k-new", "sealing"),
                                                               ("k-old", "retired")]
    assert described[1]["created"] == "2025-11-02T00:00:00Z"
    assert described[0]["notAfter"] == new.certificate.not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    text = repr(described)
    for pair in (old, new):
        pem = keys.private_key_pem(pair.private_key).decode()
        assert pem.splitlines()[1][:40] not in text
    assert describe_keys(KeyRing((old, new)))[1]["state"] == "active"


def test_key_secret_state_annotation() -> None:
    secret = {"metadata": {"annotations": {keys.KEY_STATE_ANNOTATION: "retired"}}}
    assert keys.is_retired(secret)
    assert not keys.is_retired({"metadata": {"annotations": {keys.KEY_STATE_ANNOTATION: "x"}}})
    assert not keys.is_retired({"metadata": {}})
