"""Byte-exact vectors written by hand from the specifications, not produced by our encoder.

Each vector is decoded, compared with the packet it must mean, and encoded
back to the same bytes.
"""

import pytest


def H(text):
    """Bytes from a spaced hex string."""
    return bytes.fromhex(text.replace(" ", ""))


def _vectors(api):
    return [
        # 3.1.1 §3.1: CONNECT "MQTT" level 4, clean session, keep alive 60, client id "ab".
        (4, H("10 0e 0004 4d515454 04 02 003c 0002 6162"), api.Connect(protocol_version=4, client_id="ab", keep_alive=60)),
        # 3.1: protocol name "MQIsdp", level 3, flags: user name + password + will (QoS 1, retain) + clean.
        (
            3,
            H("10 20 0006 4d5149736470 03 ee 000a 0001 63 0003 772f74 0003 627965 0001 75 0002 7077"),
            api.Connect(
                protocol_version=3,
                client_id="c",
                keep_alive=10,
                username="u",
                password=b"pw",
                will=api.Will(topic="w/t", payload=b"bye", qos=1, retain=True),
            ),
        ),
        # 5.0 §3.1: CONNECT with Session Expiry Interval (0x11) 30 and Receive Maximum (0x21) 20, no clean start.
        (
            5,
            H("10 17 0004 4d515454 05 00 0000 08 11 0000001e 21 0014 0002 6964"),
            api.Connect(protocol_version=5, client_id="id", clean_start=False, session_expiry_interval=30, receive_maximum=20),
        ),
        # 5.0 CONNECT with a will carrying Will Delay Interval (0x18) 5; password without user name (allowed in 5.0).
        (
            5,
            H("10 1d 0004 4d515454 05 46 0000 00 0000 05 18 00000005 0001 74 0001 21 0002 7077"),
            api.Connect(protocol_version=5, client_id="", password=b"pw", will=api.Will(topic="t", payload=b"!", will_delay_interval=5)),
        ),
        # 3.1.1 CONNACK: session present, accepted.
        (4, H("20 02 01 00"), api.Connack(session_present=True)),
        # 3.1.1 CONNACK: return code 5, not authorized.
        (4, H("20 02 00 05"), api.Connack(reason_code=5)),
        # 5.0 CONNACK: success, Assigned Client Identifier (0x12) "x", Maximum QoS (0x24) 1.
        (5, H("20 09 00 00 06 12 0001 78 24 01"), api.Connack(maximum_qos=1, assigned_client_identifier="x")),
        # 3.1.1 PUBLISH QoS 0: topic "a/b", payload "hi".
        (4, H("30 07 0003 612f62 6869"), api.Publish(topic="a/b", payload=b"hi")),
        # 3.1.1 PUBLISH QoS 1, retain, DUP, packet id 10, empty payload.
        (4, H("3b 05 0001 61 000a"), api.Publish(topic="a", qos=1, retain=True, dup=True, packet_id=10)),
        # 5.0 PUBLISH QoS 2, packet id 1, two Subscription Identifiers (0x0B), empty topic with Topic Alias (0x23) 4.
        (
            5,
            H("34 0e 0000 0001 08 0b 01 0b 80 01 23 0004 7a"),
            api.Publish(topic="", payload=b"z", qos=2, packet_id=1, topic_alias=4, subscription_identifiers=[1, 128]),
        ),
        # 5.0 PUBLISH QoS 0 with Payload Format Indicator 1, Content Type "t", Correlation Data 0x00ff, user property (k, v).
        (
            5,
            H("30 18 0001 61 12 01 01 03 0001 74 09 0002 00ff 26 0001 6b 0001 76 7b7d"),
            api.Publish(
                topic="a",
                payload=b"{}",
                payload_format_indicator=1,
                content_type="t",
                correlation_data=b"\x00\xff",
                user_properties=[("k", "v")],
            ),
        ),
        # PUBACK, PUBREC, PUBCOMP: packet id only (3.1.1, and the 5.0 short form for Success).
        (4, H("40 02 1234"), api.Puback(packet_id=0x1234)),
        (5, H("40 02 1234"), api.Puback(packet_id=0x1234)),
        (5, H("50 02 0001"), api.Pubrec(packet_id=1)),
        (5, H("70 02 0001"), api.Pubcomp(packet_id=1)),
        # PUBREL carries flags 0010.
        (4, H("62 02 0007"), api.Pubrel(packet_id=7)),
        # 5.0 PUBACK with reason 0x10 (No matching subscribers) and no properties: remaining length 3.
        (5, H("40 03 0001 10"), api.Puback(packet_id=1, reason_code=0x10)),
        # 5.0 PUBREL with reason 0x92 and Reason String (0x1F) "gone".
        (5, H("62 0b 0002 92 07 1f 0004 676f6e65"), api.Pubrel(packet_id=2, reason_code=0x92, reason_string="gone")),
        # 3.1.1 SUBSCRIBE: packet id 1, "a/+" QoS 1, "#" QoS 2.
        (
            4,
            H("82 0c 0001 0003 612f2b 01 0001 23 02"),
            api.Subscribe(
                packet_id=1,
                subscriptions=[api.Subscription(topic_filter="a/+", qos=1), api.Subscription(topic_filter="#", qos=2)],
            ),
        ),
        # 5.0 SUBSCRIBE: Subscription Identifier 300, options No Local + Retain As Published + Retain Handling 2 + QoS 1.
        (
            5,
            H("82 0c 0002 03 0b ac02 0003 612f62 2d"),
            api.Subscribe(
                packet_id=2,
                subscription_identifier=300,
                subscriptions=[
                    api.Subscription(
                        topic_filter="a/b", qos=1, no_local=True, retain_as_published=True, retain_handling=2
                    )
                ],
            ),
        ),
        # 3.1.1 SUBACK with a failure code.
        (4, H("90 04 0001 01 80"), api.Suback(packet_id=1, reason_codes=[1, 0x80])),
        # 5.0 SUBACK with 0xA2 (wildcard subscriptions not supported).
        (5, H("90 05 0001 00 00 a2"), api.Suback(packet_id=1, reason_codes=[0, 0xA2])),
        # UNSUBSCRIBE / UNSUBACK.
        (4, H("a2 05 0003 0001 78"), api.Unsubscribe(packet_id=3, topic_filters=["x"])),
        (4, H("b0 02 0003"), api.Unsuback(packet_id=3)),
        (5, H("b0 05 0003 00 00 11"), api.Unsuback(packet_id=3, reason_codes=[0, 0x11])),
        # PINGREQ, PINGRESP.
        (4, H("c0 00"), api.Pingreq()),
        (5, H("d0 00"), api.Pingresp()),
        # DISCONNECT: 3.1.1 empty; 5.0 short form (normal); reason only; reason + Session Expiry Interval.
        (4, H("e0 00"), api.Disconnect()),
        (5, H("e0 00"), api.Disconnect()),
        (5, H("e0 01 04"), api.Disconnect(reason_code=4)),
        (5, H("e0 07 8e 05 11 00000000"), api.Disconnect(reason_code=0x8E, session_expiry_interval=0)),
        # AUTH: short form, and Continue authentication with method and data.
        (5, H("f0 00"), api.Auth()),
        (5, H("f0 0c 18 0a 15 0003 414243 16 0001 ff"), api.Auth(reason_code=0x18, authentication_method="ABC", authentication_data=b"\xff")),
    ]


