"""One running controller: what the kopf handlers feed and what an HTTP API or a test reads.

The kopf handlers are thin: watch events go to :meth:`Runtime.on_sealed_secret` and
:meth:`Runtime.on_secret`, which keep the latest SealedSecret bodies and queue keys; a few worker
coroutines take keys from the rate-limited :class:`~controller.queue.WorkQueue` and reconcile
them with :class:`~controller.unsealer.Unsealer`. This is upstream's informer + work-queue design,
and it leaves no trace of kopf on the objects (no annotations, finalizers or status fields).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import kopf

from controller.api import ApiState
from controller.cluster import Cluster
from controller.config import Config
from controller.events import EventRecorder
from controller.keyring import KeyManager
from controller.metrics import Metrics
from controller.peering import auto_priority
from controller.pool import UnsealPool
from controller.queue import WorkQueue
from controller.reconcile import controlled_by
from controller.rotation import RotationRequests
from controller.unsealer import Counters, Key, Unsealer
from sealer.keys import KeyRing
from sealer.kube import load_configuration

log = logging.getLogger(__name__)


class Runtime:
    def __init__(
        self, config: Config, cluster: Cluster | None = None, metrics: Metrics | None = None
    ) -> None:
        self.config = config
        self.cluster = cluster or Cluster(
            load_configuration(config.kubeconfig), max_connections=config.reconcile_workers + 4
        )
        self.metrics = metrics or Metrics()
        self.pool = UnsealPool(config.unseal_workers)
        self.key_manager = KeyManager(config, self.cluster, self.pool.run)
        self.keys = self.key_manager.keys
        self.bodies: dict[Key, dict[str, Any]] = {}
        self.recorder = EventRecorder(self.cluster)
        self.unsealer = Unsealer(
            config, self.cluster, self.keys, self.pool, self.metrics, self.recorder, self.bodies
        )
        self.queue: WorkQueue[Key] = WorkQueue(config.retry_base_delay, config.retry_max_delay)
        self.rotation = RotationRequests(self.key_manager, self.cluster, config.key_namespace)
        self.ready = False
        # With --peering: the highest priority acts (kopf pauses the others' watch streams).
        self.peering_priority = (
            auto_priority() if config.peering_priority is None else config.peering_priority
        )
        self._tasks: list[asyncio.Task[None]] = []
        # Run first on stop: kopf waits 5 s for tasks it did not start (HTTP keep-alives).
        self.before_stop: list[Callable[[], Awaitable[None]]] = []
        self.keys.subscribe(self._ring_changed)

    @property
    def counters(self) -> Counters:
        return self.unsealer.counters

    @property
    def ring(self) -> KeyRing:
        return self.keys.ring

    def api_state(self) -> ApiState:
        """What ``controller.api`` serves: the live key ring, readiness, metrics, the pool."""
        return ApiState(
            keyring=lambda: self.keys.ring,
            ready=lambda: self.ready,
            metrics=self.metrics,
            offload=self.pool.run,
            verify_rate=self.config.verify_rate,
        )

    async def start(self) -> None:
        """Load (or make) the keys, then start the workers and the renewal schedule."""
        await self.key_manager.load()
        await self.key_manager.ensure_fresh(at_start=True)
        self.metrics.observe_keys(self.keys.ring)
        for n in range(self.config.reconcile_workers):
            self._tasks.append(asyncio.create_task(self._work(), name=f"sealer-worker-{n}"))
        self._tasks.append(asyncio.create_task(self._renew(), name="sealer-key-renewal"))
        if self.config.peering:  # a paused replica gets no Secret events: re-read the keys
            self._tasks.append(asyncio.create_task(self._refresh_keys(), name="sealer-key-refresh"))
        self.ready = True

    async def stop(self) -> None:
        self.ready = False
        for hook in self.before_stop:
            await hook()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self.queue.close()
        self.pool.close()
        await self.cluster.close()

    async def _renew(self) -> None:
        await self.key_manager.renew_forever()

    async def _refresh_keys(self) -> None:
        while True:
            await asyncio.sleep(self.config.key_refresh_interval)
            try:
                await self.key_manager.load()
            except Exception as exc:  # noqa: BLE001 - the API may be down: next time
                log.warning("could not re-read the key Secrets: %s", exc)

    async def _work(self) -> None:
        while True:
            key = await self.queue.get()
            try:
                await self.unsealer.sync(key, self.queue.failures(key))
                self.queue.forget(key)
            except kopf.TemporaryError as exc:
                delay = self.queue.retry(key, exc.delay)
                log.info("SealedSecret %s/%s: retrying in %.1f s", *key, delay)
            except kopf.PermanentError:
                self.queue.forget(key)  # until the SealedSecret, its Secret or the keys change
            except Exception:  # a bug: log it, keep the worker, retry later
                log.exception("SealedSecret %s/%s: unexpected error", *key)
                self.queue.retry(key)
            finally:
                self.queue.done(key)

    def _ring_changed(self, ring: KeyRing) -> None:
        self.metrics.observe_keys(ring)
        for key in sorted(self.unsealer.failing):  # a new key may open what failed before
            self.queue.add(key)

    # Entry points for the kopf handlers.

    def on_sealed_secret(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        key: Key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        if event_type == "DELETED":
            self.bodies.pop(key, None)
            self.queue.add(key)  # the worker forgets it
            return
        if not self.config.watches(key[0]) or not self.config.label_selector.matches(
            meta.get("labels")
        ):
            if self.bodies.pop(key, None) is not None:
                self.queue.add(key)
            return
        self.bodies[key] = copy.deepcopy(dict(body))
        if self.unsealer.needs_sync(key, body):
            self.queue.add(key)

    async def on_secret(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        key: Key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        if key[0] == self.keys.namespace and (
            self.keys.is_key_secret(body) or self.keys.tracks(key[1])
        ):
            await self.key_manager.on_secret(event_type, body)
        if self.config.skip_recreate or key not in self.bodies:
            return
        if event_type != "DELETED" and self.unsealer.written.get(key) == meta.get(
            "resourceVersion"
        ):
            return  # the echo of our own write
        sealed_uid = (self.bodies[key].get("metadata") or {}).get("uid")
        if event_type is None and controlled_by(body, sealed_uid):
            return  # initial listing: the SealedSecret's own listing queues it already
        self.queue.add(key)

    async def wait_idle(self, timeout: float = 30.0) -> None:
        """Until nothing is queued or being handled (for tests and graceful shutdown)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.queue.busy:
            if loop.time() > deadline:
                raise TimeoutError("the work queue did not drain")
            await asyncio.sleep(0.02)
