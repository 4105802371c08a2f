"""Fixtures for the controller's end-to-end tests (loaded from tests/conftest.py).

- ``key_pairs``: two RSA-4096 key pairs, made once per session (in parallel threads).
- ``vector_key_pair(pem, cert)``: an upstream-made key pair of tests/vectors, parsed once.
- ``controller``: ``controller(keys=[pair, ...], **config)`` puts those keys in the key namespace as
  upstream-style key Secrets, then starts the real operator (kopf + :class:`Runtime`) against the
  stand-in (``kube_api``) and returns a :class:`Controller` handle; every controller started is
  stopped at teardown. With keys given, the controller generates none of its own.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from controller.config import Config
from controller.operator import OperatorThread
from controller.runtime import Runtime
from controller.unsealer import Counters
from sealer import crypto, keys
from sealer.keys import KeyPair
from sealer.scope import KEY_FINGERPRINT_ANNOTATION, Scope
from tests.support.kopf_harness import quick_settings
from tests.support.kubeapi import KubeAPI

T = TypeVar("T")
Obj = dict[str, Any]
KEY_NS = "kube-system"
VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def _one_pair(bits: int) -> tuple[bytes, bytes]:
    key, cert = keys.generate(bits)
    return keys.private_key_pem(key), keys.certificate_from_x509(cert).pem


def make_pairs(n: int, bits: int = 4096) -> list[KeyPair]:
    """In threads (OpenSSL releases the GIL while generating): no fork of a threaded process."""
    with ThreadPoolExecutor(min(n, 4)) as pool:
        pems = list(pool.map(_one_pair, [bits] * n))
    return [keys.key_pair(k, c) for k, c in pems]


@pytest.fixture(scope="session")
def key_pairs() -> tuple[KeyPair, KeyPair]:
    first, second = make_pairs(2)
    return first, second


def vector(name: str) -> Obj:
    data: Obj = json.loads((VECTORS / name).read_text())
    return data


@functools.cache
def vector_key_pair(private_key_pem: str, cert_pem: str) -> KeyPair:
    return keys.key_pair(private_key_pem.encode(), cert_pem.encode())



def key_secret(pair: KeyPair, name: str, namespace: str = KEY_NS) -> Obj:
    """The key Secret upstream's controller writes, under a fixed name."""
    return keys.key_secret(pair, namespace, "sealed-secrets-key", name=name)


def sealed_secret(
    pair: KeyPair,
    namespace: str,
    name: str,
    items: Mapping[str, bytes],
    *,
    scope: Scope = Scope.STRICT,
    template: Obj | None = None,
    annotations: Mapping[str, str] | None = None,
    hint: bool = True,
) -> Obj:
    """A SealedSecret manifest whose items are sealed to ``pair`` for this name and scope."""
    label = scope.label(namespace, name)
    encrypted = {
        item: crypto.b64encode(crypto.seal(pair.certificate.public_key, value, label))
        for item, value in items.items()
    }
    meta_annotations = scope.annotate(annotations)
    if hint:
        meta_annotations[KEY_FINGERPRINT_ANNOTATION] = pair.fingerprint
    meta: Obj = {"name": name, "namespace": namespace}
    if meta_annotations:
        meta["annotations"] = meta_annotations
    spec: Obj = {"encryptedData": encrypted}
    if template is not None:
        spec["template"] = template
    return {"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "metadata": meta,
            "spec": spec}


