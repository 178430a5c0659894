"""Forwarding a received PUBLISH to subscribers: a new header, the same payload memory."""

import pytest


def _incoming(api):
    wire = api.encode(
        api.Publish(
            topic="plant/line1/temp",
            payload=b"x" * 1000,
            qos=2,
            packet_id=77,
            dup=True,
            retain=True,
            topic_alias=3,
            content_type="text/plain",
            message_expiry_interval=60,
            correlation_data=b"\x01\x02",
            user_properties=[("origin", "sensor-9"), ("unit", "C")],
        ),
        5,
    )
    packet, _ = api.decode(wire, 5)
    return packet


def test_forward_equals_encoding_the_readdressed_packet(api):
    incoming = _incoming(api)
    header, payload = api.encode_forward(incoming, 5, qos=1, packet_id=9, retain=False, subscription_identifiers=[4, 5])
    expected = api.Publish(
        topic="plant/line1/temp",
        payload=b"x" * 1000,
        qos=1,
        packet_id=9,
        content_type="text/plain",
        message_expiry_interval=60,
        correlation_data=b"\x01\x02",
        subscription_identifiers=[4, 5],
        user_properties=[("origin", "sensor-9"), ("unit", "C")],
    )
    assert header + bytes(payload) == api.encode(expected, 5)
    assert len(header) < 100


def test_the_payload_is_never_copied(api):
    incoming = _incoming(api)
    _, payload = api.encode_forward(incoming, 5, qos=0)
    assert payload is incoming.payload
    assert isinstance(payload, memoryview)


def test_defaults_keep_qos_retain_and_topic_but_clear_dup_and_alias(api):
    incoming = _incoming(api)
    header, payload = api.encode_forward(incoming, 5, packet_id=1)
    forwarded, _ = api.decode(header + bytes(payload), 5)
    assert (forwarded.qos, forwarded.retain, forwarded.dup) == (2, True, False)
    assert forwarded.topic == "plant/line1/temp"
    assert forwarded.topic_alias is None
    assert forwarded.subscription_identifiers == []


def test_alias_topic_and_expiry_overrides(api):
    incoming = _incoming(api)
    header, payload = api.encode_forward(incoming, 5, qos=0, topic="", topic_alias=12, message_expiry_interval=41)
    forwarded, _ = api.decode(header + bytes(payload), 5)
    assert (forwarded.topic, forwarded.topic_alias, forwarded.message_expiry_interval) == ("", 12, 41)


def test_forward_to_a_3x_subscriber_drops_properties(api):
    incoming = _incoming(api)
    header, payload = api.encode_forward(incoming, 4, qos=1, packet_id=2)
    assert header + bytes(payload) == api.encode(
        api.Publish(topic="plant/line1/temp", payload=b"x" * 1000, qos=1, packet_id=2, retain=True), 4
    )


def test_forward_applies_the_encoder_checks(api):
    incoming = _incoming(api)
    with pytest.raises(api.ProtocolError):
        api.encode_forward(incoming, 5)  # QoS 2 kept, but no packet id for the subscriber
    with pytest.raises(api.ProtocolError):
        api.encode_forward(incoming, 5, qos=0, topic="")  # empty topic needs an alias
    with pytest.raises(TypeError):
        api.encode_forward(api.Pingreq(), 5)


def test_fan_out_to_many_subscribers(api):
    incoming = _incoming(api)
    frames = [api.encode_forward(incoming, 5, qos=1, packet_id=i + 1) for i in range(100)]
    assert all(payload is incoming.payload for _, payload in frames)
    decoder = api.Decoder(5)
    received = decoder.feed(b"".join(header + bytes(payload) for header, payload in frames))
    assert [p.packet_id for p in received] == list(range(1, 101))
    assert all(p.user_properties == [("origin", "sensor-9"), ("unit", "C")] for p in received)
