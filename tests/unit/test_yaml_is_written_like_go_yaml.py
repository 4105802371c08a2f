"""Our YAML writer against go-yaml v2's rules (sorter.go, resolve.go, encode.go, emitterc.go),
and the one property every choice must keep: what we write reads back as what we wrote."""

from __future__ import annotations

import functools
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealer import documents, gojson, goyaml


def body(obj: dict[str, object]) -> str:
    return goyaml.dump_yaml(obj).removeprefix("---\n")


@pytest.mark.parametrize(
    ("keys", "go_order"),
    [
        (["key10", "key9", "key1"], ["key1", "key9", "key10"]),  # digit runs by value
        (["b", "_a", "A", "a"], ["_a", "A", "a", "b"]),  # non-letters first, then code points
        (["tls.key", "tls.crt", "tls-crt"], ["tls-crt", "tls.crt", "tls.key"]),
        (["a01b", "a1b"], ["a1b", "a01b"]),  # equal values: the shorter run first
        (["x1", "x"], ["x", "x1"]),  # a prefix first
    ],
)
def test_keys_are_sorted_as_go_yaml_sorts_them(keys: list[str], go_order: list[str]) -> None:
    assert list(goyaml.go_sorted(dict.fromkeys(keys, "v"))) == go_order
    assert body(dict.fromkeys(keys, "v")) == "".join(f"{k}: v\n" for k in go_order)


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("plain words", "plain words"),
        ("true", '"true"'),  # would read back as a bool
        ("y", '"y"'),  # go-yaml v2 (YAML 1.1) reads y/n as bools; PyYAML does not
        ("Off", '"Off"'),
        ("null", '"null"'),
        ("~", '"~"'),
        ("", '""'),
        ("8080", '"8080"'),
        ("1.0", '"1.0"'),
        ("1e3", '"1e3"'),  # a float to Go, a string to PyYAML
        ("0x1F", '"0x1F"'),
        ("0o17", '"0o17"'),
        ("1_000", '"1_000"'),
        ("08", '"08"'),  # not octal, but a float
        (".5", '".5"'),
        ("12:30", '"12:30"'),  # base 60, quoted for YAML 1.1 readers
        ("2024-01-15", '"2024-01-15"'),
        ("2024-01-15T10:00:00Z", '"2024-01-15T10:00:00Z"'),
        ("2023-02-30", "2023-02-30"),  # no such day: Go's time.Parse says it is a string
        ("1.2.3", "1.2.3"),
        ("=", "="),  # a string to Go; PyYAML would have quoted it
        ("-0x8000000000000001", "-0x8000000000000001"),  # past int64 and signed: a string
        ("<<", '"<<"'),
        ("hello: world", "'hello: world'"),  # plain not allowed: single quotes, as libyaml
        ('{"a": 1}', "'{\"a\": 1}'"),
        ("- x", "'- x'"),
        (" lead", "' lead'"),
        ("trail ", "'trail '"),
        ("tab\there", '"tab\\there"'),  # not printable to go-yaml: double quotes and escapes
        ("\U0001f642", '"\\U0001F642"'),  # nor is anything past U+FFFD
        ("caf\u00e9", "caf\u00e9"),
        ("nel\x85", '"nel\\N"'),
        ("bom\ufeff", '"bom\\uFEFF"'),
    ],
)
def test_strings_are_quoted_only_where_go_yaml_quotes_them(value: str, written: str) -> None:
    assert body({"k": value}) == f"k: {written}\n"


def test_multiline_strings_are_literal_blocks_with_chomping() -> None:
    assert body({"k": "a\nb\n"}) == "k: |\n  a\n  b\n"
    assert body({"k": "a\nb"}) == "k: |-\n  a\n  b\n"
    assert body({"k": "a\n\n"}) == "k: |+\n  a\n\n"  # and no "..." after it, as go-yaml
    assert body({"k": " a\nb"}) == "k: |2-\n   a\n  b\n"


def test_long_plain_and_single_quoted_strings_fold_at_80_columns() -> None:
    text = "word " * 20 + "end"
    assert body({"k": text}) == (
        "k: word word word word word word word word word word word word word word word word\n"
        "  word word word word end\n"
    )
    assert body({"k": "x: " + text}) == (
        "k: 'x: word word word word word word word word word word word word word word word\n"
        "  word word word word word end'\n"
    )
    assert body({"k": "x" * 200}) == f"k: {'x' * 200}\n"  # no space, no fold


def test_long_double_quoted_strings_fold_as_go_yaml_does() -> None:
    # libyaml breaks at a single space once past the width (PyYAML breaks with a "\" anywhere)
    text = "\t" + "word " * 30
    assert body({"k": text}) == (
        'k: "\\tword word word word word word word word word word word word word word word word\n'
        '  word word word word word word word word word word word word word word "\n'
    )
    two_spaces = "\t" + "x" * 78 + "  y"  # the break lands on a double space: "\ " keeps it
    assert body({"k": two_spaces}) == f'k: "\\t{"x" * 78}\n  \\ y"\n'


def test_keys_up_to_128_bytes_stay_simple() -> None:
    assert body({"k" * 128: "v"}) == f"{'k' * 128}: v\n"
    assert body({"k" * 129: "v"}).startswith("? ")  # libyaml's limit, not PyYAML's 123


def test_empty_collections_nulls_and_booleans() -> None:
    assert body({"a": {}, "b": [], "c": None, "d": True, "e": 3, "f": ["x"]}) == (
        "a: {}\nb: []\nc: null\nd: true\ne: 3\nf:\n- x\n"
    )


def test_shared_values_are_repeated_not_anchored() -> None:
    shared = {"x": "1"}
    assert "&" not in body({"a": shared, "b": shared})


def test_json_is_go_struct_order_and_escapes() -> None:
    secret = {"data": {"b": "Yg==", "a": "YQ=="}, "type": "Opaque", "metadata": {
        "labels": {"z": "1"}, "name": "n", "creationTimestamp": None}, "kind": "Secret",
        "apiVersion": "v1", "extra": "<&>\u2028é"}
    assert gojson.dump_json(secret) == (
        '{\n  "kind": "Secret",\n  "apiVersion": "v1",\n  "metadata": {\n    "name": "n",\n'
        '    "creationTimestamp": null,\n    "labels": {\n      "z": "1"\n    }\n  },\n'
        '  "data": {\n    "a": "YQ==",\n    "b": "Yg=="\n  },\n  "type": "Opaque",\n'
        '  "extra": "\\u003c\\u0026\\u003e\\u2028é"\n}\n'
    )


@settings(max_examples=300, deadline=None)
@given(keys=st.sets(st.text(alphabet="aAbz019._-/", max_size=6), max_size=12))
def test_the_fast_key_order_is_go_yamls(keys: set[str]) -> None:
    less = goyaml.go_key_less
    ours = goyaml.go_keys(list(keys))
    assert sorted(ours) == sorted(keys)
    assert not any(less(b, a) for a, b in itertools.pairwise(ours))  # what Go's sort ends with
    if all(less(a, c) for a, b, c in itertools.permutations(keys, 3) if less(a, b) and less(b, c)):
        # a true order: exactly one answer
        assert ours == sorted(keys, key=functools.cmp_to_key(
            lambda a, b: -1 if less(a, b) else int(less(b, a))))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(min_size=1), inner,
                                                                 max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(obj=st.dictionaries(st.text(min_size=1), JSON_VALUES, max_size=6))
def test_what_we_write_reads_back_as_written(obj: dict[str, object]) -> None:
    assert documents.load(goyaml.dump_yaml(obj)) == ([obj] if obj else [{}])
