"""A Kubernetes API stand-in for tests: kmock's emulator, made faithful enough for kopf, the
``kubernetes`` client and kubectl, served over HTTP on 127.0.0.1 from its own thread.

    with KubeAPI.start(crds=[Path("crds/sealedsecret.yaml")]) as api:
        api.write_kubeconfig(tmp_path / "kubeconfig")
        ...  # sync clients, kubectl, kopf: all may block freely
        assert api.count(verb="create", resource="secrets") == 1

``python -m tests.support.kubeapi --port 8001 --kubeconfig /tmp/kubeconfig`` serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import builtins
import concurrent.futures
import http.client
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import aiohttp.test_utils
import aiohttp.web
import kmock
import yaml

from tests.support.kubeapi_catalog import ResourceType, load_crd_documents
from tests.support.kubeapi_emulator import StandinEmulator
from tests.support.kubeapi_hooks import Fault, RequestRecord
from tests.support.kubeapi_query import make_matcher

Obj = dict[str, Any]
T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
SEALEDSECRET_CRD = ROOT / "crds" / "sealedsecret.yaml"


@dataclass(frozen=True)
class HttpResult:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def lines(self) -> list[Any]:
        """A watch response's events, one JSON document per line."""
        return [json.loads(line) for line in self.body.splitlines() if line.strip()]


MAX_REQUEST_BODY = 3 * 1024 * 1024  # the API server's MaxRequestBodyBytes (aiohttp: 1 MiB)


class _RawServer(aiohttp.test_utils.RawTestServer):
    """Accepts request bodies up to :data:`MAX_REQUEST_BODY`, as the API server does."""

    async def _make_runner(self, debug: bool = True, **kwargs: Any) -> aiohttp.web.ServerRunner:
        def request(message: Any, payload: Any, protocol: Any, writer: Any,
                    task: Any) -> aiohttp.web.BaseRequest:
            return aiohttp.web.BaseRequest(message, payload, protocol, writer, task,
                                           asyncio.get_running_loop(),
                                           client_max_size=MAX_REQUEST_BODY)

        server = aiohttp.web.Server(self._handler, loop=self._loop, debug=debug,
                                    request_factory=request, **kwargs)
        return aiohttp.web.ServerRunner(server, debug=debug, **kwargs)


class LoopbackServer(kmock.Server):
    """kmock's Server minus its process-wide aiohttp DNS interceptor, which would patch every
    aiohttp client in the process (kopf's too) and must be unwound in strict LIFO order."""

    async def __aenter__(self) -> LoopbackServer:
        self._managed_server = _RawServer(self.handler, host=self._host, port=self._port)
        await self._managed_server.__aenter__()
        self._managed_client = self._client_fct(self._managed_server.make_url("/"))
        await self._managed_client.__aenter__()
        self.handler.servers.append(self)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        self.handler.servers.remove(self)
        assert self._managed_client is not None and self._managed_server is not None
        await self._managed_client.__aexit__(exc_type, exc, tb)
        await self._managed_server.__aexit__(exc_type, exc, tb)
        self._managed_client = self._managed_server = None


