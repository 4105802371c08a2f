"""HTTP requests to the Kubernetes API server with aiohttp, on the event loop.

The credentials are those of a ``kubernetes.client.Configuration`` (``sealer.kube``'s
``load_configuration``: in-cluster service account or kubeconfig), applied as the ``kubernetes``
client applies them: bearer token (re-read through the configuration's refresh hook, so rotated
service account tokens and exec plugins keep working), client certificate, CA, ``verify_ssl``,
``assert_hostname``, ``tls_server_name`` and an HTTP proxy with ``no_proxy``.

Why not the ``kubernetes`` client itself: it is synchronous, so each call needed a thread, and
with the event loop and the decryption threads busy, those threads waited for the GIL at every
socket operation (bench/controller.py: 4 calls per SealedSecret took most of the time there).
Here a call is a coroutine: no thread, no hand-off; kopf already depends on aiohttp.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import kubernetes
from kubernetes.client.rest import should_bypass_proxies
from multidict import CIMultiDictProxy

from sealer.errors import ClusterError


class TransportError(ClusterError):
    """No answer: the connection failed or timed out (never carries a request body)."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason, self.detail = reason, message
        super().__init__(f"{reason}: {message}" if message else reason)


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    headers: CIMultiDictProxy[str]
    body: bytes


def ssl_context(cfg: kubernetes.client.Configuration) -> ssl.SSLContext:
    """The TLS settings ``kubernetes.client.rest`` would give urllib3, as an ``SSLContext``."""
    cadata = cfg.ca_cert_data
    if isinstance(cadata, bytes) and b"-----BEGIN" in cadata:
        cadata = cadata.decode("ascii")
    context = ssl.create_default_context(cafile=cfg.ssl_ca_cert or None, cadata=cadata or None)
    if cfg.cert_file:
        context.load_cert_chain(cfg.cert_file, cfg.key_file or None)
    if not cfg.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif cfg.assert_hostname is False:
        context.check_hostname = False
    return context


def auth_headers(cfg: kubernetes.client.Configuration) -> dict[str, str]:
    """``Authorization`` as the ``kubernetes`` client sends it (its refresh hook runs here)."""
    token = cfg.get_api_key_with_prefix("BearerToken", alias="authorization")
    if token:
        return {"Authorization": token}
    basic = cfg.get_basic_auth_token() if cfg.username and cfg.password else None
    return {"Authorization": basic} if basic else {}


class Transport:
    """One aiohttp session per event loop (made on first use, closed by :meth:`close`)."""

    def __init__(
        self,
        cfg: kubernetes.client.Configuration,
        max_connections: int = 16,
        timeout: tuple[float, float] = (10.0, 60.0),
    ) -> None:
        self.configuration, self.max_connections = cfg, max_connections
        self.base = str(cfg.host).rstrip("/")
        self._https = self.base.startswith("https:")
        self._ssl: ssl.SSLContext | bool = ssl_context(cfg) if self._https else False
        self._timeout = aiohttp.ClientTimeout(sock_connect=timeout[0], sock_read=timeout[1])
        self._proxy: dict[str, Any] = {}
        if cfg.proxy and not should_bypass_proxies(self.base, cfg.no_proxy or ""):
            if not str(cfg.proxy).startswith(("http://", "https://")):
                raise ClusterError(f"unsupported proxy {cfg.proxy!r}: only HTTP(S) proxies")
            self._proxy = {"proxy": cfg.proxy, "proxy_headers": cfg.proxy_headers or None}
        if cfg.tls_server_name:
            self._proxy["server_hostname"] = cfg.tls_server_name
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _session_here(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            connector = aiohttp.TCPConnector(limit=self.max_connections, ssl=self._ssl)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, skip_auto_headers=("User-Agent",)
            )
            self._loop = loop
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        session = self._session_here()
        sent = {"User-Agent": "sealer-controller", **auth_headers(self.configuration)}
        sent.update(headers or {})
        try:
            async with session.request(
                method,
                self.base + path,
                data=body,
                params=dict(query) if query else None,
                headers=sent,
                **self._proxy,
            ) as response:
                raw = await response.read()
                return Response(response.status, response.reason or "", response.headers, raw)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise TransportError(type(exc).__name__, str(exc)) from None

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
