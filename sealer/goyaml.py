"""Manifests as YAML, byte for byte as kubeseal writes them.

kubeseal's YAML is its JSON re-read and written by go-yaml v2 (sigs.k8s.io/yaml), which sorts
every mapping with its own "natural" order, quotes a string only when it would read back as
something else, and folds long lines at 80 columns. PyYAML's emitter is, like go-yaml's,
a port of libyaml, so this module only replaces what differs: the resolver that decides quoting,
the key order, the double-quoted writer and a few emitter details.
"""

from __future__ import annotations

import calendar
import itertools
import math
import re
from collections.abc import Mapping
from typing import Any

import yaml
from yaml.nodes import ScalarNode

# --- go-yaml v2's map key order (sorter.go) ------------------------------------------------

_INT64 = 1 << 64


def _wrap(n: int) -> int:
    """Go int64 arithmetic: digit runs longer than 18 digits overflow as they do there."""
    n %= _INT64
    return n - _INT64 if n >= 1 << 63 else n


def _is_digit(ch: str) -> bool:
    return ch.isdecimal()  # Unicode category Nd, as Go's unicode.IsDigit


def go_key_less(a: str, b: str) -> bool:
    """``keyList.Less`` of go-yaml v2.4 for two string keys."""
    for i in range(min(len(a), len(b))):
        if a[i] == b[i]:
            continue
        al, bl = a[i].isalpha(), b[i].isalpha()
        if al and bl:
            return a[i] < b[i]
        if al or bl:
            return bl
        an = bn = 0
        if a[i] == "0" or b[i] == "0":
            j = i - 1
            while j >= 0 and _is_digit(a[j]):
                if a[j] != "0":
                    an = bn = 1
                    break
                j -= 1
        ai = i
        while ai < len(a) and _is_digit(a[ai]):
            an = _wrap(an * 10 + ord(a[ai]) - 48)
            ai += 1
        bi = i
        while bi < len(b) and _is_digit(b[bi]):
            bn = _wrap(bn * 10 + ord(b[bi]) - 48)
            bi += 1
        if an != bn:
            return an < bn
        if ai != bi:
            return ai < bi
        return a[i] < b[i]
    return len(a) < len(b)


_TOKENS = re.compile(r"\d+|.", re.S)


def _natural(key: str) -> tuple[tuple[int, int, int], ...]:
    """A sort key that agrees with go_key_less on everyday keys: non-letters before digit runs
    (by value, then length) before letters."""
    return tuple(
        (1, int(t), len(t)) if t[0].isdecimal() else (2 if t.isalpha() else 0, ord(t), 0)
        for t in _TOKENS.findall(key)
    )


def go_keys(keys: list[str]) -> list[str]:
    """``keys`` in go-yaml's order: a fast natural sort, checked pair by pair against Go's
    comparison; if that fails, Go's insertion sort. Go's comparison is not always transitive
    ("1A" < "01" < "10" < "1A"): then Go's own order follows its random map order, and ours is
    one it could give (no neighbours inverted)."""
    ordered = sorted(keys, key=_natural)
    if all(go_key_less(a, b) for a, b in itertools.pairwise(ordered)):
        return ordered
    for i in range(1, len(ordered)):
        j = i
        while j > 0 and go_key_less(ordered[j], ordered[j - 1]):
            ordered[j - 1], ordered[j] = ordered[j], ordered[j - 1]
            j -= 1
    return ordered


def go_sorted(obj: Any) -> Any:
    """Every mapping of ``obj`` re-ordered as go-yaml v2 writes it."""
    if isinstance(obj, Mapping):
        items = {str(k): v for k, v in obj.items()}
        return {k: go_sorted(items[k]) for k in go_keys(list(items))}
    if isinstance(obj, list):
        return [go_sorted(v) for v in obj]
    return obj


# --- go-yaml v2's resolve(): which strings it must quote ------------------------------------

