"""Kubernetes Events on SealedSecrets, with upstream's reasons and source component, so
``kubectl describe sealedsecret`` and alerts on event reasons read the same as with upstream.

A failing object is retried forever here (upstream stops after 5): the same warning is therefore
posted again only after ``repeat_after`` seconds, not on every retry.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any

from controller.cluster import Cluster
from sealer.errors import SealerError

log = logging.getLogger(__name__)

UNSEALED = "Unsealed"  # upstream SuccessUnsealed
ERR_UNSEAL_FAILED = "ErrUnsealFailed"
ERR_UPDATE_FAILED = "ErrUpdateFailed"
NORMAL, WARNING = "Normal", "Warning"
COMPONENT = "sealed-secrets"  # upstream's EventSource component
UNSEALED_MESSAGE = "SealedSecret unsealed successfully"
MAX_MESSAGE = 1024
_counter = itertools.count()


def event_body(
    obj: Mapping[str, Any], type_: str, reason: str, message: str, now: dt.datetime
) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 3] + "..."
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    unique = f"{time.time_ns():x}{next(_counter):x}"[-16:]
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta.get('name')}.{unique}", "namespace": meta.get("namespace")},
        "involvedObject": {
            "apiVersion": obj.get("apiVersion") or "bitnami.com/v1alpha1",
            "kind": obj.get("kind") or "SealedSecret",
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
        },
        "type": type_,
        "reason": reason,
        "message": message,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": os.environ.get("HOSTNAME") or socket.gethostname(),
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


class EventRecorder:
    """Posts Events; a failure to post is logged, never raised (as client-go's recorder)."""

    def __init__(
        self,
        cluster: Cluster,
        repeat_after: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cluster, self.repeat_after, self.clock = cluster, repeat_after, clock
        self._last: dict[tuple[str, str], tuple[str, str, str, float]] = {}

    async def record(self, obj: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        meta = obj.get("metadata") or {}
        key = (str(meta.get("namespace")), str(meta.get("name")))
        last = self._last.get(key)
        now = self.clock()
        repeated = last is not None and last[:3] == (type_, reason, message)
        if repeated and type_ == WARNING and now - last[3] < self.repeat_after:  # type: ignore[index]
            return
        self._last[key] = (type_, reason, message, now)
        body = event_body(obj, type_, reason, message, dt.datetime.now(dt.UTC))
        try:
            await self.cluster.create_event(key[0], body)
        except SealerError as exc:
            log.warning("could not post event %s for %s/%s: %s", reason, *key, exc)

    def forget(self, namespace: str, name: str) -> None:
        self._last.pop((namespace, name), None)
