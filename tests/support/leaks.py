"""Leak scan: no plaintext or private key of the test session may appear in anything observable.

A pytest plugin (loaded by tests/conftest.py). During the session it

- registers **canaries**: every plaintext sealed through ``sealer.crypto.seal`` that is
  distinctive enough to search for (12+ printable characters, 5+ distinct ones, no PEM armour),
  as text and as the base64 a Secret stores; and fragments of every private key serialised or
  parsed through ``sealer.keys`` (PEM body lines, the base64 of the PEM a key Secret stores,
  the private exponent in decimal and hex). Tests can add their own with :func:`canary`.
- **observes** what a user or an operator could see: every log record of every logger at DEBUG
  (kopf's, aiohttp's and kubernetes' too), the message of every ``SealerError``
  built, the answer of every controller HTTP API request, every metrics exposition when a
  controller stops, the Events and SealedSecret statuses in every API stand-in when it stops,
  and the output and errors of every CLI run through ``CliRunner`` (but the standard output of
  ``sealer unseal``, whose job is to print plaintext).

At the end of the session (of each xdist worker) every observation is searched for every canary;
a hit fails the session with where it was seen. ``SEALER_LEAK_SCAN=0`` turns it off;
``SEALER_LEAK_STATS=FILE`` appends what was registered and observed (one JSON line per worker).
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

MIN_CANARY, MIN_DISTINCT = 12, 5
MAX_CANARIES = 5_000  # the scan is canaries x observed text: keep it cheap


@dataclass
class Registry:
    canaries: dict[str, str] = field(default_factory=dict)  # text -> what it is
    seen: dict[str, set[str]] = field(default_factory=dict)  # source -> texts observed
    counts: dict[str, int] = field(default_factory=dict)  # source -> observations
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, text: str, what: str) -> None:
        with self.lock:
            if len(self.canaries) < MAX_CANARIES:
                self.canaries.setdefault(text, what)

    def observe(self, source: str, text: str | bytes | None) -> None:
        if not text:
            return
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        with self.lock:
            self.seen.setdefault(source, set()).add(text)
            self.counts[source] = self.counts.get(source, 0) + 1

    def hits(self) -> list[tuple[str, str, str]]:
        """(source, canary kind, excerpt) for every canary found anywhere."""
        with self.lock:
            canaries = dict(self.canaries)
            seen = {k: "\n".join(v) for k, v in self.seen.items()}
        found = []
        for source, text in seen.items():
            for canary, what in canaries.items():
                at = text.find(canary)
                if at >= 0:
                    found.append((source, f"{what} {canary[:60]!r}",
                                  text[max(0, at - 40): at + len(canary) + 40]))
        return found


REGISTRY = Registry()


def canary(value: bytes | str, what: str = "plaintext") -> bytes:
    """Register ``value`` (and its base64) as something that must never be seen; returns bytes."""
    data = value.encode() if isinstance(value, str) else value
    _register_plaintext(data, what, force=True)
    return data


@functools.cache
def _public_text() -> str:
    """The product's source: hypothesis draws strings from its literals (e.g. the hash
    derivation label), which are public. Test literals stay canaries."""
    root = Path(__file__).resolve().parents[2]
    return "\n".join(p.read_text(errors="replace") for folder in ("sealer", "controller")
                     for p in (root / folder).rglob("*.py"))


def _register_plaintext(data: bytes, what: str, force: bool = False) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if not force and text and text in _public_text():
        return
    distinctive = (len(text) >= MIN_CANARY and text.isprintable()
                   and len(set(text)) >= MIN_DISTINCT and "-----" not in text)  # not PEM
    if distinctive or (force and text):
        REGISTRY.add(text, what)
    if distinctive or force:
        REGISTRY.add(base64.b64encode(data).decode(), f"{what} (base64)")


def register_private_key(key: Any) -> None:
    pem = _ORIGINAL["private_key_pem"](key)  # the real serialiser, not the observing wrapper
    lines = [ln for ln in pem.decode().splitlines() if ln and not ln.startswith("-----")]
    for line in lines[len(lines) // 3: len(lines) // 3 + 2]:
        REGISTRY.add(line, "private key (PEM line)")
    stored = base64.b64encode(pem).decode()
    middle = (len(stored) // 2) // 4 * 4
    REGISTRY.add(stored[middle: middle + 48], "private key (key Secret data)")
    d = key.private_numbers().d
    REGISTRY.add(str(d)[:40], "private key (exponent, decimal)")
    REGISTRY.add(f"{d:x}"[:40], "private key (exponent, hex)")


# --- observing wrappers ---------------------------------------------------------------------

_ORIGINAL: dict[str, Any] = {}


class _Capture(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken log call is not ours to report here
            return
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        REGISTRY.observe(f"log {record.name}", text)


def _install() -> Callable[[], None]:
    import click.testing

    from controller import api, runtime
    from sealer import crypto, errors, keys
    from tests.support import kubeapi

    undo: list[Callable[[], None]] = []

    def patch(owner: Any, name: str, make: Callable[[Any], Any]) -> None:
        original = getattr(owner, name)
        setattr(owner, name, make(original))
        undo.append(lambda: setattr(owner, name, original))

    def seal(original: Any) -> Any:
        def wrapper(public_key: Any, plaintext: bytes, *args: Any, **kw: Any) -> Any:
            _register_plaintext(plaintext, "plaintext")
            return original(public_key, plaintext, *args, **kw)
        return wrapper

    def keyed(original: Any) -> Any:
        def wrapper(*args: Any, **kw: Any) -> Any:
            key = original(*args, **kw)
            register_private_key(key)
            return key
        return wrapper

    def serialised(original: Any) -> Any:
        def wrapper(key: Any) -> Any:
            register_private_key(key)
            return original(key)
        return wrapper

    def error_init(original: Any) -> Any:
        def wrapper(self: Exception, *args: Any, **kw: Any) -> None:
            original(self, *args, **kw)
            REGISTRY.observe("exception message", str(self))
        return wrapper

    def app(original: Any) -> Any:
        from aiohttp import web

        @web.middleware
        async def capture(request: web.Request, handler: Any) -> web.StreamResponse:
            response: web.StreamResponse = await handler(request)
            if isinstance(response, web.Response) and response.body is not None:
                body = response.body
                REGISTRY.observe(f"HTTP API {request.path}",
                                 body if isinstance(body, bytes | str) else None)
            return response

        def wrapper(self: Any) -> Any:
            application = original(self)
            application.middlewares.append(capture)
            return application
        return wrapper

    def stop(original: Any) -> Any:
        async def wrapper(self: Any) -> None:
            REGISTRY.observe("metrics", self.metrics.exposition())
            await original(self)
        return wrapper

    def api_stop(original: Any) -> Any:
        def wrapper(self: Any) -> None:
            loop = self._loop
            serving = self._error is None and loop is not None and loop.is_running()
            if serving and self._thread is not None and self._thread.is_alive():
                try:
                    REGISTRY.observe("Events", repr(self.list("events")))
                    REGISTRY.observe("SealedSecret status",
                                     repr([o.get("status") for o in self.list("sealedsecrets")]))
                except Exception:  # noqa: BLE001, S110 - a stand-in that is already broken
                    pass
            original(self)
        return wrapper

    def invoke(original: Any) -> Any:
        def wrapper(self: Any, cli: Any, args: Any = None, *rest: Any, **kw: Any) -> Any:
            result = original(self, cli, args, *rest, **kw)
            words = [str(a) for a in (args or [])] if not isinstance(args, str) else args.split()
            command = next((a for a in words if not a.startswith("-")), "")
            if command != "unseal":
                REGISTRY.observe(f"CLI output of {' '.join(words)[:200]}", result.stdout_bytes)
            REGISTRY.observe(f"CLI errors of {' '.join(words)[:200]}", result.stderr_bytes)
            return result
        return wrapper

    _ORIGINAL["private_key_pem"] = keys.private_key_pem
    patch(crypto, "seal", seal)
    patch(keys, "load_private_key", keyed)
    patch(keys, "private_key_pem", serialised)
    patch(errors.SealerError, "__init__", error_init)
    patch(api.Api, "app", app)
    patch(runtime.Runtime, "stop", stop)
    patch(kubeapi.KubeAPI, "stop", api_stop)
    patch(click.testing.CliRunner, "invoke", invoke)
    handler = _Capture(logging.DEBUG)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)

    def uninstall() -> None:
        root.removeHandler(handler)
        root.setLevel(previous)
        for step in reversed(undo):
            step()
    return uninstall


@pytest.fixture(scope="session", autouse=True)
def leak_scan() -> Iterator[Registry]:
    if os.environ.get("SEALER_LEAK_SCAN", "1") == "0":
        yield REGISTRY
        return
    uninstall = _install()
    yield REGISTRY
    uninstall()
    hits = REGISTRY.hits()
    if stats := os.environ.get("SEALER_LEAK_STATS"):
        kinds: dict[str, int] = {}
        for what in REGISTRY.canaries.values():
            kinds[what] = kinds.get(what, 0) + 1
        with open(stats, "a") as handle:
            observed: dict[str, int] = {}
            for source, count in REGISTRY.counts.items():
                short = " ".join(source.split()[:4]) if source.startswith("CLI ") else source
                observed[short] = observed.get(short, 0) + count
            handle.write(json.dumps({"canaries": kinds, "observed": observed,
                                     "hits": len(hits)}) + "\n")
    if hits:
        lines = [f"  {source}: {what}: ...{excerpt!r}..." for source, what, excerpt in hits[:20]]
        pytest.fail(f"{len(hits)} leak(s) of test secrets:\n" + "\n".join(lines), pytrace=False)
