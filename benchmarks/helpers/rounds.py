"""One message's round through a broker, in memory, for every session contender.

A round: a publisher client sends a PUBLISH (64 B payload) to its server
connection, the server delivers it to a second client's server connection
(subscribed at QoS 2), that client receives it, and the acknowledgements
flow back on both links until both flows are complete. The same steps for:

- ``mqttfast-compiled`` / ``mqttfast-fallback``: the session layer's
  ``ClientConnection`` / ``ServerConnection``;
- ``codec-compiled`` / ``codec-fallback``: the floor, the same codec calls
  (``encode``, ``Decoder.feed``, ``encode_forward``, ack encode/decode) with
  no state at all;
- ``mqttproto``: the client and broker-side state machines of mqttproto's
  maintained fork, ``moat-lib-mqtt`` (MQTT 5 only; routing skipped, as here).

``make_round(contender, version, qos)`` returns ``(round, check)``: ``round()``
runs one round and returns what ``check`` needs to assert the flows
completed. ``python -m benchmarks.helpers.rounds CONTENDER VERSION QOS N``
runs N rounds after a warm-up, for ``valgrind --tool=callgrind``.

A fan-out (``make_fanout``, contender ``fanout-mqttfast-compiled`` and the
like on the command line): one received message delivered through
``ServerConnection.deliver`` to ``FANOUT`` connected subscribers, each
connection's bytes taken, and at QoS 1 each subscriber's PUBACK fed back;
its floor (``fanout-codec-*``) is one ``encode_forward`` per subscriber (and
the PUBACK's decoding).
"""

from __future__ import annotations

import importlib
import sys

TOPIC = "sensors/room-1/temperature"
PAYLOAD = b"x" * 64

CONTENDERS = ["mqttfast-compiled", "mqttfast-fallback", "codec-compiled", "codec-fallback", "mqttproto"]


def _module(contender):
    if contender.endswith("fallback"):
        return importlib.import_module("mqttfast.fallback")
    return importlib.import_module("mqttfast._compiled")


def _completed(events):
    return [type(event).__name__ for event in events].count("PublishCompleted")


def session_round(api, version, qos):
    """The session layer: publisher P <-> server connection SP, subscriber Q <-> SQ."""
    publisher, to_publisher = api.ClientConnection(version), api.ServerConnection()
    subscriber, to_subscriber = api.ClientConnection(version), api.ServerConnection()
    for client, server, name in ((publisher, to_publisher, "p"), (subscriber, to_subscriber, "s")):
        client.connect(name, keep_alive=0)
        server.receive_data(client.data_to_send())
        server.accept()
        client.receive_data(server.data_to_send())
    subscriber.subscribe("sensors/#", 2)
    (request,) = to_subscriber.receive_data(subscriber.data_to_send())
    to_subscriber.suback(request, [2])
    subscriber.receive_data(to_subscriber.data_to_send())

    def round_qos0():
        publisher.publish(TOPIC, PAYLOAD, 0)
        (received,) = to_publisher.receive_data(publisher.data_to_send())
        to_subscriber.deliver(received.message, 2)
        return subscriber.receive_data(to_subscriber.data_to_send())

    def round_qos1():
        publisher.publish(TOPIC, PAYLOAD, 1)
        (received,) = to_publisher.receive_data(publisher.data_to_send())
        to_subscriber.deliver(received.message, 2)
        events = subscriber.receive_data(to_subscriber.data_to_send())
        events += publisher.receive_data(to_publisher.data_to_send())
        return events + to_subscriber.receive_data(subscriber.data_to_send())

    def round_qos2():
        publisher.publish(TOPIC, PAYLOAD, 2)
        (received,) = to_publisher.receive_data(publisher.data_to_send())
        to_subscriber.deliver(received.message, 2)
        events = subscriber.receive_data(to_subscriber.data_to_send())
        publisher.receive_data(to_publisher.data_to_send())  # PUBREC
        to_publisher.receive_data(publisher.data_to_send())  # PUBREL
        events += publisher.receive_data(to_publisher.data_to_send())  # PUBCOMP
        to_subscriber.receive_data(subscriber.data_to_send())  # PUBREC
        subscriber.receive_data(to_subscriber.data_to_send())  # PUBREL
        return events + to_subscriber.receive_data(subscriber.data_to_send())  # PUBCOMP

    def check(events):
        names = [type(event).__name__ for event in events]
        assert names.count("MessageReceived") == 1 and _completed(events) == (2 if qos else 0), names
        assert bytes(events[0].message.payload) == PAYLOAD

    return (round_qos0, round_qos1, round_qos2)[qos], check


