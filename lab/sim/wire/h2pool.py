"""A pool of HTTP/2 client connections, one per peer, as a proxy keeps them to the peers it sends to: a
request reuses the peer's connection while it is usable; concurrent requests for a new peer share one dial; a
connection the peer closed, or one unused for the idle timeout, is closed by a sweep; one replaced in the pool
is closed once its last stream ends."""
from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable, Hashable

from .background import spawn
from .h2conn import H2Client


class H2Pool:
    """One HTTP/2 connection per peer (any hashable that says where and how to dial: the proxy's Route, whose
    address, port, identity and transport header make one peer), dialled on first use, closed once idle."""

    def __init__(self, dial: Callable[[Hashable], Awaitable[H2Client]], idle_timeout: float):
        self.dial, self.idle_timeout = dial, idle_timeout
        self.conns: dict[Hashable, H2Client] = {}
        self._last_used: dict[Hashable, float] = {}
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._draining: set[H2Client] = set()  # replaced in the pool, closed when their streams end
        self._sweeper: asyncio.TimerHandle | None = None

    async def get(self, peer: Hashable) -> tuple[H2Client, bool]:
        """(connection, reused): a usable pooled one, or a new one `dial(peer)` made."""
        self._last_used[peer] = time.monotonic()
        conn = self.conns.get(peer)
        if conn is not None and conn.usable():
            return conn, True
        lock = self._locks.setdefault(peer, asyncio.Lock())
        async with lock:  # concurrent requests for a new peer share one dial
            conn = self.conns.get(peer)
            if conn is not None and conn.usable():
                return conn, True
            if conn is not None:
                self._retire(conn)
            conn = self.conns[peer] = await self.dial(peer)
            self._arm()
            return conn, False

    def _retire(self, conn: H2Client) -> None:
        """A connection no longer handed out: close it once its last stream is done."""
        if conn.idle() or conn.closed:
            spawn(conn.close())
        else:
            self._draining.add(conn)

    def _arm(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().call_later(self.idle_timeout / 2, self._sweep)

    def _sweep(self) -> None:
        """Close what sat idle for idle_timeout, what the peer closed, and retired connections now idle."""
        self._sweeper = None
        now = time.monotonic()
        for key, conn in list(self.conns.items()):
            stale = now - self._last_used.get(key, 0) > self.idle_timeout
            if conn.closed or (conn.idle() and (stale or not conn.usable())):
                del self.conns[key]
                self._last_used.pop(key, None)
                self._locks.pop(key, None)
                spawn(conn.close())
        for conn in list(self._draining):
            if conn.idle() or conn.closed:
                self._draining.discard(conn)
                spawn(conn.close())
        if self.conns or self._draining:
            self._arm()

    def __len__(self) -> int:
        return len(self.conns) + len(self._draining)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        conns = list(self.conns.values()) + list(self._draining)
        self.conns.clear()
        self._draining.clear()
        for conn in conns:
            conn.abort()
            await conn.close()
