"""The broker's per-message twins (``mqttfast._broker_c`` / ``_broker_py``): each test runs on both.

A ``Broker`` is built on each twin's ``BrokerCore`` (the rules, ``BrokerRules``,
are shared); clients are ``api`` client connections wired to it in memory. The
parity test plays one random script on both twins and compares every byte
written and every counter.
"""

import collections
import importlib
import random

import pytest

from mqttfast.broker._core import BrokerRules

from .helpers.implementations import import_compiled
from .helpers.sessions import packets

TWINS = ["compiled", "pure"]


def load_twin(name):
    if name == "pure":
        return importlib.import_module("mqttfast._broker_py")
    return import_compiled("mqttfast._broker_c")


@pytest.fixture(params=TWINS)
def twin(request):
    return load_twin(request.param)


def broker_class(twin):
    """``mqttfast.broker.Broker`` on ``twin``'s core."""
    return type("Broker", (BrokerRules, twin.BrokerCore), {})


class Peer:
    """A client connection of the ``api`` twin wired to a broker's in-memory client."""

    def __init__(self, api, broker, client_id, version=5, **options):
        self.api, self.broker = api, broker
        self.connection = api.ClientConnection(version, **options)
        self.written = []  # every write the broker made to this client, as bytes
        self.read = 0  # how many of them the client connection has read
        self.closed = 0
        self.client = broker.new_connection(self._write, self._close, ("memory", 0))
        self.connection.connect(client_id, keep_alive=0)
        self.messages = []
        self.events = []  # the names of every event of this client connection
        self.pump()

    def subscribe(self, topic_filter, qos, identifier=None):
        self.connection.subscribe(
            [self.api.Subscription(topic_filter=topic_filter, qos=qos)], subscription_identifier=identifier
        )
        self.pump()

    def publish(self, topic, payload, **options):
        self.connection.publish(topic, payload, **options)
        self.pump()

    def _write(self, buffers):
        self.written.append(b"".join(bytes(b) for b in buffers))

    def _close(self):
        self.closed += 1

    def send(self):
        """What the client queued, as one read of the broker, then the broker's flush."""
        data = self.connection.data_to_send()
        if data:
            self.broker.data_received(self.client, data, 1.0)
        self.broker.flush()
        return bool(data)

    def pump(self):
        """Carry bytes both ways until quiet; keep the messages delivered to this client."""
        for _ in range(10):
            sent = self.send()
            incoming = b"".join(self.written[self.read :])
            self.read = len(self.written)
            if not sent and not incoming:
                return
            for event in self.connection.receive_data(incoming):
                self.events.append(type(event).__name__)
                if type(event).__name__ == "MessageReceived":
                    self.messages.append(event.message)


def test_the_records_have_the_same_attributes_and_defaults(twin):
    client = twin.Client("connection", "write", "close")
    assert (client.connection, client.write, client.close, client.address) == ("connection", "write", "close", None)
    assert (client.client_id, client.username, client.closing, client.logged_out, client.paused) == (
        "",
        None,
        False,
        False,
        False,
    )
    options = collections.namedtuple("Options", "no_local qos retain_as_published")(1, 2, 0)
    record = twin.Subscription("c", options, 7)
    assert (record.client_id, record.options, record.identifier, record.identifiers) == ("c", options, 7, [7])
    assert (record.no_local, record.qos, record.retain_as_published) == (True, 2, False)
    assert twin.Subscription("c", options, None).identifiers is None


def test_a_one_message_read_is_routed_counted_and_only_the_subscriber_written(api, twin):
    broker = broker_class(twin)()
    subscriber = Peer(api, broker, "s")
    subscriber.subscribe("t/+", qos=1)
    publisher = Peer(api, broker, "p")
    before = len(publisher.written)
    publisher.connection.publish("t/x", b"hello", qos=0)
    publisher.send()
    assert len(publisher.written) == before  # a QoS 0 publisher has nothing to be told
    subscriber.pump()
    assert [(m.topic, bytes(m.payload), m.qos) for m in subscriber.messages] == [("t/x", b"hello", 0)]
    assert broker.stats["messages_received"] == 1 and broker.stats["messages_sent"] == 1


