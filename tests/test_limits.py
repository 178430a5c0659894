"""Limits a receiver enforces before committing memory, and the codec under several threads."""

import threading

import pytest


def publish_with_user_properties(count):
    # Each empty user property is 5 bytes on the wire but a tuple in memory.
    block = bytes.fromhex("26 0000 0000") * count
    length = len(block)
    varint = bytearray()
    while True:
        varint.append((length & 0x7F) | (0x80 if length > 0x7F else 0))
        length >>= 7
        if not length:
            break
    body = bytes.fromhex("0001 74") + bytes(varint) + block
    remaining = len(body)
    header = bytearray([0x30])
    while True:
        header.append((remaining & 0x7F) | (0x80 if remaining > 0x7F else 0))
        remaining >>= 7
        if not remaining:
            break
    return bytes(header) + body


def test_property_count_is_limited(api):
    assert api.DEFAULT_MAX_PROPERTIES == 1024
    packet, _ = api.decode(publish_with_user_properties(1024), 5)
    assert len(packet.user_properties) == 1024
    with pytest.raises(api.PacketTooLarge, match="max_properties=1024"):
        api.decode(publish_with_user_properties(1025), 5)
    packet, _ = api.decode(publish_with_user_properties(5000), 5, max_properties=5000)
    assert len(packet.user_properties) == 5000
    with pytest.raises(api.PacketTooLarge):
        api.decode(publish_with_user_properties(3), 5, max_properties=2)


def test_the_decoder_applies_the_property_limit(api):
    decoder = api.Decoder(5, max_properties=10)
    assert decoder.max_properties == 10
    assert len(decoder.feed(publish_with_user_properties(10))) == 1
    with pytest.raises(api.PacketTooLarge):
        decoder.feed(publish_with_user_properties(11))


def test_a_huge_announced_length_costs_nothing(api):
    # 268,435,455 bytes announced: refused from the five header bytes, nothing buffered.
    decoder = api.Decoder(4)
    with pytest.raises(api.PacketTooLarge):
        decoder.feed(bytes.fromhex("30 ff ff ff 7f"))
    assert decoder.pending == 5


def test_decoders_in_many_threads(api):
    """Decoders are per connection; decode, encode and a shared matcher work from any thread."""
    packets = [api.Publish(topic=f"t/{i}", payload=bytes([i]) * i, qos=1, packet_id=i + 1) for i in range(200)]
    wire = b"".join(api.encode(p, 5) for p in packets)
    matcher = api.TopicMatcher()
    matcher.subscribe("t/+", "all")
    errors = []

    def connection(seed):
        try:
            for _ in range(20):
                decoder = api.Decoder(5)
                received = []
                for start in range(0, len(wire), 97 + seed):
                    received += decoder.feed(wire[start : start + 97 + seed])
                assert received == packets
                for packet in received[:20]:
                    assert api.decode(api.encode(packet, 5), 5)[0] == packet
                    assert matcher.match(packet.topic) == ["all"]
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=connection, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_limits_read_back_as_given(api):
    decoder = api.Decoder(4, max_packet_size=1 << 40, max_properties=7)
    assert (decoder.max_packet_size, decoder.max_properties) == (1 << 40, 7)
