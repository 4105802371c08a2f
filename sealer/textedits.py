"""Edits made on a manifest's text at the spans of :mod:`sealer.sourcemap`: string values set
(replaced where they are, or inserted), and nothing else touched.

A replaced value keeps its quoting (plain, single, double, block) when the new value can be
written that way; an inserted key goes where go-yaml's order puts it when the mapping is in that
order (kubeseal writes them so), else last; new lines take the file's indentation, separators and
line ending. JSON strings are written as Go's ``encoding/json`` writes them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeAlias

import yaml

from sealer.errors import ManifestError
from sealer.gojson import field_order, field_type
from sealer.goyaml import go_key_less, go_keys
from sealer.sourcemap import Node

Value: TypeAlias = "str | Tree"
Tree: TypeAlias = "Mapping[str, Value]"

_PLAIN = re.compile(r"[A-Za-z0-9+/_.](?:[A-Za-z0-9+/=:._-]*[A-Za-z0-9+/=._-])?")
_NON_PRINTABLE = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_BREAKS = re.compile("[\r\n\x85\u2028\u2029]")
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
               "\u2029": "\\u2029"}  # fmt: skip


@dataclass(frozen=True)
class Edit:
    start: int
    end: int
    text: str


def apply(text: str, edits: list[Edit]) -> str:
    """Non-overlapping edits made at once; insertions at one offset keep their order."""
    ordered = sorted(enumerate(edits), key=lambda e: (e[1].start, e[1].end, e[0]))
    parts, pos = [], 0
    for _, edit in ordered:
        if edit.start < pos:
            raise ManifestError("cannot be edited: two changes overlap")
        parts += [text[pos : edit.start], edit.text]
        pos = edit.end
    return "".join([*parts, text[pos:]])


def json_string(value: str) -> str:
    """A JSON string as Go's encoding/json writes it."""
    return re.sub("[<>&\u2028\u2029]", lambda m: _GO_ESCAPES[m.group(0)],
                  json.dumps(value, ensure_ascii=False))  # fmt: skip


def double_quoted(value: str) -> str:
    """A YAML double-quoted scalar (JSON's escapes, plus what YAML cannot carry unescaped)."""
    text = json.dumps(value, ensure_ascii=False)
    return _NON_PRINTABLE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text).replace(
        "\u2028", "\\u2028").replace("\u2029", "\\u2029").replace("\x85", "\\u0085")  # fmt: skip


_ANALYSER = yaml.emitter.Emitter.__new__(yaml.emitter.Emitter)  # analyze_scalar keeps no state
_ANALYSER.allow_unicode = True
_RESOLVER = yaml.resolver.Resolver()


