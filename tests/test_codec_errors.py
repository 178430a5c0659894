"""Every rule of the checklist, broken once: the decoder raises the right MQTTError subclass.

Both twins must raise the same class (the fixture runs each case twice) and
the encoder must refuse to write the same violation.
"""

import pytest


def H(text):
    return bytes.fromhex(text.replace(" ", ""))


# (version, wire, exception name, words the message must contain)
MALFORMED_INPUTS = [
    # fixed header
    (4, "00 00", "MalformedPacket", "reserved packet type"),
    (4, "11 00", "MalformedPacket", "flags"),
    (4, "60 02 0001", "MalformedPacket", "flags"),  # PUBREL must carry 0010
    (4, "80 05 0001 0001 61", "MalformedPacket", "flags"),  # SUBSCRIBE must carry 0010
    (4, "a0 05 0001 0001 61", "MalformedPacket", "flags"),  # UNSUBSCRIBE must carry 0010
    (4, "c1 00", "MalformedPacket", "flags"),
    (4, "30 ff ff ff ff 01", "MalformedPacket", "longer than 4 bytes"),
    (4, "36 05 0001 61 0001", "MalformedPacket", "QoS is 3"),  # [MQTT-3.3.1-4]
    (4, "38 03 0001 61", "MalformedPacket", "DUP"),  # [MQTT-3.3.1-2]
    (4, "f0 00", "MalformedPacket", "AUTH"),  # AUTH before MQTT 5
    # field boundaries
    (4, "30 01 00", "MalformedPacket", "runs past"),
    (4, "30 03 0005 61", "MalformedPacket", "runs past"),
    (4, "40 01 00", "MalformedPacket", "runs past"),
    (4, "40 03 0001 00", "MalformedPacket", "left over"),
    (4, "c0 01 00", "MalformedPacket", "left over"),
    (4, "e0 01 00", "MalformedPacket", "left over"),
    (5, "40 04 0001 00 05", "MalformedPacket", "property length runs past"),
    # strings (MQTT 5.0 §1.5.4)
    (4, "30 05 0003 61ff62", "MalformedPacket", "UTF-8"),
    (4, "30 05 0003 eda080", "MalformedPacket", "UTF-8"),  # encoded surrogate U+D800 [MQTT-1.5.4-1]
    (4, "30 05 0003 610062", "MalformedPacket", "U+0000"),  # [MQTT-1.5.4-2]
    (4, "30 04 0002 c0af", "MalformedPacket", "UTF-8"),  # overlong encoding of '/'
    # packet identifiers [MQTT-2.2.1-3]
    (4, "32 05 0001 61 0000", "ProtocolError", "packet identifier"),
    (4, "40 02 0000", "ProtocolError", "packet identifier"),
    (4, "82 06 0000 0001 61 00", "ProtocolError", "packet identifier"),
    # topic names
    (4, "30 05 0003 612f2b", "InvalidTopicName", "wildcard"),
    (4, "30 03 0001 23", "InvalidTopicName", "wildcard"),
    (4, "30 02 0000", "InvalidTopicName", "empty"),
    (5, "30 03 0000 00", "ProtocolError", "topic alias"),  # 5.0: empty topic needs an alias
    # CONNECT
    (None, "10 0c 0004 4d515454 06 02 003c 0000", "UnsupportedProtocolVersion", "level 6"),
    (None, "10 0c 0004 4d515454 03 02 003c 0000", "UnsupportedProtocolVersion", "MQTT"),
    (None, "10 0c 0004 4d515458 04 02 003c 0000", "UnsupportedProtocolVersion", "MQTX"),
    (None, "10 0d 0004 4d515454 04 03 003c 0001 61", "MalformedPacket", "reserved connect flag"),  # [MQTT-3.1.2-3]
    (None, "10 0d 0004 4d515454 04 1a 003c 0001 61", "MalformedPacket", "QoS is 3"),  # will QoS 3
    (None, "10 0d 0004 4d515454 04 0a 003c 0001 61", "MalformedPacket", "without a will"),
    (None, "10 0d 0004 4d515454 04 22 003c 0001 61", "MalformedPacket", "without a will"),
    (None, "10 0f 0004 4d515454 04 42 003c 0001 61 0000", "ProtocolError", "password"),  # [MQTT-3.1.2-22]
    (None, "10 0c 0004 4d515454 04 00 003c 0000", "ClientIdentifierNotValid", "clean session"),
    (None, "10 0e 0006 4d5149736470 03 02 003c 0000", "ClientIdentifierNotValid", "1 to 23"),
    (None, "10 26 0006 4d5149736470 03 02 003c 0018" + "61" * 24, "ClientIdentifierNotValid", "1 to 23"),
    (None, "10 0c 0004 4d515454 04 02 003c 0001", "MalformedPacket", "runs past"),
    (None, "10 12 0004 4d515454 04 06 003c 0001 61 0003 612f23 0000", "InvalidTopicName", "will topic"),
    (None, "10 10 0004 4d515454 04 06 003c 0001 61 0000 0000", "InvalidTopicName", "will topic"),
    (None, "10 0e 0004 4d515454 05 02 003c 00 0000 ff", "MalformedPacket", "left over"),
    # CONNACK
    (4, "20 02 02 00", "MalformedPacket", "reserved acknowledge flags"),
    (4, "20 02 00 06", "ProtocolError", "return code"),
    (4, "20 02 01 05", "ProtocolError", "session present"),
    (5, "20 03 00 01 00", "ProtocolError", "reason code 0x01"),
    # MQTT 5 properties (5.0 §2.2.2.2)
    (5, "30 06 0001 61 02 7f 00", "MalformedPacket", "unknown property"),
    # Found by the sanitizer run: a two-byte identifier misled the compiled walkers of a validated block.
    (5, "30 0c 0001 61 08 02 00000005 81 00 01", "MalformedPacket", "longer than one byte"),
    (5, "30 0a 0001 61 06 a6 00 0000 0000", "MalformedPacket", "longer than one byte"),
    (5, "30 09 0001 61 05 11 00000001", "ProtocolError", "not allowed in PUBLISH"),
    (5, "30 08 0001 61 04 01 01 01 01", "ProtocolError", "twice"),
    (5, "30 06 0001 61 02 01 02", "ProtocolError", "0 or 1"),
    (5, "30 07 0001 61 03 23 0000", "TopicAliasInvalid", "topic_alias must not be 0"),
    (5, "30 06 0001 61 02 0b 00", "ProtocolError", "subscription_identifier must not be 0"),
    (5, "30 0a 0001 61 06 08 0003 612f2b", "InvalidTopicName", "response_topic"),
    (5, "30 07 0001 61 03 03 0005", "MalformedPacket", "runs past"),
    (5, "30 08 0001 61 04 26 0001 61", "MalformedPacket", "runs past"),
    (5, "30 09 0001 61 05 0b ff ff ff ff", "MalformedPacket", "longer than 4 bytes"),
    (None, "10 10 0004 4d515454 05 02 003c 03 21 0000 0000", "ProtocolError", "receive_maximum must not be 0"),
    (None, "10 12 0004 4d515454 05 02 003c 05 27 00000000 0000", "ProtocolError", "maximum_packet_size"),
    (None, "10 0f 0004 4d515454 05 02 003c 02 24 01 0000", "ProtocolError", "not allowed in CONNECT"),
    # will properties are checked against the Will allow-list
    (None, "10 15 0004 4d515454 05 06 003c 00 0001 61 02 23 0001 0001 74 0000", "ProtocolError", "not allowed in Will"),
    # acknowledgements' reason codes (5.0 §3.4.2.1 ...)
    (5, "40 03 0001 92", "ProtocolError", "reason code 0x92"),
    (5, "62 03 0001 10", "ProtocolError", "reason code 0x10"),
    (5, "e0 01 ff", "ProtocolError", "reason code 0xFF"),
    (5, "f0 01 01", "ProtocolError", "reason code 0x01"),
    # SUBSCRIBE (5.0 §3.8.3)
    (4, "82 02 0001", "ProtocolError", "without a topic filter"),  # [MQTT-3.8.3-3]
    (5, "82 03 0001 00", "ProtocolError", "without a topic filter"),
    (4, "82 06 0001 0001 61 03", "MalformedPacket", "QoS is 3"),
    (4, "82 06 0001 0001 61 04", "MalformedPacket", "reserved"),  # 3.x: bits 2-7 reserved
    (5, "82 07 0001 00 0001 61 30", "ProtocolError", "retain handling"),  # 5.0 §3.8.3.1
    (5, "82 07 0001 00 0001 61 40", "MalformedPacket", "reserved"),  # [MQTT-3.8.3-5]
    (5, "82 10 0001 00 000a 2473686172652f672f61 04", "ProtocolError", "No Local"),  # [MQTT-3.8.3-4]
    (4, "82 07 0001 0002 612b 00", "InvalidTopicFilter", ""),
    (4, "82 06 0001 0005 6162 63", "MalformedPacket", "runs past"),
    (5, "82 08 0001 02 0b 00 0001 61 00", "ProtocolError", "subscription_identifier must not be 0"),
    # A SUBSCRIBE breaking two rules: the earlier field's error is raised, whether the
    # filters are validated one by one or all together. "a+" is read before the second
    # filter's options run past the end or say QoS 3; its own options come after it.
    (4, "82 0a 0001 0002 612b 00 0001 62", "InvalidTopicFilter", "'a+'"),
    (4, "82 0b 0001 0002 612b 00 0001 62 03", "InvalidTopicFilter", "'a+'"),
    (5, "82 0c 0001 00 0002 612b 00 0001 62 40", "InvalidTopicFilter", "'a+'"),
    (5, "82 07 0001 00 0002 612b 03", "InvalidTopicFilter", "'a+'"),
    (5, "82 0e 0001 00 0008 2473686172652f2f 04", "InvalidTopicFilter", "empty share name"),
    # After a valid first filter: the second one's string, then its options.
    (4, "82 0b 0001 0001 61 00 0002 6200 00", "MalformedPacket", "U+0000"),
    (4, "82 0b 0001 0001 61 03 0002 622b 00", "MalformedPacket", "QoS is 3"),
    (5, "82 14 0001 00 0001 61 00 000a 2473686172652f672f61 04", "ProtocolError", "No Local"),
    # SUBACK
    (4, "90 02 0001", "ProtocolError", "without a reason code"),
    (4, "90 03 0001 03", "ProtocolError", "0x03"),
    (3, "90 03 0001 80", "ProtocolError", "0x80"),  # 3.1 has no failure code
    (5, "90 04 0001 00 03", "ProtocolError", "0x03"),
    # UNSUBSCRIBE / UNSUBACK
    (4, "a2 02 0001", "ProtocolError", "without a topic filter"),  # [MQTT-3.10.3-2]
    (4, "a2 05 0001 0003 23", "MalformedPacket", "runs past"),
    (4, "a2 06 0001 0002 2361", "InvalidTopicFilter", ""),
    (5, "b0 03 0001 00", "ProtocolError", "without a reason code"),
    (5, "b0 04 0001 00 01", "ProtocolError", "0x01"),
    (4, "b0 03 0001 00", "MalformedPacket", "left over"),
]


