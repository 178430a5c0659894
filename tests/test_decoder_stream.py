"""The streaming Decoder: any chunking gives the same packets; limits, errors and buffer ownership."""

import asyncio
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .helpers.strategies import packets


def _session(api, version):
    """A CONNECT followed by a mix of packets, encoded for ``version``."""
    sent = [
        api.Connect(protocol_version=version, client_id="client-1", keep_alive=30),
        api.Subscribe(packet_id=1, subscriptions=[api.Subscription(topic_filter="a/+", qos=1)]),
        api.Publish(topic="a/b", payload=b"x" * 200_000, qos=1, packet_id=2),
        api.Pingreq(),
    ]
    sent += [api.Publish(topic=f"t/{i}", payload=bytes([i]) * i, qos=i % 3, packet_id=i + 1 if i % 3 else None) for i in range(40)]
    sent.append(api.Disconnect())
    return sent, b"".join(api.encode(packet, version) for packet in sent)


@pytest.mark.parametrize("version", [3, 4, 5])
@pytest.mark.parametrize("seed", range(4))
def test_random_chunks_give_the_same_packets(api, version, seed):
    sent, wire = _session(api, version)
    rng = random.Random(seed)
    decoder = api.Decoder()
    received = []
    pos = 0
    while pos < len(wire):
        size = rng.choice([1, 2, 3, 7, 100, 4096, 70_000])
        received += decoder.feed(wire[pos : pos + size])
        pos += size
    assert received == sent
    assert decoder.version == version
    assert decoder.pending == 0


def test_one_byte_at_a_time(api):
    sent, wire = _session(api, 5)
    decoder = api.Decoder()
    received = []
    for i in range(len(wire)):
        received += decoder.feed(wire[i : i + 1])
    assert received == sent


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_split_of_any_packets(api, data):
    version = data.draw(st.sampled_from([3, 4, 5]))
    sent = data.draw(st.lists(packets(api, version).filter(lambda p: type(p) is not api.Connect), max_size=8))
    wire = b"".join(api.encode(packet, version) for packet in sent)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=6)))
    decoder = api.Decoder(version)
    received = []
    for start, end in zip([0, *cuts], [*cuts, len(wire)]):
        received += decoder.feed(wire[start:end])
    assert received == sent
    assert decoder.pending == 0


def test_buffered_protocol_interface(api):
    sent, wire = _session(api, 4)
    decoder = api.Decoder()
    received = []
    pos = 0
    while pos < len(wire):
        buffer = decoder.get_buffer(-1)
        assert len(buffer) > 0
        n = min(len(buffer), len(wire) - pos, 1000)
        buffer[:n] = wire[pos : pos + n]
        received += decoder.buffer_updated(n)
        pos += n
    assert received == sent


def test_asyncio_buffered_protocol_over_loopback(api):
    sent, wire = _session(api, 5)

    class Server(asyncio.BufferedProtocol):
        def __init__(self):
            self.decoder = api.Decoder()
            self.received = []
            self.done = asyncio.get_running_loop().create_future()

        def get_buffer(self, sizehint):
            return self.decoder.get_buffer(sizehint)

        def buffer_updated(self, nbytes):
            self.received += self.decoder.buffer_updated(nbytes)
            if len(self.received) == len(sent) and not self.done.done():
                self.done.set_result(None)

    async def run():
        protocol = Server()
        server = await asyncio.get_running_loop().create_server(lambda: protocol, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            for i in range(0, len(wire), 3000):
                writer.write(wire[i : i + 3000])
                await writer.drain()
            await asyncio.wait_for(protocol.done, 10)
            writer.close()
        finally:
            server.close()
            await server.wait_closed()
        return protocol.received

    assert asyncio.run(run()) == sent


def test_payload_views_never_go_stale(api):
    # The decoder never writes over bytes it has handed out (views only, to see them).
    decoder = api.Decoder(4, copy_threshold=0)
    held = []
    for round_ in range(50):
        packet = api.Publish(topic="t", payload=bytes([round_]) * 5000)
        wire = api.encode(packet, 4)
        for i in range(0, len(wire), 777):
            held += decoder.feed(wire[i : i + 777])
    assert all(type(p.payload) is memoryview for p in held)
    assert [bytes(p.payload) for p in held] == [bytes([r]) * 5000 for r in range(50)]


def test_learns_the_version_from_connect(api):
    decoder = api.Decoder()
    assert decoder.version is None
    [connect] = decoder.feed(api.encode(api.Connect(protocol_version=3, client_id="c")))
    assert decoder.version == 3
    # A 3.x DISCONNECT has no reason code: a body byte is now malformed.
    with pytest.raises(api.MalformedPacket):
        decoder.feed(bytes.fromhex("e0 01 04"))


def test_first_packet_must_be_connect(api):
    with pytest.raises(api.ProtocolError):
        api.Decoder().feed(bytes.fromhex("c0 00"))


def test_second_connect_is_a_protocol_error(api):
    wire = api.encode(api.Connect(client_id="a"), 5)
    decoder = api.Decoder()
    with pytest.raises(api.ProtocolError, match="second CONNECT") as info:
        decoder.feed(wire + wire)
    assert len(info.value.packets) == 1


def test_packet_too_large_before_the_body_is_buffered(api):
    decoder = api.Decoder(4, max_packet_size=1024)
    with pytest.raises(api.PacketTooLarge):
        decoder.feed(bytes.fromhex("30 ff ff ff 7f"))
    assert decoder.pending <= 5


def test_a_poisoned_decoder_keeps_raising(api):
    decoder = api.Decoder(4)
    good = api.encode(api.Pingreq(), 4)
    with pytest.raises(api.MalformedPacket) as info:
        decoder.feed(good + bytes.fromhex("00 00"))
    assert info.value.packets == [api.Pingreq()]
    for _ in range(2):
        with pytest.raises(api.MalformedPacket):
            decoder.feed(good)
        with pytest.raises(api.MalformedPacket):
            decoder.get_buffer(-1)


def test_pending_counts_an_unfinished_packet(api):
    decoder = api.Decoder(4)
    wire = api.encode(api.Publish(topic="t", payload=b"12345"), 4)
    assert decoder.feed(wire[:4]) == []
    assert decoder.pending == 4
    assert decoder.feed(wire[4:]) == [api.Publish(topic="t", payload=b"12345")]
    assert decoder.pending == 0


def test_copy_option_returns_bytes(api):
    decoder = api.Decoder(4, copy=True)
    [packet] = decoder.feed(api.encode(api.Publish(topic="t", payload=b"abc"), 4))
    assert type(packet.payload) is bytes


def test_constructor_arguments_are_checked(api):
    with pytest.raises(ValueError):
        api.Decoder(7)
    with pytest.raises(ValueError):
        api.Decoder(4, max_packet_size=1)
    decoder = api.Decoder(4)
    decoder.get_buffer(-1)
    with pytest.raises(ValueError):
        decoder.buffer_updated(10**9)
