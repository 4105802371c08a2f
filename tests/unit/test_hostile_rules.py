"""The checks hostile input meets before any decryption: Secret key names as the API server
validates them, the 1 MiB limit known from ciphertext lengths, template shapes and expansion,
parser limits. (The named corpus, through the CLI and the controller: tests/hostile.)"""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from sealer import crypto, documents
from sealer.errors import DecryptionError, ManifestError, SealerError
from sealer.keys import KeyPair, KeyRing
from sealer.sealedsecret import SealedSecret, describe, unseal
from sealer.secretrules import MAX_ITEMS, MAX_SECRET_BYTES, check_item_name, render_template
from tests.integration.controller_fixtures import sealed_secret


@pytest.mark.parametrize("name", ["pw", "tls.crt", ".dockercfg", "a-b_c.d", "x" * 253])
def test_valid_secret_keys(name: str) -> None:
    check_item_name(name, "where")


@pytest.mark.parametrize("name", ["", ".", "..", "..data", "pw\n", "bad key", "ä", "a/b",
                                  "x" * 254])
def test_invalid_secret_keys(name: str) -> None:
    """IsConfigMapKey: the regex must match the whole name (``$`` also matches before a final
    newline) and '.', '..' and a '..' prefix are refused (they are special in volume mounts)."""
    with pytest.raises(ManifestError, match="not a valid Secret key"):
        check_item_name(name, "where")


def test_plaintext_size_is_known_without_a_key(key_pairs: tuple[KeyPair, ...]) -> None:
    blob = crypto.seal(key_pairs[0].certificate.public_key, b"x" * 77, crypto.Label(b""))
    assert crypto.plaintext_size(blob) == 77
    for broken in (blob[:1], blob[:300], blob[: 2 + 512 + 15]):
        with pytest.raises(DecryptionError):
            crypto.plaintext_size(broken)


def _obj(pair: KeyPair, **spec: Any) -> dict[str, Any]:
    obj = sealed_secret(pair, "ns", "name", {"pw": b"value-1"})
    obj["spec"].update(spec)
    return obj


def test_oversized_secret_is_refused_before_decrypting(key_pairs: tuple[KeyPair, ...]) -> None:
    big = sealed_secret(key_pairs[0], "ns", "name", {"a": b"x" * (MAX_SECRET_BYTES // 2),
                                                     "b": b"y" * (MAX_SECRET_BYTES // 2 + 1)})
    with pytest.raises(ManifestError, match=r"spec.encryptedData: would make a Secret of"):
        unseal(SealedSecret.from_manifest(big), KeyRing())  # no key: nothing was decrypted


def test_template_cannot_expand_past_the_limit(key_pairs: tuple[KeyPair, ...]) -> None:
    obj = sealed_secret(key_pairs[0], "ns", "name", {"kb": b"k" * 1024})
    obj["spec"]["template"] = {"data": {"bomb": "{{ .kb }}" * 2000}}
    with pytest.raises(ManifestError, match=r"template.data.bomb: would make a Secret of"):
        unseal(SealedSecret.from_manifest(obj), KeyRing((key_pairs[0],)))
    assert render_template("<{{ .kb }}>", {"kb": b"v"}, "w") == b"<v>"
    with pytest.raises(ManifestError):
        render_template("{{ .kb }}{{ .kb }}", {"kb": b"v" * 600_000}, "w")


def test_template_overriding_an_item_counts_once(key_pairs: tuple[KeyPair, ...]) -> None:
    half = MAX_SECRET_BYTES // 2 + 10
    obj = sealed_secret(key_pairs[0], "ns", "name", {"a": b"a" * half})
    obj["spec"]["template"] = {"data": {"a": "{{ .a }}"}}  # replaces a, same size: fits
    result = unseal(SealedSecret.from_manifest(obj), KeyRing((key_pairs[0],)))
    assert len(base64.b64decode(result.secret["data"]["a"])) == half


@pytest.mark.parametrize(("spec", "where"), [
    ({"template": {"data": ["x"]}}, "spec.template.data: must be a mapping"),
    ({"template": {"metadata": ["x"]}}, "spec.template.metadata: must be a mapping"),
    ({"template": {"metadata": {"labels": {"a": 1}}}}, "spec.template.metadata.labels.a"),
    ({"template": {"metadata": {"annotations": "x"}}}, "spec.template.metadata.annotations"),
    ({"template": {"type": {"a": "b"}}}, "spec.template.type: must be a string"),
    ({"template": {"immutable": "yes"}}, "spec.template.immutable: must be true or false"),
    ({"template": {"data": {"x": "\ud800"}}}, "spec.template.data.x: is not valid Unicode"),
    ({"template": {"data": {"..x": "v"}}}, "spec.template.data...x: is not a valid Secret key"),
    ({"data": {"a": "b"}, "encryptedData": {}}, "spec.data: must be a base64 string"),
    ({"template": {"metadata": {"labels": True}}}, "spec.template.metadata.labels: must be a"),
    ({"encryptedData": {f"k{i}": "AAAA" for i in range(MAX_ITEMS + 1)}},
     f"spec.encryptedData: has {MAX_ITEMS + 1} items"),
])
def test_malformed_specs_name_the_field(key_pairs: tuple[KeyPair, ...], spec: dict[str, Any],
                                        where: str) -> None:
    with pytest.raises(ManifestError) as caught:
        unseal(SealedSecret.from_manifest(_obj(key_pairs[0], **spec)), KeyRing())
    assert where in str(caught.value)


def test_a_truncated_frame_is_malformed_not_undecryptable(key_pairs: tuple[KeyPair, ...]) -> None:
    obj = _obj(key_pairs[0])
    blob = crypto.b64decode(obj["spec"]["encryptedData"]["pw"])
    obj["spec"]["encryptedData"]["pw"] = crypto.b64encode(blob[:200])
    with pytest.raises(ManifestError, match="spec.encryptedData.pw: is not a sealed value"):
        unseal(SealedSecret.from_manifest(obj), KeyRing((key_pairs[0],)))


def test_messages_stay_printable_whatever_the_names() -> None:
    obj = {"kind": "Sealed\ud800", "metadata": {"name": "n\udcff", "namespace": "x"}}
    text = describe(obj)
    text.encode("utf-8")
    assert "\\ud800" in text
    with pytest.raises(SealerError) as caught:
        SealedSecret.from_manifest({**copy.deepcopy(obj), "kind": "SealedSecret", "spec": {}})
    str(caught.value).encode("utf-8")


@pytest.mark.parametrize(("text", "message"), [
    ("[" * 50_000, "nested too deeply"),
    ("a: " + "[" * 50_000, "nested too deeply"),
    ("? {a: 1}\n: 2\n", "unhashable key"),
    ("? [a]\n: 2\n", "unhashable key"),
    ('a: "\\ud800"\n', "Unicode"),
    ('{"a": "\\udfff"}', "Unicode"),
])
def test_parser_limits_are_input_errors(text: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        documents.load(text, "input")


def test_object_labels_and_annotations_must_be_string_maps(key_pairs: tuple[KeyPair, ...]) -> None:
    """Found by the fuzzer: /v1/rotate answered 500 to ``annotations: true``."""
    for part, bad in (("annotations", True), ("labels", ["x"]), ("annotations", {"a": 1})):
        obj = _obj(key_pairs[0])
        obj["metadata"][part] = bad
        with pytest.raises(ManifestError, match=f"metadata.{part}"):
            SealedSecret.from_manifest(obj)
