"""The real controller, as its own process, against the stand-in API server in another process.

N SealedSecrets (default 1,000 with 3 items) sealed to a mix of 24 keys exist when the controller
starts: time until all are Synced, items unsealed per second against the machine's RSA-4096
ceiling, CPU and peak RSS. Then a restart with nothing changed (decryptions must be 0), then one
changed object (exactly its items are decrypted). ``--scale`` repeats the first run with more
objects to show how memory grows per object.
Run: ``.venv/bin/python bench/controller.py [--objects N] [--scale M]``;
writes bench/results/controller.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding  # noqa: E402

from bench._common import key_pairs, table, write  # noqa: E402
from bench.crypto import LABEL  # noqa: E402
from sealer import crypto, keys  # noqa: E402
from sealer.keys import KeyPair  # noqa: E402
from sealer.scope import KEY_FINGERPRINT_ANNOTATION, Scope  # noqa: E402

BIN = Path(sys.executable).parent
KEY_NS = "kube-system"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Http:
    def __init__(self, base: str) -> None:
        self.base = base

    def call(self, method: str, path: str, body: Any = None, ctype: str = "application/json"
             ) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,  # noqa: S310
                                     headers={"Content-Type": ctype})
        with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 - loopback
            return json.loads(resp.read() or b"{}")


def sealed(pair: KeyPair, ns: str, name: str, items: int) -> dict[str, Any]:
    label = Scope.STRICT.label(ns, name)
    data = {f"k{i}": crypto.b64encode(crypto.seal(pair.certificate.public_key,
                                                  os.urandom(24), label)) for i in range(items)}
    return {"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
            "metadata": {"name": name, "namespace": ns,
                         "annotations": {KEY_FINGERPRINT_ANNOTATION: pair.fingerprint}},
            "spec": {"encryptedData": data}}


def metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:  # noqa: S310
        text = resp.read().decode()
    found: dict[str, float] = {"synced": 0.0}
    for line in text.splitlines():
        if line.startswith("sealed_secrets_controller_condition_info{") and line.endswith(" 1.0"):
            found["synced"] += 1
        match = re.match(r"^(sealed_secrets_controller_(?:\w+_total|keys)) ([0-9.e+]+)$", line)
        if match:
            found[match.group(1)] = float(match.group(2))
    return found


def proc_stats(pid: int) -> tuple[float, int]:
    """CPU seconds (user + system) and peak RSS in bytes, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    hwm = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return cpu, int(hwm.group(1)) * 1024 if hwm else 0


class Controller:
    def __init__(self, kubeconfig: Path, log: Path) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(  # noqa: S603 - our own console script
            [str(BIN / "sealer-controller"), "--kubeconfig", str(kubeconfig),
             "--key-namespace", KEY_NS, "--listen-addr", "",
             "--listen-metrics-addr", f"127.0.0.1:{self.port}", "--key-renew-period", "0",
             "--log-level", "WARNING"],
            stdout=log.open("ab"), stderr=subprocess.STDOUT)
        self.started = time.perf_counter()
        self.spy: subprocess.Popen[bytes] | None = None

    def profile(self) -> None:
        """Collapsed py-spy stacks of the controller from now on, if SEALER_BENCH_PROFILE names
        a file (install py-spy first)."""
        target = os.environ.get("SEALER_BENCH_PROFILE")
        if target and self.spy is None:
            self.spy = subprocess.Popen(  # noqa: S603
                [str(BIN / "py-spy"), "record", "--pid", str(self.proc.pid), "-r", "200",
                 "-f", "raw", "-o", target], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def metrics(self) -> dict[str, float]:
        return metrics(self.port)

    def wait(self, done: Any, timeout: float = 600) -> dict[str, float]:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("controller exited")
            try:
                seen = self.metrics()
            except OSError:
                time.sleep(0.05)
                continue
            if done(seen):
                return seen
            time.sleep(0.05)
        raise TimeoutError

    def stop(self) -> None:
        if self.spy is not None:
            self.spy.send_signal(signal.SIGINT)
            self.spy.wait(60)
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)