def test_qos_1_the_puback_is_written_and_the_subscriber_ack_needs_nothing(api, twin):
    broker = broker_class(twin)()
    subscriber = Peer(api, broker, "s")
    subscriber.subscribe("t", qos=1)
    publisher = Peer(api, broker, "p")
    publisher.publish("t", b"m", qos=1)
    assert publisher.events.count("PublishCompleted") == 1  # its PUBACK
    delivery = broker.clients["s"].connection
    assert len(delivery._outbound) == 1  # delivered, not yet acknowledged
    subscriber.pump()  # its PUBACK goes back: a read of one ack
    assert [m.qos for m in subscriber.messages] == [1]
    assert len(delivery._outbound) == 0
    assert broker.stats["messages_sent"] == 1


@pytest.mark.parametrize("split", [False, True])
def test_a_subscriber_puback_read_alone_lets_the_message_that_waited_for_its_room_go(api, twin, split):
    broker = broker_class(twin)()
    subscriber = Peer(api, broker, "s", receive_maximum=1, auto_ack=False)
    subscriber.subscribe("t", qos=1)
    publisher = Peer(api, broker, "p")
    publisher.connection.publish("t", b"1", qos=1)
    publisher.connection.publish("t", b"2", qos=1)
    publisher.send()
    (first,) = subscriber.connection.receive_data(b"".join(subscriber.written[subscriber.read :]))
    subscriber.connection.ack(first)
    puback = subscriber.connection.data_to_send()
    assert len(puback) == 4  # one reason-less PUBACK: the broker's shortcut when it is all of a read
    written = len(subscriber.written)
    for read in (puback[:1], puback[1:]) if split else (puback,):
        broker.data_received(broker.clients["s"], read, 2.0)
        broker.flush()
    (second,) = subscriber.connection.receive_data(b"".join(subscriber.written[written:]))
    assert bytes(second.message.payload) == b"2"
    assert list(broker.clients["s"].connection._outbound) == [second.message.packet_id]


def test_a_connection_whose_class_replaces_its_methods_is_called_by_name(api, twin):
    reads = []
    broker = broker_class(twin)()
    subscriber = Peer(api, broker, "s")
    subscriber.subscribe("t", qos=1)
    publisher = Peer(api, broker, "p")

    class Logged(type(publisher.client.connection)):  # the broker's ServerConnection, whichever twin
        def receive_data(self, data, now=None):
            reads.append(bytes(data))
            return super().receive_data(data, now)

    publisher.client.connection = Logged(**broker.connection_options)
    connect = api.encode(api.Connect(client_id="p", keep_alive=0), 5)
    publish = api.encode(api.Publish(topic="t", payload=b"m", qos=1, packet_id=1), 5)
    for data in (connect, publish, b"\x40\x02\x00\x09"):  # a lone PUBACK reaches it too
        broker.data_received(publisher.client, data, 1.0)
        broker.flush()
    assert reads == [connect, publish, b"\x40\x02\x00\x09"]
    subscriber.pump()
    assert [bytes(m.payload) for m in subscriber.messages] == [b"m"]


def test_sys_topics_are_counted_but_not_routed(api, twin):
    broker = broker_class(twin)()
    watcher = Peer(api, broker, "w")
    watcher.subscribe("#", qos=0)
    publisher = Peer(api, broker, "p")
    publisher.publish("$SYS/x", b"m")
    watcher.pump()
    assert watcher.messages == []
    assert broker.stats["messages_received"] == 1 and broker.stats["messages_sent"] == 0


def test_retained_overlapping_and_expiring_messages_leave_the_plain_path_unchanged(api, twin):
    broker = broker_class(twin)()
    a = Peer(api, broker, "a")
    a.subscribe("t/+", qos=0, identifier=1)
    a.subscribe("t/#", qos=1, identifier=2)
    publisher = Peer(api, broker, "p")
    publisher.publish("t/x", b"r", qos=1, retain=True)
    publisher.publish("t/x", b"e", qos=1, message_expiry_interval=60)
    a.pump()
    assert [(bytes(m.payload), m.qos, sorted(m.subscription_identifiers)) for m in a.messages] == [
        (b"r", 1, [1, 2]),
        (b"e", 1, [1, 2]),
    ]
    late = Peer(api, broker, "late")
    late.subscribe("t/x", qos=0)
    assert [(bytes(m.payload), m.retain) for m in late.messages] == [(b"r", True)]


