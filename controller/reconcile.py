"""Pure decisions about one SealedSecret and its Secret: whose the Secret is, whether it already
matches, what to write, and what the status says. No I/O, no clock: dicts in, dicts out.

The write logic is upstream's (``controller.go``, ``unseal``): a Secret we own or may take over
(``sealedsecrets.bitnami.com/managed: "true"``) gets the template's data, labels, annotations and
owner reference; one annotated ``sealedsecrets.bitnami.com/patch: "true"`` gets them merged in; any
other existing Secret is never touched.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from controller import digest
from sealer.keys import KEY_LABEL
from sealer.scope import (
    MANAGED_ANNOTATION,
    PATCH_ANNOTATION,
    SKIP_OWNER_REFERENCES_ANNOTATION,
)
from sealer.sealedsecret import SealedSecret

Obj = dict[str, Any]
SYNCED = "Synced"
STALLED = "Stalled"  # kstatus's abnormal-true condition
_WRITTEN_META = ("labels", "annotations", "ownerReferences")


class Ownership(enum.Enum):
    ABSENT = "absent"  # no Secret yet: create it
    OWNED = "owned"  # controlled by this SealedSecret
    MANAGED = "managed"  # annotated managed: "true": ours to take over
    PATCHED = "patched"  # annotated patch: "true": ours to merge into
    FOREIGN = "foreign"  # someone else's: never touched


def _meta(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    meta = (obj or {}).get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _annotations(obj: Mapping[str, Any] | None) -> Mapping[str, str]:
    return _meta(obj).get("annotations") or {}


def controlled_by(secret: Mapping[str, Any], uid: str | None) -> bool:
    """``metav1.IsControlledBy``: a controller owner reference with this uid."""
    refs = _meta(secret).get("ownerReferences") or []
    return bool(uid) and any(r.get("controller") and r.get("uid") == uid for r in refs)


def is_managed(secret: Mapping[str, Any]) -> bool:
    return _annotations(secret).get(MANAGED_ANNOTATION) == "true"


def is_patched(secret: Mapping[str, Any]) -> bool:
    return _annotations(secret).get(PATCH_ANNOTATION) == "true"


def ownership(
    live: Mapping[str, Any] | None, uid: str | None, without_owner_reference: bool = False
) -> Ownership:
    """Upstream's rule, plus: when the SealedSecret asks for no owner reference
    (``skip-set-owner-references``), a Secret carrying our hash annotation is one we made.

    (Upstream then calls its own Secret "not managed" on the next update. Only the controller
    writes that annotation, and only on Secrets it may write, so it claims no more than
    ``managed: "true"`` would.)
    """
    if live is None:
        return Ownership.ABSENT
    if controlled_by(live, uid):
        return Ownership.OWNED
    made_by_us = digest.fingerprint_of(_annotations(live).get(digest.HASH_ANNOTATION)) is not None
    if without_owner_reference and made_by_us and not is_patched(live):
        return Ownership.OWNED
    if is_managed(live):
        return Ownership.MANAGED
    if is_patched(live):
        return Ownership.PATCHED
    return Ownership.FOREIGN


def skips_owner_reference(sealed: SealedSecret) -> bool:
    annotations = (sealed.template.get("metadata") or {}).get("annotations") or {}
    return annotations.get(SKIP_OWNER_REFERENCES_ANNOTATION) == "true"


def key_secret_problem(sealed: SealedSecret, key_namespace: str, key_prefix: str) -> str | None:
    """Why the Secret ``sealed`` makes would pass for one of the controller's own sealing keys,
    which the key ring would load (and the newest of which ``/v1/cert.pem`` would hand out):
    whoever may create SealedSecrets in the key namespace must not be able to plant a key."""
    if sealed.namespace != key_namespace:
        return None
    labels = (sealed.template.get("metadata") or {}).get("labels") or {}
    if KEY_LABEL in labels:
        return f"spec.template.metadata.labels: {KEY_LABEL} is reserved for sealing keys"
    if sealed.name == key_prefix:
        return f"metadata.name: {key_prefix!r} is the name of the legacy sealing-key Secret"
    return None


def unmanaged_message(name: str) -> str:
    return f'Resource "{name}" already exists and is not managed by SealedSecret'


def immutable_message(namespace: str, name: str) -> str:
    """Upstream's ``formatImmutableError``."""
    return (
        f"Error updating {namespace}/{name}: the target Secret is immutable. Once a Secret is "
        "marked as immutable, it is not possible to revert this change nor to mutate the contents "
        "of the data field. You can only delete and recreate the Secret."
    )


