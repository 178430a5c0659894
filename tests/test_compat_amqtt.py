"""mqttfast.compat.amqtt: amqtt patched behaves as amqtt, only faster.

The subscription index is checked against amqtt's own ``Broker._matches`` on
random filters and topics, the PUBLISH codec against amqtt's own parser and
encoder on valid and malformed packets, and the patched broker end to end with
paho-mqtt clients.
"""

import asyncio
import contextlib
import logging
import socket
import threading
import time
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import amqtt  # in the test extra: missing, these tests fail rather than skip
import amqtt.broker  # noqa: E402
import amqtt.mqtt.publish  # noqa: E402
import paho.mqtt.client as paho_client  # noqa: E402
from amqtt.adapters import BufferReader  # noqa: E402
from amqtt.mqtt.packet import MQTTFixedHeader  # noqa: E402
from amqtt.plugins.base import BasePlugin  # noqa: E402
from mqttfast.compat import CompatibilityWarning  # noqa: E402
from mqttfast.compat import amqtt as compat  # noqa: E402

from .helpers.peers import TIMEOUT  # noqa: E402

Broker = amqtt.broker.Broker
Handler = amqtt.broker.BrokerProtocolHandler
PublishPacket = amqtt.mqtt.publish.PublishPacket


def current():
    return (
        Broker.__init__,
        Broker._run_broadcast,
        Broker._handle_client_session,
        Handler.mqtt_publish,
        Handler._reader_loop,
        Handler.get_next_pending_subscription,
        Handler.get_next_pending_unsubscription,
        Handler.mqtt_deliver_next_message,
        PublishPacket.from_stream,
        PublishPacket.to_bytes,
    )


ORIGINALS = current()


def test_install_is_idempotent_and_uninstall_restores_exactly():
    before = (dict(vars(Broker)), dict(vars(Handler)), dict(vars(PublishPacket)))
    assert compat.install() and compat.install()
    assert compat.installed() and all(a != b for a, b in zip(current(), ORIGINALS))
    compat.uninstall()
    compat.uninstall()
    assert not compat.installed() and current() == ORIGINALS
    assert (dict(vars(Broker)), dict(vars(Handler)), dict(vars(PublishPacket))) == before


@pytest.mark.parametrize("version", ["0.13.0", "0.11.4", "1.0", None])
def test_unknown_version_warns_and_changes_nothing(monkeypatch, version):
    if version is None:
        monkeypatch.delattr(amqtt, "__version__")
    else:
        monkeypatch.setattr(amqtt, "__version__", version)
    with pytest.warns(CompatibilityWarning, match="amqtt"):
        assert not compat.install()
    assert not compat.installed() and current() == ORIGINALS


# -- routing: the index's candidates, confirmed by amqtt's rule, are amqtt's matches -----------

MATCHES = Broker._matches
FAKE_BROKER = SimpleNamespace(logger=logging.getLogger("test_compat_amqtt"))
LEVELS = st.sampled_from(["a", "b", "+", "#", "$SYS", "$share", "g", "", "a+", "#b", "\x00"])
STRINGS = st.lists(LEVELS, min_size=1, max_size=5).map("/".join)


@settings(max_examples=300, deadline=None)
@given(filters=st.lists(STRINGS, max_size=15), removals=st.lists(STRINGS, max_size=5), topics=st.lists(STRINGS, min_size=1, max_size=5))
def test_index_finds_every_filter_amqtt_matches_in_dict_order(filters, removals, topics):
    plain, index = {}, compat.SubscriptionIndex()
    for i, topic_filter in enumerate(filters):
        plain[topic_filter] = index[topic_filter] = [i]
    for topic_filter in removals:
        assert (plain.pop(topic_filter, None)) == index.pop(topic_filter, None)
    assert list(index.items()) == list(plain.items())
    for topic in topics:
        expected = [f for f in plain if MATCHES(FAKE_BROKER, topic, f)]
        assert [f for f in index.candidates(topic) if MATCHES(FAKE_BROKER, topic, f)] == expected


def test_index_follows_every_dict_mutation():
    index = compat.SubscriptionIndex([("a/+", 1)])
    index.update({"a/b": 2}, c=3)
    index.setdefault("a/#", 4)
    del index["a/+"]
    assert index.candidates("a/b") == ["a/b", "a/#"]
    assert index.popitem() == ("a/#", 4)
    index |= {"+/b": 5}
    assert index.candidates("a/b") == ["a/b", "+/b"]
    index.clear()
    assert index.candidates("a/b") == [] and index == {}


# -- the PUBLISH codec: same packets, same errors --------------------------------------------


