"""mqttfast.broker against clients nobody here wrote: mosquitto_pub/sub, paho-mqtt, aiomqtt, gmqtt, amqtt.

Each test runs an in-process broker on a free loopback port (tests/helpers/broker.py)
and fails if the broker logged an error or a traceback. Every wait is bounded.
"""

import asyncio
import queue
import shutil
import socket
import ssl
import subprocess
import time

import aiomqtt
import gmqtt
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from mqttfast.broker import Broker

from .helpers.broker import connect_raw, read_until_closed, running_broker
from .helpers.mosquitto import BINARIES, require_binaries, wait_until_listening
from .helpers.peers import TIMEOUT

pytestmark = pytest.mark.peer

#: How long a test waits to be sure that something does not arrive.
QUIET = 0.6


@pytest.fixture
def broker():
    with running_broker() as running:
        yield running


def subscribed(running, client_id, topic_filter):
    """Wait until the broker holds ``client_id``'s subscription to ``topic_filter``."""
    assert running.wait_for(lambda: topic_filter in running.broker._subscriptions.get(client_id, {})), (
        f"{client_id} never subscribed to {topic_filter}"
    )


# ---- paho-mqtt -------------------------------------------------------------------------------------


class Paho:
    """A paho-mqtt client on its own network thread, with queues for what it receives."""

    def __init__(self, port, client_id, version=5, *, clean=True, keepalive=60, will=None, properties=None):
        self.port = port
        self.version = version
        self.clean = clean
        self.keepalive = keepalive
        self.properties = properties
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5 if version == 5 else mqtt.MQTTv311,
            clean_session=None if version == 5 else clean,
            reconnect_on_failure=False,
        )
        if will is not None:
            self.client.will_set(**will)
        self.messages = queue.Queue()
        self.connacks = queue.Queue()
        self.disconnects = queue.Queue()
        self.subacks = queue.Queue()
        self.acks = queue.Queue()
        self.client.on_message = lambda client, userdata, message: self.messages.put(message)
        self.client.on_connect = lambda client, userdata, flags, code, props: self.connacks.put((flags, code, props))
        self.client.on_disconnect = lambda client, userdata, flags, code, props: self.disconnects.put(code)
        self.client.on_subscribe = lambda client, userdata, mid, codes, props: self.subacks.put(codes)
        self.client.on_publish = lambda client, userdata, mid, code, props: self.acks.put((mid, code))

    def connect(self):
        kwargs = {"clean_start": self.clean, "properties": self.properties} if self.version == 5 else {}
        self.client.connect("127.0.0.1", self.port, self.keepalive, **kwargs)
        self.client.loop_start()
        flags, code, props = self.connacks.get(timeout=TIMEOUT)
        assert not code.is_failure, code
        return flags, props

    def subscribe(self, topic_filter, qos=0, identifier=None, **options):
        if self.version == 5:
            props = None
            if identifier is not None:
                props = Properties(PacketTypes.SUBSCRIBE)
                props.SubscriptionIdentifier = identifier
            self.client.subscribe(topic_filter, options=SubscribeOptions(qos=qos, **options), properties=props)
        else:
            self.client.subscribe(topic_filter, qos)
        return self.subacks.get(timeout=TIMEOUT)

    def publish(self, topic, payload, qos=0, retain=False, properties=None):
        info = self.client.publish(topic, payload, qos, retain, properties)
        info.wait_for_publish(TIMEOUT)
        assert info.is_published()
        return info

    def received(self, count=1):
        return [self.messages.get(timeout=TIMEOUT) for _ in range(count)]

    def nothing(self, wait=QUIET):
        try:
            message = self.messages.get(timeout=wait)
        except queue.Empty:
            return True
        pytest.fail(f"unexpected message on {message.topic}: {message.payload!r}")

    def drop(self):
        """Close the socket without a DISCONNECT, as a crashing client would."""
        self.client.loop_stop()
        sock = self.client.socket()
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def disconnect(self, **kwargs):
        self.client.disconnect(**kwargs)
        self.client.loop_stop()


@pytest.fixture
def paho(broker):
    made = []

    def make(client_id, version=5, connect=True, **kwargs):
        client = Paho(broker.port, client_id, version, **kwargs)
        made.append(client)
        if connect:
            client.connect()
        return client

    yield make
    for client in made:
        try:
            client.client.disconnect()  # first, so that the network thread ends at once
        except Exception:
            pass
        client.client.loop_stop()


