"""Key rotation on request, without a restart, a signal or a hand-made Secret.

``sealer keys rotate`` (or anyone RBAC allows to) sets the annotation
``sealer.dev/rotation-request: <id>`` on the ConfigMap ``sealed-secrets-key-rotation`` of the key
namespace. The acting controller (with peering, a paused replica sees no events) makes a new key
in the cluster, exactly as a scheduled renewal does, then answers on the same ConfigMap:
``sealer.dev/rotation-done: <id>`` and, in ``data``, the new key's public facts (fingerprint,
Secret name, certificate expiry) or the error. The private key never leaves the cluster.

A request already answered is never handled again (restarts, resyncs, our own write's echo).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from controller.cluster import ApiError, Cluster
from controller.keyring import KeyManager
from sealer.errors import SealerError
from sealer.keyrotation import CONFIG_MAP, DONE_ANNOTATION, REQUEST_ANNOTATION

log = logging.getLogger(__name__)
MAX_REQUEST_ID = 253
__all__ = ["CONFIG_MAP", "RotationRequests", "field_selector", "pending_request"]


def field_selector(namespace: str) -> str:
    """Server-side filter for the ConfigMap watch: this one object and nothing else."""
    return f"metadata.name={CONFIG_MAP},metadata.namespace={namespace}"


def pending_request(body: Mapping[str, Any], namespace: str) -> str | None:
    """The id of a request on ``body`` not answered yet, if ``body`` is our ConfigMap."""
    meta = body.get("metadata") or {}
    if meta.get("name") != CONFIG_MAP or meta.get("namespace") != namespace:
        return None
    annotations = meta.get("annotations") or {}
    request = annotations.get(REQUEST_ANNOTATION)
    if not isinstance(request, str) or not request or request == annotations.get(DONE_ANNOTATION):
        return None
    return request


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RotationRequests:
    """Answers rotation requests with a new key from the :class:`KeyManager`."""

    def __init__(self, key_manager: KeyManager, cluster: Cluster, namespace: str) -> None:
        self.key_manager, self.cluster, self.namespace = key_manager, cluster, namespace
        self.rotations = 0
        self._answered: set[str] = set()
        self._lock = asyncio.Lock()

    async def on_config_map(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        if event_type == "DELETED":
            return
        request = pending_request(body, self.namespace)
        if request is None:
            return
        async with self._lock:
            if request in self._answered:  # an event from before our answer was written
                return
            data = await self._rotate(request)
            patch = {
                "metadata": {"annotations": {DONE_ANNOTATION: request}},
                "data": {"request": request, **data},
            }
            try:
                await self.cluster.patch_config_map(self.namespace, CONFIG_MAP, patch)
            except ApiError as exc:  # the key exists; the requester times out and can look
                log.error("key rotation %s: cannot record the answer: %s", request, exc)
                return
            self._answered.add(request)

    async def _rotate(self, request: str) -> dict[str, str | None]:
        if len(request) > MAX_REQUEST_ID:
            return {"error": f"request id longer than {MAX_REQUEST_ID} characters"}
        try:
            pair = await self.key_manager.generate(seed=request)
        except (SealerError, OSError) as exc:  # never carries key material
            log.error("key rotation %s failed: %s", request, exc)
            return {"error": f"making the new key failed: {exc}"}
        self.rotations += 1
        log.info("key rotation %s: new sealing key %s (%s)", request, pair.name, pair.fingerprint)
        return {
            "fingerprint": pair.fingerprint,
            "secret": pair.name,
            "notAfter": _iso(pair.certificate.not_after),
            "rotatedAt": _iso(dt.datetime.now(dt.UTC)),
            "error": None,  # merge patch: drop an earlier request's error
        }
