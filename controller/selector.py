"""Kubernetes label selectors (``a=b,c!=d,e in (x,y),!f``): parsed once, passed to the API server
for server-side filtering, and matched locally as a second line of defence."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_SET_TERM = re.compile(r"^\s*(!?)\s*([^\s!=(),]+)\s*(?:(in|notin)\s*\(([^()]*)\))?\s*$")
_EQ_TERM = re.compile(r"^\s*([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)\s*$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!exists"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        return not present or value not in self.values  # "!=", "notin"


@dataclass(frozen=True)
class LabelSelector:
    text: str = ""
    requirements: tuple[Requirement, ...] = ()

    @classmethod
    def parse(cls, text: str) -> LabelSelector:
        text = text.strip()
        reqs = [_term(t) for t in _split(text)] if text else []
        return cls(text, tuple(reqs))

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        return all(r.matches(labels or {}) for r in self.requirements)

    def __bool__(self) -> bool:
        return bool(self.requirements)


def _split(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    terms, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _term(term: str) -> Requirement:
    if m := _EQ_TERM.match(term):
        op = "!=" if m.group(2) == "!=" else "="
        return Requirement(m.group(1), op, (m.group(3),))
    if m := _SET_TERM.match(term):
        negated, key, op, values = m.groups()
        if op:
            if negated:
                raise ValueError(f"invalid label selector term {term.strip()!r}")
            return Requirement(key, op, tuple(v.strip() for v in values.split(",") if v.strip()))
        return Requirement(key, "!exists" if negated else "exists")
    raise ValueError(f"invalid label selector term {term.strip()!r}")
