"""``StandinEmulator``: kmock's KubernetesEmulator with the API server semantics kopf, the
``kubernetes`` client and kubectl rely on (see tests/support/README.md for the list).

kmock stays the store (``emulator.objects``), the resource registry (``emulator.resources``),
the request history (``list(emulator)``) and the reaction DSL (``emulator['get /x'] << 500``);
this class replaces its request routing and its simplistic object semantics.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
import aiohttp.web
import attrs
import kmock
import yaml
import yarl

from tests.support import kubeapi_protobuf as protobuf
from tests.support.kubeapi_catalog import Catalog, ResourceType
from tests.support.kubeapi_hooks import (
    Fault,
    FaultSet,
    MatchStats,
    RequestLog,
    RequestRecord,
    contains,
    iter_reactions,
    trim,
)
from tests.support.kubeapi_objects import ApiError
from tests.support.kubeapi_query import make_matcher
from tests.support.kubeapi_tables import accepts_table, table
from tests.support.kubeapi_watch import CUT, Watcher, WatchHub
from tests.support.kubeapi_writes import Key, Writes

logger = logging.getLogger(__name__)
Obj = dict[str, Any]
SERVER_VERSION = {
    "major": "1", "minor": "37", "gitVersion": "v1.37.0+sealer-standin",
    "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.25", "compiler": "gc",
    "platform": "linux/amd64",
}
_ACTIONS = {"get": kmock.action.FETCH, "list": kmock.action.LIST, "watch": kmock.action.WATCH,
            "create": kmock.action.CREATE, "update": kmock.action.UPDATE,
            "patch": kmock.action.UPDATE, "delete": kmock.action.DELETE}


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


def verb_of(method: str, target: Target | None, params: dict[str, str]) -> str:
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


@attrs.define(kw_only=True)
class StandinEmulator(Writes, kmock.KubernetesEmulator):
    gc_enabled: bool = True  # the owner-reference garbage collector
    history_limit: int = 2_000  # kmock's own request history is trimmed to this
    address: str = "127.0.0.1:0"
    catalog: Catalog = attrs.field(init=False)
    hub: WatchHub = attrs.field(factory=WatchHub)
    log: RequestLog = attrs.field(factory=RequestLog)
    faults: FaultSet = attrs.field(factory=FaultSet)
    match_stats: MatchStats = attrs.field(factory=MatchStats)
    proxies: dict[tuple[str, str], str] = attrs.field(factory=dict)
    _rv: int = attrs.field(default=0, init=False)
    _propagation: dict[Key, str] = attrs.field(factory=dict, init=False)
    _session: aiohttp.ClientSession | None = attrs.field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._payloads.clear()  # kmock's fallback reactions: all replaced by _dispatch()
        self.catalog = Catalog(mirror=self._resources)
        namespaces = self.catalog.lookup("", "v1", "namespaces")
        assert namespaces is not None
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self._create(namespaces, None, {"metadata": {"name": name}}, dry=False)

    async def __aexit__(self, *exc: Any) -> None:
        self.hub.cut_all()
        if self._session is not None:
            await self._session.close()
            self._session = None
        await super().__aexit__(*exc)

    @property
    def resource_version(self) -> int:
        return self._rv

    # --- the entry point -------------------------------------------------------------------

    async def __call__(self, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        body = await raw.read()
        target = parse_target(raw.path)
        params = dict(raw.query)
        verb = verb_of(raw.method, target, params)
        request = kmock.Request(
            id=len(self._requests), method=raw.method, url=raw.url, params=params,
            headers=dict(raw.headers), cookies=dict(raw.cookies), body=body,
            text=body.decode("utf-8", errors="replace"), data=_decode(raw.content_type, body),
            action=_ACTIONS.get(verb),
            resource=kmock.resource(target.group, target.version, target.plural)
            if target and target.kind == "resource" else None,
            namespace=target.namespace if target else None,
            name=target.name if target else None,
            subresource=target.subresource if target else None,
            raw_request=raw,
        )
        self._requests.append(request)
        trim(self._requests, self.history_limit)
        record = RequestRecord(
            seq=self.log.total, method=raw.method, path=raw.path, query=raw.query_string,
            verb=verb, group=target.group if target else None,
            version=target.version if target else None,
            resource=target.plural if target else None,
            subresource=target.subresource if target else None,
            namespace=target.namespace if target else None, name=target.name if target else None,
        )
        self.log.add(record)
        try:
            fault = self.faults.take(record)
            if fault is not None:
                await self._apply_fault(fault, record)
            response = await self._handle(request)
        except ApiError as exc:
            response = json_response(exc.status(), exc.code, exc.headers)
        except kmock.KubernetesError as exc:
            error = ApiError(exc.status, exc.message or repr(exc))
            response = json_response(error.status(), exc.status)
        except Exception as exc:
            logger.exception("The API stand-in failed on %s %s", raw.method, raw.path_qs)
            error = ApiError(500, f"{type(exc).__name__}: {exc}")
            response = json_response(error.status(), 500)
        record.status = response.status
        return response

    async def _apply_fault(self, fault: Fault, record: RequestRecord) -> None:
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.status is not None:
            record.fault = True
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else None
            raise ApiError(fault.status, fault.message or f"injected fault for {record.verb}",
                           headers=headers)

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        """User-declared kmock reactions first (O(1) membership), then the API itself."""
        for reaction in iter_reactions(self):
            if reaction._disabled.is_set():
                continue
            self.match_stats.checks += 1
            if not contains(reaction._source, request, self.match_stats):
                continue
            try:
                return await reaction(request)
            except kmock.ReactionMismatchError:
                reaction._disabled.set()
            except NotImplementedError:
                pass
        return await self._dispatch(request)

    # --- routing ---------------------------------------------------------------------------

    async def _dispatch(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        raw = request._raw_request
        assert raw is not None
        target = parse_target(raw.path)
        if target is None:
            return self._non_api(raw.path)
        if target.kind != "resource":
            doc = self._discovery(target)
            if doc is None:
                raise ApiError(404, "the server could not find the requested resource")
            return json_response(doc)
        rt = self.catalog.lookup(target.group, target.version, target.plural or "")
        if rt is None or (target.namespace is not None and not rt.namespaced):
            raise ApiError(404, "the server could not find the requested resource")
        verb = verb_of(raw.method, target, request.params)
        sub = target.subresource
        if verb == "proxy":
            return await self._proxy(request, target)
        if sub is not None and (sub not in rt.subresources or sub != "status"):
            raise ApiError(404, "the server could not find the requested resource")
        if sub is None and verb not in rt.verbs:
            raise ApiError(405, f"{verb} is not supported on {rt.qualified}",
                           reason="MethodNotAllowed")
        namespace, name = target.namespace, target.name
        dry = request.params.get("dryRun") == "All"
        accept = raw.headers.get("Accept", "")
        if verb == "get":
            assert name is not None
            obj = self._current(rt, namespace, name)
            if obj is None:
                raise ApiError.not_found(rt, name)
            if accepts_table(accept):
                return json_response(table(rt, [obj], {"resourceVersion": str(self._rv)},
                                           request.params.get("includeObject", "Metadata")))
            return json_response(self._present(rt, obj))
        if verb == "list":
            return json_response(self._list(rt, namespace, request.params, accept))
        if verb == "watch":
            return await self._watch(raw, rt, namespace, name, request.params, accept)
        if verb == "create":
            if name is not None:
                raise ApiError(405, "POST is not allowed on a named object",
                               reason="MethodNotAllowed")
            created = self._create(rt, namespace, _body(raw.content_type, request), dry)
            return json_response(self._present(rt, created), 201)
        assert name is not None or verb == "deletecollection"
        if verb == "update":
            updated = self._replace(rt, namespace, name or "", sub,
                                    _body(raw.content_type, request), dry)
            return json_response(self._present(rt, updated))
        if verb == "patch":
            patched = self._patch(rt, namespace, name or "", sub, raw.content_type,
                                  request.data, dry)
            return json_response(self._present(rt, patched))
        options = dict(request.data) if isinstance(request.data, dict) else {}
        for field in ("propagationPolicy", "orphanDependents"):
            if field in request.params:
                options.setdefault(field, request.params[field] != "false"
                                   if field == "orphanDependents" else request.params[field])
        if verb == "delete":
            deleted = self._delete(rt, namespace, name or "", options, dry)
            return json_response(self._present(rt, deleted))
        if verb == "deletecollection":
            listing = self._list(rt, namespace, request.params, "")
            for item in listing["items"]:
                meta = item["metadata"]
                self._delete(rt, meta.get("namespace"), meta["name"], options, dry)
            return json_response(listing)
        raise ApiError(405, f"{raw.method} is not supported here", reason="MethodNotAllowed")

    def _non_api(self, path: str) -> aiohttp.web.StreamResponse:
        path = path.rstrip("/") or "/"
        if path == "/version":
            return json_response(SERVER_VERSION)
        if path in ("/healthz", "/livez", "/readyz"):
            return aiohttp.web.Response(text="ok")
        if path == "/openapi/v3":
            return json_response(self.catalog.openapi_root())
        if path.startswith("/openapi/v3/"):
            parts = path.split("/")[3:] + ["", "", ""]
            group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
            doc = self.catalog.openapi_group_version(group, version) if version else None
            if doc is not None:
                return json_response(doc)
        if path == "/":
            paths = {"/api", "/api/v1", "/apis", "/version", "/healthz"}
            for group, versions in self.catalog.groups().items():
                paths |= {f"/apis/{group}"} | {f"/apis/{group}/{v}" for v in versions}
            return json_response({"paths": sorted(paths)})
        raise ApiError(404, "the server could not find the requested resource")

    def _discovery(self, target: Target) -> Obj | None:
        if target.kind == "api":
            return self.catalog.api_versions(self.address)
        if target.kind == "apis":
            return self.catalog.api_group_list()
        if target.kind == "group":
            return self.catalog.api_group(target.group)
        if target.kind == "version" and (target.group or target.version == "v1"):
            return self.catalog.resource_list(target.group, target.version)
        return None

    def _present(self, rt: ResourceType, obj: Obj) -> Obj:
        """The object as seen through the requested version of its resource."""
        if obj.get("apiVersion") == rt.api_version:
            return obj
        return {**obj, "apiVersion": rt.api_version}

    # --- reads -----------------------------------------------------------------------------

    def _matcher(self, rt: ResourceType, namespace: str | None, name: str | None,
                 params: dict[str, str]) -> Any:
        try:
            return make_matcher(namespace if rt.namespaced else None,
                                params.get("labelSelector"), params.get("fieldSelector"), name)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from exc

    def _list(self, rt: ResourceType, namespace: str | None, params: dict[str, str],
              accept: str) -> Obj:
        matches = self._matcher(rt, namespace, None, params)
        items = sorted(
            (self._present(rt, obj) for obj in self._stored(rt) if matches(obj)),
            key=lambda o: (o["metadata"].get("namespace") or "", o["metadata"]["name"]),
        )
        metadata: Obj = {"resourceVersion": str(self._rv)}
        if token := params.get("continue"):
            try:
                after = tuple(json.loads(base64.urlsafe_b64decode(token))["after"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ApiError(400, "invalid continue token") from exc
            items = [o for o in items
                     if (o["metadata"].get("namespace") or "", o["metadata"]["name"]) > after]
        limit = int(params.get("limit") or 0)
        if 0 < limit < len(items):
            last = items[limit - 1]["metadata"]
            after_key = [last.get("namespace") or "", last["name"]]
            metadata["continue"] = base64.urlsafe_b64encode(
                json.dumps({"after": after_key}).encode()).decode()
            metadata["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        if accepts_table(accept):
            return table(rt, items, metadata, params.get("includeObject", "Metadata"))
        return {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": metadata,
                "items": items}

    async def _watch(self, raw: aiohttp.web.BaseRequest, rt: ResourceType,
                     namespace: str | None, name: str | None, params: dict[str, str],
                     accept: str) -> aiohttp.web.StreamResponse:
        watcher = Watcher(rt.storage, self._matcher(rt, namespace, name, params))
        since = params.get("resourceVersion") or ""
        initial = params.get("sendInitialEvents") == "true" or since in ("", "0")
        events: list[tuple[str, Obj]] = []
        gone = False
        # Synchronously, so that no write can fall between the snapshot and the subscription:
        if initial:
            events = [("ADDED", o) for o in self._stored(rt) if watcher.matches(o)]
        else:
            try:
                backlog = self.hub.backlog(watcher, int(since))
            except ValueError as exc:
                raise ApiError(400, f"invalid resourceVersion {since!r}") from exc
            gone = backlog is None
            events = backlog or []
        snapshot_rv = self._rv
        self.hub.watchers.add(watcher)
        try:
            response = aiohttp.web.StreamResponse(
                status=200, headers={"Content-Type": "application/json"})
            response.enable_chunked_encoding()
            await response.prepare(raw)
            as_table = accepts_table(accept)
            include = params.get("includeObject", "Metadata")
            first = True

            async def send(etype: str, obj: Obj) -> None:
                nonlocal first
                if as_table and etype in ("ADDED", "MODIFIED", "DELETED"):
                    obj = table(rt, [obj], {"resourceVersion": obj["metadata"].get(
                        "resourceVersion", "")}, include, headers=first)
                    first = False
                elif etype != "ERROR":
                    obj = self._present(rt, obj)
                await response.write(json.dumps({"type": etype, "object": obj}).encode() + b"\n")

            if gone:
                expired = ApiError(410, f"too old resource version: {since} "
                                        f"({self.hub.trimmed_rv})", reason="Expired")
                await send("ERROR", expired.status())
                return response
            for etype, obj in events:
                await send(etype, obj)
            if params.get("sendInitialEvents") == "true" and params.get(
                    "allowWatchBookmarks") == "true":
                await send("BOOKMARK", {
                    "kind": rt.kind, "apiVersion": rt.api_version,
                    "metadata": {"resourceVersion": str(snapshot_rv),
                                 "annotations": {"k8s.io/initial-events-end": "true"}}})
            loop = asyncio.get_running_loop()
            timeout = float(params["timeoutSeconds"]) if params.get("timeoutSeconds") else None
            deadline = loop.time() + timeout if timeout else None
            while True:
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(watcher.queue.get(), remaining)
                except TimeoutError:
                    break
                if item is CUT:
                    if watcher.abort and raw.transport is not None:
                        raw.transport.abort()
                        return response
                    break
                await send(*item)
            await response.write_eof()
            return response
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            return response  # the client went away
        finally:
            self.hub.watchers.discard(watcher)

    # --- the service proxy -----------------------------------------------------------------

    async def _proxy(self, request: kmock.Request, target: Target) -> aiohttp.web.StreamResponse:
        raw = request._raw_request
        assert raw is not None and target.name is not None
        parts = target.name.split(":")
        service = parts[1] if len(parts) == 3 else parts[0]
        backend = self.proxies.get((target.namespace or "default", service))
        if backend is None:
            raise ApiError(503, f'no endpoints available for service "{target.name}"')
        # /api/v1/namespaces/NS/services/NAME/proxy/<tail>: the tail starts at segment 8.
        tail = "/" + "/".join(raw.url.raw_path.split("/")[8:])
        url = backend.rstrip("/") + tail
        if raw.url.raw_query_string:
            url += "?" + raw.url.raw_query_string
        headers = {k: v for k, v in raw.headers.items() if k.lower() in ("content-type", "accept")}
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.request(raw.method, yarl.URL(url, encoded=True),
                                             data=request.body or None,
                                             headers=headers, allow_redirects=False) as resp:
                payload = await resp.read()
                out = {"Content-Type": resp.headers["Content-Type"]} \
                    if "Content-Type" in resp.headers else {}
                return aiohttp.web.Response(status=resp.status, body=payload, headers=out)
        except aiohttp.ClientError as exc:
            raise ApiError(503, f"error trying to reach service: {exc}") from exc


def _decode(content_type: str, body: bytes) -> Any:
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


def _body(content_type: str, request: kmock.Request) -> Any:
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
