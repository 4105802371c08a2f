"""The controller's HTTP API, upstream-compatible so ``kubeseal`` works against us too.

Routes: ``/healthz``, ``/readyz``, ``/v1/cert.pem``, ``/v1/keys`` (ours: public facts of every
key), ``/v1/verify``, ``/v1/rotate``; ``/metrics`` is
served on its own port by :func:`metrics_app`. Nothing here ever returns or logs a plaintext:
verify answers only yes/no (and which item failed), rotate only ciphertexts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import limits
from aiohttp import web

from controller.metrics import CONTENT_TYPE, Metrics
from controller.reencrypt import reencrypt
from sealer import documents
from sealer.errors import DecryptionError, InputError, ManifestError, SealerError
from sealer.keys import KeyRing
from sealer.sealedsecret import KIND, SealedSecret, unseal

log = logging.getLogger(__name__)
T = TypeVar("T")
Offload = Callable[[Callable[[], T]], Awaitable[T]]
DEFAULT_MAX_BODY = 4 * 1024 * 1024  # a Secret is at most 1 MiB; sealing grows it by ~4/3 + 514 B


async def _to_thread(fn: Callable[[], T]) -> T:
    return await asyncio.to_thread(fn)


@dataclass
class ApiState:
    """What the API reads from the running controller."""

    keyring: Callable[[], KeyRing]
    ready: Callable[[], bool]
    metrics: Metrics
    offload: Offload[Any] = _to_thread
    max_body: int = DEFAULT_MAX_BODY
    verify_rate: str = "2/second"  # upstream: --rate-limit 2, burst 2, per X-Forwarded-For


def describe_keys(ring: KeyRing) -> list[dict[str, Any]]:
    """``state``: ``sealing`` (the key ``/v1/cert.pem`` serves), ``retired`` (decrypts, never
    sealed to) or ``active`` (decrypts; an older key, or one a newer key replaced)."""
    sealing = ring.newest
    return [
        {
            "fingerprint": pair.fingerprint,
            "secret": pair.name,
            "state": "sealing"
            if pair is sealing
            else "retired"
            if pair.fingerprint in ring.retired
            else "active",
            "created": _iso(pair.created),
            "notBefore": _iso(pair.certificate.not_before),
            "notAfter": _iso(pair.certificate.not_after),
            "bits": pair.certificate.public_key.key_size,
        }
        for pair in ring.pairs
    ]


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RequestError(InputError):
    """A body that is not exactly one SealedSecret."""


def parse_sealed_secret(body: bytes) -> dict[str, Any]:
    """One SealedSecret from JSON or YAML, read as the CLI reads files (``sealer.documents``:
    UTF-8, no aliases, duplicate keys or deep nesting; bounded work whatever the body)."""
    try:
        docs = documents.load(body, "request body")
    except ManifestError as exc:
        raise RequestError(str(exc)) from None
    if len(docs) != 1:
        raise RequestError(f"expected one SealedSecret, got {len(docs)} documents")
    if docs[0].get("kind") != KIND:
        raise RequestError("request body is not a SealedSecret")
    return docs[0]


class Api:
    """Route handlers over an :class:`ApiState`."""

    def __init__(self, state: ApiState) -> None:
        self.state = state
        self._limit = limits.parse(state.verify_rate)
        self._limiter = limits.strategies.MovingWindowRateLimiter(limits.storage.MemoryStorage())
        # verify and rotate decrypt whatever they are sent: one at a time, so however many
        # clients ask, they hold at most one thread of the pool the reconcilers decrypt in.
        self._decrypting = asyncio.Semaphore(1)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.state.max_body, middlewares=[self._observe])
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/v1/cert.pem", self.cert)
        app.router.add_get("/v1/keys", self.keys)
        app.router.add_post("/v1/verify", self.verify)
        app.router.add_post("/v1/rotate", self.rotate)
        return app

    @web.middleware
    async def _observe(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        route = request.match_info.route.resource
        path = route.canonical if route is not None else "other"
        timer = self.state.metrics.time_http(path, request.method)
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            timer.done(exc.status)
            raise
        timer.done(response.status)
        return response

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(self, request: web.Request) -> web.Response:
        if self.state.ready() and len(self.state.keyring()) > 0:
            return web.Response(text="ok\n")
        return web.Response(status=503, text="not ready: sealing keys are not loaded yet\n")

    async def cert(self, request: web.Request) -> web.Response:
        newest = self.state.keyring().newest
        if newest is None:
            return web.Response(status=500, text="no sealing key exists yet\n")
        return web.Response(body=newest.certificate.pem, content_type="application/x-pem-file")

    async def keys(self, request: web.Request) -> web.Response:
        """Ours: every key's public facts (never key material), newest first."""
        return web.json_response({"keys": describe_keys(self.state.keyring())})

    def _client(self, request: web.Request) -> str:
        # Behind the API server's service proxy every request comes from the API server, which
        # appends the address it was called from to X-Forwarded-For: the last entry. Earlier
        # entries are whatever the caller sent, and would give it a fresh quota per request.
        forwarded = request.headers.get("X-Forwarded-For", "")
        return forwarded.split(",")[-1].strip() or (request.remote or "unknown")

    def _throttled(self, request: web.Request, route: str) -> web.Response | None:
        if self._limiter.hit(self._limit, route, self._client(request)):
            return None
        return web.Response(
            status=429, text=f"too many {route} requests\n", headers={"Retry-After": "1"}
        )

    async def _decrypt(self, fn: Callable[[], T]) -> T:
        async with self._decrypting:
            result: T = await self.state.offload(fn)
            return result

    async def verify(self, request: web.Request) -> web.Response:
        if (refused := self._throttled(request, "verify")) is not None:
            return refused
        try:
            sealed = SealedSecret.from_manifest(parse_sealed_secret(await request.read()))
        except InputError as exc:
            return web.Response(status=400, text=f"{exc}\n")
        ring = self.state.keyring()
        try:
            await self._decrypt(lambda: unseal(sealed, ring))
        except SealerError as exc:  # undecryptable, or a template that cannot render
            return web.Response(status=409, text=f"{exc}\n")
        return web.Response(text="ok\n")

    async def rotate(self, request: web.Request) -> web.Response:
        if (refused := self._throttled(request, "rotate")) is not None:
            return refused
        try:
            manifest = parse_sealed_secret(await request.read())
            SealedSecret.from_manifest(manifest)
        except InputError as exc:
            return web.Response(status=400, text=f"{exc}\n")
        ring = self.state.keyring()
        if ring.newest is None:
            return web.Response(status=500, text="no sealing key exists yet\n")
        try:
            result = await self._decrypt(lambda: reencrypt(manifest, ring))
        except DecryptionError as exc:
            return web.Response(status=409, text=f"{exc}\n")
        except SealerError as exc:
            return web.Response(status=400, text=f"{exc}\n")
        return web.json_response(result)


def metrics_app(metrics: Metrics) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        body = metrics.exposition(request.query.getall("name[]", []))
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    app = web.Application()
    app.router.add_get("/metrics", handle)
    return app


async def serve(app: web.Application, listen: str) -> web.AppRunner:
    """Start ``app`` on ``host:port`` (``:8080`` means every interface); return its runner."""
    host, _, port = listen.rpartition(":")
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, host or None, int(port)).start()
    return runner


def bound_port(runner: web.AppRunner) -> int:
    """The port actually bound (for ``:0`` in tests)."""
    for address in runner.addresses:
        if isinstance(address, tuple):
            return int(address[1])
    raise RuntimeError("server is not listening on TCP")
