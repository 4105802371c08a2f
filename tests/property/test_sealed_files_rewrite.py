"""sealer.sealedfiles.rewrite on any file shape: the objects read back as asked, and every
byte outside the values that changed stays as it was (other documents, other items, comments,
quoting, indentation, line endings)."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealer import documents, sourcemap
from sealer.sealedfiles import in_text, rewrite
from sealer.textedits import double_quoted, plain_ok

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DNS = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,12}[a-z0-9])?", fullmatch=True)
ITEM = st.from_regex(r"[-._a-zA-Z0-9]{1,20}", fullmatch=True).filter(
    lambda s: s not in (".", "..") and not s.startswith(".."))  # IsConfigMapKey
CIPHERTEXT = st.binary(min_size=1, max_size=90).map(lambda b: base64.b64encode(b).decode())
ANNOTATION = st.from_regex(r"[a-z]{1,8}(\.[a-z]{1,5})?/[a-z][-a-z0-9]{0,10}", fullmatch=True)
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)


@st.composite
def sealed(draw: st.DrawFn) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": draw(DNS), "namespace": draw(DNS)}
    shape = draw(st.sampled_from(["none", "null", "empty", "some"]))
    if shape == "null":
        meta["annotations"] = None
    elif shape == "empty":
        meta["annotations"] = {}
    elif shape == "some":
        meta["annotations"] = draw(st.dictionaries(ANNOTATION, TEXT, min_size=1, max_size=3))
    spec: dict[str, Any] = {"encryptedData": draw(st.dictionaries(ITEM, CIPHERTEXT, max_size=5))}
    if draw(st.booleans()):
        spec["template"] = {"metadata": {"name": meta["name"], "labels": {"app": "x"}},
                            "type": "Opaque"}
    return {"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "metadata": meta,
            "spec": spec}


class Emitter:
    """Hand-written YAML in many styles: indentation, quoting, flow mappings, comments."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.step = draw(st.sampled_from([2, 4]))
        self.comments = draw(st.booleans())

    def scalar(self, value: Any) -> str:
        if value is None:
            return self.draw(st.sampled_from(["null", "~", ""]))
        style = self.draw(st.sampled_from(["plain", "single", "double"]))
        if style == "single" and value.isprintable():
            return "'" + value.replace("'", "''") + "'"
        if style == "plain" and plain_ok(value, flow=False):
            return value
        return double_quoted(value)

    def flow(self, value: Any) -> str:
        if isinstance(value, dict):
            pairs = (f"{double_quoted(k)}: {self.flow(v)}" for k, v in value.items())
            return "{" + ", ".join(pairs) + "}"
        return double_quoted(value)

    def block(self, obj: dict[str, Any], indent: int) -> list[str]:
        lines = []
        for name, value in obj.items():
            pad = " " * indent
            key = name if plain_ok(name, flow=False) else double_quoted(name)
            comment = "  # note" if self.comments and self.draw(st.booleans()) else ""
            if isinstance(value, dict) and value and self.draw(st.integers(0, 3)):
                lines.append(f"{pad}{key}:{comment}")
                lines += self.block(value, indent + self.step)
            elif isinstance(value, dict):
                lines.append(f"{pad}{key}: {self.flow(value)}{comment}")
            else:
                text = self.scalar(value)
                lines.append(f"{pad}{key}: {text}{comment}" if text else f"{pad}{key}:")
        return lines


@st.composite
def files(draw: st.DrawFn) -> tuple[str, list[dict[str, Any]]]:
    objs = draw(st.lists(sealed(), min_size=1, max_size=4))
    form = draw(st.sampled_from(["kubeseal-yaml", "kubeseal-json", "hand", "list-yaml",
                                 "list-json", "json-stream"]))
    if form == "kubeseal-yaml":
        text = documents.dump(objs, "yaml")
    elif form == "kubeseal-json":
        text = documents.dump(objs, "json")
    elif form == "json-stream":
        text = "\n".join(json.dumps(o, indent=draw(st.sampled_from([None, 2, 4]))) for o in objs)
    elif form == "list-json":
        text = json.dumps({"apiVersion": "v1", "kind": "List", "items": objs},
                          indent=draw(st.sampled_from([None, 1, 2])))
    else:
        emitter = Emitter(draw)
        if form == "list-yaml":
            items = []
            for obj in objs:
                body = emitter.block(obj, 2)
                items.append("\n".join(["- " + body[0][2:], *body[1:]]))
            text = "apiVersion: v1\nkind: List\nitems:\n" + "\n".join(items) + "\n"
        else:
            head = "# a comment before the document\n" if emitter.comments else ""
            docs = [head + "\n".join(emitter.block(obj, 0)) + "\n" for obj in objs]
            text = "---\n".join(docs) if draw(st.booleans()) else "".join(f"---\n{d}" for d in docs)
        if draw(st.booleans()):
            text = text.replace("\n", "\r\n")
        if draw(st.booleans()):
            text = text.rstrip("\r\n")  # no line break at the end
    assert documents.load(text) == objs
    return text, objs


def value_spans(text: str, index: int) -> dict[str, str]:
    """The text of each item of object ``index`` (key to end of value)."""
    node = sourcemap.objects(text)[index].node
    data = (node.get("spec") or node).get("encryptedData")
    if data is None or data.kind != "map":
        return {}
    return {k.text or "": text[k.start : v.end] for k, v in data.pairs}


@FAST
@given(data=st.data(), file=files())
def test_rewrite_changes_only_what_it_is_asked(
    data: st.DataObject, file: tuple[str, list[dict[str, Any]]]
) -> None:
    text, objs = file
    index = data.draw(st.integers(0, len(objs) - 1))
    existing = objs[index]["spec"]["encryptedData"]
    changed = data.draw(st.lists(st.sampled_from(sorted(existing)), unique=True)
                        if existing else st.just([]))
    new = {item: data.draw(CIPHERTEXT) for item in changed}
    new.update(data.draw(st.dictionaries(ITEM, CIPHERTEXT, max_size=2)))
    annotations = data.draw(st.dictionaries(ANNOTATION, TEXT, max_size=2))

    result = rewrite(text, index, new, annotations)

    expected = copy.deepcopy(objs)
    obj = expected[index]
    obj["spec"]["encryptedData"] = {**existing, **new}
    if annotations:
        obj["metadata"]["annotations"] = {**(obj["metadata"].get("annotations") or {}),
                                          **annotations}
    assert documents.load(result) == expected
    # every other object, and everything around the object, byte for byte
    before = in_text(text, Path("f"))[index]
    after = in_text(result, Path("f"))[index]
    assert result[: after.start] == text[: before.start]
    assert result[after.end :] == text[before.end :]
    # the items that did not change, byte for byte
    old_items, new_items = value_spans(text, index), value_spans(result, index)
    for item in set(existing) - set(new):
        assert new_items[item] == old_items[item]
    # line endings stay the file's
    if "\r\n" in text:
        assert result.count("\n") == result.count("\r\n")


@FAST
@given(file=files(), data=st.data())
def test_setting_what_is_there_changes_nothing(
    file: tuple[str, list[dict[str, Any]]], data: st.DataObject
) -> None:
    text, objs = file
    index = data.draw(st.integers(0, len(objs) - 1))
    obj = objs[index]
    annotations = obj["metadata"].get("annotations") or {}
    assert rewrite(text, index, obj["spec"]["encryptedData"], annotations) == text