def props(packet_type=PacketTypes.PUBLISH, **values):
    properties = Properties(packet_type)
    for name, value in values.items():
        setattr(properties, name, value)
    return properties


# ---- mosquitto_pub / mosquitto_sub -----------------------------------------------------------------


@pytest.mark.parametrize("version", ["mqttv31", "mqttv311", "mqttv5"])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_mosquitto_clients_round_trip(broker, version, qos):
    require_binaries("mosquitto_pub", "mosquitto_sub")
    common = ["-h", "127.0.0.1", "-p", str(broker.port), "-V", version, "-q", str(qos)]
    sub = subprocess.Popen(
        [BINARIES["mosquitto_sub"], *common, "-i", "msub", "-t", "m/#", "-C", "2", "-v", "-W", "10"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        subscribed(broker, "msub", "m/#")
        for payload in ("one", "two"):
            subprocess.run(
                [BINARIES["mosquitto_pub"], *common, "-i", "mpub", "-t", f"m/{qos}", "-m", payload],
                check=True,
                timeout=TIMEOUT,
            )
        out, err = sub.communicate(timeout=TIMEOUT)
    finally:
        sub.kill()
        sub.wait()
    assert sub.returncode == 0, err
    assert out.decode().splitlines() == [f"m/{qos} one", f"m/{qos} two"]


@pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])
def test_mosquitto_retained_set_and_clear(broker, version):
    require_binaries("mosquitto_pub", "mosquitto_sub")
    common = ["-h", "127.0.0.1", "-p", str(broker.port), "-V", version]
    pub = [BINARIES["mosquitto_pub"], *common, "-r", "-q", "1"]
    subprocess.run([*pub, "-t", "kept/a", "-m", "A"], check=True, timeout=TIMEOUT)
    subprocess.run([*pub, "-t", "kept/b", "-m", "B"], check=True, timeout=TIMEOUT)
    subprocess.run([*pub, "-t", "kept/a", "-n"], check=True, timeout=TIMEOUT)
    # --retained-only: print the retained messages, stop at the first live one (or after -W).
    out = subprocess.run(
        [BINARIES["mosquitto_sub"], *common, "-t", "kept/#", "-v", "--retained-only", "-W", "1"],
        capture_output=True,
        timeout=TIMEOUT,
    ).stdout
    assert out.decode().splitlines() == ["kept/b B"]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 (its own CA): (certificate file, key file)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl is needed to make a test certificate")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=TIMEOUT,
    )
    return cert, key


@pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])
def test_mosquitto_clients_over_tls(certificate, version):
    require_binaries("mosquitto_pub", "mosquitto_sub")
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with running_broker(server_options={"tls_port": 0, "ssl_context": context}) as running:
        tls_port = running.ports[1]
        common = ["-h", "127.0.0.1", "-p", str(tls_port), "-V", version, "-q", "1", "--cafile", str(cert)]
        sub = subprocess.Popen(
            [BINARIES["mosquitto_sub"], *common, "-i", "tsub", "-t", "tls/t", "-C", "1", "-W", "10"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            subscribed(running, "tsub", "tls/t")
            subprocess.run([BINARIES["mosquitto_pub"], *common, "-t", "tls/t", "-m", "secret"], check=True, timeout=TIMEOUT)
            out, err = sub.communicate(timeout=TIMEOUT)
        finally:
            sub.kill()
            sub.wait()
    assert (sub.returncode, out) == (0, b"secret\n"), err


# ---- paho: QoS both ways, both versions ------------------------------------------------------------


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_paho_qos_both_ways(paho, version, qos):
    a = paho("a", version)
    b = paho("b", version)
    assert list(a.subscribe("to/a", qos))[0] == qos
    assert list(b.subscribe("to/b", qos))[0] == qos
    a.publish("to/b", b"from a", qos)
    b.publish("to/a", b"from b", qos)
    (at_b,) = b.received()
    (at_a,) = a.received()
    assert (at_b.topic, at_b.payload, at_b.qos) == ("to/b", b"from a", qos)
    assert (at_a.topic, at_a.payload, at_a.qos) == ("to/a", b"from b", qos)


def test_paho_qos_downgraded_to_the_subscription(paho):
    sub = paho("sub")
    sub.subscribe("down/t", 1)
    pub = paho("pub")
    pub.publish("down/t", b"x", 2)
    pub.publish("down/t", b"y", 0)
    assert [(m.payload, m.qos) for m in sub.received(2)] == [(b"x", 1), (b"y", 0)]


# ---- retained ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [4, 5])
def test_retained_set_clear_and_wildcard_retrieval(paho, version):
    pub = paho("pub", version)
    pub.publish("r/a", b"A", 1, retain=True)
    pub.publish("r/b/c", b"C", 1, retain=True)
    pub.publish("other", b"O", 1, retain=True)
    sub = paho("sub", version)
    sub.subscribe("r/#", 1)
    got = sorted((m.topic, m.payload, m.retain) for m in sub.received(2))
    assert got == [("r/a", b"A", True), ("r/b/c", b"C", True)]
    sub.nothing()
    pub.publish("r/a", b"", 1, retain=True)  # clears, and is forwarded
    (cleared,) = sub.received()
    assert cleared.payload == b""
    late = paho("late", version)
    late.subscribe("r/+", 1)
    late.nothing()
    late.subscribe("r/+/+", 1)
    (only,) = late.received()
    assert (only.topic, only.payload) == ("r/b/c", b"C")


def test_retain_flag_cleared_on_live_forward_at_3_1_1(paho):
    sub = paho("sub", 4)
    sub.subscribe("live/t", 1)
    pub = paho("pub", 4)
    pub.publish("live/t", b"x", 1, retain=True)
    (message,) = sub.received()
    assert message.retain is False


def test_retain_as_published_at_5(paho):
    keep = paho("keep")
    keep.subscribe("rap/t", 1, retainAsPublished=True)
    clear = paho("clear")
    clear.subscribe("rap/t", 1, retainAsPublished=False)
    pub = paho("pub")
    pub.publish("rap/t", b"x", 1, retain=True)
    assert keep.received()[0].retain is True
    assert clear.received()[0].retain is False


@pytest.mark.parametrize(("handling", "first", "again"), [(0, 1, 1), (1, 1, 0), (2, 0, 0)])
def test_retain_handling(paho, handling, first, again):
    pub = paho("pub")
    pub.publish("rh/t", b"kept", 1, retain=True)
    sub = paho("sub")
    sub.subscribe("rh/t", 1, retainHandling=handling)
    assert len(drain(sub)) == first
    sub.subscribe("rh/t", 1, retainHandling=handling)
    assert len(drain(sub)) == again


def drain(client, wait=QUIET):
    out = []
    while True:
        try:
            out.append(client.messages.get(timeout=wait))
        except queue.Empty:
            return out


# ---- will -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize(("leave", "fires"), [("drop", True), ("disconnect", False)])
def test_will_fires_on_abrupt_close_only(paho, version, leave, fires):
    watcher = paho("watcher", version)
    watcher.subscribe("will/t", 1)
    leaving = paho("leaving", version, will={"topic": "will/t", "payload": b"gone", "qos": 1})
    getattr(leaving, leave)()  # a closed socket, or DISCONNECT 0x00 first
    if fires:
        (will,) = watcher.received()
        assert (will.topic, will.payload) == ("will/t", b"gone")
    else:
        watcher.nothing()


def watched_delayed_will(paho):
    """A watcher of will/t, and a connected client whose will there has a 1 s delay (session kept 60 s)."""
    watcher = paho("watcher")
    watcher.subscribe("will/t", 1)
    will = {"topic": "will/t", "payload": b"late", "qos": 1, "properties": props(PacketTypes.WILLMESSAGE, WillDelayInterval=1)}
    return watcher, paho("delayed", will=will, clean=False, properties=props(PacketTypes.CONNECT, SessionExpiryInterval=60))


def test_will_delay_cancelled_by_a_reconnect(paho):
    watcher, first = watched_delayed_will(paho)
    first.drop()
    session = props(PacketTypes.CONNECT, SessionExpiryInterval=60)
    again = paho("delayed", clean=False, properties=session)
    watcher.nothing(2.0)
    again.drop()
    # No will on the second connection: nothing fires after its own close either.
    watcher.nothing(1.5)


def test_will_delay_elapses(paho):
    watcher, dying = watched_delayed_will(paho)
    started = time.monotonic()
    dying.drop()
    (message,) = watcher.received()
    assert message.payload == b"late"
    assert time.monotonic() - started >= 0.9


def test_will_fires_when_the_session_ends_before_the_delay(paho):
    watcher = paho("watcher")
    watcher.subscribe("will/t", 1)
    will = {"topic": "will/t", "payload": b"session over", "qos": 1, "properties": props(PacketTypes.WILLMESSAGE, WillDelayInterval=30)}
    dying = paho("brief", will=will, clean=False, properties=props(PacketTypes.CONNECT, SessionExpiryInterval=1))
    started = time.monotonic()
    dying.drop()
    (message,) = watcher.received()
    assert message.payload == b"session over"
    assert time.monotonic() - started < 3


# ---- shared, overlapping, No Local --------------------------------------------------------------------


def test_shared_subscription_one_member_per_message(paho):
    members = [paho(f"member{i}") for i in range(2)]
    for member in members:
        member.subscribe("$share/g/shared/t", 1)
    pub = paho("pub")
    for i in range(20):
        pub.publish("shared/t", str(i).encode(), 1)
    time.sleep(QUIET)
    got = [[m.payload for m in drain(member, 0.05)] for member in members]
    assert sorted(int(p) for p in got[0] + got[1]) == list(range(20))
    assert got[0] and got[1]


def test_overlapping_subscriptions_one_copy_with_both_identifiers(paho):
    sub = paho("sub")
    sub.subscribe("o/+", 1, identifier=1)
    sub.subscribe("o/#", 2, identifier=2)
    pub = paho("pub")
    pub.publish("o/x", b"x", 2)
    (message,) = sub.received()
    sub.nothing()
    assert message.qos == 2
    assert sorted(message.properties.SubscriptionIdentifier) == [1, 2]


def test_overlapping_subscriptions_at_3_1_1_one_copy_at_the_top_qos(paho):
    sub = paho("sub", 4)
    sub.subscribe("o/+", 0)
    sub.subscribe("o/#", 1)
    pub = paho("pub", 4)
    pub.publish("o/x", b"x", 1)
    (message,) = sub.received()
    sub.nothing()
    assert message.qos == 1


def test_no_local(paho):
    me = paho("me")
    me.subscribe("nl/t", 1, noLocal=True)
    other = paho("other")
    me.publish("nl/t", b"mine", 1)
    other.publish("nl/t", b"theirs", 1)
    assert [m.payload for m in me.received()] == [b"theirs"]
    me.nothing()


# ---- topic aliases ------------------------------------------------------------------------------------


def test_topic_alias_client_to_broker(paho):
    sub = paho("sub")
    sub.subscribe("alias/t", 1)
    pub = paho("pub")
    pub.publish("alias/t", b"first", 1, properties=props(TopicAlias=1))
    pub.publish("", b"second", 1, properties=props(TopicAlias=1))
    assert [(m.topic, m.payload) for m in sub.received(2)] == [("alias/t", b"first"), ("alias/t", b"second")]


def test_topic_alias_broker_to_client(broker, paho):
    sub = paho("sub", properties=props(PacketTypes.CONNECT, TopicAliasMaximum=4))
    sub.subscribe("ba/#", 1)
    pub = paho("pub")
    for i in range(3):
        pub.publish("ba/topic", str(i).encode(), 1)
    got = sub.received(3)
    # paho 2.2 hands inbound aliases to the application unresolved: the topic comes once, then only its alias.
    assert [(m.topic, m.payload) for m in got] == [("ba/topic", b"0"), ("", b"1"), ("", b"2")]
    assert all(m.properties.TopicAlias == 1 for m in got)


def test_no_topic_alias_toward_a_client_that_allows_none(paho):
    sub = paho("sub")
    sub.subscribe("ba/#", 1)
    pub = paho("pub")
    for i in range(2):
        pub.publish("ba/topic", str(i).encode(), 1)
    assert all(not hasattr(m.properties, "TopicAlias") for m in sub.received(2))


# ---- sessions -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [4, 5])
def test_session_resume_delivers_offline_messages(paho, version):
    session = props(PacketTypes.CONNECT, SessionExpiryInterval=60) if version == 5 else None
    away = paho("away", version, clean=False, properties=session)
    away.subscribe("offline/t", 1)
    away.disconnect()
    pub = paho("pub", version)
    for i in range(3):
        pub.publish("offline/t", str(i).encode(), 1)
    back = paho("away", version, connect=False, clean=False, properties=session)
    flags, _ = back.connect()
    assert flags.session_present is True
    assert [m.payload for m in back.received(3)] == [b"0", b"1", b"2"]


def test_clean_start_discards_the_session(paho):
    session = props(PacketTypes.CONNECT, SessionExpiryInterval=60)
    away = paho("away", clean=False, properties=session)
    away.subscribe("offline/t", 1)
    away.disconnect()
    paho("pub").publish("offline/t", b"x", 1)
    back = paho("away", connect=False, clean=True)
    flags, _ = back.connect()
    assert flags.session_present is False
    back.nothing()


def test_takeover_sends_0x8e_to_the_first(paho):
    first = paho("same")
    second = paho("same")
    code = first.disconnects.get(timeout=TIMEOUT)
    assert code.value == 0x8E
    second.subscribe("still/here", 0)
    second.publish("still/here", b"ok")
    assert second.received()[0].payload == b"ok"


def test_offline_message_expires(paho):
    session = props(PacketTypes.CONNECT, SessionExpiryInterval=60)
    away = paho("away", clean=False, properties=session)
    away.subscribe("exp/t", 1)
    away.disconnect()
    pub = paho("pub")
    pub.publish("exp/t", b"short", 1, properties=props(MessageExpiryInterval=1))
    pub.publish("exp/t", b"long", 1, properties=props(MessageExpiryInterval=60))
    time.sleep(2)
    back = paho("away", connect=False, clean=False, properties=session)
    back.connect()
    (message,) = back.received()
    back.nothing()
    assert message.payload == b"long"
    # The remaining lifetime is forwarded [MQTT-3.3.2-6].
    assert 55 <= message.properties.MessageExpiryInterval <= 58


def test_keep_alive_timeout_closes_and_fires_the_will(broker, paho):
    import mqttfast

    watcher = paho("watcher")
    watcher.subscribe("ka/will", 1)
    sock = connect_raw(broker.port)
    will = mqttfast.Will(topic="ka/will", payload=b"silent", qos=1)
    sock.sendall(mqttfast.encode(mqttfast.Connect(protocol_version=5, client_id="silent", keep_alive=1, will=will), 5))
    assert sock.recv(2)[:1] == b"\x20"
    started = time.monotonic()
    (message,) = watcher.received()
    elapsed = time.monotonic() - started
    assert message.payload == b"silent"
    # 1.5 x keep alive, checked by a 0.5 s ticker.
    assert 1.3 <= elapsed <= 2.5
    read_until_closed(sock)
    sock.close()


@pytest.mark.parametrize(("asked", "told"), [(2, None), (60, None), (100, 60), (0, 60)])
def test_server_keep_alive_is_a_ceiling(asked, told):
    with running_broker(server_keep_alive=60) as running:
        client = Paho(running.port, "ka", keepalive=asked)
        _, properties = client.connect()
        client.disconnect()
    assert getattr(properties, "ServerKeepAlive", None) == told


@pytest.mark.parametrize("version", [4, 5])
def test_keep_alive_under_the_ceiling_is_kept(version):
    import mqttfast

    with running_broker(server_keep_alive=60) as running:
        sock = connect_raw(running.port)
        sock.sendall(mqttfast.encode(mqttfast.Connect(protocol_version=version, client_id="short", keep_alive=1), version))
        started = time.monotonic()
        read_until_closed(sock)
        sock.close()
    assert time.monotonic() - started <= 2.5


# ---- aiomqtt, gmqtt, amqtt --------------------------------------------------------------------------


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, TIMEOUT * 2))


