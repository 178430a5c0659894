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


# ---- buffer sizes: an idle decoder is cheap --------------------------------------------------------

SMALL = 1024  # the smallest fresh buffer, and the largest kept once everything in it is decoded
CHUNK = 64 * 1024


def _connect(api):
    return api.encode(api.Connect(client_id="idle", protocol_version=4), 4)


def test_idle_decoders_hold_a_small_buffer_each(api):
    # Issue #11: 10,000 idle connections in at most 200 MB; a 64 KiB buffer each was 640 MB.
    count = 1_000
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        decoders = [api.Decoder() for _ in range(count)]
        for decoder in decoders:
            [connect] = decoder.feed(_connect(api))
        del connect
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # The decoder object and a buffer of at most SMALL bytes: well under 4 KiB.
    assert held < count * 4 * 1024
    assert all(decoder.pending == 0 for decoder in decoders)


@pytest.mark.parametrize("read", ["feed", "buffered"])
def test_a_large_buffer_is_dropped_once_everything_is_decoded(api, read):
    wire = api.encode(api.Publish(topic="t", payload=b"x" * 1000), 4) * 100  # 100 KB, cut at packets
    decoder = api.Decoder(4)
    buffer = None
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        if read == "feed":
            packets = decoder.feed(wire)
        else:
            packets, pos = [], 0
            while pos < len(wire):
                buffer = decoder.get_buffer(-1)
                n = min(len(buffer), len(wire) - pos)
                buffer[:n] = wire[pos : pos + n]
                pos += n
                packets += decoder.buffer_updated(n)
        assert len(packets) == 100
        del packets, buffer
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < SMALL + 1024
    assert decoder.pending == 0


@pytest.mark.parametrize("size", [20, 3_000, 200_000])
def test_the_first_buffer_is_sized_to_the_read(api, size):
    one = api.encode(api.Publish(topic="t", payload=b"p" * (min(size, 1000) - 5)), 4)
    wire = one * max(1, size // len(one))
    decoder = api.Decoder(4, copy_threshold=0)
    packets = decoder.feed(wire)
    # The first payload views the first buffer: the read's size, within [SMALL, CHUNK].
    assert len(packets[0].payload.obj) == min(max(len(wire), SMALL), CHUNK)


def test_get_buffer_sizes_a_fresh_buffer_by_its_hint(api):
    for hint, size in [(-1, CHUNK), (0, CHUNK), (1, SMALL), (SMALL + 1, SMALL + 1), (10**30, CHUNK), (True, SMALL)]:
        assert len(api.Decoder().get_buffer(hint)) == size, hint
    with pytest.raises(TypeError):
        api.Decoder().get_buffer(1.5)


def test_a_small_buffer_with_room_serves_the_next_reads(api):
    decoder = api.Decoder(4, copy_threshold=0)
    wire = api.encode(api.Publish(topic="t", payload=b"a"), 4)
    [first] = decoder.feed(wire)
    # Kept, and not replaced whatever the hint: the next small reads land in it.
    assert len(decoder.get_buffer(-1)) == SMALL - len(wire)
    [second] = decoder.feed(api.encode(api.Publish(topic="t", payload=b"b"), 4))
    assert second.payload.obj is first.payload.obj
    assert (bytes(first.payload), bytes(second.payload)) == (b"a", b"b")


def test_an_unfinished_packet_moves_to_a_64_kib_buffer(api):
    decoder = api.Decoder(4, copy_threshold=0)
    wire = api.encode(api.Publish(topic="t", payload=b"z" * 3000), 4)
    assert decoder.feed(wire[:1500]) == []  # a fresh buffer of 1500 bytes, full
    assert decoder.pending == 1500
    [packet] = decoder.feed(wire[1500:])
    assert len(packet.payload.obj) == CHUNK
    assert bytes(packet.payload) == b"z" * 3000
    assert decoder.pending == 0


def test_views_survive_the_buffer_being_dropped(api):
    decoder = api.Decoder(4, copy_threshold=0)
    held = []
    for round_ in range(20):
        held += decoder.feed(api.encode(api.Publish(topic="t", payload=bytes([round_]) * 3000), 4))
    assert [bytes(p.payload) for p in held] == [bytes([r]) * 3000 for r in range(20)]
    # Each read got a buffer of its own: the previous one was dropped, never written over.
    assert len({id(p.payload.obj) for p in held}) == 20