def wait_for(predicate: Callable[[], T | None], timeout: float = 15.0, what: str = "") -> T:
    """Poll ``predicate`` until it returns something truthy (a readiness wait, not a timing)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.01)


class Controller:
    """A running controller and the stand-in it talks to."""

    def __init__(self, api: KubeAPI, thread: OperatorThread) -> None:
        self.api, self.thread = api, thread

    @property
    def runtime(self) -> Runtime:
        return self.thread.runtime

    @property
    def counters(self) -> Counters:
        return self.runtime.counters

    def stop(self) -> None:
        self.thread.stop()

    def idle(self, timeout: float = 15.0) -> None:
        """Until the work queue is drained (retries scheduled for later do not count)."""
        self.thread.call(lambda: self.runtime.wait_idle(timeout), timeout + 5)

    def secret(self, namespace: str, name: str) -> Obj | None:
        return self.api.get("secrets", name, namespace)

    def wait_secret(self, namespace: str, name: str,
                    check: Callable[[Obj], bool] = lambda s: True) -> Obj:
        def ready() -> Obj | None:
            secret = self.secret(namespace, name)
            return secret if secret is not None and check(secret) else None

        return wait_for(ready, what=f"Secret {namespace}/{name}")

    def condition(self, namespace: str, name: str) -> Obj | None:
        obj = self.api.get("sealedsecrets", name, namespace) or {}
        conditions = (obj.get("status") or {}).get("conditions") or []
        return next((c for c in conditions if c.get("type") == "Synced"), None)

    def wait_condition(self, namespace: str, name: str, status: str) -> Obj:
        def ready() -> Obj | None:
            cond = self.condition(namespace, name)
            return cond if cond is not None and cond.get("status") == status else None

        return wait_for(ready, what=f"Synced={status} on {namespace}/{name}")

    def events(self, namespace: str, name: str, reason: str | None = None) -> list[Obj]:
        return [
            e for e in self.api.list("events", namespace)
            if e.get("involvedObject", {}).get("name") == name
            and (reason is None or e.get("reason") == reason)
        ]


ControllerFactory = Callable[..., Controller]


def new_watches(api: KubeAPI, before: Sequence[object] = ()) -> list[object]:
    """The watch streams open now that were not in ``before`` (a stopped controller's streams
    may still be closing: counting all of them would miss the new ones)."""
    return [w for w in api.call(lambda: list(api.emulator.hub.watchers))
            if not any(w is old for old in before)]


def data_of(secret: Mapping[str, Any]) -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}


@pytest.fixture
def controller(kube_api: KubeAPI, kubeconfig: Path) -> Iterator[ControllerFactory]:
    started: list[Controller] = []

    def start(keys: Sequence[KeyPair] = (), *, key_names: Sequence[str] = (),
              **overrides: Any) -> Controller:
        for i, pair in enumerate(keys):
            name = key_names[i] if i < len(key_names) else f"sealed-secrets-key{i:05d}"
            if kube_api.get("secrets", name, KEY_NS) is None:
                kube_api.create(key_secret(pair, name))
        options: dict[str, Any] = {
            "kubeconfig": str(kubeconfig),
            "key_namespace": KEY_NS,
            "listen_addr": "",
            "listen_metrics_addr": "",
            "retry_base_delay": 0.05,
            "retry_max_delay": 1.0,
            "key_renew_period": dt.timedelta(0),
            "key_size": 2048,  # only for keys the controller makes itself: fast to generate
            "reconcile_workers": 4,
            **overrides,
        }
        before = new_watches(kube_api)
        thread = OperatorThread(Config(**options), settings=quick_settings())
        handle = Controller(kube_api, thread.start())
        started.append(handle)
        # kopf is ready before it watches; stopping it mid-discovery stalls its exit for 5 s.
        # Watching: CRDs, Secrets, SealedSecrets, the key rotation ConfigMap; with --namespace,
        # the last three per namespace and no CRDs (controller/handlers.py: scanning off). With
        # peering, the peering object (and CRDs if cluster-wide): a paused replica watches
        # nothing else.
        namespaced = bool(options.get("namespaces"))
        streams = 3 * len({*options["namespaces"], options["key_namespace"]}) if namespaced else 4
        if options.get("peering"):
            streams = 1 if namespaced else 2
        wait_for(lambda: len(new_watches(kube_api, before)) >= streams, what="kopf watching")
        return handle

    yield start
    for handle in reversed(started):
        handle.thread.stop()
