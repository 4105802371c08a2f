"""``StandinEmulator``: kmock's KubernetesEmulator with the API server semantics kopf, the
``kubernetes`` client and kubectl rely on (see tests/support/README.md for the list).

kmock stays the store (``emulator.objects``), the resource registry (``emulator.resources``),
the request history (``list(emulator)``) and the reaction DSL (``emulator['get /x'] << 500``);
this class replaces its request routing and its simplistic object semantics.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import aiohttp.web
import attrs
import kmock

from tests.support.kubeapi_catalog import Catalog, kmock_resource
from tests.support.kubeapi_hooks import (
    Fault,
    FaultSet,
    MatchStats,
    RequestLog,
    RequestRecord,
    contains,
    forward,
    iter_reactions,
    proxied_service,
    trim,
)
from tests.support.kubeapi_objects import ApiError
from tests.support.kubeapi_reads import Reads
from tests.support.kubeapi_routes import (
    Target,
    decode,
    json_response,
    parse_target,
    request_object,
    verb_of,
)
from tests.support.kubeapi_tables import accepts_table, table
from tests.support.kubeapi_watch import WatchHub
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


@attrs.define(kw_only=True)
class StandinEmulator(Reads, Writes, kmock.KubernetesEmulator):
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
            text=body.decode("utf-8", errors="replace"), data=decode(raw.content_type, body),
            action=_ACTIONS.get(verb),
            resource=kmock_resource(target.group, target.version, target.plural)
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
            if fault is not None and fault.delay_response:
                await asyncio.sleep(fault.delay_response)
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
            except kmock.ReactionMismatchError:  # type: ignore[attr-defined]
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
        if sub == "status" and verb not in ("get", "update", "patch"):
            raise ApiError(405, f"{verb} is not supported on {rt.qualified}/status",
                           reason="MethodNotAllowed")
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
            created = self._create(rt, namespace, request_object(raw.content_type, request), dry)
            return json_response(self._present(rt, created), 201)
        assert name is not None or verb == "deletecollection"
        if verb == "update":
            updated = self._replace(rt, namespace, name or "", sub,
                                    request_object(raw.content_type, request), dry)
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

    # --- the service proxy -----------------------------------------------------------------

    async def _proxy(self, request: kmock.Request, target: Target) -> aiohttp.web.StreamResponse:
        raw = request._raw_request
        assert raw is not None and target.name is not None
        backend = self.proxies.get((target.namespace or "default", proxied_service(target.name)))
        if backend is None:
            raise ApiError(503, f'no endpoints available for service "{target.name}"')
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return await forward(self._session, raw, request.body, backend)
