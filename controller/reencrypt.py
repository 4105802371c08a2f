"""Re-encrypting a SealedSecret to the newest key without ever changing what it unseals to.

Upstream's ``/v1/rotate`` re-derived the scope from the template, so a caller could send a strict
object with a cluster-wide template and get back a cluster-wide ciphertext: a scope escalation.
Here the label comes only from the object's own metadata, and the output keeps that metadata, so
the new ciphertexts open under exactly the same name, namespace and scope as the old ones.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any

from sealer import crypto
from sealer.errors import DecryptionError, SealerError
from sealer.keys import KeyRing
from sealer.scope import KEY_FINGERPRINT_ANNOTATION
from sealer.sealedsecret import SealedSecret

# Written by the API server, meaningless in a manifest kept in Git.
_SERVER_FIELDS = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)


def reencrypt(
    manifest: Mapping[str, Any], ring: KeyRing, random: crypto.Random = os.urandom
) -> dict[str, Any]:
    """Return ``manifest`` with every ``encryptedData`` item sealed to the newest key."""
    sealed = SealedSecret.from_manifest(manifest)
    newest = ring.newest
    if newest is None:
        raise SealerError("the controller holds no sealing key yet")
    if sealed.legacy_data is not None:
        raise SealerError(f"{sealed.where}: the deprecated spec.data cannot be re-encrypted")
    label = sealed.label
    items: dict[str, str] = {}
    for item, blob in sealed.ciphertexts().items():
        try:
            plaintext, _ = ring.unseal(blob, label, sealed.key_fingerprint)
        except DecryptionError:
            raise DecryptionError(
                f"{sealed.where}: spec.encryptedData.{item}: no key could decrypt it"
            ) from None
        items[item] = crypto.b64encode(
            crypto.seal(newest.certificate.public_key, plaintext, label, random)
        )
    result = copy.deepcopy(dict(manifest))
    result.pop("status", None)
    meta = result["metadata"] = dict(result.get("metadata") or {})
    for name in _SERVER_FIELDS:
        meta.pop(name, None)
    meta["annotations"] = {
        **(meta.get("annotations") or {}),
        KEY_FINGERPRINT_ANNOTATION: newest.fingerprint,
    }
    result["spec"] = {**result["spec"], "encryptedData": items}
    return result
