"""A real mosquitto broker and the mosquitto_pub/mosquitto_sub clients, on 127.0.0.1 only.

Broker-produced packets must decode and re-encode byte for byte; mosquitto's
clients' packets likewise; and messages must cross between mqttfast and
mosquitto both ways. The binaries come from Debian's mosquitto and
mosquitto-clients packages: without them these tests are skipped, or fail
when MQTTFAST_REQUIRE_PEERS is set (as .ci/run does).
"""

import subprocess
import time

import pytest
from .helpers.mosquitto import BINARIES, require_binaries, running_mosquitto
from .helpers.peers import TIMEOUT, RawClient, ScriptedServer

pytestmark = pytest.mark.peer

CLIENT_VERSION = {3: "mqttv31", 4: "mqttv311", 5: "mqttv5"}


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """A mosquitto broker on a free loopback port; always terminated."""
    yield from run_broker(tmp_path_factory)


def run_broker(tmp_path_factory, extra_config=""):
    """Start mosquitto on a free loopback port with ``extra_config``, yield the port, always terminate it."""
    require_binaries()
    with running_mosquitto(tmp_path_factory.mktemp("mosquitto"), extra_config) as port:
        yield port


def connect(api, port, version, client_id, **fields):
    client = RawClient(api, port, version)
    client.send(api.Connect(protocol_version=version, client_id=client_id, keep_alive=30, **fields))
    connack = client.receive(api.Connack)
    assert connack.reason_code == 0
    return client, connack


def assert_received_bytes_reencode(api, client):
    """Every packet the broker sent re-encodes to exactly the bytes it sent."""
    stream = client.raw
    version = client.version
    while stream:
        packet, nbytes = api.decode(stream, version)
        assert api.encode(packet, version) == stream[:nbytes], (packet, stream[:nbytes].hex(" "))
        stream = stream[nbytes:]


def run(*command):
    return subprocess.run(command, capture_output=True, timeout=3 * TIMEOUT, check=True)


@pytest.mark.parametrize("version", [3, 4, 5])
def test_broker_packets_round_trip(api, broker, version):
    client, _ = connect(api, broker, version, f"rt{version}{api.IMPLEMENTATION}")
    try:
        client.send(
            api.Subscribe(
                packet_id=1,
                subscriptions=[api.Subscription(topic_filter="rt/+", qos=1), api.Subscription(topic_filter="rt2/#", qos=2)],
            )
        )
        suback = client.receive(api.Suback)
        assert (suback.packet_id, suback.reason_codes) == (1, [1, 2])
        client.send(api.Publish(topic="rt/x", payload=b"loop", qos=1, packet_id=2))
        messages = [client.receive(), client.receive()]
        kinds = sorted(type(p).__name__ for p in messages)
        assert kinds == ["Puback", "Publish"]
        client.send(api.Pingreq())
        client.receive(api.Pingresp)
        client.send(api.Unsubscribe(packet_id=3, topic_filters=["rt/+"]))
        client.receive(api.Unsuback)
        assert_received_bytes_reencode(api, client)
    finally:
        client.close()


