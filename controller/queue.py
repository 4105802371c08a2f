"""client-go's rate-limited work queue, in asyncio, as upstream's controller uses it, except that a
failing key is retried forever (capped exponential backoff with jitter) instead of dropped after 5.

A key is queued at most once, handled by one worker at a time, and a key added while it is being
handled runs again right after: events never pile up, and none is lost.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(
        self,
        base_delay: float = 0.5,
        max_delay: float = 300.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.base_delay, self.max_delay, self._rng = base_delay, max_delay, rng
        self._ready: asyncio.Queue[K] = asyncio.Queue()
        self._queued: set[K] = set()
        self._processing: set[K] = set()
        self._dirty: set[K] = set()
        self._failures: Counter[K] = Counter()
        self._timers: dict[K, asyncio.TimerHandle] = {}

    def __len__(self) -> int:
        return len(self._queued)

    @property
    def busy(self) -> bool:
        """Anything queued or being handled (timers for later retries do not count)."""
        return bool(self._queued or self._processing)

    def failures(self, key: K) -> int:
        return self._failures[key]

    def add(self, key: K) -> None:
        if key in self._processing:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._ready.put_nowait(key)

    def add_after(self, key: K, delay: float) -> None:
        """Queue ``key`` in ``delay`` seconds (keeps an earlier pending timer if there is one)."""
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        pending = self._timers.get(key)
        if pending is not None:
            if pending.when() <= due:
                return
            pending.cancel()
        self._timers[key] = loop.call_at(due, self._fire, key)

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def backoff(self, failures: int) -> float:
        """``base * 2**failures`` capped at ``max_delay``, with "equal jitter" (half random)."""
        delay: float = min(self.max_delay, self.base_delay * 2.0 ** min(failures, 62))
        return delay / 2 + self._rng() * delay / 2

    def retry(self, key: K, delay: float | None = None) -> float:
        """Queue ``key`` again after ``delay``, or after the backoff for its failure count."""
        if delay is None:
            delay = self.backoff(self._failures[key])
        self._failures[key] += 1
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        """``key`` succeeded (or waits for a change): reset its backoff, drop its pending retry."""
        self._failures.pop(key, None)
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    async def get(self) -> K:
        key = await self._ready.get()
        self._queued.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
