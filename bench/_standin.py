"""The processes bench/controller.py drives: the Kubernetes API stand-in and the real controller
(``sealer-controller``), each its own process, and what is read from them (metrics, /proc)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench._common import process_cpu
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
KEY_NS = "kube-system"
PREFIX = "sealed_secrets_controller_"
COUNTERS = ("unseal_requests_total", "items_decrypted_total", "private_key_operations_total",
            "keys")



def peak_rss(pid: int) -> int:
    """VmHWM: the most resident memory the process ever had, in bytes."""
    found = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(found.group(1)) * 1024 if found else 0


class StandIn:
    """``python -m tests.support.kubeapi`` on a free port, with a kubeconfig for it."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig
        port = free_port()
        self.proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "tests.support.kubeapi", "--port", str(port),
             "--kubeconfig", str(kubeconfig)], cwd=ROOT, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL)
        assert self.proc.stdout is not None
        self.proc.stdout.readline()
        self.base = f"http://127.0.0.1:{port}"

    def call(self, method: str, path: str, body: Any = None,
             ctype: str = "application/json") -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,  # noqa: S310
                                     headers={"Content-Type": ctype})
        with urllib.request.urlopen(req, timeout=120) as resp:  # noqa: S310 - loopback
            return json.loads(resp.read() or b"{}")

    def each(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> None:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(fn, items))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:  # an open watch stream can hold it up
            self.proc.kill()
            self.proc.wait(10)


class Controller:
    """``sealer-controller`` against the stand-in, its metrics on a free port."""

    def __init__(self, kubeconfig: Path, log: Path, poll: float) -> None:
        self.port, self.poll = free_port(), poll
        self.proc = subprocess.Popen(  # noqa: S603 - our own console script
            [str(BIN / "sealer-controller"), "--kubeconfig", str(kubeconfig),
             "--key-namespace", KEY_NS, "--listen-addr", "",
             "--listen-metrics-addr", f"127.0.0.1:{self.port}", "--key-renew-period", "0",
             "--log-level", "WARNING", *os.environ.get("SEALER_BENCH_CONTROLLER_ARGS", "").split()],
            stdout=log.open("ab"), stderr=subprocess.STDOUT)
        self.started = time.perf_counter()
        self.spy: subprocess.Popen[bytes] | None = None

    def profile(self) -> None:
        """Raw py-spy stacks of the controller from now on, if SEALER_BENCH_PROFILE names a
        file; SEALER_BENCH_PROFILE_ARGS adds py-spy options (``--gil``: what holds the GIL)."""
        target = os.environ.get("SEALER_BENCH_PROFILE")
        extra = os.environ.get("SEALER_BENCH_PROFILE_ARGS", "").split()
        if target and self.spy is None:
            self.spy = subprocess.Popen(  # noqa: S603
                [str(BIN / "py-spy"), "record", "--pid", str(self.proc.pid), "-r", "200",
                 "-f", "raw", "-o", target, *extra],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def metrics(self, names: Iterable[str] = COUNTERS) -> dict[str, float]:
        """Counters by short name (``name[]`` filter: cheap for the controller to render), plus
        ``synced``, the SealedSecrets whose condition is True, when ``names`` is empty."""
        query = urllib.parse.urlencode([("name[]", PREFIX + n) for n in names])
        url = f"http://127.0.0.1:{self.port}/metrics" + (f"?{query}" if query else "")
        with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310 - loopback
            text = resp.read().decode()
        found: dict[str, float] = {"synced": 0.0}
        for line in text.splitlines():
            if line.startswith(PREFIX + "condition_info{") and line.endswith(" 1.0"):
                found["synced"] += 1
            match = re.match(rf"^{PREFIX}(\w+) ([0-9.e+]+)$", line)
            if match:
                found[match.group(1)] = float(match.group(2))
        return found

    def wait(self, done: Callable[[dict[str, float]], bool], synced: int = 0,
             timeout: float = 900) -> tuple[float, dict[str, float]]:
        """Poll the counters until ``done``, then (if ``synced``) the conditions until that
        many are True; returns when that was first seen and the figures."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("the controller exited")
            try:
                seen = self.metrics()
                if done(seen) and synced:
                    seen["synced"] = self.metrics(())["synced"]
                if done(seen) and seen["synced"] >= synced:
                    return time.perf_counter(), seen
            except OSError:
                pass
            time.sleep(self.poll)
        raise TimeoutError

    def cpu(self) -> float:
        return process_cpu(self.proc.pid)

    def stop(self) -> None:
        if self.spy is not None:
            self.spy.send_signal(signal.SIGINT)
            self.spy.wait(60)
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
