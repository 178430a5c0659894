"""A client and a server connection talking over a lossy, chunking channel: the delivery guarantees.

A property-based simulation (issue #10, SESSIONS.md "Test ideas"): a
``ClientConnection`` and a ``ServerConnection`` exchange bytes through a
channel that cuts the stream anywhere (1 byte to the whole buffer per
feed), never reorders, and drops the connection at random moments. Each
drop is followed by a reconnect with Clean Start 0 and the kept
``ClientSession`` / ``ServerSession`` (sometimes through ``dump()`` and
``load()``). The server side is a tiny broker: it accepts with the kept
session, grants every subscription and delivers every message back to the
client, which subscribes to the topics it publishes on.

Every packet either side produces is decoded by a monitor that checks the
rules of the wire as they happen (ids, DUP, resend order, quota, aliases,
sizes); the end of a run, after a clean reconnect and a drain, checks the
delivery guarantees of each QoS both ways. Time is a virtual clock; every
random choice comes from a seed hypothesis draws, so a failure replays.
"""

import random
from collections import Counter, defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TOPICS = ("t/a", "t/b", "t/c")
CLIENT_ID = "sim"
KEEP_ALIVE = 10
#: The server's Maximum Packet Size (MQTT 5); some payloads are made not to fit.
SERVER_MAX_PACKET = 160
#: The client's, roomy enough for every message the server can accept.
CLIENT_MAX_PACKET = 400
CLIENT_MAX_QUEUED = 6
SERVER_MAX_QUEUED = 1000


class FlowMonitor:
    """Decodes what one side sends and checks the QoS 1/2 rules of that direction.

    ``inflight`` maps each packet id of a PUBLISH sent and not completed to
    its state (``"publish"`` or ``"pubrel"``) and the order it was first sent
    in; completions come from the sender's ``PublishCompleted`` events, i.e.
    from acknowledgements that really reached it.
    """

    def __init__(self, api, name):
        self.api = api
        self.name = name
        self.inflight = {}
        self.order = 0

    def new_connection(self, version, receive_maximum, alias_maximum, max_packet):
        self.version = version
        self.receive_maximum = receive_maximum
        self.alias_maximum = alias_maximum
        self.max_packet = max_packet
        self.aliases = set()
        self.sent_here = set()  # ids whose PUBLISH or PUBREL went out on this connection
        self.last_resent_order = -1
        self.first_new_seen = False

    def sent(self, data):
        api = self.api
        view = memoryview(data)
        while view:
            packet, size = api.decode(view, self.version)
            view = view[size:]
            assert size <= self.max_packet, f"{self.name}: a {size}-byte packet exceeds the peer's {self.max_packet}"
            if type(packet) is api.Publish:
                self._publish(packet)
            elif type(packet) is api.Pubrel:
                state = self.inflight.get(packet.packet_id)
                assert state is not None, f"{self.name}: PUBREL {packet.packet_id} for no flow in flight"
                state[0] = "pubrel"
                # Until its PUBCOMP, a flow resumed by a PUBREL counts against this connection's quota.
                self.sent_here.add(packet.packet_id)

    def _publish(self, packet):
        if self.version == 5 and packet.topic_alias is not None:
            alias = packet.topic_alias
            assert 1 <= alias <= self.alias_maximum, f"{self.name}: alias {alias} outside 1..{self.alias_maximum}"
            if packet.topic:
                self.aliases.add(alias)
            else:
                assert alias in self.aliases, f"{self.name}: alias {alias} used before it was set on this connection"
        else:
            assert packet.topic, f"{self.name}: PUBLISH without topic nor alias"
            assert packet.topic_alias is None
        if packet.qos == 0:
            assert not packet.dup, f"{self.name}: QoS 0 with DUP"
            return
        packet_id = packet.packet_id
        state = self.inflight.get(packet_id)
        if state is None:
            assert not packet.dup, f"{self.name}: first send of {packet_id} with DUP 1"
            self.inflight[packet_id] = ["publish", self.order]
            self.order += 1
            self.first_new_seen = True
        else:
            # A resend: only after a reconnect, once per connection, DUP 1, never after PUBREL, in order.
            assert packet_id not in self.sent_here, f"{self.name}: {packet_id} sent again on one connection"
            assert packet.dup, f"{self.name}: resend of {packet_id} without DUP"
            assert state[0] == "publish", f"{self.name}: PUBLISH {packet_id} after its PUBREL"
            assert state[1] > self.last_resent_order, f"{self.name}: resend of {packet_id} out of order"
            assert not self.first_new_seen, f"{self.name}: resend of {packet_id} after a new message"
            self.last_resent_order = state[1]
        self.sent_here.add(packet_id)
        used = sum(1 for packet_id in self.sent_here if packet_id in self.inflight)
        assert used <= self.receive_maximum, f"{self.name}: {used} in flight, peer Receive Maximum {self.receive_maximum}"

    def completed(self, packet_id):
        assert packet_id in self.inflight, f"{self.name}: completion of {packet_id}, not in flight"
        del self.inflight[packet_id]
        self.sent_here.discard(packet_id)


