"""A client-go informer on another cluster's Kubernetes API, over HTTPS with a link's credentials: how the
simulated service mirror and destination controller watch a linked cluster.

It behaves as client-go's reflector (tools/cache/reflector.go) at the version each profile's go.mod
pins: LIST, then WATCH from the list's resourceVersion with bookmarks, each watch asking for a random
timeout between 5 and 10 minutes, and on its end watching again from the last version seen (listing again
only after 410 Gone). A failed request is retried after a pause (`Retry`); the cache keeps what it had.
Authentication and RBAC are the API server's, once per request, so credentials revoked while a watch is
open are noticed when that watch ends, as on a real cluster.
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
import ssl
import time
from dataclasses import dataclass
from typing import Callable

import aiohttp

log = logging.getLogger("lab.sim.informer")
MIN_WATCH_TIMEOUT = 300  # minWatchTimeout (5 min) at both versions; the timeout is random in [min, 2*min]
REQUEST_TIMEOUT = 10.0  # a LIST or the start of a WATCH


@dataclass(frozen=True)
class Retry:
    """The pause before a failed LIST or WATCH is tried again: `initial`, times `factor` after each failure
    up to `cap`, each stretched by up to `jitter` of itself at random."""
    initial: float
    cap: float
    factor: float
    jitter: float

    def delays(self):
        delay = self.initial
        while True:
            yield delay * (1 + self.jitter * random.random())
            delay = min(delay * self.factor, self.cap)


# client-go v0.36.3 (edge-26.8.3): defaultBackoffInit 800ms, defaultBackoffMax 30s, factor 2, jitter 1.0
CLIENT_GO_V0_36 = Retry(0.8, 30.0, 2.0, 1.0)
# client-go v0.17.4 (stable-2.8.1): wait.Until with the reflector's period, one second, no backoff
CLIENT_GO_V0_17 = Retry(1.0, 1.0, 1.0, 0.0)


@dataclass(frozen=True)
class Watched:
    kind: str
    path: str  # the cluster-wide collection, e.g. /api/v1/services
    type_description: str  # as the reflector names it in its errors


SERVICES = Watched("Service", "/api/v1/services", "*v1.Service")
ENDPOINTS = Watched("Endpoints", "/api/v1/endpoints", "*v1.Endpoints")
ENDPOINT_SLICES = Watched("EndpointSlice", "/apis/discovery.k8s.io/v1/endpointslices", "*v1.EndpointSlice")
PODS = Watched("Pod", "/api/v1/pods", "*v1.Pod")
SERVERS = Watched("Server", "/apis/policy.linkerd.io/v1beta3/servers", "*v1beta3.Server")


def api_session(token: str, ca_pem: str | None, connections: int,
                timeout: aiohttp.ClientTimeout | None = None) -> aiohttp.ClientSession:
    """A client of another cluster's API server as the account behind `token`, trusting `ca_pem`."""
    context = ssl.create_default_context(cadata=ca_pem) if ca_pem else ssl.create_default_context()
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context, limit=connections),
                                 headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                                 **({"timeout": timeout} if timeout else {}))


class RequestFailed(Exception):
    """The API server refused or could not be reached; the text is what the controller would log."""


def status_message(status: int, body: str) -> str:
    try:
        message = json.loads(body).get("message") or body
    except (ValueError, AttributeError):
        message = body
    return {401: "Unauthorized"}.get(status, f"{message} ({status})")


