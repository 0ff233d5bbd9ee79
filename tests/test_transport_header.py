"""The transport header the sim's proxies write after mTLS, byte for byte as linkerd2-proxy's
(linkerd/transport-header at release/v2.366.0: preface, big-endian u32 length, protobuf Header)."""
import asyncio

import pytest

from lab.sim.wire.transport_header import HTTP2, PREFACE, HeaderError, TransportHeader, decode, read


def test_gateway_header_bytes_follow_the_proto_definition():
    header = TransportHeader(4040, "foo.bar.example.com", HTTP2)
    message = (b"\x08\xc8\x1f"  # port = 4040 (field 1, varint)
               + b"\x12\x13foo.bar.example.com"  # name (field 2, 19 bytes)
               + b"\x1a\x02\x12\x00")  # session_protocol { http2 {} } (field 3 holding field 2)
    assert header.encode() == PREFACE + len(message).to_bytes(4, "big") + message


def test_pod_header_has_no_name_and_round_trips():
    header = TransportHeader(9898, None, HTTP2)
    assert decode(header.encode()[len(PREFACE) + 4:]) == header


def test_unknown_fields_are_skipped_as_protobuf_requires():
    message = b"\x08\x90\x4d" + b"\x22\x03abc" + b"\x28\x01"  # port 9872, then fields 4 and 5 nobody knows
    assert decode(message) == TransportHeader(9872)


@pytest.mark.parametrize("message", [b"", b"\x08\x00", b"\x08\x80\x80\x04", b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"])
def test_a_port_outside_1_to_65535_is_refused(message):
    with pytest.raises(HeaderError, match="Invalid port"):
        decode(message)


@pytest.mark.parametrize("data", [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"transport.l5d.io/v1\r\n\r\n\x00\x00",
                                  PREFACE + (1 << 20).to_bytes(4, "big")])
def test_a_connection_without_a_valid_header_is_refused(data):
    async def attempt():
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return await read(reader)

    with pytest.raises(HeaderError):
        asyncio.run(attempt())