@pytest.mark.parametrize(("version", "wire", "error", "words"), MALFORMED_INPUTS)
def test_malformed_input_raises_the_right_error(api, version, wire, error, words):
    with pytest.raises(getattr(api, error)) as info:
        api.decode(H(wire), version)
    assert type(info.value) is getattr(api, error)
    assert words in str(info.value)
    assert info.value.reason_code == getattr(api, error).reason_code
    assert isinstance(info.value, api.MQTTError)


def test_reason_codes_of_the_hierarchy(api):
    assert api.MQTTError.reason_code == 0x80
    assert api.MalformedPacket.reason_code == 0x81
    assert api.Incomplete.reason_code == 0x81
    assert api.ProtocolError.reason_code == 0x82
    assert api.UnsupportedProtocolVersion.reason_code == 0x84
    assert api.ClientIdentifierNotValid.reason_code == 0x85
    assert api.InvalidTopicFilter.reason_code == 0x8F
    assert api.InvalidTopicName.reason_code == 0x90
    assert api.PacketTooLarge.reason_code == 0x95
    assert issubclass(api.UnsupportedProtocolVersion, api.ProtocolError)


def test_errors_carry_the_offset(api):
    with pytest.raises(api.ProtocolError) as info:
        api.decode(H("32 05 0001 61 0000"), 4)
    assert info.value.offset == 5
    assert "(at byte 5)" in str(info.value)


