"""Label selectors, field selectors and the JSONPath subset used by CRD printer columns.

Pure functions over plain JSON dicts; no I/O. Errors are ``ValueError`` (the emulator answers 400).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]
Matcher = Callable[[Obj], bool]

_SET_RE = re.compile(r"^(?P<key>[^\s!=<>(),]+)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")
_CMP_RE = re.compile(r"^(?P<key>[^\s!=<>(),]+)\s*(?P<op>==|!=|=|>|<)\s*(?P<value>[^\s!=<>(),]*)$")
_KEY_RE = re.compile(r"^(?P<neg>!?)\s*(?P<key>[^\s!=<>(),]+)$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # exists, !exists, =, !=, in, notin, gt, lt
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op == "=":
            return present and value == self.values[0]
        if self.op == "!=":
            return not present or value != self.values[0]
        if self.op == "in":
            return present and value in self.values
        if self.op == "notin":
            return not present or value not in self.values
        if not present or value is None:
            return False
        try:
            number, bound = int(value), int(self.values[0])
        except ValueError:
            return False
        return number > bound if self.op == "gt" else number < bound


def _split_terms(selector: str) -> Iterator[str]:
    depth, start = 0, 0
    for index, char in enumerate(selector):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced parentheses in selector {selector!r}")
        elif char == "," and depth == 0:
            yield selector[start:index]
            start = index + 1
    if depth:
        raise ValueError(f"unbalanced parentheses in selector {selector!r}")
    yield selector[start:]


def parse_label_selector(selector: str) -> list[Requirement]:
    """Parse ``a=b,c!=d,e in (f,g),h notin (i),j,!k,n>3`` into requirements (ANDed)."""
    requirements: list[Requirement] = []
    for raw in _split_terms(selector or ""):
        term = raw.strip()
        if not term:
            continue
        if m := _SET_RE.match(term):
            values = tuple(v.strip() for v in m["values"].split(",") if v.strip())
            requirements.append(Requirement(m["key"], m["op"], values))
        elif m := _CMP_RE.match(term):
            op = {"==": "=", "=": "=", "!=": "!=", ">": "gt", "<": "lt"}[m["op"]]
            requirements.append(Requirement(m["key"], op, (m["value"],)))
        elif m := _KEY_RE.match(term):
            requirements.append(Requirement(m["key"], "!exists" if m["neg"] else "exists"))
        else:
            raise ValueError(f"unable to parse requirement: {term!r}")
    return requirements


def field_value(obj: Obj, path: str) -> str:
    """The string form of a dotted field path, '' when absent (as the API server compares)."""
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return ""
        node = node[part]
    if isinstance(node, bool):
        return "true" if node else "false"
    return "" if node is None else str(node)


def parse_field_selector(selector: str) -> list[tuple[str, str, str]]:
    """Parse ``metadata.name=x,metadata.namespace!=y`` into (path, op, value) triples."""
    terms: list[tuple[str, str, str]] = []
    for raw in (selector or "").split(","):
        term = raw.strip()
        if not term:
            continue
        m = re.match(r"^([A-Za-z0-9_.\-]+)\s*(==|!=|=)\s*(.*)$", term)
        if not m:
            raise ValueError(f"invalid field selector: {term!r}")
        terms.append((m[1], "!=" if m[2] == "!=" else "=", m[3].strip()))
    return terms


def make_matcher(
    namespace: str | None = None,
    label_selector: str | None = None,
    field_selector: str | None = None,
    name: str | None = None,
) -> Matcher:
    """One predicate for namespace + name + label selector + field selector."""
    requirements = parse_label_selector(label_selector or "")
    fields = parse_field_selector(field_selector or "")

    def matches(obj: Obj) -> bool:
        meta = obj.get("metadata") or {}
        if namespace is not None and meta.get("namespace") != namespace:
            return False
        if name is not None and meta.get("name") != name:
            return False
        labels = meta.get("labels") or {}
        if not all(req.matches(labels) for req in requirements):
            return False
        return all((field_value(obj, path) == value) == (op == "=") for path, op, value in fields)

    return matches


# --- JSONPath subset (as used by additionalPrinterColumns) -------------------------------------

_JSONPATH_TOKEN = re.compile(
    r"""\.(?P<name>[A-Za-z0-9_\-]+)"""
    r"""|\[(?P<index>-?\d+)\]"""
    r"""|\[\*\]"""
    r"""|\[\?\(@\.(?P<fpath>[A-Za-z0-9_.\-]+)\s*==\s*(?P<q>["'])(?P<fvalue>.*?)(?P=q)\)\]"""
)


def jsonpath(obj: Any, expression: str) -> list[Any]:
    """Evaluate ``.a.b``, ``.a[0]``, ``.a[*].b``, ``.a[?(@.type=="X")].b``: all results."""
    expr = expression.strip()
    if expr.startswith("{") and expr.endswith("}"):
        expr = expr[1:-1]
    expr = expr.removeprefix("$")
    nodes: list[Any] = [obj]
    pos = 0
    while pos < len(expr):
        m = _JSONPATH_TOKEN.match(expr, pos)
        if not m:
            raise ValueError(f"unsupported JSONPath {expression!r} at {expr[pos:]!r}")
        pos = m.end()
        following: list[Any] = []
        for node in nodes:
            if m["name"] is not None:
                if isinstance(node, dict) and m["name"] in node:
                    following.append(node[m["name"]])
            elif m["index"] is not None:
                index = int(m["index"])
                if isinstance(node, list) and -len(node) <= index < len(node):
                    following.append(node[index])
            elif m["fpath"] is not None:
                if isinstance(node, list):
                    following.extend(
                        item for item in node
                        if isinstance(item, dict) and field_value(item, m["fpath"]) == m["fvalue"]
                    )
            elif isinstance(node, list):
                following.extend(node)
            elif isinstance(node, dict):
                following.extend(node.values())
        nodes = following
    return nodes