_BOOLS = "y Y yes Yes YES true True TRUE on On ON n N no No NO false False FALSE off Off OFF"
_SPECIALS = "~ null Null NULL .nan .NaN .NAN .inf .Inf .INF +.inf +.Inf +.INF -.inf -.Inf -.INF <<"
_RESERVED = frozenset(f"{_BOOLS} {_SPECIALS}".split(" ")) | {""}
_GO_INT = re.compile(r"[-+]?(?:0[bB][01]+|0[oO][0-7]+|0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
_YAML_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_DIGITS_ = r"[0-9](?:_?[0-9])*"
_GO_DOT_FLOAT = re.compile(rf"\.{_DIGITS_}(?:[eE][-+]?{_DIGITS_})?")
_BASE60 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})"
    r"(?:(?:[Tt]([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:[.,][0-9]+)?(Z|[-+][0-9]{2}:[0-9]{2}))"
    r"|(?: ([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:[.,][0-9]+)?))?"
)


def _finite(text: str) -> bool:
    return not math.isinf(float(text.replace("_", "")))


def _go_timestamp(s: str) -> bool:
    """go-yaml's parseTimestamp: four layouts of Go's time.Parse, ranges checked."""
    m = _TIMESTAMP.fullmatch(s)
    if m is None:
        return False
    year, month, day = int(m[1]), int(m[2]), int(m[3])
    if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(year, month)[1]:
        return False
    clock = [int(v) for v in (m[4], m[5], m[6]) if v] or [int(v) for v in (m[8], m[9], m[10]) if v]
    if clock and (clock[0] > 23 or clock[1] > 59 or clock[2] > 59):
        return False
    zone = m[7]
    return not zone or zone == "Z" or (int(zone[1:3]) <= 24 and int(zone[4:6]) <= 60)


def _go_int(plain: str) -> int:
    """The value of a Go base-0 integer literal (sign, 0b/0o/0x prefix, or leading-0 octal)."""
    body = plain.lstrip("+-")
    if body[:2].lower() in ("0b", "0o", "0x"):
        value = int(body[2:], {"b": 2, "o": 8, "x": 16}[body[1].lower()])
    else:
        value = int(body[1:] or "0", 8) if body.startswith("0") else int(body)
    return -value if plain.startswith("-") else value


def _go_resolves_to_string(s: str) -> bool:
    """True when go-yaml v2 would read ``s`` back, unquoted, as the same string."""
    if s in _RESERVED:
        return False
    hint = s[0]
    if hint == ".":
        return not (_GO_DOT_FLOAT.fullmatch(s) and _finite(s))
    if hint not in "+-0123456789":
        return True
    if _go_timestamp(s) or _BASE60.fullmatch(s):
        return False
    plain = s.replace("_", "")
    # ParseInt; or ParseUint and then big.Int, which take an unsigned literal of any size
    if _GO_INT.fullmatch(plain) and (
        plain[0] not in "+-" or -(1 << 63) <= _go_int(plain) < 1 << 63
    ):
        return False
    if _YAML_FLOAT.fullmatch(plain) and _finite(plain):
        return False
    binary = re.fullmatch(r"(-?)0b([-+]?[01]+)", plain)
    return not (binary and abs(int(binary[1] + binary[2], 2)) < 1 << 63)


# Anything go-yaml's is_printable refuses: C0/C1 controls but LF, the BOM, beyond U+FFFD.
_NOT_PRINTABLE = re.compile("[^\n\x20-\x7e\xa0-\ud7ff\ue000-\ufefe\uff00-\ufffd]")
# Scalars with nothing for the emitter to look at (item names, base64): analysed in C.
_INERT = re.compile(r"[A-Za-z0-9][A-Za-z0-9+/=._-]*")
_INERT_ANALYSIS = dict(
    empty=False, multiline=False, allow_flow_plain=True, allow_block_plain=True,
    allow_single_quoted=True, allow_double_quoted=True, allow_block=True,
)  # fmt: skip


def _go_printable(ch: str) -> bool:
    """go-yaml's is_printable: no C0/C1 controls but LF, no BOM, nothing above U+FFFD."""
    return (
        ch == "\n"
        or " " <= ch <= "~"
        or "\xa0" <= ch <= "\ud7ff"
        or ("\ue000" <= ch <= "\ufffd" and ch != "\ufeff")
    )