def test_hooks_set_on_the_instance_are_called_for_a_one_message_read(api, twin):
    broker = broker_class(twin)()
    seen = []

    def on_message(client, message):
        seen.append(message.topic)
        return None  # dropped

    broker.on_message = on_message
    subscriber = Peer(api, broker, "s")
    subscriber.subscribe("t", qos=0)
    publisher = Peer(api, broker, "p")
    publisher.publish("t", b"m")
    subscriber.pump()
    assert seen == ["t"] and subscriber.messages == []


def test_a_route_that_raises_costs_its_client_the_connection(api, twin, caplog):
    class Failing(broker_class(twin)):
        def route(self, message, publisher, now):
            raise RuntimeError("bug")

    broker = Failing()
    publisher = Peer(api, broker, "p", version=5)
    publisher.connection.publish("t", b"m")
    publisher.send()
    assert broker.clients["p"].connection.closed
    assert publisher.closed == 1
    assert "Internal error on client p" in caplog.text


def test_a_paused_subscriber_loses_qos_0_and_the_drop_is_counted(api, twin):
    broker = broker_class(twin)()
    subscriber = Peer(api, broker, "s")
    subscriber.subscribe("t", qos=0)
    broker.clients["s"].paused = True
    publisher = Peer(api, broker, "p")
    publisher.publish("t", b"m")
    subscriber.pump()
    assert subscriber.messages == []
    assert broker.stats["messages_dropped"] == 1 and broker.stats["messages_sent"] == 0


def test_flush_writes_each_dirty_client_once_and_closes_closed_ones_once(api, twin):
    broker = broker_class(twin)()
    peer = Peer(api, broker, "c")
    client = broker.clients["c"]
    writes = len(peer.written)
    client.connection.disconnect(0x8B)
    broker.dirty[client] = None
    broker.flush()
    assert len(peer.written) == writes + 1 and peer.closed == 1 and client.closing
    broker.dirty[client] = None
    broker.flush()
    assert len(peer.written) == writes + 1 and peer.closed == 1
    assert broker.dirty == {}


class Loop:
    def __init__(self):
        self.soon = []

    def call_soon(self, callback):
        self.soon.append(callback)


class CountingBroker:
    def __init__(self):
        self.flushes = 0

    def flush(self):
        self.flushes += 1


def test_the_flusher_flushes_a_read_alone_in_its_pass_at_once_and_schedules_the_others(twin):
    broker, loop, ready = CountingBroker(), Loop(), collections.deque()
    flusher = twin.Flusher(broker, loop, ready, 25e-6)
    flusher.flush_soon(1.0)
    assert broker.flushes == 1 and loop.soon == []
    ready.append("another read")
    flusher.flush_soon(1.0)
    flusher.flush_soon(1.0)
    flusher.schedule()
    assert broker.flushes == 1 and len(loop.soon) == 1 and flusher.scheduled
    loop.soon.pop()()
    assert broker.flushes == 2 and not flusher.scheduled


def test_without_a_visible_queue_an_idle_loop_flushes_at_once(twin):
    broker, loop = CountingBroker(), Loop()
    flusher = twin.Flusher(broker, loop, None, 25e-6)
    flusher.flush_soon(flusher.flushed_at + 1.0)
    assert broker.flushes == 1 and loop.soon == []
    flusher.flush_soon(flusher.flushed_at)  # no time since the last flush: the loop is busy
    assert broker.flushes == 1 and len(loop.soon) == 1


class Transport:
    def __init__(self, closing=False):
        self.calls = []
        self.closing = closing

    def is_closing(self):
        return self.closing

    def write(self, data):
        self.calls.append(("write", data))

    def writelines(self, buffers):
        self.calls.append(("writelines", list(buffers)))


def protocol_on(twin, broker, flusher, transport):
    protocol = type("Protocol", (twin.ProtocolCore,), {"__slots__": ()})()
    protocol.broker, protocol.flusher, protocol.transport = broker, flusher, transport
    return protocol


