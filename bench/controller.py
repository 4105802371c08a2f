"""The real controller, as its own process, against the stand-in API server in another process.

N SealedSecrets (default 1,000 with 3 items) sealed to a mix of 24 keys exist when the controller
starts: time from keys loaded until all are Synced, items unsealed per second against the
machine's RSA-4096 decrypt ceiling (measured just before and just after, on every core), CPU,
peak RSS and private-key operations. Then a restart with nothing changed (decryptions must be 0),
then one changed object (exactly its items are decrypted). ``--scale`` repeats the first run with
more objects to show how memory grows per object. ``--kubeseal`` runs objects without the
key-fingerprint annotation: their first unseal, then all re-sealed to the same keys (the key is
remembered from the Secret's hash), then all Secrets deleted (the key comes from the status).

Other processes on the machine skew everything: each phase waits for the machine to be quiet and
reports the CPU others used meanwhile (``foreign_cpu_s``). The stand-in itself runs on the same
cores, which a cluster's API server would not: ``x left`` is the ratio to the share of the
machine it left to the controller.
Run: ``.venv/bin/python bench/controller.py [--objects N] [--scale M] [--kubeseal N]``;
writes bench/results/controller.json.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding  # noqa: E402

from bench._common import Foreign, key_pairs, process_cpu, table, wait_quiet, write  # noqa: E402
from bench._standin import KEY_NS, Controller, StandIn, peak_rss  # noqa: E402
from bench.crypto import LABEL  # noqa: E402
from sealer import crypto, keys  # noqa: E402
from sealer.keys import KeyPair  # noqa: E402
from sealer.scope import KEY_FINGERPRINT_ANNOTATION, Scope  # noqa: E402

SS = "/apis/bitnami.com/v1alpha1/namespaces/bench/sealedsecrets"


def sealed(pair: KeyPair, name: str, items: int, annotate: bool = True) -> dict[str, Any]:
    label = Scope.STRICT.label("bench", name)
    data = {f"k{i}": crypto.b64encode(crypto.seal(pair.certificate.public_key,
                                                  os.urandom(24), label)) for i in range(items)}
    meta: dict[str, Any] = {"name": name, "namespace": "bench"}
    if annotate:
        meta["annotations"] = {KEY_FINGERPRINT_ANNOTATION: pair.fingerprint}
    return {"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "metadata": meta,
            "spec": {"encryptedData": data}}


def ceiling(pair: KeyPair, seconds: float = 1.0) -> float:
    """Raw RSA-4096 OAEP decryptions per second on every core (threads: OpenSSL drops the GIL)."""
    oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), LABEL)
    wrapped = [pair.certificate.public_key.encrypt(os.urandom(32), oaep) for _ in range(16)]

    def batch() -> int:
        for w in wrapped:
            pair.private_key.decrypt(w, oaep)
        return len(wrapped)

    cores = os.cpu_count() or 1
    with ThreadPoolExecutor(cores) as pool:
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            done += sum(pool.map(lambda _: batch(), range(cores)))
        return done / (time.perf_counter() - start)


class Bench:
    def __init__(self, pairs: list[KeyPair], items: int, tmp: Path, poll: float) -> None:
        self.pairs, self.items, self.tmp, self.poll = pairs, items, tmp, poll
        self.api = StandIn(tmp / f"kubeconfig-{time.monotonic_ns()}")
        for i, pair in enumerate(pairs):
            self.api.call("POST", f"/api/v1/namespaces/{KEY_NS}/secrets",
                          keys.key_secret(pair, KEY_NS, "sealed-secrets-key", name=f"key{i:02d}"))
        self.api.call("POST", "/api/v1/namespaces", {"metadata": {"name": "bench"}})
        self.ctl: Controller | None = None

    def start(self) -> Controller:
        return Controller(self.api.kubeconfig, self.tmp / "controller.log", self.poll)

    def unseal_phase(self, objects: int, profile: bool = False) -> dict[str, Any]:
        """Start a controller, time from its keys loaded until ``objects`` x items are
        decrypted and every object is Synced."""
        wait_quiet()
        before = ceiling(self.pairs[0])
        ctl = self.start()
        foreign = Foreign(self.api.proc.pid, ctl.proc.pid)
        keys_at, _ = ctl.wait(lambda m: m.get("keys", 0) >= len(self.pairs))
        if profile:
            ctl.profile()
        cpu0, api_cpu0 = ctl.cpu(), self.api_cpu()
        total = objects * self.items
        done_at, seen = ctl.wait(lambda m: m.get("items_decrypted_total", 0) >= total,
                                 synced=objects)
        elapsed = done_at - keys_at
        figures = {
            "objects": objects, "items": total,
            "seconds_to_keys_loaded": keys_at - ctl.started,
            "seconds_keys_loaded_to_all_synced": elapsed,
            "items_per_s": total / elapsed,
            "controller_cpu_s": ctl.cpu() - cpu0,
            "controller_cpu_ms_per_object": (ctl.cpu() - cpu0) * 1000 / objects,
            "standin_cpu_s": self.api_cpu() - api_cpu0,
            "foreign_cpu_s": foreign.seconds(),
            "peak_rss_mb": peak_rss(ctl.proc.pid) / 2**20,
            "reconciles": seen.get("unseal_requests_total", 0.0),
            "items_decrypted": seen.get("items_decrypted_total", 0.0),
            "private_key_operations": seen.get("private_key_operations_total", 0.0),
        }
        figures["keys_tried_per_item"] = figures["private_key_operations"] / total
        after = ceiling(self.pairs[0])
        figures["ceiling_before_after"] = [before, after]
        figures["x_ceiling"] = figures["items_per_s"] / ((before + after) / 2)
        # The stand-in API server shares these cores (in a cluster the API server runs
        # elsewhere): the ratio to the part of the machine it left to the controller.
        left = 1 - figures["standin_cpu_s"] / (elapsed * (os.cpu_count() or 1))
        figures["x_ceiling_left_by_standin"] = figures["x_ceiling"] / left
        self.ctl = ctl
        return figures

    def api_cpu(self) -> float:
        return process_cpu(self.api.proc.pid)

    def stop(self) -> None:
        if self.ctl is not None:
            self.ctl.stop()
            self.ctl = None

    def restart_phase(self, objects: int) -> dict[str, Any]:
        self.stop()
        ctl = self.ctl = self.start()
        _, seen = ctl.wait(lambda m: m.get("unseal_requests_total", 0) >= objects,
                           synced=objects)
        return {"seconds_to_idle": time.perf_counter() - ctl.started,
                "items_decrypted": seen.get("items_decrypted_total", 0.0)}

    def change_one(self, name: str) -> float:
        fresh = sealed(self.pairs[0], name, self.items)
        self.api.call("PATCH", f"{SS}/{name}", {"spec": fresh["spec"],
                      "metadata": fresh["metadata"]}, "application/merge-patch+json")
        assert self.ctl is not None
        self.ctl.wait(lambda m: m.get("items_decrypted_total", 0) >= self.items, timeout=60)
        time.sleep(1.0)  # anything more would show up now
        return self.ctl.metrics().get("items_decrypted_total", 0.0)

    def close(self) -> None:
        self.stop()
        self.api.stop()


def first_start(pairs: list[KeyPair], objects: int, items: int, tmp: Path, poll: float,
                restart: bool) -> dict[str, Any]:
    bench = Bench(pairs, items, tmp, poll)
    try:
        rng = random.Random(7)
        bench.api.each(lambda i: bench.api.call("POST", SS, sealed(
            rng.choice(pairs), f"s{i:05d}", items)), range(objects))
        result: dict[str, Any] = {"first_start": bench.unseal_phase(
            objects, profile=bool(os.environ.get("SEALER_BENCH_PROFILE")))}
        if restart:
            result["restart"] = bench.restart_phase(objects)
            result["restart"]["after_one_change_items_decrypted"] = bench.change_one("s00000")
        return result
    finally:
        bench.close()


def kubeseal(pairs: list[KeyPair], objects: int, items: int, tmp: Path,
             poll: float) -> dict[str, Any]:
    """Objects without the annotation: first unseal, re-sealed, then without their Secrets."""
    bench = Bench(pairs, items, tmp, poll)
    try:
        rng = random.Random(11)
        chosen = {f"s{i:05d}": rng.choice(pairs) for i in range(objects)}
        bench.api.each(lambda kv: bench.api.call("POST", SS, sealed(
            kv[1], kv[0], items, annotate=False)), chosen.items())
        result = {"first_unseal": bench.unseal_phase(objects)}
        bench.stop()
        bench.api.each(lambda kv: bench.api.call("PATCH", f"{SS}/{kv[0]}", {
            "spec": sealed(kv[1], kv[0], items, annotate=False)["spec"]},
            "application/merge-patch+json"), chosen.items())
        result["resealed_key_from_secret"] = bench.unseal_phase(objects)
        bench.stop()
        bench.api.each(lambda name: bench.api.call(
            "DELETE", f"/api/v1/namespaces/bench/secrets/{name}"), chosen)
        result["secrets_deleted_key_from_status"] = bench.unseal_phase(objects)
        return result
    finally:
        bench.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--items", type=int, default=3)
    parser.add_argument("--keys", type=int, default=24)
    parser.add_argument("--scale", type=int, default=5000, help="second run (0 to skip)")
    parser.add_argument("--kubeseal", type=int, default=1000, help="objects (0 to skip)")
    parser.add_argument("--poll", type=float, default=0.1, help="metrics poll interval, s")
    args = parser.parse_args()
    pairs = key_pairs(args.keys)
    figures: dict[str, Any] = {"keys": args.keys, "items_per_object": args.items}
    runs = [args.objects] + ([args.scale] if args.scale else [])
    with tempfile.TemporaryDirectory() as tmp:
        for n in runs:
            figures[str(n)] = first_start(pairs, n, args.items, Path(tmp), args.poll,
                                          restart=n == args.objects)
        if args.kubeseal:
            figures["kubeseal"] = kubeseal(pairs, args.kubeseal, args.items, Path(tmp),
                                           args.poll)
    rows = [("run", "objects", "s keys", "s to Synced", "items/s", "x ceiling", "x left",
             "keys/item", "ctl CPU ms/obj", "stand-in CPU s", "foreign CPU s", "peak RSS MB")]
    phases = [(f"first start {n}", figures[str(n)]["first_start"]) for n in runs]
    phases += [(f"kubeseal {k}", v) for k, v in figures.get("kubeseal", {}).items()]
    for label, f in phases:
        rows.append((label, str(f["objects"]), f"{f['seconds_to_keys_loaded']:.1f}",
                     f"{f['seconds_keys_loaded_to_all_synced']:.2f}", f"{f['items_per_s']:.0f}",
                     f"{f['x_ceiling']:.2f}", f"{f['x_ceiling_left_by_standin']:.2f}",
                     f"{f['keys_tried_per_item']:.2f}",
                     f"{f['controller_cpu_ms_per_object']:.2f}", f"{f['standin_cpu_s']:.1f}",
                     f"{f['foreign_cpu_s']:.1f}", f"{f['peak_rss_mb']:.0f}"))
    if args.scale:
        small, big = (figures[str(n)]["first_start"] for n in runs)
        figures["rss_bytes_per_object"] = ((big["peak_rss_mb"] - small["peak_rss_mb"]) * 2**20
                                           / (args.scale - args.objects))
    print(f"{args.keys} keys, {args.items} items per object")
    print(table(rows))
    r = figures[str(args.objects)]["restart"]
    print(f"restart, nothing changed: idle after {r['seconds_to_idle']:.1f} s, "
          f"{r['items_decrypted']:.0f} items decrypted; then one object changed: "
          f"{r['after_one_change_items_decrypted']:.0f} items decrypted")
    if args.scale:
        print(f"peak RSS grows by {figures['rss_bytes_per_object'] / 1024:.1f} KiB per object")
    print(f"wrote {write('controller', figures)}")


if __name__ == "__main__":
    main()
