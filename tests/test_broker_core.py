"""The broker core in memory: a hook that raises costs its client the connection, not the broker."""

import logging

import mqttfast
from mqttfast.broker import Broker


class _Wire:
    def __init__(self):
        self.written = []
        self.closed = False

    def write(self, buffers):
        self.written.append(b"".join(bytes(buffer) for buffer in buffers))

    def close(self):
        self.closed = True


def _connect(broker, client_id, now=0.0):
    wire = _Wire()
    client = broker.new_connection(wire.write, wire.close, ("127.0.0.1", 1))
    peer = mqttfast.ClientConnection(5)
    peer.connect(client_id)
    broker.data_received(client, peer.data_to_send(), now)
    broker.flush()
    peer.receive_data(b"".join(wire.written))
    wire.written.clear()
    return client, peer, wire


def _subscribe(broker, client, peer, wire, topic_filter):
    peer.subscribe(topic_filter, qos=0)
    broker.data_received(client, peer.data_to_send(), 1.0)
    broker.flush()
    peer.receive_data(b"".join(wire.written))
    wire.written.clear()


class _Raising(Broker):
    def on_message(self, client, message):
        if message.topic == "boom":
            raise RuntimeError("a hook failed")
        return message


def test_a_raising_hook_disconnects_its_client_with_0x83_and_the_broker_goes_on(caplog):
    broker = _Raising()
    bad, bad_peer, bad_wire = _connect(broker, "bad")
    good, good_peer, good_wire = _connect(broker, "good")
    _subscribe(broker, good, good_peer, good_wire, "t")

    bad_peer.publish("boom", b"x")
    with caplog.at_level(logging.ERROR, logger="mqttfast.broker"):
        broker.data_received(bad, bad_peer.data_to_send(), 2.0)
        broker.flush()
    (disconnected,) = bad_peer.receive_data(b"".join(bad_wire.written))
    assert type(disconnected) is mqttfast.Disconnected and disconnected.reason_code == 0x83
    assert bad_wire.closed
    assert any("Internal error on client bad" in record.getMessage() for record in caplog.records)

    other, other_peer, _ = _connect(broker, "other")
    other_peer.publish("t", b"still routing")
    broker.data_received(other, other_peer.data_to_send(), 3.0)
    broker.flush()
    (message,) = good_peer.receive_data(b"".join(good_wire.written))
    assert message.payload == b"still routing"


class _Refusing(Broker):
    def authorize_publish(self, client, message):
        return not message.topic.startswith("secret/")


def test_a_subclass_refusing_publishes_answers_0x87_in_5_0_and_acks_the_rest():
    broker = _Refusing()
    client, peer, wire = _connect(broker, "p")
    refused = peer.publish("secret/x", b"1", qos=1)
    allowed = peer.publish("open/x", b"2", qos=1)
    broker.data_received(client, peer.data_to_send(), 1.0)
    broker.flush()
    completed = peer.receive_data(b"".join(wire.written))
    assert [(event.packet_id, event.reason_code) for event in completed] == [(refused, 0x87), (allowed, 0x00)]


def test_hooks_set_on_the_instance_are_called_for_every_message():
    # FileAuth.install puts its hooks on the instance, not a subclass: routing must still ask them.
    broker = Broker()
    subscriber, subscriber_peer, subscriber_wire = _connect(broker, "sub")
    _subscribe(broker, subscriber, subscriber_peer, subscriber_wire, "t/#")
    broker.on_message = lambda client, message: None if message.topic == "t/dropped" else message
    broker.authorize_publish = lambda client, message: message.topic != "t/refused"
    publisher, publisher_peer, _ = _connect(broker, "pub")
    for topic in ("t/dropped", "t/refused", "t/kept"):
        publisher_peer.publish(topic, b"x")
    broker.data_received(publisher, publisher_peer.data_to_send(), 2.0)
    broker.flush()
    received = subscriber_peer.receive_data(b"".join(subscriber_wire.written))
    assert [event.message.topic for event in received] == ["t/kept"]


def test_a_subscription_made_between_two_messages_of_one_read_gets_the_second():
    # Routing reuses the copies of one topic across a read's messages: a SUBSCRIBE in between
    # (here the publisher's own, to the same topic) must count from the next message on.
    broker = Broker()
    subscriber, subscriber_peer, subscriber_wire = _connect(broker, "sub")
    _subscribe(broker, subscriber, subscriber_peer, subscriber_wire, "t")
    publisher, publisher_peer, publisher_wire = _connect(broker, "pub")
    publisher_peer.publish("t", b"first")
    publisher_peer.subscribe("t", qos=0)
    publisher_peer.publish("t", b"second")
    broker.data_received(publisher, publisher_peer.data_to_send(), 2.0)
    broker.flush()
    received = subscriber_peer.receive_data(b"".join(subscriber_wire.written))
    assert [event.message.payload for event in received] == [b"first", b"second"]
    echoed = publisher_peer.receive_data(b"".join(publisher_wire.written))
    assert [event.message.payload for event in echoed if type(event) is mqttfast.MessageReceived] == [b"second"]
