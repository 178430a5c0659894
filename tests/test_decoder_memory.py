"""What a packet from a Decoder keeps alive: its own bytes, never the decoder's whole buffer."""

import gc
import tracemalloc

import pytest

KEPT = 2_000
UNIT = 64 * 1024  # one kept packet and one dropped filler: about one decoder buffer each


def _kept_and_filler(api, version, i):
    """A small retained message to keep, and a large one to drop, ``UNIT`` bytes together."""
    extra = {"correlation_data": b"req-%d" % i, "user_properties": [("k", "v")]} if version == 5 else {}
    kept = api.encode(api.Publish(topic=f"retained/{i:04}", payload=b"%010d" % i, retain=True, **extra), version)
    room = UNIT - len(kept)
    overhead = len(api.encode(api.Publish(topic="noise", payload=bytes(room)), version)) - room
    filler = api.encode(api.Publish(topic="noise", payload=bytes(room - overhead)), version)
    return kept, filler


def _decoder_buffer(decoder):
    """The buffer the decoder is reading into now."""
    return decoder.get_buffer(0).obj


@pytest.mark.parametrize("version", [4, 5])
def test_kept_small_packets_cost_about_their_own_size(api, version):
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        decoder = api.Decoder(version)
        kept, own_size = [], 0
        for i in range(KEPT):
            wire, filler = _kept_and_filler(api, version, i)
            packet, _dropped = decoder.feed(wire + filler)
            # A broker reads what it forwards: any lazily made view exists now.
            assert bytes(packet.payload) == b"%010d" % i
            if version == 5:
                assert bytes(packet.correlation_data) == b"req-%d" % i
            kept.append(packet)
            own_size += len(wire)
        del decoder, wire, filler, packet, _dropped
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # Twice the wire size plus the packet's own objects (the packet, its topic,
    # payload copy, property lists and views: a few hundred bytes); about 128 MB
    # when each packet pinned the 64 KiB buffer it arrived in.
    assert held < 2 * own_size + 1024 * KEPT
    for packet in kept:
        assert type(packet.payload) is bytes
        if version == 5:
            assert not isinstance(packet.correlation_data.obj, bytearray)


@pytest.mark.parametrize("size", [64 * 1024, 100_000, 1_000_000])
def test_large_payloads_stay_views_of_a_buffer_of_their_own(api, size):
    decoder = api.Decoder(4)
    small = api.encode(api.Publish(topic="a", payload=b"before"), 4)
    wire = api.encode(api.Publish(topic="big", payload=b"\x07" * size), 4)
    before, packet = decoder.feed(small + wire)
    assert type(before.payload) is bytes
    assert type(packet.payload) is memoryview
    assert type(packet.payload.obj) is bytearray
    # Zero-copy, and the buffer it pins holds this packet and nothing else.
    assert len(packet.payload.obj) == len(wire)
    assert bytes(packet.payload) == b"\x07" * size


def test_payloads_below_the_default_threshold_are_copied(api):
    decoder = api.Decoder(4)
    assert decoder.copy_threshold == 64 * 1024
    [packet] = decoder.feed(api.encode(api.Publish(topic="t", payload=b"x" * (64 * 1024 - 1)), 4))
    assert type(packet.payload) is bytes


def test_copy_threshold_zero_hands_out_views_of_the_decoder_buffer(api):
    decoder = api.Decoder(4, copy_threshold=0)
    [packet] = decoder.feed(api.encode(api.Publish(topic="t", payload=b"abc"), 4))
    assert type(packet.payload) is memoryview
    assert packet.payload.obj is _decoder_buffer(decoder)
    assert packet.payload == b"abc"


def test_copy_threshold_sets_the_boundary(api):
    decoder = api.Decoder(4, copy_threshold=16)
    below, at = decoder.feed(
        api.encode(api.Publish(topic="t", payload=b"y" * 15), 4) + api.encode(api.Publish(topic="t", payload=b"z" * 16), 4)
    )
    assert (type(below.payload), bytes(below.payload)) == (bytes, b"y" * 15)
    assert (type(at.payload), bytes(at.payload)) == (memoryview, b"z" * 16)
    assert at.payload.obj is _decoder_buffer(decoder)


def test_copy_true_copies_even_large_payloads(api):
    decoder = api.Decoder(4, copy=True, copy_threshold=0)
    [packet] = decoder.feed(api.encode(api.Publish(topic="t", payload=b"q" * 100_000), 4))
    assert type(packet.payload) is bytes


def test_correlation_data_never_views_the_decoder_buffer(api):
    decoder = api.Decoder(5, copy_threshold=0)
    wire = api.encode(api.Publish(topic="t", payload=b"p", correlation_data=b"corr"), 5)
    [packet] = decoder.feed(wire)
    assert type(packet.correlation_data) is memoryview
    assert packet.correlation_data == b"corr"
    assert packet.correlation_data.obj is not _decoder_buffer(decoder)
    assert packet.payload.obj is _decoder_buffer(decoder)


def test_a_small_connect_keeps_no_view_of_the_decoder_buffer(api):
    # A broker keeps the will for the whole session.
    connect = api.Connect(
        protocol_version=5,
        client_id="c",
        username="u",
        password=b"secret",
        will=api.Will(topic="w", payload=b"gone", correlation_data=b"cd"),
    )
    [packet] = api.Decoder().feed(api.encode(connect, 5))
    assert packet == connect
    assert type(packet.password) is bytes
    assert type(packet.will.payload) is bytes
    assert type(packet.will.correlation_data) is bytes


def test_decode_of_bytes_views_the_callers_own_bytes(api):
    wire = api.encode(api.Publish(topic="t", payload=b"mine"), 4)
    packet, _ = api.decode(wire, 4)
    assert type(packet.payload) is memoryview
    assert packet.payload.obj is wire


def test_copy_threshold_is_checked(api):
    with pytest.raises(ValueError):
        api.Decoder(4, copy_threshold=-1)
