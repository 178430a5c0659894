"""The packet classes themselves: repr, copy, pickle, the will's PUBLISH, and their type stubs.

Decoded packets hold views of the decoder's input (the compiled twin even
leaves a PUBLISH's payload and properties unmade until first use); copies and
pickles must carry the values, never the views.
"""

import ast
import copy
import pickle
from pathlib import Path

import pytest

from mqttfast._fields import FIELDS, PACKET_NAMES

from .helpers.samples import ALL_PUBLISH_PROPERTIES

PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)
USER_PROPERTIES = ALL_PUBLISH_PROPERTIES["user_properties"]
# The properties of a will's message, which a PUBLISH carries too.
MESSAGE = {name: value for name, value in ALL_PUBLISH_PROPERTIES.items() if name in dict(FIELDS["Will"])}


def _will(api, **extra):
    fields = dict(topic="clients/1/gone", payload=b"offline", qos=1, retain=True, will_delay_interval=30, **MESSAGE)
    return api.Will(**{**fields, **extra})


def _samples(api):
    """One packet of every class, with its fields away from their defaults, and the version to encode it with."""
    ack = dict(packet_id=7, reason_code=0x10, reason_string="no subscribers", user_properties=USER_PROPERTIES)
    subscriptions = [
        api.Subscription(topic_filter="a/+", qos=1, no_local=True, retain_as_published=True, retain_handling=2),
        api.Subscription(topic_filter="b/#", qos=2),
    ]
    return [
        (_will(api), None),
        (api.Connect(client_id="c1", keep_alive=30, username="u", password=b"pw", will=_will(api), session_expiry_interval=60,
                     authentication_method="SCRAM", authentication_data=b"\x01\x02", user_properties=USER_PROPERTIES), 5),
        (api.Connack(session_present=True, assigned_client_identifier="auto-1", maximum_qos=1, user_properties=USER_PROPERTIES), 5),
        (api.Publish(topic="s/t", payload=b"hello", qos=1, packet_id=3, topic_alias=4, subscription_identifiers=[5, 300], **MESSAGE), 5),
        (api.Puback(**ack), 5),
        (api.Pubrec(**ack), 5),
        (api.Pubrel(**{**ack, "reason_code": 0x92}), 5),
        (api.Pubcomp(**{**ack, "reason_code": 0x92}), 5),
        (subscriptions[0], None),
        (api.Subscribe(packet_id=9, subscriptions=subscriptions, subscription_identifier=12, user_properties=USER_PROPERTIES), 5),
        (api.Suback(packet_id=9, reason_codes=[1, 0x80], reason_string="partly", user_properties=USER_PROPERTIES), 5),
        (api.Unsubscribe(packet_id=10, topic_filters=["a/+", "b/#"], user_properties=USER_PROPERTIES), 5),
        (api.Unsuback(packet_id=10, reason_codes=[0, 0x11], user_properties=USER_PROPERTIES), 5),
        (api.Pingreq(), 5),
        (api.Pingresp(), 5),
        (api.Disconnect(reason_code=0x04, session_expiry_interval=0, reason_string="bye", user_properties=USER_PROPERTIES), 5),
        (api.Auth(reason_code=0x18, authentication_method="SCRAM", authentication_data=b"\x03", user_properties=USER_PROPERTIES), 5),
    ]


def _wires(api):
    return [api.encode(packet, version) for packet, version in _samples(api) if version is not None]


def _decoded(api):
    """Every sample decoded three ways: from bytes, from a bytearray, and by a ``Decoder``."""
    packets = []
    for wire in _wires(api):
        packets.append(api.decode(wire, None if wire[0] >> 4 == 1 else 5)[0])
        packets.append(api.decode(bytearray(wire), None if wire[0] >> 4 == 1 else 5)[0])
        [streamed] = api.Decoder(5, copy_threshold=0).feed(wire)  # views, as decode() gives
        packets.append(streamed)
    return packets


