"""Round trips: every valid packet of every type and version encodes, decodes back equal, and re-encodes identically."""

import mmap
from array import array

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .helpers.strategies import packets

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("version", [3, 4, 5])
def test_every_packet_round_trips(api, version):
    @SETTINGS
    @given(packets(api, version))
    def check(packet):
        wire = api.encode(packet, version)
        assert api.encoded_size(packet, version) == len(wire)
        decoded, nbytes = api.decode(wire, None if type(packet) is api.Connect else version)
        assert nbytes == len(wire)
        assert decoded == packet
        assert api.encode(decoded, version) == wire
        copied, _ = api.decode(wire, version, copy=True)
        assert copied == packet
        # A writable input takes the eager paths of the compiled twin.
        from_bytearray, _ = api.decode(bytearray(wire), None if type(packet) is api.Connect else version)
        assert from_bytearray == packet
        assert api.encode(from_bytearray, version) == wire

    check()


@pytest.mark.parametrize("version", [3, 4, 5])
def test_encode_into_writes_the_same_bytes(api, version):
    @SETTINGS
    @given(packets(api, version), st.integers(0, 7))
    def check(packet, offset):
        wire = api.encode(packet, version)
        buffer = bytearray(b"\xee" * (offset + len(wire) + 3))
        assert api.encode_into(packet, buffer, offset, version) == len(wire)
        assert buffer[offset : offset + len(wire)] == wire
        assert buffer[:offset] == b"\xee" * offset
        assert buffer[offset + len(wire) :] == b"\xee\xee\xee"

    check()


def test_decode_reads_only_the_first_packet(api):
    first = api.encode(api.Publish(topic="a", payload=b"1"), 4)
    second = api.encode(api.Pingreq(), 4)
    packet, nbytes = api.decode(first + second, 4)
    assert nbytes == len(first)
    assert packet.payload == b"1"


def test_decode_from_every_kind_of_buffer(api, tmp_path):
    packet = api.Publish(topic="t/x", payload=b"payload!", qos=1, packet_id=3)
    wire = api.encode(packet, 5)
    path = tmp_path / "wire"
    path.write_bytes(wire)
    with open(path, "r+b") as file, mmap.mmap(file.fileno(), 0) as mapped:
        buffers = [wire, bytearray(wire), memoryview(wire), array("B", wire), mapped]
        for buffer in buffers:
            decoded, nbytes = api.decode(buffer, 5)
            assert (decoded, nbytes) == (packet, len(wire))
            del decoded
    # A multi-byte format is read as its raw bytes.
    padded = wire + bytes(-len(wire) % 4)
    assert api.decode(memoryview(padded).cast("I"), 5)[0] == packet


def test_payload_is_a_zero_copy_view_unless_copy_is_asked(api):
    wire = bytearray(api.encode(api.Publish(topic="t", payload=b"abcdef"), 4))
    packet, _ = api.decode(wire, 4)
    assert isinstance(packet.payload, memoryview)
    assert packet.payload.obj is wire or packet.payload.obj is memoryview(wire).obj
    wire[-1] = ord("Z")  # the view shares the caller's memory
    assert bytes(packet.payload) == b"abcdeZ"
    packet.payload.release()
    copied, _ = api.decode(wire, 4, copy=True)
    assert type(copied.payload) is bytes
    wire[-1] = ord("f")
    assert copied.payload == b"abcdeZ"


def test_binary_fields_are_views_of_the_input(api):
    connect = api.Connect(client_id="c", password=b"secret", will=api.Will(topic="w", payload=b"gone"))
    wire = api.encode(connect, 5)
    decoded, _ = api.decode(wire)
    for value in (decoded.password, decoded.will.payload):
        assert isinstance(value, memoryview)
    copied, _ = api.decode(wire, copy=True)
    assert type(copied.password) is bytes and type(copied.will.payload) is bytes


def test_payload_accepts_any_buffer(api):
    expected = api.encode(api.Publish(topic="t", payload=b"\x01\x02\x03\x04"), 4)
    for payload in (bytearray(b"\x01\x02\x03\x04"), memoryview(b"\x01\x02\x03\x04"), array("B", [1, 2, 3, 4])):
        assert api.encode(api.Publish(topic="t", payload=payload), 4) == expected


def test_mqtt5_only_fields_are_left_out_under_3x(api):
    publish = api.Publish(topic="t", payload=b"x", content_type="c", user_properties=[("a", "b")])
    assert api.encode(publish, 4) == bytes.fromhex("30 04 0001 74 78")
    assert api.encode(api.Puback(packet_id=1, reason_code=0x10), 4) == bytes.fromhex("40 02 0001")
    assert api.encode(api.Disconnect(reason_code=4), 4) == bytes.fromhex("e0 00")
    assert api.encode(api.Unsuback(packet_id=1, reason_codes=[0]), 4) == bytes.fromhex("b0 02 0001")


