"""The broker benchmark's load generator counts frames by stride: it must count, ack and check as a decoder would."""

import asyncio
import random

import pytest

import mqttfast
from benchmarks import loadgen


class _Transport:
    def __init__(self):
        self.written = []

    def write(self, data):
        self.written.append(bytes(data))


def _read(stream, check, cuts):
    """Feed ``stream`` to a fresh peer in reads of the sizes ``cuts`` draws; the peer and what it wrote."""

    async def run():
        peer = loadgen._Peer(asyncio.Event(), check)
        peer.transport = transport = _Transport()
        position = 0
        while position < len(stream):
            size = cuts()
            chunk = stream[position : position + size]
            peer.get_buffer(-1)[: len(chunk)] = chunk
            peer.buffer_updated(len(chunk))
            position += size
        return peer, b"".join(transport.written)

    return asyncio.run(run())


@pytest.mark.parametrize("qos", [0, 1])
@pytest.mark.parametrize("payload", [64, 1024])
@pytest.mark.parametrize("seed", [1, 2])
def test_counts_acks_and_repeats_whatever_the_read_boundaries(qos, payload, seed):
    ring = loadgen._ring(7, ["fanin/7"], qos, payload)
    size = len(ring) // loadgen.RING
    suback = mqttfast.encode(mqttfast.Suback(packet_id=1, reason_codes=[0]), loadgen.VERSION)
    # 600 messages, the 300th twice, a SUBACK among them (another size: the frame-by-frame walk).
    stream = ring[: size * 50] + suback + ring[size * 50 : size * 300] + ring[size * 299 : size * 600]
    generator = random.Random(seed)
    peer, written = _read(stream, check=bool(qos), cuts=lambda: generator.randint(1, 3 * size))
    assert peer.delivered == 601
    assert peer.filled == 0
    if qos:
        assert peer.anomalies == 1
        expected = [mqttfast.encode(mqttfast.Puback(packet_id=i + 1), loadgen.VERSION) for i in range(300)]
        expected += [mqttfast.encode(mqttfast.Puback(packet_id=i + 1), loadgen.VERSION) for i in range(299, 600)]
        assert written == b"".join(expected)
    else:
        assert written == b""


def test_a_publisher_counts_its_pubacks():
    pubacks = b"".join(mqttfast.encode(mqttfast.Puback(packet_id=i), loadgen.VERSION) for i in range(1, 1001))
    generator = random.Random(3)
    peer, written = _read(pubacks, check=False, cuts=lambda: generator.randint(1, 50))
    assert (peer.acked, peer.delivered, written) == (1000, 0, b"")
