"""The SealedSecret value object and unsealing, shared by ``sealer unseal`` and the controller.

Unsealing follows upstream's ``SealedSecret.Unseal``: the label comes from the SealedSecret's own
metadata, so a ciphertext cannot be replayed under another name, namespace or scope.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sealer import crypto
from sealer.crypto import Fingerprint, Label
from sealer.errors import DecryptionError, ManifestError
from sealer.keys import KeyPair, KeyRing
from sealer.scope import KEY_FINGERPRINT_ANNOTATION, SKIP_OWNER_REFERENCES_ANNOTATION, Scope
from sealer.secretrules import (
    MAX_ITEMS,
    MAX_SECRET_BYTES,
    check_item_name,
    check_size,
    check_string_map,
    check_template,
    check_text,
    render_template,
)

API_VERSION = "bitnami.com/v1alpha1"
KIND = "SealedSecret"
__all__ = ["check_item_name", "render_template"]  # re-exported: their historical home


def describe(obj: Mapping[str, Any]) -> str:
    """``Kind ns/name`` for error messages."""
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), Mapping) else {}
    name = "/".join(str(p) for p in (meta.get("namespace"), meta.get("name")) if p)  # type: ignore[union-attr]
    text = f"{obj.get('kind') or 'object'} {name or '<unnamed>'}"
    # printable whatever the input: a lone surrogate would break every stream it is written to
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def secret_data(secret: Mapping[str, Any]) -> dict[str, bytes]:
    """``data`` (base64) and ``stringData`` of a Secret, decoded; stringData wins as in the API."""
    what = describe(secret)
    items: dict[str, bytes] = {}
    for section in ("data", "stringData"):
        values = secret.get(section) or {}
        if not isinstance(values, Mapping):
            raise ManifestError("must be a mapping", where=f"{what}: {section}")
        for key, value in values.items():
            where = f"{what}: {section}.{key}"
            check_item_name(check_text(key, f"{what}: {section}"), where)
            if value is None:
                value = ""
            check_text(value, where)
            if section == "stringData":
                items[key] = value.encode()
                continue
            try:
                items[key] = base64.b64decode(value.encode("ascii"), validate=True)
            except (binascii.Error, ValueError):
                raise ManifestError("is not valid base64", where=where) from None
    return items


@dataclass(frozen=True)
class SealedSecret:
    """A validated SealedSecret: what unsealing needs, nothing else."""

    name: str
    namespace: str
    scope: Scope
    encrypted_data: Mapping[str, str]
    template: Mapping[str, Any]
    key_fingerprint: Fingerprint | None = None
    legacy_data: str | None = None
    uid: str | None = None

    @property
    def label(self) -> Label:
        return self.scope.label(self.namespace, self.name)

    @property
    def where(self) -> str:
        return f"SealedSecret {self.namespace}/{self.name}"

    @classmethod
    def from_manifest(cls, obj: Mapping[str, Any]) -> SealedSecret:
        """Validate ``obj``; every error names the object and the field."""
        what = describe(obj)
        if obj.get("kind") != KIND:
            raise ManifestError(f"expected kind {KIND}, got {obj.get('kind')!r}", where=what)
        meta = obj.get("metadata")
        if not isinstance(meta, Mapping):
            raise ManifestError("missing", where=f"{what}: metadata")
        spec = obj.get("spec")
        if not isinstance(spec, Mapping):
            raise ManifestError("missing or not a mapping", where=f"{what}: spec")
        encrypted = spec.get("encryptedData") or {}
        if not isinstance(encrypted, Mapping) or not all(
            isinstance(v, str) for v in encrypted.values()
        ):
            raise ManifestError(
                "must map item names to strings", where=f"{what}: spec.encryptedData"
            )
        for item in encrypted:
            check_item_name(check_text(item, f"{what}: spec.encryptedData"),
                            f"{what}: spec.encryptedData.{item}")
        if len(encrypted) > MAX_ITEMS:
            raise ManifestError(
                f"has {len(encrypted)} items; at most {MAX_ITEMS} are accepted",
                where=f"{what}: spec.encryptedData",
            )
        legacy = spec.get("data")
        if legacy is not None and encrypted:
            raise ManifestError(
                "cannot use 'encryptedData' and the deprecated 'data' at the same time",
                where=f"{what}: spec.data",
            )
        if legacy is not None and not isinstance(legacy, str):
            raise ManifestError("must be a base64 string", where=f"{what}: spec.data")
        template = spec.get("template") or {}
        check_template(template, f"{what}: spec.template", len(encrypted))
        for part in ("name", "namespace"):
            if meta.get(part) is not None:
                check_text(meta[part], f"{what}: metadata.{part}")
        for part in ("labels", "annotations"):
            check_string_map(meta.get(part), f"{what}: metadata.{part}")
        annotations = meta.get("annotations") or {}
        hint = (
            annotations.get(KEY_FINGERPRINT_ANNOTATION)
            if isinstance(annotations, Mapping)
            else None
        )
        return cls(
            name=str(meta.get("name") or ""),
            namespace=str(meta.get("namespace") or ""),
            scope=Scope.from_annotations(annotations if isinstance(annotations, Mapping) else None),
            encrypted_data=dict(encrypted),
            template=copy.deepcopy(dict(template)),
            key_fingerprint=Fingerprint(hint) if isinstance(hint, str) and hint else None,
            legacy_data=legacy if isinstance(legacy, str) else None,
            uid=meta.get("uid"),
        )

    def ciphertexts(self) -> dict[str, bytes]:
        """Decoded items; bad base64 or a frame no key could ever open names the item."""
        result = {}
        for item, value in self.encrypted_data.items():
            where = f"{self.where}: spec.encryptedData.{item}"
            try:
                result[item] = crypto.b64decode(value)
            except ValueError:
                raise ManifestError("is not valid standard base64", where=where) from None
            try:
                crypto.plaintext_size(result[item])
            except DecryptionError:
                raise ManifestError(
                    "is not a sealed value (truncated: its length prefix or tag is missing)",
                    where=where,
                ) from None
        return result


@dataclass(frozen=True)
class Unsealed:
    """The Secret an unseal produced. ``repr`` shows names only, never values."""

    secret: dict[str, Any] = field(repr=False)
    keys: frozenset[Fingerprint]
    items: tuple[str, ...]
    tries: int = 0  # keys tried (private-key operations) for the items that opened


def unseal(
    sealed: SealedSecret,
    ring: KeyRing,
    *,
    hints: Mapping[str, str] | None = None,
    known: Sequence[str] = (),
    accept_v1_data: bool = False,
    api_version: str = API_VERSION,
) -> Unsealed:
    """Decrypt every item into the Secret upstream's controller would write.

    Keys are tried in this order: ``hints[item]`` (the fingerprint that opened that item last
    time), the key that opened the previous item of this object, the key-fingerprint annotation,
    ``known`` (keys that opened this object before), then every other key, newest first. An
    object sealed by kubeseal (no annotation) and never opened costs a search for its first
    item only.
    """
    label = sealed.label
    data: dict[str, bytes] = {}
    used: set[Fingerprint] = set()
    tries = 0
    if sealed.legacy_data is not None:
        if not accept_v1_data:
            raise ManifestError(
                "uses the deprecated 'data' field; use 'encryptedData'",
                where=f"{sealed.where}: spec.data",
            )
        try:
            blob = base64.b64decode(sealed.legacy_data, validate=True)
        except (binascii.Error, ValueError):
            raise ManifestError("is not valid base64", where=f"{sealed.where}: spec.data") from None
        plaintext, pair, n = _open(
            ring, blob, label, (sealed.key_fingerprint, *known), f"{sealed.where}: spec.data"
        )
        used.add(pair.fingerprint)
        tries += n
        try:
            inner = json.loads(plaintext)
            data = secret_data(inner)
        except (ValueError, ManifestError):
            raise DecryptionError(f"{sealed.where}: spec.data does not hold a Secret") from None
    blobs = sealed.ciphertexts()
    sizes = {item: crypto.plaintext_size(blob) for item, blob in blobs.items()}
    check_size(
        sum(sizes.values()) + sum(len(v) for k, v in data.items() if k not in sizes),
        f"{sealed.where}: spec.encryptedData",
    )
    last: str | None = None
    for item, blob in blobs.items():
        order = ((hints or {}).get(item), last, sealed.key_fingerprint, *known)
        plaintext, pair, n = _open(
            ring, blob, label, order, f"{sealed.where}: spec.encryptedData.{item}"
        )
        data[item] = plaintext
        used.add(pair.fingerprint)
        last = pair.fingerprint
        tries += n
    total = sum(len(v) for v in data.values())
    for item, text in (sealed.template.get("data") or {}).items():
        budget = MAX_SECRET_BYTES - (total - len(data.get(item, b"")))
        where = f"{sealed.where}: spec.template.data.{item}"
        rendered = render_template(text, data, where, budget)
        total += len(rendered) - len(data.get(item, b""))
        data[item] = rendered
    secret = _secret(sealed, data, api_version)
    return Unsealed(secret, frozenset(used), tuple(sorted(data)), tries)


def _open(
    ring: KeyRing, blob: bytes, label: Label, hint: str | Iterable[str | None] | None, where: str
) -> tuple[bytes, KeyPair, int]:
    """The plaintext, the key that opened it and how many keys were tried."""
    try:
        plaintext, pair = ring.unseal(blob, label, hint)
    except DecryptionError:
        raise DecryptionError(f"{where}: no key could decrypt it") from None
    order = [p.fingerprint for p in ring.candidates(hint)]
    return plaintext, pair, order.index(pair.fingerprint) + 1


def _secret(sealed: SealedSecret, data: Mapping[str, bytes], api_version: str) -> dict[str, Any]:
    tmeta = copy.deepcopy(dict(sealed.template.get("metadata") or {}))
    tmeta.pop("creationTimestamp", None)
    tmeta["name"], tmeta["namespace"] = sealed.name, sealed.namespace
    annotations = tmeta.get("annotations") or {}
    if annotations.get(SKIP_OWNER_REFERENCES_ANNOTATION) != "true":
        tmeta["ownerReferences"] = [
            {
                "apiVersion": api_version,
                "kind": KIND,
                "name": sealed.name,
                "uid": sealed.uid or "",
                "controller": True,
            }
        ]
    secret: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": tmeta}
    if sealed.template.get("type"):
        secret["type"] = sealed.template["type"]
    if sealed.template.get("immutable") is not None:
        secret["immutable"] = sealed.template["immutable"]
    secret["data"] = {k: base64.b64encode(v).decode() for k, v in sorted(data.items())}
    return secret
