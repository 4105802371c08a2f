"""Just enough of the Kubernetes protobuf encoding to read what kubectl's typed commands send.

``kubectl create secret|configmap|namespace|serviceaccount`` POST their object as
``application/vnd.kubernetes.protobuf``: the magic ``k8s\\0``, then a ``runtime.Unknown``
(typeMeta, raw) whose ``raw`` is the object's message. We decode those few core/v1 kinds
(and ObjectMeta's user-settable fields) into the JSON form; anything else is refused (415).
Responses are always JSON, which kubectl accepts.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

MAGIC = b"k8s\x00"
Obj = dict[str, Any]

# field number -> (JSON name, how to decode); "msg:X" nests, "map"/"bmap" are string/bytes maps.
_SCHEMAS: dict[str, dict[int, tuple[str, str]]] = {
    "ObjectMeta": {
        1: ("name", "str"), 2: ("generateName", "str"), 3: ("namespace", "str"),
        11: ("labels", "map"), 12: ("annotations", "map"),
        13: ("ownerReferences", "list:OwnerReference"), 14: ("finalizers", "list:str"),
    },
    "OwnerReference": {
        1: ("kind", "str"), 3: ("name", "str"), 4: ("uid", "str"), 5: ("apiVersion", "str"),
        6: ("controller", "bool"), 7: ("blockOwnerDeletion", "bool"),
    },
    "Secret": {
        1: ("metadata", "msg:ObjectMeta"), 2: ("data", "bmap"), 3: ("type", "str"),
        4: ("stringData", "map"), 5: ("immutable", "bool"),
    },
    "ConfigMap": {
        1: ("metadata", "msg:ObjectMeta"), 2: ("data", "map"), 3: ("binaryData", "bmap"),
        4: ("immutable", "bool"),
    },
    "Namespace": {1: ("metadata", "msg:ObjectMeta"), 2: ("spec", "msg:NamespaceSpec")},
    "NamespaceSpec": {1: ("finalizers", "list:str")},
    "ServiceAccount": {1: ("metadata", "msg:ObjectMeta"),
                       4: ("automountServiceAccountToken", "bool")},
}


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield number, value
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > len(buf):
                raise ValueError("truncated field")
            yield number, buf[pos:pos + length]
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise ValueError(f"unsupported wire type {wire}")


def _entry(raw: bytes) -> tuple[str, bytes]:
    key, value = b"", b""
    for number, item in _fields(raw):
        if number == 1 and isinstance(item, bytes):
            key = item
        elif number == 2 and isinstance(item, bytes):
            value = item
    return key.decode(), value


def _message(raw: bytes, schema: str) -> Obj:
    fields = _SCHEMAS[schema]
    obj: Obj = {}
    for number, item in _fields(raw):
        if number not in fields:
            continue
        name, how = fields[number]
        if how == "bool":
            obj[name] = bool(item)
        elif not isinstance(item, bytes):
            continue
        elif how == "str":
            if item:
                obj[name] = item.decode()
        elif how in ("map", "bmap"):
            key, value = _entry(item)
            decoded = value.decode() if how == "map" else base64.b64encode(value).decode()
            obj.setdefault(name, {})[key] = decoded
        elif how == "list:str":
            obj.setdefault(name, []).append(item.decode())
        elif how.startswith("list:"):
            obj.setdefault(name, []).append(_message(item, how[5:]))
        elif how.startswith("msg:"):
            obj[name] = _message(item, how[4:])
    return obj


def decode(body: bytes) -> Obj:
    """The JSON form of a protobuf-encoded core/v1 object; ValueError if not one we read."""
    if not body.startswith(MAGIC):
        raise ValueError("not a Kubernetes protobuf envelope")
    api_version = kind = ""
    raw = b""
    for number, item in _fields(body[len(MAGIC):]):
        if number == 1 and isinstance(item, bytes):
            for sub, value in _fields(item):
                if sub == 1 and isinstance(value, bytes):
                    api_version = value.decode()
                elif sub == 2 and isinstance(value, bytes):
                    kind = value.decode()
        elif number == 2 and isinstance(item, bytes):
            raw = item
    if api_version != "v1" or kind not in ("Secret", "ConfigMap", "Namespace", "ServiceAccount"):
        raise ValueError(f"protobuf bodies of {api_version}/{kind} are not supported")
    return {"apiVersion": api_version, "kind": kind, **_message(raw, kind)}
