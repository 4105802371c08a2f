"""Server-side printing: ``meta.k8s.io/v1`` Tables, as ``kubectl get`` asks for them.

Custom resources get their CRD's ``additionalPrinterColumns`` (JSONPath subset); a few core
resources get their usual columns; everything else gets Name and Age.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from tests.support.kubeapi_catalog import ResourceType
from tests.support.kubeapi_query import jsonpath

Obj = dict[str, Any]
Column = tuple[str, str, Callable[[Obj], Any]]  # name, type, cell


def accepts_table(accept: str) -> bool:
    return "as=Table" in accept.replace(" ", "")


def age(timestamp: str | None) -> str:
    """kubectl's short human duration: 42s, 5m, 3h, 2d."""
    if not timestamp:
        return "<unknown>"
    try:
        then = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "<invalid>"
    seconds = max(0, int((datetime.datetime.now(datetime.UTC) - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * (2 if unit != "d" else 1):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _meta(obj: Obj, key: str) -> Any:
    return (obj.get("metadata") or {}).get(key)


def _first(obj: Obj, path: str, kind: str) -> Any:
    try:
        found = jsonpath(obj, path)
    except ValueError:
        return None
    if not found:
        return None
    value = found[0]
    if kind == "date":
        return age(value) if isinstance(value, str) else None
    if isinstance(value, dict | list):
        return str(value)
    return value


_AGE: Column = ("Age", "string", lambda o: age(_meta(o, "creationTimestamp")))
_BUILTIN: dict[tuple[str, str], list[Column]] = {
    ("", "secrets"): [
        ("Type", "string", lambda o: o.get("type", "Opaque")),
        ("Data", "integer", lambda o: len(o.get("data") or {})),
    ],
    ("", "configmaps"): [
        ("Data", "integer", lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {})),
    ],
    ("", "namespaces"): [
        ("Status", "string", lambda o: (o.get("status") or {}).get("phase", "")),
    ],
}


def columns(rt: ResourceType) -> list[Column]:
    cols: list[Column] = [("Name", "string", lambda o: _meta(o, "name"))]
    if rt.printer_columns:
        for spec in rt.printer_columns:
            path, kind = spec.get("jsonPath", ""), spec.get("type", "string")

            def cell(obj: Obj, path: str = path, kind: str = kind) -> Any:
                return _first(obj, path, kind)

            cols.append((spec["name"], "string" if kind == "date" else kind, cell))
        return cols
    return cols + _BUILTIN.get((rt.group, rt.plural), []) + [_AGE]


def _row(obj: Obj, cols: list[Column], include: str) -> Obj:
    row: Obj = {"cells": [cell(obj) for _, _, cell in cols]}
    if include == "Object":
        row["object"] = obj
    elif include == "Metadata":
        row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                         "metadata": obj.get("metadata") or {}}
    return row


def table(rt: ResourceType, items: list[Obj], metadata: Obj, include: str = "Metadata",
          headers: bool = True) -> Obj:
    cols = columns(rt)
    result: Obj = {
        "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata,
        "rows": [_row(obj, cols, include) for obj in items],
    }
    result["columnDefinitions"] = [
        {"name": name, "type": kind, "format": "name" if name == "Name" else "",
         "description": name, "priority": 0}
        for name, kind, _ in cols
    ] if headers else []
    return result
