"""HPACK for the proxies' HTTP/2 without the dynamic table: cheap to encode and to decode in Python.

RFC 7541 lets an encoder choose its representations: a field in the static table (section 6.1, Appendix A)
as its index, any other as a literal "without indexing" (6.2.2; "never indexed", 6.2.3, for the fields
marked sensitive) with the name's static index where it has one, strings without Huffman coding (5.2).
None of these touches the dynamic table, so the encoder keeps no state beyond the table size updates its
peer's SETTINGS ask for (4.2, 6.3), which it still sends. The header block is longer than the `hpack`
library's indexed one (about 150 bytes for a request instead of about 10), and costs a quarter of the time
to build: in a proxy written in Python the encoding and decoding of four header blocks per request through
the mesh was its largest single cost.

`StaticDecoder` decodes those representations itself and hands any block that uses the dynamic table or
Huffman coding (what another encoder may send) to the `hpack` library's decoder, whole: the representations
it decodes itself change no state, so a block it gives up on has changed nothing.
"""
from __future__ import annotations

import hpack
from hpack.table import HeaderTable

_STATIC = HeaderTable.STATIC_TABLE  # ((name, value), ...): index i + 1 in the RFC's numbering
_FULL = {entry: i + 1 for i, entry in reversed(list(enumerate(_STATIC)))}
CACHED_FIELDS = 512  # encoded fields an encoder keeps (then it starts again): memory stays bounded
CACHED_BLOCKS = 256  # decoded header blocks a decoder keeps, each of at most CACHED_BLOCK_BYTES
CACHED_BLOCK_BYTES = 2048
_NAME = {name: i + 1 for i, (name, _value) in reversed(list(enumerate(_STATIC)))}


def _integer(value: int, prefix_bits: int, flags: int) -> bytes:
    """An HPACK integer (RFC 7541 5.1) with `flags` in the first byte's high bits."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((flags | value,))
    out = bytearray((flags | limit,))
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _string(data: bytes) -> bytes:
    return _integer(len(data), 7, 0) + data


def _bytes(value) -> bytes:
    return value if type(value) is bytes else str(value).encode("utf-8")


class StaticEncoder(hpack.Encoder):
    """An `hpack.Encoder` (so h2 drives it as its own) that never indexes into the dynamic table. A field's
    representation depends on nothing else, so the last CACHED_FIELDS of them are kept as encoded."""

    def __init__(self) -> None:
        super().__init__()
        self._fields: dict[tuple, bytes] = {}

    def encode(self, headers, huffman: bool = True) -> bytes:
        block = []
        if self.header_table.resized:  # the peer's SETTINGS changed the table size: say so first (RFC 7541 4.2)
            block.append(self._encode_table_size_change())
            self.header_table.resized = False
        fields = self._fields
        for header in (headers.items() if isinstance(headers, dict) else headers):
            if isinstance(header, hpack.HeaderTuple):
                key = (header[0], header[1], not header.indexable)
            else:
                key = (header[0], header[1], len(header) > 2 and bool(header[2]))
            encoded = fields.get(key)
            if encoded is None:
                encoded = _field(_bytes(key[0]), _bytes(key[1]), key[2])
                if len(fields) >= CACHED_FIELDS:
                    fields.clear()
                fields[key] = encoded
            block.append(encoded)
        return b"".join(block)


def _field(name: bytes, value: bytes, sensitive: bool) -> bytes:
    if not sensitive:
        index = _FULL.get((name, value))
        if index is not None:
            return _integer(index, 7, 0x80)
    flags = 0x10 if sensitive else 0x00
    index = _NAME.get(name)
    if index is not None:
        return _integer(index, 4, flags) + _string(value)
    return bytes((flags,)) + _string(name) + _string(value)


class _Unhandled(Exception):
    """A representation this decoder leaves to the full one."""


def _read_integer(data: bytes, at: int, prefix_bits: int) -> tuple[int, int]:
    limit = (1 << prefix_bits) - 1
    value = data[at] & limit
    at += 1
    if value < limit:
        return value, at
    shift = 0
    while True:
        if at >= len(data) or shift > 28:
            raise _Unhandled
        byte = data[at]
        at += 1
        value += (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def _read_string(data: bytes, at: int) -> tuple[bytes, int]:
    if at >= len(data) or data[at] & 0x80:  # truncated, or Huffman-coded
        raise _Unhandled
    length, at = _read_integer(data, at, 7)
    end = at + length
    if end > len(data):
        raise _Unhandled
    return data[at:end], end


def _static(index: int) -> tuple[bytes, bytes]:
    if not 0 < index <= len(_STATIC):  # 0 is an error, above the static table the dynamic one
        raise _Unhandled
    return _STATIC[index - 1]


class StaticDecoder(hpack.Decoder):
    """An `hpack.Decoder` with a fast path for blocks that use neither the dynamic table nor Huffman coding.
    Such a block decodes the same whatever came before it, so the last CACHED_BLOCKS of them are kept."""

    def __init__(self) -> None:
        super().__init__()
        self._blocks: dict[bytes, tuple[list, int]] = {}

    def decode(self, data: bytes, raw: bool = False):
        data = bytes(data)
        known = self._blocks.get(data)
        if known is None:
            try:
                known = self._decode_static(data)
            except _Unhandled:
                return super().decode(data, raw)
            if len(data) <= CACHED_BLOCK_BYTES:
                if len(self._blocks) >= CACHED_BLOCKS:
                    self._blocks.clear()
                self._blocks[data] = known
        headers, size = known
        if size > self.max_header_list_size:
            raise hpack.OversizedHeaderListError(f"A header list larger than {self.max_header_list_size} has been received")
        self._assert_valid_table_size()
        if raw:
            return list(headers)
        try:
            return [type(h)(h[0].decode("utf-8"), h[1].decode("utf-8")) for h in headers]
        except UnicodeDecodeError as err:
            raise hpack.HPACKDecodingError("Unable to decode headers as UTF-8") from err

    def _decode_static(self, data: bytes) -> tuple[list[hpack.HeaderTuple], int]:
        headers, at, size, end = [], 0, 0, len(data)
        while at < end:
            first = data[at]
            if first & 0x80:  # indexed field
                index, at = _read_integer(data, at, 7)
                name, value = _static(index)
                header = hpack.HeaderTuple(name, value)
            elif first & 0xE0:  # incremental indexing (0x40) or a table size update (0x20): state
                raise _Unhandled
            else:  # literal without indexing (0x00) or never indexed (0x10)
                index, at = _read_integer(data, at, 4)
                if index:
                    name = _static(index)[0]
                else:
                    name, at = _read_string(data, at)
                value, at = _read_string(data, at)
                kind = hpack.NeverIndexedHeaderTuple if first & 0x10 else hpack.HeaderTuple
                header = kind(name, value)
            headers.append(header)
            size += len(header[0]) + len(header[1]) + 32  # RFC 7541 4.1, as hpack counts it
            if size > self.max_header_list_size:
                raise _Unhandled  # the full decoder says so, as it would have
        return headers, size
