"""/metrics after real unseals, parsed with Prometheus' own parser."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from sealer.keys import KeyPair
from tests.integration.controller_fixtures import sealed_secret, wait_for
from tests.support import KubeAPI
from tests.support.ports import free_port


def scrape(port: int) -> dict[str, list[Any]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:  # noqa: S310
        text = resp.read().decode()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def value(samples: list[Any], metric: str, **labels: str) -> float | None:
    for sample in samples:
        if sample.name == metric and all(sample.labels.get(k) == v for k, v in labels.items()):
            return float(sample.value)
    return None


def test_metrics_after_real_unseals(kube_api: KubeAPI, controller: Callable[..., Any],
                                    key_pairs: tuple[KeyPair, KeyPair]) -> None:
    port = free_port()
    handle = controller(keys=list(key_pairs), listen_metrics_addr=f"127.0.0.1:{port}")
    good = key_pairs[0]
    for i in range(3):
        kube_api.create(sealed_secret(good, "default", f"ok-{i}", {"a": b"1", "b": b"2"}))
    bad = sealed_secret(good, "default", "bad", {"a": b"1"})
    bad["metadata"]["name"] = "moved"  # the label no longer matches: cannot decrypt
    kube_api.create(bad)
    for i in range(3):
        handle.wait_condition("default", f"ok-{i}", "True")
    handle.wait_condition("default", "moved", "False")

    def ready() -> dict[str, list[Any]] | None:
        got = scrape(port)
        decrypted = value(got["sealed_secrets_controller_items_decrypted"],
                          "sealed_secrets_controller_items_decrypted_total")
        return got if decrypted == 6 else None

    families = wait_for(ready, what="metrics")
    prefix = "sealed_secrets_controller_"
    assert value(families[prefix + "unseal_requests"], prefix + "unseal_requests_total") >= 4
    assert value(families[prefix + "unseal_errors"], prefix + "unseal_errors_total",
                 reason="unseal", namespace="default") >= 1
    for i in range(3):
        assert value(families[prefix + "condition_info"], prefix + "condition_info",
                     namespace="default", name=f"ok-{i}", condition="Synced") == 1
    assert value(families[prefix + "condition_info"], prefix + "condition_info",
                 namespace="default", name="moved", condition="Synced") == -1
    assert value(families[prefix + "keys"], prefix + "keys") == 2
    assert value(families[prefix + "objects_by_key"], prefix + "objects_by_key",
                 key_fingerprint=good.fingerprint) == 3
    assert value(families[prefix + "unseal_duration_seconds"],
                 prefix + "unseal_duration_seconds_count") >= 3
    assert value(families[prefix + "build_info"], prefix + "build_info") == 1
    # a deleted object leaves no series behind (upstream's UnregisterCondition)
    kube_api.delete("sealedsecrets", "ok-0", "default")
    wait_for(lambda: value(scrape(port)[prefix + "condition_info"], prefix + "condition_info",
                           name="ok-0") is None or None, what="series removed")
