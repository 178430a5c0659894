"""mqttfast.compat.paho: paho-mqtt patched behaves as paho-mqtt, only faster.

Every behaviour is checked against paho's own code: the matcher against
paho's ``MQTTMatcher`` on random filters and topics, bad input from a scripted
broker by running the same script through paho unpatched and patched and
comparing every callback and return code, and real traffic against mosquitto.
"""

import socket
import threading
import time

import paho.mqtt
import paho.mqtt.client as paho_client
import paho.mqtt.matcher as paho_matcher
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mqttfast.compat import CompatibilityWarning
from mqttfast.compat import paho as compat

from .helpers.mosquitto import running_mosquitto
from .helpers.peers import TIMEOUT

PAHO_MATCHER = paho_matcher.MQTTMatcher
PAHO_TOPIC_MATCHES_SUB = paho_client.topic_matches_sub
PAHO_PACKET_READ = paho_client.Client._packet_read


@pytest.fixture
def patched():
    """paho-mqtt with install() applied for the test, restored afterwards."""
    assert compat.install()
    yield
    compat.uninstall()


def test_uninstalled_paho_is_untouched():
    assert not compat.installed()
    assert paho_client.Client._packet_read is PAHO_PACKET_READ
    assert paho_client.MQTTMatcher is PAHO_MATCHER and paho_matcher.MQTTMatcher is PAHO_MATCHER


def test_install_is_idempotent_and_uninstall_restores_exactly():
    before = (dict(vars(paho_client.Client)), dict(vars(paho_client)), dict(vars(paho_matcher)))
    assert compat.install() and compat.install()
    assert compat.installed()
    assert paho_client.Client._packet_read is not PAHO_PACKET_READ
    assert paho_client.MQTTMatcher is compat.MQTTMatcher and paho_matcher.MQTTMatcher is compat.MQTTMatcher
    assert paho_client.topic_matches_sub is compat.topic_matches_sub
    compat.uninstall()
    compat.uninstall()
    assert not compat.installed()
    assert (dict(vars(paho_client.Client)), dict(vars(paho_client)), dict(vars(paho_matcher))) == before


@pytest.mark.parametrize("version", ["3.0.0", "2.1.0", "2.10.1", "garbage", None])
def test_unknown_version_warns_and_changes_nothing(monkeypatch, version):
    if version is None:
        monkeypatch.delattr(paho.mqtt, "__version__")
    else:
        monkeypatch.setattr(paho.mqtt, "__version__", version)
    with pytest.warns(CompatibilityWarning, match="paho-mqtt"):
        assert not compat.install()
    assert not compat.installed()
    assert paho_client.Client._packet_read is PAHO_PACKET_READ and paho_client.MQTTMatcher is PAHO_MATCHER


# Levels chosen to hit every corner of paho's trie: wildcards, '$' topics,
# empty levels, wildcard characters inside a level, shared-subscription prefixes.
LEVELS = st.sampled_from(["a", "b", "+", "#", "$SYS", "$share", "g", "", "a+", "#b", "\x00"])
STRINGS = st.lists(LEVELS, min_size=1, max_size=5).map("/".join)


@settings(max_examples=300, deadline=None)
@given(
    # Lists stand for the unhashable values paho takes as well as any other.
    entries=st.lists(
        st.tuples(STRINGS, st.one_of(st.none(), st.integers(0, 9), st.lists(st.integers(0, 2), max_size=2))), max_size=12
    ),
    removals=st.lists(STRINGS, max_size=4),
    topics=st.lists(STRINGS, min_size=1, max_size=6),
)
def test_matcher_answers_as_paho(entries, removals, topics):
    ours, theirs = compat.MQTTMatcher(), PAHO_MATCHER()

    def same_answers():
        for topic in topics:
            assert list(ours.iter_match(topic)) == list(theirs.iter_match(topic)), topic

    for key, value in entries:
        ours[key] = value
        theirs[key] = value
        same_answers()  # remembered answers must follow every change
    for key in removals:
        outcomes = []
        for matcher in (ours, theirs):
            try:
                del matcher[key]
                outcomes.append("deleted")
            except KeyError as exc:
                outcomes.append(exc.args)
        assert outcomes[0] == outcomes[1]
    for key, _ in entries:
        got = []
        for matcher in (ours, theirs):
            try:
                got.append(matcher[key])
            except KeyError as exc:
                got.append(("KeyError", exc.args))
        assert got[0] == got[1]
    same_answers()
    for key, value in entries[:2]:
        ours[key] = theirs[key] = "changed" if value is None else None
    same_answers()