async def parse(raw):
    reader = BufferReader(raw)
    header = await MQTTFixedHeader.from_stream(reader)
    try:
        packet = await PublishPacket.from_stream(reader, fixed_header=header)
    except Exception as exc:  # noqa: BLE001 - the kind is what is compared
        return ("error", type(exc).__name__)
    return (packet.topic_name, packet.packet_id, packet.data, packet.qos, packet.dup_flag, packet.retain_flag, packet.fixed_header.remaining_length)


def publish_bytes(first, topic, packet_id, payload):
    body = len(topic).to_bytes(2, "big") + topic + packet_id + payload
    return bytes([first, len(body)]) + body


RAW_PUBLISHES = [
    publish_bytes(0x30, b"a/b", b"", b"hello"),
    publish_bytes(0x3B, b"a/b", b"\x00\x07", b""),
    publish_bytes(0x34, b"x" * 40, b"\x12\x34", b"\x00" * 60),
    publish_bytes(0x36, b"a", b"\x00\x01", b"qos 3"),
    publish_bytes(0x32, b"a", b"\x00\x00", b"packet id 0"),
    publish_bytes(0x30, b"", b"", b"empty topic"),
    publish_bytes(0x30, b"a/+", b"", b"wildcard"),
    publish_bytes(0x30, b"a/\xff", b"", b"bad utf-8"),
    publish_bytes(0x30, b"a\x00", b"", b"nul"),
]


@pytest.mark.parametrize("raw", RAW_PUBLISHES, ids=[r.hex() for r in RAW_PUBLISHES])
def test_publish_parsing_matches_amqtt(raw):
    expected = asyncio.run(parse(raw))
    compat.install()
    try:
        got = asyncio.run(parse(raw))
    finally:
        compat.uninstall()
    assert got == expected


@pytest.mark.parametrize(
    "fields",
    [("a/b", b"x", None, False, 0, False), ("t", b"", 9, True, 1, True), ("t/" * 30, b"y" * 300, 65535, False, 2, False), ("t", b"x", None, False, 1, False)],
)
def test_publish_encoding_matches_amqtt(fields):
    topic, payload, packet_id, dup, qos, retain = fields
    expected = PublishPacket.build(topic, payload, packet_id, dup, qos, retain)
    expected_bytes = expected.to_bytes()
    compat.install()
    try:
        packet = PublishPacket.build(topic, payload, packet_id, dup, qos, retain)
        assert packet.to_bytes() == expected_bytes
        assert packet.fixed_header.remaining_length == expected.fixed_header.remaining_length
    finally:
        compat.uninstall()


# -- the patched broker, driven by paho-mqtt clients -------------------------------------------


@pytest.fixture
def patched_broker():
    """A patched amqtt broker on a free loopback port, in its own thread; always shut down."""
    assert compat.install()
    try:
        with serving_broker(
            lambda port: {
                "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
                "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
            }
        ) as served:
            yield served
    finally:
        compat.uninstall()