@pytest.mark.parametrize("version", [4, 5])
def test_aiomqtt_qos_round_trips(broker, version):
    protocol = aiomqtt.ProtocolVersion.V5 if version == 5 else aiomqtt.ProtocolVersion.V311

    async def main():
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier="aio", protocol=protocol) as client:
            await client.subscribe("aio/#", qos=2)
            for qos in (0, 1, 2):
                await client.publish(f"aio/{qos}", f"q{qos}".encode(), qos=qos, retain=qos == 2)
            got = []
            async for message in client.messages:
                got.append((str(message.topic), message.payload, message.qos))
                if len(got) == 3:
                    break
        return got

    assert run(main()) == [("aio/0", b"q0", 0), ("aio/1", b"q1", 1), ("aio/2", b"q2", 2)]


@pytest.mark.parametrize("version", [4, 5])
def test_gmqtt_qos_round_trips(broker, version):
    from gmqtt.mqtt.constants import MQTTv50, MQTTv311

    async def main():
        got = asyncio.Queue()
        client = gmqtt.Client("gm")
        client.on_message = lambda client, topic, payload, qos, properties: got.put_nowait((topic, payload, qos))
        await client.connect("127.0.0.1", broker.port, version=MQTTv50 if version == 5 else MQTTv311)
        client.subscribe("gm/#", qos=2)
        await asyncio.sleep(0.2)
        for qos in (0, 1, 2):
            client.publish(f"gm/{qos}", f"q{qos}".encode(), qos=qos)
        out = [await got.get() for _ in range(3)]
        await client.disconnect()
        return out

    assert sorted(run(main())) == [("gm/0", b"q0", 0), ("gm/1", b"q1", 1), ("gm/2", b"q2", 2)]


