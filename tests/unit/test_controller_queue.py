"""controller.queue: dedup, one worker per key, re-run when changed mid-flight, capped jittered
backoff that never gives up."""

from __future__ import annotations

import asyncio

import pytest

from controller.queue import WorkQueue


async def test_dedup_and_order() -> None:
    q: WorkQueue[str] = WorkQueue()
    for key in ("a", "b", "a"):
        q.add(key)
    assert len(q) == 2
    assert await q.get() == "a" and await q.get() == "b"
    assert q.busy
    q.done("a")
    q.done("b")
    assert not q.busy


async def test_added_while_processing_runs_again_after() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    key = await q.get()
    q.add("a")  # an event during processing
    assert len(q) == 0  # not handed to a second worker concurrently
    q.done(key)
    assert len(q) == 1 and await q.get() == "a"


def test_backoff_is_capped_and_jittered() -> None:
    low: WorkQueue[str] = WorkQueue(base_delay=1, max_delay=60, rng=lambda: 0.0)
    high: WorkQueue[str] = WorkQueue(base_delay=1, max_delay=60, rng=lambda: 1.0)
    assert [low.backoff(n) for n in range(4)] == [0.5, 1, 2, 4]
    assert [high.backoff(n) for n in range(4)] == [1, 2, 4, 8]
    assert low.backoff(10) == 30 and high.backoff(10) == 60
    assert high.backoff(10_000) == 60  # no overflow, never "give up"


async def test_retry_counts_and_forget_resets() -> None:
    q: WorkQueue[str] = WorkQueue(base_delay=0.001, max_delay=0.002)
    for expected in range(1, 9):
        q.add("k")
        key = await q.get()
        q.retry(key)
        q.done(key)
        assert q.failures("k") == expected
        assert await asyncio.wait_for(q.get(), 1) == "k"  # the timer re-queues it
        q.done("k")
    q.forget("k")
    assert q.failures("k") == 0


async def test_earlier_timer_wins_and_forget_cancels() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add_after("k", 60)
    q.add_after("k", 0.01)
    assert await asyncio.wait_for(q.get(), 1) == "k"
    q.done("k")
    q.add_after("k", 0.01)
    q.forget("k")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(q.get(), 0.05)
    q.close()
