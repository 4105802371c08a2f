"""The hostile-input corpus: named SealedSecrets (and raw files) that must be refused, or
accepted in one exact way, by the CLI, the controller and the HTTP API alike.

Each :class:`Case` builds its input from the controller's key pair (``ours``) and one the
controller never had (``foreign``), and says what every consumer must do with it:

- ``field``/``cause``: what the one-line error names (the field) and says (the cause), in the
  CLI's stderr and in the controller's ``Synced=False`` message, Event and log alike;
- ``controller``: the ``Synced=False`` reason, ``SYNCED`` when it must be accepted, or ``None``
  for input that never reaches a cluster (bytes that are not one JSON/YAML object);
- ``unseal_ok``: whether ``sealer unseal`` with our key succeeds (then the controller syncs it
  too, unless the cluster itself refuses: ``controller`` says so);
- ``validate``: what ``sealer validate --cert`` (offline) reports: the cause, or ``None`` when
  the form is sound and only decryption can tell.

Used by tests/hostile/test_cli_corpus.py and tests/hostile/test_controller_corpus.py.
"""

from __future__ import annotations

import base64
import copy
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sealer import crypto
from sealer.keys import KEY_LABEL, KeyPair
from sealer.scope import Scope
from sealer.secretrules import MAX_SECRET_BYTES
from tests.integration.controller_fixtures import sealed_secret

Obj = dict[str, Any]
NS = "hostile"
KEY_NS = "kube-system"
ERR_UNSEAL, ERR_UPDATE, SYNCED = "ErrUnsealFailed", "ErrUpdateFailed", "Synced"


@dataclass(frozen=True)
class Keys:
    ours: KeyPair
    foreign: KeyPair


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Keys], Obj | bytes]
    field: str
    cause: str
    controller: str | None = ERR_UNSEAL
    unseal_ok: bool = False
    validate: str | None = None
    namespace: str = NS
    cli_cause: str | None = None  # when the CLI refuses it earlier, reading the file

    @property
    def where(self) -> str:
        return f"SealedSecret {self.namespace}/{self.name}"


def value(name: str) -> bytes:
    """The distinctive plaintext of a case (the leak scan looks for it everywhere)."""
    return f"{name}-value-5d2c".encode()


def good(keys: Keys, name: str, namespace: str = NS, **kw: Any) -> Obj:
    return sealed_secret(keys.ours, namespace, name, {"pw": value(name)}, **kw)


def _item(name: str, keys: Keys) -> bytes:
    return crypto.b64decode(good(keys, name)["spec"]["encryptedData"]["pw"])


def _with_item(name: str, text: str) -> Callable[[Keys], Obj]:
    def build(keys: Keys) -> Obj:
        obj = good(keys, name)
        obj["spec"]["encryptedData"]["pw"] = text
        return obj
    return build


def _with_blob(name: str, change: Callable[[bytes], bytes]) -> Callable[[Keys], Obj]:
    def build(keys: Keys) -> Obj:
        obj = good(keys, name)
        obj["spec"]["encryptedData"]["pw"] = crypto.b64encode(change(_item(name, keys)))
        return obj
    return build


def _with_spec(name: str, **spec: Any) -> Callable[[Keys], Obj]:
    def build(keys: Keys) -> Obj:
        obj = good(keys, name)
        obj["spec"].update(copy.deepcopy(spec))
        return obj
    return build


