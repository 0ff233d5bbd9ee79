"""client-go's event recorder writing to another cluster's Kubernetes API with a link's credentials: how
the simulated service mirror records `ServiceMirroringSkipped` on the exported Service in the target
cluster (edge-26.8.3 multicluster/service-mirror/cluster_watcher.go: a broadcaster whose sink is the remote
cluster's Events API, component `linkerd-service-mirror-<target>`).

As tools/record/event.go at client-go v0.36.3 does: the first occurrence is created (POST), a repeat
patches the count; an API server's refusal (a Status: 401, 403, ...) is logged and the event dropped
("Server rejected event (will not retry!)"); a transport error is retried every 10 s, the first pause
randomized, up to 12 tries. The remote-access ClusterRole grants `events` create and patch for this.

`new_event` is the Event either recorder writes: this remote one, and the one each simulated cluster's
controllers record into their own store with (lab.sim.world.cluster).
"""
from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Callable

import aiohttp

from .informer import REQUEST_TIMEOUT, api_session, klog_error, status_message

MAX_TRIES = 12  # maxTriesPerEvent
SLEEP_SECONDS = 10.0  # defaultSleepDuration
# The simulated controllers run a pass whenever anything changes, far more often than a real controller
# records again: the same event within this long is the same occurrence, not counted twice (and a write per
# pass would wake the next pass for ever).
REPEAT_SECONDS = 60


def new_event(namespace: str, involved: dict, reason: str, message: str, type_: str, component: str,
              existing: list[dict]) -> dict | None:
    """The Event an event recorder writes: a new one, or the same one seen again with its count up
    (client-go tools/record: named `<object>.<unix nanoseconds in hex>`, matched by object, reason,
    message and source); None for a repeat within REPEAT_SECONDS."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for seen in existing:
        if (seen["involvedObject"].get("name"), seen["involvedObject"].get("kind"), seen.get("reason"),
                seen.get("message"), seen.get("source", {}).get("component")) == (
                involved["name"], involved["kind"], reason, message, component):
            if seen.get("lastTimestamp", "") >= time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - REPEAT_SECONDS)):
                return None
            return {**seen, "count": seen.get("count", 1) + 1, "lastTimestamp": now}
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{involved['name']}.{time.time_ns():x}", "namespace": namespace},
            "involvedObject": involved, "reason": reason, "message": message, "type": type_, "count": 1,
            "firstTimestamp": now, "lastTimestamp": now, "source": {"component": component},
            "reportingComponent": "", "reportingInstance": ""}


class _Rejected(Exception):
    """The API server answered with an error Status: the event is dropped."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class EventRecorder:
    def __init__(self, server: str, token: str, ca_pem: str | None, component: str,
                 log_line: Callable[[str], None] = lambda line: None):
        self.server, self.component, self.log_line = server.rstrip("/"), component, log_line
        self._session = api_session(token, ca_pem, 2, aiohttp.ClientTimeout(total=REQUEST_TIMEOUT))
        self._recorded: dict[tuple, dict] = {}  # the correlator's memory: what the server returned per event
        self._tasks: set[asyncio.Task] = set()
        # one write at a time, in the order recorded, as client-go's broadcaster hands its sink one event
        # after another (tools/record/event.go StartRecordingToSink): a count never goes back
        self._writing = asyncio.Lock()

    def event(self, obj: dict, reason: str, message: str, type_: str = "Normal") -> None:
        """Record an event about `obj` (an object read from the remote cluster) without waiting."""
        meta = obj["metadata"]
        involved = {"kind": obj.get("kind", "Service"), "namespace": meta.get("namespace", ""), "name": meta["name"],
                    "uid": meta.get("uid", ""), "apiVersion": obj.get("apiVersion", "v1"),
                    "resourceVersion": meta.get("resourceVersion", "")}
        key = (involved["kind"], involved["namespace"], involved["name"], reason, message)
        made = new_event(involved["namespace"] or "default", involved, reason, message, type_, self.component,
                         [self._recorded[key]] if key in self._recorded else [])
        if made is None:
            return  # the same occurrence again, within REPEAT_SECONDS
        # the correlator remembers an event when it sees it, not when the server answers (EventCorrelate in
        # tools/record/events_cache.go): a repeat made meanwhile counts up instead of creating it again
        self._recorded[key] = made
        task = asyncio.get_running_loop().create_task(self._write(key, made))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, key: tuple, event: dict) -> None:
        async with self._writing:  # FIFO: tasks are started, and so queue here, in the order recorded
            await self._write_now(key, event)

    async def _write_now(self, key: tuple, event: dict) -> None:
        ns = event["metadata"]["namespace"]
        for tries in range(1, MAX_TRIES + 1):
            try:
                self._recorded[key] = await self._send(ns, event)
                return
            except _Rejected as exc:
                self._recorded.pop(key, None)
                if exc.status != 409:  # AlreadyExists is logged at V(5) only
                    self.log_line(klog_error("Server rejected event (will not retry!)", str(exc), where="event.go:359"))
                return
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as exc:
                self.log_line(klog_error("Unable to write event (may retry after sleeping)", f"{type(exc).__name__}: {exc}",
                                         where="event.go:368"))
            if tries < MAX_TRIES:
                await asyncio.sleep(SLEEP_SECONDS * (random.random() if tries == 1 else 1))
        self.log_line(klog_error("Unable to write event (retry limit exceeded!)", "", where="event.go:307"))

    async def _send(self, ns: str, event: dict) -> dict:
        base = f"{self.server}/api/v1/namespaces/{ns}/events"
        if event.get("count", 1) > 1:  # a repeat: patch what the server has (recordEvent, updateExistingEvent)
            patch = {"count": event["count"], "lastTimestamp": event["lastTimestamp"], "message": event["message"]}
            async with self._session.patch(f"{base}/{event['metadata']['name']}", data=json.dumps(patch),
                                           headers={"Content-Type": "application/strategic-merge-patch+json"}) as response:
                if response.status != 404:  # gone from the server: create it again
                    return await _answer(response)
        fresh = {**event, "metadata": {k: v for k, v in event["metadata"].items() if k != "resourceVersion"}}
        async with self._session.post(base, json=fresh) as response:
            return await _answer(response)

    async def flush(self) -> None:
        """Wait until every event recorded so far is written or dropped (the correlator then knows what the
        server holds, so a repeat patches the count)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._session.close()


async def _answer(response) -> dict:
    body = await response.text()
    if response.status >= 400:
        raise _Rejected(response.status, status_message(response.status, body))
    return json.loads(body)