def test_the_protocol_writes_one_buffer_with_write_several_with_writelines_none_when_closing(twin):
    transport = Transport()
    protocol = protocol_on(twin, None, None, transport)
    protocol.write([b"a"])
    protocol.write([b"b", b"c"])
    assert transport.calls == [("write", b"a"), ("writelines", [b"b", b"c"])]
    protocol.attach(transport)  # a transport other than asyncio's socket one (uvloop's, TLS): joined
    assert protocol.transport is transport and protocol.joins
    protocol.write([b"b", memoryview(b"c")])
    assert transport.calls[-1] == ("write", b"bc")
    closing = Transport(closing=True)
    protocol_on(twin, None, None, closing).write([b"a"])
    assert closing.calls == []


def test_the_protocol_reads_into_the_broker_and_flushes(api, twin):
    broker = broker_class(twin)()
    loop = Loop()
    flusher = twin.Flusher(broker, loop, collections.deque(), 25e-6)
    transport = Transport()
    protocol = protocol_on(twin, broker, flusher, transport)
    assert protocol.broker is broker and protocol.flusher is flusher
    protocol.client = broker.new_connection(protocol.write, lambda: None, ("memory", 0))
    client = api.ClientConnection(5)
    client.connect("c", keep_alive=0)
    protocol.data_received(client.data_to_send())
    assert loop.soon == []  # flushed at once: the CONNACK
    [(kind, data)] = transport.calls
    assert [type(event).__name__ for event in client.receive_data(data)] == ["Connected"]


def test_each_flush_writes_its_own_buffers_and_a_writer_that_keeps_the_list_keeps_it_whole(api, twin):
    # The compiled twin reuses a written list as the connection's next output when its own protocol
    # wrote it (the transport got the items); a writer of another kind may keep the list itself.
    broker = broker_class(twin)()
    flusher = twin.Flusher(broker, Loop(), collections.deque(), 25e-6)
    transport = Transport()
    protocol = protocol_on(twin, broker, flusher, transport)
    protocol.client = broker.new_connection(protocol.write, lambda: None, ("memory", 0))
    kept = []
    keeper = broker.new_connection(kept.append, lambda: None, ("memory", 1))

    def subscriber(client_id):
        connect = api.encode(api.Connect(client_id=client_id, keep_alive=0), 5)
        subscribe = api.Subscribe(packet_id=1, subscriptions=[api.Subscription(topic_filter="t", qos=0)])
        return connect + api.encode(subscribe, 5)

    protocol.data_received(subscriber("s1"))
    broker.data_received(keeper, subscriber("s2"), 1.0)
    broker.flush()
    publisher = Peer(api, broker, "p")
    for n in range(3):
        publisher.publish("t", bytes([n]))  # a read and a flush each
    written = b"".join(data if kind == "write" else b"".join(data) for kind, data in transport.calls)
    assert len(kept) == 4  # the CONNACK and SUBACK of one read, then a message a flush: one list each
    for data in (written, b"".join(b"".join(bytes(b) for b in item) for item in kept)):
        received = packets(api, data, 5)
        assert [p.packet_type.name for p in received] == ["CONNACK", "SUBACK", "PUBLISH", "PUBLISH", "PUBLISH"]
        assert [bytes(p.payload) for p in received[2:]] == [b"\x00", b"\x01", b"\x02"]


def test_a_client_written_through_another_method_of_a_protocol_calls_that_method(api, twin):
    written = []

    class Logged(twin.ProtocolCore):
        def send_logged(self, buffers):
            written.append(b"".join(bytes(b) for b in buffers))
            self.write(buffers)

    broker = broker_class(twin)()
    transport = Transport()
    protocol = Logged()
    protocol.broker, protocol.flusher, protocol.transport = broker, None, transport
    client = broker.new_connection(protocol.send_logged, lambda: None, ("memory", 0))
    broker.data_received(client, api.encode(api.Connect(client_id="c", keep_alive=0), 5), 1.0)
    broker.flush()
    assert len(written) == 1 and written[0][0] == 0x20  # the CONNACK, through send_logged
    assert len(transport.calls) == 1


def test_a_broker_that_overrides_data_received_or_flush_is_called_by_name(api, twin):
    calls = []

    class Observed(broker_class(twin)):
        def data_received(self, client, data, now):
            calls.append("data_received")
            super().data_received(client, data, now)

        def flush(self):
            calls.append("flush")
            super().flush()

    broker = Observed()
    flusher = twin.Flusher(broker, Loop(), collections.deque(), 25e-6)
    protocol = protocol_on(twin, broker, flusher, Transport())
    protocol.client = broker.new_connection(protocol.write, lambda: None, ("memory", 0))
    client = api.ClientConnection(5)
    client.connect("c", keep_alive=0)
    protocol.data_received(client.data_to_send())
    assert calls == ["data_received", "flush"]


