"""A pod's loopback: its own processes reach its apps' ports as HTTP/1.1 bytes through a kernel socket.

On a real pod a process dialling localhost:PORT (curl, a load generator) writes HTTP/1.1 through the kernel's loopback to the app's listening socket, and the
app parses it and writes its answer back the same way. Here each such connection is a `socket.socketpair()`:
the dialler holds the near end (a `httpwire.ClientConnection`), and the far end is served by the app's
HTTP/1.1 server loop (`httpwire.HTTPServer.serve_socket`), so the bytes, their encoding and their parsing
are those of every other HTTP/1.1 connection in the lab. (The proxy's inbound side, which on a real pod
reaches the app the same way, calls it in process: proxy.py `_to_app` says why.)

There is no listener. A socketpair has no address, so no other process on the machine can connect to a
pod's apps around its proxy: the door that "A pod's identity is its own" (6d157e2) closed stays closed,
and only code acting as the pod's own processes, holding its `Loopback`, can dial.

Nothing outlives its use: a connection is closed by its user when done, here when an exchange on it fails
or times out (an HTTP/1.1 connection with a request half-answered cannot carry another), and every one
still open, near end and far end, when the pod stops (`close`).
"""
from __future__ import annotations

import asyncio
import socket
from typing import Callable

from . import httpwire
from .background import spawn


class Loopback:
    """The loopback of one pod: `handlers` (pod port -> `await handler(request) -> Response`) answer there."""

    def __init__(self, handlers: dict[int, Callable]):
        self._servers = {port: httpwire.HTTPServer(handler) for port, handler in handlers.items()}
        self._near: set[asyncio.StreamWriter] = set()  # the diallers' ends still open
        self._closed = False

    def __contains__(self, port: int) -> bool:
        return port in self._servers and not self._closed

    async def open(self, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Dial localhost:`port`: (reader, writer) of a new connection. ConnectionRefusedError when nothing
        listens there (no such app, or the pod has stopped)."""
        server = self._servers.get(port)
        if server is None or self._closed:
            raise ConnectionRefusedError(111, "Connection refused")
        near, far = socket.socketpair()
        try:
            reader, writer = await asyncio.open_connection(sock=near)
        except BaseException:
            near.close()
            far.close()
            raise
        spawn(server.serve_socket(far))  # closes `far` whatever happens
        if len(self._near) >= 64:
            self._prune()
        self._near.add(writer)
        return reader, writer

    async def connect(self, port: int) -> httpwire.ClientConnection:
        return httpwire.ClientConnection(*await self.open(port))

    async def send(self, conn: httpwire.ClientConnection, port: int, request: httpwire.Request,
                   timeout: float) -> httpwire.Response:
        """`request` on `conn`, kept open for the next one when both sides allow it; closed when the exchange
        fails or takes longer than `timeout` seconds (asyncio.TimeoutError)."""
        if "host" not in request.headers:  # curl always sends the address it dialled
            request.headers["host"] = f"localhost:{port}"
        try:
            async with asyncio.timeout(timeout):  # not wait_for: no task per request
                return await conn.send(request)
        except BaseException:
            await self.release(conn)
            raise

    async def fetch(self, port: int, request: httpwire.Request, timeout: float) -> httpwire.Response:
        """One request on a connection of its own, closed after the answer (what a one-shot curl does)."""
        async with asyncio.timeout(timeout):
            conn = await self.connect(port)
        try:
            return await self.send(conn, port, request, timeout)
        finally:
            await self.release(conn)

    async def release(self, conn: httpwire.ClientConnection) -> None:
        """Close the dialler's end; the app's server loop sees the end of the stream and closes its own."""
        self._near.discard(conn.writer)
        await httpwire.close(conn.writer)

    def _prune(self) -> None:
        self._near = {writer for writer in self._near if not writer.is_closing()}

    async def close(self, grace: float = 0.0) -> None:
        """The pod stops: nothing can dial any more; busy requests get `grace` seconds, then every connection,
        both ends, is closed."""
        self._closed = True
        await asyncio.gather(*(server.close(grace) for server in self._servers.values()), return_exceptions=True)
        for writer in list(self._near):
            await httpwire.close(writer)
        self._near.clear()


class KeepAlive:
    """One dialler's connection to localhost:`port`, reused request after request (a load generator's
    worker, as hey and wrk keep theirs) and dialled again when the last exchange left it unusable."""

    def __init__(self, loopback: Loopback, port: int):
        self.loopback, self.port = loopback, port
        self.conn: httpwire.ClientConnection | None = None

    async def send(self, request: httpwire.Request, timeout: float) -> httpwire.Response:
        async with asyncio.timeout(timeout):  # dialling and the exchange together, as a client's timeout is
            if self.conn is not None and not self.conn.reusable():
                await self.close()
            if self.conn is None:
                self.conn = await self.loopback.connect(self.port)
            conn = self.conn
            try:
                return await self.loopback.send(conn, self.port, request, timeout)
            except BaseException:
                self.conn = None  # `send` closed it
                raise

    async def close(self) -> None:
        if self.conn is not None:
            conn, self.conn = self.conn, None
            await self.loopback.release(conn)
