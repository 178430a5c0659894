"""Forwarding a received PUBLISH to subscribers: a new header, the same payload memory."""

import re
from pathlib import Path

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
    header, payload = api.encode_forward(incoming, 5, granted_qos=1, packet_id=9, subscription_identifiers=[4, 5])
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
    _, payload = api.encode_forward(incoming, 5, granted_qos=0)
    assert payload is incoming.payload
    assert isinstance(payload, memoryview)


def test_full_grant_with_retain_as_published_keeps_qos_retain_and_topic_but_clears_dup_and_alias(api):
    incoming = _incoming(api)
    header, payload = api.encode_forward(incoming, 5, granted_qos=2, packet_id=1, retain_as_published=True)
    forwarded, _ = api.decode(header + bytes(payload), 5)
    assert (forwarded.qos, forwarded.retain, forwarded.dup) == (2, True, False)
    assert forwarded.topic == "plant/line1/temp"
    assert forwarded.topic_alias is None
    assert forwarded.subscription_identifiers == []


def test_alias_topic_and_expiry_overrides(api):
    incoming = _incoming(api)
    header, payload = api.encode_forward(
        incoming, 5, granted_qos=0, topic="", topic_alias=12, message_expiry_interval=41
    )
    forwarded, _ = api.decode(header + bytes(payload), 5)
    assert (forwarded.topic, forwarded.topic_alias, forwarded.message_expiry_interval) == ("", 12, 41)


def test_forward_to_a_3x_subscriber_drops_properties(api):
    incoming = _incoming(api)
    header, payload = api.encode_forward(incoming, 4, granted_qos=1, packet_id=2)
    assert header + bytes(payload) == api.encode(
        api.Publish(topic="plant/line1/temp", payload=b"x" * 1000, qos=1, packet_id=2), 4
    )


def test_forward_applies_the_encoder_checks(api):
    incoming = _incoming(api)
    with pytest.raises(api.ProtocolError):
        api.encode_forward(incoming, 5, granted_qos=2)  # QoS 2 kept, but no packet id for the subscriber
    with pytest.raises(api.ProtocolError):
        api.encode_forward(incoming, 5, granted_qos=0, topic="")  # empty topic needs an alias
    with pytest.raises(TypeError):
        api.encode_forward(api.Pingreq(), 5, granted_qos=0)


def test_fan_out_to_many_subscribers(api):
    incoming = _incoming(api)
    frames = [api.encode_forward(incoming, 5, granted_qos=1, packet_id=i + 1) for i in range(100)]
    assert all(payload is incoming.payload for _, payload in frames)
    decoder = api.Decoder(5)
    received = decoder.feed(b"".join(header + bytes(payload) for header, payload in frames))
    assert [p.packet_id for p in received] == list(range(1, 101))
    assert all(p.user_properties == [("origin", "sensor-9"), ("unit", "C")] for p in received)


# The delivery rules: the subscription's grant and options decide QoS, packet id and RETAIN.


def _published(api, qos, retain=True):
    wire = api.encode(api.Publish(topic="t", payload=b"m", qos=qos, packet_id=5 if qos else None, retain=retain), 5)
    return api.decode(wire, 5)[0]


def _delivered(api, version, header, payload):
    return api.decode(header + bytes(payload), version)[0]


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize("published", [0, 1, 2])
@pytest.mark.parametrize("granted", [0, 1, 2])
def test_delivery_qos_is_the_lower_of_published_and_granted(api, version, published, granted):
    ids = iter(range(100, 200))
    delivered = _delivered(
        api, version, *api.encode_forward(_published(api, published), version, granted_qos=granted, packet_id=lambda: next(ids))
    )
    qos = min(published, granted)
    assert delivered.qos == qos
    assert delivered.packet_id == (100 if qos else None)
    assert next(ids) == (101 if qos else 100)  # the callable was called only when an id was needed


def test_a_packet_id_value_is_ignored_for_a_qos_0_delivery(api):
    delivered = _delivered(api, 5, *api.encode_forward(_published(api, 0), 5, granted_qos=2, packet_id=9))
    assert (delivered.qos, delivered.packet_id) == (0, None)
    delivered = _delivered(api, 5, *api.encode_forward(_published(api, 2), 5, granted_qos=0, packet_id=9))
    assert (delivered.qos, delivered.packet_id) == (0, None)


