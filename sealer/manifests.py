"""SealedSecret and Secret manifests as plain dicts: sealing, parsing and unsealing.

The shapes are upstream's (``NewSealedSecret`` / ``SealedSecret.Unseal``), so the output is what
``kubeseal`` writes but for the random ciphertexts.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping
from typing import Any

from sealer import crypto
from sealer.crypto import Label
from sealer.errors import ManifestError, ScopeError
from sealer.keys import SealingCertificate
from sealer.scope import (
    CLUSTER_WIDE_ANNOTATION,
    KEY_FINGERPRINT_ANNOTATION,
    NAMESPACE_WIDE_ANNOTATION,
    Scope,
)
from sealer.sealedsecret import API_VERSION, KIND, SealedSecret, describe, secret_data
from sealer.secretrules import check_size

# Copies of the whole applied object, plaintext included (upstream issue #227).
LAST_APPLIED_ANNOTATIONS = (
    "kubectl.kubernetes.io/last-applied-configuration",
    "kubecfg.ksonnet.io/last-applied-configuration",
)


SCOPE_ANNOTATIONS = (NAMESPACE_WIDE_ANNOTATION, CLUSTER_WIDE_ANNOTATION)
# ObjectMeta fields a template keeps (upstream copies the input's ObjectMeta after clearing the
# server-written ones and the owner references); Go drops fields it does not know.
TEMPLATE_META_FIELDS = (
    "name", "generateName", "namespace", "labels", "annotations", "finalizers", "managedFields",
)  # fmt: skip


def seal_secret(
    secret: Mapping[str, Any],
    cert: SealingCertificate,
    *,
    scope: Scope | None = None,
    allow_empty: bool = False,
    random: crypto.Random = os.urandom,
) -> dict[str, Any]:
    """Seal every value of ``secret`` separately into a SealedSecret manifest (upstream's
    ``NewSealedSecret``). ``secret`` must already carry its final name and namespace.

    ``scope`` is ``--scope``: it rewrites the input's scope annotations, which otherwise decide.
    """
    what = describe(secret)
    if secret.get("kind") != "Secret":
        raise ManifestError(f"expected kind Secret, got {secret.get('kind')!r}", where=what)
    meta = object_meta(secret)
    if scope is not None:
        meta["annotations"] = scope.annotate(meta.get("annotations"))
    effective = Scope.from_annotations(meta.get("annotations"))
    name, namespace = meta.get("name", ""), meta.get("namespace", "")
    if not name:
        raise ManifestError("is required", where=f"{what}: metadata.name")
    if not namespace and effective is not Scope.CLUSTER_WIDE:
        raise ScopeError("secret must declare a namespace", where=f"{what}: metadata.namespace")
    items = secret_data(secret)
    check_size(sum(len(v) for v in items.values()), f"{what}: data")  # the cluster would refuse
    if not items and not allow_empty:
        raise ManifestError("has no data or stringData (use --allow-empty-data)", where=what)
    label = effective.label(namespace, name)
    sealed_meta: dict[str, Any] = {"name": name}
    if namespace:
        sealed_meta["namespace"] = namespace
    sealed_meta["creationTimestamp"] = None
    sealed_meta["annotations"] = {
        **effective.annotate({}),
        KEY_FINGERPRINT_ANNOTATION: cert.fingerprint,
    }
    return {
        "kind": KIND,
        "apiVersion": API_VERSION,
        "metadata": sealed_meta,
        "spec": {
            "template": _template(secret, meta),
            "encryptedData": {
                key: seal_value(cert, value, label, random) for key, value in sorted(items.items())
            },
        },
    }


def object_meta(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The checked ObjectMeta fields a template keeps, as Go would decode them: strings where
    Go has strings, string maps, no empty values (``omitempty``), unknown fields dropped."""
    what = describe(obj)
    meta = obj.get("metadata")
    if meta is None:
        return {}
    if not isinstance(meta, Mapping):
        raise ManifestError("must be a mapping", where=f"{what}: metadata")
    result: dict[str, Any] = {}
    for field in TEMPLATE_META_FIELDS:
        value = meta.get(field)
        where = f"{what}: metadata.{field}"
        if value is None or value in ("", {}, []):
            continue
        if field in ("labels", "annotations"):
            value = _string_map(value, where)
        elif field == "finalizers":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ManifestError("must be a list of strings", where=where)
        elif field == "managedFields":
            if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
                raise ManifestError("must be a list of objects", where=where)
        elif not isinstance(value, str):
            raise ManifestError("must be a string", where=where)
        result[field] = copy.deepcopy(value)
    return result


