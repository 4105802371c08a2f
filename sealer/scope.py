"""Sealing scopes, the labels they give and the annotations that carry them (upstream names)."""

from __future__ import annotations

import enum
from collections.abc import Mapping

from sealer.crypto import Label

ANNOTATION_PREFIX = "sealedsecrets.bitnami.com/"
NAMESPACE_WIDE_ANNOTATION = ANNOTATION_PREFIX + "namespace-wide"
CLUSTER_WIDE_ANNOTATION = ANNOTATION_PREFIX + "cluster-wide"
MANAGED_ANNOTATION = ANNOTATION_PREFIX + "managed"
PATCH_ANNOTATION = ANNOTATION_PREFIX + "patch"
SKIP_OWNER_REFERENCES_ANNOTATION = ANNOTATION_PREFIX + "skip-set-owner-references"
# Ours; upstream ignores unknown annotations, so this stays wire-compatible.
KEY_FINGERPRINT_ANNOTATION = "sealer.dev/key-fingerprint"


class Scope(enum.Enum):
    """How tightly a sealed value is bound to its target Secret."""

    STRICT = "strict"
    NAMESPACE_WIDE = "namespace-wide"
    CLUSTER_WIDE = "cluster-wide"

    def label(self, namespace: str, name: str) -> Label:
        """The RSA-OAEP label: ``ns/name``, ``ns`` or empty (upstream ``EncryptionLabel``)."""
        if self is Scope.CLUSTER_WIDE:
            return Label(b"")
        if self is Scope.NAMESPACE_WIDE:
            return Label(namespace.encode())
        return Label(f"{namespace}/{name}".encode())

    @classmethod
    def from_annotations(cls, annotations: Mapping[str, str] | None) -> Scope:
        """Upstream ``SecretScope``: cluster-wide wins over namespace-wide; else strict."""
        annotations = annotations or {}
        if annotations.get(CLUSTER_WIDE_ANNOTATION) == "true":
            return cls.CLUSTER_WIDE
        if annotations.get(NAMESPACE_WIDE_ANNOTATION) == "true":
            return cls.NAMESPACE_WIDE
        return cls.STRICT

    def annotate(self, annotations: Mapping[str, str] | None) -> dict[str, str]:
        """Upstream ``UpdateScopeAnnotations``: a copy carrying exactly this scope's annotation."""
        result = {
            k: v
            for k, v in (annotations or {}).items()
            if k not in (NAMESPACE_WIDE_ANNOTATION, CLUSTER_WIDE_ANNOTATION)
        }
        if self is Scope.NAMESPACE_WIDE:
            result[NAMESPACE_WIDE_ANNOTATION] = "true"
        elif self is Scope.CLUSTER_WIDE:
            result[CLUSTER_WIDE_ANNOTATION] = "true"
        return result
