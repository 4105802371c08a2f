"""API errors as ``Status`` bodies, and the object rules the API server applies on writes.

Pure functions over JSON dicts, used by the emulator; nothing here does I/O.
"""

from __future__ import annotations

import base64
import copy
import datetime
import re
import secrets
from typing import Any

from tests.support.kubeapi_catalog import ResourceType

Obj = dict[str, Any]

_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# The alphabet the API server uses for generateName suffixes (no vowels, no look-alikes).
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
SERVER_OWNED_META = (
    "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
    "generation", "resourceVersion", "selfLink",
)
_CODES = {
    400: "BadRequest", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
    406: "NotAcceptable", 409: "Conflict", 410: "Expired", 415: "UnsupportedMediaType",
    422: "Invalid", 429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable",
    504: "Timeout",
}


class ApiError(Exception):
    """An error the API answers with a ``Status`` body and the matching HTTP code."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str | None = None,
        details: Obj | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or _CODES.get(code, "Unknown")
        self.details = details
        self.headers = headers or {}

    def status(self) -> Obj:
        body: Obj = {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body

    @classmethod
    def not_found(cls, rt: ResourceType, name: str) -> ApiError:
        return cls(404, f'{rt.qualified} "{name}" not found', details=_details(rt, name))

    @classmethod
    def already_exists(cls, rt: ResourceType, name: str) -> ApiError:
        return cls(409, f'{rt.qualified} "{name}" already exists',
                   reason="AlreadyExists", details=_details(rt, name))

    @classmethod
    def conflict(cls, rt: ResourceType, name: str, why: str | None = None) -> ApiError:
        why = why or ("the object has been modified; "
                      "please apply your changes to the latest version and try again")
        return cls(409, f'Operation cannot be fulfilled on {rt.qualified} "{name}": {why}',
                   details=_details(rt, name))

    @classmethod
    def invalid(cls, rt: ResourceType, name: str, field: str, why: str) -> ApiError:
        kind = f"{rt.kind}.{rt.group}" if rt.group else rt.kind
        details = _details(rt, name, kind=rt.kind)
        details["causes"] = [{"reason": "FieldValueInvalid", "message": why, "field": field}]
        return cls(422, f'{kind} "{name}" is invalid: {field}: {why}', details=details)


def _details(rt: ResourceType, name: str, kind: str | None = None) -> Obj:
    details: Obj = {"name": name, "kind": kind or rt.plural}
    if rt.group:
        details["group"] = rt.group
    return details


def now() -> str:
    """An RFC 3339 timestamp in whole seconds, as the API server writes them."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def random_suffix(length: int = 5) -> str:
    return "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(length))


def name_problem(rt: ResourceType, name: str) -> str | None:
    """Why a name is not acceptable for the resource, or None."""
    label_only = rt.plural in ("namespaces", "services")
    limit = 63 if label_only else 253
    pattern = _LABEL_NAME_RE if label_only else _NAME_RE
    if len(name) > limit or not pattern.match(name):
        return (f"a lowercase RFC 1123 {'label' if label_only else 'subdomain'} must consist of "
                "lower case alphanumeric characters, '-' or '.', and must start and end with "
                f"an alphanumeric character (at most {limit} characters)")
    return None


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: dicts merge recursively, ``null`` removes, the rest replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strip_directives(patch: Any) -> Any:
    """Drop strategic-merge directives (``$patch``, ``$setElementOrder/...``, ``$retainKeys``)."""
    if isinstance(patch, dict):
        return {k: strip_directives(v) for k, v in patch.items() if not k.startswith("$")}
    if isinstance(patch, list):
        return [strip_directives(v) for v in patch if not (isinstance(v, dict) and "$patch" in v)]
    return patch


def fold_string_data(rt: ResourceType, obj: Obj) -> None:
    """Secrets: ``stringData`` is write-only; the server merges it into base64 ``data``.
    (Also the server's defaulting of a Secret's ``type`` to Opaque.)"""
    if (rt.group, rt.plural) != ("", "secrets"):
        return
    obj.setdefault("type", "Opaque")
    if "stringData" not in obj:
        return
    string_data = obj.pop("stringData") or {}
    data = dict(obj.get("data") or {})
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    obj["data"] = data


def immutable_problem(rt: ResourceType, old: Obj, new: Obj) -> tuple[str, str] | None:
    """Secrets and ConfigMaps marked ``immutable: true`` keep their data and the flag."""
    if (rt.group, rt.plural) not in (("", "secrets"), ("", "configmaps")):
        return None
    if not old.get("immutable"):
        return None
    if not new.get("immutable"):
        return "immutable", "field is immutable when `immutable` is set"
    for key in ("data", "binaryData"):
        if (old.get(key) or {}) != (new.get(key) or {}):
            return key, "field is immutable when `immutable` is set"
    return None


_SECRET_KEY_RE = re.compile(r"[-._a-zA-Z0-9]+")
MAX_SECRET_SIZE = 1024 * 1024
# ValidateSecret: the items a known Secret type requires (any one of several for basic-auth).
_TYPE_REQUIRES = {
    "kubernetes.io/tls": (("tls.crt",), ("tls.key",)),
    "kubernetes.io/dockerconfigjson": ((".dockerconfigjson",),),
    "kubernetes.io/dockercfg": ((".dockercfg",),),
    "kubernetes.io/basic-auth": (("username", "password"),),
    "kubernetes.io/ssh-auth": (("ssh-privatekey",),),
}


def secret_problem(rt: ResourceType, new: Obj, old: Obj | None) -> tuple[str, str] | None:
    """The API server's ``ValidateSecret`` (key names, 1 MiB of values, the items a known type
    requires) and ``ValidateSecretUpdate`` (the type is immutable). Values are never quoted."""
    if (rt.group, rt.plural) != ("", "secrets"):
        return None
    data = new.get("data") or {}
    if not isinstance(data, dict):
        return "data", "must be a map of base64 strings"
    total = 0
    for key, value in data.items():
        if (not _SECRET_KEY_RE.fullmatch(key) or len(key) > 253 or key in (".", "..")
                or key.startswith("..")):
            return f"data[{key}]", "a valid config key must consist of alphanumeric characters, "\
                                   "'-', '_' or '.'"
        try:
            total += len(base64.b64decode(str(value), validate=True))
        except ValueError:
            return f"data[{key}]", "<secret contents redacted>: illegal base64 data"
    if total > MAX_SECRET_SIZE:
        return "data", f"Too long: may not be more than {MAX_SECRET_SIZE} bytes"
    kind = new.get("type") or "Opaque"
    if not isinstance(kind, str):
        return "type", "must be a string"
    for alternatives in _TYPE_REQUIRES.get(kind, ()):
        if not any(a in data for a in alternatives):
            return f"data[{alternatives[0]}]", "Required value"
    if old is not None and (old.get("type") or "Opaque") != kind:
        return "type", "field is immutable"
    return None


def spec_part(rt: ResourceType, obj: Obj) -> Obj:
    """What a generation bump looks at: everything but metadata (and status if a subresource)."""
    skipped = {"metadata", "status"} if rt.has_status else {"metadata"}
    return {k: v for k, v in obj.items() if k not in skipped}


def without_resource_version(obj: Obj) -> Obj:
    meta = dict(obj.get("metadata") or {})
    meta.pop("resourceVersion", None)
    return {**obj, "metadata": meta}
