"""Protobuf's wire format, as much as the lab reads and writes: the proxy's transport header and the
protobuf bodies kubectl's typed clients send to the Kubernetes API."""
from __future__ import annotations


class ProtoError(ValueError):
    """Bytes that are not the protobuf message they should be."""


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # int32 negatives are encoded as 10-byte two's complement
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field_varint(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def field_bytes(number: int, value: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(value)) + value


def read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise ProtoError("truncated varint")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return value, at


def fields(data: bytes, skip_fixed: bool = True):
    """(field number, int or bytes) for each field; unknown wire types end the message as invalid, and so do
    fixed-width ones (double, fixed32/64) unless `skip_fixed` passes over them."""
    at = 0
    while at < len(data):
        key, at = read_varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = read_varint(data, at)
            yield number, value - (1 << 64) if value >= 1 << 63 else value
        elif wire == 2:
            length, at = read_varint(data, at)
            if at + length > len(data):
                raise ProtoError("truncated field")
            yield number, data[at: at + length]
            at += length
        elif wire in (1, 5) and not skip_fixed:
            raise ProtoError(f"field {number} has a fixed-width wire type, not read")
        elif wire == 5:
            at += 4
        elif wire == 1:
            at += 8
        else:
            raise ProtoError(f"unsupported protobuf wire type {wire}")