def inputs(body: Mapping[str, Any], sealed: SealedSecret) -> Obj:
    """Everything of a SealedSecret that decides its Secret (what the keyed hash covers)."""
    return {
        "namespace": sealed.namespace,
        "name": sealed.name,
        "uid": sealed.uid or "",
        "scope": sealed.scope.value,
        "spec": body.get("spec") or {},
    }


def projection(secret: Mapping[str, Any], sealed: SealedSecret) -> Obj | None:
    """The part of a Secret the SealedSecret decides, normalised the way the API server stores it.

    Labels and annotations the template does not name are not ours to police: other tools may
    add them without this counting as drift. ``None``: cannot be known without decrypting (the
    deprecated ``spec.data`` merged into a patched Secret).
    """
    meta = _meta(secret)
    tmeta = sealed.template.get("metadata") or {}
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    data = dict(secret.get("data") or {})
    patched = is_patched(secret)
    if patched:
        if sealed.legacy_data is not None:
            return None
        names = set(sealed.encrypted_data) | set(sealed.template.get("data") or {})
        data = {k: data.get(k) for k in sorted(names)}
    result: Obj = {
        "data": data,
        "type": secret.get("type") or "Opaque",
        "labels": {k: labels.get(k) for k in sorted(tmeta.get("labels") or {})},
        "annotations": {
            k: annotations.get(k)
            for k in sorted(tmeta.get("annotations") or {})
            if k != digest.HASH_ANNOTATION
        },
        "patched": patched,
        "controlled": controlled_by(secret, sealed.uid),
    }
    return result


def in_sync(
    live: Mapping[str, Any],
    sealed: SealedSecret,
    sealed_inputs: Mapping[str, Any],
    hmac_keys: digest.HmacKeys,
) -> bool:
    """Whether ``live`` is exactly what we last wrote for these inputs (no decryption needed)."""
    seen = projection(live, sealed)
    if seen is None:
        return False
    stored = _annotations(live).get(digest.HASH_ANNOTATION)
    return digest.verify(stored, hmac_keys, sealed_inputs, seen)


def desired_secret(live: Mapping[str, Any] | None, unsealed: Mapping[str, Any]) -> Obj:
    """The Secret to write: ``unsealed`` if there is none, else upstream's merge into ``live``."""
    new_meta = _meta(unsealed)
    if live is None:
        secret = copy.deepcopy(dict(unsealed))
        secret["metadata"] = {k: v for k, v in secret["metadata"].items() if v is not None}
        return secret
    secret = copy.deepcopy(dict(live))
    meta = secret["metadata"] = dict(secret.get("metadata") or {})
    if is_patched(live):
        secret["data"] = {**(live.get("data") or {}), **(unsealed.get("data") or {})}
        for part in ("labels", "annotations"):
            meta[part] = {**(meta.get(part) or {}), **(new_meta.get(part) or {})}
        if is_managed(live):
            meta["ownerReferences"] = copy.deepcopy(new_meta.get("ownerReferences"))
    else:
        secret["data"] = dict(unsealed.get("data") or {})
        for part in _WRITTEN_META:
            meta[part] = copy.deepcopy(new_meta.get(part))
    for part in _WRITTEN_META:
        if not meta.get(part):
            meta.pop(part, None)
    # Upstream always copies the template's type; an empty one would try to change the type of
    # an existing Secret (immutable in the API): keep the existing type then.
    secret["type"] = unsealed.get("type") or live.get("type") or "Opaque"
    return secret


