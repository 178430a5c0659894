"""What real peers send that the letter of the spec does not allow, and a reader must still take.

- mosquitto bridges connect with protocol level 0x83 or 0x84: the 0x80 bit
  marks a bridge ("try_private", on by default in mosquitto's bridge
  configuration); brokers read the level without it.
- A 3.1.1-only broker answers a 5.0 CONNECT with its own CONNACK form,
  ``20 02 00 01`` (unacceptable protocol version), which has no property
  length; a 5.0 client must read it to fall back to 3.1.1, as libmosquitto
  and mqtt-packet do. Every other short or malformed CONNACK stays an error.
"""

import pytest

H = bytes.fromhex

# mosquitto 2.0 bridge, try_private on: "MQTT", level 0x84, clean session, keep alive 60, client id "br".
BRIDGE_3_1_1 = H("10 0e 0004 4d515454 84 02 003c 0002 6272")
# The same bridge at 3.1: "MQIsdp", level 0x83.
BRIDGE_3_1 = H("10 10 0006 4d5149736470 83 02 003c 0002 6272")


@pytest.mark.parametrize(("wire", "level"), [(BRIDGE_3_1_1, 4), (BRIDGE_3_1, 3)])
def test_a_bridge_connect_decodes_with_its_flag_and_reencodes_byte_exactly(api, wire, level):
    packet, nbytes = api.decode(wire)
    assert nbytes == len(wire)
    assert packet.protocol_version == level
    assert packet.bridge is True
    assert packet.client_id == "br" and packet.keep_alive == 60
    assert api.encode(packet) == wire


def test_an_ordinary_connect_is_not_a_bridge(api):
    packet, _ = api.decode(H("10 0e 0004 4d515454 04 02 003c 0002 6272"))
    assert packet.bridge is False
    assert api.encode(api.Connect(client_id="br", keep_alive=60, bridge=True), 4) == BRIDGE_3_1_1


def test_a_decoder_learns_the_level_of_a_bridge_without_its_flag(api):
    decoder = api.Decoder()
    packets = decoder.feed(BRIDGE_3_1_1 + H("30 05 0001 74 6869"))
    assert decoder.version == 4
    assert packets[1].topic == "t" and bytes(packets[1].payload) == b"hi"


def test_a_bridge_bit_on_an_unknown_level_is_still_refused(api):
    with pytest.raises(api.UnsupportedProtocolVersion) as info:
        api.decode(H("10 0e 0004 4d515454 86 02 003c 0002 6272"))
    assert info.value.protocol_level == 6


def test_a_3_1_1_refusal_reads_as_unsupported_version_at_level_5(api):
    packet, nbytes = api.decode(H("20 02 00 01"), 5)
    assert nbytes == 4
    assert type(packet) is api.Connack
    assert packet.reason_code == api.ReasonCode.UNSUPPORTED_PROTOCOL_VERSION
    assert packet.session_present is False
    # At 3.1.1 the same bytes keep their own meaning.
    assert api.decode(H("20 02 00 01"), 4)[0].reason_code == 1
    decoder = api.Decoder(5)
    assert decoder.feed(H("20 02 00 01"))[0].reason_code == 0x84


@pytest.mark.parametrize(
    "wire",
    [
        "20 02 00 00",  # "accepted" without properties is no 3.1.1 refusal: still malformed at 5.0
        "20 02 00 02",  # another 3.1.1 return code
        "20 02 01 01",  # session present with a refusal
        "20 03 00 01 00",  # 5.0 form: 0x01 is no CONNACK reason code
        "20 01 00",  # too short in any form
    ],
)
def test_every_other_short_or_odd_connack_stays_an_error_at_level_5(api, wire):
    with pytest.raises(api.MQTTError):
        api.decode(H(wire), 5)