@settings(max_examples=300, deadline=None)
@given(sub=STRINGS, topic=STRINGS)
def test_topic_matches_sub_answers_as_paho(sub, topic):
    assert compat.topic_matches_sub(sub, topic) == PAHO_TOPIC_MATCHES_SUB(sub, topic)


class Unhashable:
    """A value whose hash() raises something else than TypeError: paho takes it all the same."""

    def __hash__(self):
        raise ValueError("no hash")


def test_matcher_takes_unhashable_values_and_answers_them_as_paho():
    odd_value, listed = Unhashable(), ["callback"]
    ours, theirs = compat.MQTTMatcher(), PAHO_MATCHER()
    for matcher in (ours, theirs):
        matcher["a/+"] = listed
        matcher["a/#"] = odd_value
        matcher["a/b"] = 1
    for topic in ("a/b", "a", "a/c", "b"):
        assert list(ours.iter_match(topic)) == list(theirs.iter_match(topic))
    assert [value is odd_value for value in ours.iter_match("a/c")] == [False, True]
    assert ours["a/+"] is listed and ours["a/#"] is odd_value
    for matcher in (ours, theirs):
        del matcher["a/+"]
        matcher["a/#"] = 2  # no unhashable value left
    assert list(ours.iter_match("a/b")) == list(theirs.iter_match("a/b")) == [1, 2]


def test_replacing_a_value_by_an_equal_one_stores_the_new_one():
    ours, theirs = compat.MQTTMatcher(), PAHO_MATCHER()
    for matcher in (ours, theirs):
        matcher["a"] = 1
        matcher["a"] = 1.0
        matcher["b"] = True
        matcher["+"] = 1
    for topic in ("a", "b"):
        got, expected = list(ours.iter_match(topic)), list(theirs.iter_match(topic))
        assert got == expected and [type(value) for value in got] == [type(value) for value in expected]


def test_remembered_answers_follow_every_change():
    ours, theirs = compat.MQTTMatcher(), PAHO_MATCHER()
    changes = [
        lambda m: m.__setitem__("s/+", "plus"),
        lambda m: m.__setitem__("s/x", "exact"),
        lambda m: m.__setitem__("s/+", ["unhashable"]),
        lambda m: m.__setitem__("$share/g/s/x", "shared"),
        lambda m: m.__delitem__("s/x"),
        lambda m: m.__setitem__("s/#", None),
        lambda m: m.__setitem__("s/+", None),
        lambda m: m.__delitem__("$share/g/s/x"),
    ]
    for change in changes:
        for matcher in (ours, theirs):
            change(matcher)
        for _ in range(40):  # enough for the answers to be remembered
            for topic in ("s/x", "s/y", "$share/g/s/x", "s/+"):
                assert list(ours.iter_match(topic)) == list(theirs.iter_match(topic)), topic


def test_a_shared_filter_is_matched_as_plain_levels_beside_valid_filters():
    ours, theirs = compat.MQTTMatcher(), PAHO_MATCHER()
    for value, key in enumerate(["$share/g/a/#", "$share/+/a/b", "#", "+/g/a/b", "$share/g/a/b"]):
        ours[key] = theirs[key] = value
    for topic in ("$share/g/a/b", "$share/g/a", "share/g/a/b", "a/b"):
        assert list(ours.iter_match(topic)) == list(theirs.iter_match(topic)), topic


def test_a_filter_too_long_for_mqtt_is_matched_beside_valid_filters():
    # '+' matches an empty level: a filter over 65,535 bytes matches a topic within them.
    long_level = "x" * 65534
    ours, theirs = compat.MQTTMatcher(), PAHO_MATCHER()
    for value, key in enumerate(["+/" + long_level, "#", "/#", "+/+", "$share/g/#"]):
        ours[key] = theirs[key] = value
    for topic in ("/" + long_level, "a/" + long_level, "/x"):
        assert list(ours.iter_match(topic)) == list(theirs.iter_match(topic))
    assert list(ours.iter_match("/" + long_level)) == [2, 0, 3, 1]  # both kinds of filter in one answer


def test_an_iterator_gives_the_answer_of_its_call():
    """Known difference: paho's generator reads its trie as it goes; ours iterates over the answer when called."""
    ours, theirs = compat.MQTTMatcher(), PAHO_MATCHER()
    iterators = []
    for matcher in (ours, theirs):
        matcher["a"] = 1
        iterators.append(matcher.iter_match("a"))
        matcher["a"] = 2
    assert [list(iterator) for iterator in iterators] == [[1], [2]]
    assert list(ours.iter_match("a")) == list(theirs.iter_match("a")) == [2]


