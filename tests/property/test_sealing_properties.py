"""Round trips for any bytes and any scope; any change to a sealed item fails one way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealer import crypto, keys
from sealer.errors import DecryptionError
from sealer.keys import KeyPair, KeyRing
from sealer.manifests import seal_secret
from sealer.scope import Scope
from sealer.sealedsecret import SealedSecret, unseal

VECTOR = json.loads((Path(__file__).parents[1] / "vectors" / "01-strict-empty.json").read_text())
PAIR = keys.key_pair(VECTOR["private_key_pem"].encode(), VECTOR["cert_pem"].encode())
DNS = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True)
ITEM = st.from_regex(r"[-._a-zA-Z0-9]{1,30}", fullmatch=True).filter(
    lambda s: s not in (".", "..") and not s.startswith(".."))  # IsConfigMapKey
SCOPES = st.sampled_from(list(Scope))
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(plaintext=st.binary(max_size=4096), scope=SCOPES, ns=DNS, name=DNS)
def test_round_trip_any_bytes_any_scope(plaintext: bytes, scope: Scope, ns: str, name: str) -> None:
    label = scope.label(ns, name)
    blob = crypto.seal(PAIR.certificate.public_key, plaintext, label)
    assert crypto.unseal_with(PAIR.private_key, blob, label) == plaintext


@FAST
@given(plaintext=st.binary(min_size=0, max_size=256), data=st.data())
def test_any_flipped_byte_fails_with_the_one_error(plaintext: bytes, data: st.DataObject) -> None:
    label = Scope.STRICT.label("ns", "name")
    blob = bytearray(crypto.seal(PAIR.certificate.public_key, plaintext, label))
    index = data.draw(st.integers(0, len(blob) - 1))
    blob[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(DecryptionError) as caught:
        crypto.unseal_with(PAIR.private_key, bytes(blob), label)
    assert str(caught.value) == "no key could decrypt the item"


@FAST
@given(plaintext=st.binary(max_size=64), label=st.binary(max_size=40),
       other=st.binary(max_size=40))
def test_wrong_label_fails(plaintext: bytes, label: bytes, other: bytes) -> None:
    if label == other:
        return
    blob = crypto.seal(PAIR.certificate.public_key, plaintext, crypto.Label(label))
    with pytest.raises(DecryptionError):
        crypto.unseal_with(PAIR.private_key, blob, crypto.Label(other))


@FAST
@given(blob=st.binary(max_size=1200))
def test_arbitrary_bytes_never_decrypt_and_never_crash(blob: bytes) -> None:
    with pytest.raises(DecryptionError):
        crypto.unseal([PAIR.private_key], blob, crypto.Label(b""))


@pytest.fixture(scope="module")
def other_ring(key_pairs: tuple[KeyPair, KeyPair]) -> KeyRing:
    return KeyRing(key_pairs)


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(values=st.dictionaries(ITEM, st.binary(max_size=200), min_size=1, max_size=4),
       scope=SCOPES, ns=DNS, name=DNS)
def test_secret_round_trip_and_wrong_key(
    values: dict[str, bytes], scope: Scope, ns: str, name: str, other_ring: KeyRing
) -> None:
    import base64

    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns},
              "data": {k: base64.b64encode(v).decode() for k, v in values.items()}}
    sealed = SealedSecret.from_manifest(seal_secret(secret, PAIR.certificate, scope=scope))
    assert sealed.scope is scope
    result = unseal(sealed, KeyRing((PAIR,)))
    assert result.secret["data"] == secret["data"]
    with pytest.raises(DecryptionError):
        unseal(sealed, other_ring)
