"""Codec benchmarks: every contender on the same wire bytes, in one run.

Ids read ``test_decode[<contender>-<case>]``; ``extra_info`` carries
``op``, ``case``, ``contender`` and ``ops_per_call`` for ``report.py``.
Every benchmark first checks, untimed, that the contender's result says what
mqttfast's does (topic/payload, client id/username, filters); the
``test_*_agrees`` tests do the same on their own, so ``--benchmark-disable``
runs catch a broken adapter.
"""

from __future__ import annotations

import operator

import pytest

from .helpers import workloads as w
from .helpers.adapters import MqttfastAdapter
from .helpers.contenders import CODEC_CONTENDERS, MQTTFAST, adapter_for, record

ALL_CASES = list(w.CASES)
_WIRES = {name: w.wire(name) for name in ALL_CASES}


def _expected(name):
    import mqttfast.fallback as fb

    ref = MqttfastAdapter(fb)
    return ref.summary(name, ref.decode_result(name, _WIRES[name]))


def _skip_unless(reason):
    if reason:
        pytest.skip(reason)


def _check_decoded(contender, adapter, name, wire):
    got = adapter.summary(name, adapter.decode_result(name, wire))
    assert got == _expected(name), f"{contender} decodes {name} differently: {got!r}"


def _check_encoded(contender, adapter, name):
    import mqttfast.fallback as fb

    func, args = adapter.encode_call(name)
    out = bytes(func(*args))
    ref = MqttfastAdapter(fb)
    got = ref.summary(name, fb.decode(out, w.version_of(name))[0])
    assert got == _expected(name), f"{contender} encodes {name} to something else: {out!r}"
    return out


# ---------------------------------------------------------------------------
# correctness of every adapter (no timing)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_CASES)
def test_decode_agrees(codec, name):
    contender, adapter = codec
    _skip_unless(adapter.unsupported_decode(name))
    _check_decoded(contender, adapter, name, _WIRES[name])


@pytest.mark.parametrize("name", ALL_CASES)
def test_encode_agrees(codec, name):
    contender, adapter = codec
    _skip_unless(adapter.unsupported_encode(name))
    out = _check_encoded(contender, adapter, name)
    # Every contender writes the very same bytes for these cases (property order included).
    assert out == _WIRES[name]


# ---------------------------------------------------------------------------
# decode / encode
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_CASES)
def test_decode(benchmark, codec, name):
    contender, adapter = codec
    _skip_unless(adapter.unsupported_decode(name))
    wire = _WIRES[name]
    _check_decoded(contender, adapter, name, wire)
    func, args = adapter.decode_call(name, wire)
    benchmark.group = f"decode {name}"
    record(benchmark, op="decode", case=name, contender=contender, ops_per_call=1)
    benchmark(func, *args)


@pytest.mark.parametrize("name", ALL_CASES)
def test_encode(benchmark, codec, name):
    contender, adapter = codec
    _skip_unless(adapter.unsupported_encode(name))
    _check_encoded(contender, adapter, name)
    func, args = adapter.encode_call(name)
    benchmark.group = f"encode {name}"
    record(benchmark, op="encode", case=name, contender=contender, ops_per_call=1)
    benchmark(func, *args)


