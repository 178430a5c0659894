"""The compiled and pure-Python twins give the same answer for the same bytes, valid or not."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .helpers.implementations import load_implementation
from .helpers.strategies import packets

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def twins():
    return load_implementation("c-extension"), load_implementation("pure-python")


def outcome(api, wire, version):
    """What decoding ``wire`` gives: the packet re-encoded (comparable across twins), or the error."""
    try:
        packet, nbytes = api.decode(wire, version)
    except api.MQTTError as exc:
        return ("error", type(exc).__name__, exc.reason_code, str(exc))
    return ("packet", type(packet).__name__, nbytes, repr(packet), api.encode(packet, packet_version(packet, version)))


def packet_version(packet, version):
    return packet.protocol_version if version is None else version


@st.composite
def mutated_wire(draw, api, version):
    packet = draw(packets(api, version))
    wire = bytearray(api.encode(packet, version))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete", "length"]))
        if not wire:
            break
        index = draw(st.integers(0, len(wire) - 1))
        if kind == "flip":
            wire[index] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            wire[index] = draw(st.sampled_from([0x00, 0x01, 0x23, 0x2B, 0x7F, 0x80, 0xC0, 0xED, 0xFF]))
        elif kind == "truncate":
            del wire[index:]
        elif kind == "insert":
            wire[index:index] = draw(st.binary(min_size=1, max_size=4))
        elif kind == "delete":
            del wire[index]
        else:
            wire[1 if len(wire) > 1 else 0] = draw(st.integers(0, 255))
    return bytes(wire), None if type(packet).__name__ == "Connect" else version


@pytest.mark.parametrize("version", [3, 4, 5])
def test_mutated_packets_decode_identically(twins, version):
    compiled, python = twins

    @SETTINGS
    @given(mutated_wire(python, version))
    def check(case):
        wire, decode_version = case
        assert outcome(compiled, wire, decode_version) == outcome(python, wire, decode_version)

    check()


@pytest.mark.parametrize("version", [None, 3, 4, 5])
def test_random_bytes_decode_identically(twins, version):
    compiled, python = twins

    @SETTINGS
    @given(st.binary(max_size=64))
    def check(wire):
        assert outcome(compiled, wire, version) == outcome(python, wire, version)

    check()


@pytest.mark.parametrize("version", [3, 4, 5])
def test_valid_packets_encode_identically(twins, version):
    compiled, python = twins

    @SETTINGS
    @given(packets(python, version))
    def check(packet):
        wire = python.encode(packet, version)
        level = None if type(packet).__name__ == "Connect" else version
        twin = compiled.decode(wire, level)[0]
        assert compiled.encode(twin, version) == wire
        # Decoded binary fields are views in both twins, and their repr says so.
        assert repr(twin) == repr(python.decode(wire, level)[0])

    check()


# Not lists, empty or not iterable at all: what each twin does with them must agree.
_ODD_CONTAINERS = st.sampled_from([0, False, (), None, 5, (("a", "b"),)])


# Field values, valid or hostile, for the encoder differential test.
_ANY_INT = st.sampled_from([0, 1, 2, 3, 7, 255, 65535, 65536, 2**32 - 1, 2**32, 2**70, -1, True, "1", None, 1.0])
class _Text(str):
    """A str subclass: a string to both twins."""


_ANY_TEXT = st.sampled_from(
    ["", "a", "a/b", "a/+", "#", "a\x00b", "a\ud800", "é", "$share/g/a", "x" * 65536, b"a", None, 5]
    + [_Text("a/b"), _Text("a/#"), _Text(""), _Text("$share/g/a")]
)
_ANY_BINARY = st.sampled_from([b"", b"x", bytearray(b"yz"), memoryview(b"m"), bytes(65536), "text", None, 3])
_FIELDS = {
    "Publish": dict(
        topic=_ANY_TEXT,
        payload=_ANY_BINARY,
        qos=_ANY_INT,
        retain=st.booleans(),
        dup=st.booleans(),
        packet_id=_ANY_INT,
        topic_alias=_ANY_INT,
        message_expiry_interval=_ANY_INT,
        payload_format_indicator=_ANY_INT,
        content_type=_ANY_TEXT,
        response_topic=_ANY_TEXT,
        correlation_data=_ANY_BINARY,
        subscription_identifiers=st.one_of(st.lists(_ANY_INT, max_size=2), _ODD_CONTAINERS),
        user_properties=st.one_of(st.lists(st.tuples(_ANY_TEXT, _ANY_TEXT), max_size=2), _ODD_CONTAINERS),
    ),
    "Connect": dict(
        protocol_version=st.sampled_from([3, 4, 5, 6]),
        client_id=_ANY_TEXT,
        clean_start=st.booleans(),
        keep_alive=_ANY_INT,
        username=_ANY_TEXT,
        password=_ANY_BINARY,
        session_expiry_interval=_ANY_INT,
        receive_maximum=_ANY_INT,
        maximum_packet_size=_ANY_INT,
        authentication_method=_ANY_TEXT,
    ),
    "Puback": dict(packet_id=_ANY_INT, reason_code=_ANY_INT, reason_string=_ANY_TEXT),
    "Suback": dict(packet_id=_ANY_INT, reason_codes=st.lists(_ANY_INT, max_size=3), reason_string=_ANY_TEXT),
    "Unsubscribe": dict(packet_id=_ANY_INT, topic_filters=st.lists(_ANY_TEXT, max_size=3)),
    "Disconnect": dict(reason_code=_ANY_INT, session_expiry_interval=_ANY_INT, server_reference=_ANY_TEXT),
    "Auth": dict(reason_code=_ANY_INT, authentication_method=_ANY_TEXT, authentication_data=_ANY_BINARY),
}


def encode_outcome(api, name, fields, version):
    try:
        return ("bytes", api.encode(getattr(api, name)(**fields), version))
    except (api.MQTTError, TypeError, ValueError) as exc:
        return ("error", type(exc).__name__, str(exc))


@pytest.mark.parametrize("name", sorted(_FIELDS))
def test_hostile_packet_objects_encode_identically(twins, name):
    compiled, python = twins

    @SETTINGS
    @given(st.fixed_dictionaries({}, optional=_FIELDS[name]), st.sampled_from([None, 3, 4, 5]))
    def check(fields, version):
        if name == "Connect" and version is not None:
            version = None  # a CONNECT carries its own level
        assert encode_outcome(compiled, name, fields, version) == encode_outcome(python, name, fields, version)

    check()


# Regressions found by the differential tests, kept with the inputs that found them.
@pytest.mark.parametrize(
    ("name", "fields", "version"),
    [
        # The compiled twin skipped None inside subscription_identifiers instead of refusing it.
        ("Publish", {"topic": "", "subscription_identifiers": [None]}, None),
        # The twins worded the wrong-type error of a binary property differently.
        ("Auth", {"authentication_data": 3}, None),
        ("Publish", {"topic": "a", "payload": 3}, 4),
    ],
)
def test_regressions_from_differential_testing(twins, name, fields, version):
    compiled, python = twins
    assert encode_outcome(compiled, name, fields, version) == encode_outcome(python, name, fields, version)
    assert encode_outcome(python, name, fields, version)[:2] == ("error", "TypeError")


def _filter_outcome(api, topic_filter):
    try:
        api.validate_topic_filter(topic_filter)
    except api.InvalidTopicFilter as exc:
        return str(exc)
    return "valid"


@pytest.mark.parametrize("special", ["+", "#", "\x00", "/+", "+/", "/#", "é"])
def test_filter_checks_agree_at_every_position(twins, special):
    # The compiled quick check reads filters eight bytes at a time: put a character
    # that needs a closer look at every offset of both the words and the tail.
    compiled, pure = twins
    base = "abcdefghijklmnopqrstuvw/xyz"
    for index in range(len(base) + 1):
        topic_filter = base[:index] + special + base[index:]
        assert _filter_outcome(compiled, topic_filter) == _filter_outcome(pure, topic_filter), topic_filter


# SUBSCRIBE filters: the pure-Python twin validates them all together with a quick
# look (falling back to one by one), the compiled twin one by one as it reads them.
_FILTER_PIECES = st.sampled_from(["a", "b", "/", "+", "#", "$share/", "g", "é", "\x00", "\ud800", ""])
_FILTERS = st.lists(_FILTER_PIECES, max_size=8).map("".join)
_OPTIONS = st.sampled_from([0x00, 0x01, 0x02, 0x03, 0x04, 0x08, 0x10, 0x30, 0x40, 0x80])


def _subscribe_wire(filters, options, version):
    body = bytearray(b"\x00\x01" + (b"\x00" if version == 5 else b""))
    for topic_filter, option in zip(filters, options):
        data = topic_filter.encode("utf-8", "surrogatepass")
        body += len(data).to_bytes(2, "big") + data + bytes([option])
    size = len(body)  # under 16,384: a remaining length of one or two bytes
    return bytes([0x82, size] if size < 0x80 else [0x82, size & 0x7F | 0x80, size >> 7]) + body


@pytest.mark.parametrize("version", [4, 5])
def test_subscribe_filters_decode_identically(twins, version):
    compiled, python = twins

    @SETTINGS
    @given(st.lists(st.tuples(_FILTERS, _OPTIONS), max_size=5), st.integers(0, 3))
    def check(entries, cut):
        wire = _subscribe_wire([f for f, _ in entries], [o for _, o in entries], version)
        for data in (wire, wire[: len(wire) - cut]):
            assert outcome(compiled, data, version) == outcome(python, data, version)

    check()


@pytest.mark.parametrize("version", [4, 5])
def test_subscribe_filters_encode_identically(twins, version):
    compiled, python = twins
    qos = st.sampled_from([0, 1, 2, 3, -1, True, 1.0, "1"])

    @SETTINGS
    @given(st.lists(st.tuples(st.one_of(_FILTERS, st.sampled_from([None, b"a"])), qos, st.booleans()), max_size=5))
    def check(entries):
        outcomes = []
        for api in (compiled, python):
            subscriptions = [api.Subscription(topic_filter=f, qos=q, no_local=n) for f, q, n in entries]
            try:
                outcomes.append(("bytes", api.encode(api.Subscribe(packet_id=1, subscriptions=subscriptions), version)))
            except (api.MQTTError, TypeError, ValueError) as exc:
                outcomes.append(("error", type(exc).__name__, str(exc)))
        assert outcomes[0] == outcomes[1]

    check()


def test_quick_filter_check_accepts_only_valid_filters():
    # Every filter (and pair of filters) of up to a few characters from the characters that matter.
    from itertools import product

    from mqttfast._rules_py import _plainly_valid_filters
    from mqttfast._topics_py import validate_topic_filter

    def valid(topic_filter):
        try:
            validate_topic_filter(topic_filter)
        except Exception:
            return False
        return True

    short = ["".join(chars) for n in range(6) for chars in product("a/+#", repeat=n)]
    short += ["$share/" + f for f in short[:85]] + ["$share"]
    for topic_filter in short:
        assert _plainly_valid_filters([topic_filter]) <= valid(topic_filter), topic_filter
    # Every valid filter but a shared one is accepted by the quick look alone.
    assert all(_plainly_valid_filters([f]) for f in short if valid(f) and not f.startswith("$share/"))
    for pair in product(short[:341], repeat=2):
        assert _plainly_valid_filters(list(pair)) <= all(map(valid, pair)), pair
