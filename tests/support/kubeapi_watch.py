"""Watch streams: a bounded log of changes for replay by resourceVersion, and live subscribers.

Everything here runs on the emulator's event loop. Publishing and subscribing are synchronous
(no ``await``), so a list, a subscription and the changes between them never interleave:
a watch from a list's resourceVersion misses nothing.
"""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass, field
from typing import Any

import kmock

from tests.support.kubeapi_query import Matcher

Obj = dict[str, Any]
CUT = object()  # the sentinel that ends a stream


@dataclass(frozen=True)
class Change:
    """One write: its resourceVersion, the stored resource, the event type, new and old state."""

    rv: int
    resource: kmock.resource
    type: str  # ADDED, MODIFIED, DELETED
    obj: Obj
    old: Obj | None = None


@dataclass(eq=False)
class Watcher:
    """One open watch stream: what it wants and the queue of events it has not yet sent."""

    resource: kmock.resource
    matches: Matcher
    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    abort: bool = False

    def event_for(self, change: Change) -> tuple[str, Obj] | None:
        """The event this watcher sees, turning selector transitions into ADDED/DELETED."""
        if change.type != "MODIFIED":
            return (change.type, change.obj) if self.matches(change.obj) else None
        now_in = self.matches(change.obj)
        was_in = change.old is not None and self.matches(change.old)
        if now_in and was_in:
            return ("MODIFIED", change.obj)
        if now_in:
            return ("ADDED", change.obj)
        if was_in:
            return ("DELETED", change.obj)
        return None

    def offer(self, change: Change) -> None:
        if change.resource == self.resource and (event := self.event_for(change)):
            self.queue.put_nowait(event)

    def cut(self, abort: bool = False) -> None:
        self.abort = abort
        self.queue.put_nowait(CUT)


@dataclass
class WatchHub:
    """The change log (bounded: older resourceVersions answer 410 Gone) and the open watches."""

    limit: int = 20_000
    log: collections.deque[Change] = field(default_factory=collections.deque)
    trimmed_rv: int = 0  # changes up to and including this rv are gone from the log
    watchers: set[Watcher] = field(default_factory=set)
    published: int = 0

    def publish(self, change: Change) -> None:
        self.published += 1
        self.log.append(change)
        while len(self.log) > self.limit:
            self.trimmed_rv = self.log.popleft().rv
        for watcher in list(self.watchers):
            watcher.offer(change)

    def backlog(self, watcher: Watcher, since: int) -> list[tuple[str, Obj]] | None:
        """Events after ``since`` for this watcher, oldest first; None if already trimmed."""
        if since < self.trimmed_rv:
            return None
        changes: list[Change] = []
        for change in reversed(self.log):
            if change.rv <= since:
                break
            changes.append(change)
        events = []
        for change in reversed(changes):
            if change.resource == watcher.resource and (event := watcher.event_for(change)):
                events.append(event)
        return events

    def cut_all(self, abort: bool = False) -> int:
        watchers = list(self.watchers)
        for watcher in watchers:
            watcher.cut(abort)
        return len(watchers)
