"""A TLS server whose refusals reach the client as real TLS alerts.

asyncio's own TLS server drops the alert OpenSSL writes when it rejects a
client (the connection just closes), and hides why. Here the handshake runs
on memory BIOs over the raw connection: on failure the alert OpenSSL produced
(certificate_required, unknown_ca, ...) is flushed to the client before
closing, and the reason is reported; on success the session continues as an
ordinary asyncio transport under a StreamReader/StreamWriter pair.
"""
from __future__ import annotations

import asyncio
import ssl
from typing import Awaitable, Callable

from .background import spawn
from .tls import refusal_reason

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class _TLSTransport(asyncio.Transport):
    """Application bytes over an SSLObject, carried by the raw TCP transport."""

    def __init__(self, raw: asyncio.Transport, sslobj: ssl.SSLObject, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO):
        super().__init__()
        self.raw, self.sslobj, self.incoming, self.outgoing = raw, sslobj, incoming, outgoing
        self.protocol: asyncio.Protocol | None = None
        self._closing = False

    def _flush(self) -> None:
        data = self.outgoing.read()
        if data and not self.raw.is_closing():
            self.raw.write(data)

    def feed(self, data: bytes) -> None:
        self.incoming.write(data)
        while True:
            try:
                chunk = self.sslobj.read(65536)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:  # the peer's close_notify (reads after it return b"")
                chunk = b""
            except ssl.SSLError:
                self._flush()  # the alert OpenSSL wrote (bad_record_mac, ...): the peer learns why
                self.abort()
                return
            if not chunk:
                self.protocol.eof_received()
                break
            self.protocol.data_received(chunk)
        self._flush()  # TLS 1.3 may answer (session tickets, key updates)

    # -- asyncio.Transport -----------------------------------------------------
    def write(self, data) -> None:
        if self._closing:
            return
        self.sslobj.write(bytes(data))
        self._flush()

    def can_write_eof(self) -> bool:
        return False

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        try:
            self.sslobj.unwrap()  # close_notify
        except ssl.SSLError:
            pass
        self._flush()
        self.raw.close()

    def abort(self) -> None:
        self._closing = True
        self.raw.abort()

    def is_closing(self) -> bool:
        return self._closing or self.raw.is_closing()

    def get_extra_info(self, name, default=None):
        if name == "peercert":
            return self.sslobj.getpeercert()
        if name == "ssl_object":
            return self.sslobj
        return self.raw.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self.raw.pause_reading()

    def resume_reading(self) -> None:
        self.raw.resume_reading()

    def get_write_buffer_size(self) -> int:
        return self.raw.get_write_buffer_size()

    def set_protocol(self, protocol) -> None:
        self.protocol = protocol

    def get_protocol(self):
        return self.protocol


class _Connection(asyncio.Protocol):
    """The raw side of one connection: handshake first, then the TLS session."""

    def __init__(self, ctx: ssl.SSLContext, handler: Handler, on_refused: Callable[[str], None], timeout: float):
        self.ctx, self.handler, self.on_refused, self.timeout = ctx, handler, on_refused, timeout
        self.received = False  # any byte yet: a client that leaves before saying anything was never in a handshake
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.sslobj = ctx.wrap_bio(self.incoming, self.outgoing, server_side=True)
        self.tls: _TLSTransport | None = None
        self.raw: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.done = False

    def connection_made(self, transport) -> None:
        self.raw = transport
        self.timer = asyncio.get_running_loop().call_later(self.timeout, self._timed_out)

    def _timed_out(self) -> None:
        if not self.done:
            self._refuse("handshake timeout")

    def _refuse(self, reason: str) -> None:
        self.done = True
        self.timer.cancel()  # the outcome is known: one report per connection, however slowly it closes
        foreign = getattr(self.sslobj, FOREIGN_NAME, None)
        self.on_refused(FOREIGN_REASON if foreign is not None else reason)
        data = self.outgoing.read()  # the alert naming the reason, when OpenSSL wrote one
        if data and foreign is None:  # a ClientHello for another name is not answered at all: no TLS was begun
            self.raw.write(data)
        self.raw.close()

    def data_received(self, data: bytes) -> None:
        if self.tls is not None:
            self.tls.feed(data)
            return
        if self.done:
            return
        self.received = True
        self.incoming.write(data)
        try:
            self.sslobj.do_handshake()
        except ssl.SSLWantReadError:
            out = self.outgoing.read()
            if out:
                self.raw.write(out)
            return
        except ssl.SSLError as exc:
            self._refuse(refusal_reason(exc))
            return
        self.done = True
        self.timer.cancel()
        out = self.outgoing.read()
        if out:
            self.raw.write(out)
        self.tls = _TLSTransport(self.raw, self.sslobj, self.incoming, self.outgoing)
        reader = asyncio.StreamReader()
        protocol = asyncio.StreamReaderProtocol(reader)
        self.tls.set_protocol(protocol)
        protocol.connection_made(self.tls)
        writer = asyncio.StreamWriter(self.tls, protocol, reader, asyncio.get_running_loop())
        spawn(self.handler(reader, writer))
        if self.incoming.pending:
            self.tls.feed(b"")

    def eof_received(self):
        if self.tls is not None:
            self.tls.protocol.eof_received()
        elif not self.done:
            self._refuse("connection closed during handshake" if self.received else "connection closed before a ClientHello")
        return False

    # The raw transport's flow control, passed on to the stream's protocol: a handler's `drain()` then
    # waits while the client reads slower than the handler writes, instead of buffering without bound.
    def pause_writing(self) -> None:
        if self.tls is not None:
            self.tls.protocol.pause_writing()

    def resume_writing(self) -> None:
        if self.tls is not None:
            self.tls.protocol.resume_writing()

    def connection_lost(self, exc) -> None:
        if self.timer:
            self.timer.cancel()
        if self.tls is not None and self.tls.protocol is not None:
            self.tls._closing = True
            self.tls.protocol.connection_lost(exc)


FOREIGN_NAME = "lab_foreign_server_name"  # set on a connection's SSLObject whose ClientHello named another server
FOREIGN_REASON = "ClientHello not for this server"


def _only(server_name: str):
    """An SNI callback that lets only a ClientHello naming `server_name` go on to a handshake (OpenSSL calls it
    with None when the ClientHello names nothing)."""
    def check(sslobj, name, _ctx):
        if name != server_name:
            setattr(sslobj, FOREIGN_NAME, name or "")
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME  # ends the handshake here; _refuse sends no alert
        return None
    return check


async def start(handler: Handler, on_refused: Callable[[str], None], ctx: ssl.SSLContext, timeout: float,
                server_name: str | None = None):
    """Listen on a free loopback port; `timeout`: seconds a client has to complete its handshake. With
    `server_name`, only a ClientHello whose SNI is that name is answered; any other (no SNI, or another name) is
    refused as FOREIGN_REASON and the connection closed without a TLS record, as linkerd2-proxy terminates TLS
    only for its own name (linkerd/tls/src/server.rs at release/v2.366.0: another SNI is passed through, none
    is NoClientHello, and the direct stack then refuses either)."""
    if server_name is not None:
        ctx.sni_callback = _only(server_name)
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: _Connection(ctx, handler, on_refused, timeout), "127.0.0.1", 0)
