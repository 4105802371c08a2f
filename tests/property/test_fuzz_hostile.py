"""Fuzzing the parsing and unsealing paths with hypothesis: whatever the input, each layer either
succeeds or raises its one documented error (never a crash, a hang or a value in a message).

- ``documents.load`` on any bytes and on mutated manifest text: objects, or ``ManifestError``;
- ``controller.api.parse_sealed_secret`` on any body: one SealedSecret, or ``RequestError``;
- ``SealedSecret.from_manifest`` + ``unseal`` on mutated objects: a Secret holding exactly the
  sealed values, or a ``SealerError``;
- ``reencrypt`` on mutated objects: a manifest, or a ``SealerError``;
- one controller reconciliation (``Unsealer.sync`` on the in-memory cluster) on mutated
  objects: success, ``kopf.TemporaryError`` or ``kopf.PermanentError``; no value in any status
  or Event, and a Secret written only under the object's own name.

``SEALER_FUZZ_EXAMPLES`` sets the examples per property (default 750: 3,000 cases in the
suite); a long run is ``SEALER_FUZZ_EXAMPLES=100000 pytest tests/property -k fuzz``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import kopf
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.api import RequestError, parse_sealed_secret
from controller.config import Config
from controller.events import EventRecorder
from controller.keyring import ClusterKeys, load_source
from controller.metrics import Metrics
from controller.reencrypt import reencrypt
from controller.unsealer import Unsealer
from sealer import crypto, documents, keys
from sealer.errors import ManifestError, SealerError
from sealer.keys import KEY_LABEL, KeyRing
from sealer.scope import CLUSTER_WIDE_ANNOTATION, NAMESPACE_WIDE_ANNOTATION, Scope
from sealer.sealedsecret import SealedSecret, unseal
from tests.integration.controller_fixtures import key_secret, sealed_secret
from tests.unit.test_controller_unsealer import FakeCluster, InlinePool, put

Obj = dict[str, Any]
EXAMPLES = int(os.environ.get("SEALER_FUZZ_EXAMPLES", "750"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])
# RSA-1024: the properties are about parsing and framing, not key strength; fast to unseal.
_KEY, _CERT = keys.generate(1024)
PAIR = keys.key_pair(keys.private_key_pem(_KEY), keys.certificate_from_x509(_CERT).pem)
_OTHER, _OTHER_CERT = keys.generate(1024)
OTHER = keys.key_pair(keys.private_key_pem(_OTHER), keys.certificate_from_x509(_OTHER_CERT).pem)
RING = KeyRing((PAIR,))
VALUES = {"pw": b"fuzz-secret-value-1", "user": b"fuzz-secret-value-2", "bin": b"\x00\xff"}
SECRETS = {v for v in VALUES.values() if len(v) > 8}

STRINGS = st.sampled_from([
    "", ".", "..", "..x", "pw", "pw\n", "\ud800", "\udcff", "ÿ", "\x00", "{{", "}}", "{{ .pw }}",
    '{{ index . "user" }}', "{{ .pw }}" * 50, "{{ .nope }}", "AAAA", "====", "%%%", "-_-_",
    "true", "false", "kubernetes.io/tls", "Opaque", KEY_LABEL, "default", "x" * 300,
    "SealedSecret", "Secret", "List", CLUSTER_WIDE_ANNOTATION, NAMESPACE_WIDE_ANNOTATION,
]) | st.text(max_size=12)
SCALARS = (st.none() | st.booleans() | st.integers(-2, 2**70) | st.floats(allow_nan=False)
           | STRINGS)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(STRINGS, inner, max_size=3), max_leaves=8)


def base_objects() -> list[Obj]:
    """Valid SealedSecrets of every scope, with templates, the legacy field and a wrong key."""
    objs = [sealed_secret(PAIR, "ns", "name", VALUES, scope=scope) for scope in Scope]
    objs.append(sealed_secret(PAIR, "ns", "name", {"pw": VALUES["pw"]}, template={
        "type": "Opaque", "immutable": False,
        "metadata": {"labels": {"a": "b"}, "annotations": {"c": "d"}},
        "data": {"conn": 'user={{ .pw }} {{ index . "pw" }}'}}))
    legacy = sealed_secret(PAIR, "ns", "name", {})
    inner = json.dumps({"kind": "Secret", "data": {"pw": base64.b64encode(b"legacy-secret-1")
                                                   .decode()}}).encode()
    blob = crypto.seal(PAIR.certificate.public_key, inner, Scope.STRICT.label("ns", "name"))
    legacy["spec"] = {"data": base64.b64encode(blob).decode()}
    objs.append(legacy)
    objs.append(sealed_secret(OTHER, "ns", "name", VALUES))
    return objs


BASES = base_objects()


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, (*prefix, index))


def _mutate_blob(data: st.DataObject, text: str) -> Any:
    try:
        blob = bytearray(crypto.b64decode(text))
    except ValueError:
        return text
    how = data.draw(st.sampled_from(["flip", "cut", "extend", "prefix"]))
    if how == "flip" and blob:
        blob[data.draw(st.integers(0, len(blob) - 1))] ^= data.draw(st.integers(1, 255))
    elif how == "cut":
        blob = blob[: data.draw(st.integers(0, len(blob)))]
    elif how == "extend":
        blob += data.draw(st.binary(min_size=1, max_size=40))
    else:
        blob[0:2] = data.draw(st.binary(min_size=2, max_size=2))
    return crypto.b64encode(bytes(blob))


@st.composite
def mutated(draw: st.DrawFn) -> Obj:
    """A valid SealedSecret with 1 to 4 random edits anywhere (values, keys, structure)."""
    obj = copy.deepcopy(draw(st.sampled_from(BASES)))
    data = draw(st.data())
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(list(paths(obj))))
        parent: Any = obj
        for part in path[:-1]:
            parent = parent[part]
        op = draw(st.sampled_from(["replace", "delete", "insert", "blob"]))
        if not path:
            if op == "insert" and isinstance(obj, dict):
                obj[draw(STRINGS)] = draw(JSON)
            continue
        here = parent[path[-1]]
        if op == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif op == "insert" and isinstance(here, dict):
            here[draw(STRINGS)] = draw(JSON)
        elif op == "blob" and isinstance(here, str):
            parent[path[-1]] = _mutate_blob(data, here)
        else:
            parent[path[-1]] = draw(JSON)
    return obj


def _ok_or(error: type[BaseException] | tuple[type[BaseException], ...],
           fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except error as exc:
        str(exc).encode("utf-8")  # printable, whatever the input
        return exc


@FUZZ
@given(raw=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_fuzz_load_any_bytes(raw: bytes) -> None:
    result = _ok_or(ManifestError, lambda: documents.load(raw, "input"))
    if not isinstance(result, ManifestError):
        assert all(isinstance(o, dict) for o in result)


@FUZZ
@given(obj=mutated(), data=st.data())
def test_fuzz_load_mutated_manifest_text(obj: Obj, data: st.DataObject) -> None:
    text = json.dumps(obj) if data.draw(st.booleans()) else yaml.safe_dump(obj)
    cut = data.draw(st.integers(0, len(text)))
    edit = data.draw(st.sampled_from(["", "[", "{", "&a ", "*a", "\n---\n", ": ", "\t", '"']))
    text = text[:cut] + edit + text[cut + data.draw(st.integers(0, 3)):]
    result = _ok_or(ManifestError, lambda: documents.load(text, "input"))
    if not isinstance(result, ManifestError):
        assert all(isinstance(o, dict) for o in result)
    _ok_or(RequestError, lambda: parse_sealed_secret(text.encode()))


def _plaintexts(secret: Obj) -> set[bytes]:
    return {base64.b64decode(v) for v in (secret.get("data") or {}).values()}


@FUZZ
@given(obj=mutated())
def test_fuzz_from_manifest_and_unseal(obj: Obj) -> None:
    result = _ok_or(SealerError, lambda: unseal(SealedSecret.from_manifest(obj), RING,
                                                accept_v1_data=True))
    if isinstance(result, SealerError):
        assert not any(v.decode("latin-1") in str(result) for v in SECRETS)
        return
    secret = result.secret
    meta = obj["metadata"]
    assert (secret["metadata"]["name"], secret["metadata"]["namespace"]) == (
        str(meta.get("name") or ""), str(meta.get("namespace") or ""))
    sealed = set(obj["spec"].get("encryptedData") or {})
    assert sealed <= set(secret.get("data") or {})
    _ok_or(SealerError, lambda: reencrypt(obj, RING))


_LOOP = asyncio.new_event_loop()


_KEYS = ClusterKeys("kube-system", "sealed-secrets-key")
_KEYS.replace([load_source(key_secret(PAIR, "k0"))])
_METRICS = Metrics()


def _unsealer() -> tuple[Unsealer, FakeCluster, dict[Any, Obj]]:
    """``make`` without re-parsing the key and a new metrics registry per example."""
    cluster, bodies = FakeCluster(), {}
    unsealer = Unsealer(Config(), cluster, _KEYS, InlinePool(),  # type: ignore[arg-type]
                        _METRICS, EventRecorder(cluster), bodies,  # type: ignore[arg-type]
                        now=lambda: "T")
    return unsealer, cluster, bodies


@FUZZ
@given(obj=mutated())
def test_fuzz_one_reconciliation(obj: Obj) -> None:
    unsealer, cluster, bodies = _unsealer()
    obj.setdefault("metadata", {})
    if not isinstance(obj["metadata"], dict):
        obj["metadata"] = {}
    obj["metadata"].update(name="name", namespace="ns")  # as the API server guarantees
    key = put(bodies, obj)
    with contextlib.suppress(kopf.TemporaryError, kopf.PermanentError):
        _LOOP.run_until_complete(unsealer.sync(key))
    said = json.dumps([cluster.statuses, cluster.events])
    for secret in SECRETS:
        assert secret.decode() not in said
        assert base64.b64encode(secret).decode() not in said
    assert set(cluster.secrets) <= {key}


@pytest.fixture(autouse=True, scope="module")
def _close_loop() -> Iterator[None]:
    yield
    _LOOP.close()