def test_matcher_order_is_paho_depth_first_order():
    filters = ["#", "+/#", "+/+", "a/#", "a/+", "a/b", "a/b/#", "+/b"]
    ours, theirs = compat.MQTTMatcher(), PAHO_MATCHER()
    for value, key in enumerate(filters):
        ours[key] = theirs[key] = value
    assert list(ours.iter_match("a/b")) == list(theirs.iter_match("a/b")) == [5, 6, 4, 1 + 2, 7, 2, 1, 0]


# -- a scripted broker sending exactly the bytes a test gives it -------------------------------


class ByteScriptBroker(threading.Thread):
    """Accepts one client, waits for its CONNECT, sends ``script`` (optionally a byte at a time), stays open."""

    def __init__(self, script, trickle=False, tail=b""):
        super().__init__(daemon=True)
        self.script = script
        self.tail = tail  # sent 0.3 s after the script
        self.trickle = trickle
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(TIMEOUT)
        self.port = self.listener.getsockname()[1]
        self.done = threading.Event()
        self.sent = threading.Event()

    def run(self):
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(TIMEOUT)
            try:
                conn.recv(65536)  # the CONNECT
                pieces = [self.script[i : i + 1] for i in range(len(self.script))] if self.trickle else [self.script]
                for piece in pieces:
                    conn.sendall(piece)
                    if self.trickle:
                        time.sleep(0.002)
                self.sent.set()
                if self.tail and not self.done.wait(0.3):
                    conn.sendall(self.tail)
                self.done.wait(TIMEOUT)
            except OSError:
                pass

    def close(self):
        self.done.set()
        self.listener.close()
        self.join(TIMEOUT)


def run_client_against(script, protocol, trickle=False, client_class=paho_client.Client):
    """Connect a paho client to a broker sending ``script``; every callback and non-zero loop rc, in order."""
    events = []
    client = client_class(paho_client.CallbackAPIVersion.VERSION2, client_id="cmp", protocol=protocol)
    client.events = events
    client.on_connect = lambda c, u, flags, reason, props: events.append(("connect", str(reason), flags.session_present))
    client.on_disconnect = lambda c, u, flags, reason, props: events.append(("disconnect", str(reason)))

    def on_message(c, u, message):
        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = "<invalid utf-8>"
        events.append(("message", topic, message._topic, bytes(message.payload), message.qos, message.mid, message.retain, message.dup))
        # The rest of what paho's MQTTMessage holds, its info included (only the timestamp differs).
        info = message.info
        events.append(("fields", type(message), message.state, str(message.properties), message.timestamp > 0))
        events.append(("info", type(info), info.mid, info.rc, info.is_published(), tuple(info)))

    client.on_message = on_message
    client.message_callback_add("f/+", lambda c, u, m: events.append(("filtered", m.topic, bytes(m.payload))))
    broker = ByteScriptBroker(script, trickle)
    broker.start()
    try:
        client.connect("127.0.0.1", broker.port, keepalive=30)
        # Until an error, or once nothing new happened for a while after the script was sent.
        deadline = time.monotonic() + TIMEOUT
        quiet_since, seen = time.monotonic(), 0
        while time.monotonic() < deadline:
            rc = client.loop(timeout=0.01)
            if rc:
                events.append(("rc", int(rc)))
                break
            if len(events) != seen:
                quiet_since, seen = time.monotonic(), len(events)
            elif broker.sent.is_set() and time.monotonic() - quiet_since > 0.3:  # generous: the machine may be loaded
                break
    finally:
        client._sock_close()
        broker.close()
    return events


CONNACK_311 = bytes([0x20, 0x02, 0x00, 0x00])
CONNACK_5 = bytes([0x20, 0x03, 0x00, 0x00, 0x00])


def publish_311(topic, payload, qos=0, mid=1, flags=0):
    body = len(topic).to_bytes(2, "big") + topic + (mid.to_bytes(2, "big") if qos else b"") + payload
    return bytes([0x30 | qos << 1 | flags]) + bytes([len(body)]) + body