def _string_map(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ManifestError("must be a mapping of strings", where=where)
    result = {}
    for key, item in value.items():
        if item is not None and not isinstance(item, str):
            # The value is left out: this may be an annotation holding something sensitive.
            raise ManifestError("must be a string (quote it)", where=f"{where}.{key}")
        result[str(key)] = item or ""  # Go reads null as ""
    return result


def _template(secret: Mapping[str, Any], meta: Mapping[str, Any]) -> dict[str, Any]:
    what = describe(secret)
    annotations = {
        k: v
        for k, v in (meta.get("annotations") or {}).items()
        if k not in LAST_APPLIED_ANNOTATIONS
    }
    tmeta: dict[str, Any] = {k: v for k, v in meta.items() if k != "annotations"}
    tmeta["creationTimestamp"] = None
    if annotations:
        tmeta["annotations"] = annotations
    template: dict[str, Any] = {"metadata": tmeta}
    secret_type, immutable = secret.get("type"), secret.get("immutable")
    if secret_type is not None and not isinstance(secret_type, str):
        raise ManifestError("must be a string", where=f"{what}: type")
    if secret_type:
        template["type"] = secret_type
    if immutable is not None:
        if not isinstance(immutable, bool):
            raise ManifestError("must be true or false", where=f"{what}: immutable")
        template["immutable"] = immutable
    return template


def seal_value(
    cert: SealingCertificate, value: bytes, label: Label, random: crypto.Random = os.urandom
) -> str:
    """One ``encryptedData`` item: the base64 of the hybrid ciphertext."""
    return crypto.b64encode(crypto.seal(cert.public_key, value, label, random))


def merge_sealed(
    target: Mapping[str, Any],
    secrets: Iterable[Mapping[str, Any]],
    cert: SealingCertificate,
    *,
    scope: Scope | None = None,
    allow_empty: bool = False,
    random: crypto.Random = os.urandom,
) -> dict[str, Any]:
    """Upstream's ``SealMergingInto``: the items of ``secrets``, sealed for the target's own
    name, namespace and scope, added to or replacing the target's; their labels and annotations
    merged into its template. Every other item stays exactly as it is."""
    sealed = SealedSecret.from_manifest(target)
    if sealed.legacy_data is not None:
        raise ManifestError("uses the deprecated 'data' field", where=f"{sealed.where}: spec.data")
    if scope is not None and scope is not sealed.scope:
        raise ScopeError(
            f"--scope {scope.value} contradicts the file's scope {sealed.scope.value}",
            where=sealed.where,
        )
    result = copy.deepcopy(dict(target))
    spec = result["spec"]
    template = spec.setdefault("template", {})
    tmeta = template.setdefault("metadata", {"creationTimestamp": None})
    added: dict[str, str] = {}
    for secret in secrets:
        meta = object_meta(secret)
        meta.update(name=sealed.name, namespace=sealed.namespace)
        meta["annotations"] = sealed.scope.annotate(meta.get("annotations"))
        new = seal_secret(
            {**secret, "metadata": meta}, cert, allow_empty=allow_empty, random=random
        )
        added.update(new["spec"]["encryptedData"])
        for field in ("labels", "annotations"):
            values = {
                k: v
                for k, v in (new["spec"]["template"]["metadata"].get(field) or {}).items()
                if k not in SCOPE_ANNOTATIONS  # the file's scope stays the file's
            }
            if values:
                tmeta[field] = {**(tmeta.get(field) or {}), **values}
    existing = spec.get("encryptedData") or {}
    if set(added) >= set(existing):  # every item now sealed to this key: the hint holds
        meta = result.setdefault("metadata", {})
        meta["annotations"] = {
            **(meta.get("annotations") or {}),
            KEY_FINGERPRINT_ANNOTATION: cert.fingerprint,
        }
    spec["encryptedData"] = {**existing, **added}
    return result
