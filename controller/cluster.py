"""The few Kubernetes API calls the controller makes, as JSON dicts, off the event loop.

The ``kubernetes`` client is synchronous: every call runs in a small thread pool of its own (not
the unseal pool, not asyncio's default executor). Bodies go and come as plain dicts; errors come
as :class:`ApiError`, whose message is the API server's (which never echoes Secret data values).
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import kopf
import kubernetes
import urllib3

from sealer.errors import ClusterError

Obj = dict[str, Any]
SS_GROUP, SS_VERSION, SS_PLURAL = "bitnami.com", "v1alpha1", "sealedsecrets"
_IMMUTABLE_SUFFIX = "field is immutable when `immutable` is set"


class ApiError(ClusterError):
    """A non-2xx answer (or no answer: ``status`` 0)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        self.status, self.reason, self.api_message = status, reason, message
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


class Cluster:
    """Async access to Secrets, SealedSecret status and Events."""

    def __init__(self, cfg: kubernetes.client.Configuration, io_threads: int = 8) -> None:
        self.configuration = cfg
        cfg.connection_pool_maxsize = max(io_threads, 4)
        self._client = kubernetes.client.ApiClient(cfg)
        self._executor = ThreadPoolExecutor(io_threads, thread_name_prefix="sealer-api")

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._client.close()  # type: ignore[no-untyped-call]

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Obj:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        try:
            request = self._client.param_serialize(
                method,
                path,
                header_params=headers,
                query_params=list((query or {}).items()),
                body=body,
                auth_settings=["BearerToken"],
            )
            response = self._client.call_api(*request, _request_timeout=(10, 60))
            raw: bytes = response.read()  # type: ignore[no-untyped-call]
        except kubernetes.client.exceptions.ApiException as exc:  # transport failures
            raise ApiError(int(exc.status or 0), str(exc.reason or ""), "") from None
        except (OSError, urllib3.exceptions.HTTPError) as exc:
            raise ApiError(0, type(exc).__name__, str(exc)) from None
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {}
        if not 200 <= response.status <= 299:
            message = data.get("message", "") if isinstance(data, dict) else ""
            raise ApiError(response.status, str(data.get("reason") or response.reason), message)
        return data if isinstance(data, dict) else {}

    async def _run(self, method: str, path: str, **kw: Any) -> Obj:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(self._call, method, path, **kw))

    # Secrets

    async def get_secret(self, namespace: str, name: str) -> Obj | None:
        try:
            return await self._run("GET", f"/api/v1/namespaces/{_q(namespace)}/secrets/{_q(name)}")
        except ApiError as exc:
            if exc.not_found:
                return None
            raise

    async def list_secrets(self, namespace: str, label_selector: str = "") -> list[Obj]:
        query = {"labelSelector": label_selector} if label_selector else {}
        result = await self._run("GET", f"/api/v1/namespaces/{_q(namespace)}/secrets", query=query)
        return list(result.get("items") or [])

    async def create_secret(self, namespace: str, body: Obj) -> Obj:
        return await self._run("POST", f"/api/v1/namespaces/{_q(namespace)}/secrets", body=body)

    async def replace_secret(self, namespace: str, name: str, body: Obj) -> Obj:
        """PUT with the ``resourceVersion`` in ``body``: a concurrent change gives 409."""
        path = f"/api/v1/namespaces/{_q(namespace)}/secrets/{_q(name)}"
        return await self._run("PUT", path, body=body)

    # SealedSecrets

    async def get_sealed_secret(self, namespace: str, name: str) -> Obj | None:
        path = _ss_path(namespace, name)
        try:
            return await self._run("GET", path)
        except ApiError as exc:
            if exc.not_found:
                return None
            raise

    async def patch_sealed_secret_status(self, namespace: str, name: str, status: Obj) -> Obj:
        path = _ss_path(namespace, name) + "/status"
        return await self._run(
            "PATCH", path, body={"status": status}, content_type="application/merge-patch+json"
        )

    # Events

    async def create_event(self, namespace: str, body: Obj) -> Obj:
        return await self._run("POST", f"/api/v1/namespaces/{_q(namespace)}/events", body=body)
