"""A CONNECT refused after its level was read tells the server which CONNACK form to answer in.

A 3.1/3.1.1 client reads a two-byte CONNACK with a return code (0x01 for an
unsupported level, 0x02 for a rejected identifier), a 5.0 client a reason
code with properties [MQTT-3.1.4-2, MQTT-3.2.2-4, MQTT-3.2.2-5]. The error carries
the protocol name and level it read, without a bridge's 0x80 bit.
"""

import pytest

H = bytes.fromhex


@pytest.mark.parametrize(
    ("wire", "error", "name", "level"),
    [
        # level 6: unsupported, answered in the 5.0 form with 0x84
        ("10 0d 0004 4d515454 06 02 003c 0001 61", "UnsupportedProtocolVersion", "MQTT", 6),
        # level 3 with the 3.1.1 name: unsupported
        ("10 0d 0004 4d515454 03 02 003c 0001 61", "UnsupportedProtocolVersion", "MQTT", 3),
        # an unknown protocol name
        ("10 0d 0004 4d515459 04 02 003c 0001 61", "UnsupportedProtocolVersion", "MQTY", 4),
        # 3.1.1, empty client identifier without clean session: identifier rejected (0x02)
        ("10 0c 0004 4d515454 04 00 003c 0000", "ClientIdentifierNotValid", "MQTT", 4),
        # 3.1, client identifier of 24 bytes
        ("10 26 0006 4d5149736470 03 02 003c 0018" + "61" * 24, "ClientIdentifierNotValid", "MQIsdp", 3),
        # 5.0, reserved connect flag set
        ("10 0e 0004 4d515454 05 03 003c 00 0001 61", "MalformedPacket", "MQTT", 5),
        # 3.1.1, bytes left over after the last field
        ("10 0e 0004 4d515454 04 02 003c 0001 61 ff", "MalformedPacket", "MQTT", 4),
        # a bridge's level 0x84 with a bad will QoS: the level is read without the bridge bit
        ("10 0d 0004 4d515454 84 1e 003c 0001 61", "MalformedPacket", "MQTT", 4),
    ],
)
def test_a_refused_connect_carries_the_level_and_name_it_announced(api, wire, error, name, level):
    with pytest.raises(getattr(api, error)) as info:
        api.decode(H(wire))
    assert info.value.protocol_level == level
    assert info.value.protocol_name == name
    decoder = api.Decoder()
    with pytest.raises(getattr(api, error)) as info:
        decoder.feed(H(wire))
    assert (info.value.protocol_level, info.value.protocol_name) == (level, name)


def test_an_error_before_the_level_carries_none(api):
    with pytest.raises(api.MalformedPacket) as info:
        api.decode(H("10 03 0004 4d"))  # the protocol name runs past the packet
    assert info.value.protocol_level is None and info.value.protocol_name is None
    with pytest.raises(api.MalformedPacket) as info:
        api.decode(H("30 03 0005 74"), 4)  # not a CONNECT
    assert info.value.protocol_level is None
