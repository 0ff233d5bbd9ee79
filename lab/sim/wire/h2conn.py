"""HTTP/2 between the sim's proxies, as Linkerd's proxies speak it to each other over mTLS.

The destination controller gives every endpoint with an identity (a meshed pod, a remote gateway)
the protocol hint H2 (controller/api/destination/endpoint_translator.go at stable-2.8.1 and
edge-26.8.3, with `enable-h2-upgrade` defaulting to true in stable-2.8.1
controller/cmd/destination/main.go). The client's proxy then carries each HTTP/1.1 request as a
stream on one long-lived HTTP/2 connection per endpoint, marked `l5d-orig-proto: HTTP/1.1`, and the
server's proxy turns it back into HTTP/1.1 for the app (linkerd2-proxy
linkerd/proxy/http/src/orig_proto.rs at release/v2.100.0 and release/v2.366.0).

`H2Client` is one connection's client side: `request()` opens a stream, so requests share it.
`H2Server` serves one connection's streams with a handler. h2 keeps the protocol state; this module
moves its bytes, respects flow control, and ends every connection it owns. h2 cannot go on with
open streams after a GOAWAY, so a draining server refuses new streams with REFUSED_STREAM (which
tells the client they were not processed and may be retried elsewhere), finishes what it has, and
only then sends GOAWAY and closes.
"""
from __future__ import annotations

import asyncio
import ssl
from typing import Callable

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions

from . import hpack_static
from .background import spawn
from .httpwire import Request, Response, close, end_to_end, text_response

READ_CHUNK = 65536
ORIG_PROTO = "l5d-orig-proto"
DEAD = (ConnectionError, OSError, asyncio.IncompleteReadError, ssl.SSLError, h2.exceptions.ProtocolError)


class StreamFailed(Exception):
    """A request on an HTTP/2 connection got no response. `refused`: the server never processed it
    (REFUSED_STREAM, or above a GOAWAY's last stream), so sending it again elsewhere is safe."""

    def __init__(self, message: str, refused: bool):
        super().__init__(message)
        self.refused = refused


class _Endpoint:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client_side: bool):
        self.reader, self.writer = reader, writer
        # Outbound headers come from h11-parsed requests or from this module, and the peer is a proxy that
        # passed mutual TLS: h2's per-header checks would cost a third of the hop for nothing.
        # Headers arrive as bytes and are made text once, in `_text`, not one generator step per field in h2.
        config = h2.config.H2Configuration(client_side=client_side, header_encoding=None,
                                           validate_outbound_headers=False, normalize_outbound_headers=False,
                                           validate_inbound_headers=False, normalize_inbound_headers=False)
        self.h2 = h2.connection.H2Connection(config)
        # HPACK without the dynamic table (hpack_static.py says why): h2 drives them as its own
        self.h2.encoder, self.h2.decoder = hpack_static.StaticEncoder(), hpack_static.StaticDecoder()
        self.h2.decoder.max_header_list_size = h2.connection.H2Connection.DEFAULT_MAX_HEADER_LIST_SIZE
        self.closed = False
        self._window = asyncio.Event()
        self._flush_pending = False

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data and not self.writer.is_closing():
            self.writer.write(data)

    def flush_soon(self) -> None:
        """Write what h2 has once this turn of the event loop is done: the frames of every stream that
        answered in it go out in one TLS record and one send, not one each."""
        if not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_soon(self._flush_now)

    def _flush_now(self) -> None:
        self._flush_pending = False
        self.flush()

    def _window_changed(self) -> None:
        self._window.set()
        self._window = asyncio.Event()

    async def send_message(self, stream_id: int, headers: list[tuple[str, str]], body: bytes) -> None:
        """HEADERS, then DATA within the peer's flow-control windows, then END_STREAM."""
        self.h2.send_headers(stream_id, headers, end_stream=not body)
        view = memoryview(body)
        while view:
            window = min(self.h2.local_flow_control_window(stream_id), self.h2.max_outbound_frame_size)
            if window <= 0:
                self.flush()
                waiter = self._window
                await waiter.wait()
                if self.closed:
                    raise ConnectionError("connection closed while waiting for the peer's flow-control window")
                continue
            self.h2.send_data(stream_id, bytes(view[:window]), end_stream=len(view) <= window)
            view = view[window:]
        self.flush_soon()
        await self.writer.drain()

    async def _read_loop(self) -> None:
        try:
            while not self.closed:
                data = await self.reader.read(READ_CHUNK)
                if not data:
                    break
                for event in self.h2.receive_data(data):
                    self._dispatch(event)
                self.flush_soon()
        except DEAD:
            pass
        finally:
            await self.shut()

    def _dispatch(self, event) -> None:
        if isinstance(event, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)):
            self._window_changed()
        elif isinstance(event, h2.events.DataReceived):
            self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        self.on_event(event)

    def on_event(self, event) -> None:
        raise NotImplementedError

    async def shut(self) -> None:
        """The connection is over: wake every waiter, then close the socket."""
        if self.closed:
            return
        self.closed = True
        self.flush()  # what was left for the end of the loop's turn
        self._window_changed()
        self.on_closed()
        await close(self.writer)

    def on_closed(self) -> None:
        pass

    async def goodbye(self) -> None:
        """GOAWAY, then close."""
        if not self.closed:
            try:
                self.h2.close_connection()
                self.flush()
            except h2.exceptions.ProtocolError:
                pass
        await self.shut()

    def abort(self) -> None:
        self.writer.transport.abort()


