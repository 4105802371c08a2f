"""Where each value of a manifest is in its text: a tree of spans (character offsets) for YAML
(from the composer's marks) and JSON (a small scanner), so edits can be made on the text itself.

Only text that :func:`sealer.documents.load` accepted is mapped; :func:`objects` returns the
nodes of the objects that ``load`` returns, in the same order (``List`` items flattened).
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from sealer.errors import ManifestError

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # marks count characters in both
MAX_DEPTH = 100
_NULL = "tag:yaml.org,2002:null"


@dataclass
class Node:
    """A mapping (``pairs``), a sequence (``items``) or a scalar (``text`` is its value for
    string scalars; ``null`` when it is a null). ``style`` of a scalar: ``""`` plain, ``"'"``,
    ``'"'``, ``"|"`` or ``">"``; ``flow`` for ``{}``/``[]`` collections (every one in JSON)."""

    kind: str  # "map" | "seq" | "scalar"
    start: int
    end: int
    line: int  # 0-based, as the composer's marks
    column: int
    flow: bool = False
    style: str = ""
    text: str | None = None
    null: bool = False
    pairs: list[tuple[Node, Node]] = field(default_factory=list)
    items: list[Node] = field(default_factory=list)

    def get(self, key: str) -> Node | None:
        for k, v in self.pairs:
            if k.text == key:
                return v
        return None

    def key_node(self, key: str) -> Node | None:
        return next((k for k, _ in self.pairs if k.text == key), None)


@dataclass(frozen=True)
class Located:
    """One object of a file: its node, the document (or JSON value) it is in, and its index
    among that ``List``'s items (None when the document is the object)."""

    node: Node
    document: int
    item: int | None


def is_json(text: str) -> bool:
    """As :func:`sealer.documents.load` decides."""
    return text.lstrip().startswith(("{", "["))


def objects(text: str, source: str = "input") -> list[Located]:
    """The nodes of the objects ``documents.load(text)`` returns, in its order."""
    roots = _json_roots(text, source) if is_json(text) else _yaml_roots(text, source)
    result = []
    for number, root in enumerate(roots):
        if root.kind == "scalar" and root.null:
            continue
        kind = root.get("kind") if root.kind == "map" else None
        kind_text = kind.text if kind is not None and kind.text is not None else ""
        if kind_text.endswith("List"):
            items = root.get("items")
            for i, node in enumerate(items.items if items is not None else []):
                result.append(Located(node, number, i))
        else:
            result.append(Located(root, number, None))
    return result


# --- YAML ---------------------------------------------------------------------------------


def _yaml_roots(text: str, source: str) -> list[Node]:
    try:
        return [_from_yaml(n, 0) for n in yaml.compose_all(text, Loader=_Loader)]
    except (yaml.YAMLError, RecursionError):
        raise ManifestError("cannot be mapped for editing", where=source) from None


def _from_yaml(node: yaml.Node, depth: int) -> Node:
    if depth > MAX_DEPTH:
        raise RecursionError
    mark = node.start_mark
    result = Node("scalar", mark.index, node.end_mark.index, mark.line, mark.column)
    if isinstance(node, yaml.MappingNode):
        result.kind, result.flow = "map", bool(node.flow_style)
        result.pairs = [(_from_yaml(k, depth + 1), _from_yaml(v, depth + 1)) for k, v in node.value]
    elif isinstance(node, yaml.SequenceNode):
        result.kind, result.flow = "seq", bool(node.flow_style)
        result.items = [_from_yaml(v, depth + 1) for v in node.value]
    else:
        style = getattr(node, "style", None) or ""  # libyaml's plain is "", PyYAML's None
        result.style = style
        result.null = node.tag == _NULL and not style
        result.text = None if result.null else str(node.value)
    return result


# --- JSON ---------------------------------------------------------------------------------

_WS = re.compile(r"[ \t\r\n]*")
_STRING = re.compile(r'"(?:[^"\\\x00-\x1f]|\\.)*"', re.S)
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_LITERAL = re.compile(r"true|false|null")


class _JSONScanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.newlines = [m.start() for m in re.finditer("\n", text)]

    def node(self, kind: str, start: int, end: int) -> Node:
        line = bisect.bisect_left(self.newlines, start)
        column = start - (self.newlines[line - 1] + 1 if line else 0)
        return Node(kind, start, end, line, column, flow=kind != "scalar")

    def skip(self, pos: int) -> int:
        return _WS.match(self.text, pos).end()  # type: ignore[union-attr]  # always matches

    def value(self, pos: int, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise ValueError("nested too deeply")
        text = self.text
        char = text[pos : pos + 1]
        if char == "{":
            return self.container(pos, depth, "}", "map")
        if char == "[":
            return self.container(pos, depth, "]", "seq")
        for pattern, style in ((_STRING, '"'), (_NUMBER, ""), (_LITERAL, "")):
            match = pattern.match(text, pos)
            if match:
                node = self.node("scalar", pos, match.end())
                node.style = style
                literal = match.group(0)
                if style:
                    node.text = json.loads(literal)
                node.null = literal == "null"
                return node
        raise ValueError(f"unexpected input at offset {pos}")

    def container(self, start: int, depth: int, close: str, kind: str) -> Node:
        text, pos = self.text, self.skip(start + 1)
        node = self.node(kind, start, start)
        while text[pos : pos + 1] != close:
            if node.pairs or node.items:
                if text[pos : pos + 1] != ",":
                    raise ValueError(f"expected ',' at offset {pos}")
                pos = self.skip(pos + 1)
            if kind == "map":
                key = self.value(pos, depth + 1)
                pos = self.skip(key.end)
                if key.style != '"' or text[pos : pos + 1] != ":":
                    raise ValueError(f"expected a key at offset {key.start}")
                value = self.value(self.skip(pos + 1), depth + 1)
                node.pairs.append((key, value))
            else:
                value = self.value(pos, depth + 1)
                node.items.append(value)
            pos = self.skip(value.end)
        node.end = pos + 1
        return node


def _json_roots(text: str, source: str) -> list[Node]:
    scanner = _JSONScanner(text)
    pos, roots = 0, list[Node]()
    try:
        while True:
            while pos < len(text) and text[pos].isspace():  # documents.load's rule between values
                pos += 1
            if pos >= len(text):
                return roots
            roots.append(scanner.value(pos, 0))
            pos = roots[-1].end
    except (ValueError, IndexError):
        raise ManifestError("cannot be mapped for editing", where=source) from None
