"""Asking the controller for a new key: a Kubernetes object, so RBAC decides who may.

The request is the annotation ``sealer.dev/rotation-request: <id>`` on the ConfigMap
``sealed-secrets-key-rotation`` of the key namespace (made on first use). The acting controller
makes the key in the cluster, then answers on the same ConfigMap (``sealer.dev/rotation-done``
and, in ``data``, the new key's fingerprint and Secret name, or the error). See
``controller/rotation.py`` for the other side and docs/key-rotation.md for the RBAC.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sealer.errors import ClusterError
from sealer.kube import KubeClient

CONFIG_MAP = "sealed-secrets-key-rotation"
REQUEST_ANNOTATION = "sealer.dev/rotation-request"
DONE_ANNOTATION = "sealer.dev/rotation-done"
MERGE_PATCH = "application/merge-patch+json"


@dataclass(frozen=True)
class Rotation:
    request: str
    fingerprint: str
    secret: str
    not_after: str


def _path(namespace: str, name: str = "") -> str:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    return f"{base}/{name}" if name else base


def request_rotation(
    client: KubeClient,
    namespace: str,
    *,
    timeout: float = 120.0,
    poll: float = 0.2,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Rotation:
    """Ask for a new key and wait for the controller's answer."""
    request = uuid.uuid4().hex
    _send(client, namespace, request)
    deadline = clock() + timeout
    while True:
        answer = _answer(client, namespace, request)
        if answer is not None:
            return answer
        if clock() > deadline:
            raise ClusterError(
                f"no controller answered the key rotation request {request} within "
                f"{timeout:.0f} s (is the controller running and does it watch {namespace}?); "
                "the request stays pending and is handled when a controller sees it"
            )
        sleep(poll)


def _send(client: KubeClient, namespace: str, request: str) -> None:
    patch = {"metadata": {"annotations": {REQUEST_ANNOTATION: request}}}
    for _ in range(3):
        response = client.request("PATCH", _path(namespace, CONFIG_MAP), patch, MERGE_PATCH)
        if response.status == 404:
            body = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": CONFIG_MAP, "namespace": namespace,
                             "annotations": {REQUEST_ANNOTATION: request}},
            }  # fmt: skip
            response = client.request("POST", _path(namespace), body)
            if response.status == 409:  # made meanwhile by someone else: annotate it
                continue
        _check(response.status, namespace)
        return
    raise ClusterError(f"cannot make or update configmap {namespace}/{CONFIG_MAP}")


def _check(status: int, namespace: str) -> None:
    if status == 403:
        raise ClusterError(
            f"not allowed to request a key rotation: RBAC must grant patch (and create, if it "
            f"does not exist yet) on configmaps/{CONFIG_MAP} in namespace {namespace}"
        )
    if not 200 <= status <= 299:
        raise ClusterError(f"the key rotation request failed (HTTP {status})")


def _answer(client: KubeClient, namespace: str, request: str) -> Rotation | None:
    response = client.request("GET", _path(namespace, CONFIG_MAP))
    _check(response.status, namespace)
    try:
        obj: dict[str, Any] = json.loads(response.body)
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        data = obj.get("data") or {}
    except (ValueError, AttributeError):
        raise ClusterError(f"configmap {namespace}/{CONFIG_MAP} is not understood") from None
    if annotations.get(DONE_ANNOTATION) != request or data.get("request") != request:
        return None
    if data.get("error"):
        raise ClusterError(f"the controller could not rotate the key: {data['error']}")
    if not data.get("fingerprint"):
        raise ClusterError(f"configmap {namespace}/{CONFIG_MAP}: the answer names no key")
    return Rotation(
        request, str(data["fingerprint"]), str(data.get("secret") or ""), str(data.get("notAfter"))
    )