GOOD = publish_311(b"t/1", b"one") + publish_311(b"f/x", b"two", qos=1, mid=7) + publish_311(b"t/2", b"three", qos=2, mid=8, flags=1)
SCRIPTS_311 = {
    "good traffic": CONNACK_311 + GOOD + bytes([0x90, 0x03, 0x00, 0x05, 0x01]) + bytes([0xD0, 0x00]),
    "remaining length of five bytes": CONNACK_311 + GOOD + bytes([0x30, 0x80, 0x80, 0x80, 0x80, 0x01]),
    "qos 3": CONNACK_311 + bytes([0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01]) + GOOD,
    "invalid utf-8 topic": CONNACK_311 + publish_311(b"t/\xff", b"x") + GOOD,
    "topic with wildcard and NUL": CONNACK_311 + publish_311(b"t/+/\x00", b"x") + GOOD,
    "empty topic": CONNACK_311 + publish_311(b"", b"x") + GOOD,
    "packet id 0": CONNACK_311 + publish_311(b"t/0", b"x", qos=1, mid=0) + GOOD,
    "truncated publish": CONNACK_311 + bytes([0x30, 0x01, 0x00]) + GOOD,
    "unknown packet type": CONNACK_311 + GOOD + bytes([0xF0, 0x00]) + GOOD,
    "disconnect in 3.1.1": CONNACK_311 + bytes([0xE0, 0x00]) + GOOD,
    "connack of the wrong size": bytes([0x20, 0x03, 0x00, 0x00, 0x00]) + GOOD,
    "refused connack": bytes([0x20, 0x02, 0x00, 0x05]) + GOOD,
    "pingresp with a body": CONNACK_311 + bytes([0xD0, 0x01, 0x00]) + GOOD,
    "incomplete at the end": CONNACK_311 + GOOD + bytes([0x30, 0x10, 0x00]),
    "reserved packet type 0": CONNACK_311 + bytes([0x00, 0x00]) + GOOD,
}


# Every script in one write; two of them also a byte at a time, so reads end inside every field.
CASES_311 = [(name, False) for name in sorted(SCRIPTS_311)]
CASES_311 += [("good traffic", True), ("remaining length of five bytes", True)]


@pytest.mark.parametrize(("name", "trickle"), CASES_311, ids=[f"{n}-{'trickle' if t else 'whole'}" for n, t in CASES_311])
def test_bad_input_311_behaves_as_unpatched_paho(name, trickle):
    script = SCRIPTS_311[name]
    expected = run_client_against(script, paho_client.MQTTv311, trickle)
    compat.install()
    try:
        got = run_client_against(script, paho_client.MQTTv311, trickle)
    finally:
        compat.uninstall()
    assert got == expected
    assert expected[0][0] == "connect" or name == "connack of the wrong size"


class HandlingClient(paho_client.Client):
    """A paho client subclass with a _handle_on_message of its own, which the patched reader must call."""

    def _handle_on_message(self, message):
        self.events.append(("handled by the subclass", message.mid))
        super()._handle_on_message(message)


def test_a_subclass_handle_on_message_is_called_patched_as_unpatched():
    script = SCRIPTS_311["good traffic"]
    expected = run_client_against(script, paho_client.MQTTv311, client_class=HandlingClient)
    compat.install()
    try:
        got = run_client_against(script, paho_client.MQTTv311, client_class=HandlingClient)
    finally:
        compat.uninstall()
    assert got == expected
    assert ("handled by the subclass", 7) in got


def test_a_received_message_info_waits_as_paho_s_does():
    """Received messages share one condition patched: waiting still times out, and marks one message only."""
    compat.install()
    try:
        events = []
        client = paho_client.Client(paho_client.CallbackAPIVersion.VERSION2, client_id="info")
        client.on_message = lambda c, u, message: events.append(message)
        broker = ByteScriptBroker(CONNACK_311 + GOOD)
        broker.start()
        try:
            client.connect("127.0.0.1", broker.port)
            for _ in range(100):
                if len(events) >= 2:
                    break
                client.loop(timeout=0.02)
        finally:
            client._sock_close()
            broker.close()
    finally:
        compat.uninstall()
    first, second = events[:2]
    started = time.monotonic()
    first.info.wait_for_publish(timeout=0.05)
    assert time.monotonic() - started >= 0.05 and not first.info.is_published()
    first.info._set_as_published()
    assert first.info.is_published() and not second.info.is_published()


def publish_5(topic, payload, properties=b"\x00", qos=0, mid=1):
    body = len(topic).to_bytes(2, "big") + topic + (mid.to_bytes(2, "big") if qos else b"") + properties + payload
    return bytes([0x30 | qos << 1, len(body)]) + body


SCRIPTS_5 = {
    "good traffic": CONNACK_5 + publish_5(b"t/1", b"one") + publish_5(b"f/x", b"two", qos=1, mid=3, properties=b"\x02\x01\x01"),
    "bad property": CONNACK_5 + publish_5(b"t/1", b"one", properties=b"\x02\x7f\x01"),
    "server disconnect": CONNACK_5 + publish_5(b"t/1", b"one") + bytes([0xE0, 0x02, 0x8B, 0x00]),
}


