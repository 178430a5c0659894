"""MQTT 5 properties of decoded packets: correct whenever and in whatever order they are read.

The compiled twin leaves a PUBLISH's properties in the validated input until
first use and re-encodes an untouched packet from that block; these tests hold
both twins to the same observable behaviour.
"""

import gc

import pytest

from .helpers.samples import ALL_PUBLISH_PROPERTIES


def _publish(api, **extra):
    return api.Publish(topic="sensors/t", payload=b"payload", qos=1, packet_id=3, **{**ALL_PUBLISH_PROPERTIES, **extra})


def _fields(packet):
    return {name: getattr(packet, name) for name in ALL_PUBLISH_PROPERTIES}


@pytest.mark.parametrize("make_input", [bytes, bytearray, memoryview], ids=["bytes", "bytearray", "memoryview"])
def test_properties_survive_the_release_of_every_view_handed_out(api, make_input):
    # A fresh input object that nothing but the decoder's views reference.
    packet, _ = api.decode(make_input(bytes(bytearray(api.encode(_publish(api), 5)))), 5)
    payload = packet.payload
    if isinstance(payload, memoryview):
        payload.release()
    del payload
    gc.collect()
    assert _fields(packet) == ALL_PUBLISH_PROPERTIES


def test_properties_read_one_by_one_in_any_order(api):
    wire = api.encode(_publish(api), 5)
    for name in reversed(list(ALL_PUBLISH_PROPERTIES)):
        packet, _ = api.decode(wire, 5)
        assert getattr(packet, name) == ALL_PUBLISH_PROPERTIES[name]
        assert _fields(packet) == ALL_PUBLISH_PROPERTIES


def test_setting_one_property_keeps_the_others(api):
    wire = api.encode(_publish(api), 5)
    packet, _ = api.decode(wire, 5)
    packet.topic_alias = 10
    assert _fields(packet) == {**ALL_PUBLISH_PROPERTIES, "topic_alias": 10}
    assert api.encode(packet, 5) == api.encode(_publish(api, topic_alias=10), 5)


def test_an_untouched_packet_re_encodes_to_its_wire_bytes(api):
    wire = api.encode(_publish(api), 5)
    packet, _ = api.decode(wire, 5)
    assert api.encode(packet, 5) == wire
    assert api.encoded_size(packet, 5) == len(wire)
    assert api.encode_forward(packet, 5, granted_qos=2, packet_id=8)[0].startswith(bytes([0x32]))


def _publish_wire(properties: bytes) -> bytes:
    body = b"\x00\x01t" + b"\x00\x07" + bytes([len(properties)]) + properties + b"p"
    return bytes([0x32, len(body)]) + body


def test_peer_property_order_is_kept_and_varints_are_written_minimal(api):
    # Topic alias before payload format indicator (not identifier order), and a
    # subscription identifier 1 in a two-byte form that the decoder accepts.
    wire = _publish_wire(b"\x23\x00\x04" + b"\x01\x01" + b"\x0b\x81\x00")
    packet, _ = api.decode(wire, 5)
    out = api.encode(packet, 5)
    assert out == _publish_wire(b"\x23\x00\x04" + b"\x01\x01" + b"\x0b\x01")
    assert packet.subscription_identifiers == [1]
    assert api.decode(out, 5)[0] == packet


def test_decoded_packets_compare_and_repr_with_their_properties(api):
    wire = api.encode(_publish(api), 5)
    first, _ = api.decode(wire, 5)
    second, _ = api.decode(wire, 5)
    assert first == second == _publish(api)
    assert "content_type='application/json'" in repr(first)
    assert first != _publish(api, content_type="text/plain")


def test_stream_decoded_properties_outlive_the_decoder(api):
    wire = api.encode(_publish(api), 5)
    decoder = api.Decoder(5)
    packets = decoder.feed(wire * 3)
    del decoder
    gc.collect()
    assert [_fields(p) for p in packets] == [ALL_PUBLISH_PROPERTIES] * 3


# The payload too: the compiled twin makes a decoded payload's view on first access.


def test_payload_is_one_view_of_the_input(api):
    data = api.encode(api.Publish(topic="t", payload=b"abc"), 4)
    packet, _ = api.decode(data, 4)
    payload = packet.payload
    assert payload is packet.payload
    assert isinstance(payload, memoryview) and payload.obj is data and payload.readonly
    assert payload == b"abc"


def test_payload_read_late_outlives_its_input_and_decoder(api):
    wires = [api.encode(api.Publish(topic="t", payload=bytes([i % 256]) * 300), 4) for i in range(600)]
    packet, _ = api.decode(bytes(wires[7]), 4)  # the only reference to that input
    decoder = api.Decoder(4)
    held = decoder.feed(b"".join(wires))  # 180 KB: the decoder moves to fresh buffers on the way
    del decoder
    gc.collect()
    assert bytes(packet.payload) == bytes([7]) * 300
    assert [bytes(p.payload) for p in held] == [bytes([i % 256]) * 300 for i in range(600)]


def test_an_unread_payload_re_encodes_and_forwards_unchanged(api):
    data = api.encode(_publish(api), 5)
    packet, _ = api.decode(data, 5)
    assert api.encode(packet, 5) == data
    buffer = bytearray(len(data) + 3)
    assert api.encode_into(packet, buffer, 3, 5) == len(data) and buffer[3:] == data
    [streamed] = api.Decoder(5).feed(data)
    assert api.encode(streamed, 5) == data
    header, payload = api.encode_forward(streamed, 5, granted_qos=0)
    assert payload is streamed.payload and bytes(payload) == b"payload"
    forwarded, _ = api.decode(header + bytes(payload), 5)
    assert bytes(forwarded.payload) == b"payload" and forwarded.qos == 0 and forwarded.topic == "sensors/t"


def test_writing_into_a_decoders_buffer_cannot_move_unread_properties(api):
    # A payload view's ``obj`` is the decoder's writable buffer (views of small payloads
    # too, with copy_threshold=0). Rewriting the length of a user property there, after
    # decoding, must not let reading or re-encoding the packet walk out of its property
    # block (into the next client's packet, say).
    first = api.encode(api.Publish(topic="t", payload=b"", user_properties=[("a", "b")]), 5)
    second = api.encode(api.Publish(topic="other", payload=b"SECRET-OF-ANOTHER-CLIENT"), 5)
    packet, other = api.Decoder(5, copy_threshold=0).feed(first + second)
    at = first.index(b"\x26")
    other.payload.obj[at + 4 : at + 6] = (len(second) + 1).to_bytes(2, "big")
    assert packet.user_properties == [("a", "b")]
    assert api.encode(packet, 5) == first


def test_a_topic_replaced_while_encoding_is_not_read_after_its_release(api):
    # Encoding runs user code (here the truth value of ``retain``) after taking the topic;
    # the topic it started with is what gets written.
    class Flag:
        def __bool__(self):
            packet.topic = "x"
            return False

    packet = api.Publish(topic="a" * 200, payload=b"p")
    packet.retain = Flag()
    wire = api.encode(packet, 4)
    decoded, _ = api.decode(wire, 4)
    assert decoded.topic == "a" * 200 and bytes(decoded.payload) == b"p"


def test_str_subclasses_are_strings(api):
    class Text(str):
        pass

    with pytest.raises(api.InvalidTopicName):
        api.encode(api.Publish(topic=Text("a/+"), payload=b""), 5)
    wire = api.encode(api.Publish(topic="a", payload=b"", response_topic=Text("replies/1")), 5)
    assert api.decode(wire, 5)[0].response_topic == "replies/1"
