"""Test hooks around the emulator: the request log and counters, fault injection, the service
proxy, and the membership fast path that keeps kmock's reaction matching O(1) per request.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

import aiohttp
import aiohttp.web
import kmock
import yarl

from tests.support.kubeapi_objects import ApiError


@dataclass
class RequestRecord:
    """One request as the API saw it (``verb`` in Kubernetes terms: get, list, watch, create,
    update, patch, delete, deletecollection, proxy, discovery, other)."""

    seq: int
    method: str
    path: str
    query: str
    verb: str
    group: str | None = None
    version: str | None = None
    resource: str | None = None
    subresource: str | None = None
    namespace: str | None = None
    name: str | None = None
    status: int = 0
    fault: bool = False


@dataclass
class RequestLog:
    """A bounded log of recent requests plus unbounded counters by (verb, resource)."""

    limit: int = 10_000
    records: collections.deque[RequestRecord] = field(default_factory=collections.deque)
    counts: collections.Counter[tuple[str, str | None]] = field(
        default_factory=collections.Counter)
    total: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self.total += 1
            self.counts[record.verb, record.resource] += 1
            self.records.append(record)
            while len(self.records) > self.limit:
                self.records.popleft()

    def count(self, verb: str | None = None, resource: str | None = None) -> int:
        with self._lock:
            return sum(n for (v, r), n in self.counts.items()
                       if verb in (None, v) and resource in (None, r))

    def snapshot(self) -> list[RequestRecord]:
        with self._lock:
            return list(self.records)

    def clear(self) -> None:
        with self._lock:
            self.records.clear()
            self.counts.clear()


@dataclass
class Fault:
    """An injected failure: requests matching all the given fields are delayed and/or failed.

    ``status=None`` with a ``delay`` only slows the request down; ``times=None`` never runs out.
    """

    verb: str | None = None
    resource: str | None = None
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    status: int | None = 500
    times: int | None = 1
    retry_after: int | None = None
    delay: float | None = None
    message: str | None = None
    delay_response: float | None = None  # after the request is carried out
    hits: int = 0

    def matches(self, record: RequestRecord) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        resource_names = {record.resource, f"{record.resource}.{record.group}"}
        return (
            (self.verb is None or self.verb == record.verb)
            and (self.resource is None or self.resource in resource_names)
            and (self.namespace is None or self.namespace == record.namespace)
            and (self.name is None or self.name == record.name)
            and (self.subresource is None or self.subresource == record.subresource)
        )

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times


@dataclass
class FaultSet:
    faults: list[Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def take(self, record: RequestRecord) -> Fault | None:
        """The first live fault matching the request, with its hit counted."""
        with self._lock:
            for fault in self.faults:
                if fault.matches(record):
                    fault.hits += 1
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()


@dataclass
class MatchStats:
    checks: int = 0  # reaction-vs-request membership checks
    slow: int = 0  # ... that needed the history (slices, live streams): kmock's own O(n) scan

    @property
    def fast(self) -> int:
        return self.checks - self.slow


def contains(view: kmock.View, request: kmock.Request, stats: MatchStats) -> bool:
    """``request in view`` without re-filtering the whole request history where possible.

    kmock's ``View.__contains__`` materialises every past request through every filter, which
    is O(history) per reaction per request. For the views that do not depend on other
    requests (roots, filters, priorities, and/or/not groups) membership is a per-request
    predicate; slices and live streams do depend on the history and fall back to kmock.
    """
    if isinstance(view, kmock.Root):
        return True
    if isinstance(view, kmock.Filter):
        return bool(view.criteria(request)) and contains(view._source, request, stats)
    if isinstance(view, kmock.Exclusion):
        return contains(view._source, request, stats) and not any(
            contains(excluded, request, stats) for excluded in view._exclusions)
    if isinstance(view, kmock.OrGroup):
        return any(contains(source, request, stats) for source in view._sources)
    if isinstance(view, kmock.AndGroup):
        return all(contains(source, request, stats) for source in view._sources)
    if isinstance(view, kmock.Priority | kmock.Reaction) or type(view) is kmock.Chained:
        return contains(view._source, request, stats)
    stats.slow += 1
    return request in view


def trim(requests: list[kmock.Request], limit: int) -> None:
    """Keep kmock's own request history bounded (drop the oldest half when over the limit)."""
    if len(requests) > limit:
        del requests[: len(requests) - limit // 2]


def iter_reactions(root: kmock.Root) -> Iterable[kmock.Reaction]:
    """kmock's reactions in its own serving order: highest priority first, then oldest first."""
    payloads = list(root._payloads)
    if not payloads:
        return []
    priorities = [tuple(-p for p in payload.priorities) for payload in payloads]
    width = max(len(p) for p in priorities)
    padded = [p + (0,) * (width - len(p)) for p in priorities]
    order = sorted(range(len(payloads)), key=lambda index: padded[index])
    return [payloads[index] for index in order]


def proxied_service(service_part: str) -> str:
    """``http:NAME:http``, ``NAME:http``, ``NAME`` → NAME (the service proxy's name forms)."""
    parts = service_part.split(":")
    return parts[1] if len(parts) == 3 else parts[0]


async def forward(session: aiohttp.ClientSession, raw: aiohttp.web.BaseRequest, body: bytes,
                  backend: str) -> aiohttp.web.Response:
    """Pass a service-proxy request to the registered backend: method, path tail, raw query,
    body, content type and accept; answer with the backend's status, body and content type."""
    # /api/v1/namespaces/NS/services/NAME/proxy/<tail>: the tail starts at segment 8.
    tail = "/" + "/".join(raw.url.raw_path.split("/")[8:])
    url = backend.rstrip("/") + tail
    if raw.url.raw_query_string:
        url += "?" + raw.url.raw_query_string
    headers = {k: v for k, v in raw.headers.items() if k.lower() in ("content-type", "accept")}
    try:
        async with session.request(raw.method, yarl.URL(url, encoded=True), data=body or None,
                                   headers=headers, allow_redirects=False) as resp:
            payload = await resp.read()
            out = {"Content-Type": resp.headers["Content-Type"]} \
                if "Content-Type" in resp.headers else {}
            return aiohttp.web.Response(status=resp.status, body=payload, headers=out)
    except aiohttp.ClientError as exc:
        raise ApiError(503, f"error trying to reach service: {exc}") from exc
