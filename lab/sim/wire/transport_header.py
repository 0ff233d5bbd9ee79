"""Linkerd's transport header: what a client proxy writes first on a direct mTLS connection.

Read at linkerd2-proxy release/v2.366.0 (edge-26.8.3's `.proxy-version`):
linkerd/transport-header/src/lib.rs and proto/header.proto. After the TLS handshake negotiated the
ALPN protocol `transport.l5d.io/v1` (linkerd/app/outbound/src/tcp/tagged_transport.rs), the client
writes the preface `transport.l5d.io/v1\\r\\n\\r\\n`, a big-endian u32 length, and a protobuf
`Header { int32 port = 1; string name = 2; SessionProtocol session_protocol = 3; }` where
`SessionProtocol` is a oneof of empty `Http1` (1) and `Http2` (2). `name` is set only for a gateway
(the endpoint's authority override, linkerd/app/outbound/src/tcp/tagged_transport.rs); the receiver
refuses a port outside 1..65535.

The sim writes it on every proxy-to-proxy connection: for a remote gateway as the real proxy does,
and for a pod as the stand-in for the original destination port that iptables would give the real
inbound proxy (the sim has no iptables, so it always dials the pod's 4143).
"""
from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass

from .protowire import ProtoError
from .protowire import field_bytes as _field_bytes
from .protowire import field_varint as _field_varint
from .protowire import fields as _fields

ALPN = "transport.l5d.io/v1"
PREFACE = b"transport.l5d.io/v1\r\n\r\n"
MAX_HEADER = 64 * 1024
HTTP1, HTTP2 = 1, 2  # SessionProtocol's oneof field numbers


class HeaderError(ProtoError):
    """The bytes are not a transport header."""


@dataclass(frozen=True)
class TransportHeader:
    port: int
    name: str | None = None
    protocol: int | None = None  # HTTP1, HTTP2, or None for an opaque connection

    def encode(self) -> bytes:
        message = _field_varint(1, self.port)
        if self.name:
            message += _field_bytes(2, self.name.encode())
        if self.protocol is not None:
            message += _field_bytes(3, _field_bytes(self.protocol, b""))
        return PREFACE + struct.pack(">I", len(message)) + message


async def read(reader: asyncio.StreamReader) -> TransportHeader:
    try:
        preface = await reader.readexactly(len(PREFACE) + 4)
    except asyncio.IncompleteReadError as exc:
        raise HeaderError("connection closed before a transport header") from exc
    if preface[: len(PREFACE)] != PREFACE:
        raise HeaderError("no transport header preface")
    (length,) = struct.unpack(">I", preface[len(PREFACE):])
    if length > MAX_HEADER:
        raise HeaderError(f"transport header of {length} bytes is too large")
    try:
        return decode(await reader.readexactly(length))
    except asyncio.IncompleteReadError as exc:
        raise HeaderError("connection closed inside the transport header") from exc


def decode(message: bytes) -> TransportHeader:
    try:
        return _decode(message)
    except HeaderError:
        raise
    except ProtoError as exc:  # malformed protobuf is a malformed header
        raise HeaderError(str(exc)) from None


def _decode(message: bytes) -> TransportHeader:
    fields = dict(_fields(message))
    port = fields.get(1, 0)
    if not isinstance(port, int) or not 0 < port <= 65535:
        raise HeaderError("Invalid port value")
    name = fields.get(2, b"")
    protocol = None
    if isinstance(fields.get(3), bytes):
        kinds = [number for number, _ in _fields(fields[3]) if number in (HTTP1, HTTP2)]
        protocol = kinds[-1] if kinds else None
    return TransportHeader(port, name.decode() if isinstance(name, bytes) and name else None, protocol)
