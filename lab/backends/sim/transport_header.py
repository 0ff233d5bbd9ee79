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

ALPN = "transport.l5d.io/v1"
PREFACE = b"transport.l5d.io/v1\r\n\r\n"
MAX_HEADER = 64 * 1024
HTTP1, HTTP2 = 1, 2  # SessionProtocol's oneof field numbers


class HeaderError(ValueError):
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


# -- protobuf's wire format, as much as this message needs -------------------------
def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # int32 negatives are encoded as 10-byte two's complement
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field_varint(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _field_bytes(number: int, value: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise HeaderError("truncated varint")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return value, at


def _fields(data: bytes):
    """(field number, int or bytes) for each field; unknown wire types end the message as invalid."""
    at = 0
    while at < len(data):
        key, at = _read_varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _read_varint(data, at)
            yield number, value - (1 << 64) if value >= 1 << 63 else value
        elif wire == 2:
            length, at = _read_varint(data, at)
            if at + length > len(data):
                raise HeaderError("truncated field")
            yield number, data[at: at + length]
            at += length
        elif wire == 5:
            at += 4
        elif wire == 1:
            at += 8
        else:
            raise HeaderError(f"unsupported protobuf wire type {wire}")