def _binary_fields(packet):
    """(path, value) of every bytes-like field of ``packet``, the will's included."""
    found = []
    for name, _ in packet._fields:
        value = getattr(packet, name)
        if isinstance(value, (bytes, bytearray, memoryview)):
            found.append((name, value))
    if getattr(packet, "will", None) is not None:
        found += [(f"will.{name}", value) for name, value in _binary_fields(packet.will)]
    return found


def test_samples_cover_every_packet_class(api):
    assert sorted(type(packet).__name__ for packet, _ in _samples(api)) == sorted(PACKET_NAMES)
    assert sorted(PACKET_NAMES) == sorted(name for name in api.__all__ if name in FIELDS)


def test_decoded_packets_hold_views(api):
    # What the copy and pickle tests below rely on: decoding hands out views.
    for packet in _decoded(api):
        for path, value in _binary_fields(packet):
            assert isinstance(value, memoryview), (type(packet).__name__, path)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_packet_pickles(api, protocol):
    for packet, _ in _samples(api):
        clone = pickle.loads(pickle.dumps(packet, protocol))
        assert type(clone) is type(packet)
        assert clone == packet
        assert repr(clone) == repr(packet)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_decoded_packets_pickle_with_their_views_as_bytes(api, protocol):
    for packet, wire in zip(_decoded(api), [w for w in _wires(api) for _ in range(3)]):
        clone = pickle.loads(pickle.dumps(packet, protocol))
        assert type(clone) is type(packet)
        assert clone == packet
        assert api.encode(clone, 5) == wire
        for path, value in _binary_fields(clone):
            assert type(value) is bytes, (type(packet).__name__, path)


def test_deep_copies_own_their_bytes(api):
    for packet in _decoded(api):
        clone = copy.deepcopy(packet)
        assert type(clone) is type(packet)
        assert clone == packet
        for path, value in _binary_fields(clone):
            assert type(value) is bytes, (type(packet).__name__, path)
        # Nothing mutable is shared with the original.
        if hasattr(packet, "user_properties"):
            assert clone.user_properties is not packet.user_properties
        if type(packet).__name__ == "Subscribe":
            assert all(a is not b for a, b in zip(clone.subscriptions, packet.subscriptions))
        if type(packet).__name__ == "Connect":
            assert clone.will is not packet.will and clone.will == packet.will


def test_deep_copy_of_an_unread_decoded_publish_has_every_property(api):
    # The compiled twin has not made the payload nor the properties yet: the copy must.
    publish = api.Publish(topic="s/t", payload=b"hello", qos=1, packet_id=3, topic_alias=4, subscription_identifiers=[5, 300], **MESSAGE)
    wire = api.encode(publish, 5)
    clone = copy.deepcopy(api.decode(wire, 5)[0])
    assert clone == publish
    assert type(clone.payload) is bytes and type(clone.correlation_data) is bytes


def test_shallow_copy_keeps_the_same_field_objects(api):
    for packet in _decoded(api):
        clone = copy.copy(packet)
        assert type(clone) is type(packet)
        assert clone is not packet and clone == packet
        for name, _ in packet._fields:
            assert getattr(clone, name) is getattr(packet, name), (type(packet).__name__, name)


def test_copies_keep_the_peers_property_order(api):
    # content type (0x03) before payload format indicator (0x01): not identifier order.
    wire = bytes.fromhex("320d00017400010603000161010178")
    packet = api.decode(wire, 5)[0]
    for clone in (copy.copy(packet), copy.deepcopy(packet), pickle.loads(pickle.dumps(packet))):
        assert api.encode(clone, 5) == wire


def test_repr_says_when_a_field_is_a_view(api):
    assert repr(api.Publish(topic="t", payload=b"hello")) == "Publish(topic='t', payload=b'hello')"
    assert repr(api.Publish(topic="t", payload=memoryview(b"hello"))) == "Publish(topic='t', payload=memoryview(b'hello'))"
    assert repr(api.Publish(topic="t", payload=bytearray(b"hi"))) == "Publish(topic='t', payload=bytearray(b'hi'))"
    decoded = api.decode(api.encode(api.Auth(reason_code=0x18, authentication_method="m", authentication_data=b"\x01"), 5), 5)[0]
    assert repr(decoded) == "Auth(reason_code=24, authentication_method='m', authentication_data=memoryview(b'\\x01'))"


