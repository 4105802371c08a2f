"""Hybrid RSA-OAEP + AES-GCM sealing, byte-for-byte compatible with Bitnami Sealed Secrets.

Knows nothing of Kubernetes: callers pass the label their scope gives (see ``sealer.scope``).
Randomness for the session key is a parameter so tests can pin it; the OAEP padding seed
comes from OpenSSL's CSPRNG, which ``cryptography`` does not let us replace.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from collections.abc import Callable, Iterable
from typing import NewType

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sealer.errors import DecryptionError

Fingerprint = NewType("Fingerprint", str)
"""SSH-style ``SHA256:<unpadded base64>`` of a public key, as upstream's PublicKeyFingerprint."""

Label = NewType("Label", bytes)
"""The RSA-OAEP label binding a ciphertext to its scope."""

Random = Callable[[int], bytes]

SESSION_KEY_BYTES = 32
TAG_BYTES = 16  # AES-GCM authentication tag
_NONCE = bytes(12)  # each session key seals exactly one value, so a fixed nonce is safe
_LEN = struct.Struct(">H")


def _oaep(label: bytes) -> padding.OAEP:
    return padding.OAEP(
        mgf=padding.MGF1(algorithm=hashes.SHA256()),
        algorithm=hashes.SHA256(),
        label=label or None,
    )


def seal(
    public_key: rsa.RSAPublicKey, plaintext: bytes, label: Label, random: Random = os.urandom
) -> bytes:
    """Encrypt ``plaintext`` for ``public_key`` under ``label``.

    Layout (upstream ``HybridEncrypt``)::

        uint16 big-endian n
        || RSA-OAEP-SHA256(label, 32-byte session key)            (n bytes)
        || AES-256-GCM(session key, zero nonce, no AAD)(plaintext) (len(plaintext) bytes)
        || GCM tag                                                 (16 bytes)
    """
    session_key = random(SESSION_KEY_BYTES)
    if len(session_key) != SESSION_KEY_BYTES:
        raise ValueError("random source returned a short session key")
    wrapped = public_key.encrypt(session_key, _oaep(label))
    return _LEN.pack(len(wrapped)) + wrapped + AESGCM(session_key).encrypt(_NONCE, plaintext, None)


def split(ciphertext: bytes) -> tuple[bytes, bytes]:
    """Split a sealed item into its RSA block and its AES-GCM part; raise if the frame is bad."""
    if len(ciphertext) < _LEN.size:
        raise DecryptionError()
    (rsa_len,) = _LEN.unpack_from(ciphertext)
    end = _LEN.size + rsa_len
    if len(ciphertext) < end:
        raise DecryptionError()
    return ciphertext[_LEN.size : end], ciphertext[end:]


def plaintext_size(ciphertext: bytes) -> int:
    """How many bytes ``ciphertext`` opens to (GCM adds exactly its tag): known without a key.
    Raises :class:`DecryptionError` for a frame too short to be a sealed value."""
    _, sealed = split(ciphertext)
    if len(sealed) < TAG_BYTES:
        raise DecryptionError()
    return len(sealed) - TAG_BYTES


def unseal_with(private_key: rsa.RSAPrivateKey, ciphertext: bytes, label: Label) -> bytes:
    """Decrypt with one key. Every failure raises the same :class:`DecryptionError`."""
    wrapped, sealed = split(ciphertext)
    # A block whose size is not the modulus size cannot be ours: skip the costly private op.
    if len(wrapped) != (private_key.key_size + 7) // 8:
        raise DecryptionError()
    try:
        session_key = private_key.decrypt(wrapped, _oaep(label))
        if len(session_key) != SESSION_KEY_BYTES:
            raise DecryptionError()
        return AESGCM(session_key).decrypt(_NONCE, sealed, None)
    except (ValueError, InvalidTag):
        raise DecryptionError() from None  # opaque on purpose: no padding or tag oracle


def unseal(
    private_keys: Iterable[rsa.RSAPrivateKey], ciphertext: bytes, label: Label
) -> tuple[bytes, rsa.RSAPrivateKey]:
    """Try each key in order; return the plaintext and the key that opened it."""
    split(ciphertext)  # reject a malformed frame before any private-key work
    for key in private_keys:
        try:
            return unseal_with(key, ciphertext, label), key
        except DecryptionError:
            continue
    raise DecryptionError()


def fingerprint(public_key: rsa.RSAPublicKey) -> Fingerprint:
    """``SHA256:`` + unpadded base64 of SHA-256 over the SSH wire encoding (``ssh-keygen -l``)."""
    openssh = public_key.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    blob = base64.b64decode(openssh.split()[1])
    digest = base64.b64encode(hashlib.sha256(blob).digest()).rstrip(b"=")
    return Fingerprint("SHA256:" + digest.decode("ascii"))


def b64encode(data: bytes) -> str:
    """Standard alphabet, padded: the encoding of ``spec.encryptedData`` values."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes:
    """Strict standard-alphabet decoding; raises ``ValueError`` on anything else."""
    return base64.b64decode(text.encode("ascii"), validate=True)
