"""Where decryption and key generation run: a thread pool with one thread per core, off the loop.

Threads, not processes: OpenSSL releases the GIL during RSA private-key operations in
``cryptography``, so threads use every core (bench/pool.py: 2 threads unseal 1.82x as fast as one
on 2 cores; 2 processes 1.74x, and they would need their own copy of every key, reloaded on each
key change). The parsed keys are shared by all threads: nothing is re-parsed per unseal.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class UnsealPool:
    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="sealer-unseal")

    async def run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
