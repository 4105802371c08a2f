"""Key pairs, certificates and the key ring, in the shapes upstream's controller stores them.

A key Secret is ``type: kubernetes.io/tls`` with a PKCS#1 ``tls.key`` and a PEM ``tls.crt``,
labelled ``sealedsecrets.bitnami.com/sealed-secrets-key=active``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtensionOID

from sealer import crypto
from sealer.crypto import Fingerprint, Label
from sealer.errors import CertificateError, DecryptionError, KeyMaterialError

KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"
KEY_LABEL_ACTIVE = "active"
# Ours (upstream ignores it): a retired key still decrypts but is never sealed to.
KEY_STATE_ANNOTATION = "sealer.dev/key-state"
KEY_STATE_RETIRED = "retired"
DEFAULT_KEY_BITS = 4096
DEFAULT_VALIDITY = dt.timedelta(days=3650)  # upstream: 10*365*24h
_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)
# Go's x509 writes KeyUsage=EncipherOnly without KeyAgreement, which cryptography's KeyUsage
# refuses to express: write the DER by hand (BIT STRING, 0 unused bits, bit 7 set).
_KEY_USAGE_ENCIPHER_ONLY = x509.UnrecognizedExtension(ExtensionOID.KEY_USAGE, b"\x03\x02\x00\x01")


@dataclass(frozen=True)
class SealingCertificate:
    """The public half a client seals to. Never iterates extensions (see tests/vectors)."""

    public_key: rsa.RSAPublicKey
    fingerprint: Fingerprint
    not_before: dt.datetime
    not_after: dt.datetime
    pem: bytes


@dataclass(frozen=True)
class KeyPair:
    """A private key with its certificate; ``repr`` never shows key material."""

    private_key: rsa.RSAPrivateKey = field(repr=False)
    certificate: SealingCertificate = field(repr=False)
    name: str = ""
    created: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def fingerprint(self) -> Fingerprint:
        return self.certificate.fingerprint


def certificate_from_x509(cert: x509.Certificate) -> SealingCertificate:
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise CertificateError("certificate does not hold an RSA public key")
    return SealingCertificate(
        public_key=key,
        fingerprint=crypto.fingerprint(key),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        pem=cert.public_bytes(serialization.Encoding.PEM),
    )


def load_certificate(
    data: bytes, *, now: dt.datetime | None = None, check_expiry: bool = True
) -> SealingCertificate:
    """Read the first CERTIFICATE block of ``data``; refuse non-RSA and expired ones."""
    match = _PEM_CERT.search(data)
    if match is None:
        raise CertificateError("no PEM CERTIFICATE block found")
    try:
        cert = x509.load_pem_x509_certificate(match.group(0))
    except ValueError as exc:
        raise CertificateError(f"unreadable certificate: {exc}") from None
    sealing = certificate_from_x509(cert)
    now = now or dt.datetime.now(dt.UTC)
    if check_expiry and sealing.not_after < now:
        raise CertificateError(
            f"certificate {sealing.fingerprint} expired on {sealing.not_after:%Y-%m-%d}"
        )
    return sealing


def generate(
    bits: int = DEFAULT_KEY_BITS,
    valid_for: dt.timedelta = DEFAULT_VALIDITY,
    common_name: str = "",
    *,
    now: dt.datetime | None = None,
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A key and a self-signed certificate exactly like upstream's ``GeneratePrivateKeyAndCert``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key, self_sign(key, valid_for, common_name, now=now)


def self_sign(
    key: rsa.RSAPrivateKey,
    valid_for: dt.timedelta = DEFAULT_VALIDITY,
    common_name: str = "",
    *,
    now: dt.datetime | None = None,
) -> x509.Certificate:
    start = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    attrs = [x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name)] if common_name else []
    name = x509.Name(attrs)
    serial = int.from_bytes(os.urandom(16), "big") or 1
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(start + valid_for)
        .add_extension(_KEY_USAGE_ENCIPHER_ONLY, critical=True)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def private_key_pem(key: rsa.RSAPrivateKey) -> bytes:
    """PKCS#1 ``RSA PRIVATE KEY`` PEM, as upstream stores ``tls.key``."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def load_private_key(pem: bytes, *, where: str = "key") -> rsa.RSAPrivateKey:
    """Parse (and validate, ~0.3 s for RSA-4096) a PEM private key; RSA only."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        # The message of cryptography's error may quote input bytes: never pass it on.
        raise KeyMaterialError(f"{where}: not a readable unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyMaterialError(f"{where}: private key is not an RSA key")
    return key


def key_pair(
    key_pem: bytes, cert_pem: bytes, *, name: str = "", created: dt.datetime | None = None
) -> KeyPair:
    """Build a checked pair; refuses a certificate that does not match the key."""
    where = name or "key pair"
    key = load_private_key(key_pem, where=where)
    cert = load_certificate(cert_pem, check_expiry=False)
    if cert.fingerprint != crypto.fingerprint(key.public_key()):
        raise KeyMaterialError(f"{where}: certificate does not match the private key")
    return KeyPair(key, cert, name, created or cert.not_before)


def key_pair_from_secret(secret: Mapping[str, Any]) -> KeyPair:
    """Read a key Secret (``data`` base64, as the API returns it)."""
    meta = secret.get("metadata") or {}
    name = f"{meta.get('namespace', '')}/{meta.get('name', '')}".strip("/") or "key Secret"
    data = secret.get("data") or {}
    try:
        key_pem = base64.b64decode(data.get("tls.key") or "", validate=True)
        cert_pem = base64.b64decode(data.get("tls.crt") or "", validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise KeyMaterialError(f"{name}: data.tls.key or data.tls.crt is not base64") from None
    if not key_pem or not cert_pem:
        raise KeyMaterialError(f"{name}: missing data.tls.key or data.tls.crt")
    created = _parse_time(meta.get("creationTimestamp"))
    return key_pair(key_pem, cert_pem, name=str(meta.get("name") or ""), created=created)


def key_secret(
    pair: KeyPair, namespace: str, prefix: str, *, name: str | None = None
) -> dict[str, Any]:
    """The key Secret upstream's ``writeKey`` creates (``generateName: <prefix>``)."""
    meta: dict[str, Any] = {
        "namespace": namespace,
        "labels": {KEY_LABEL: KEY_LABEL_ACTIVE},
    }
    if name:
        meta["name"] = name
    else:
        meta["generateName"] = prefix
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta,
        "type": "kubernetes.io/tls",
        "data": {
            "tls.crt": base64.b64encode(pair.certificate.pem).decode(),
            "tls.key": base64.b64encode(private_key_pem(pair.private_key)).decode(),
        },
    }