@contextlib.contextmanager
def serving_broker(config_for_port):
    """(port, broker) of an amqtt broker on a free loopback port, in its own thread; shut down on exit."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    started, stop = threading.Event(), threading.Event()
    holder = {}

    async def serve():
        broker = holder["broker"] = Broker(config_for_port(port))
        await broker.start()
        started.set()
        while not stop.is_set():
            await asyncio.sleep(0.02)
        await broker.shutdown()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    try:
        assert started.wait(TIMEOUT)
        yield port, holder["broker"]
    finally:
        stop.set()
        thread.join(TIMEOUT)


@pytest.mark.peer
def test_patched_broker_routes_paho_traffic(patched_broker):
    port, broker = patched_broker
    assert isinstance(broker._subscriptions, compat.SubscriptionIndex)
    received = {"plus": [], "hash": [], "idle": []}
    clients = []
    for name, topic_filter in (("plus", "r/+"), ("hash", "r/#"), ("idle", "other/+/x")):
        client = paho_client.Client(paho_client.CallbackAPIVersion.VERSION2, client_id=name)
        client.on_message = lambda c, u, m, name=name: received[name].append((m.topic, bytes(m.payload)))
        subscribed = threading.Event()
        client.on_subscribe = lambda *args, event=subscribed: event.set()
        client.connect("127.0.0.1", port, keepalive=30)
        client.loop_start()
        clients.append(client)
        client.subscribe(topic_filter, qos=2)
        assert subscribed.wait(TIMEOUT)
    publisher = paho_client.Client(paho_client.CallbackAPIVersion.VERSION2, client_id="pub")
    publisher.connect("127.0.0.1", port, keepalive=30)
    publisher.loop_start()
    clients.append(publisher)
    try:
        sent = [(f"r/{qos}" if i % 2 else f"r/{qos}/deep", bytes([qos, i]) * 50) for qos in (0, 1, 2) for i in range(10)]
        for i, (topic, payload) in enumerate(sent):
            publisher.publish(topic, payload, qos=i // 10).wait_for_publish(TIMEOUT)
        deadline = time.monotonic() + TIMEOUT
        while len(received["hash"]) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
        assert sorted(received["hash"]) == sorted(sent)
        assert sorted(received["plus"]) == sorted(m for m in sent if m[0].count("/") == 1)
        assert received["idle"] == []
    finally:
        for client in clients:
            client.disconnect()
            client.loop_stop()


@pytest.mark.peer
def test_patched_broker_keeps_each_clients_delivery_order(patched_broker):
    # QoS 0 deliveries are written without a task when nothing else is under way to the client.
    # All broadcasts are queued at once, so one batch handles them; every seventh goes to a QoS 1
    # subscription (amqtt's own task, not started yet when the next is handled): none may overtake.
    port, broker = patched_broker
    received = []
    subscriber = paho_client.Client(paho_client.CallbackAPIVersion.VERSION2, client_id="ordered")
    subscriber.on_message = lambda c, u, m: received.append(bytes(m.payload))
    subscribed = threading.Event()
    subscriber.on_subscribe = lambda *args: subscribed.set()
    subscriber.connect("127.0.0.1", port, keepalive=30)
    subscriber.loop_start()
    sent = [b"%d" % i for i in range(400)]

    async def broadcast_all():
        for i, payload in enumerate(sent):
            await broker.internal_message_broadcast("o/1" if i % 7 == 3 else "o/0", payload)

    try:
        subscriber.subscribe([("o/0", 0), ("o/1", 1)])
        assert subscribed.wait(TIMEOUT)
        asyncio.run_coroutine_threadsafe(broadcast_all(), broker._loop).result(TIMEOUT)
        deadline = time.monotonic() + TIMEOUT
        while len(received) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert received == sent
    finally:
        subscriber.disconnect()
        subscriber.loop_stop()


# -- incoming PUBLISH handled in the reader loop: amqtt's behaviour, event for event ---------------


class RecordingPlugin(BasePlugin):
    """Records the broker events a plugin sees about messages, in order."""

    events = []

    async def on_broker_message_received(self, *, client_id, message):
        self.events.append(("received", client_id, message.topic, bytes(message.data), message.qos))

    async def on_broker_message_broadcast(self, *, client_id, message):
        self.events.append(("broadcast", client_id, message.topic, bytes(message.data)))

    async def on_broker_retained_message(self, *, client_id, retained_message):
        self.events.append(("retained", client_id, retained_message.topic, bytes(retained_message.data)))


def broker_config(port):
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {
            # Named clients, not anonymous ones: amqtt keeps QoS 1 messages for offline sessions only then.
            "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": False},
            "amqtt.plugins.topic_checking.TopicTabooPlugin": {},  # refuses the topic "prohibited"
            f"{__name__}.RecordingPlugin": {},
        },
    }


class Peer:
    """A paho client that records what it receives and whether the broker closed its connection."""

    def __init__(self, port, client_id, clean_session=True):
        self.received = []
        self.closed = threading.Event()
        self.client = paho_client.Client(
            paho_client.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean_session
        )
        self.client.on_message = lambda c, u, m: self.received.append((m.topic, bytes(m.payload), m.qos, m.retain))
        self.client.on_disconnect = lambda *args: self.closed.set()
        self.acks = threading.Semaphore(0)
        self.client.on_subscribe = lambda *args: self.acks.release()
        self.published = []  # mids paho considers done: QoS 0 once sent, QoS 1 once acknowledged
        self.client.on_publish = lambda c, u, mid, *args: self.published.append(mid)
        self.client.username_pw_set(client_id)
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()

    def subscribe(self, *filters):
        self.client.subscribe([(f, 1) for f in filters])
        assert self.acks.acquire(timeout=TIMEOUT)

    def wait_for(self, count):
        deadline = time.monotonic() + TIMEOUT
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)  # and nothing more comes
        return self.received

    def stop(self):
        # Once paho has sent its DISCONNECT and closed the socket (stopping the loop earlier may
        # leave it open), so that the broker sees the connection end before it shuts down.
        if not self.closed.is_set():
            self.client.disconnect()
            self.closed.wait(TIMEOUT)
        self.client.loop_stop()


def run_message_scenario(patched):
    """One scenario against a fresh broker; everything clients and plugins saw."""
    if patched:
        assert compat.install()
    RecordingPlugin.events = []
    peers = []
    try:
        with serving_broker(broker_config) as (port, _):
            try:
                offline = Peer(port, "offline", clean_session=False)
                offline.subscribe("s/#")
                offline.stop()
                subscriber = Peer(port, "sub")
                peers.append(subscriber)
                subscriber.subscribe("s/#", "prohibited")
                publisher = Peer(port, "pub")
                peers.append(publisher)
                for i in range(5):  # one at a time: each finds the broker idle for this client
                    publisher.client.publish("s/idle", b"i%d" % i, qos=i % 2)
                    deadline = time.monotonic() + TIMEOUT
                    while len(subscriber.received) <= i and time.monotonic() < deadline:
                        time.sleep(0.005)
                # Subscribed and published at once: the SUBSCRIBE is handled first, so it gets its own message.
                publisher.client.subscribe("s/self", qos=0)
                publisher.client.publish("s/self", b"own", qos=0)
                for i in range(30):
                    publisher.client.publish(f"s/{i % 3}", b"m%d" % i, qos=i % 2)
                publisher.client.publish("prohibited", b"never", qos=1)
                publisher.client.publish("s/r", b"kept", qos=1, retain=True).wait_for_publish(TIMEOUT)
                seen = {"sub": subscriber.wait_for(37), "pub": publisher.wait_for(1)}  # not "prohibited"
                seen["acknowledged"] = sorted(publisher.published)
                late = Peer(port, "late")
                peers.append(late)
                late.subscribe("s/r")
                seen["late"] = late.wait_for(2)  # amqtt sends a retained message twice to a new subscription
                back = Peer(port, "offline", clean_session=False)
                peers.append(back)
                seen["offline"] = back.wait_for(39)
                bad = Peer(port, "bad")
                peers.append(bad)
                bad.client.publish("$bad/topic", b"x")
                seen["bad closed"] = bad.closed.wait(0.5)  # amqtt stops delivering to it but leaves it connected
                # The events of the publishers' handling, and those of the broadcast loop (messages kept
                # for an offline session), each in its order: how the two interleave is the event loop's
                # choice, patched or not.
                events = RecordingPlugin.events
                kept_for_offline = [event for event in events if event[0] == "retained" and event[1] is not None]
                seen["events"] = [event for event in events if event not in kept_for_offline]
                seen["retained"] = kept_for_offline
                return seen
            finally:
                for peer in peers:
                    peer.stop()
                time.sleep(0.1)  # the broker sees them go
    finally:
        compat.uninstall()


@pytest.mark.peer
def test_incoming_publishes_behave_as_unpatched_amqtt(monkeypatch):
    expected = run_message_scenario(patched=False)
    handled_by_amqtt = []
    original = Handler.handle_publish
    monkeypatch.setattr(Handler, "handle_publish", lambda self, packet: handled_by_amqtt.append(packet) or original(self, packet))
    got = run_message_scenario(patched=True)
    assert got == expected
    # The scenario means something: amqtt delivered, refused, retained and queued...
    assert ("s/self", b"own", 0, False) in got["pub"] and len(got["sub"]) == 37
    assert [m[:2] for m in got["late"]] == [("s/r", b"kept")] * 2 and len(got["offline"]) == 39
    assert ("retained", "offline", "s/1", b"m1") in got["retained"] and len(got["acknowledged"]) == 38
    assert ("received", "pub", "prohibited", b"never", 1) in got["events"]
    assert not any(event[0] == "broadcast" and event[2] == "prohibited" for event in got["events"])
    # ...and a publish finding the broker idle for its client takes the reader loop's own path
    # (the first may come before the broker's loop for the new client runs).
    assert sum(packet.topic_name == "s/idle" for packet in handled_by_amqtt) <= 1


@pytest.mark.peer
def test_a_replaced_mqtt_publish_is_called_for_every_delivery(patched_broker, monkeypatch):
    # QoS 0 deliveries skip amqtt's mqtt_publish only while it is the patched one: a subclass's or a
    # test's replacement is called, as amqtt calls it. The patched method still reads as a coroutine function.
    port, broker = patched_broker
    assert asyncio.iscoroutinefunction(Handler.mqtt_publish)
    calls = []
    patched_publish = Handler.mqtt_publish

    async def replacement(self, topic, data, qos, retain):
        calls.append((topic, bytes(data), qos))
        return await patched_publish(self, topic, data, qos, retain)

    monkeypatch.setattr(Handler, "mqtt_publish", replacement)
    subscriber = Peer(port, "replaced")
    try:
        subscriber.subscribe("q/#")
        for i in range(5):
            asyncio.run_coroutine_threadsafe(broker.internal_message_broadcast("q/0", b"%d" % i, 0), broker._loop).result(TIMEOUT)
        assert [payload for _, payload, _, _ in subscriber.wait_for(5)] == [b"%d" % i for i in range(5)]
        assert calls == [("q/0", b"%d" % i, 0) for i in range(5)]
    finally:
        subscriber.stop()
