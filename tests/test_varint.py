import pytest

# Vectors from the table of MQTT 5.0 §1.5.5: the edges of each encoded length.
VECTORS = [
    (0, b"\x00"),
    (127, b"\x7f"),
    (128, b"\x80\x01"),
    (16_383, b"\xff\x7f"),
    (16_384, b"\x80\x80\x01"),
    (2_097_151, b"\xff\xff\x7f"),
    (2_097_152, b"\x80\x80\x80\x01"),
    (268_435_455, b"\xff\xff\xff\x7f"),
]


@pytest.mark.parametrize(("value", "wire"), VECTORS)
def test_encode_is_minimal_and_matches_spec(api, value, wire):
    assert api.encode_varint(value) == wire
    assert api.varint_size(value) == len(wire)


@pytest.mark.parametrize(("value", "wire"), VECTORS)
def test_decode_from_any_buffer(api, value, wire):
    for buf in (wire, bytearray(wire), memoryview(wire), memoryview(b"junk" + wire)[4:]):
        assert api.decode_varint(buf) == (value, len(wire))


def test_decode_at_offset_ignores_what_follows(api):
    assert api.decode_varint(b"\xaa\xff\x7f\x55", 1) == (16_383, 2)


def test_non_minimal_encoding_is_accepted_on_decode(api):
    # Only the encoder is bound to the shortest form [MQTT-1.5.5-1].
    assert api.decode_varint(b"\x80\x00") == (0, 2)


@pytest.mark.parametrize("value", [-1, 268_435_456, 2**40])
def test_encode_out_of_range(api, value):
    with pytest.raises(api.MalformedPacket) as info:
        api.encode_varint(value)
    assert info.value.reason_code == 0x81
    with pytest.raises(api.MalformedPacket):
        api.varint_size(value)


def test_fifth_byte_is_malformed(api):
    with pytest.raises(api.MalformedPacket) as info:
        api.decode_varint(b"\x80\x80\x80\x80\x01")
    assert info.value.reason_code == 0x81
    assert info.value.offset == 0


@pytest.mark.parametrize("wire", [b"", b"\x80", b"\xff\xff", b"\xff\xff\xff"])
def test_truncated_is_incomplete_not_index_error(api, wire):
    with pytest.raises(api.Incomplete):
        api.decode_varint(wire)


def test_every_value_round_trips_at_the_edges(api):
    for value in list(range(0, 300)) + [2**k + d for k in range(7, 28) for d in (-1, 0, 1)]:
        if value > 268_435_455:
            continue
        wire = api.encode_varint(value)
        assert api.decode_varint(wire) == (value, len(wire))
