"""Shared bits of the benchmarks: key generation in parallel, timing, result files."""

from __future__ import annotations

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
    """``n`` RSA-4096 pairs, generated on every core (about 1 s of CPU each)."""
    with ProcessPoolExecutor() as pool:
        pems = list(pool.map(_one_pair, range(n)))
    return [keys.key_pair(k, c) for k, c in pems]


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
