"""Prometheus metrics under upstream's names, so existing dashboards and alerts keep working.

Each ``Metrics`` owns its registry: two operators in one process (HA tests) do not collide.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Collection, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

import sealer
from sealer.keys import KeyRing

PREFIX = "sealed_secrets_controller"
CONTENT_TYPE = CONTENT_TYPE_LATEST
_CONDITION_VALUE = {"False": -1.0, "Unknown": 0.0, "True": 1.0}
_INSTANCE_LABEL = "ss_app_kubernetes_io_instance"


class Metrics:
    """Every metric the controller exports."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.build_info = Gauge(
            f"{PREFIX}_build_info", "Build information.", ["revision"], registry=r
        )
        self.build_info.labels(revision=sealer.__version__).set(1)
        self.unseal_requests = Counter(
            f"{PREFIX}_unseal_requests",
            "Total number of sealed secret unseal requests",
            registry=r,
        )
        self.unseal_errors = Counter(
            f"{PREFIX}_unseal_errors",
            "Total number of sealed secret unseal errors by reason",
            ["reason", "namespace"],
            registry=r,
        )
        self.condition_info = Gauge(
            f"{PREFIX}_condition_info",
            "Current SealedSecret condition status. Values are -1 (false), 0 (unknown or absent),"
            " 1 (true)",
            ["namespace", "name", "condition", _INSTANCE_LABEL],
            registry=r,
        )
        self.http_requests = Counter(
            f"{PREFIX}_http_requests",
            "A counter for requests to the wrapped handler.",
            ["path", "code", "method"],
            registry=r,
        )
        self.http_duration = Histogram(
            f"{PREFIX}_http_request_duration_seconds",
            "A histogram of latencies for requests.",
            ["path", "method"],
            registry=r,
        )
        # Ours, beyond upstream.
        self.keys = Gauge(f"{PREFIX}_keys", "Sealing keys held by the controller.", registry=r)
        self.newest_key_created = Gauge(
            f"{PREFIX}_newest_key_creation_timestamp_seconds",
            "Creation time of the newest sealing key (age = time() - this).",
            registry=r,
        )
        self.objects_by_key = Gauge(
            f"{PREFIX}_objects_by_key",
            "SealedSecrets currently unsealed by each key.",
            ["key_fingerprint"],
            registry=r,
        )
        self.unseal_duration = Histogram(
            f"{PREFIX}_unseal_duration_seconds",
            "Time to decrypt one SealedSecret (all its items).",
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
        )
        self.items_decrypted = Counter(
            f"{PREFIX}_items_decrypted",
            "encryptedData items decrypted (an unchanged object after a restart costs none).",
            registry=r,
        )
        self.private_key_operations = Counter(
            f"{PREFIX}_private_key_operations",
            "Keys tried to open the items decrypted: one per item when the key-fingerprint"
            " annotation or the key remembered from the last unseal is right.",
            registry=r,
        )
        self._conditions: dict[tuple[str, str], tuple[str, str]] = {}

    def observe_keys(self, ring: KeyRing) -> None:
        self.keys.set(len(ring))
        newest = ring.newest
        self.newest_key_created.set(newest.created.timestamp() if newest else 0)

    def observe_condition(
        self, namespace: str, name: str, status: str, labels: Mapping[str, Any] | None = None
    ) -> None:
        """Upstream ``ObserveCondition`` for the one condition we write, ``Synced``."""
        instance = str((labels or {}).get("app.kubernetes.io/instance", ""))
        self._conditions[(namespace, name)] = ("Synced", instance)
        self.condition_info.labels(namespace, name, "Synced", instance).set(
            _CONDITION_VALUE.get(status, 0.0)
        )

    def forget(self, namespace: str, name: str) -> None:
        """Upstream ``UnregisterCondition``: a deleted object leaves no series behind."""
        known = self._conditions.pop((namespace, name), None)
        if known:
            condition, instance = known
            with contextlib.suppress(KeyError):
                self.condition_info.remove(namespace, name, condition, instance)

    def observe_key_usage(self, fingerprint: str, count: int) -> None:
        """How many SealedSecrets one key unseals now (a key that unseals none has no series)."""
        if count > 0:
            self.objects_by_key.labels(fingerprint).set(count)
        else:
            with contextlib.suppress(KeyError):
                self.objects_by_key.remove(fingerprint)

    def exposition(self, names: Collection[str] = ()) -> bytes:
        """The text format; only the samples named in ``names`` if any (``?name[]=``, as
        prometheus_client's own handler: a poller need not render every SealedSecret's series)."""
        return generate_latest(self.registry.restricted_registry(names) if names else self.registry)

    def time_http(self, path: str, method: str) -> _HttpTimer:
        return _HttpTimer(self, path, method)


class _HttpTimer:
    """Counts and times one HTTP request under its route's path (never the raw URL)."""

    def __init__(self, metrics: Metrics, path: str, method: str) -> None:
        self.metrics, self.path, self.method = metrics, path, method
        self.start = time.perf_counter()

    def done(self, code: int) -> None:
        self.metrics.http_duration.labels(self.path, self.method).observe(
            time.perf_counter() - self.start
        )
        self.metrics.http_requests.labels(self.path, str(code), self.method).inc()
