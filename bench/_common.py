"""Shared bits of the benchmarks: key generation in parallel, timing, result files."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from sealer import keys
from sealer.keys import KeyPair

RESULTS = Path(__file__).parent / "results"


def _one_pair(_: int) -> tuple[bytes, bytes]:
    key, cert = keys.generate()
    return keys.private_key_pem(key), keys.certificate_from_x509(cert).pem


def key_pairs(n: int) -> list[KeyPair]:
    """``n`` RSA-4096 pairs, generated on every core (about 1 s of CPU each).

    With ``SEALER_BENCH_KEY_CACHE=DIR`` (throwaway keys, for repeated runs), pairs are kept in
    DIR and reused; they are parsed on every core either way (about 0.3 s each).
    """
    cache = os.environ.get("SEALER_BENCH_KEY_CACHE")
    pems: list[tuple[bytes, bytes]] = []
    if cache:
        folder = Path(cache)
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            key, crt = folder / f"{i:03d}.key", folder / f"{i:03d}.crt"
            if key.exists() and crt.exists():
                pems.append((key.read_bytes(), crt.read_bytes()))
    with ProcessPoolExecutor() as pool:
        pems += pool.map(_one_pair, range(n - len(pems)))
        if cache:
            for i, (key_pem, crt_pem) in enumerate(pems):
                (Path(cache) / f"{i:03d}.key").write_bytes(key_pem)
                (Path(cache) / f"{i:03d}.crt").write_bytes(crt_pem)
    return [keys.key_pair(k, c) for k, c in pems]  # the key check holds the GIL: no threads


def machine_busy() -> float:
    """CPU seconds all processes of the machine have used since boot (``/proc/stat``)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int | None = None) -> float:
    """CPU seconds (user + system) of one process, this one by default."""
    stat = Path(f"/proc/{pid or 'self'}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


def wait_quiet(max_wait: float = 600.0, threshold: float = 0.2, window: float = 2.0) -> float:
    """Wait (up to ``max_wait`` s) until other processes use under ``threshold`` cores, so that
    figures measured side by side are not skewed by someone else's load; returns that load."""
    deadline = time.monotonic() + max_wait
    while True:
        busy, own = machine_busy(), process_cpu()
        time.sleep(window)
        load = (machine_busy() - busy - (process_cpu() - own)) / window
        if load < threshold or time.monotonic() > deadline:
            return load


class Foreign:
    """CPU seconds used on the machine by processes other than ``pids`` (and this one) since
    :meth:`start`: how much someone else's load may have skewed a measurement."""

    def __init__(self, *pids: int) -> None:
        self.pids = [None, *pids]
        self.start()

    def start(self) -> None:
        self._busy, self._own = machine_busy(), self._ours()

    def _ours(self) -> float:
        total = 0.0
        for pid in self.pids:
            with contextlib.suppress(OSError):  # exited
                total += process_cpu(pid)
        return total

    def seconds(self) -> float:
        return max(0.0, machine_busy() - self._busy - (self._ours() - self._own))


def rate(fn: Callable[[], int], min_seconds: float = 1.0) -> float:
    """Operations per second of ``fn`` (which returns how many operations it did)."""
    done, start = 0, time.perf_counter()
    while True:
        done += fn()
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return done / elapsed


def write(name: str, figures: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    meta = {
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    path.write_text(json.dumps({"meta": meta, **figures}, indent=2) + "\n")
    return path


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)
