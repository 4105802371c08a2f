"""SealedSecret and Secret manifests as plain dicts: sealing, parsing and unsealing.

The shapes are upstream's (``NewSealedSecret`` / ``SealedSecret.Unseal``), so the output is what
``kubeseal`` writes but for the random ciphertexts.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any

from sealer import crypto
from sealer.crypto import Label
from sealer.errors import ManifestError, ScopeError
from sealer.keys import SealingCertificate
from sealer.scope import KEY_FINGERPRINT_ANNOTATION, Scope
from sealer.sealedsecret import API_VERSION, KIND, describe, secret_data

# Copies of the whole applied object, plaintext included (upstream issue #227).
LAST_APPLIED_ANNOTATIONS = (
    "kubectl.kubernetes.io/last-applied-configuration",
    "kubecfg.ksonnet.io/last-applied-configuration",
)


def seal_secret(
    secret: Mapping[str, Any],
    cert: SealingCertificate,
    *,
    scope: Scope | None = None,
    allow_empty: bool = False,
    random: crypto.Random = os.urandom,
) -> dict[str, Any]:
    """Seal every value of ``secret`` separately into a SealedSecret manifest.

    ``scope`` overrides the scope annotations of the input; ``secret`` must already carry
    its final name and namespace.
    """
    if secret.get("kind") != "Secret":
        raise ManifestError(
            f"expected kind Secret, got {secret.get('kind')!r}", where=describe(secret)
        )
    meta = copy.deepcopy(dict(secret.get("metadata") or {}))
    what = describe(secret)
    name, namespace = meta.get("name") or "", meta.get("namespace") or ""
    scope = scope or Scope.from_annotations(meta.get("annotations"))
    if not name and scope is not Scope.CLUSTER_WIDE:
        raise ScopeError(
            "a Secret needs a name unless sealed cluster-wide", where=f"{what}: metadata.name"
        )
    if not namespace and scope is not Scope.CLUSTER_WIDE:
        raise ScopeError("secret must declare a namespace", where=f"{what}: metadata.namespace")
    items = secret_data(secret)
    if not items and not allow_empty:
        raise ManifestError("has no data or stringData (use --allow-empty-data)", where=what)
    label = scope.label(namespace, name)
    template_meta = _template_metadata(meta, scope)
    template: dict[str, Any] = {"metadata": template_meta}
    if secret.get("immutable") is not None:
        template["immutable"] = secret["immutable"]
    if secret.get("type"):
        template["type"] = secret["type"]
    sealed_meta: dict[str, Any] = {"creationTimestamp": None, "name": name}
    if namespace:
        sealed_meta["namespace"] = namespace
    sealed_meta["annotations"] = {
        **scope.annotate({}),
        KEY_FINGERPRINT_ANNOTATION: cert.fingerprint,
    }
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": sealed_meta,
        "spec": {
            "encryptedData": {
                key: seal_value(cert, value, label, random) for key, value in sorted(items.items())
            },
            "template": template,
        },
    }


def _template_metadata(meta: dict[str, Any], scope: Scope) -> dict[str, Any]:
    annotations = {
        k: v
        for k, v in (meta.get("annotations") or {}).items()
        if k not in LAST_APPLIED_ANNOTATIONS
    }
    annotations = scope.annotate(annotations) if annotations or scope is not Scope.STRICT else {}
    kept = {
        k: v
        for k, v in meta.items()
        if k
        not in (
            "ownerReferences",
            "annotations",
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "generation",
            "managedFields",
            "selfLink",
        )
    }
    result: dict[str, Any] = {"creationTimestamp": None, **kept}
    if annotations:
        result["annotations"] = annotations
    return dict(sorted(result.items()))


def seal_value(
    cert: SealingCertificate, value: bytes, label: Label, random: crypto.Random = os.urandom
) -> str:
    """One ``encryptedData`` item: the base64 of the hybrid ciphertext."""
    return crypto.b64encode(crypto.seal(cert.public_key, value, label, random))
