"""mqttfast.compat.amqtt: amqtt patched behaves as amqtt, only faster.

The subscription index is checked against amqtt's own ``Broker._matches`` on
random filters and topics, the PUBLISH codec against amqtt's own parser and
encoder on valid and malformed packets, and the patched broker end to end with
paho-mqtt clients.
"""

import asyncio
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
from mqttfast.compat import CompatibilityWarning  # noqa: E402
from mqttfast.compat import amqtt as compat  # noqa: E402

from .helpers.peers import TIMEOUT  # noqa: E402

Broker = amqtt.broker.Broker
Handler = amqtt.broker.BrokerProtocolHandler
PublishPacket = amqtt.mqtt.publish.PublishPacket


def current():
    return (Broker.__init__, Broker._run_broadcast, Handler.mqtt_publish, PublishPacket.from_stream, PublishPacket.to_bytes)


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
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }
    started, stop = threading.Event(), threading.Event()
    holder = {}

    async def serve():
        broker = holder["broker"] = Broker(config)
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
        compat.uninstall()


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