@pytest.mark.parametrize("cut", range(1, 19))
def test_every_truncation_is_incomplete(api, cut):
    wire = api.encode(api.Publish(topic="a/b", payload=b"0123456789", qos=1, packet_id=9), 4)
    assert len(wire) == 19
    with pytest.raises(api.Incomplete) as info:
        api.decode(wire[:cut], 4)
    if cut >= 2:
        assert info.value.needed == len(wire)


def test_empty_input_is_incomplete(api):
    with pytest.raises(api.Incomplete):
        api.decode(b"", 4)


def test_only_connect_may_be_decoded_without_a_version(api):
    with pytest.raises(api.ProtocolError, match="CONNECT"):
        api.decode(H("c0 00"), None)


def test_packet_too_large_is_detected_from_the_header_alone(api):
    # A header announcing 268,435,455 bytes, with nothing behind it.
    header = H("30 ff ff ff 7f")
    with pytest.raises(api.PacketTooLarge):
        api.decode(header, 4)
    with pytest.raises(api.PacketTooLarge):
        api.decode(H("30 0a") + bytes(10), 4, max_packet_size=11)
    assert api.decode(H("30 0a 0001 61") + bytes(7), 4, max_packet_size=12)[1] == 12


def test_bad_version_argument_is_a_value_error(api):
    with pytest.raises(ValueError):
        api.decode(H("c0 00"), 6)
    with pytest.raises(ValueError):
        api.encode(api.Pingreq(), 2)


