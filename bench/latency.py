"""The controller against the Kubernetes API stand-in: create-to-Secret latency, burst throughput,
and a restart over unchanged objects (which must decrypt nothing).

The stand-in runs in this process and shares its GIL with the controller: absolute figures are
lower bounds for a real cluster; the restart's decryption count is the point.

Run: ``.venv/bin/python bench/latency.py [--burst N]``; writes bench/results/latency.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import write  # noqa: E402
from controller.config import Config  # noqa: E402
from controller.operator import OperatorThread  # noqa: E402
from tests.integration.controller_fixtures import (  # noqa: E402
    KEY_NS,
    key_secret,
    make_pairs,
    sealed_secret,
)
from tests.support.kopf_harness import quick_settings  # noqa: E402
from tests.support.kubeapi import SEALEDSECRET_CRD, KubeAPI  # noqa: E402


def until(predicate: object, timeout: float = 120.0, every: float = 0.0005) -> None:
    deadline = time.perf_counter() + timeout
    while not predicate():  # type: ignore[operator]
        if time.perf_counter() > deadline:
            raise TimeoutError
        time.sleep(every)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--single", type=int, default=50, help="objects created one at a time")
    parser.add_argument("--burst", type=int, default=300, help="objects created at once")
    parser.add_argument("--items", type=int, default=3, help="items per object")
    args = parser.parse_args()
    (pair,) = make_pairs(1)
    items = {f"k{i}": b"value-%d" % i for i in range(args.items)}
    figures: dict[str, object] = {"items_per_object": args.items}
    with KubeAPI.start(crds=[SEALEDSECRET_CRD]) as api, tempfile.TemporaryDirectory() as tmp:
        kubeconfig = api.write_kubeconfig(Path(tmp) / "kubeconfig")
        api.create(key_secret(pair, "sealed-secrets-keybench", KEY_NS))
        config = Config(kubeconfig=str(kubeconfig), key_namespace=KEY_NS, listen_addr="",
                        listen_metrics_addr="", key_renew_period=dt.timedelta(0))
        op = OperatorThread(config, settings=quick_settings()).start()
        until(lambda: api.open_watches >= 3)
        latencies = []
        for i in range(args.single):
            manifest = sealed_secret(pair, "default", f"one-{i}", items)
            start = time.perf_counter()
            api.create(manifest)
            until(lambda i=i: api.get("secrets", f"one-{i}", "default") is not None)
            latencies.append(time.perf_counter() - start)
        latencies.sort()
        figures["create_to_secret_ms"] = {
            "p50": statistics.median(latencies) * 1000,
            "p95": latencies[int(len(latencies) * 0.95) - 1] * 1000,
            "max": latencies[-1] * 1000,
        }
        manifests = [sealed_secret(pair, "default", f"burst-{i}", items)
                     for i in range(args.burst)]
        start = time.perf_counter()
        for manifest in manifests:
            api.create(manifest)
        last = f"burst-{args.burst - 1}"
        until(lambda: api.get("secrets", last, "default") is not None, every=0.01)
        until(lambda: len(api.list("secrets", "default")) >= args.single + args.burst, every=0.05)
        elapsed = time.perf_counter() - start
        figures["burst"] = {"objects": args.burst, "seconds": elapsed,
                            "objects_per_s": args.burst / elapsed}
        total = args.single + args.burst
        decrypted = op.runtime.counters.decryptions
        op.stop()

        again = OperatorThread(config, settings=quick_settings())
        start = time.perf_counter()
        again.start()
        until(lambda: again.runtime.counters.reconciles >= total, every=0.01)
        again.call(lambda: again.runtime.wait_idle(120), 130)
        elapsed = time.perf_counter() - start
        figures["restart"] = {"objects": total, "seconds_to_recheck_all": elapsed,
                              "decryptions": again.runtime.counters.decryptions,
                              "decryptions_before": decrypted}
        again.stop()
    print(figures)
    print(f"wrote {write('latency', figures)}")


if __name__ == "__main__":
    main()
