"""paho-mqtt, a client nobody here wrote, against mqttfast on 127.0.0.1.

paho's packets must decode to what paho was asked to send and re-encode to
the very same bytes; packets mqttfast encodes must reach paho's callbacks
intact.
"""

import threading
import time

import pytest

from .helpers.peers import TIMEOUT, ScriptedServer

mqtt = pytest.importorskip("paho.mqtt.client")
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402
from paho.mqtt.subscribeoptions import SubscribeOptions  # noqa: E402

pytestmark = pytest.mark.peer

PAHO_PROTOCOL = {3: mqtt.MQTTv31, 4: mqtt.MQTTv311, 5: mqtt.MQTTv5}


def run_paho(api, version, script, *, connack=None, to_send=(), wait_messages=0, **client_options):
    """Connect a paho client to a ScriptedServer, run ``script(client)``, and return what both saw."""
    server = ScriptedServer(api, connack=connack, to_send=to_send)
    server.start()
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_options.pop("client_id", "paho-peer"),
        protocol=PAHO_PROTOCOL[version],
        **({} if version == 5 else {"clean_session": True}),
    )
    seen = {"connect": None, "subscribe": [], "messages": []}
    connected = threading.Event()
    messages = threading.Event()

    def on_connect(client, userdata, flags, reason_code, properties):
        seen["connect"] = (reason_code, properties)
        connected.set()

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        seen["subscribe"].append(reason_codes)

    def on_message(client, userdata, message):
        seen["messages"].append(message)
        if len(seen["messages"]) >= wait_messages:
            messages.set()

    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    prepare = client_options.pop("prepare", None)
    if prepare:
        prepare(client)
    try:
        client.connect("127.0.0.1", server.port, keepalive=30, **client_options)
        client.loop_start()
        assert connected.wait(TIMEOUT), "paho never saw the CONNACK"
        if wait_messages:
            assert messages.wait(TIMEOUT), "paho never received the PUBLISH"
        script(client, seen)
        client.disconnect()
    finally:
        client.loop_stop()
        server.close()
    assert server.error is None
    return server.received, seen


def check_byte_exact(api, received):
    for raw, packet, version in received:
        assert api.encode(packet, version) == raw, (packet, raw.hex(" "))


def wait(info):
    info.wait_for_publish(TIMEOUT)


def wait_until(predicate):
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        assert time.monotonic() < deadline, "paho never saw the acknowledgement"
        time.sleep(0.01)


@pytest.mark.parametrize("version", [3, 4, 5])
def test_paho_connect_with_will_and_credentials(api, version):
    def prepare(client):
        client.username_pw_set("alice", "s3cret")
        client.will_set("clients/paho/status", b"offline", qos=1, retain=True)

    received, _ = run_paho(api, version, lambda client, seen: None, prepare=prepare, client_id="paho-will")
    check_byte_exact(api, received)
    raw, connect, _ = received[0]
    assert type(connect) is api.Connect
    assert (connect.protocol_version, connect.client_id, connect.keep_alive) == (version, "paho-will", 30)
    assert connect.username == "alice" and connect.password == b"s3cret"
    assert connect.will.topic == "clients/paho/status" and connect.will.payload == b"offline"
    assert (connect.will.qos, connect.will.retain) == (1, True)
    assert type(received[-1][1]) is api.Disconnect


def test_paho_mqtt5_connect_properties(api):
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 3600
    properties.ReceiveMaximum = 20
    properties.UserProperty = [("app", "peer-test"), ("zone", "eu")]
    received, seen = run_paho(
        api,
        5,
        lambda client, seen: None,
        properties=properties,
        clean_start=False,
        connack=api.Connack(session_present=False, assigned_client_identifier="given", server_keep_alive=15),
    )
    check_byte_exact(api, received)
    connect = received[0][1]
    assert connect.clean_start is False
    assert (connect.session_expiry_interval, connect.receive_maximum) == (3600, 20)
    assert connect.user_properties == [("app", "peer-test"), ("zone", "eu")]
    reason_code, connack_properties = seen["connect"]
    assert reason_code == 0
    assert connack_properties.AssignedClientIdentifier == "given"
    assert connack_properties.ServerKeepAlive == 15