@pytest.mark.parametrize("version", [3, 4, 5])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_mosquitto_pub_to_mqttfast_subscriber(api, broker, version, qos):
    topic = f"pub/{version}/{qos}/{api.IMPLEMENTATION}"
    client, _ = connect(api, broker, version, f"s{version}{qos}{api.IMPLEMENTATION}")
    try:
        client.send(api.Subscribe(packet_id=5, subscriptions=[api.Subscription(topic_filter=topic, qos=2)]))
        client.receive(api.Suback)
        command = [BINARIES["mosquitto_pub"], "-h", "127.0.0.1", "-p", str(broker), "-V", CLIENT_VERSION[version]]
        command += ["-t", topic, "-m", f"from mosquitto_pub q{qos}", "-q", str(qos)]
        if version == 5:
            command += ["-D", "publish", "user-property", "origin", "mosquitto_pub"]
            command += ["-D", "publish", "content-type", "text/plain"]
            command += ["-D", "publish", "message-expiry-interval", "600"]
            command += ["-D", "publish", "correlation-data", "abc123"]
            command += ["-D", "publish", "response-topic", "answers/here"]
        run(*command)
        publish = client.receive(api.Publish)
        assert publish.topic == topic and bytes(publish.payload) == f"from mosquitto_pub q{qos}".encode()
        assert publish.qos == qos
        if version == 5:
            assert publish.user_properties == [("origin", "mosquitto_pub")]
            assert publish.content_type == "text/plain" and publish.response_topic == "answers/here"
            assert publish.correlation_data == b"abc123"
            assert 0 < publish.message_expiry_interval <= 600
        if qos == 1:
            client.send(api.Puback(packet_id=publish.packet_id))
        elif qos == 2:
            client.send(api.Pubrec(packet_id=publish.packet_id))
            assert client.receive(api.Pubrel).packet_id == publish.packet_id
            client.send(api.Pubcomp(packet_id=publish.packet_id))
        assert_received_bytes_reencode(api, client)
    finally:
        client.close()


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_mqttfast_publisher_to_mosquitto_sub(api, broker, version, qos):
    topic = f"sub/{version}/{qos}/{api.IMPLEMENTATION}"
    command = [BINARIES["mosquitto_sub"], "-h", "127.0.0.1", "-p", str(broker), "-V", CLIENT_VERSION[version]]
    command += ["-t", topic, "-q", "2", "-C", "1", "-W", "10", "-v"]
    if version == 5:
        command += ["-F", "%t %p %P"]  # topic, payload, user properties
    subscriber = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(0.3)  # let mosquitto_sub subscribe before we publish
        client, _ = connect(api, broker, version, f"p{version}{qos}{api.IMPLEMENTATION}")
        try:
            extra = {"user_properties": [("sender", "mqttfast")]} if version == 5 else {}
            client.send(
                api.Publish(topic=topic, payload=b"hello mosquitto", qos=qos, packet_id=7 if qos else None, **extra)
            )
            if qos == 1:
                client.receive(api.Puback)
            elif qos == 2:
                client.receive(api.Pubrec)
                client.send(api.Pubrel(packet_id=7))
                client.receive(api.Pubcomp)
        finally:
            client.close()
        out, err = subscriber.communicate(timeout=3 * TIMEOUT)
    finally:
        if subscriber.poll() is None:
            subscriber.kill()
            subscriber.wait()
    line = out.decode().strip()
    assert line.startswith(f"{topic} hello mosquitto"), (line, err)
    if version == 5:
        assert "sender:mqttfast" in line


@pytest.mark.parametrize("version", [3, 4, 5])
def test_mosquitto_clients_packets_round_trip(api, version):
    """mosquitto_pub and mosquitto_sub talking to a scripted mqttfast server."""
    require_binaries()
    captured = []
    for tool, arguments in (
        ("mosquitto_pub", ["-t", "cap/pub", "-m", "captured", "-q", "2", "-r", "-u", "bob", "-P", "pw"]),
        ("mosquitto_sub", ["-t", "cap/+/x", "-t", "cap/#", "-q", "1", "-C", "1", "-W", "5"]),
    ):
        to_send = [api.Publish(topic="cap/a/x", payload=b"for mosquitto_sub")] if tool == "mosquitto_sub" else []
        server = ScriptedServer(api, to_send=[])
        server.to_send = to_send
        server.start()
        try:
            command = [BINARIES[tool], "-h", "127.0.0.1", "-p", str(server.port), "-V", CLIENT_VERSION[version]]
            command += ["-i", f"cap-{tool}-{version}", "--will-topic", "cap/will", "--will-payload", "gone"]
            if version == 5:
                command += ["-D", "connect", "session-expiry-interval", "30"]
            result = subprocess.run(command + arguments, capture_output=True, timeout=3 * TIMEOUT)
        finally:
            server.close()
        assert server.error is None
        if tool == "mosquitto_sub":
            assert result.stdout.decode().strip() == "for mosquitto_sub"
        captured += server.received
    kinds = [type(packet).__name__ for _, packet, _ in captured]
    assert kinds.count("Connect") == 2 and "Subscribe" in kinds and "Publish" in kinds and "Pubrel" in kinds
    for raw, packet, packet_version in captured:
        assert api.encode(packet, packet_version) == raw, (packet, raw.hex(" "))
        if type(packet) is api.Connect:
            assert packet.protocol_version == version
            assert packet.will.topic == "cap/will" and packet.will.payload == b"gone"
            if version == 5:
                assert packet.session_expiry_interval == 30
        if type(packet) is api.Publish:
            assert (packet.topic, bytes(packet.payload), packet.qos, packet.retain) == ("cap/pub", b"captured", 2, True)
            connect = captured[0][1]
            assert connect.username == "bob" and connect.password == b"pw"
        if type(packet) is api.Subscribe:
            assert [(s.topic_filter, s.qos) for s in packet.subscriptions] == [("cap/+/x", 1), ("cap/#", 1)]
