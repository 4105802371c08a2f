"""Run a real kopf operator against the API stand-in, in a thread with its own event loop.

    registry = kopf.OperatorRegistry()
    ...  # @kopf.on.create(..., registry=registry) handlers
    with OperatorThread(api.url, registry, namespaces=["default"]):
        ...  # the operator is connected and watching
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Collection
from types import TracebackType
from typing import Any

import kopf

STANDIN_LOGIN_ID = "standin-login"


def quick_settings(settings: kopf.OperatorSettings | None = None) -> kopf.OperatorSettings:
    """Settings for tests: standalone (no peering), short exit and idle times, fast retries
    (handler errors are retried after 0.2 s instead of kopf's 60 s)."""
    settings = settings or kopf.OperatorSettings()
    settings.peering.standalone = True
    settings.execution.default_backoff = 0.2
    settings.queueing.exit_timeout = 0.1
    settings.queueing.idle_timeout = 0.5
    settings.watching.reconnect_backoff = 0.05
    settings.networking.error_backoffs = [0.1, 0.2, 0.5]
    settings.background.instant_exit_timeout = 0.1
    settings.process.ultimate_exiting_timeout = 5
    return settings


def attach_login(registry: kopf.OperatorRegistry, server: str,
                 default_namespace: str = "default") -> None:
    """Give the registry a login handler for the stand-in (a fresh registry has none; a login
    handler of ours also takes precedence over kopf's fallback kubeconfig logins)."""
    for handler in registry._activities.get_all_handlers():
        if handler.id == STANDIN_LOGIN_ID:
            return

    @kopf.on.login(registry=registry, id=STANDIN_LOGIN_ID)
    def standin_login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=server, insecure=True,
                                   default_namespace=default_namespace, priority=100)


class OperatorThread:
    """``kopf.operator()`` in its own thread and loop; ``start()`` returns once it is ready."""

    def __init__(
        self,
        server: str,
        registry: kopf.OperatorRegistry,
        *,
        namespaces: Collection[str] = ("default",),
        clusterwide: bool = False,
        settings: kopf.OperatorSettings | None = None,
        memo: object | None = None,
        startup_timeout: float = 15,
        quick: bool = True,
    ) -> None:
        attach_login(registry, server)
        settings = settings or kopf.OperatorSettings()
        self.registry, self.settings = registry, quick_settings(settings) if quick else settings
        self.settings.peering.standalone = True
        self.namespaces = () if clusterwide else tuple(namespaces)
        self.clusterwide, self.memo, self.startup_timeout = clusterwide, memo, startup_timeout
        self._ready, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(kopf.operator(
                registry=self.registry, settings=self.settings, standalone=True,
                clusterwide=self.clusterwide, namespaces=self.namespaces, memo=self.memo,
                stop_flag=self._stop, ready_flag=self._ready,
            ))
        except BaseException as exc:  # surfaced by start()/stop()
            logging.getLogger(__name__).exception("the kopf operator failed")
            self.error = exc
        finally:
            self._ready.set()

    def start(self) -> OperatorThread:
        self._thread = threading.Thread(target=self._run, name="kopf-operator", daemon=True)
        self._thread.start()
        if not self._ready.wait(self.startup_timeout) or self.error is not None:
            self.stop()
            raise RuntimeError(f"the kopf operator did not start: {self.error!r}")
        return self

    def stop(self, timeout: float = 15) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError("the kopf operator did not stop in time")
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> OperatorThread:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
