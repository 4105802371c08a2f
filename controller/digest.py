"""A keyed hash of "this SealedSecret produced exactly this Secret", so an unchanged object whose
Secret still matches is not decrypted again (after a restart, or when the Secret's watch event
echoes our own write).

The hash is HMAC-SHA256 with a key derived (HKDF) from the private key that unsealed the object:
only the controller can compute it, so it reveals nothing about low-entropy values the way a
plain hash would, and nobody can forge a match for data they wrote by hand. It is stored on the
Secret itself (annotation ``sealer.dev/unsealed-hash``), written in the same request as the data it
covers: a Secret schema never prunes it, whatever CRD version is installed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sealer.crypto import Fingerprint

HASH_ANNOTATION = "sealer.dev/unsealed-hash"
_VERSION = "v1"
_INFO = b"sealer.dev/unsealed-hash/v1"

HmacKeys = Callable[[str], bytes | None]
"""Look up the HMAC key of a fingerprint (``None`` if we do not hold that key)."""


def derive_key(private_key: rsa.RSAPrivateKey) -> bytes:
    """32 bytes, stable for a given private key; computed once when the key is loaded."""
    der = private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(der)


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def compute(
    key: bytes, fingerprint: str, inputs: Mapping[str, Any], secret: Mapping[str, Any]
) -> str:
    """``v1:<fingerprint>:<hex HMAC>`` over a SealedSecret's inputs and its Secret's projection."""
    mac = hmac.new(key, canonical({"in": inputs, "out": secret}), hashlib.sha256).hexdigest()
    return f"{_VERSION}:{fingerprint}:{mac}"


def fingerprint_of(value: str | None) -> Fingerprint | None:
    """The key fingerprint a stored hash names, or ``None`` for a missing or foreign value."""
    if not value:
        return None
    version, _, rest = value.partition(":")
    fp, sep, mac = rest.rpartition(":")
    if version != _VERSION or not sep or not fp or len(mac) != 64:
        return None
    return Fingerprint(fp)


def verify(
    value: str | None, keys: HmacKeys, inputs: Mapping[str, Any], secret: Mapping[str, Any]
) -> bool:
    fp = fingerprint_of(value)
    key = keys(fp) if fp else None
    if value is None or fp is None or key is None:
        return False
    return hmac.compare_digest(value, compute(key, fp, inputs, secret))
