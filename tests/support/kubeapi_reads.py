"""The read paths of the emulator: get-as-version, lists (selectors, pages, tables) and watch
streams (initial state or replay from a resourceVersion, then live events).

The snapshot or backlog of a watch and its subscription happen in one synchronous step on the
emulator's loop, so a list followed by a watch from the list's resourceVersion loses nothing.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import aiohttp.web

from tests.support.kubeapi_catalog import ResourceType
from tests.support.kubeapi_objects import ApiError
from tests.support.kubeapi_query import make_matcher
from tests.support.kubeapi_tables import accepts_table, table
from tests.support.kubeapi_watch import CUT, Watcher, WatchHub

Obj = dict[str, Any]


class Reads:
    """Mixed into the emulator; relies on the store accessors of ``Writes`` and the hub."""

    hub: WatchHub
    _rv: int
    _stored: Callable[[ResourceType], list[Obj]]  # from Writes

    def _present(self, rt: ResourceType, obj: Obj) -> Obj:
        """The object as seen through the requested version of its resource."""
        if obj.get("apiVersion") == rt.api_version:
            return obj
        return {**obj, "apiVersion": rt.api_version}

    # --- reads -----------------------------------------------------------------------------

    def _matcher(self, rt: ResourceType, namespace: str | None, name: str | None,
                 params: Mapping[str, str]) -> Any:
        try:
            return make_matcher(namespace if rt.namespaced else None,
                                params.get("labelSelector"), params.get("fieldSelector"), name)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from exc

    def _list(self, rt: ResourceType, namespace: str | None, params: Mapping[str, str],
              accept: str) -> Obj:
        matches = self._matcher(rt, namespace, None, params)
        items = sorted(
            (self._present(rt, obj) for obj in self._stored(rt) if matches(obj)),
            key=lambda o: (o["metadata"].get("namespace") or "", o["metadata"]["name"]),
        )
        metadata: Obj = {"resourceVersion": str(self._rv)}
        if token := params.get("continue"):
            try:
                after = tuple(json.loads(base64.urlsafe_b64decode(token))["after"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ApiError(400, "invalid continue token") from exc
            items = [o for o in items
                     if (o["metadata"].get("namespace") or "", o["metadata"]["name"]) > after]
        limit = int(params.get("limit") or 0)
        if 0 < limit < len(items):
            last = items[limit - 1]["metadata"]
            after_key = [last.get("namespace") or "", last["name"]]
            metadata["continue"] = base64.urlsafe_b64encode(
                json.dumps({"after": after_key}).encode()).decode()
            metadata["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        if accepts_table(accept):
            return table(rt, items, metadata, params.get("includeObject", "Metadata"))
        return {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": metadata,
                "items": items}

    async def _watch(self, raw: aiohttp.web.BaseRequest, rt: ResourceType,
                     namespace: str | None, name: str | None, params: Mapping[str, str],
                     accept: str) -> aiohttp.web.StreamResponse:
        watcher = Watcher(rt.storage, self._matcher(rt, namespace, name, params))
        since = params.get("resourceVersion") or ""
        initial = params.get("sendInitialEvents") == "true" or since in ("", "0")
        events: list[tuple[str, Obj]] = []
        gone = False
        # Synchronously, so that no write can fall between the snapshot and the subscription:
        if initial:
            events = [("ADDED", o) for o in self._stored(rt) if watcher.matches(o)]
        else:
            try:
                backlog = self.hub.backlog(watcher, int(since))
            except ValueError as exc:
                raise ApiError(400, f"invalid resourceVersion {since!r}") from exc
            gone = backlog is None
            events = backlog or []
        try:
            timeout = float(params["timeoutSeconds"]) if params.get("timeoutSeconds") else None
        except ValueError as exc:
            raise ApiError(400, "timeoutSeconds must be a number") from exc
        snapshot_rv = self._rv
        self.hub.watchers.add(watcher)
        response = aiohttp.web.StreamResponse(
            status=200, headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        try:
            await response.prepare(raw)
            as_table = accepts_table(accept)
            include = params.get("includeObject", "Metadata")
            first = True

            async def send(etype: str, obj: Obj) -> None:
                nonlocal first
                if as_table and etype in ("ADDED", "MODIFIED", "DELETED"):
                    obj = table(rt, [obj], {"resourceVersion": obj["metadata"].get(
                        "resourceVersion", "")}, include, headers=first)
                    first = False
                elif etype != "ERROR":
                    obj = self._present(rt, obj)
                await response.write(json.dumps({"type": etype, "object": obj}).encode() + b"\n")

            if gone:
                expired = ApiError(410, f"too old resource version: {since} "
                                        f"({self.hub.trimmed_rv})", reason="Expired")
                await send("ERROR", expired.status())
                return response
            for etype, obj in events:
                await send(etype, obj)
            if params.get("sendInitialEvents") == "true" and params.get(
                    "allowWatchBookmarks") == "true":
                await send("BOOKMARK", {
                    "kind": rt.kind, "apiVersion": rt.api_version,
                    "metadata": {"resourceVersion": str(snapshot_rv),
                                 "annotations": {"k8s.io/initial-events-end": "true"}}})
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout if timeout else None
            while True:
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(watcher.queue.get(), remaining)
                except TimeoutError:
                    break
                if item is CUT:
                    if watcher.abort and raw.transport is not None:
                        raw.transport.abort()
                        return response
                    break
                await send(*item)
            await response.write_eof()
            return response
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            return response  # the client went away
        finally:
            self.hub.watchers.discard(watcher)