class Simulation:
    """One client, one server, two one-way channels, a virtual clock and a seeded random source."""

    def __init__(self, api, version, seed, client_rm, server_rm, client_aliases, server_aliases, dump_load):
        self.api = api
        self.version = version
        self.rng = random.Random(seed)
        self.client_rm = client_rm
        self.server_rm = server_rm
        self.client_aliases = client_aliases if version == 5 else 0
        self.server_aliases = server_aliases if version == 5 else 0
        self.dump_load = dump_load
        self.now = 0.0
        self.client_session = None
        self.server_session = None
        self.to_server = FlowMonitor(api, "client->server")
        self.to_client = FlowMonitor(api, "server->client")
        self.published = {}  # message number -> (topic, qos)
        self.refused = set()  # message numbers publish() refused as too large
        self.at_server = []  # message numbers in arrival order (every copy)
        self.at_client = []
        self.next_number = 0
        self.connections = 0

    # ---- connections ---------------------------------------------------------------------------

    def connect(self, clean_start):
        api = self.api
        self.client = api.ClientConnection(
            self.version,
            session=self.client_session,
            receive_maximum=self.client_rm,
            topic_alias_maximum=self.client_aliases,
            max_packet_size=CLIENT_MAX_PACKET,
            max_queued=CLIENT_MAX_QUEUED,
        )
        self.server = api.ServerConnection(
            receive_maximum=self.server_rm,
            topic_alias_maximum=self.server_aliases,
            max_packet_size=SERVER_MAX_PACKET,
            max_queued=SERVER_MAX_QUEUED,
        )
        self.client_session = self.client.session
        self.c2s = bytearray()
        self.s2c = bytearray()
        five = self.version == 5
        # The peers' limits as each sender must honour them (3.x announces none).
        self.to_server.new_connection(
            self.version, self.server_rm if five else 0xFFFF, self.server_aliases, SERVER_MAX_PACKET if five else 1 << 28
        )
        self.to_client.new_connection(
            self.version, self.client_rm if five else 0xFFFF, self.client_aliases, CLIENT_MAX_PACKET if five else 1 << 28
        )
        self.expect_session_present = self.server_session is not None and not clean_start and self.version != 3
        self.connected_seen = False
        self.connections += 1
        fields = {"session_expiry_interval": 0xFFFFFFFF} if five else {}
        self.client.connect(CLIENT_ID, clean_start=clean_start, keep_alive=KEEP_ALIVE, **fields)
        self.flush()

    def cut(self):
        """The network fails: part of what was in transit arrives, the rest is lost; then reconnect."""
        for channel, receiver in ((self.c2s, self.server), (self.s2c, self.client)):
            if channel and self.rng.random() < 0.5:
                keep = self.rng.randrange(len(channel))
                self.feed(receiver, bytes(channel[:keep]))
        self.check_events(self.client.connection_lost(), "client", lost=True)
        self.check_events(self.server.connection_lost(), "server", lost=True)
        self.client.data_to_send()
        self.server.data_to_send()
        if self.server_session is not None:
            assert self.server_session.detach(self.now) == []  # no will, a session that never expires
        if self.dump_load:
            self.client_session = self.api.ClientSession.load(self.client_session.dump())
            if self.server_session is not None:
                self.server_session = self.api.ServerSession.load(self.server_session.dump())
        self.connect(clean_start=False)

    # ---- moving bytes ----------------------------------------------------------------------------

    def flush(self):
        """Collect what both sides produced into the channels, checking it on the way."""
        data = self.client.data_to_send()
        if data:
            self.to_server.sent(data)
            self.c2s += data
        data = self.server.data_to_send()
        if data:
            self.to_client.sent(data)
            self.s2c += data

    def transfer(self, to_server, whole=False):
        channel = self.c2s if to_server else self.s2c
        if not channel:
            return
        if whole:
            size = len(channel)
        else:
            kind = self.rng.random()
            size = 1 if kind < 0.3 else len(channel) if kind < 0.6 else self.rng.randint(1, len(channel))
        chunk = bytes(channel[:size])
        del channel[:size]
        self.feed(self.server if to_server else self.client, chunk)

    def feed(self, receiver, chunk):
        events = receiver.receive_data(chunk, self.now)
        if receiver is self.server:
            self.server_events(events)
        else:
            self.client_events(events)
        self.flush()
        self.check_sessions()

    def tick(self):
        self.now += self.rng.choice((0.0, 0.5, 1.0, 2.0))
        for side, name in ((self.client, "client"), (self.server, "server")):
            deadline = side.next_deadline()
            if deadline is not None and deadline <= self.now:
                self.check_events(side.handle_timeout(self.now), name)
        self.flush()

    # ---- the two applications ----------------------------------------------------------------------

    def server_events(self, events):
        api = self.api
        server = self.server
        for event in events:
            if type(event) is api.ConnectRequested:
                assert event.client_id == CLIENT_ID
                events_after = server.accept(session=self.server_session)
                self.server_session = server.session
                self.server_events(events_after)
            elif type(event) is api.SubscribeRequested:
                server.suback(event, [s.qos for s in event.subscriptions])
            elif type(event) is api.MessageReceived:
                message = event.message
                self.at_server.append(self.number(message))
                granted = self.server_session.subscriptions.get(message.topic)
                assert granted is not None, f"no subscription kept for {message.topic}"
                server.deliver(message, granted[0].qos)
            elif type(event) is api.PublishCompleted:
                self.check_completion(event)
                self.to_client.completed(event.packet_id)
            else:
                self.check_events([event], "server")

    def client_events(self, events):
        api = self.api
        for event in events:
            if type(event) is api.Connected:
                assert event.session_present == self.expect_session_present, "Session Present not true to the state"
                self.connected_seen = True
            elif type(event) is api.MessageReceived:
                self.at_client.append(self.number(event.message))
            elif type(event) is api.PublishCompleted:
                self.check_completion(event)
                self.to_server.completed(event.packet_id)
            elif type(event) is api.Subscribed:
                assert list(event.reason_codes) == [2] * len(TOPICS)
            else:
                self.check_events([event], "client")

    def check_completion(self, event):
        # PUBCOMP 0x92 answers a PUBREL resent after the receiver had already completed the flow.
        assert event.reason_code < 0x80 or (type(event.packet).__name__ == "Pubcomp" and event.reason_code == 0x92), event

    def check_events(self, events, side, lost=False):
        for event in events:
            if type(event) is self.api.Disconnected and lost:
                continue
            assert type(event) is self.api.PingResponse, f"{side}: unexpected {event!r}"

    def publish(self):
        topic = self.rng.choice(TOPICS)
        qos = self.rng.choice((0, 1, 2))
        number = self.next_number
        self.next_number += 1
        big = self.version == 5 and self.rng.random() < 0.05
        filler = b"x" * (self.rng.randint(SERVER_MAX_PACKET - 20, SERVER_MAX_PACKET + 20) if big else self.rng.randint(0, 40))
        try:
            self.client.publish(topic, b"%d:" % number + filler, qos)
        except self.api.QueueFull:
            return
        except self.api.LocalProtocolError as exc:
            assert big and exc.reason_code == 0x95, exc
            self.refused.add(number)
            return
        self.published[number] = (topic, qos)
        self.flush()

    @staticmethod
    def number(message):
        return int(bytes(message.payload).split(b":", 1)[0])

    # ---- invariants at every step --------------------------------------------------------------------

    def check_sessions(self):
        five = self.version == 5
        for session, own_rm, peer_rm, max_queued in (
            (self.client_session, self.client_rm, self.server_rm, CLIENT_MAX_QUEUED),
            (self.server_session, self.server_rm, self.client_rm, SERVER_MAX_QUEUED),
        ):
            if session is None:
                continue
            assert set(session.waiting) <= set(session.outbound)
            peer_limit = peer_rm if five else 0xFFFF
            assert len(session.waiting) <= max_queued + peer_limit
            if five:
                assert len(session.outbound) <= max_queued + 2 * peer_limit
            assert len(session.inbound_qos2) <= (own_rm if five else 0xFFFF)

    # ---- a whole run -----------------------------------------------------------------------------------

    def setup(self):
        """The first connection, with its subscriptions, completed without faults."""
        # A 3.x session outlives its connection only with CleanSession 0 (mosquitto's mapping: never expires).
        self.connect(clean_start=self.version == 5)
        self.drain()
        assert self.connected_seen
        self.client.subscribe([(topic, 2) for topic in TOPICS])
        self.flush()
        self.drain()

    def drain(self):
        for _ in range(10_000):
            if not self.c2s and not self.s2c:
                return
            self.transfer(True, whole=True)
            self.transfer(False, whole=True)
        raise AssertionError("the exchange never settled")

    def run(self, steps, messages, cut_rate):
        self.setup()
        for _ in range(steps):
            roll = self.rng.random()
            if roll < cut_rate:
                self.cut()
            elif roll < 0.3 and self.next_number < messages and self.client.state == "CONNECTED":
                self.publish()
            elif roll < 0.6:
                self.transfer(True)
            elif roll < 0.9:
                self.transfer(False)
            else:
                self.tick()
        self.cut()  # the final reconnect is clean: no more faults
        self.drain()
        assert self.connected_seen

    def check_outcome(self):
        assert self.client_session.outbound == {} and self.server_session.outbound == {}, "flows left unfinished"
        assert self.to_server.inflight == {} and self.to_client.inflight == {}
        for received, name in ((self.at_server, "server"), (self.at_client, "client")):
            counts = Counter(received)
            for number, (topic, qos) in self.published.items():
                if qos == 0:
                    assert counts[number] <= 1, f"{name}: QoS 0 message {number} duplicated"
                elif qos == 1:
                    assert counts[number] >= 1, f"{name}: QoS 1 message {number} lost"
                else:
                    assert counts[number] == 1, f"{name}: QoS 2 message {number} arrived {counts[number]} times"
            assert not set(counts) & self.refused
            assert set(counts) <= set(self.published)
            # First deliveries keep the publish order per topic and QoS [MQTT-4.6.0-5].
            firsts = defaultdict(list)
            for number in dict.fromkeys(received):
                firsts[self.published[number]].append(number)
            for key, numbers in firsts.items():
                assert numbers == sorted(numbers), f"{name}: {key} first delivered out of order: {numbers}"
        # What reached the server at QoS 0 is delivered once: the channel loses nothing on a clean connection.
        assert set(self.at_client) <= set(self.at_server)