def test_amqtt_client_qos_round_trips(broker):
    from amqtt.client import MQTTClient

    async def main():
        client = MQTTClient(client_id="am")
        await client.connect(f"mqtt://127.0.0.1:{broker.port}/")
        await client.subscribe([("am/#", 2)])
        out = []
        for qos in (0, 1, 2):
            await client.publish(f"am/{qos}", f"q{qos}".encode(), qos=qos)
            message = await client.deliver_message(timeout_duration=TIMEOUT)
            out.append((message.topic, bytes(message.data), message.qos))
        await client.disconnect()
        return out

    assert run(main()) == [("am/0", b"q0", 0), ("am/1", b"q1", 1), ("am/2", b"q2", 2)]


def test_broker_subclass_refuses_a_subscription(paho):
    # Not a peer question, but the interoperability profile needs it: a refused filter gets 0x80/0x87.
    class Refusing(Broker):
        def authorize_subscribe(self, client, subscription):
            return 0x87 if subscription.topic_filter == "test/nosubscribe" else int(subscription.qos)

    with running_broker(Refusing()) as running:
        client = Paho(running.port, "refused")
        client.connect()
        try:
            (code,) = client.subscribe("test/nosubscribe", 1)
            assert code.value == 0x87
        finally:
            client.disconnect()