# ---- parity: one random script, both twins, every byte and counter compared --------------------------

TOPICS = ["a", "a/b", "a/c", "b/x", "$SYS/t"]
FILTERS = ["a", "a/+", "a/#", "+/x", "#", "$share/g/a/b", "b/x"]


def play(api, twin, seed):
    """A random script of subscriptions, single publishes, pauses and disconnects; what it wrote."""
    rng = random.Random(seed)
    broker = broker_class(twin)()
    peers = [Peer(api, broker, f"c{i}", version=rng.choice([4, 5])) for i in range(4)]
    for _ in range(60):
        peer = rng.choice(peers)
        action = rng.random()
        client = broker.clients.get(peer.client.client_id)
        if action < 0.2:
            options = dict(qos=rng.randint(0, 2))
            if peer.connection.version == 5:
                options.update(no_local=rng.random() < 0.3, retain_as_published=rng.random() < 0.3)
            identifier = rng.choice([None, 3]) if peer.connection.version == 5 else None
            peer.connection.subscribe(
                [api.Subscription(topic_filter=rng.choice(FILTERS), **options)], subscription_identifier=identifier
            )
        elif action < 0.8:
            properties = {}
            if peer.connection.version == 5 and rng.random() < 0.2:
                properties["message_expiry_interval"] = 30
            peer.connection.publish(
                rng.choice(TOPICS), bytes([rng.randrange(256)]), qos=rng.randint(0, 2), retain=rng.random() < 0.1,
                **properties,
            )
        elif action < 0.9 and client is not None:
            client.paused = not client.paused
            if not client.paused:
                broker.resumed(client)
        for other in peers:
            other.pump()
    return [peer.written for peer in peers], dict(broker.stats)


@pytest.mark.parametrize("seed", range(8))
def test_both_twins_write_the_same_bytes_and_count_the_same(api, seed):
    assert play(api, load_twin("compiled"), seed) == play(api, load_twin("pure"), seed)


def test_counts_of_one_message_reads_and_of_batched_reads_add_up(api, twin):
    broker = broker_class(twin)()
    subscriber = Peer(api, broker, "s")
    subscriber.subscribe("t", qos=0)
    publisher = Peer(api, broker, "p")
    publisher.publish("t", b"1")  # a read of one message
    publisher.connection.publish("t", b"2")
    publisher.connection.publish("t", b"3")
    publisher.pump()  # one read of two: ``_handle`` counts these
    publisher.publish("t", b"4")
    subscriber.pump()
    assert [bytes(m.payload) for m in subscriber.messages] == [b"1", b"2", b"3", b"4"]
    assert (broker.stats["messages_received"], broker.stats["messages_sent"]) == (4, 4)


def test_the_counters_of_the_one_message_path_reach_the_dict_when_stats_is_read(api, twin):
    # Both twins alike: a dict kept from an earlier read lags until ``broker.stats`` is read again.
    broker = broker_class(twin)()
    subscriber = Peer(api, broker, "s")
    subscriber.subscribe("t", qos=0)
    publisher = Peer(api, broker, "p")
    kept = broker.stats
    publisher.publish("t", b"1")
    assert (kept["messages_received"], kept["messages_sent"]) == (0, 0)
    assert broker.stats is kept and (kept["messages_received"], kept["messages_sent"]) == (1, 1)
    broker.stats = {"messages_received": 10, "messages_sent": 10}  # replaced: the pending counts start again
    publisher.publish("t", b"2")
    assert broker.stats == {"messages_received": 11, "messages_sent": 11}


def test_a_hook_set_on_the_instance_after_traffic_is_called_from_then_on(api, twin):
    broker = broker_class(twin)()
    subscriber = Peer(api, broker, "s")
    subscriber.subscribe("t", qos=0)
    publisher = Peer(api, broker, "p")
    publisher.publish("t", b"before")
    seen = []
    broker.on_message = lambda client, message: seen.append(bytes(message.payload)) or message
    publisher.publish("t", b"after")
    subscriber.pump()
    assert seen == [b"after"]
    assert [bytes(m.payload) for m in subscriber.messages] == [b"before", b"after"]