def test_every_vector_decodes_and_encodes_byte_exactly(api):
    for version, wire, expected in _vectors(api):
        decode_version = None if type(expected) is api.Connect else version
        packet, nbytes = api.decode(wire, decode_version)
        assert nbytes == len(wire)
        assert packet == expected, wire.hex(" ")
        assert api.encode(expected, version) == wire, repr(expected)
        assert api.encoded_size(expected, version) == len(wire)


def test_the_vectors_cover_every_packet_type(api):
    types = {expected.packet_type for _, _, expected in _vectors(api)}
    assert types == set(api.PacketType)


@pytest.mark.parametrize(
    ("wire", "remaining"),
    [
        (bytes.fromhex("30 7f") + b"\x00\x01a" + bytes(124), 127),
        (bytes.fromhex("30 80 01") + b"\x00\x01a" + bytes(125), 128),
        (bytes.fromhex("30 80 80 01") + b"\x00\x01a" + bytes(16_381), 16_384),
    ],
)
def test_remaining_length_uses_the_minimal_varint(api, wire, remaining):
    packet, nbytes = api.decode(wire, 4)
    assert nbytes == len(wire)
    assert len(packet.payload) == remaining - 3
    assert api.encode(packet, 4) == wire


def test_a_leading_bom_is_kept_not_stripped(api):
    # [MQTT-1.5.4-3]: U+FEFF at the start of a string is a character, not a byte-order mark to skip.
    wire = bytes.fromhex("30 06 0004 efbbbf61")
    packet, _ = api.decode(wire, 4)
    assert packet.topic == "\ufeffa"
    assert api.encode(packet, 4) == wire


def test_properties_decode_in_any_order_and_keep_it(api):
    # The specification fixes no property order. New packets are written in identifier
    # order; a decoded packet keeps its peer's order, so forwarding changes no byte.
    wire = H("20 09 00 00 06 24 01 12 0001 78")
    packet, _ = api.decode(wire, 5)
    assert packet == api.Connack(maximum_qos=1, assigned_client_identifier="x")
    assert api.encode(packet, 5) == wire
    assert api.encode(api.Connack(maximum_qos=1, assigned_client_identifier="x"), 5) == H("20 09 00 00 06 12 0001 78 24 01")


def test_a_changed_packet_keeps_the_peer_order_for_what_remains(api):
    # User property, Content Type, User property, Message Expiry Interval: not identifier order.
    wire = H("30 1c 0001 74 17 26 0001 61 0001 62 03 0001 63 26 0001 64 0001 65 02 00000005 7a")
    packet, _ = api.decode(wire, 5)
    assert api.encode(packet, 5) == wire
    packet.content_type = None
    packet.topic_alias = 9
    assert api.encode(packet, 5) == H("30 1b 0001 74 16 26 0001 61 0001 62 26 0001 64 0001 65 02 00000005 23 0009 7a")