@pytest.mark.parametrize("name", sorted(SCRIPTS_5))
def test_mqtt5_input_behaves_as_unpatched_paho(name):
    expected = run_client_against(SCRIPTS_5[name], paho_client.MQTTv5)
    compat.install()
    try:
        got = run_client_against(SCRIPTS_5[name], paho_client.MQTTv5)
    finally:
        compat.uninstall()
    assert got == expected


@pytest.mark.parametrize("install", [False, True], ids=["unpatched", "patched"])
def test_callback_exception_propagates_and_the_message_is_handed_over_again(install):
    """paho keeps a packet whose callback raised and hands it over again on a later loop.

    Unpatched, that later loop comes as soon as select() sees the next packet in
    the socket; patched, the next packet was already read, so it comes with the
    next bytes the broker sends (here a PINGRESP). The one documented difference.
    """
    seen = []

    def on_message(c, u, message):
        seen.append(bytes(message.payload))
        if len(seen) == 1:
            raise RuntimeError("callback failed")

    if install:
        compat.install()
    client = paho_client.Client(paho_client.CallbackAPIVersion.VERSION2, client_id="raise")
    client.on_message = on_message
    client.suppress_exceptions = False
    script = CONNACK_311 + publish_311(b"t/1", b"one") + publish_311(b"t/2", b"two")
    broker = ByteScriptBroker(script, tail=bytes([0xD0, 0x00]))
    broker.start()
    try:
        client.connect("127.0.0.1", broker.port)
        with pytest.raises(RuntimeError, match="callback failed"):
            for _ in range(50):
                client.loop(timeout=0.05)
        for _ in range(20):
            client.loop(timeout=0.05)
    finally:
        compat.uninstall()
        client._sock_close()
        broker.close()
    assert seen == [b"one", b"one", b"two"]


# -- real traffic through mosquitto ------------------------------------------------------------


@pytest.fixture(scope="module")
def mosquitto(tmp_path_factory):
    with running_mosquitto(tmp_path_factory.mktemp("mosquitto-paho")) as port:
        yield port


def connected_client(port, client_id, protocol):
    client = paho_client.Client(paho_client.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
    client.connect("127.0.0.1", port, keepalive=30)
    client.loop_start()
    return client


@pytest.mark.peer
@pytest.mark.parametrize("protocol", [paho_client.MQTTv311, paho_client.MQTTv5], ids=["3.1.1", "5.0"])
def test_patched_paho_through_mosquitto(patched, mosquitto, protocol):
    received, filtered = [], []
    done = threading.Event()
    count = 3 * 40

    def on_message(c, u, message):
        received.append((message.topic, bytes(message.payload), message.qos))
        if len(received) + len(filtered) == count:
            done.set()

    def on_filtered(c, u, message):
        filtered.append((message.topic, bytes(message.payload), message.qos))
        if len(received) + len(filtered) == count:
            done.set()

    subscriber = paho_client.Client(paho_client.CallbackAPIVersion.VERSION2, client_id=f"sub{protocol}", protocol=protocol)
    subscriber.on_message = on_message
    subscriber.message_callback_add("special/#", on_filtered)
    subscribed = threading.Event()
    subscriber.on_subscribe = lambda *args: subscribed.set()
    subscriber.connect("127.0.0.1", mosquitto, keepalive=30)
    subscriber.loop_start()
    publisher = connected_client(mosquitto, f"pub{protocol}", protocol)
    try:
        subscriber.subscribe([("plain/+", 2), ("special/#", 2)])
        assert subscribed.wait(TIMEOUT)
        expected = []
        for qos in (0, 1, 2):
            for i in range(40):
                topic = f"special/{qos}/{i}" if i % 4 == 0 else f"plain/{qos}"
                payload = bytes([i]) * (i * 100)  # up to 3.9 kB: some reads end mid-packet
                expected.append((topic, payload, qos))
                publisher.publish(topic, payload, qos=qos).wait_for_publish(TIMEOUT)
        assert done.wait(TIMEOUT), (len(received), len(filtered))
        assert sorted(received + filtered) == sorted(expected)
        assert all(topic.startswith("special/") for topic, _, _ in filtered)
        assert [m for m in expected if m[0].startswith("plain/")] == received  # one publisher: order kept per QoS
    finally:
        for client in (publisher, subscriber):
            client.disconnect()
            client.loop_stop()
