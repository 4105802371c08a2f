"""Request routing for the emulator: what a path addresses, the Kubernetes verb of a request,
reading request bodies (JSON, YAML, kubectl's protobuf), and JSON responses."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp.web
import kmock
import yaml

from tests.support import kubeapi_protobuf as protobuf
from tests.support.kubeapi_objects import ApiError


@dataclass(frozen=True)
class Target:
    """What a URL path addresses: a discovery document or a resource (object, list, sub)."""

    kind: str  # api, apis, group, version, resource
    group: str = ""
    version: str = ""
    plural: str | None = None
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None


def parse_target(path: str) -> Target | None:
    parts = [part for part in path.split("/") if part]
    if not parts or parts[0] not in ("api", "apis"):
        return None
    if parts[0] == "api":
        if len(parts) == 1:
            return Target("api")
        group, version, rest = "", parts[1], parts[2:]
    else:
        if len(parts) <= 2:
            return Target("apis") if len(parts) == 1 else Target("group", group=parts[1])
        group, version, rest = parts[1], parts[2], parts[3:]
    if not rest:
        return Target("version", group, version)
    namespace = None
    namespace_sub = len(rest) == 3 and rest[2] in ("status", "finalize")
    if rest[0] == "namespaces" and len(rest) >= 3 and not namespace_sub:
        namespace, rest = rest[1], rest[2:]
    return Target("resource", group, version, rest[0], namespace,
                  rest[1] if len(rest) > 1 else None, "/".join(rest[2:]) or None)


def verb_of(method: str, target: Target | None, params: Mapping[str, str]) -> str:
    if target is None:
        return "other"
    if target.kind != "resource":
        return "discovery"
    if target.subresource and target.subresource.split("/")[0] == "proxy":
        return "proxy"
    if method == "GET":
        if params.get("watch") in ("true", "1"):
            return "watch"
        return "get" if target.name else "list"
    return {"POST": "create", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete" if target.name else "deletecollection"}.get(method, "other")


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None,
                  ) -> aiohttp.web.Response:
    return aiohttp.web.Response(body=json.dumps(obj).encode(), status=status,
                                content_type="application/json", headers=headers)


def decode(content_type: str, body: bytes) -> Any:
    if not body:
        return None
    try:
        if "yaml" in content_type:
            return yaml.safe_load(body)
        if "protobuf" in content_type or "cbor" in content_type:
            return None
        return json.loads(body)
    except (ValueError, yaml.YAMLError):
        return None


def request_object(content_type: str, request: kmock.Request) -> Any:
    """The request's object: JSON or YAML as parsed, protobuf for a few core kinds."""
    if "protobuf" in content_type:
        try:
            return protobuf.decode(request.body)
        except ValueError as exc:
            raise ApiError(415, f"the API stand-in cannot read this protobuf body: {exc}; "
                                "send JSON") from exc
    if "cbor" in content_type:
        raise ApiError(415, f"the API stand-in only reads JSON bodies, not {content_type}")
    return request.data