scenarios = st.fixed_dictionaries(
    {
        "version": st.sampled_from((3, 4, 5)),
        "seed": st.integers(0, 2**32 - 1),
        "client_rm": st.integers(1, 3),
        "server_rm": st.integers(1, 3),
        "client_aliases": st.integers(0, 2),
        "server_aliases": st.integers(0, 2),
        "dump_load": st.booleans(),
        "cut_rate": st.sampled_from((0.0, 0.01, 0.03)),
    }
)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios)
def test_session_simulation(api, scenario):
    scenario = dict(scenario)
    cut_rate = scenario.pop("cut_rate")
    simulation = Simulation(api, **scenario)
    simulation.run(steps=2000, messages=300, cut_rate=cut_rate)
    simulation.check_outcome()


def exchange(api, version, operations, chunker):
    """A fault-free client/server exchange; every byte moved in the pieces ``chunker`` cuts; both sides' events."""
    client = api.ClientConnection(version, receive_maximum=2, topic_alias_maximum=2 if version == 5 else 0)
    server = api.ServerConnection(receive_maximum=2, topic_alias_maximum=1)
    client_events, server_events = [], []

    def feed(receiver, data, log):
        # The application acts once the whole buffer is in, so both feeds see the same actions at the same points.
        events = []
        for piece in chunker(data):
            events += receiver.receive_data(piece)
        log += events
        for event in events:
            if type(event) is api.ConnectRequested:
                log += server.accept()
            elif type(event) is api.SubscribeRequested:
                server.suback(event, [s.qos for s in event.subscriptions])
            elif type(event) is api.MessageReceived and receiver is server:
                server.deliver(event.message, 2)

    def settle():
        while True:
            to_server, to_client = client.data_to_send(), server.data_to_send()
            if not to_server and not to_client:
                return
            feed(server, to_server, server_events)
            feed(client, to_client, client_events)

    client.connect(CLIENT_ID, keep_alive=0)
    settle()
    client.subscribe([(topic, 2) for topic in TOPICS])
    settle()
    for topic, qos, size, batch in operations:
        client.publish(topic, bytes(range(256))[:size], qos)
        if not batch:
            settle()
    settle()
    client.disconnect()
    settle()
    return client_events, server_events


def whole(data):
    return [data] if data else []


def byte_by_byte(data):
    return [data[i : i + 1] for i in range(len(data))]


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    version=st.sampled_from((3, 4, 5)),
    operations=st.lists(
        st.tuples(st.sampled_from(TOPICS), st.integers(0, 2), st.integers(0, 200), st.booleans()), max_size=12
    ),
)
def test_byte_feeds_give_the_events_of_whole_feeds(api, version, operations):
    assert exchange(api, version, operations, byte_by_byte) == exchange(api, version, operations, whole)