def codec_round(api, version, qos):
    """The floor: the codec calls of a round, no state (fixed packet ids)."""
    encode, encode_forward, Publish = api.encode, api.encode_forward, api.Publish
    at_server_p, at_publisher, at_server_s, at_subscriber = (api.Decoder(version) for _ in range(4))
    acks = (api.Puback,) if qos == 1 else (api.Pubrec, api.Pubrel, api.Pubcomp)

    def round_():
        wire = encode(Publish(topic=TOPIC, payload=PAYLOAD, qos=qos, packet_id=1 if qos else None), version)
        (message,) = at_server_p.feed(wire)
        header, payload = encode_forward(message, version, granted_qos=2, packet_id=1)
        (delivered,) = at_subscriber.feed(b"".join((header, payload)))
        completed = []
        if qos:
            # The acks of both links alternate directions (PUBREC up, PUBREL down, PUBCOMP up).
            for index, ack in enumerate(acks):
                up = index % 2 == 0
                completed += (at_publisher if up else at_server_p).feed(encode(ack(packet_id=1), version))
                completed += (at_server_s if up else at_subscriber).feed(encode(ack(packet_id=1), version))
        return delivered, completed

    def check(result):
        delivered, completed = result
        assert bytes(delivered.payload) == PAYLOAD and len(completed) == 2 * len(acks) * (qos > 0)

    return round_, check


def mqttproto_round(version, qos):
    """mqttproto (moat-lib-mqtt): client state machines and the broker's per-client ones."""
    if version != 5:
        raise ValueError("mqttproto speaks MQTT 5 only")
    from moat.lib.mqtt import QoS, ReasonCode, Subscription
    from moat.lib.mqtt import Pattern
    from moat.lib.mqtt.broker_state_machine import MQTTBrokerClientStateMachine
    from moat.lib.mqtt.client_state_machine import MQTTClientStateMachine

    publisher, to_publisher = MQTTClientStateMachine("p"), MQTTBrokerClientStateMachine()
    subscriber, to_subscriber = MQTTClientStateMachine("s"), MQTTBrokerClientStateMachine()
    for client, server in ((publisher, to_publisher), (subscriber, to_subscriber)):
        client.connect()
        server.feed_bytes(client.get_outbound_data())
        server.acknowledge_connect(ReasonCode.SUCCESS, None, False)
        client.feed_bytes(server.get_outbound_data())
    packet_id = subscriber.subscribe([Subscription(Pattern("sensors/#"), max_qos=QoS.EXACTLY_ONCE)])
    to_subscriber.feed_bytes(subscriber.get_outbound_data())
    to_subscriber.acknowledge_subscribe(packet_id, [ReasonCode.GRANTED_QOS_2])
    subscriber.feed_bytes(to_subscriber.get_outbound_data())
    level = QoS(qos)

    def round_():
        publisher.publish(TOPIC, PAYLOAD, qos=level)
        (message,) = to_publisher.feed_bytes(publisher.get_outbound_data())
        if qos:
            to_publisher.acknowledge_publish(message.packet_id, ReasonCode.SUCCESS)
        to_subscriber.deliver_publish(message.topic, message.payload, qos=min(message.qos, QoS.EXACTLY_ONCE))
        received = subscriber.feed_bytes(to_subscriber.get_outbound_data())  # the client acks by itself
        acks = publisher.feed_bytes(to_publisher.get_outbound_data())
        acks += to_subscriber.feed_bytes(subscriber.get_outbound_data())
        if qos == 2:
            pubrec = acks[-1]
            # A PUBREL completes by itself; the broker side's PUBREC is answered by hand
            # (its automatic acks are off), the client's by itself.
            to_publisher.feed_bytes(publisher.get_outbound_data())  # PUBREL
            acks += publisher.feed_bytes(to_publisher.get_outbound_data())  # PUBCOMP
            to_subscriber.release_qos2_publish(pubrec.packet_id, ReasonCode.SUCCESS)
            subscriber.feed_bytes(to_subscriber.get_outbound_data())  # PUBREL
            acks += to_subscriber.feed_bytes(subscriber.get_outbound_data())  # PUBCOMP
        return received, acks

    def check(result):
        received, acks = result
        assert [bytes(packet.payload) for packet in received] == [PAYLOAD], received
        assert len(acks) == (0, 2, 4)[qos], acks
        assert not publisher._pending_packets and not to_subscriber._pending_packets  # both flows over

    return round_, check