def _text(headers) -> dict[str, str]:
    """A received header block as text (UTF-8, as h2 would decode it); a repeated name keeps its last value."""
    return {name.decode("utf-8"): value.decode("utf-8") for name, value in headers}


class _Pending:
    __slots__ = ("future", "status", "headers", "body")

    def __init__(self) -> None:
        self.future: asyncio.Future = asyncio.get_running_loop().create_future()
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []


class H2Client(_Endpoint):
    """The client side of one HTTP/2 connection; `request` may be called concurrently."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        super().__init__(reader, writer, client_side=True)
        self.streams: dict[int, _Pending] = {}
        self.draining = False  # the server refused a stream or said GOAWAY: no new requests here
        self.on_close: Callable[[], None] | None = None
        self._reader_task: asyncio.Task | None = None
        self._slot: asyncio.Future | None = None  # resolved when a stream ends, for requests over the cap

    @classmethod
    async def open(cls, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> "H2Client":
        """Send the connection preface and wait for the server's SETTINGS: a peer that refuses this
        client (a TLS alert after the handshake, a close) fails here, before any request is risked."""
        client = cls(reader, writer)
        client.h2.initiate_connection()
        client.flush()
        data = await reader.read(READ_CHUNK)
        if not data:
            raise ConnectionResetError("closed before its HTTP/2 SETTINGS")
        for event in client.h2.receive_data(data):
            client._dispatch(event)
        client.flush()
        client._reader_task = spawn(client._read_loop())
        return client

    def usable(self) -> bool:
        return not self.closed and not self.draining and not self.writer.is_closing()

    def idle(self) -> bool:
        return not self.streams

    async def request(self, request: Request, authority: str, extra: list[tuple[str, str]] = ()) -> Response:
        while len(self.streams) >= self.h2.remote_settings.max_concurrent_streams and self.usable():
            await self._stream_slot()  # the server's SETTINGS cap concurrent streams: wait for one to end
        if not self.usable():
            raise StreamFailed("connection is closing", refused=True)
        stream_id = self.h2.get_next_available_stream_id()
        pending = self.streams[stream_id] = _Pending()
        headers = [(":method", request.method), (":scheme", "http"), (":authority", authority), (":path", request.target)]
        headers += [(k, v) for k, v in end_to_end(request.headers) if k != "host"] + list(extra)
        try:
            await self.send_message(stream_id, headers, request.body)
            return await pending.future
        except DEAD as exc:
            raise StreamFailed(f"connection failed: {type(exc).__name__}", refused=False) from None
        finally:
            self.streams.pop(stream_id, None)
            self._slot_freed()

    async def _stream_slot(self) -> None:
        waiter = self._slot = self._slot or asyncio.get_running_loop().create_future()
        await asyncio.shield(waiter)

    def _slot_freed(self) -> None:
        waiter, self._slot = self._slot, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def on_event(self, event) -> None:
        if isinstance(event, h2.events.ConnectionTerminated):  # GOAWAY: streams above last_stream_id were not seen
            self.draining = True
            for stream_id, pending in list(self.streams.items()):
                if stream_id > (event.last_stream_id or 0) and not pending.future.done():
                    pending.future.set_exception(StreamFailed("server sent GOAWAY", refused=True))
            return
        pending = self.streams.get(getattr(event, "stream_id", None))
        if pending is None:
            return
        if isinstance(event, h2.events.ResponseReceived):
            headers = _text(event.headers)
            pending.status = int(headers.pop(":status"))
            pending.headers = headers
        elif isinstance(event, h2.events.DataReceived):
            pending.body.append(event.data)
        elif isinstance(event, h2.events.StreamEnded) and not pending.future.done():
            pending.future.set_result(Response(pending.status or 502, pending.headers, b"".join(pending.body)))
        elif isinstance(event, h2.events.StreamReset) and not pending.future.done():
            refused = event.error_code == h2.errors.ErrorCodes.REFUSED_STREAM
            if refused:
                self.draining = True
            pending.future.set_exception(StreamFailed(f"stream reset ({event.error_code.name})", refused=refused))

    def on_closed(self) -> None:
        self._slot_freed()
        for pending in self.streams.values():
            if not pending.future.done():
                pending.future.set_exception(StreamFailed("connection closed before the response", refused=False))
        if self.on_close is not None:
            self.on_close()

    async def close(self) -> None:
        """Say GOAWAY and close (only when idle: h2 cannot finish streams after a GOAWAY)."""
        await self.goodbye()
        if self._reader_task is not None:
            await asyncio.gather(self._reader_task, return_exceptions=True)


class H2Server(_Endpoint):
    """Serves one HTTP/2 connection: `await handler(request) -> Response` per stream."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handler):
        super().__init__(reader, writer, client_side=False)
        self.handler = handler
        self.draining = False
        self._incoming: dict[int, Request] = {}
        self._tasks: dict[int, asyncio.Task] = {}
        self._idle = asyncio.Event()
        self._idle.set()

    async def serve(self) -> None:
        self.h2.initiate_connection()
        self.flush()
        await self._read_loop()

    def on_event(self, event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            if self.draining:
                self.h2.reset_stream(event.stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
                return
            headers = _text(event.headers)
            pseudo = {k: headers.pop(k) for k in list(headers) if k.startswith(":")}
            headers["host"] = pseudo.get(":authority", "")
            self._incoming[event.stream_id] = Request(pseudo.get(":method", "GET"), pseudo.get(":path", "/"), headers)
            if event.stream_ended:
                self._start(event.stream_id)
        elif isinstance(event, h2.events.DataReceived):
            request = self._incoming.get(event.stream_id)
            if request is not None:
                request.body += event.data
        elif isinstance(event, h2.events.StreamEnded):
            if event.stream_id in self._incoming and event.stream_id not in self._tasks:
                self._start(event.stream_id)
        elif isinstance(event, h2.events.StreamReset):
            self._incoming.pop(event.stream_id, None)
            task = self._tasks.pop(event.stream_id, None)
            if task:
                task.cancel()
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.draining = True

    def _start(self, stream_id: int) -> None:
        self._idle.clear()
        task = spawn(self._respond(stream_id, self._incoming[stream_id]))
        self._tasks[stream_id] = task

    async def _respond(self, stream_id: int, request: Request) -> None:
        try:
            try:
                response = await self.handler(request)
            except Exception as exc:  # a handler bug answers 500 instead of leaving the stream open
                response = text_response(500, f"{type(exc).__name__}: {exc}")
            if not self.closed:
                await self.send_message(stream_id, [(":status", str(response.status))] + end_to_end(response.headers),
                                        response.body)
        except (h2.exceptions.StreamClosedError, *DEAD):
            pass  # the client reset the stream or went away
        finally:
            self._incoming.pop(stream_id, None)
            self._tasks.pop(stream_id, None)
            if not self._tasks:
                self._idle.set()
                if self.draining and not self.closed:
                    spawn(self.goodbye())

    async def drain(self) -> None:
        """Refuse new streams, let the open ones finish, then GOAWAY and close."""
        self.draining = True
        if not self._tasks:
            await self.goodbye()
        else:
            await self._idle.wait()

    def on_closed(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