@pytest.mark.parametrize("make", [bytes, bytearray, memoryview], ids=["bytes", "bytearray", "memoryview"])
def test_repr_shortens_long_binary_fields(api, make):
    payload = make(b"0123456789abcdef" * 4 + b"tail beyond 64 bytes")
    shown = repr(b"0123456789abcdef" * 4) + "... (84 bytes)"
    wrapped = shown if make is bytes else f"{make.__name__}({shown})"
    assert repr(api.Publish(topic="t", payload=payload)) == f"Publish(topic='t', payload={wrapped})"
    # Exactly 64 bytes are shown whole.
    assert "..." not in repr(api.Publish(topic="t", payload=make(bytes(64))))


def test_will_to_publish_carries_the_message_and_the_same_payload(api):
    will = _will(api)
    publish = will.to_publish()
    assert type(publish) is api.Publish
    assert publish.payload is will.payload
    assert publish.user_properties == will.user_properties
    assert publish.user_properties is not will.user_properties
    expected = api.Publish(topic="clients/1/gone", payload=b"offline", qos=1, retain=True, **MESSAGE)
    assert publish == expected


def test_will_to_publish_of_a_decoded_will_shares_its_view(api):
    connect = api.Connect(client_id="c1", will=_will(api, qos=0))
    will = api.decode(api.encode(connect, 5))[0].will
    publish = will.to_publish()
    assert isinstance(will.payload, memoryview)
    assert publish.payload is will.payload
    # The will delay is the server's to apply, not a PUBLISH property.
    assert will.will_delay_interval == 30
    assert publish == api.Publish(topic="clients/1/gone", payload=b"offline", retain=True, **MESSAGE)


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_will_to_publish_encodes_and_decodes_back(api, qos):
    publish = _will(api, qos=qos).to_publish()
    if qos:
        publish.packet_id = 5  # the server's to assign, per subscriber
    packet, size = api.decode(api.encode(publish, version=5), 5)
    assert packet == publish
    assert packet.payload == b"offline"


# --- The type stubs ---------------------------------------------------------

STUBS = Path(__file__).resolve().parent.parent / "src" / "mqttfast" / "_types.pyi"


def _stub_classes():
    """Class name -> (base names, annotated attribute names, method names) of ``_types.pyi``."""
    classes = {}
    for node in ast.parse(STUBS.read_text()).body:
        if isinstance(node, ast.ClassDef):
            attributes = {item.target.id for item in node.body if isinstance(item, ast.AnnAssign)}
            methods = {item.name for item in node.body if isinstance(item, ast.FunctionDef)}
            classes[node.name] = ([base.id for base in node.bases], attributes, methods)
    return classes


def _stub_members(classes, name):
    bases, attributes, methods = classes[name]
    for base in bases:
        inherited = _stub_members(classes, base)
        attributes, methods = attributes | inherited[0], methods | inherited[1]
    return attributes, methods


def test_stubs_declare_the_fields_of_every_packet_class(api):
    classes = _stub_classes()
    for name in PACKET_NAMES:
        attributes, _ = _stub_members(classes, name)
        assert attributes - {"packet_type"} == {field for field, _ in FIELDS[name]}, name
        assert ("packet_type" in attributes) == hasattr(getattr(api, name), "packet_type"), name


def test_stubs_declare_the_bases_each_twin_has(api):
    classes = _stub_classes()
    for name in PACKET_NAMES:
        for base in classes[name][0]:
            public = getattr(api, base, None)
            if public is not None:
                assert issubclass(getattr(api, name), public), (name, base)


def test_stubs_declare_will_to_publish():
    _, methods = _stub_members(_stub_classes(), "Will")
    assert "to_publish" in methods