def _unpadded(keys: Keys) -> Obj:
    plain = value("padding-missing")
    while (2 + keys.ours.private_key.key_size // 8 + len(plain) + 16) % 3 == 0:
        plain += b"-"  # a length whose base64 needs padding
    obj = sealed_secret(keys.ours, NS, "padding-missing", {"pw": plain})
    text = obj["spec"]["encryptedData"]["pw"]
    obj["spec"]["encryptedData"]["pw"] = text.rstrip("=")
    return obj


def _url_safe(keys: Keys) -> Obj:
    while True:  # a fresh ciphertext until one has a '+' or '/' to translate
        obj = good(keys, "url-safe-alphabet")
        blob = crypto.b64decode(obj["spec"]["encryptedData"]["pw"])
        text = base64.urlsafe_b64encode(blob).decode()
        if "-" in text or "_" in text:
            obj["spec"]["encryptedData"]["pw"] = text
            return obj


def _rsa_block_of_half_size(keys: Keys) -> Obj:
    obj = good(keys, "rsa-block-of-wrong-length")
    blob = crypto.b64decode(obj["spec"]["encryptedData"]["pw"])
    size = keys.ours.private_key.key_size // 8
    short = struct.pack(">H", size // 2) + os.urandom(size // 2) + blob[2 + size:]
    obj["spec"]["encryptedData"]["pw"] = crypto.b64encode(short)
    return obj


def _sealed_for(name: str, label: str, scope: Scope = Scope.STRICT) -> Callable[[Keys], Obj]:
    """An item sealed under ``label`` ("ns/name", "ns" or "") put into the object ``name``."""
    def build(keys: Keys) -> Obj:
        obj = good(keys, name, scope=scope)
        blob = crypto.seal(keys.ours.certificate.public_key, value(name),
                           crypto.Label(label.encode()))
        obj["spec"]["encryptedData"]["pw"] = crypto.b64encode(blob)
        return obj
    return build


def _foreign_key(keys: Keys) -> Obj:
    return sealed_secret(keys.foreign, NS, "key-we-never-had", {"pw": value("key-we-never-had")})


def _renamed_item(name: str, item: str) -> Callable[[Keys], Obj]:
    def build(keys: Keys) -> Obj:
        obj = good(keys, name)
        obj["spec"]["encryptedData"] = {item: obj["spec"]["encryptedData"]["pw"]}
        return obj
    return build


def _oversized(keys: Keys) -> Obj:
    return sealed_secret(keys.ours, NS, "item-over-1mib",
                         {"pw": b"x" * (MAX_SECRET_BYTES + 1)}, hint=True)


def _many_items(keys: Keys) -> Obj:
    obj = good(keys, "tens-of-thousands-of-items")
    # the count is refused before anything is decoded: short items keep the object small
    obj["spec"]["encryptedData"] = {f"k{i:05d}": "AAAA" for i in range(20_000)}
    return obj


def _amplified(keys: Keys) -> Obj:
    obj = sealed_secret(keys.ours, NS, "template-amplification", {"kb": b"k" * 1024})
    obj["spec"]["template"] = {"data": {"bomb": "{{ .kb }}" * 2_000}}
    return obj


def _planted_key(keys: Keys) -> Obj:
    return sealed_secret(
        keys.ours, KEY_NS, "planted-key", {"tls.crt": b"c", "tls.key": value("planted-key")},
        template={"type": "kubernetes.io/tls",
                  "metadata": {"labels": {KEY_LABEL: "active"}}})


RAW_SEALED = ("apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\n"
              "metadata: {name: raw, namespace: hostile}\n")
CASES: list[Case] = [
    # encodings
    Case("invalid-base64", _with_item("invalid-base64", "not*base64!"),
         "spec.encryptedData.pw", "is not valid standard base64",
         validate="is not valid standard base64"),
    Case("padding-missing", _unpadded, "spec.encryptedData.pw", "is not valid standard base64",
         validate="is not valid standard base64"),
    Case("url-safe-alphabet", _url_safe, "spec.encryptedData.pw", "is not valid standard base64",
         validate="is not valid standard base64"),
    Case("non-ascii-item", _with_item("non-ascii-item", "ÿÿÿÿ"), "spec.encryptedData.pw",
         "is not valid standard base64", validate="is not valid standard base64"),
    # frames
    Case("truncated-in-rsa-block", _with_blob("truncated-in-rsa-block", lambda b: b[:100]),
         "spec.encryptedData.pw", "is not a sealed value", validate="is not a sealed value"),
    Case("truncated-in-aes-part", _with_blob("truncated-in-aes-part", lambda b: b[:-5]),
         "spec.encryptedData.pw", "no key could decrypt it"),
    Case("length-prefix-beyond-data",
         _with_blob("length-prefix-beyond-data", lambda b: b"\xff\xff" + b[2:]),
         "spec.encryptedData.pw", "is not a sealed value", validate="is not a sealed value"),
    Case("rsa-block-of-wrong-length", _rsa_block_of_half_size,
         "spec.encryptedData.pw", "no key could decrypt it", validate="RSA block is"),
    Case("tampered-tag", _with_blob("tampered-tag", lambda b: b[:-1] + bytes([b[-1] ^ 1])),
         "spec.encryptedData.pw", "no key could decrypt it"),
    # sealed for something else
    Case("sealed-for-another-name", _sealed_for("sealed-for-another-name", f"{NS}/other"),
         "spec.encryptedData.pw", "no key could decrypt it"),
    Case("sealed-for-another-namespace",
         _sealed_for("sealed-for-another-namespace", "default/sealed-for-another-namespace"),
         "spec.encryptedData.pw", "no key could decrypt it"),
    Case("sealed-for-another-scope",  # strict item in an object that says cluster-wide
         _sealed_for("sealed-for-another-scope", f"{NS}/sealed-for-another-scope",
                     Scope.CLUSTER_WIDE),
         "spec.encryptedData.pw", "no key could decrypt it"),
    Case("key-we-never-had", _foreign_key, "spec.encryptedData.pw", "no key could decrypt it"),
    # shape
    Case("empty-encrypted-data", _with_spec("empty-encrypted-data", encryptedData={}),
         "", "", controller=SYNCED, unseal_ok=True),
    Case("data-and-encrypted-data", _with_spec("data-and-encrypted-data", data="AAAA"),
         "spec.data", "cannot use 'encryptedData' and the deprecated 'data'",
         validate="cannot use 'encryptedData'"),
    Case("legacy-data-not-base64", _with_spec("legacy-data-not-base64", data="%%%",
                                              encryptedData={}),
         "spec.data", "is not valid base64"),
    Case("spec-not-a-mapping", lambda k: {**good(k, "spec-not-a-mapping"), "spec": ["x"]},
         "spec", "missing or not a mapping", validate="missing or not a mapping"),
    Case("encrypted-data-not-strings", _with_spec("encrypted-data-not-strings",
                                                  encryptedData={"pw": 5}),
         "spec.encryptedData", "must map item names to strings",
         validate="must map item names to strings"),
    Case("template-renames-secret",  # accepted as upstream: the Secret keeps the object's name
         _with_spec("template-renames-secret", template={"metadata": {"name": "victim"}}),
         "", "", controller=SYNCED, unseal_ok=True),
    Case("template-other-namespace",
         _with_spec("template-other-namespace", template={"metadata": {"namespace": KEY_NS}}),
         "", "", controller=SYNCED, unseal_ok=True),
    Case("template-not-a-mapping", _with_spec("template-not-a-mapping", template=["x"]),
         "spec.template", "must be a mapping", validate="must be a mapping"),
    Case("template-labels-not-strings",
         _with_spec("template-labels-not-strings", template={"metadata": {"labels": {"a": 1}}}),
         "spec.template.metadata.labels.a", "must be a string", validate="must be a string"),
    Case("type-not-a-string", _with_spec("type-not-a-string", template={"type": {"a": "b"}}),
         "spec.template.type", "must be a string", validate="must be a string"),
    Case("tls-type-without-tls-items",  # only the API server knows: refused on write
         _with_spec("tls-type-without-tls-items", template={"type": "kubernetes.io/tls"}),
         "data[tls.crt]", "Required value", controller=ERR_UPDATE, unseal_ok=True),
    Case("immutable-not-a-bool", _with_spec("immutable-not-a-bool",
                                            template={"immutable": "yes"}),
         "spec.template.immutable", "must be true or false", validate="must be true or false"),
    # names
    Case("item-name-invalid", _renamed_item("item-name-invalid", "bad key!"),
         "spec.encryptedData.bad key!", "is not a valid Secret key",
         validate="is not a valid Secret key"),
    Case("item-name-dot-dot-prefix", _renamed_item("item-name-dot-dot-prefix", "..data"),
         "spec.encryptedData...data", "is not a valid Secret key",
         validate="is not a valid Secret key"),
    Case("item-name-trailing-newline", _renamed_item("item-name-trailing-newline", "pw\n"),
         "spec.encryptedData.pw\\n", "is not a valid Secret key",
         validate="is not a valid Secret key"),
    Case("template-data-invalid-name",
         _with_spec("template-data-invalid-name", template={"data": {"a/b": "x"}}),
         "spec.template.data.a/b", "is not a valid Secret key",
         validate="is not a valid Secret key"),
    # templates
    Case("template-unknown-item",
         _with_spec("template-unknown-item", template={"data": {"x": "{{ .nope }}"}}),
         "spec.template.data.x", "refers to unknown item 'nope'"),
    Case("template-unsupported-syntax",
         _with_spec("template-unsupported-syntax", template={"data": {"x": "{{ .pw | b64enc }}"}}),
         "spec.template.data.x", "uses template syntax sealer does not support"),
    Case("lone-surrogate", _with_spec("lone-surrogate", template={"data": {"x": "\ud800"}}),
         "spec.template.data.x", "is not valid Unicode text",
         cli_cause="invalid Unicode escape", validate="invalid Unicode escape"),
    # sizes
    Case("item-over-1mib", _oversized, "spec.encryptedData", "would make a Secret of 1048577",
         validate="would make a Secret of 1048577"),
    Case("tens-of-thousands-of-items", _many_items, "spec.encryptedData",
         "has 20000 items; at most 5000", validate="has 20000 items"),
    Case("template-amplification", _amplified, "spec.template.data.bomb",
         "would make a Secret of"),
    # the key namespace
    Case("planted-key", _planted_key, "spec.template.metadata.labels",
         f"{KEY_LABEL} is reserved for sealing keys", unseal_ok=True, namespace=KEY_NS),
    # bytes that never become an object
    Case("non-utf8-bytes", lambda k: RAW_SEALED.encode() + b"spec: {data: \xff\xfe}\n",
         "", "is not UTF-8 text", controller=None, validate="is not UTF-8 text"),
    Case("yaml-bomb-aliases", lambda k: (
        RAW_SEALED + "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c]\n").encode(),
         "", "YAML aliases are not accepted", controller=None, validate="aliases"),
    Case("yaml-bomb-deep-nesting", lambda k: (RAW_SEALED + "spec: " + "[" * 200_000).encode(),
         "", "nested too deeply", controller=None, validate="nested too deeply"),
    Case("json-deep-nesting", lambda k: b"[" * 200_000, "", "nested too deeply",
         controller=None, validate="nested too deeply"),
    Case("duplicate-keys", lambda k: (RAW_SEALED + "spec: {encryptedData: {pw: AAAA}}\n"
                                      "spec: {encryptedData: {pw: BBBB}}\n").encode(),
         "", "duplicate key", controller=None, validate="duplicate key"),
    Case("unhashable-key", lambda k: (RAW_SEALED + "? {a: 1}\n: x\n").encode(),
         "", "unhashable key", controller=None, validate="unhashable key"),
]
