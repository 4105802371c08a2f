"""Reading and writing manifests: multi-document YAML or JSON in, kubeseal-style YAML/JSON out.

Input is hostile until proven otherwise: duplicate keys and YAML aliases (billion laughs) are
refused, and every error names the source and the document.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from sealer.errors import ManifestError


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases and duplicate mapping keys."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.constructor.ConstructorError(
                None, None, "YAML aliases are not accepted", event.start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _StrictLoader.construct_mapping
)


def load(text: str | bytes, source: str = "input") -> list[dict[str, Any]]:
    """Every object in ``text`` (JSON, or YAML with several documents); ``List`` items flattened."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ManifestError("is not UTF-8 text", where=source) from None
    stripped = text.lstrip()
    docs: list[Any]
    if stripped.startswith(("{", "[")):
        try:
            docs = list(_json_values(stripped))
        except ValueError as exc:
            raise ManifestError(f"invalid JSON: {exc}", where=source) from None
    else:
        try:
            docs = list(yaml.load_all(text, Loader=_StrictLoader))  # noqa: S506 - strict SafeLoader
        except yaml.YAMLError as exc:
            raise ManifestError(f"invalid YAML: {_yaml_reason(exc)}", where=source) from None
    result: list[dict[str, Any]] = []
    for index, doc in enumerate(docs):
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise ManifestError("is not a Kubernetes object", where=f"{source}: document {index}")
        if doc.get("kind") == "List" or str(doc.get("kind", "")).endswith("List"):
            items = doc.get("items") or []
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise ManifestError("items must be objects", where=f"{source}: document {index}")
            result.extend(items)
        else:
            result.append(doc)
    return result


def _json_values(text: str) -> Iterator[Any]:
    decoder = json.JSONDecoder(object_pairs_hook=_no_duplicates)
    pos = 0
    while pos < len(text):
        value, pos = decoder.raw_decode(text, pos)
        yield value
        while pos < len(text) and text[pos].isspace():
            pos += 1


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _yaml_reason(exc: yaml.YAMLError) -> str:
    # The problem and its position only: the default message quotes the offending input line.
    problem = getattr(exc, "problem", None) or "cannot parse"
    mark = getattr(exc, "problem_mark", None)
    return f"{problem} at line {mark.line + 1}" if mark is not None else str(problem)


class _KubeDumper(yaml.SafeDumper):
    """Go's YAML style: sorted keys, double quotes where quoting is needed, no line folding."""

    def choose_scalar_style(self) -> Any:
        style = super().choose_scalar_style()
        return '"' if style == "'" else style


def dump_yaml(obj: Mapping[str, Any]) -> str:
    """One document as ``kubeseal --format yaml`` writes it, ``---`` first."""
    body = yaml.dump(
        dict(obj), Dumper=_KubeDumper, sort_keys=True, default_flow_style=False, width=2**31 - 1
    )
    return "---\n" + body


def dump_json(obj: Mapping[str, Any]) -> str:
    """One document as ``kubeseal --format json`` writes it (indented, one trailing newline)."""
    return json.dumps(obj, indent=2) + "\n"


def dump(objs: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "json":
        return "".join(dump_json(o) for o in objs)
    return "".join(dump_yaml(o) for o in objs)


def write_atomic(path: Path, text: str | bytes, mode: int = 0o644) -> None:
    """Replace ``path`` in one step: readers see the old or the new file, never half of one."""
    data = text.encode() if isinstance(text, str) else text
    fd, tmp = tempfile.mkstemp(dir=path.parent or Path("."), prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
