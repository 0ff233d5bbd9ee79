"""HTTP/1.1 for the sim's apps, proxies and API: h11's state machine on asyncio streams.

Servers keep a connection open between requests, as podinfo's Go server and Linkerd's proxy do,
and close it when the client asks (`Connection: close`), when the client goes, after
`idle_timeout` seconds without a request, or on a protocol error. Clients either `fetch` one
request on a connection of its own or reuse idle connections per address from a `ConnectionPool`.
Every path ends in `close`, so no socket outlives the exchange it served.
"""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

import h11

MAX_HEAD = 64 * 1024
READ_CHUNK = 65536
SERVER_IDLE_TIMEOUT = 60.0  # a server closes a keep-alive connection that stays this long without a request
POOL_IDLE_TIMEOUT = 10.0  # a client drops an idle pooled connection before the server would
REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
           422: "Unprocessable Entity", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable", 504: "Gateway Timeout", 508: "Loop Detected"}
# Hop-by-hop headers (RFC 9110 7.6.1): they describe one connection, never forwarded to the next.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
                        "upgrade", "content-length"})
# Methods whose requests state their length even when empty (Go's net/http client; curl with -d).
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class WireError(Exception):
    """The peer sent something that is not HTTP/1.1, or closed early."""


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case
    body: bytes = b""

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> dict[str, str]:
        from urllib.parse import parse_qsl

        return dict(parse_qsl(self.target.split("?", 1)[1])) if "?" in self.target else {}

    def json(self):
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case
    body: bytes = b""


def json_response(status: int, payload) -> Response:
    return Response(status, {"content-type": "application/json"}, json.dumps(payload).encode())


def text_response(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status, {"content-type": "text/plain", **(headers or {})}, text.encode())


def end_to_end(headers: dict[str, str]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers.items() if k not in HOP_BY_HOP]


def _body_events(body: bytes) -> tuple:
    """The events after a head: an empty body is just its end (every h11 event costs a state-machine pass)."""
    return (h11.Data(data=body), h11.EndOfMessage()) if body else (h11.EndOfMessage(),)


def _decode(headers) -> dict[str, str]:
    return {bytes(k).decode("latin-1").lower(): bytes(v).decode("latin-1") for k, v in headers}


async def close(writer: asyncio.StreamWriter) -> None:
    """Close and wait for it; a peer that vanished or a TLS shutdown that fails changes nothing."""
    try:
        writer.close()
        await writer.wait_closed()
    except (ConnectionError, OSError, asyncio.CancelledError):
        pass
    except Exception:  # ssl shutdown errors from a peer that vanished
        pass