def test_non_buffer_input_is_a_type_error(api):
    with pytest.raises(TypeError):
        api.decode("c0 00", 4)


# The encoder refuses what the decoder refuses, with the same class.
def _invalid_packets(api):
    return [
        (api.Publish(topic="a/+"), 4, "InvalidTopicName"),
        (api.Publish(topic=""), 4, "InvalidTopicName"),
        (api.Publish(topic=""), 5, "ProtocolError"),
        (api.Publish(topic="a", qos=3, packet_id=1), 4, "MalformedPacket"),
        (api.Publish(topic="a", dup=True), 4, "MalformedPacket"),
        (api.Publish(topic="a", qos=1), 4, "ProtocolError"),
        (api.Publish(topic="a", qos=1, packet_id=0), 4, "ProtocolError"),
        (api.Publish(topic="a", packet_id=3), 4, "ProtocolError"),
        (api.Publish(topic="a", qos=1, packet_id=70000), 4, "MalformedPacket"),
        (api.Publish(topic="a\x00"), 4, "MalformedPacket"),
        (api.Publish(topic="a\ud800"), 4, "MalformedPacket"),
        (api.Publish(topic="a" * 65536), 4, "MalformedPacket"),
        (api.Publish(topic="a", topic_alias=0), 5, "TopicAliasInvalid"),
        (api.Publish(topic="a", topic_alias=65536), 5, "MalformedPacket"),
        (api.Publish(topic="a", payload_format_indicator=2), 5, "ProtocolError"),
        (api.Publish(topic="a", message_expiry_interval=-1), 5, "MalformedPacket"),
        (api.Publish(topic="a", message_expiry_interval=2**32), 5, "MalformedPacket"),
        (api.Publish(topic="a", subscription_identifiers=[0]), 5, "ProtocolError"),
        (api.Publish(topic="a", subscription_identifiers=[268_435_456]), 5, "MalformedPacket"),
        (api.Publish(topic="a", response_topic="r/#"), 5, "InvalidTopicName"),
        (api.Publish(topic="a", correlation_data=bytes(65536)), 5, "MalformedPacket"),
        (api.Puback(packet_id=0), 4, "ProtocolError"),
        (api.Puback(packet_id=1, reason_code=0x92), 5, "ProtocolError"),
        (api.Connack(reason_code=6), 4, "ProtocolError"),
        (api.Connack(reason_code=1), 5, "ProtocolError"),
        (api.Connack(session_present=True, reason_code=5), 4, "ProtocolError"),
        (api.Connect(protocol_version=4, client_id="", clean_start=False), None, "ClientIdentifierNotValid"),
        (api.Connect(protocol_version=3, client_id="x" * 24), None, "ClientIdentifierNotValid"),
        (api.Connect(protocol_version=4, client_id="a", password=b"p"), None, "ProtocolError"),
        (api.Connect(protocol_version=6, client_id="a"), None, "UnsupportedProtocolVersion"),
        (api.Connect(client_id="a", will=api.Will(topic="t", qos=3)), 5, "MalformedPacket"),
        (api.Connect(client_id="a", will=api.Will(topic="t/#")), 5, "InvalidTopicName"),
        (api.Connect(client_id="a", will=api.Will(topic="")), 5, "InvalidTopicName"),
        (api.Connect(client_id="a", receive_maximum=0), 5, "ProtocolError"),
        (api.Connect(client_id="a", keep_alive=65536), 5, "MalformedPacket"),
        (api.Subscribe(packet_id=1), 4, "ProtocolError"),
        (api.Subscribe(packet_id=1, subscriptions=[api.Subscription(topic_filter="a#")]), 4, "InvalidTopicFilter"),
        (api.Subscribe(packet_id=1, subscriptions=[api.Subscription(topic_filter="a", qos=3)]), 4, "MalformedPacket"),
        (
            api.Subscribe(packet_id=1, subscriptions=[api.Subscription(topic_filter="a", retain_handling=3)]),
            5,
            "ProtocolError",
        ),
        (
            api.Subscribe(packet_id=1, subscriptions=[api.Subscription(topic_filter="$share/g/a", no_local=True)]),
            5,
            "ProtocolError",
        ),
        (api.Suback(packet_id=1), 4, "ProtocolError"),
        (api.Suback(packet_id=1, reason_codes=[0x80]), 3, "ProtocolError"),
        (api.Unsubscribe(packet_id=1), 4, "ProtocolError"),
        (api.Unsubscribe(packet_id=1, topic_filters=["+a"]), 4, "InvalidTopicFilter"),
        (api.Unsuback(packet_id=1), 5, "ProtocolError"),
        (api.Disconnect(reason_code=0x01), 5, "ProtocolError"),
        (api.Auth(), 4, "MalformedPacket"),
        (api.Auth(reason_code=0x04), 5, "ProtocolError"),
    ]