@pytest.mark.parametrize("version", [3, 4, 5])
def test_paho_publish_subscribe_unsubscribe(api, version):
    def script(client, seen):
        wait(client.publish("sensors/a", b"q0", qos=0))
        wait(client.publish("sensors/b", b"q1" * 50, qos=1, retain=True))
        wait(client.publish("sensors/c", bytes(range(256)) * 4, qos=2))
        client.subscribe([("sensors/+", 1), ("alerts/#", 2), ("exact/topic", 0)])
        wait_until(lambda: seen["subscribe"])
        client.unsubscribe(["sensors/+", "alerts/#"])

    received, seen = run_paho(api, version, script)
    check_byte_exact(api, received)
    packets = [packet for _, packet, _ in received]
    publishes = [p for p in packets if type(p) is api.Publish]
    assert [(p.topic, p.qos, p.retain) for p in publishes] == [("sensors/a", 0, False), ("sensors/b", 1, True), ("sensors/c", 2, False)]
    assert bytes(publishes[2].payload) == bytes(range(256)) * 4
    assert any(type(p) is api.Pubrel for p in packets)
    [subscribe] = [p for p in packets if type(p) is api.Subscribe]
    assert [(s.topic_filter, s.qos) for s in subscribe.subscriptions] == [("sensors/+", 1), ("alerts/#", 2), ("exact/topic", 0)]
    [unsubscribe] = [p for p in packets if type(p) is api.Unsubscribe]
    assert unsubscribe.topic_filters == ["sensors/+", "alerts/#"]
    assert [int(getattr(code, "value", code)) for code in seen["subscribe"][0]] == [1, 2, 0]


def test_paho_mqtt5_publish_properties_and_subscribe_options(api):
    def script(client, seen):
        properties = Properties(PacketTypes.PUBLISH)
        properties.PayloadFormatIndicator = 1
        properties.MessageExpiryInterval = 120
        properties.ContentType = "application/json"
        properties.ResponseTopic = "replies/paho"
        properties.CorrelationData = b"\x00\x01req-7"
        properties.UserProperty = [("trace", "4bf92f35"), ("trace", "second")]
        wait(client.publish("devices/1/state", b'{"on": true}', qos=1, properties=properties))
        options = SubscribeOptions(qos=2, noLocal=True, retainAsPublished=True, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB)
        subscribe_properties = Properties(PacketTypes.SUBSCRIBE)
        subscribe_properties.SubscriptionIdentifier = 42
        client.subscribe([("devices/+/state", options)], properties=subscribe_properties)
        wait_until(lambda: seen["subscribe"])

    received, _ = run_paho(api, 5, script)
    check_byte_exact(api, received)
    packets = [packet for _, packet, _ in received]
    [publish] = [p for p in packets if type(p) is api.Publish]
    assert publish.payload_format_indicator == 1 and publish.message_expiry_interval == 120
    assert publish.content_type == "application/json" and publish.response_topic == "replies/paho"
    assert publish.correlation_data == b"\x00\x01req-7"
    assert publish.user_properties == [("trace", "4bf92f35"), ("trace", "second")]
    [subscribe] = [p for p in packets if type(p) is api.Subscribe]
    assert subscribe.subscription_identifier == 42
    [subscription] = subscribe.subscriptions
    assert (subscription.qos, subscription.no_local, subscription.retain_as_published, subscription.retain_handling) == (
        2,
        True,
        True,
        1,
    )


@pytest.mark.parametrize("version", [4, 5])
def test_paho_receives_what_mqttfast_encodes(api, version):
    extra = {}
    if version == 5:
        extra = {"content_type": "text/plain", "user_properties": [("from", "mqttfast")], "message_expiry_interval": 60}
    to_send = [
        api.Publish(topic="news/today", payload=b"hello paho", **extra),
        api.Publish(topic="news/big", payload=b"z" * 70_000, retain=True),
    ]
    received, seen = run_paho(api, version, lambda client, seen: None, to_send=to_send, wait_messages=2)
    first, second = seen["messages"]
    assert (first.topic, first.payload, first.qos) == ("news/today", b"hello paho", 0)
    assert (second.topic, second.payload, second.retain) == ("news/big", b"z" * 70_000, True)
    if version == 5:
        assert first.properties.ContentType == "text/plain"
        assert first.properties.UserProperty == [("from", "mqttfast")]
        assert first.properties.MessageExpiryInterval == 60