@pytest.mark.parametrize(
    "version, published_retain, retain_as_published, retained_delivery, expected",
    [
        (4, True, False, False, False),  # established subscription [MQTT-3.3.1-9]
        (4, True, True, False, False),  # 3.1.1 has no Retain As Published
        (4, True, False, True, True),  # sent because of a new subscription [MQTT-3.3.1-8]
        (3, True, True, False, False),
        (5, True, False, False, False),  # [MQTT-3.3.1-12]
        (5, True, True, False, True),  # [MQTT-3.3.1-13]
        (5, False, True, False, False),
        (5, False, False, True, True),  # retained messages on subscription carry RETAIN=1
        (5, True, False, True, True),
    ],
)
def test_retain_flag_rules(api, version, published_retain, retain_as_published, retained_delivery, expected):
    header, payload = api.encode_forward(
        _published(api, 1, retain=published_retain),
        version,
        granted_qos=1,
        packet_id=1,
        retain_as_published=retain_as_published,
        retained_delivery=retained_delivery,
    )
    assert _delivered(api, version, header, payload).retain is expected


def test_granted_qos_is_required_and_checked(api):
    incoming = _published(api, 1)
    with pytest.raises(TypeError):
        api.encode_forward(incoming, 5, packet_id=1)
    with pytest.raises(ValueError):
        api.encode_forward(incoming, 5, granted_qos=3, packet_id=1)
    with pytest.raises(ValueError):
        api.encode_forward(incoming, 5, granted_qos=-1)
    with pytest.raises(TypeError):
        api.encode_forward(incoming, 5, granted_qos="1", packet_id=1)


def test_an_invalid_published_qos_is_refused_as_encode_refuses_it(api):
    incoming = api.Publish(topic="t", payload=b"m", qos=3, packet_id=1)
    with pytest.raises(api.MalformedPacket):
        api.encode(incoming, 5)
    with pytest.raises(api.MalformedPacket):
        api.encode_forward(incoming, 5, granted_qos=2, packet_id=1)


# The README's forwarding example, run as written.


def _readme_block(containing):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    [block] = [block for block in blocks if containing in block]
    return block


class _Transport:
    def __init__(self):
        self.written = bytearray()

    def writelines(self, chunks):
        for chunk in chunks:
            self.written += chunk


class _Session:
    def __init__(self, version):
        self.version = version
        self.transport = _Transport()
        self._last_id = 0

    def next_packet_id(self):
        self._last_id += 1
        return self._last_id


class _Subscription:
    def __init__(self, granted_qos, retain_as_published=False, identifiers=()):
        self.granted_qos = granted_qos
        self.retain_as_published = retain_as_published
        self.identifiers = list(identifiers)


def test_the_readme_forwarding_example_as_written(api):
    code = _readme_block("encode_forward(")
    grants = [
        (4, _Subscription(0)),
        (4, _Subscription(1)),
        (4, _Subscription(2)),
        (5, _Subscription(0, identifiers=[7])),
        (5, _Subscription(1, retain_as_published=True)),
        (5, _Subscription(2, retain_as_published=False, identifiers=[8, 9])),
    ]
    subscribers = [(_Session(version), subscription) for version, subscription in grants]
    publisher = api.Decoder(5)
    for published_qos in (0, 1, 2):
        wire = api.encode(
            api.Publish(
                topic="plant/temp",
                payload=b"21.5",
                qos=published_qos,
                packet_id=40 + published_qos if published_qos else None,
                retain=True,
                content_type="text/plain",
            ),
            5,
        )
        for packet in publisher.feed(wire):
            exec(code, {"mqttfast": api, "packet": packet, "subscribers": subscribers})

    for session, subscription in subscribers:
        deliveries = api.Decoder(session.version).feed(bytes(session.transport.written))
        expected_qos = [min(published, subscription.granted_qos) for published in (0, 1, 2)]
        assert [d.qos for d in deliveries] == expected_qos
        # Packet ids only where the delivery needs one, numbered by the session without gaps.
        expected_ids = iter(range(1, 4))
        assert [d.packet_id for d in deliveries] == [next(expected_ids) if qos else None for qos in expected_qos]
        assert [d.retain for d in deliveries] == [session.version == 5 and subscription.retain_as_published] * 3
        assert all(bytes(d.payload) == b"21.5" and d.topic == "plant/temp" and not d.dup for d in deliveries)
        if session.version == 5:
            assert all(d.subscription_identifiers == subscription.identifiers for d in deliveries)
            assert all(d.content_type == "text/plain" for d in deliveries)


@pytest.mark.parametrize("version", [4, 5])
def test_subscription_identifiers_that_are_not_a_list_are_refused_at_every_level(api, version):
    # Below MQTT 5 they are not written, but both twins still read them as the copy of old did.
    with pytest.raises(TypeError):
        api.encode_forward(_incoming(api), version, granted_qos=1, packet_id=1, subscription_identifiers=5)