# ---- more routing rules -------------------------------------------------------------------------------


def test_leading_wildcards_do_not_match_dollar_topics(paho):
    sub = paho("sub")
    sub.subscribe("#", 1)
    sub.subscribe("+/x", 1)
    pub = paho("pub")
    pub.publish("$app/x", b"hidden", 1)
    pub.publish("app/x", b"seen", 1)
    assert [m.payload for m in sub.received()] == [b"seen"]
    sub.nothing()


def test_unsubscribe_stops_delivery(paho):
    sub = paho("sub")
    sub.subscribe("u/t", 1)
    sub.client.unsubscribe("u/t")
    pub = paho("pub")
    time.sleep(0.2)
    pub.publish("u/t", b"x", 1)
    sub.nothing()


def test_retained_message_expires_in_the_store(paho):
    pub = paho("pub")
    pub.publish("re/t", b"brief", 1, retain=True, properties=props(MessageExpiryInterval=1))
    time.sleep(1.6)
    sub = paho("sub")
    sub.subscribe("re/t", 1)
    sub.nothing()


def test_retained_on_subscribe_at_the_granted_qos_with_the_identifier(paho):
    pub = paho("pub")
    pub.publish("rq/t", b"kept", 2, retain=True)
    sub = paho("sub")
    sub.subscribe("rq/#", 1, identifier=7)
    (message,) = sub.received()
    assert (message.qos, message.retain, message.properties.SubscriptionIdentifier) == (1, True, [7])


def test_takeover_with_a_kept_session_keeps_the_subscriptions(paho):
    session = props(PacketTypes.CONNECT, SessionExpiryInterval=60)
    first = paho("same", clean=False, properties=session)
    first.subscribe("kept/t", 1)
    second = paho("same", connect=False, clean=False, properties=session)
    flags, _ = second.connect()
    assert flags.session_present is True
    paho("pub").publish("kept/t", b"x", 1)
    assert [m.payload for m in second.received()] == [b"x"]


def test_shared_group_member_leaves_the_other_gets_everything(paho):
    stays = paho("stays")
    stays.subscribe("$share/g/sg/t", 1)
    leaves = paho("leaves")
    leaves.subscribe("$share/g/sg/t", 1)
    leaves.disconnect()
    pub = paho("pub")
    for i in range(6):
        pub.publish("sg/t", str(i).encode(), 1)
    assert [m.payload for m in stays.received(6)] == [str(i).encode() for i in range(6)]


