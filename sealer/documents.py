"""Reading and writing manifests: multi-document YAML or JSON in, kubeseal's YAML/JSON out.

Input is hostile until proven otherwise: duplicate keys, unhashable keys, YAML aliases (billion
laughs) and nesting too deep for the parser are refused, and every error names the source and
the document.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import Any

import yaml

from sealer import gojson, goyaml
from sealer.errors import ManifestError

# libyaml (C) when PyYAML has it: the pure-Python scanner takes ~0.5 ms per kB of base64.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_DEPTH = 100  # Kubernetes objects nest a dozen levels; managedFields a few more


class _StrictLoader(_Loader):  # type: ignore[misc]
    """Safe loading that refuses duplicate mapping keys (aliases: see :func:`_check_events`)."""

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                raise yaml.constructor.ConstructorError(
                    None, None, "found an unhashable key", key_node.start_mark
                )
            if (type(key), key) in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add((type(key), key))
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _StrictLoader.construct_mapping
)


def _as_text(loader: _StrictLoader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


# Go reads an unquoted date, or "=", as the string it is; so do we.
_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _as_text)
_StrictLoader.add_constructor("tag:yaml.org,2002:value", _as_text)


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
        except RecursionError:
            raise ManifestError("invalid JSON: nested too deeply", where=source) from None
    else:
        try:
            _check_events(text)
            docs = list(yaml.load_all(text, Loader=_StrictLoader))  # noqa: S506 - strict SafeLoader
        except yaml.YAMLError as exc:
            raise ManifestError(f"invalid YAML: {_yaml_reason(exc)}", where=source) from None
        except RecursionError:
            raise ManifestError("invalid YAML: nested too deeply", where=source) from None
    result: list[dict[str, Any]] = []
    for index, doc in enumerate(docs):
        if doc is None:
            continue
        doc = _json_shaped(doc, f"{source}: document {index}")
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


_SURROGATE = re.compile("[\ud800-\udfff]")
_KEY_NAMES = {True: "true", False: "false", None: "null"}


def _check_events(text: str) -> None:
    """Refuse aliases (a billion laughs expands in whatever walks the result) and deep nesting
    (the C composer recurses without Python's guard) before anything is built."""
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        mark: Any = event.start_mark
        if isinstance(event, yaml.AliasEvent):
            raise yaml.MarkedYAMLError(problem="YAML aliases are not accepted", problem_mark=mark)
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise yaml.MarkedYAMLError(problem="nested too deeply", problem_mark=mark)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _json_shaped(value: Any, where: str) -> Any:
    """What Go's YAML-to-JSON step leaves: string keys, JSON values only, valid Unicode."""
    if isinstance(value, dict):
        return {_key(k, where): _json_shaped(v, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_shaped(v, where) for v in value]
    if isinstance(value, str):
        if _SURROGATE.search(value):  # from a "\ud800" escape: no UTF-8 output can carry it
            raise ManifestError("holds an invalid Unicode escape", where=where)
        return value
    if value is None or isinstance(value, bool | int | float):
        return value
    raise ManifestError(
        f"holds a YAML {type(value).__name__}, which JSON cannot carry", where=where
    )


def _key(key: Any, where: str) -> str:
    if isinstance(key, bool) or key is None:
        return _KEY_NAMES[key]
    if isinstance(key, int | float | str):
        return str(_json_shaped(key, where))
    raise ManifestError("has a mapping key that is not a string", where=where)


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


def dump(objs: list[dict[str, Any]], fmt: str) -> str:
    """Objects as ``kubeseal -o yaml|json`` writes them (``---`` before each YAML document)."""
    if fmt == "json":
        return "".join(gojson.dump_json(o) for o in objs)
    return "".join(goyaml.dump_yaml(o) for o in objs)


def write_atomic(path: Path, text: str | bytes, mode: int | None = None) -> None:
    """Replace ``path`` in one step: readers see the old or the new file, never half of one.

    ``mode`` defaults to the replaced file's, else to what the umask gives a new file.
    """
    data = text.encode() if isinstance(text, str) else text
    if mode is None:
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            umask = os.umask(0o022)
            os.umask(umask)
            mode = 0o666 & ~umask
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
