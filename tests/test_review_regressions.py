"""Edges found by reviewing the readiness work: each twin must behave as the other, and never crash.

- ``match_shared`` must keep the matcher's shared trie alive while Python code
  (a ``str`` subclass being validated) replaces it.
- ``encode_forward`` checks the version before the subscription's QoS and
  before taking a packet id.
- A ``Decoder``'s level and limits are read-only in both twins, and its limits
  take integers only.
- The variable byte integer functions take integers only, of any size.
"""

import gc

import pytest


def test_match_shared_survives_its_fields_replaced_during_validation(api):
    matcher = api.TopicMatcher()
    for i in range(200):
        matcher.subscribe(f"$share/g/a/{i}", "x")

    class Topic(str):
        def __bool__(self):
            matcher.__init__()  # new shared trie: the old one loses its last outside reference
            gc.collect()
            return True

    result = matcher.match_shared(Topic("a/7"))
    assert result in ({("g", "a/7"): ["x"]}, {})  # the old trie's answer or the new one's, never a crash
    assert matcher.match_shared("a/7") == {}


@pytest.mark.parametrize("granted_qos", [3, -1, True, 1.0, None])
def test_encode_forward_wants_the_version_first(api, granted_qos):
    taken = []
    packet = api.Publish(topic="t", qos=1, packet_id=1)
    with pytest.raises(TypeError, match="needs version="):
        api.encode_forward(packet, granted_qos=granted_qos, packet_id=lambda: taken.append(1) or 7)
    assert taken == []


def test_a_decoders_level_and_limits_are_read_only(api):
    decoder = api.Decoder(4, max_packet_size=100, max_properties=5, copy_threshold=10)
    assert (decoder.version, decoder.max_packet_size, decoder.max_properties, decoder.copy_threshold) == (4, 100, 5, 10)
    for name in ("version", "max_packet_size", "max_properties", "copy_threshold"):
        with pytest.raises(AttributeError):
            setattr(decoder, name, 5)


@pytest.mark.parametrize("keyword", ["copy_threshold", "max_properties"])
def test_a_decoders_limits_are_integers_of_any_size(api, keyword):
    with pytest.raises(TypeError):
        api.Decoder(**{keyword: 1.5})
    assert getattr(api.Decoder(**{keyword: True}), keyword) == 1
    huge = api.Decoder(4, **{keyword: 2**70})
    assert getattr(huge, keyword) == 2**70
    [packet] = huge.feed(api.encode(api.Publish(topic="t", payload=b"x"), 4))
    assert bytes(packet.payload) == b"x"


def test_varint_functions_take_integers_only(api):
    for function in (api.encode_varint, api.varint_size):
        with pytest.raises(TypeError):
            function(1.0)
        with pytest.raises(api.MalformedPacket):
            function(2**70)
        assert function(True) == (b"\x01" if function is api.encode_varint else 1)
    with pytest.raises(api.Incomplete):
        api.decode_varint(b"", 2**63)
    with pytest.raises(api.Incomplete):
        api.decode_varint(b"\x05", 1)
    with pytest.raises(TypeError):
        api.decode_varint(b"\x05", 0.0)
    assert api.decode_varint(b"\x00\x81\x01", 1) == (129, 2)
