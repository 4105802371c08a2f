"""The few Kubernetes API calls the controller makes, as JSON dicts, on the event loop.

Requests go through :class:`~controller.transport.Transport` (aiohttp, with the credentials of a
``kubernetes.client.Configuration``). Bodies go and come as plain dicts; errors come as
:class:`ApiError`, whose message is the API server's (which never echoes Secret data values).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

import kopf
import kubernetes

from controller.transport import Transport, TransportError
from sealer.errors import ClusterError

Obj = dict[str, Any]
SS_GROUP, SS_VERSION, SS_PLURAL = "bitnami.com", "v1alpha1", "sealedsecrets"
_IMMUTABLE_SUFFIX = "field is immutable when `immutable` is set"
MAX_RETRY_AFTER = 300.0


class ApiError(ClusterError):
    """A non-2xx answer (or no answer: ``status`` 0)."""

    def __init__(
        self, status: int, reason: str, message: str, retry_after: float | None = None
    ) -> None:
        self.status, self.reason, self.api_message = status, reason, message
        self.retry_after = retry_after  # seconds, from a 429's (or 503's) Retry-After header
        super().__init__(f"{message or reason or 'API error'} (HTTP {status})")

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def immutable(self) -> bool:
        """Upstream's ``isImmutableError``: writing data of an immutable Secret."""
        return self.api_message.rstrip().endswith(_IMMUTABLE_SUFFIX)


def connection_info(cfg: kubernetes.client.Configuration) -> kopf.ConnectionInfo:
    """The same credentials, in the shape kopf's login handler returns (as ``login_via_client``)."""
    header = cfg.get_api_key_with_prefix("BearerToken") or cfg.get_api_key_with_prefix(
        "authorization"
    )
    parts = header.split(" ", 1) if header else []
    scheme, token = (
        (None, None) if not parts else (None, parts[0]) if len(parts) == 1 else (parts[0], parts[1])
    )
    return kopf.ConnectionInfo(
        server=cfg.host,
        ca_path=cfg.ssl_ca_cert,
        insecure=not cfg.verify_ssl,
        username=cfg.username or None,
        password=cfg.password or None,
        scheme=scheme,
        token=token,
        certificate_path=cfg.cert_file,
        private_key_path=cfg.key_file,
    )


def _q(part: str) -> str:
    return urllib.parse.quote(part, safe="")


def _ss_path(namespace: str, name: str) -> str:
    return f"/apis/{SS_GROUP}/{SS_VERSION}/namespaces/{_q(namespace)}/{SS_PLURAL}/{_q(name)}"


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the API server never sends the HTTP-date form), capped."""
    try:
        seconds = float(value) if value else None
    except ValueError:
        return None
    return None if seconds is None or seconds < 0 else min(seconds, MAX_RETRY_AFTER)


class Cluster:
    """Async access to Secrets, SealedSecret status and Events."""

    def __init__(
        self,
        cfg: kubernetes.client.Configuration,
        max_connections: int = 16,
        timeout: tuple[float, float] = (10.0, 60.0),
    ) -> None:
        self.configuration, self.timeout = cfg, timeout
        self.transport = Transport(cfg, max_connections, timeout)

    async def close(self) -> None:
        await self.transport.close()

    async def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Obj:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body, separators=(",", ":")).encode()
        try:
            response = await self.transport.request(method, path, data, query, headers)
        except TransportError as exc:
            raise ApiError(0, exc.reason, exc.detail) from None
        try:
            result = json.loads(response.body) if response.body else {}
        except ValueError:
            result = {}
        if not 200 <= response.status <= 299:
            message = result.get("message", "") if isinstance(result, dict) else ""
            reason = result.get("reason") if isinstance(result, dict) else None
            raise ApiError(
                response.status,
                str(reason or response.reason),
                str(message or ""),
                _retry_after(response.headers.get("Retry-After")),
            )
        return result if isinstance(result, dict) else {}

    # Secrets

    async def get_secret(self, namespace: str, name: str) -> Obj | None:
        try:
            return await self._call("GET", f"/api/v1/namespaces/{_q(namespace)}/secrets/{_q(name)}")
        except ApiError as exc:
            if exc.not_found:
                return None
            raise

    async def list_secrets(self, namespace: str, label_selector: str = "") -> list[Obj]:
        query = {"labelSelector": label_selector} if label_selector else {}
        result = await self._call("GET", f"/api/v1/namespaces/{_q(namespace)}/secrets", query=query)
        return list(result.get("items") or [])

    async def create_secret(self, namespace: str, body: Obj) -> Obj:
        return await self._call("POST", f"/api/v1/namespaces/{_q(namespace)}/secrets", body=body)

    async def replace_secret(self, namespace: str, name: str, body: Obj) -> Obj:
        """PUT with the ``resourceVersion`` in ``body``: a concurrent change gives 409."""
        path = f"/api/v1/namespaces/{_q(namespace)}/secrets/{_q(name)}"
        return await self._call("PUT", path, body=body)

    # SealedSecrets

    async def get_sealed_secret(self, namespace: str, name: str) -> Obj | None:
        path = _ss_path(namespace, name)
        try:
            return await self._call("GET", path)
        except ApiError as exc:
            if exc.not_found:
                return None
            raise

    async def patch_sealed_secret_status(self, namespace: str, name: str, status: Obj) -> Obj:
        path = _ss_path(namespace, name) + "/status"
        return await self._call(
            "PATCH", path, body={"status": status}, content_type="application/merge-patch+json"
        )

    # ConfigMaps (the key rotation request)

    async def patch_config_map(self, namespace: str, name: str, patch: Obj) -> Obj:
        path = f"/api/v1/namespaces/{_q(namespace)}/configmaps/{_q(name)}"
        return await self._call(
            "PATCH", path, body=patch, content_type="application/merge-patch+json"
        )

    # Events

    async def create_event(self, namespace: str, body: Obj) -> Obj:
        return await self._call("POST", f"/api/v1/namespaces/{_q(namespace)}/events", body=body)

    # Discovery (no RBAC needed: every authenticated user may read it)

    async def served_resources(self, group_version: str) -> set[str]:
        """The resource names (plurals, ``x/status`` for subresources) served in a group version
        (``v1`` or ``group/version``); empty if the API server does not serve it."""
        path = f"/apis/{group_version}" if "/" in group_version else f"/api/{group_version}"
        try:
            result = await self._call("GET", path)
        except ApiError as exc:
            if exc.not_found:
                return set()
            raise
        return {str(r.get("name")) for r in result.get("resources") or [] if isinstance(r, dict)}

    # kopf's peering object (high availability)

    async def get_peering(self, name: str) -> Obj | None:
        try:
            return await self._call("GET", f"/apis/kopf.dev/v1/clusterkopfpeerings/{_q(name)}")
        except ApiError as exc:
            if exc.not_found:
                return None
            raise