def load_key_file(data: bytes, *, where: str) -> list[KeyPair]:
    """Private keys from a PEM file or from key Secret manifests (``kubectl get -o yaml``)."""
    if b"-----BEGIN" in data and b"PRIVATE KEY-----" in data:
        key = load_private_key(data, where=where)
        cert = certificate_from_x509(self_sign(key, common_name=""))
        return [KeyPair(key, cert, where)]
    try:
        docs = [d for d in yaml.safe_load_all(data) if d]
    except yaml.YAMLError:
        raise KeyMaterialError(f"{where}: neither a PEM private key nor YAML") from None
    pairs = [key_pair_from_secret(s) for s in _secrets(docs)]
    if not pairs:
        raise KeyMaterialError(f"{where}: holds no private key")
    return pairs


def _secrets(docs: Iterable[Any]) -> Iterator[Mapping[str, Any]]:
    for doc in docs:
        if not isinstance(doc, Mapping):
            continue
        if doc.get("kind") in ("List", "SecretList"):
            yield from _secrets(doc.get("items") or [])
        elif doc.get("kind") == "Secret":
            yield doc


def _parse_time(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def is_retired(secret: Mapping[str, Any]) -> bool:
    """A key Secret annotated ``sealer.dev/key-state: retired``."""
    annotations = (secret.get("metadata") or {}).get("annotations") or {}
    return bool(annotations.get(KEY_STATE_ANNOTATION) == KEY_STATE_RETIRED)


@dataclass(frozen=True)
class KeyRing:
    """The private keys a controller or a recovering user holds, newest first.

    Every key decrypts; ``retired`` ones (fingerprints) are never the sealing key.
    """

    pairs: tuple[KeyPair, ...] = ()
    retired: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.pairs, key=lambda p: p.created, reverse=True))
        object.__setattr__(self, "pairs", ordered)

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def newest(self) -> KeyPair | None:
        """The sealing key: the newest key that is not retired."""
        return next((p for p in self.pairs if p.fingerprint not in self.retired), None)

    @property
    def fingerprints(self) -> tuple[Fingerprint, ...]:
        return tuple(p.fingerprint for p in self.pairs)

    def get(self, fp: str) -> KeyPair | None:
        return next((p for p in self.pairs if p.fingerprint == fp), None)

    def with_pair(self, pair: KeyPair) -> KeyRing:
        """Add (or replace, by fingerprint) one pair."""
        rest = tuple(p for p in self.pairs if p.fingerprint != pair.fingerprint)
        return KeyRing((*rest, pair), self.retired)

    def candidates(self, hint: str | Iterable[str | None] | None = None) -> list[KeyPair]:
        """Keys in the order to try: the hinted ones first (in the order given; unknown ones
        skipped), then the others newest to oldest."""
        hints = (hint,) if isinstance(hint, str) or hint is None else hint
        first = {fp: pair for fp in hints if fp and (pair := self.get(fp)) is not None}
        return [*first.values(), *(p for p in self.pairs if p.fingerprint not in first)]

    def unseal(
        self, ciphertext: bytes, label: Label, hint: str | Iterable[str | None] | None = None
    ) -> tuple[bytes, KeyPair]:
        """Decrypt with the hinted keys first; one private-key operation when a hint is right."""
        candidates = self.candidates(hint)
        by_key = {id(p.private_key): p for p in candidates}
        try:
            plaintext, key = crypto.unseal([p.private_key for p in candidates], ciphertext, label)
        except DecryptionError:
            raise DecryptionError() from None
        return plaintext, by_key[id(key)]
