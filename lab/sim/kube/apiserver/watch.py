"""Watches, as the API server streams them: chunked events from a resourceVersion (410 Expired once the
store's history no longer reaches back that far), filtered by the object before and after each change,
bookmarks when asked, the initial events when asked, Table rows for `kubectl get -w`.
"""
from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web

from ..apiresources import Resource
from ..store import Gone, ObjectStore
from .rest import Resources
from .selectors import field_matcher, label_matcher
from .status import ApiError
from .tables import asked_table, table

WATCH_BOOKMARK_SECONDS = 5.0


class Watches:
    """The open watch streams of one API server."""

    def __init__(self, store: ObjectStore, resources: Resources):
        self.store, self.resources = store, resources
        self._open: set[asyncio.Task] = set()  # open watch streams, ended at stop

    def stop(self) -> None:
        """End every open watch (a watch is a request that lasts minutes: the server would otherwise wait
        for each before it stops)."""
        for task in list(self._open):
            task.cancel()

    async def serve(self, request: web.Request, res: Resource, namespace: str, name: str) -> web.StreamResponse:
        query = request.query
        labels, fields = label_matcher(query.get("labelSelector")), field_matcher(query.get("fieldSelector"))
        named = (lambda o: o["metadata"]["name"] == name) if name else (lambda o: True)
        include, columns_sent = asked_table(request), []

        def shaped(obj: dict) -> dict:
            """The object, or for `kubectl get -w` its Table row; the columns come with the first only."""
            if include is None:
                return self.resources.out(res, obj)
            row = {**table(res, [self.resources.out(res, obj)], include),
                   "metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]}}
            if columns_sent:
                row["columnDefinitions"] = []
            columns_sent.append(True)
            return row

        def wanted(obj: dict) -> bool:
            return (obj.get("kind") == res.kind and self.resources.kind_group_matches(res, obj)
                    and (not namespace or obj["metadata"].get("namespace") == namespace)
                    and named(obj) and labels(obj["metadata"].get("labels")) and fields(obj))

        async def relay(kind: str, obj: dict, old: dict | None) -> None:
            """As the API server's watch filters a change: by the object before and after it, so one that
            leaves the selectors is DELETED for this watch and one that enters them ADDED."""
            was = old is not None and wanted(old)
            now = kind != "DELETED" and wanted(obj)
            if was or now:
                await self._event(response, "MODIFIED" if was and now else "ADDED" if now else "DELETED", shaped(obj))

        queue: asyncio.Queue = asyncio.Queue()
        unsubscribe = self.store.subscribe(queue.put_nowait)
        response = web.StreamResponse(headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        task = asyncio.current_task()
        self._open.add(task)
        try:
            await response.prepare(request)
            since = query.get("resourceVersion", "")
            initial = query.get("sendInitialEvents") == "true"
            if since in ("", "0") or initial:
                for obj in self.resources.select(res, namespace, query):
                    if named(obj):
                        await self._event(response, "ADDED", shaped(obj))
                if initial:
                    await self._bookmark(response, res, {"k8s.io/initial-events-end": "true"})
            else:
                try:
                    missed = self.store.changes_since(int(since))
                except (Gone, ValueError) as exc:
                    await self._event(response, "ERROR", ApiError(410, "Expired", str(exc)).status())
                    return response
                for _, kind, obj, old in missed:
                    await relay(kind, obj, old)
            timeout = float(query.get("timeoutSeconds", "1800"))
            deadline = time.monotonic() + timeout
            bookmarks = query.get("allowWatchBookmarks") == "true"
            while time.monotonic() < deadline:
                wait = min(deadline - time.monotonic(), WATCH_BOOKMARK_SECONDS)
                try:
                    _, kind, obj, old = await asyncio.wait_for(queue.get(), max(wait, 0.01))
                except asyncio.TimeoutError:
                    if bookmarks:
                        await self._bookmark(response, res)
                    continue
                await relay(kind, obj, old)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            unsubscribe()
            self._open.discard(task)
        return response

    async def _event(self, response: web.StreamResponse, kind: str, obj: dict) -> None:
        await response.write(json.dumps({"type": kind, "object": obj}).encode() + b"\n")

    async def _bookmark(self, response: web.StreamResponse, res: Resource, annotations: dict | None = None) -> None:
        meta = {"resourceVersion": str(self.store.last_version), **({"annotations": annotations} if annotations else {})}
        await self._event(response, "BOOKMARK", {"kind": res.kind, "apiVersion": res.group_version, "metadata": meta})

