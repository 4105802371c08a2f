"""Sealed files as reviewable text: what ``sealer show`` prints, and what changed between two
versions of a file, item by item. Nothing is decrypted: a ciphertext is shown by its length and
a short digest, so ``git diff`` (through ``show`` as a textconv driver) names the items a change
touches instead of showing a wall of base64.
"""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sealer import crypto
from sealer.errors import SealerError
from sealer.scope import KEY_FINGERPRINT_ANNOTATION, Scope
from sealer.sealedsecret import KIND

DIGEST_CHARS = 12
_NO_KEY = f"unknown (no {KEY_FINGERPRINT_ANNOTATION} annotation)"


@dataclass(frozen=True)
class Item:
    """One sealed item: its name, the size of the value it holds (known from the ciphertext's
    length, as anyone reading the file can tell) and a digest of the ciphertext."""

    name: str
    size: int | None  # None: not a well-formed sealed value
    digest: str


@dataclass(frozen=True)
class View:
    """What a reviewer needs to know of one SealedSecret (or of another object: ``kind``)."""

    kind: str
    name: str
    namespace: str
    scope: str = ""
    key: str | None = None
    template: Mapping[str, Any] = field(default_factory=dict)
    items: tuple[Item, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name or "<unnamed>"

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "namespace": self.namespace,
                "scope": self.scope, "key": self.key, "template": dict(self.template),
                "items": [{"name": i.name, "size": i.size, "digest": i.digest}
                          for i in self.items]}  # fmt: skip


def view(obj: Mapping[str, Any]) -> View:
    """The view of one object of a file; never raises (a malformed field shows as such)."""
    meta = _map(obj.get("metadata"))
    kind = str(obj.get("kind") or "object")
    name, namespace = str(meta.get("name") or ""), str(meta.get("namespace") or "")
    if kind != KIND:
        return View(kind, name, namespace)
    annotations = _map(meta.get("annotations"))
    spec = _map(obj.get("spec"))
    key = annotations.get(KEY_FINGERPRINT_ANNOTATION)
    return View(
        kind, name, namespace,
        scope=Scope.from_annotations(annotations).value,
        key=key if isinstance(key, str) and key else None,
        template=_template(spec.get("template")),
        items=tuple(_item(str(k), v) for k, v in sorted(_map(spec.get("encryptedData")).items())),
    )  # fmt: skip


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _item(name: str, value: Any) -> Item:
    text = value if isinstance(value, str) else ""
    digest = hashlib.sha256(text.encode()).hexdigest()[:DIGEST_CHARS]
    try:
        size: int | None = crypto.plaintext_size(crypto.b64decode(text))
    except (SealerError, ValueError, binascii.Error):
        size = None
    return Item(name, size, digest)


def _template(template: Any) -> dict[str, Any]:
    if not isinstance(template, Mapping):
        return {}
    meta = _map(template.get("metadata"))
    result: dict[str, Any] = {"type": template.get("type") or "Opaque"}
    if template.get("immutable") is not None:
        result["immutable"] = template.get("immutable")
    for part in ("labels", "annotations"):
        values = _map(meta.get(part))
        if values:
            result[part] = {str(k): str(v) for k, v in sorted(values.items())}
    if isinstance(template.get("data"), Mapping) and template["data"]:
        result["data"] = sorted(str(k) for k in template["data"])  # template keys, not values
    return result


def render(views: Sequence[View]) -> str:
    """The text ``sealer show`` prints: one block per object, items sorted."""
    out: list[str] = []
    for v in views:
        if v.kind != KIND:
            out.append(f"{v.kind} {v.ref} (not sealed)")
            continue
        out.append(f"{KIND} {v.ref}")
        out.append(f"  scope: {v.scope}")
        out.append(f"  key: {v.key or _NO_KEY}")
        out.append(f"  type: {v.template.get('type', 'Opaque')}")
        if "immutable" in v.template:
            out.append(f"  immutable: {str(v.template['immutable']).lower()}")
        for part in ("labels", "annotations"):
            for key, value in (v.template.get(part) or {}).items():
                out.append(f"  {part[:-1]}: {key}={value}")
        for name in v.template.get("data") or ():
            out.append(f"  template data: {name}")
        width = max((len(i.name) for i in v.items), default=0)
        out.append(f"  items: {len(v.items)}")
        for i in v.items:
            size = f"{i.size} bytes" if i.size is not None else "malformed"
            out.append(f"    {i.name.ljust(width)}  {size:>12}  {i.digest}")
    return "".join(line + "\n" for line in out)


# --- comparing two versions -----------------------------------------------------------------

UNCHANGED, REENCRYPTED, ADDED, REMOVED = "unchanged", "re-encrypted", "added", "removed"


@dataclass(frozen=True)
class Change:
    """How one object differs between two versions: its status, the item statuses, and the
    metadata that changed (``scope``, ``key``, ``template``: before and after)."""

    kind: str
    ref: str
    status: str  # unchanged | changed | added | removed
    items: Mapping[str, str] = field(default_factory=dict)
    metadata: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)


def compare(old: Sequence[View], new: Sequence[View]) -> list[Change]:
    """Objects matched by kind, namespace and name; items by name."""
    before = {(v.kind, v.ref): v for v in old}
    after = {(v.kind, v.ref): v for v in new}
    changes = []
    for ident in [*before, *(k for k in after if k not in before)]:
        a, b = before.get(ident), after.get(ident)
        if a is None or b is None:
            status = ADDED if a is None else REMOVED
            changes.append(Change(ident[0], ident[1], status))
            continue
        old_items = {i.name: i.digest for i in a.items}
        new_items = {i.name: i.digest for i in b.items}
        items = {}
        for name in sorted(set(old_items) | set(new_items)):
            if name not in new_items:
                items[name] = REMOVED
            elif name not in old_items:
                items[name] = ADDED
            else:
                items[name] = UNCHANGED if old_items[name] == new_items[name] else REENCRYPTED
        metadata = {part: (getattr(a, part), getattr(b, part))
                    for part in ("scope", "key", "template")
                    if getattr(a, part) != getattr(b, part)}  # fmt: skip
        same = not metadata and all(s == UNCHANGED for s in items.values())
        changes.append(Change(ident[0], ident[1], UNCHANGED if same else "changed", items,
                              metadata))  # fmt: skip
    return changes


def render_changes(changes: Sequence[Change]) -> str:
    out = []
    for change in changes:
        if change.status in (ADDED, REMOVED, UNCHANGED) and not change.items:
            out.append(f"{change.kind} {change.ref}: {change.status}")
            continue
        out.append(f"{change.kind} {change.ref}: {change.status}")
        for part, (before, after) in change.metadata.items():
            if part == "template":
                out += [f"  template {line}" for line in _template_changes(before, after)]
            else:
                out.append(f"  {part}: {before or 'unknown'} -> {after or 'unknown'}")
        width = max((len(n) for n in change.items), default=0)
        for name, status in change.items.items():
            out.append(f"  {name.ljust(width)}  {status}")
    return "".join(line + "\n" for line in out)


def _template_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    lines = []
    for part in ("type", "immutable", "data"):
        if before.get(part) != after.get(part):
            lines.append(f"{part}: {before.get(part)} -> {after.get(part)}")
    for part in ("labels", "annotations"):
        old, new = before.get(part) or {}, after.get(part) or {}
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                lines.append(f"{part[:-1]} {key}: {old.get(key, '(none)')} -> "
                             f"{new.get(key, '(none)')}")  # fmt: skip
    return lines
