"""Broker.route's two paths: one copy per subscription (no grouping) and the grouping of overlaps and shares.

In memory: a ``Broker`` fed by client connections of the tested twin, no sockets.
"""

import pytest

from mqttfast.broker import Broker


class Peer:
    """A client connection of the ``api`` twin wired to a broker's in-memory client."""

    def __init__(self, api, broker, client_id, version=5):
        self.api, self.broker = api, broker
        self.connection = api.ClientConnection(version)
        self.inbox = []
        self.client = broker.new_connection(self.inbox.extend, lambda: None, ("memory", 0))
        self.connection.connect(client_id, keep_alive=0)
        self.messages = []
        self.pump()

    def pump(self):
        """Carry bytes both ways until quiet; keep the messages delivered to this client."""
        for _ in range(10):
            self.broker.flush()
            data = self.connection.data_to_send()
            if data:
                self.broker.data_received(self.client, data, 1.0)
                self.broker.flush()
            incoming = b"".join(bytes(b) for b in self.inbox)
            self.inbox.clear()
            if not data and not incoming:
                return
            for event in self.connection.receive_data(incoming):
                if type(event).__name__ == "MessageReceived":
                    self.messages.append(event.message)

    def subscribe(self, *subscriptions, identifier=None):
        self.connection.subscribe(list(subscriptions), subscription_identifier=identifier)
        self.pump()

    def publish(self, topic, qos=0):
        self.connection.publish(topic, b"m", qos=qos)
        self.pump()


@pytest.fixture
def broker():
    return Broker()


def test_one_copy_per_distinct_subscriber_with_its_own_qos_and_identifier(api, broker):
    a, b = Peer(api, broker, "a"), Peer(api, broker, "b")
    a.subscribe(api.Subscription(topic_filter="t/+", qos=1), identifier=7)
    b.subscribe(api.Subscription(topic_filter="t/x", qos=0))
    publisher = Peer(api, broker, "p")
    publisher.publish("t/x", qos=1)
    a.pump(), b.pump()
    assert [(m.qos, m.subscription_identifiers) for m in a.messages] == [(1, [7])]
    assert [(m.qos, m.subscription_identifiers or None) for m in b.messages] == [(0, None)]
    publisher.publish("t/x", qos=1)
    a.pump()
    assert [m.subscription_identifiers for m in a.messages] == [[7], [7]]  # the shared list is not altered


def test_overlapping_subscriptions_of_one_client_still_make_one_copy(api, broker):
    a = Peer(api, broker, "a")
    a.subscribe(api.Subscription(topic_filter="t/+", qos=0), identifier=1)
    a.subscribe(api.Subscription(topic_filter="t/#", qos=1), identifier=2)
    b = Peer(api, broker, "b")
    b.subscribe(api.Subscription(topic_filter="t/x", qos=1))
    assert Peer(api, broker, "p").publish("t/x", qos=1) is None
    a.pump(), b.pump()
    assert len(a.messages) == 1 and a.messages[0].qos == 1
    assert sorted(a.messages[0].subscription_identifiers) == [1, 2]
    assert len(b.messages) == 1


def test_no_local_skips_the_publisher_on_the_distinct_path(api, broker):
    a = Peer(api, broker, "a")
    a.subscribe(api.Subscription(topic_filter="t/x", qos=0, no_local=True))
    b = Peer(api, broker, "b")
    b.subscribe(api.Subscription(topic_filter="t/x", qos=0))
    a.publish("t/x")
    b.pump()
    assert a.messages == [] and len(b.messages) == 1


def test_shared_subscriptions_are_routed_while_held_and_counted_back_to_zero(api, broker):
    members = [Peer(api, broker, f"m{i}") for i in range(2)]
    for member in members:
        member.subscribe(api.Subscription(topic_filter="$share/g/t/x", qos=0))
    plain = Peer(api, broker, "plain")
    plain.subscribe(api.Subscription(topic_filter="t/x", qos=0))
    publisher = Peer(api, broker, "p")
    for _ in range(4):
        publisher.publish("t/x")
    for peer in members + [plain]:
        peer.pump()
    assert sum(len(member.messages) for member in members) == 4  # one member per message
    assert len(plain.messages) == 4
    assert broker._shared_count == 2
    for member in members:
        member.connection.unsubscribe("$share/g/t/x")
        member.pump()
    assert broker._shared_count == 0
    publisher.publish("t/x")
    assert sum(len(member.messages) for member in members) == 4
