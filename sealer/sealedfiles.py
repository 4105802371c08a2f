"""The SealedSecrets kept in files: found in a tree, and rewritten in place.

:func:`scan` finds every SealedSecret under some paths (a Git work tree: Git's files; else a
walk, see :mod:`sealer.worktree`) in ``*.yaml``, ``*.yml`` and ``*.json`` files: several YAML
documents, JSON values one after the other, ``List`` items. Each is reported with its file, its
index among the file's objects (what :func:`sealer.documents.load` returns) and where it is.

:func:`rewrite` replaces ``spec.encryptedData`` values and sets annotations of some objects of a
file, surgically: every other byte (comments, key order, quoting, line endings, the other
documents and items) stays as it was, and the result is read back before it is returned.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sealer import documents, sourcemap, worktree
from sealer.errors import ManifestError
from sealer.scope import KEY_FINGERPRINT_ANNOTATION
from sealer.sealedsecret import KIND, describe
from sealer.textedits import Edit, Editor, apply
from sealer.worktree import Skipped

SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class SealedDocument:
    """One SealedSecret of a file.

    ``index`` counts the file's objects (documents, ``List`` items flattened) as
    :func:`sealer.documents.load` returns them; :func:`rewrite` takes it. ``document`` is the
    YAML document (or JSON value) it is in, ``item`` its index in that document's ``List``
    (None when the document is the object). ``line`` and ``column`` are 1-based; ``start`` and
    ``end`` are character offsets of its text.
    """

    path: Path
    index: int
    obj: dict[str, Any] = field(repr=False, compare=False)
    document: int = 0
    item: int | None = None
    line: int = 1
    column: int = 1
    start: int = 0
    end: int = 0
    format: str = "yaml"

    @property
    def name(self) -> str:
        return str((self.obj.get("metadata") or {}).get("name") or "")

    @property
    def namespace(self) -> str:
        return str((self.obj.get("metadata") or {}).get("namespace") or "")

    @property
    def fingerprint(self) -> str | None:
        """The key it says it is sealed to (``sealer.dev/key-fingerprint``), if it says."""
        annotations = (self.obj.get("metadata") or {}).get("annotations")
        value = (annotations or {}).get(KEY_FINGERPRINT_ANNOTATION)
        return value if isinstance(value, str) and value else None

    @property
    def where(self) -> str:
        """``path:line: SealedSecret ns/name``, for messages."""
        return f"{self.path}:{self.line}: {describe(self.obj)}"


@dataclass
class Scan:
    """What :func:`scan` found: the SealedSecrets, the files that mention SealedSecret but
    cannot be read as manifests (a Helm template, say), and the files not read at all."""

    files: int = 0
    sealed: list[SealedDocument] = field(default_factory=list)
    unreadable: list[Skipped] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def by_file(self) -> dict[Path, list[SealedDocument]]:
        grouped: dict[Path, list[SealedDocument]] = {}
        for found in self.sealed:
            grouped.setdefault(found.path, []).append(found)
        return grouped


def scan(paths: Iterable[Path]) -> Scan:
    """Every SealedSecret in the manifest files under ``paths``. A file named explicitly is
    read whatever its suffix."""
    result, roots = Scan(), list(paths)
    named = {p for p in roots if p.is_file()}
    for path in worktree.files(roots):
        if path not in named and not path.name.lower().endswith(SUFFIXES):
            continue
        result.files += 1
        text = worktree.read_text(path)
        if isinstance(text, Skipped):
            result.skipped.append(text)
            continue
        if KIND not in text:
            continue
        try:
            result.sealed.extend(in_text(text, path))
        except ManifestError as exc:
            result.unreadable.append(Skipped(path, str(exc)))
    return result


def in_text(text: str, path: Path) -> list[SealedDocument]:
    """The SealedSecrets of one file's text (ManifestError if it is not a manifest)."""
    objects = documents.load(text, str(path))
    if not any(obj.get("kind") == KIND for obj in objects):
        return []
    located = sourcemap.objects(text, str(path))
    if len(located) != len(objects):  # cannot happen for text documents.load accepted
        raise ManifestError("cannot locate its objects", where=str(path))
    fmt = "json" if sourcemap.is_json(text) else "yaml"
    return [
        SealedDocument(path, i, obj, loc.document, loc.item, loc.node.line + 1,
                       loc.node.column + 1, loc.node.start, loc.node.end, fmt)  # fmt: skip
        for i, (obj, loc) in enumerate(zip(objects, located, strict=True))
        if obj.get("kind") == KIND
    ]


@dataclass(frozen=True)
class Change:
    """What :func:`rewrite_objects` sets on one object: items and annotations."""

    items: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


def rewrite(
    text: str,
    document_index: int,
    new_items: Mapping[str, str],
    annotations: Mapping[str, str],
    *,
    source: str = "input",
) -> str:
    """``text`` with the ``spec.encryptedData`` values of object ``document_index`` (as
    :attr:`SealedDocument.index` counts) replaced or added, and ``annotations`` set on its
    ``metadata``; nothing else changes. ManifestError when that cannot be done safely."""
    return rewrite_objects(text, {document_index: Change(new_items, annotations)}, source=source)


def rewrite_objects(text: str, changes: Mapping[int, Change], *, source: str = "input") -> str:
    """:func:`rewrite` for several objects of one file at once."""
    objects = documents.load(text, source)
    located = sourcemap.objects(text, source)
    if len(located) != len(objects):
        raise ManifestError("cannot locate its objects", where=source)
    js = sourcemap.is_json(text)
    expected = copy.deepcopy(objects)
    edits: list[Edit] = []
    for index, change in changes.items():
        if not 0 <= index < len(objects):
            raise ManifestError(f"has no object {index}", where=source)
        editor = Editor(text, js, f"{source}: {describe(objects[index])}")
        node = located[index].node
        if change.items:
            edits += editor.put(node, ("spec", "encryptedData"), change.items)
        if change.annotations:
            edits += editor.put(node, ("metadata", "annotations"), change.annotations)
        _expect(expected[index], change)
    result = apply(text, edits)
    try:
        correct = documents.load(result, source) == expected
    except ManifestError:
        correct = False
    if not correct:  # never hand back a wrong edit
        raise ManifestError("cannot be rewritten in place safely; left unchanged", where=source)
    return result


def _expect(obj: dict[str, Any], change: Change) -> None:
    for section, key, values in (("spec", "encryptedData", change.items),
                                 ("metadata", "annotations", change.annotations)):  # fmt: skip
        if values:
            parent = obj.get(section)
            if not isinstance(parent, dict):
                parent = obj[section] = {}
            parent[key] = {**(parent.get(key) or {}), **values}