_ESCAPES = {
    "\0": "0", "\a": "a", "\b": "b", "\t": "t", "\n": "n", "\v": "v", "\f": "f", "\r": "r",
    "\x1b": "e", '"': '"', "\\": "\\", "\x85": "N", "\xa0": "_", "\u2028": "L", "\u2029": "P",
}  # fmt: skip
_BREAKS = "\r\n\x85\u2028\u2029"
_STR = "tag:yaml.org,2002:str"


class _GoDumper(yaml.SafeDumper):
    """SafeDumper made to write what go-yaml v2 writes for the same JSON-shaped data."""

    def ignore_aliases(self, data: Any) -> bool:
        return True  # Go repeats shared values; it has no anchors to give them

    def represent_str(self, data: str) -> ScalarNode:
        if _NOT_PRINTABLE.search(data):
            style: str | None = '"'
        elif "\n" in data:
            style = "|"
        elif not _go_resolves_to_string(data):
            style = '"'
        else:
            style = None
        return self.represent_scalar(_STR, data, style=style)

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        # A str scalar may be written plain exactly when go-yaml would write it plain.
        if kind is ScalarNode and implicit[0] and _go_resolves_to_string(value):
            return _STR
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]

    def analyze_scalar(self, scalar: str) -> Any:
        if _INERT.fullmatch(scalar):  # PyYAML's per-character loop would find nothing
            return yaml.emitter.ScalarAnalysis(scalar=scalar, **_INERT_ANALYSIS)
        return super().analyze_scalar(scalar)

    def write_plain(self, text: str, split: bool = True) -> None:
        if self.root_context or self.encoding or not _INERT.fullmatch(text):
            super().write_plain(text, split)
            return
        # What the loop would do for a scalar with no space or break: write it whole.
        data = text if self.whitespace else " " + text
        self.whitespace = self.indention = False
        self.column += len(data)
        self.stream.write(data)

    def check_simple_key(self) -> bool:
        # libyaml: up to 128 bytes on one line (PyYAML: under 128 characters, tag counted).
        if isinstance(self.event, yaml.ScalarEvent):
            if self.analysis is None:
                self.analysis = self.analyze_scalar(self.event.value)
            return len(self.event.value.encode()) <= 128 and not self.analysis.multiline
        return bool(super().check_simple_key())

    def expect_document_start(self, first: bool = False) -> None:
        if isinstance(self.event, yaml.StreamEndEvent):
            self.open_ended = False  # go-yaml's encoder never ends a stream with "..."
        super().expect_document_start(first)

    def write_double_quoted(self, text: str, split: bool = True) -> None:
        """go-yaml's writer: escapes as libyaml, folds at a single space past the width."""
        self.write_indicator('"', True)
        spaces = False
        for i, ch in enumerate(text):
            if not _go_printable(ch) or ch in _BREAKS or ch in '"\\\ufeff':
                code = ord(ch)
                if ch in _ESCAPES:
                    data = "\\" + _ESCAPES[ch]
                elif code <= 0xFF:
                    data = f"\\x{code:02X}"
                elif code <= 0xFFFF:
                    data = f"\\u{code:04X}"
                else:
                    data = f"\\U{code:08X}"
                spaces = False
            elif ch == " ":
                if split and not spaces and self.column > self.best_width and 0 < i < len(text) - 1:
                    self.write_indent()
                    self.whitespace = self.indention = True
                    data = "\\" if text[i + 1] == " " else ""
                else:
                    data = " "
                spaces = True
            else:
                data = ch
                spaces = False
            if data:
                self.column += len(data)
                self.stream.write(data)
        self.write_indicator('"', False)


_GoDumper.add_representer(str, _GoDumper.represent_str)


def dump_yaml(obj: Mapping[str, Any]) -> str:
    """One document as ``kubeseal --format yaml`` writes it, ``---`` line first."""
    body = yaml.dump(
        go_sorted(obj),
        Dumper=_GoDumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=80,
        indent=2,
    )
    return "---\n" + body