def plain_ok(value: str, flow: bool = True) -> bool:
    """Whether ``value`` can be written plain (in a flow collection, or only in a block) and
    read back as this very string."""
    if _PLAIN.fullmatch(value) is None:
        if not value or value != value.strip() or "#" in value:
            return False
        analysis = _ANALYSER.analyze_scalar(value)
        if analysis.multiline or not (analysis.allow_flow_plain if flow else
                                      analysis.allow_block_plain):  # fmt: skip
            return False
    tag = _RESOLVER.resolve(yaml.ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
    return bool(tag == _RESOLVER.DEFAULT_SCALAR_TAG)


class Editor:
    """Edits of one object's text; ``where`` names it in errors."""

    def __init__(self, text: str, js: bool, where: str) -> None:
        self.text, self.js, self.where = text, js, where
        self.nl = "\r\n" if "\r\n" in text else "\n"
        self.step = 0  # the indentation one level adds, once seen in the file

    def put(
        self,
        mapping: Node,
        path: tuple[str, ...],
        values: Mapping[str, str],
        struct: str = "SealedSecret",
    ) -> list[Edit]:
        """Set ``values`` in the mapping at ``path`` under ``mapping``, making what is missing.
        ``struct`` is the Go type of ``mapping`` (where JSON puts a new field depends on it)."""
        if mapping.kind != "map":
            raise self._error("is not a mapping")
        if path:
            child = mapping.get(path[0])
            nested: Tree = values
            for key in reversed(path[1:]):
                nested = {key: nested}
            if child is None:
                return self._insert(mapping, {path[0]: nested}, struct)
            if child.kind == "scalar" and child.null:
                return [self._replace_null(child, nested)]
            if child.kind != "map":
                raise self._error(f"{path[0]} is not a mapping")
            if not mapping.flow and not child.flow and mapping.pairs and child.pairs:
                self.step = self.step or child.pairs[0][0].column - mapping.pairs[0][0].column
            return self.put(child, path[1:], values, field_type(struct, path[0]))
        edits, new = [], {}
        for key, value in values.items():
            node = mapping.get(key)
            if node is None:
                new[key] = value
            elif node.kind == "scalar" and node.text is not None:
                if node.text != value:  # an unchanged value keeps its bytes, whatever they are
                    edits.append(self._replace(node, value, mapping.flow))
            else:
                raise self._error(f"{key} is not a string")
        return edits + (self._insert(mapping, new, struct) if new else [])

    def _error(self, what: str) -> ManifestError:
        return ManifestError(f"cannot be edited in place: {what}", where=self.where)

    # --- scalars

    def _replace(self, node: Node, value: str, flow: bool) -> Edit:
        if self.js:
            return Edit(node.start, node.end, json_string(value))
        if node.style in ("|", ">"):
            return self._replace_block(node, value)
        return Edit(node.start, node.end, self._scalar(value, node.style, flow))

    def _scalar(self, value: str, style: str, flow: bool = False) -> str:
        if style == "'" and not _NON_PRINTABLE.search(value) and not _BREAKS.search(value):
            return "'" + value.replace("'", "''") + "'"
        if style == "" and plain_ok(value, flow):
            return value
        return double_quoted(value)

    def _replace_block(self, node: Node, value: str) -> Edit:
        span = self.text[node.start : node.end]
        lines = span.split("\n")
        content = [i for i, line in enumerate(lines[1:], 1) if line.strip(" \r")]
        last = content[-1] if content else 0
        # up to the end of the last line of content; its line break and blank lines stay
        end = node.start + sum(len(line) + 1 for line in lines[:last])
        end += len(lines[last].rstrip("\r"))
        if not content or not plain_ok(value, flow=False):
            return Edit(node.start, end, double_quoted(value))
        indent = len(lines[content[0]]) - len(lines[content[0]].lstrip(" "))
        return Edit(node.start, end, f"{node.style}-{self.nl}{' ' * indent}{value}")

    def _replace_null(self, node: Node, value: Tree) -> Edit:
        pad = "" if node.start < node.end or self.text[node.start - 1] in " \t" else " "
        return Edit(node.start, node.end, pad + self._flow(value, None))

    # --- insertion

    def _insert(self, mapping: Node, entries: Tree, struct: str) -> list[Edit]:
        keys = [k.text or "" for k, _ in mapping.pairs]
        at: dict[int, list[str]] = {}
        for key in self._order(list(entries), struct):
            at.setdefault(self._position(keys, key, struct), []).append(key)
        edits = []
        for index, group in sorted(at.items()):
            chunk = {k: entries[k] for k in group}
            if mapping.flow or self.js:
                edits.append(self._insert_flow(mapping, index, chunk))
            else:
                edits.append(self._insert_block(mapping, index, chunk))
        return edits

    def _order(self, keys: list[str], struct: str) -> list[str]:
        if not self.js:
            return go_keys(keys)  # go-yaml sorts every mapping
        fields = field_order(struct)
        return sorted(keys, key=lambda k: (fields.index(k) if k in fields else len(fields), k))

    def _position(self, keys: list[str], key: str, struct: str) -> int:
        """Where kubeseal would have put ``key``, if the mapping is in kubeseal's order; else
        after the last key."""
        if not keys or self._order(list(keys), struct) != keys:
            return len(keys)
        if not self.js:
            return sum(go_key_less(k, key) for k in keys)
        if struct != "map" and not field_order(struct):
            return len(keys)
        return sum(self._order([k, key], struct)[0] == k for k in keys)

    def _insert_block(self, mapping: Node, index: int, entries: Tree) -> Edit:
        column = mapping.pairs[0][0].column
        step = self._step(mapping)
        quoted = self._sibling_style(mapping)
        lines = [self._block_entry(k, v, column, step, quoted) for k, v in entries.items()]
        if index < len(mapping.pairs):
            pos = mapping.pairs[index][0].start
            return Edit(pos, pos, "".join(f"{line}{self.nl}{' ' * column}" for line in lines))
        pos = _end_of_line(self.text, _last_leaf(mapping).end)
        new = "".join(f"{' ' * column}{line}{self.nl}" for line in lines)
        if pos > 0 and self.text[pos - 1] != "\n":  # the end of a file with no last line break
            new = self.nl + new[: -len(self.nl)]
        return Edit(pos, pos, new)

    def _block_entry(self, key: str, value: Value, column: int, step: int, quoted: str) -> str:
        if isinstance(value, str):
            return f"{self._scalar(key, '')}: {self._scalar(value, quoted)}"
        inner = " " * (column + step)
        body = "".join(
            f"{self.nl}{inner}{self._block_entry(k, v, column + step, step, quoted)}"
            for k, v in value.items()
        )
        return f"{self._scalar(key, '')}:{body}"

    def _sibling_style(self, mapping: Node) -> str:
        styles = [v.style for _, v in mapping.pairs if v.kind == "scalar" and v.text is not None]
        return styles[-1] if styles and styles[-1] in ("'", '"') else ""

    def _step(self, mapping: Node) -> int:
        """The indentation one level adds in this file (2 when it cannot tell)."""
        if self.step > 0:
            return self.step
        for _, value in mapping.pairs:
            if value.kind == "map" and value.pairs and not value.flow:
                inner = value.pairs[0][0].column - mapping.pairs[0][0].column
                if inner > 0:
                    return inner
        return 2

    def _insert_flow(self, mapping: Node, index: int, entries: Tree) -> Edit:
        text, pairs = self.text, mapping.pairs
        if not pairs:
            inside = ", ".join(self._flow_pair(k, v, None) for k, v in entries.items())
            return Edit(mapping.start + 1, mapping.end - 1, inside)
        first_key, first_value = pairs[0]
        colon = text[first_key.end : first_value.start]
        if len(pairs) > 1:
            sep = text[first_value.end : pairs[1][0].start]
        else:
            lead = text[mapping.start + 1 : first_key.start]
            sep = "," + lead if "\n" in lead else ("," if colon == ":" else ", ")
        if sep.strip(" \t\r\n") != ",":  # a comment in between: not copied
            sep = "," + (self.nl + sep.rsplit("\n", 1)[1] if "\n" in sep else " ")
        multiline = self._indent_of(mapping, first_key) if "\n" in sep else None
        new = [self._flow_pair(k, v, multiline, colon) for k, v in entries.items()]
        if index < len(pairs):
            pos = pairs[index][0].start
            return Edit(pos, pos, "".join(n + sep for n in new))
        pos = pairs[-1][1].end
        return Edit(pos, pos, "".join(sep + n for n in new))

    def _indent_of(self, mapping: Node, first_key: Node) -> tuple[int, int]:
        line_start = self.text.rfind("\n", 0, mapping.start) + 1
        line = self.text[line_start : mapping.start]
        outer = len(line) - len(line.lstrip(" "))
        step = first_key.column - outer
        return first_key.column, step if step > 0 else 2

    def _flow_pair(self, key: str, value: Value, multiline: tuple[int, int] | None,
                   colon: str = ": ") -> str:  # fmt: skip
        return f"{self._flow_scalar(key)}{colon}{self._flow(value, multiline, colon)}"

    def _flow(self, value: Value, multiline: tuple[int, int] | None, colon: str = ": ") -> str:
        if isinstance(value, str):
            return self._flow_scalar(value)
        if multiline is None:
            pairs = (self._flow_pair(k, v, None, colon) for k, v in value.items())
            return "{" + ", ".join(pairs) + "}"
        column, step = multiline
        inner = self.nl + " " * (column + step)
        entries = ("," + inner).join(
            self._flow_pair(k, v, (column + step, step), colon) for k, v in value.items()
        )
        return "{" + inner + entries + self.nl + " " * column + "}"

    def _flow_scalar(self, value: str) -> str:
        if self.js:
            return json_string(value)
        return value if plain_ok(value) else double_quoted(value)


def _last_leaf(node: Node) -> Node:
    """The last node written in a block collection: its end is where the collection's text
    ends (the collection's own end runs on over the comments and blank lines after it)."""
    while node.kind != "scalar" and not node.flow and (node.pairs or node.items):
        node = node.pairs[-1][1] if node.kind == "map" else node.items[-1]
    return node


def _end_of_line(text: str, pos: int) -> int:
    if pos > 0 and text[pos - 1] == "\n":
        return pos
    newline = text.find("\n", pos)
    return len(text) if newline < 0 else newline + 1
