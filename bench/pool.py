"""Unsealing whole SealedSecrets off the event loop: threads vs processes, as the controller does.

Each job is ``sealer.sealedsecret.unseal`` of one SealedSecret with ``--items`` items under a ring
of ``--keys`` keys (hinted, so one RSA private operation per item). Processes load the key ring once
per worker (initializer) and receive the SealedSecret pickled, which is what a process pool in
the controller would have to do. Run: ``.venv/bin/python bench/pool.py``; writes
bench/results/pool.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import key_pairs, table, write  # noqa: E402
from sealer import crypto, keys  # noqa: E402
from sealer.keys import KeyPair, KeyRing  # noqa: E402
from sealer.scope import KEY_FINGERPRINT_ANNOTATION  # noqa: E402
from sealer.sealedsecret import SealedSecret, unseal  # noqa: E402

_RING: KeyRing | None = None


def _init_worker(pems: Sequence[tuple[bytes, bytes]]) -> None:
    global _RING
    _RING = KeyRing(tuple(keys.key_pair(k, c) for k, c in pems))


def _unseal_in_worker(sealed: SealedSecret) -> int:
    assert _RING is not None
    return len(unseal(sealed, _RING).items)


def sealed_secrets(target: KeyPair, n: int, items: int) -> list[SealedSecret]:
    result = []
    for i in range(n):
        name = f"s{i}"
        label = crypto.Label(f"bench/{name}".encode())
        enc = {
            f"k{j}": crypto.b64encode(
                crypto.seal(target.certificate.public_key, os.urandom(32), label)
            )
            for j in range(items)
        }
        result.append(
            SealedSecret.from_manifest(
                {
                    "apiVersion": "bitnami.com/v1alpha1",
                    "kind": "SealedSecret",
                    "metadata": {
                        "name": name,
                        "namespace": "bench",
                        "uid": f"uid-{i}",
                        "annotations": {KEY_FINGERPRINT_ANNOTATION: target.fingerprint},
                    },
                    "spec": {"encryptedData": enc},
                }
            )
        )
    return result


async def _drive(executor: Executor, fn: Callable[[SealedSecret], int], jobs: list[SealedSecret],
                 concurrency: int) -> float:
    """Items per second when ``concurrency`` reconcilers each await one unseal at a time."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[SealedSecret] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    done = 0
    lag = 0.0

    async def worker() -> None:
        nonlocal done
        while not queue.empty():
            job = queue.get_nowait()
            n = await loop.run_in_executor(executor, fn, job)  # not `done += await`: lost updates
            done += n

    async def ticker() -> None:
        # How late a 10 ms timer fires while the pool is busy: the event loop's responsiveness.
        nonlocal lag
        while True:
            start = loop.time()
            await asyncio.sleep(0.01)
            lag = max(lag, loop.time() - start - 0.01)

    tick = asyncio.create_task(ticker())
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    tick.cancel()
    return done / elapsed, lag


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=400)
    parser.add_argument("--items", type=int, default=3)
    parser.add_argument("--keys", type=int, default=3)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    pairs = key_pairs(args.keys)
    ring = KeyRing(tuple(pairs))
    target = pairs[-1]
    jobs = sealed_secrets(target, args.objects, args.items)
    pems = [(keys.private_key_pem(p.private_key), p.certificate.pem) for p in pairs]

    def in_thread(sealed: SealedSecret) -> int:
        return len(unseal(sealed, ring).items)

    figures: dict[str, object] = {"objects": args.objects, "items": args.items, "keys": args.keys}
    rows = [("executor", "workers", "items/s", "x serial", "max loop lag ms")]
    serial_start = time.perf_counter()
    for job in jobs[: args.objects // 4]:
        in_thread(job)
    serial = args.objects // 4 * args.items / (time.perf_counter() - serial_start)
    figures["serial_items_per_s"] = serial
    rows.append(("none (on loop)", "1", f"{serial:.0f}", "1.00", "-"))
    for workers in sorted({1, cores, 2 * cores}):
        with ThreadPoolExecutor(workers) as pool:
            rate, lag = asyncio.run(_drive(pool, in_thread, jobs, 4 * cores))
        figures[f"threads_{workers}_items_per_s"] = rate
        figures[f"threads_{workers}_max_loop_lag_ms"] = lag * 1000
        rows.append(("threads", str(workers), f"{rate:.0f}", f"{rate / serial:.2f}",
                     f"{lag * 1000:.1f}"))
        start = time.perf_counter()
        with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(pems,)) as pool:
            list(pool.map(_unseal_in_worker, jobs[:workers]))  # spawn and load keys
            startup = time.perf_counter() - start
            rate, lag = asyncio.run(_drive(pool, _unseal_in_worker, jobs, 4 * cores))
        figures[f"processes_{workers}_items_per_s"] = rate
        figures[f"processes_{workers}_max_loop_lag_ms"] = lag * 1000
        figures[f"processes_{workers}_startup_s"] = startup
        rows.append(("processes", str(workers), f"{rate:.0f}", f"{rate / serial:.2f}",
                     f"{lag * 1000:.1f}"))
    print(f"{args.objects} SealedSecrets x {args.items} items, {args.keys} keys, {cores} cores")
    print(table(rows))
    print(f"wrote {write('pool', figures)}")


if __name__ == "__main__":
    main()
