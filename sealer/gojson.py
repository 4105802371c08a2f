"""Manifests as JSON, byte for byte as kubeseal writes them with Go's ``encoding/json``.

``json.MarshalIndent`` over the API structs: fields in struct order (unknown ones dropped by Go,
kept here after the known ones), maps sorted by key, two-space indent, ``<``, ``>``, ``&``,
U+2028 and U+2029 escaped, other non-ASCII written as is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_OBJECT_META = (
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields",
)  # fmt: skip
_MANAGED_FIELDS_ENTRY = (
    "manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1", "subresource",
)  # fmt: skip
_CONDITION = ("type", "status", "lastUpdateTime", "lastTransitionTime", "reason", "message")
# Field order of each Go struct; a "map" field is sorted, a struct field recurses.
_STRUCTS: dict[str, tuple[str, ...]] = {
    "SealedSecret": ("kind", "apiVersion", "metadata", "spec", "status"),
    "Secret": ("kind", "apiVersion", "metadata", "immutable", "data", "stringData", "type"),
    "SealedSecretSpec": ("template", "data", "encryptedData"),
    "SecretTemplateSpec": ("metadata", "type", "immutable", "data"),
    "ObjectMeta": _OBJECT_META,
    "OwnerReference": ("apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion"),
    "ManagedFieldsEntry": _MANAGED_FIELDS_ENTRY,
    "SealedSecretStatus": ("observedGeneration", "conditions"),
    "SealedSecretCondition": _CONDITION,
}
_FIELD_TYPES = {
    ("SealedSecret", "metadata"): "ObjectMeta",
    ("SealedSecret", "spec"): "SealedSecretSpec",
    ("SealedSecret", "status"): "SealedSecretStatus",
    ("Secret", "metadata"): "ObjectMeta",
    ("Secret", "data"): "map",
    ("Secret", "stringData"): "map",
    ("SealedSecretSpec", "template"): "SecretTemplateSpec",
    ("SealedSecretSpec", "encryptedData"): "map",
    ("SecretTemplateSpec", "metadata"): "ObjectMeta",
    ("SecretTemplateSpec", "data"): "map",
    ("ObjectMeta", "labels"): "map",
    ("ObjectMeta", "annotations"): "map",
    ("ObjectMeta", "ownerReferences"): "[]OwnerReference",
    ("ObjectMeta", "managedFields"): "[]ManagedFieldsEntry",
    ("SealedSecretStatus", "conditions"): "[]SealedSecretCondition",
}


def field_order(struct: str) -> tuple[str, ...]:
    """The fields of the Go struct ``struct`` in the order encoding/json writes them."""
    return _STRUCTS.get(struct, ())


def field_type(struct: str, name: str) -> str:
    """The type of field ``name`` of ``struct``: a struct name, ``map``, ``[]X`` or ``""``."""
    return _FIELD_TYPES.get((struct, name), "")


def go_ordered(obj: Any, struct: str) -> Any:
    """``obj`` with its keys in the order ``encoding/json`` writes the Go struct ``struct``;
    fields Go does not know keep their place after the known ones."""
    if struct == "map" and isinstance(obj, Mapping):
        return {k: obj[k] for k in sorted(obj)}
    if struct.startswith("[]") and isinstance(obj, list):
        return [go_ordered(item, struct[2:]) for item in obj]
    if struct not in _STRUCTS or not isinstance(obj, Mapping):
        return obj
    fields = _STRUCTS[struct]
    known = [f for f in fields if f in obj]
    rest = [k for k in obj if k not in fields]
    return {k: go_ordered(obj[k], _FIELD_TYPES.get((struct, k), "")) for k in known + rest}


_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028"}
_JSON_ESCAPES["\u2029"] = "\\u2029"
_JSON_ESCAPE = re.compile("[<>&\u2028\u2029]")


def dump_json(obj: Mapping[str, Any]) -> str:
    """One document as ``kubeseal --format json`` writes it: ``json.MarshalIndent`` + newline."""
    kind = obj.get("kind")
    ordered = go_ordered(obj, kind if isinstance(kind, str) else "")
    text = json.dumps(ordered, indent=2, ensure_ascii=False)
    # Characters are only ever inside strings in JSON text, so replacing them here is safe.
    return _JSON_ESCAPE.sub(lambda m: _JSON_ESCAPES[m.group(0)], text) + "\n"