def run(objects: int, items: int, pairs: list[KeyPair], tmp: Path) -> dict[str, Any]:
    api_port = free_port()
    kubeconfig = tmp / f"kubeconfig-{objects}"
    api = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "tests.support.kubeapi", "--port", str(api_port),
         "--kubeconfig", str(kubeconfig)], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL)
    assert api.stdout is not None
    api.stdout.readline()
    http = Http(f"http://127.0.0.1:{api_port}")
    try:
        for i, pair in enumerate(pairs):
            http.call("POST", f"/api/v1/namespaces/{KEY_NS}/secrets",
                      keys.key_secret(pair, KEY_NS, "sealed-secrets-key", name=f"key{i:02d}"))
        rng = random.Random(7)
        manifests = [sealed(rng.choice(pairs), "bench", f"s{i:05d}", items)
                     for i in range(objects)]
        http.call("POST", "/api/v1/namespaces", {"metadata": {"name": "bench"}})
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda m: http.call(
                "POST", "/apis/bitnami.com/v1alpha1/namespaces/bench/sealedsecrets", m),
                manifests))
        log = tmp / "controller.log"
        ctl = Controller(kubeconfig, log)
        ctl.wait(lambda m: m.get("sealed_secrets_controller_keys", 0) >= len(pairs))
        keys_loaded = time.perf_counter()
        ctl.profile()
        cpu_keys, _ = proc_stats(ctl.proc.pid)
        api_cpu_before, _ = proc_stats(api.pid)
        seen = ctl.wait(lambda m: m["synced"] >= objects)
        elapsed = time.perf_counter() - keys_loaded
        cpu, rss = proc_stats(ctl.proc.pid)
        api_cpu = proc_stats(api.pid)[0] - api_cpu_before
        first = {"objects": objects, "items": objects * items,
                 "seconds_to_keys_loaded": keys_loaded - ctl.started,
                 "seconds_keys_loaded_to_all_synced": elapsed,
                 "items_per_s": objects * items / elapsed, "cpu_seconds": cpu,
                 "cpu_seconds_after_keys": cpu - cpu_keys,
                 "api_standin_cpu_seconds_meanwhile": api_cpu,
                 "peak_rss_mb": rss / 2**20,
                 "items_decrypted": seen.get("sealed_secrets_controller_items_decrypted_total"),
                 "reconciles": seen.get("sealed_secrets_controller_unseal_requests_total")}
        ctl.stop()
        again = Controller(kubeconfig, log)
        seen = again.wait(lambda m: m.get("sealed_secrets_controller_unseal_requests_total", 0)
                          >= objects and m["synced"] >= objects)
        restart = {"seconds_to_idle": time.perf_counter() - again.started,
                   "items_decrypted": seen.get("sealed_secrets_controller_items_decrypted_total",
                                               0.0)}
        target = manifests[0]
        name = target["metadata"]["name"]
        fresh = sealed(pairs[0], "bench", name, items)
        http.call("PATCH", f"/apis/bitnami.com/v1alpha1/namespaces/bench/sealedsecrets/{name}",
                  {"spec": fresh["spec"], "metadata": fresh["metadata"]},
                  "application/merge-patch+json")
        seen = again.wait(lambda m: m.get("sealed_secrets_controller_items_decrypted_total", 0)
                          >= items, timeout=60)
        time.sleep(1.0)  # anything more would show up now
        restart["after_one_change_items_decrypted"] = again.metrics().get(
            "sealed_secrets_controller_items_decrypted_total", 0.0)
        again.stop()
        return {"first_start": first, "restart": restart}
    finally:
        api.terminate()
        api.wait(30)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--items", type=int, default=3)
    parser.add_argument("--keys", type=int, default=24)
    parser.add_argument("--scale", type=int, default=5000, help="second run (0 to skip)")
    args = parser.parse_args()
    pairs = key_pairs(args.keys)
    rsa_ceiling = ceiling(pairs[0])
    figures: dict[str, Any] = {"keys": args.keys, "rsa4096_decrypt_per_s_all_cores": rsa_ceiling}
    with tempfile.TemporaryDirectory() as tmp:
        runs = [args.objects] + ([args.scale] if args.scale else [])
        for n in runs:
            figures[str(n)] = run(n, args.items, pairs, Path(tmp))
            figures[str(n)]["first_start"]["x_ceiling"] = (
                figures[str(n)]["first_start"]["items_per_s"] / rsa_ceiling)
    rows = [("objects", "s keys", "s to Synced", "items/s", "x ceiling", "CPU s", "peak RSS MB",
             "restart s", "restart decrypts", "1 change decrypts")]
    for n in runs:
        f, r = figures[str(n)]["first_start"], figures[str(n)]["restart"]
        rows.append((str(n), f"{f['seconds_to_keys_loaded']:.1f}",
                     f"{f['seconds_keys_loaded_to_all_synced']:.1f}", f"{f['items_per_s']:.0f}",
                     f"{f['x_ceiling']:.2f}", f"{f['cpu_seconds']:.1f}", f"{f['peak_rss_mb']:.0f}",
                     f"{r['seconds_to_idle']:.1f}", f"{r['items_decrypted']:.0f}",
                     f"{r['after_one_change_items_decrypted']:.0f}"))
    if args.scale:
        small, big = figures[str(args.objects)], figures[str(args.scale)]
        per_object = ((big["first_start"]["peak_rss_mb"] - small["first_start"]["peak_rss_mb"])
                      * 2**20 / (args.scale - args.objects))
        figures["rss_bytes_per_object"] = per_object
    print(f"RSA-4096 decrypt ceiling on every core: {rsa_ceiling:.0f}/s; {args.keys} keys")
    print(table(rows))
    if args.scale:
        print(f"peak RSS grows by {figures['rss_bytes_per_object'] / 1024:.1f} KiB per object")
    print(f"wrote {write('controller', figures)}")


if __name__ == "__main__":
    main()
