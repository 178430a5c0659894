"""The session layer against real peers over loopback TCP: ClientConnection against a mosquitto broker.

The broker is started by the test on 127.0.0.1 with ``max_topic_alias 2``
(more topics than aliases: the outbound aliases are reassigned) and
``max_inflight_messages 2`` (its Receive Maximum: our QoS 1/2 messages
queue behind the quota). Without mosquitto the tests are skipped, or fail
when MQTTFAST_REQUIRE_PEERS is set.
"""

import socket
import time
from collections import Counter, defaultdict

import pytest

from .helpers.peers import TIMEOUT
from .test_peer_mosquitto import run_broker

pytestmark = pytest.mark.peer

TOPICS = [f"mqttfast/session/{i}" for i in range(5)]


@pytest.fixture(scope="module")
def limited_broker(tmp_path_factory):
    """mosquitto with two topic aliases and two messages in flight; always terminated."""
    yield from run_broker(tmp_path_factory, "max_topic_alias 2\nmax_inflight_messages 2\nmax_queued_messages 1000\n")


class SocketClient:
    """A ClientConnection driven over a blocking loopback socket with short timeouts."""

    def __init__(self, api, port, version, **options):
        self.api = api
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.sock.settimeout(0.05)
        self.conn = api.ClientConnection(version, **options)
        self.events = []

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def pump(self, done, timeout=TIMEOUT):
        """Exchange bytes until ``done(events so far)``; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not done(self.events):
            assert time.monotonic() < deadline, f"timed out; last events {self.events[-5:]!r}"
            self.flush()
            now = time.monotonic()
            next_deadline = self.conn.next_deadline()
            if next_deadline is not None and next_deadline <= now:
                self.events += self.conn.handle_timeout(now)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                self.events += self.conn.connection_lost()
                break
            self.events += self.conn.receive_data(chunk, time.monotonic())
        self.flush()
        return self.events

    def of(self, kind):
        return [event for event in self.events if type(event) is kind]

    def close(self):
        if not self.conn.closed:
            self.conn.disconnect()
            try:
                self.flush()
            except OSError:
                pass
        self.sock.close()


def connected(api, port, version, client_id, clean_start=True, **options):
    client = SocketClient(api, port, version, **options)
    fields = {"session_expiry_interval": 300} if version == 5 else {}
    client.conn.connect(client_id, clean_start=clean_start, keep_alive=30, **fields)
    events = client.pump(lambda events: any(type(e) in (api.Connected, api.ConnectionRefused) for e in events))
    assert any(type(event) is api.Connected for event in events), events
    return client


@pytest.mark.parametrize("version", [4, 5])
def test_client_publishes_and_receives_through_mosquitto(api, limited_broker, version):
    client = connected(api, limited_broker, version, f"mqttfast-sp-{version}", receive_maximum=3, topic_alias_maximum=2)
    try:
        if version == 5:
            connack = client.conn.connack
            assert connack.receive_maximum == 2 and connack.topic_alias_maximum == 2
        packet_id = client.conn.subscribe([(topic, 2) for topic in TOPICS])
        client.pump(lambda events: client.of(api.Subscribed))
        assert client.of(api.Subscribed)[0].packet_id == packet_id
        published = {}
        for number in range(120):
            qos = (0, 1, 2)[number % 3] if number < 20 else 1 + number % 2
            topic = TOPICS[number % len(TOPICS)]
            packet_id = client.conn.publish(topic, b"%d" % number, qos)
            published[number] = (topic, qos)
            assert (packet_id is None) == (qos == 0)
            if version == 4 and qos:
                # 3.1.1 has no Receive Maximum, and mosquitto 2.0 (like paho against it: tried) drops
                # QoS 1 messages to a client whose in-flight window of 2 is full while QoS 2 flows
                # hold it: wait for each flow to end so the test is about us, not mosquitto's queue.
                done = sum(1 for q in published.values() if q[1])
                client.pump(lambda events, done=done: len(client.of(api.PublishCompleted)) == done)
        if version == 5:
            # The broker's Receive Maximum of 2: the rest waits in the session, not on the wire.
            assert client.conn.session.in_flight <= 2
        expected = sum(1 for _, qos in published.values() if qos)

        def all_back(events):
            numbers = {int(bytes(e.message.payload)) for e in client.of(api.MessageReceived)}
            return len(client.of(api.PublishCompleted)) == expected and all(
                n in numbers for n, (_, qos) in published.items() if qos
            )

        client.pump(all_back, timeout=10)
        assert all(event.reason_code < 0x80 for event in client.of(api.PublishCompleted))
        received = [int(bytes(event.message.payload)) for event in client.of(api.MessageReceived)]
        counts = Counter(received)
        firsts = defaultdict(list)
        for number in dict.fromkeys(received):
            firsts[published[number]].append(number)
        for number, (_, qos) in published.items():
            assert counts[number] == 1 if qos != 1 else counts[number] >= 1, (number, qos, counts[number])
        for key, numbers in firsts.items():
            assert numbers == sorted(numbers), key
        for event in client.of(api.MessageReceived):
            assert event.message.topic in TOPICS and event.message.topic_alias is None
        assert client.conn.session.outbound == {}
    finally:
        client.close()


@pytest.mark.parametrize("version", [4, 5])
def test_client_session_resumes_at_mosquitto(api, limited_broker, version):
    client_id = f"mqttfast-resume-{version}"
    first = connected(api, limited_broker, version, client_id, clean_start=False)
    first.conn.subscribe("mqttfast/resume/#", 1)
    first.pump(lambda events: first.of(api.Subscribed))
    first.close()
    session = first.conn.session
    publisher = connected(api, limited_broker, version, f"mqttfast-pub-{version}")
    try:
        publisher.conn.publish("mqttfast/resume/x", b"kept", 1)
        publisher.pump(lambda events: publisher.of(api.PublishCompleted))
    finally:
        publisher.close()
    again = connected(api, limited_broker, version, client_id, clean_start=False, session=session)
    try:
        assert again.of(api.Connected)[0].session_present
        again.pump(lambda events: again.of(api.MessageReceived))
        message = again.of(api.MessageReceived)[0].message
        assert (message.topic, bytes(message.payload), message.qos) == ("mqttfast/resume/x", b"kept", 1)
    finally:
        again.close()


def test_client_at_5_refused_by_a_3_1_1_only_server_retries_at_4(api):
    """A 5.0 CONNECT to a server limited to 3.1.1 reports unsupported_version; the retry at 4 connects."""
    results = []
    for version in (5, 4):
        client = api.ClientConnection(version)
        server = api.ServerConnection(versions=(4,))
        client.connect("retrying")
        events = server.receive_data(client.data_to_send())
        if version == 4:
            assert type(events[0]) is api.ConnectRequested
            server.accept()
        results += client.receive_data(server.data_to_send())
    refused, connected_event = results
    assert type(refused) is api.ConnectionRefused and refused.unsupported_version
    assert type(connected_event) is api.Connected