def test_the_encoder_refuses_what_the_decoder_refuses(api):
    for packet, version, error in _invalid_packets(api):
        with pytest.raises(getattr(api, error)) as info:
            api.encode(packet, version)
        assert type(info.value) is getattr(api, error), (packet, version, info.value)
        with pytest.raises(getattr(api, error)):
            api.encoded_size(packet, version)


def test_wrong_python_types_are_type_errors(api):
    for packet in (
        api.Publish(topic=b"a"),
        api.Publish(topic="a", payload="text"),
        api.Publish(topic="a", qos="1"),
        api.Publish(topic="a", user_properties=[("k",)]),
        api.Connect(client_id=None),
        api.Connect(client_id="a", will="t"),
        api.Subscribe(packet_id=1, subscriptions=["a"]),
    ):
        with pytest.raises(TypeError):
            api.encode(packet, 5)
    with pytest.raises(TypeError):
        api.encode(object())


def test_connect_version_must_agree(api):
    with pytest.raises(ValueError):
        api.encode(api.Connect(protocol_version=4, client_id="a"), 5)


def test_encode_into_refuses_a_small_or_read_only_buffer(api):
    packet = api.Publish(topic="a", payload=b"xyz")
    buffer = bytearray(5)
    with pytest.raises(ValueError):
        api.encode_into(packet, buffer, version=5)
    assert buffer == bytearray(5)
    with pytest.raises(ValueError):
        api.encode_into(packet, bytearray(8), offset=1, version=5)
    with pytest.raises(TypeError):
        api.encode_into(packet, bytes(16), version=5)


def test_the_encoder_raises_the_first_error_of_a_subscribe(api):
    S = api.Subscription
    for subscriptions, version, error, words in [
        ([S(topic_filter="a+"), S(topic_filter="b", qos=3)], 4, "InvalidTopicFilter", "'a+'"),
        ([S(topic_filter="a+"), S(topic_filter=None)], 4, "InvalidTopicFilter", "'a+'"),
        ([S(topic_filter="a+"), "b"], 5, "InvalidTopicFilter", "'a+'"),
        ([S(topic_filter="a+", qos=3)], 4, "InvalidTopicFilter", "'a+'"),
        ([S(topic_filter="$share//a", no_local=True)], 5, "InvalidTopicFilter", "empty share name"),
        ([S(topic_filter="a", qos=3), S(topic_filter="b+")], 4, "MalformedPacket", "QoS is 3"),
        ([S(topic_filter="a"), S(topic_filter="b\x00"), S(topic_filter="c+")], 4, "MalformedPacket", "U+0000"),
        ([S(topic_filter="a", retain_handling=3), S(topic_filter="#/")], 5, "ProtocolError", "retain handling"),
    ]:
        packet = api.Subscribe(packet_id=1, subscriptions=subscriptions)
        with pytest.raises(getattr(api, error)) as info:
            api.encode(packet, version)
        assert type(info.value) is getattr(api, error), (subscriptions, info.value)
        assert words in str(info.value), (subscriptions, info.value)