def test_no_packet_over_the_client_maximum_packet_size(paho):
    small = paho("small", properties=props(PacketTypes.CONNECT, MaximumPacketSize=64))
    small.subscribe("big/#", 1)
    pub = paho("pub")
    pub.publish("big/t", b"x" * 200, 1)
    pub.publish("big/t", b"fits", 1)
    assert [m.payload for m in small.received()] == [b"fits"]
    small.nothing()


def test_client_receive_maximum_is_respected_and_all_arrive(paho):
    slow = paho("slow", properties=props(PacketTypes.CONNECT, ReceiveMaximum=1))
    slow.subscribe("rm/t", 2)
    pub = paho("pub")
    for i in range(10):
        pub.publish("rm/t", str(i).encode(), 2)
    assert [m.payload for m in slow.received(10)] == [str(i).encode() for i in range(10)]


def test_gmqtt_resolves_the_broker_topic_aliases(broker):
    from gmqtt.mqtt.constants import MQTTv50

    async def main():
        got = asyncio.Queue()
        client = gmqtt.Client("gma", topic_alias_maximum=4)
        client.on_message = lambda client, topic, payload, qos, properties: got.put_nowait((topic, payload, properties))
        await client.connect("127.0.0.1", broker.port, version=MQTTv50)
        client.subscribe("gma/#", qos=1)
        await asyncio.sleep(0.2)
        for i in range(3):
            client.publish("gma/topic", str(i).encode(), qos=1)
        out = [await got.get() for _ in range(3)]
        await client.disconnect()
        return out

    got = run(main())
    assert [(topic, payload) for topic, payload, _ in got] == [("gma/topic", str(i).encode()) for i in range(3)]
    assert all(properties.get("topic_alias") == [1] for _, _, properties in got)


def test_retained_will_is_kept(paho):
    watcher = paho("watcher")
    watcher.subscribe("rw/t", 1)
    dying = paho("dying", will={"topic": "rw/t", "payload": b"last words", "qos": 1, "retain": True})
    dying.drop()
    assert watcher.received()[0].payload == b"last words"
    late = paho("late")
    late.subscribe("rw/t", 1)
    (kept,) = late.received()
    assert (kept.payload, kept.retain) == (b"last words", True)


def test_disconnect_with_will_message_fires_the_will(paho):
    watcher = paho("watcher")
    watcher.subscribe("dw/t", 1)
    leaving = paho("leaving", will={"topic": "dw/t", "payload": b"asked for", "qos": 1})
    leaving.disconnect(reasoncode=mqtt.ReasonCode(PacketTypes.DISCONNECT, identifier=0x04))
    assert [m.payload for m in watcher.received()] == [b"asked for"]


def test_session_expires(paho):
    away = paho("away", clean=False, properties=props(PacketTypes.CONNECT, SessionExpiryInterval=1))
    away.subscribe("se/t", 1)
    away.disconnect()
    time.sleep(1.8)
    back = paho("away", connect=False, clean=False, properties=props(PacketTypes.CONNECT, SessionExpiryInterval=1))
    flags, _ = back.connect()
    assert flags.session_present is False


def test_command_line_broker_serves_and_stops_cleanly(tmp_path):
    require_binaries("mosquitto_pub", "mosquitto_sub")
    import signal
    import sys

    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    profile = ["--server-keep-alive", "60", "--topic-alias-maximum", "2", "--maximum-packet-size", "256", "--receive-maximum", "2"]
    process = subprocess.Popen(
        [sys.executable, "-m", "mqttfast.broker", "--port", str(port), *profile],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_listening(port, process, "python -m mqttfast.broker")
        common = ["-h", "127.0.0.1", "-p", str(port), "-V", "mqttv5", "-q", "2"]
        # Retained, so that the subscriber needs no broker object to wait on.
        subprocess.run([BINARIES["mosquitto_pub"], *common, "-r", "-t", "cli/t", "-m", "via the CLI"], check=True, timeout=TIMEOUT)
        out = subprocess.run(
            [BINARIES["mosquitto_sub"], *common, "-t", "cli/t", "-C", "1", "-W", "5"], capture_output=True, timeout=TIMEOUT
        ).stdout
        assert out == b"via the CLI\n"
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert b"Traceback" not in err and b"terminating" in err