class _Wire:
    """One connection's h11 state plus its streams: send events, receive the next one."""

    def __init__(self, role, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.conn = h11.Connection(role, max_incomplete_event_size=MAX_HEAD)
        self.reader, self.writer = reader, writer

    def send(self, *events) -> None:
        self.writer.write(b"".join(self.conn.send(e) or b"" for e in events))

    async def next_event(self):
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise WireError(f"not HTTP/1.1: {exc}") from None
            if event is not h11.NEED_DATA:
                return event
            data = await self.reader.read(READ_CHUNK)
            self.conn.receive_data(data)  # b"" is EOF, which h11 turns into ConnectionClosed or an error

    async def read_body(self) -> bytes:
        chunks = []
        while True:
            event = await self.next_event()
            if isinstance(event, h11.Data):
                chunks.append(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return b"".join(chunks)
            else:
                raise WireError("connection closed in the middle of a message")

    def reusable(self) -> bool:
        return self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE


class HTTPServer:
    """A keep-alive HTTP/1.1 server calling `await handler(request) -> Response` per request.

    It knows its connections, so `close` can end them all: idle ones at once, busy ones when their
    response is out or when the grace period ends, whichever comes first."""

    def __init__(self, handler, idle_timeout: float = SERVER_IDLE_TIMEOUT):
        self.handler, self.idle_timeout = handler, idle_timeout
        self.server: asyncio.base_events.Server | None = None
        self._busy: dict[asyncio.StreamWriter, bool] = {}  # every open connection: is a request in progress?
        self._changed = asyncio.Event()  # set when a connection leaves (when closing, each leaves after its response)
        self._closing = False
        self._port = 0

    @property
    def port(self) -> int:
        return self._port

    def connections(self) -> int:
        return len(self._busy)

    async def start(self, host: str = "127.0.0.1", port: int = 0, **kwargs) -> "HTTPServer":
        self.server = await asyncio.start_server(self._on_connection, host, port, **kwargs)
        self._port = self.server.sockets[0].getsockname()[1]
        return self

    async def close(self, grace: float = 0.0) -> None:
        self._closing = True
        if self.server is not None:
            self.server.close()
        for writer, busy in list(self._busy.items()):
            if not busy:
                writer.transport.abort()
        await self._until(lambda: not any(self._busy.values()), grace)
        for writer in list(self._busy):
            writer.transport.abort()
        await self._until(lambda: not self._busy, 1.0)  # the aborted connections' handlers run their `finally` and leave

    async def _until(self, done, seconds: float) -> None:
        """Until `done()`, looked at each time a connection leaves; `seconds` at most."""
        deadline = time.monotonic() + seconds
        while not done() and time.monotonic() < deadline:
            self._changed.clear()
            try:
                async with asyncio.timeout(deadline - time.monotonic()):
                    await self._changed.wait()
            except TimeoutError:
                return

    async def serve_socket(self, sock) -> None:
        """Serve one connected socket that no listener accepted (the far end of a socketpair: a pod's
        loopback, loopback.py) until either side is done, as if `start`'s listener had accepted it."""
        try:
            reader, writer = await asyncio.open_connection(sock=sock)
        except BaseException:
            sock.close()
            raise
        await self._on_connection(reader, writer)

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        wire = _Wire(h11.SERVER, reader, writer)
        self._busy[writer] = False
        idle = loop.call_later(self.idle_timeout, writer.transport.abort)
        try:
            while not self._closing:
                event = await wire.next_event()
                if not isinstance(event, h11.Request):
                    return  # ConnectionClosed: the client is done
                idle.cancel()
                self._busy[writer] = True
                request = Request(event.method.decode("latin-1"), event.target.decode("latin-1"),
                                  _decode(event.headers), await wire.read_body())
                try:
                    response = await self.handler(request)
                except Exception as exc:  # a handler bug must not kill the listener
                    response = text_response(500, f"{type(exc).__name__}: {exc}")
                headers = end_to_end(response.headers) + [("content-length", str(len(response.body)))]
                if self._closing:
                    headers.append(("connection", "close"))
                wire.send(h11.Response(status_code=response.status, reason=REASONS.get(response.status, "Status"),
                                       headers=headers), *_body_events(response.body))
                await writer.drain()
                self._busy[writer] = False
                if not wire.reusable():
                    return  # `Connection: close` from either side
                wire.conn.start_next_cycle()
                idle = loop.call_later(self.idle_timeout, writer.transport.abort)
        except WireError:
            if wire.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):  # h11 lets a server answer a broken request
                wire.send(h11.Response(status_code=400, headers=[("content-length", "0"), ("connection", "close")]),
                          h11.EndOfMessage())
        except (ConnectionError, OSError, asyncio.IncompleteReadError, h11.LocalProtocolError):
            pass
        finally:
            idle.cancel()
            self._busy.pop(writer, None)
            self._changed.set()
            await close(writer)


async def serve_http(handler, host: str = "127.0.0.1", port: int = 0, idle_timeout: float = SERVER_IDLE_TIMEOUT,
                     **kwargs) -> HTTPServer:
    """Start an `HTTPServer` on host:port (0: any free port)."""
    return await HTTPServer(handler, idle_timeout).start(host, port, **kwargs)


class ClientConnection:
    """The client side of one HTTP/1.1 connection, one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.wire = _Wire(h11.CLIENT, reader, writer)
        self.idle_since = time.monotonic()
        self.used = False  # carried a request before: a failure on it may be a stale keep-alive

    @property
    def writer(self) -> asyncio.StreamWriter:
        return self.wire.writer

    def alive(self) -> bool:
        return not self.wire.writer.is_closing() and not self.wire.reader.at_eof()

    async def send(self, request: Request, close_after: bool = False) -> Response:
        headers = end_to_end(request.headers)
        if "host" not in request.headers:  # mandatory in HTTP/1.1; curl sends the address it dialled
            peer = self.wire.writer.get_extra_info("peername")
            headers.insert(0, ("host", f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "localhost"))
        if request.body or request.method in BODY_METHODS:  # a bodiless GET says nothing of length, as curl's
            headers.append(("content-length", str(len(request.body))))
        if close_after:
            headers.append(("connection", "close"))
        self.used = True
        try:
            self.wire.send(h11.Request(method=request.method, target=request.target, headers=headers),
                           *_body_events(request.body))
            await self.wire.writer.drain()
            event = await self.wire.next_event()
            if not isinstance(event, h11.Response):
                raise WireError("connection closed before a response")
            response = Response(event.status_code, _decode(event.headers), await self.wire.read_body())
        except h11.LocalProtocolError as exc:
            raise WireError(str(exc)) from None
        if self.wire.reusable():
            self.wire.conn.start_next_cycle()
        return response

    def reusable(self) -> bool:
        return self.wire.conn.our_state is h11.IDLE and self.wire.conn.their_state is h11.IDLE and self.alive()


async def fetch(host: str, port: int, request: Request, timeout: float) -> Response:
    """One request on a connection of its own (`Connection: close`), closed whatever happens."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        return await asyncio.wait_for(ClientConnection(reader, writer).send(request, close_after=True), timeout)
    finally:
        await close(writer)


class ConnectionPool:
    """Idle keep-alive connections per (host, port); a connection idle for `idle_timeout` is closed.

    `send` retries once on a fresh connection when a reused one turns out to have been closed by the
    server before it took the request (the keep-alive race every HTTP client has), for idempotent methods.
    """

    IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

    def __init__(self, idle_timeout: float = POOL_IDLE_TIMEOUT, max_idle: int = 32):
        self.idle_timeout, self.max_idle = idle_timeout, max_idle
        self._idle: dict[tuple[str, int], list[ClientConnection]] = {}
        self._timers: dict[ClientConnection, asyncio.TimerHandle] = {}
        self._busy: set[ClientConnection] = set()
        self.opened = 0

    def __len__(self) -> int:
        return sum(len(v) for v in self._idle.values()) + len(self._busy)

    async def send(self, host: str, port: int, request: Request, connect, timeout: float) -> Response:
        """`connect(host, port)` opens (reader, writer) when no idle connection is there."""
        key = (host, port)
        conn = self._take(key)
        reused = conn is not None
        while True:
            if conn is None:
                conn = ClientConnection(*await connect(host, port))
                self.opened += 1
            try:
                response = await self._send_on(conn, request, timeout)
            except (WireError, ConnectionError, OSError, asyncio.IncompleteReadError):
                if not (reused and request.method in self.IDEMPOTENT):
                    raise
                conn, reused = None, False  # a stale keep-alive connection: once more on a fresh one
                continue
            await self._give_back(key, conn)
            return response

    async def _send_on(self, conn: ClientConnection, request: Request, timeout: float) -> Response:
        self._busy.add(conn)
        try:
            async with asyncio.timeout(timeout):  # not wait_for: no task per request
                return await conn.send(request)
        except BaseException:
            await close(conn.writer)
            raise
        finally:
            self._busy.discard(conn)

    def _take(self, key) -> ClientConnection | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            self._timers.pop(conn).cancel()
            if conn.reusable():
                return conn
            conn.writer.close()
        return None

    async def _give_back(self, key, conn: ClientConnection) -> None:
        idle = self._idle.setdefault(key, [])
        if not conn.reusable() or len(idle) >= self.max_idle:
            await close(conn.writer)
            return
        idle.append(conn)
        self._timers[conn] = asyncio.get_running_loop().call_later(self.idle_timeout, self._expire, key, conn)

    def _expire(self, key, conn: ClientConnection) -> None:
        self._timers.pop(conn, None)
        idle = self._idle.get(key, [])
        if conn in idle:
            idle.remove(conn)
        conn.writer.close()

    async def close(self) -> None:
        """Close every connection, idle or in use (their requests fail)."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        conns = [c for idle in self._idle.values() for c in idle] + list(self._busy)
        self._idle.clear()
        self._busy.clear()
        for conn in conns:
            await close(conn.writer)