def _comparable(secret: Mapping[str, Any]) -> Obj:
    meta = _meta(secret)
    return {
        "data": secret.get("data") or {},
        "type": secret.get("type") or "Opaque",
        **{part: meta.get(part) or None for part in _WRITTEN_META},
    }


@dataclass(frozen=True)
class Write:
    """A Secret to create (``live`` was absent) or replace (with ``live``'s resourceVersion).
    ``repr`` never shows the Secret: it holds the values."""

    secret: Obj = field(repr=False)
    create: bool


def plan(
    live: Mapping[str, Any] | None,
    unsealed: Mapping[str, Any],
    sealed: SealedSecret,
    sealed_inputs: Mapping[str, Any],
    hmac_key: bytes | None,
    fingerprint: str | None,
) -> Write | None:
    """What to write so the Secret matches; ``None`` if it already does."""
    secret = desired_secret(live, unsealed)
    meta = secret["metadata"]
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()}
    annotations.pop(digest.HASH_ANNOTATION, None)
    seen = projection(secret, sealed)
    if hmac_key is not None and fingerprint and seen is not None:
        annotations[digest.HASH_ANNOTATION] = digest.compute(
            hmac_key, fingerprint, sealed_inputs, seen
        )
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    if live is not None and _comparable(live) == _comparable(secret):
        return None
    return Write(secret, create=live is None)


def status(
    current: Mapping[str, Any] | None,
    generation: int | None,
    ok: bool,
    message: str,
    now: str,
    reason: str = "",
    fingerprints: Iterable[str] | None = None,
) -> Obj | None:
    """The status to write (upstream's ``Synced`` condition), or ``None`` if unchanged.

    When unsealing fails, a ``Stalled`` condition (kstatus: ``Failed``, as Flux's health checks
    read it) goes with ``Synced=False``; Argo CD's check reads ``Synced`` alone.
    ``lastUpdateTime`` moves only when something else changes, so a steady state writes nothing.
    """
    current = current or {}
    conditions = [dict(c) for c in current.get("conditions") or [] if isinstance(c, Mapping)]
    old = next((c for c in conditions if c.get("type") == SYNCED), None)
    state = "True" if ok else "False"
    cond: Obj = {"type": SYNCED, "status": state}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    transition = old is None or old.get("status") != state
    cond["lastTransitionTime"] = now if transition else old.get("lastTransitionTime", now)  # type: ignore[union-attr]
    new: Obj = {"observedGeneration": generation or current.get("observedGeneration") or 0}
    if fingerprints is not None:
        new["keyFingerprints"] = sorted(set(fingerprints))
    stalled = any(c.get("type") == STALLED for c in conditions)
    unchanged = (
        old is not None
        and {k: old.get(k) for k in ("status", "reason", "message")}
        == {k: cond.get(k) for k in ("status", "reason", "message")}
        and all(current.get(k) == v for k, v in new.items())
        and stalled is not ok
    )
    if unchanged:
        return None
    cond["lastUpdateTime"] = now
    rest = [c for c in conditions if c.get("type") not in (SYNCED, STALLED)]
    if not ok:  # kstatus: Failed until the object or the keys change
        rest.insert(0, {**cond, "type": STALLED, "status": "True"})
    return {**new, "conditions": [cond, *rest]}


def redact(message: str, unsealed: Mapping[str, Any]) -> str:
    """Strip any value of ``unsealed`` (plaintext or base64) from an API server's message."""
    for encoded in (unsealed.get("data") or {}).values():
        candidates = [str(encoded)]
        with contextlib.suppress(binascii.Error, UnicodeDecodeError):
            candidates.append(base64.b64decode(str(encoded)).decode("utf-8"))
        for value in candidates:
            if len(value) >= 4:
                message = message.replace(value, "[redacted]")
    return message