def test_the_version_is_inferred_only_where_it_cannot_be_wrong(api):
    # A CONNECT with a level of its own, and packets whose bytes are the same at every level (or AUTH: 5 only).
    assert api.encode(api.Connect(protocol_version=4, client_id="a"))[8] == 4
    assert api.encode(api.Pingreq()) == bytes.fromhex("c0 00")
    assert api.encode(api.Pingresp()) == bytes.fromhex("d0 00")
    assert api.encode(api.Auth()) == bytes.fromhex("f0 00")
    # Everything else differs between 3.1.1 and 5.0: guessing would write what a peer misreads.
    for packet in (
        api.Publish(topic="t"),
        api.Puback(packet_id=1),
        api.Subscribe(packet_id=1, subscriptions=[api.Subscription(topic_filter="t")]),
        api.Disconnect(),
        api.Connack(),
        api.Connect(client_id="a"),
    ):
        with pytest.raises(TypeError, match="needs version="):
            api.encode(packet)
        with pytest.raises(TypeError, match="needs version="):
            api.encoded_size(packet)
        with pytest.raises(TypeError, match="needs version="):
            api.encode_into(packet, bytearray(64))
    with pytest.raises(TypeError, match="needs version="):
        api.encode_forward(api.Publish(topic="t", payload=b"x"), granted_qos=0)


def test_a_connect_without_a_level_takes_the_encoders(api):
    connect = api.Connect(client_id="a")
    assert connect.protocol_version is None
    for level in (3, 4, 5):
        wire = api.encode(connect, level)
        assert wire[8 if level > 3 else 10] == level
        decoded, _ = api.decode(wire)
        assert decoded.protocol_version == level
    # A level on the packet and another in the call is a real conflict; the same one twice is not.
    assert api.encode(api.Connect(protocol_version=4, client_id="a"), 4)[8] == 4
    with pytest.raises(ValueError, match="protocol_version is 5"):
        api.encode(api.Connect(protocol_version=5, client_id="a"), 4)
    # The client-identifier rules are those of the level written, not of the packet's default.
    with pytest.raises(api.ClientIdentifierNotValid):
        api.encode(api.Connect(client_id="", clean_start=False), 4)
    assert api.encode(api.Connect(client_id="", clean_start=False), 5)


def test_publish_with_a_property_block_beyond_the_compiled_scratch_buffer(api):
    # The compiled twin writes blocks up to 256 bytes on the stack in one pass and
    # measures larger ones first; both must give the reference twin's bytes.
    import mqttfast.fallback as reference

    fields = dict(
        topic="a/b",
        payload=b"x" * 10,
        qos=1,
        packet_id=7,
        content_type="c" * 300,
        response_topic="r/" * 40,
        correlation_data=b"\x00" * 100,
        message_expiry_interval=2**32 - 1,
        user_properties=[("k" * 50, "v" * 50)] * 3,
    )
    wire = api.encode(api.Publish(**fields), 5)
    assert wire == reference.encode(reference.Publish(**fields), 5)
    assert api.encoded_size(api.Publish(**fields), 5) == len(wire)
    decoded, _ = api.decode(wire, 5)
    assert decoded == api.Publish(**fields)
    assert api.encode(decoded, 5) == wire


@pytest.mark.parametrize("value", [0, 1, 2**15, 2**30 - 1, 2**30, 2**31, 2**32 - 1])
def test_integer_fields_across_the_internal_digit_boundaries(api, value):
    # Small ints are read in place by the compiled twin; larger ones take the general path.
    wire = api.encode(api.Publish(topic="t", payload=b"", message_expiry_interval=value), 5)
    assert wire[-4:] == value.to_bytes(4, "big")
    assert api.decode(wire, 5)[0].message_expiry_interval == value


@pytest.mark.parametrize("value", [-1, -(2**30), 2**32, 2**64])
def test_integer_fields_out_of_range_are_refused(api, value):
    with pytest.raises(api.MalformedPacket, match=f"message_expiry_interval {value} out of range"):
        api.encode(api.Publish(topic="t", payload=b"", message_expiry_interval=value), 5)


def test_bool_fields_count_as_their_int(api):
    as_bool = api.encode(api.Publish(topic="t", payload=b"", payload_format_indicator=True), 5)
    assert as_bool == api.encode(api.Publish(topic="t", payload=b"", payload_format_indicator=1), 5)