FANOUT = 100


def _puback(packet_id):
    return bytes((0x40, 2, packet_id >> 8, packet_id & 0xFF))


def session_fanout(api, version, qos):
    """One message from a publisher's server connection to FANOUT subscribers' server connections."""
    publisher, to_publisher = api.ClientConnection(version), api.ServerConnection()
    publisher.connect("p", keep_alive=0)
    to_publisher.receive_data(publisher.data_to_send())
    to_publisher.accept()
    publisher.receive_data(to_publisher.data_to_send())
    publisher.publish(TOPIC, PAYLOAD, qos)
    (received,) = to_publisher.receive_data(publisher.data_to_send())
    message = received.message
    links = []
    for index in range(FANOUT):
        subscriber, server = api.ClientConnection(version), api.ServerConnection()
        subscriber.connect(f"s{index}", keep_alive=0)
        server.receive_data(subscriber.data_to_send())
        server.accept()
        subscriber.receive_data(server.data_to_send())
        links.append(server)

    def round_():
        sent = []
        for server in links:
            packet_id = server.deliver(message, 2)
            sent.append(server.data_to_send())
            if packet_id is not None:
                server.receive_data(_puback(packet_id))
        return sent

    def check(sent):
        assert len(sent) == FANOUT and all(len(wire) > len(PAYLOAD) for wire in sent)
        assert all(not server.session.outbound for server in links)

    return round_, check


def codec_fanout(api, version, qos):
    """The floor: one encode_forward per subscriber (and, at QoS 1, one PUBACK decoded)."""
    encode_forward = api.encode_forward
    wire = api.encode(api.Publish(topic=TOPIC, payload=PAYLOAD, qos=qos, packet_id=1 if qos else None), version)
    (message,) = api.Decoder(version).feed(wire)
    decoders = [api.Decoder(version) for _ in range(FANOUT)]

    def round_():
        sent = []
        for index, decoder in enumerate(decoders):
            header, payload = encode_forward(message, version, granted_qos=2, packet_id=index + 1)
            sent.append(b"".join((header, payload)))
            if qos:
                decoder.feed(_puback(index + 1))
        return sent

    def check(sent):
        assert len(sent) == FANOUT and all(len(wire) > len(PAYLOAD) for wire in sent)

    return round_, check


def make_fanout(contender, version, qos):
    """``(round, check)`` of a 1 -> FANOUT fan-out for ``contender`` (mqttfast-* or codec-*)."""
    if contender.startswith("codec"):
        return codec_fanout(_module(contender), version, qos)
    return session_fanout(_module(contender), version, qos)


def make_round(contender, version, qos):
    """``(round, check)`` of ``contender``; ImportError when its package is missing."""
    if contender == "mqttproto":
        return mqttproto_round(version, qos)
    if contender.startswith("codec"):
        return codec_round(_module(contender), version, qos)
    return session_round(_module(contender), version, qos)


def main(argv):
    contender, version, qos, count = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    if contender.startswith("fanout-"):
        round_, check = make_fanout(contender[len("fanout-"):], version, qos)
    else:
        round_, check = make_round(contender, version, qos)
    check(round_())
    for _ in range(200):
        round_()
    for _ in range(count):
        round_()


if __name__ == "__main__":
    main(sys.argv[1:])
