"""The proxies' HPACK without the dynamic table: what it encodes any HPACK decoder reads back as sent, and it
reads what any HPACK encoder sends. A user would see a break as headers changed or lost between proxies."""
import hpack
import pytest

from lab.sim.wire.hpack_static import StaticDecoder, StaticEncoder

REQUEST = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"foobar-east.test.svc.cluster.local:9898"),
           (b":path", b"/"), (b"user-agent", b"curl/8.5.0"), (b"accept", b"*/*"), (b"l5d-orig-proto", b"HTTP/1.1"),
           (b"forwarded", b"by=" + b"g" * 300), (b"x-empty", b""), (b"x-utf8", "gr\u00fc\u00df".encode())]


def test_what_it_encodes_the_hpack_library_decodes_as_sent_without_touching_its_table():
    encoder, decoder = StaticEncoder(), hpack.Decoder()
    for _ in range(3):  # again: the second block must not lean on a table the first filled
        assert decoder.decode(encoder.encode(REQUEST), raw=True) == REQUEST
    assert len(decoder.header_table.dynamic_entries) == 0


def test_a_sensitive_field_stays_never_indexed_on_the_wire():
    block = StaticEncoder().encode([(b":method", b"GET"), hpack.NeverIndexedHeaderTuple(b"authorization", b"s3cret"),
                                    (b"cookie", b"a=b", True)])
    decoded = hpack.Decoder().decode(block, raw=True)
    assert [type(h) for h in decoded] == [hpack.HeaderTuple, hpack.NeverIndexedHeaderTuple, hpack.NeverIndexedHeaderTuple]
    assert StaticDecoder().decode(block, raw=True) == decoded
    assert [type(h) for h in StaticDecoder().decode(block, raw=True)] == [type(h) for h in decoded]


def test_it_decodes_what_the_hpack_library_encodes_huffman_and_dynamic_table_included():
    library, mine, reference = hpack.Encoder(), StaticDecoder(), hpack.Decoder()
    for _ in range(3):  # the first block fills the dynamic table, the next ones index into it
        block = library.encode(REQUEST)
        assert mine.decode(block, raw=True) == reference.decode(block, raw=True) == REQUEST
    assert mine.decode(StaticEncoder().encode(REQUEST)) == [(n.decode(), v.decode()) for n, v in REQUEST]


def test_it_tells_its_peer_when_the_table_size_changed():
    encoder, decoder = StaticEncoder(), hpack.Decoder()
    encoder.header_table_size = 100  # as h2 sets it from the peer's SETTINGS_HEADER_TABLE_SIZE
    decoder.max_allowed_table_size = 100
    assert decoder.decode(encoder.encode(REQUEST[:2]), raw=True) == REQUEST[:2]
    assert decoder.header_table_size == 100
    assert not encoder.encode(REQUEST[:2]).startswith(b"\x3f")  # said once, not again


def test_a_header_list_over_the_limit_is_refused_every_time():
    block = StaticEncoder().encode(REQUEST)
    decoder = StaticDecoder()
    decoder.decode(block)
    decoder.max_header_list_size = 200
    for _ in range(2):  # decoded afresh and from what it kept
        with pytest.raises(hpack.OversizedHeaderListError):
            decoder.decode(block)


@pytest.mark.parametrize("block", [b"\x80", b"\x00\x05ab", b"\x04\x7f", b"\xff\xff\xff\xff\xff\xff\x7f"])
def test_a_broken_block_fails_as_the_hpack_library_fails_it(block):
    with pytest.raises(hpack.HPACKDecodingError):
        hpack.Decoder().decode(block)
    with pytest.raises(hpack.HPACKDecodingError):
        StaticDecoder().decode(block)