class KubeAPI:
    """The stand-in, running on its own thread and event loop; every method is thread-safe."""

    def __init__(
        self,
        *,
        crds: Iterable[Path | str] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        garbage_collector: bool = True,
        history_limit: int = 2_000,
        watch_log_limit: int = 20_000,
        request_log_limit: int = 10_000,
    ) -> None:
        self._crds = list(crds)
        self.host, self.port = host, port
        self._options = {"gc_enabled": garbage_collector, "history_limit": history_limit}
        self._watch_log_limit, self._request_log_limit = watch_log_limit, request_log_limit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._emulator: StandinEmulator | None = None

    # --- lifecycle -------------------------------------------------------------------------

    @classmethod
    def start(cls, crds: Iterable[Path | str] = (), **options: Any) -> KubeAPI:
        """Start serving on ``host:port`` (a free port by default) and return when ready."""
        api = cls(crds=crds, **options)
        api._thread = threading.Thread(target=api._run, name="kubeapi-standin", daemon=True)
        api._thread.start()
        if not api._ready.wait(30) or api._error is not None:
            api.stop()
            raise RuntimeError(f"the API stand-in did not start: {api._error!r}")
        return api

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # surfaced to start()
            self._error = exc
        finally:
            self._ready.set()
            loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        emulator = StandinEmulator(**self._options)  # type: ignore[arg-type]
        emulator.hub.limit = self._watch_log_limit
        emulator.log.limit = self._request_log_limit
        crd_type = emulator.catalog.lookup("apiextensions.k8s.io", "v1",
                                           "customresourcedefinitions")
        assert crd_type is not None
        for crd in load_crd_documents(self._crds):
            emulator._create(crd_type, None, crd, dry=False)
        self._emulator = emulator
        async with emulator, LoopbackServer(emulator, host=self.host, port=self.port or None):
            server = emulator.servers[0]
            self.port = server.port
            emulator.address = f"{self.host}:{self.port}"
            self._ready.set()
            await self._stopping.wait()
            emulator.hub.cut_all()
            await asyncio.sleep(0.01)  # let the cut streams finish before the server closes

    def stop(self) -> None:
        """Close every watch, stop serving, join the thread. Idempotent."""
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            stopping = self._stopping
            if stopping is not None:
                loop.call_soon_threadsafe(stopping.set)
            thread.join(30)
        self._thread = None

    def __enter__(self) -> KubeAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def emulator(self) -> StandinEmulator:
        """The kmock emulator itself (its store, resources, reactions). Touch it from the API's
        loop (see ``call``) unless you only add kmock reactions."""
        assert self._emulator is not None, "not started"
        return self._emulator

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the API's event loop (atomically w.r.t. requests); its result."""
        if self._loop is None or self._loop.is_closed():
            raise RuntimeError("the API stand-in is not running")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn(*args))
            except BaseException as exc:
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return future.result(30)

    # --- clients ---------------------------------------------------------------------------

    def kubeconfig(self, namespace: str = "default") -> Obj:
        return {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "standin", "cluster": {"server": self.url}}],
            "users": [{"name": "standin", "user": {}}],
            "contexts": [{"name": "standin", "context": {
                "cluster": "standin", "user": "standin", "namespace": namespace}}],
            "current-context": "standin",
        }

    def write_kubeconfig(self, path: Path | str, namespace: str = "default") -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.kubeconfig(namespace)))
        return path

    def http(self, method: str, path: str, body: Any = None, *,
             content_type: str = "application/json", headers: dict[str, str] | None = None,
             timeout: float = 10) -> HttpResult:
        """One raw HTTP request (``body`` JSON-encoded unless bytes); reads the whole answer."""
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            sent = {**({"Content-Type": content_type} if data is not None else {}),
                    **(headers or {})}
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            return HttpResult(response.status, dict(response.getheaders()), response.read())
        finally:
            conn.close()

    # --- the store, from tests (same semantics as over HTTP: versions, events, GC) ---------

    def resource(self, name: str) -> ResourceType:
        """A served resource by plural, ``plural.group``, kind or short name."""
        return self.call(self.emulator.catalog.find, name)

    def get(self, resource: str, name: str, namespace: str | None = None) -> Obj | None:
        rt = self.resource(resource)
        return self.call(self.emulator._current, rt, namespace, name)

    def list(self, resource: str, namespace: str | None = None,
             label_selector: str | None = None) -> list[Obj]:
        rt = self.resource(resource)
        matches = make_matcher(namespace if rt.namespaced else None, label_selector)
        items = self.call(self.emulator._stored, rt)
        return sorted((o for o in items if matches(o)),
                      key=lambda o: (o["metadata"].get("namespace") or "", o["metadata"]["name"]))

    def create(self, obj: Obj) -> Obj:
        rt = self.resource(obj["kind"])
        return self.call(self.emulator._create, rt, obj["metadata"].get("namespace"), obj, False)

    def patch(self, resource: str, name: str, patch: Any, namespace: str | None = None,
              subresource: str | None = None,
              content_type: str = "application/merge-patch+json") -> Obj:
        rt = self.resource(resource)
        return self.call(self.emulator._patch, rt, namespace, name, subresource, content_type,
                         patch, False)

    def delete(self, resource: str, name: str, namespace: str | None = None,
               propagation_policy: str | None = None) -> Obj:
        rt = self.resource(resource)
        options = {"propagationPolicy": propagation_policy} if propagation_policy else {}
        return self.call(self.emulator._delete, rt, namespace, name, options, False)

    @property
    def resource_version(self) -> int:
        return self.emulator.resource_version

    # --- test hooks ------------------------------------------------------------------------

    def register_service_proxy(self, namespace: str, name: str, backend_url: str) -> None:
        """Route ``/api/v1/namespaces/NS/services/[scheme:]NAME[:port]/proxy/...`` to a backend."""
        self.emulator.proxies[namespace, name] = backend_url

    def unregister_service_proxy(self, namespace: str, name: str) -> None:
        self.emulator.proxies.pop((namespace, name), None)

    def inject(self, *, verb: str | None = None, resource: str | None = None,
               namespace: str | None = None, name: str | None = None,
               subresource: str | None = None, status: int | None = 500,
               times: int | None = 1, retry_after: int | None = None,
               delay: float | None = None, message: str | None = None,
               delay_response: float | None = None) -> Fault:
        """Fail (``status``) and/or slow down (``delay``) the next ``times`` matching requests.
        ``delay_response`` carries the request out, then waits before answering: a client
        that times out meanwhile never learns that its write was made.

        ``verb`` is a Kubernetes verb (get, list, watch, create, update, patch, delete,
        deletecollection, proxy); ``resource`` a plural or ``plural.group``.
        """
        fault = Fault(verb=verb, resource=resource, namespace=namespace, name=name,
                      subresource=subresource, status=status, times=times,
                      retry_after=retry_after, delay=delay, message=message,
                      delay_response=delay_response)
        return self.emulator.faults.add(fault)

    def clear_faults(self) -> None:
        self.emulator.faults.clear()

    def cut_watches(self, abort: bool = False) -> int:
        """End every open watch stream now (``abort``: drop the TCP connection instead of a
        clean end of stream). Returns how many were open."""
        return self.call(self.emulator.hub.cut_all, abort)

    @property
    def open_watches(self) -> int:
        return self.call(lambda: len(self.emulator.hub.watchers))

    def watching(self, resource: str) -> int:
        """How many watch streams are open on a resource (plural, ``plural.group``, kind)."""
        storage = self.resource(resource).storage
        return self.call(lambda: sum(w.resource == storage for w in self.emulator.hub.watchers))

    def requests(self, **match: Any) -> builtins.list[RequestRecord]:
        """Logged requests (the most recent ``request_log_limit``) whose fields equal ``match``,
        e.g. ``api.requests(verb="patch", resource="sealedsecrets", subresource="status")``."""
        return [r for r in self.emulator.log.snapshot()
                if all(getattr(r, key) == value for key, value in match.items())]

    def count(self, verb: str | None = None, resource: str | None = None, **match: Any) -> int:
        """How many requests matched; by verb/resource alone it counts since start (or reset)."""
        if match:
            return len(self.requests(**{k: v for k, v in
                                        {"verb": verb, "resource": resource, **match}.items()
                                        if v is not None}))
        return self.emulator.log.count(verb, resource)

    def reset_log(self) -> None:
        self.emulator.log.clear()

    def stats(self) -> dict[str, int]:
        emulator = self.emulator
        return {
            "requests_total": emulator.log.total,
            "request_log": len(emulator.log.records),
            "kmock_history": len(emulator._requests),
            "watch_log": len(emulator.hub.log),
            "open_watches": len(emulator.hub.watchers),
            "fast_matches": emulator.match_stats.fast,
            "slow_matches": emulator.match_stats.slow,
            "resource_version": emulator.resource_version,
        }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--kubeconfig", type=Path, help="write a kubeconfig for it here")
    parser.add_argument("--namespace", default="default", help="the kubeconfig's namespace")
    parser.add_argument("--crd", type=Path, action="append",
                        help=f"CRD YAML to load (repeatable; default {SEALEDSECRET_CRD})")
    parser.add_argument("--no-gc", action="store_true", help="no owner-reference GC")
    parser.add_argument("--proxy", action="append", default=[], metavar="NS/NAME=URL",
                        help="serve the service proxy of NS/NAME from URL (repeatable)")
    args = parser.parse_args(argv)
    crds = args.crd if args.crd is not None else [SEALEDSECRET_CRD]
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with KubeAPI.start(crds=crds, host=args.host, port=args.port,
                       garbage_collector=not args.no_gc) as api:
        if args.kubeconfig:
            api.write_kubeconfig(args.kubeconfig, args.namespace)
        for spec in args.proxy:
            service, _, url = spec.partition("=")
            namespace, _, name = service.partition("/")
            if not (namespace and name and url):
                parser.error(f"--proxy {spec!r}: expected NS/NAME=URL")
            api.register_service_proxy(namespace, name, url)
        print(f"Kubernetes API stand-in serving on {api.url}", flush=True)
        while not stop.wait(0.5):
            pass
    return 0


__all__ = ["HttpResult", "KubeAPI", "LoopbackServer", "main"]

if __name__ == "__main__":
    sys.exit(main())