def klog_error(message: str, err: str, where: str = "reflector.go:227", **fields: str) -> str:
    """A line as the controller's klog writes an error (structured: the message, then err and the fields);
    `where` is the file and line of client-go v0.36.3 that logs it."""
    now = time.time()
    stamp = time.strftime("%m%d %H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}"
    extra = "".join(f' {k}="{v}"' for k, v in fields.items())
    return f'E{stamp}       1 {where}] "{message}"' + (f' err="{err}"' if err else "") + extra


class Informer:
    """Caches `watched` on the API server at `server`, as the account behind `token` may see them.
    `on_change` is called after every change to the cache, and when the informer's error changes;
    `log_line` gets each failure as the controller logs it."""

    def __init__(self, server: str, token: str, ca_pem: str | None, watched: tuple[Watched, ...],
                 on_change: Callable[[], None] = lambda: None, log_line: Callable[[str], None] = lambda line: None,
                 retry: Retry = CLIENT_GO_V0_36, min_watch_timeout: float = MIN_WATCH_TIMEOUT):
        self.server, self.watched = server.rstrip("/"), watched
        self.on_change, self.log_line, self.retry = on_change, log_line, retry
        self.min_watch_timeout = min_watch_timeout
        self.cache: dict[str, dict[tuple[str, str], dict]] = {w.kind: {} for w in watched}
        self.synced: set[str] = set()
        self.errors: dict[str, str] = {}
        self.version = 0  # counts changes to the cache: what the mirror's "anything new?" compares
        self._answered = asyncio.Event()  # set once every collection has synced or failed
        self._session = api_session(token, ca_pem, len(watched) + 2)
        self._indexes: dict[tuple[str, str], tuple[int, dict]] = {}
        self._tasks = [asyncio.get_running_loop().create_task(self._reflect(w)) for w in watched]

    # -- what the mirror reads ------------------------------------------------------------------
    @property
    def has_synced(self) -> bool:
        """Every collection listed once (cache.WaitForCacheSync): before that, the controller does nothing."""
        return len(self.synced) == len(self.watched)

    @property
    def answered(self) -> bool:
        """Each collection has listed once or failed: the API server has said something, either way."""
        return self._answered.is_set()

    async def wait_answered(self) -> None:
        await self._answered.wait()

    def _note_answer(self) -> None:
        if len(self.synced | set(self.errors)) == len(self.watched):
            self._answered.set()

    @property
    def error(self) -> str | None:
        return "; ".join(self.errors[k] for k in sorted(self.errors)) or None

    def list(self, kind: str) -> list[dict]:
        return list(self.cache[kind].values())

    def get(self, kind: str, namespace: str, name: str) -> dict | None:
        return self.cache[kind].get((namespace, name))

    def by_label(self, kind: str, namespace: str, label: str, value: str) -> list[dict]:
        """The cached objects of `kind` in `namespace` with `label=value` (an indexer, as client-go's: built
        again only after the cache changed, since proxies ask on every request)."""
        built, index = self._indexes.get((kind, label), (-1, {}))
        if built != self.version:
            index = {}
            for (ns, _), obj in self.cache[kind].items():
                found = (obj["metadata"].get("labels") or {}).get(label)
                if found is not None:
                    index.setdefault((ns, found), []).append(obj)
            self._indexes[(kind, label)] = (self.version, index)
        return index.get((namespace, value), [])

    async def close(self) -> None:
        self._answered.set()  # nobody waits for an answer from a closed informer
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._session.close()

    # -- the reflector --------------------------------------------------------------------------
    async def _reflect(self, w: Watched) -> None:
        version, delays = None, self.retry.delays()
        while True:
            try:
                if version is None:
                    version = await self._list(w)
                version = await self._watch(w, version)
                delays = self.retry.delays()
                continue
            except _Expired:
                version = None  # 410 Gone: list again, at once
                continue
            except RequestFailed as exc:
                self._set_error(w, str(exc))
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as exc:
                self._set_error(w, f"{w.type_description}: {type(exc).__name__}: {exc}")
            await asyncio.sleep(next(delays))

    def _set_error(self, w: Watched, error: str | None) -> None:
        if error is not None:  # every failure is logged, as each retry is
            self.log_line(klog_error("Failed to watch", error, type=w.type_description))
        if self.errors.get(w.kind) == error:
            return
        if error is None:
            self.errors.pop(w.kind, None)
        else:
            log.warning("%s: %s", self.server, error)
            self.errors[w.kind] = error
            self._note_answer()
        self.on_change()

    async def _list(self, w: Watched) -> str:
        async with self._session.get(self.server + w.path, timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)) as response:
            body = await response.text()
            if response.status != 200:  # reflector.go: fmt.Errorf("failed to list %v: %w", ...)
                raise RequestFailed(f"failed to list {w.type_description}: {status_message(response.status, body)}")
        data = json.loads(body)
        self.cache[w.kind] = {(o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in data.get("items", [])}
        self.synced.add(w.kind)
        self._note_answer()
        self._set_error(w, None)
        self._changed()
        return data["metadata"]["resourceVersion"]

    async def _watch(self, w: Watched, version: str) -> str:
        """One watch, until the API server ends it; returns the last resourceVersion seen."""
        timeout = int(self.min_watch_timeout * (1 + random.random()))
        params = {"watch": "true", "resourceVersion": version, "timeoutSeconds": str(timeout),
                  "allowWatchBookmarks": "true"}
        async with self._session.get(self.server + w.path, params=params,
                                     timeout=aiohttp.ClientTimeout(total=None, sock_connect=REQUEST_TIMEOUT)) as response:
            if response.status != 200:
                raise RequestFailed(status_message(response.status, await response.text()))
            self._set_error(w, None)
            async for line in response.content:
                if not line.strip():
                    continue
                event = json.loads(line)
                obj = event.get("object") or {}
                if event.get("type") == "ERROR":
                    if obj.get("code") == 410:
                        raise _Expired()
                    raise RequestFailed(status_message(obj.get("code", 500), json.dumps(obj)))
                version = obj.get("metadata", {}).get("resourceVersion", version)
                if event["type"] == "BOOKMARK":
                    continue
                key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
                if event["type"] == "DELETED":
                    self.cache[w.kind].pop(key, None)
                else:
                    self.cache[w.kind][key] = obj
                self._changed()
        return version

    def _changed(self) -> None:
        self.version += 1
        self.on_change()


class _Expired(Exception):
    """The watch's resourceVersion is too old (410 Gone)."""