@pytest.mark.parametrize("name", ALL_CASES)
def test_encode_floor(benchmark, name):
    """The cheapest call CPython makes that returns a new ``bytes`` of the packet's size.

    Concatenating two halves of the wire bytes: one C call, one allocation, one
    copy. No encoder that returns a fresh ``bytes`` can beat it under the same
    harness, which puts a ceiling on any "x times faster" ratio for small packets.
    """
    wire = _WIRES[name]
    head, tail = wire[: len(wire) // 2], wire[len(wire) // 2 :]
    assert operator.add(head, tail) == wire
    benchmark.group = f"encode {name}"
    record(benchmark, op="encode", case=name, contender="floor", ops_per_call=1)
    benchmark(operator.add, head, tail)


# ---------------------------------------------------------------------------
# variable byte integer (mqttfast only: no peer exposes one)
# ---------------------------------------------------------------------------


def _encode_all(encode_varint, values):
    for v in values:
        encode_varint(v)


def _decode_all(decode_varint, encoded):
    for e in encoded:
        decode_varint(e)


def test_varint_encode(benchmark, mqttfast_impl):
    contender, m = mqttfast_impl
    assert [m.decode_varint(m.encode_varint(v))[0] for v in w.VARINT_VALUES] == w.VARINT_VALUES
    benchmark.group = "varint encode"
    record(benchmark, op="varint-encode", case="varint", contender=contender, ops_per_call=len(w.VARINT_VALUES))
    benchmark(_encode_all, m.encode_varint, w.VARINT_VALUES)


def test_varint_decode(benchmark, mqttfast_impl):
    contender, m = mqttfast_impl
    encoded = [m.encode_varint(v) for v in w.VARINT_VALUES]
    assert [m.decode_varint(e)[0] for e in encoded] == w.VARINT_VALUES
    benchmark.group = "varint decode"
    record(benchmark, op="varint-decode", case="varint", contender=contender, ops_per_call=len(encoded))
    benchmark(_decode_all, m.decode_varint, encoded)


# ---------------------------------------------------------------------------
# streaming: 10,000 concatenated small PUBLISH packets through Decoder.feed
# ---------------------------------------------------------------------------

_STREAM = w.stream()


def _feed_stream(Decoder, data):
    return Decoder(4).feed(data)


def _feed_stream_copy(Decoder, data):
    return Decoder(4, copy=True).feed(data)


def _feed_stream_views(Decoder, data):
    return Decoder(4, copy_threshold=0).feed(data)


def test_stream_decode(benchmark, mqttfast_impl):
    contender, m = mqttfast_impl
    packets = _feed_stream(m.Decoder, _STREAM)
    assert len(packets) == w.STREAM_PACKETS
    assert packets[-1].topic == f"sensors/room{(w.STREAM_PACKETS - 1) % 100}/temperature"
    benchmark.group = "stream decode 10k PUBLISH"
    record(benchmark, op="stream", case="stream-10k", contender=contender, ops_per_call=w.STREAM_PACKETS)
    benchmark(_feed_stream, m.Decoder, _STREAM)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        record(benchmark, packets_per_s=w.STREAM_PACKETS / stats.stats.mean)


# ---------------------------------------------------------------------------
# payload size: 64 B versus 1 MB (MQTT 5 QoS 0, no properties)
# ---------------------------------------------------------------------------

_SIZE_WIRES = {size: w.payload_size_wire(size) for size in w.PAYLOAD_SIZE_CASES}
SIZE_CONTENDERS = MQTTFAST + ["mqtt5"]


def _size_decode_call(contender, wire):
    adapter = adapter_for(contender)
    if contender == "mqtt5":
        return adapter.m.read, (memoryview(wire),)
    return adapter.m.decode, (wire, 5)


@pytest.mark.parametrize("size", list(w.PAYLOAD_SIZE_CASES))
@pytest.mark.parametrize("contender", SIZE_CONTENDERS)
def test_decode_payload_size(benchmark, contender, size):
    wire = _SIZE_WIRES[size]
    func, args = _size_decode_call(contender, wire)
    packet = func(*args)[0]
    assert packet.topic == w.TOPIC and len(packet.payload) == len(w.PAYLOAD_SIZE_CASES[size])
    benchmark.group = f"decode payload {size}"
    record(benchmark, op="decode-size", case=f"payload-{size}", contender=contender, ops_per_call=1)
    benchmark(func, *args)


def _shares_memory(payload, data) -> bool:
    """True when ``payload`` is a view into ``data``'s memory (checked by mutating ``data``)."""
    if not isinstance(payload, memoryview):
        return False
    before = bytes(payload[-1:])
    data[-1] ^= 0xFF
    try:
        return bytes(payload[-1:]) != before
    finally:
        data[-1] ^= 0xFF


@pytest.mark.parametrize("contender", SIZE_CONTENDERS)
def test_payload_shares_memory(contender):
    """Not a benchmark: does the decoded 1 MB payload share memory with the input?

    mqttfast must (design.md, "Buffers and ownership"); for mqtt5 the answer is
    only recorded (it returns ``bytes``, a copy), not asserted.
    """
    data = bytearray(_SIZE_WIRES["1MB"])
    func, args = _size_decode_call(contender, data)
    packet = func(*args)[0]
    shared = _shares_memory(packet.payload, data)
    if contender in MQTTFAST:
        assert shared, f"{contender}: payload is a copy"
        assert isinstance(packet.payload, memoryview) and packet.payload.obj is not None
    else:
        print(f"{contender}: payload shares memory with the input: {shared} ({type(packet.payload).__name__})")


assert set(SIZE_CONTENDERS) <= set(CODEC_CONTENDERS)


def test_stream_decode_copy(benchmark, mqttfast_impl):
    """The same stream with ``copy=True``: small payloads as ``bytes``, which the cycle collector ignores."""
    contender, m = mqttfast_impl
    packets = _feed_stream_copy(m.Decoder, _STREAM)
    assert len(packets) == w.STREAM_PACKETS and type(packets[0].payload) is bytes
    benchmark.group = "stream decode 10k PUBLISH, copy=True"
    record(benchmark, op="stream-copy", case="stream-10k", contender=contender, ops_per_call=w.STREAM_PACKETS)
    benchmark(_feed_stream_copy, m.Decoder, _STREAM)


def test_stream_decode_views(benchmark, mqttfast_impl):
    """The same stream with ``copy_threshold=0``: every payload a view of the decoder's
    buffer (the default before the copy threshold; the compiled twin makes each view on
    first access), for a consumer that keeps no packet."""
    contender, m = mqttfast_impl
    packets = _feed_stream_views(m.Decoder, _STREAM)
    assert len(packets) == w.STREAM_PACKETS and type(packets[0].payload) is memoryview
    benchmark.group = "stream decode 10k PUBLISH, copy_threshold=0"
    record(benchmark, op="stream-views", case="stream-10k", contender=contender, ops_per_call=w.STREAM_PACKETS)
    benchmark(_feed_stream_views, m.Decoder, _STREAM)


def _feed_stream_read_payloads(Decoder, data):
    packets = Decoder(4).feed(data)
    for packet in packets:
        packet.payload
    return packets


def test_stream_decode_read_payloads(benchmark, mqttfast_impl):
    """The default stream with every payload then read: what a consumer of every payload pays."""
    contender, m = mqttfast_impl
    packets = _feed_stream_read_payloads(m.Decoder, _STREAM)
    # Small payloads come as bytes by default (below the decoder's copy_threshold).
    assert len(packets) == w.STREAM_PACKETS and all(type(p.payload) is bytes for p in packets)
    benchmark.group = "stream decode 10k PUBLISH, payloads read"
    record(benchmark, op="stream-read", case="stream-10k", contender=contender, ops_per_call=w.STREAM_PACKETS)
    benchmark(_feed_stream_read_payloads, m.Decoder, _STREAM)
