"""Running the operator: in the foreground (``sealer-controller``) or in a thread (tests).

Each run gets its own kopf registry and :class:`~controller.runtime.Runtime`, so a test can stop
a controller and start a fresh one in the same process, as a restart would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar

import kopf
from aiohttp import web

from controller import api, handlers
from controller.config import Config
from controller.runtime import Runtime

log = logging.getLogger(__name__)
T = TypeVar("T")


@contextlib.asynccontextmanager
async def http_servers(runtime: Runtime) -> AsyncIterator[list[web.AppRunner]]:
    """The HTTP API and the metrics endpoint, when their addresses are set."""
    cfg, runners = runtime.config, []
    try:
        if cfg.listen_addr:
            app = api.Api(runtime.api_state()).app()
            runners.append(await api.serve(app, cfg.listen_addr))
        if cfg.listen_metrics_addr:
            metrics = api.metrics_app(runtime.metrics)
            runners.append(await api.serve(metrics, cfg.listen_metrics_addr))
        runtime.before_stop.extend(runner.cleanup for runner in runners)
        yield runners
    finally:
        for runner in runners:
            await runner.cleanup()


async def serve(
    runtime: Runtime,
    *,
    stop_flag: asyncio.Event | threading.Event | None = None,
    ready_flag: asyncio.Event | threading.Event | None = None,
    settings: kopf.OperatorSettings | None = None,
) -> None:
    cfg = runtime.config
    namespaces = () if cfg.all_namespaces else sorted({*cfg.namespaces, cfg.key_namespace})
    async with http_servers(runtime):
        await kopf.operator(
            registry=handlers.registry(),
            settings=settings,
            clusterwide=cfg.all_namespaces,
            namespaces=namespaces,
            standalone=not cfg.peering,  # peering: see controller.peering
            stop_flag=stop_flag,
            ready_flag=ready_flag,
            memo=kopf.Memo(runtime=runtime),
        )


class OperatorThread:
    """The operator in a background thread with its own event loop.

    ``start()`` returns once kopf is watching (the keys are loaded by then); ``stop()`` asks
    kopf to exit and joins. Usable as a context manager.
    """

    def __init__(
        self,
        config: Config,
        runtime: Runtime | None = None,
        settings: kopf.OperatorSettings | None = None,
    ) -> None:
        self.config, self.settings = config, settings
        self.runtime = runtime or Runtime(config)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sealer-operator", daemon=True)
        self.error: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        try:
            self.loop.run_until_complete(
                serve(
                    self.runtime,
                    stop_flag=self._stop,
                    ready_flag=self._ready,
                    settings=self.settings,
                )
            )
        except BaseException as exc:  # noqa: BLE001 - reported to the thread's owner
            self.error = exc
            log.exception("operator stopped with an error")
        finally:
            self._ready.set()
            self.loop.close()

    def start(self, timeout: float = 60.0) -> OperatorThread:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the operator did not become ready")
        if self.error is not None:
            raise RuntimeError("the operator failed to start") from self.error
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError("the operator did not stop")

    def call(self, coro_fn: Callable[[], Coroutine[Any, Any, T]], timeout: float = 30.0) -> T:
        """Run ``coro_fn()`` on the operator's loop and wait for its result (tests)."""
        if self.loop is None:
            raise RuntimeError("the operator is not running")
        return asyncio.run_coroutine_threadsafe(coro_fn(), self.loop).result(timeout)

    def __enter__(self) -> OperatorThread:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
