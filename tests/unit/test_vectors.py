"""Upstream's Go-made vectors, both directions, as tests/vectors/README.md asks."""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache
from pathlib import Path

import pytest

from sealer import crypto, keys
from sealer.errors import DecryptionError
from sealer.keys import KeyPair
from sealer.scope import Scope

VECTORS = sorted((Path(__file__).parents[1] / "vectors").glob("*.json"))


def load(path: Path) -> dict[str, str]:
    return json.loads(path.read_text())  # type: ignore[no-any-return]


@cache
def pair(key_pem: str, cert_pem: str) -> KeyPair:
    return keys.key_pair(key_pem.encode(), cert_pem.encode())


def test_every_vector_is_here() -> None:
    assert len(VECTORS) == 6


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_unseals_to_the_exact_plaintext(path: Path) -> None:
    v = load(path)
    kp = pair(v["private_key_pem"], v["cert_pem"])
    label = Scope(v["scope"]).label(v["namespace"], v["name"])
    assert label == v["label"].encode()
    plaintext = crypto.unseal_with(kp.private_key, base64.b64decode(v["ciphertext_b64"]), label)
    assert hashlib.sha256(plaintext).hexdigest() == v["plaintext_sha256"]
    assert plaintext == base64.b64decode(v["plaintext_b64"])


def _other_labels(v: dict[str, str]) -> list[bytes]:
    ns, name = v["namespace"] or "ns1", v["name"] or "sec1"
    candidates = {
        b"", ns.encode(), f"{ns}/{name}".encode(), f"{ns}/other".encode(), b"other-ns",
        f"other/{name}".encode(), v["label"].encode() + b"\n", v["label"].encode() + b" ",
    }
    candidates.discard(v["label"].encode())
    return sorted(candidates)


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_refused_under_any_other_label(path: Path) -> None:
    v = load(path)
    kp = pair(v["private_key_pem"], v["cert_pem"])
    blob = base64.b64decode(v["ciphertext_b64"])
    for label in _other_labels(v):
        with pytest.raises(DecryptionError):
            crypto.unseal_with(kp.private_key, blob, crypto.Label(label))


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_refused_under_another_key(path: Path, key_pairs: tuple[KeyPair, KeyPair]) -> None:
    v = load(path)
    blob = base64.b64decode(v["ciphertext_b64"])
    with pytest.raises(DecryptionError):
        crypto.unseal([p.private_key for p in key_pairs], blob, crypto.Label(v["label"].encode()))


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_what_we_seal_with_the_upstream_cert_opens_with_its_key(path: Path) -> None:
    v = load(path)
    cert = keys.load_certificate(v["cert_pem"].encode())
    plaintext = base64.b64decode(v["plaintext_b64"])
    label = crypto.Label(v["label"].encode())
    blob = crypto.seal(cert.public_key, plaintext, label)
    # upstream's layout: uint16 BE length of the RSA block, the block, then GCM output + tag
    assert int.from_bytes(blob[:2], "big") == 512
    assert len(blob) == 2 + 512 + len(plaintext) + 16
    kp = pair(v["private_key_pem"], v["cert_pem"])
    assert crypto.unseal_with(kp.private_key, blob, label) == plaintext


def test_upstream_certificate_is_read_without_touching_extensions() -> None:
    v = load(VECTORS[0])
    cert = keys.load_certificate(v["cert_pem"].encode())
    assert cert.fingerprint.startswith("SHA256:") and len(cert.fingerprint) == 50
    assert cert.public_key.key_size == 4096


KEY_USAGE_ENCIPHER_ONLY = bytes.fromhex("0603551d0f0101ff040403020001")
BASIC_CONSTRAINTS_CA = bytes.fromhex("0603551d130101ff040530030101ff")


def _der(pem: bytes) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    return x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)


def test_our_certificate_carries_upstreams_extensions(key_pairs: tuple[KeyPair, KeyPair]) -> None:
    upstream = _der(load(VECTORS[0])["cert_pem"].encode())
    ours = _der(key_pairs[0].certificate.pem)
    for extension in (KEY_USAGE_ENCIPHER_ONLY, BASIC_CONSTRAINTS_CA):
        assert extension in upstream  # the vectors pin what upstream writes
        assert extension in ours
    from cryptography import x509

    parsed = x509.load_der_x509_certificate(ours)
    assert parsed.subject == parsed.issuer == x509.Name([])
    assert (parsed.not_valid_after_utc - parsed.not_valid_before_utc).days == 3650
