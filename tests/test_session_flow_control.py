"""Flow control and capabilities of MQTT 5 (SESSIONS.md §4): quotas, Maximum QoS, packet sizes, topic aliases."""

import pytest

from .helpers.sessions import accepted_server, connected_client, pair, published, sent


def publish(api, packet_id, qos=1, topic="t", payload=b"x", **properties):
    return api.encode(api.Publish(topic=topic, payload=payload, qos=qos, packet_id=packet_id, **properties), 5)


# ---- Receive Maximum --------------------------------------------------------------------------


def test_send_quota_holds_qos_1_and_2_and_lets_everything_else_through(api):
    client = connected_client(api, 5, connack=api.Connack(receive_maximum=2))
    ids = [client.publish("t", bytes([n]), qos=1 + n % 2) for n in range(4)]
    assert [p.packet_id for p in sent(api, client)] == ids[:2]
    assert client.session.in_flight == 2 and list(client.session.waiting) == ids[2:]
    client.publish("t", b"zero")  # QoS 0 is free
    client.subscribe("s", 1)
    assert [p.packet_type.name for p in sent(api, client)] == ["PUBLISH", "SUBSCRIBE"]
    client.receive_data(api.encode(api.Puback(packet_id=ids[0]), 5))
    assert [p.packet_id for p in sent(api, client)] == [ids[2]]
    client.receive_data(api.encode(api.Pubrec(packet_id=ids[1]), 5))  # PUBREC < 0x80 frees no quota
    assert [p.packet_type.name for p in sent(api, client)] == ["PUBREL"]
    client.receive_data(api.encode(api.Pubcomp(packet_id=ids[1]), 5))
    assert [p.packet_id for p in sent(api, client)] == [ids[3]]


def test_the_server_respects_the_client_receive_maximum(api):
    server = accepted_server(api, 5, receive_maximum=1)
    first = server.deliver(published(api, "t", b"1", qos=1), 1)
    second = server.deliver(published(api, "t", b"2", qos=1), 1)
    assert [p.packet_id for p in sent(api, server)] == [first]
    server.receive_data(api.encode(api.Puback(packet_id=first), 5))
    assert [p.packet_id for p in sent(api, server)] == [second]


def test_inbound_beyond_our_receive_maximum_is_0x93(api):
    server = accepted_server(api, 5, server_options={"receive_maximum": 2})
    server.receive_data(publish(api, 1, qos=2) + publish(api, 2, qos=2))
    assert not server.closed
    events = server.receive_data(publish(api, 3, qos=2))
    assert [(type(e), e.reason_code) for e in events] == [(api.Disconnected, 0x93)]
    assert [p.reason_code for p in sent(api, server)[-1:]] == [0x93]


def test_inbound_quota_frees_on_our_pubcomp(api):
    server = accepted_server(api, 5, server_options={"receive_maximum": 1})
    for packet_id in (1, 2, 3):
        assert len(server.receive_data(publish(api, packet_id, qos=2))) == 1
        server.receive_data(api.encode(api.Pubrel(packet_id=packet_id), 5))
    assert not server.closed


def test_inbound_qos_1_of_one_read_counts_only_after_that_read(api):
    # A client pipelining QoS 1 publishes is accepted with manual acks as with auto acks (mosquitto too);
    # what the application has not acknowledged by the next read counts.
    server = accepted_server(api, 5, server_options={"receive_maximum": 2, "auto_ack": False})
    events = server.receive_data(b"".join(publish(api, packet_id) for packet_id in (1, 2, 3)))
    assert [type(e) for e in events] == [api.MessageReceived] * 3
    server.ack(events[0])
    events = server.receive_data(publish(api, 4))
    assert [(type(e), e.reason_code) for e in events] == [(api.Disconnected, 0x93)]


def test_inbound_qos_1_counts_until_our_manual_puback(api):
    client = connected_client(api, 5, client_options={"receive_maximum": 1, "auto_ack": False})
    (event,) = client.receive_data(publish(api, 1))
    events = client.receive_data(publish(api, 2))
    assert [(type(e), e.reason_code) for e in events] == [(api.Disconnected, 0x93)]


# ---- Maximum QoS, Retain Available, subscription capabilities ------------------------------------


@pytest.mark.parametrize(
    "connack, call, code",
    [
        ({"maximum_qos": 1}, lambda c: c.publish("t", b"x", qos=2), 0x9B),
        ({"maximum_qos": 0}, lambda c: c.publish("t", b"x", qos=1), 0x9B),
        ({"retain_available": 0}, lambda c: c.publish("t", b"x", retain=True), 0x9A),
        ({"wildcard_subscription_available": 0}, lambda c: c.subscribe("a/+"), 0xA2),
        ({"shared_subscription_available": 0}, lambda c: c.subscribe("$share/g/a"), 0x9E),
        ({"subscription_identifier_available": 0}, lambda c: c.subscribe("a", subscription_identifier=3), 0xA1),
    ],
)
def test_client_stays_within_the_server_capabilities(api, connack, call, code):
    client = connected_client(api, 5, connack=api.Connack(**connack))
    with pytest.raises(api.LocalProtocolError) as info:
        call(client)
    assert info.value.reason_code == code
    assert client.data_to_send() == b"" and not client.closed


def test_server_announces_its_capabilities_and_still_takes_subscribe_at_qos_2(api):
    client, server = pair(
        api, 5, server_options={"maximum_qos": 1, "retain_available": False, "receive_maximum": 5}
    )
    assert (client.connack.maximum_qos, client.connack.retain_available, client.connack.receive_maximum) == (1, 0, 5)
    client.subscribe("a", 2)
    (request,) = server.receive_data(client.data_to_send())
    server.suback(request, [2])
    (subscribed,) = client.receive_data(server.data_to_send())
    assert subscribed.reason_codes == [1]


def test_server_refuses_a_subscription_identifier_it_does_not_support(api):
    server = accepted_server(api, 5, server_options={"subscription_identifier_available": False})
    subscribe = api.Subscribe(
        packet_id=1, subscriptions=[api.Subscription(topic_filter="a")], subscription_identifier=4
    )
    events = server.receive_data(api.encode(subscribe, 5))
    assert [(type(e), e.reason_code) for e in events] == [(api.Disconnected, 0xA1)]
    assert [p.reason_code for p in sent(api, server)] == [0xA1]


def test_server_publishes_over_maximum_qos_or_retain_are_violations(api):
    # A client breaking the announced capabilities: 0x9B and 0x9A [MQTT-3.2.2-11, -14].
    server = accepted_server(api, 5, server_options={"maximum_qos": 1})
    events = server.receive_data(publish(api, 1, qos=2))
    assert [(type(e), e.reason_code) for e in events] == [(api.Disconnected, 0x9B)]
    server = accepted_server(api, 5, server_options={"retain_available": False})
    events = server.receive_data(publish(api, None, qos=0, retain=True))
    assert [(type(e), e.reason_code) for e in events] == [(api.Disconnected, 0x9A)]


# ---- Maximum Packet Size -----------------------------------------------------------------------------


def test_client_never_sends_more_than_the_server_maximum_packet_size(api):
    client = connected_client(api, 5, connack=api.Connack(maximum_packet_size=64))
    with pytest.raises(api.LocalProtocolError) as info:
        client.publish("t", b"x" * 100)
    assert info.value.reason_code == 0x95
    assert client.data_to_send() == b"" and not client.session.outbound
    client.publish("t", b"x" * 10, qos=1)
    assert len(client.data_to_send()) <= 64


def test_client_refuses_a_queued_message_too_large_at_publish_time(api):
    client = connected_client(api, 5, connack=api.Connack(maximum_packet_size=64, receive_maximum=1))
    client.publish("t", b"x", qos=1)
    with pytest.raises(api.LocalProtocolError) as info:
        client.publish("t", b"x" * 100, qos=1)
    assert info.value.reason_code == 0x95
    assert len(client.session.waiting) == 0


def test_server_drops_a_delivery_larger_than_the_client_maximum_as_if_delivered(api):
    server = accepted_server(api, 5, maximum_packet_size=64)
    server.deliver(published(api, "t", b"x" * 100, qos=1), 1)
    assert server.data_to_send() == b"" and not server.session.outbound
    server.deliver(published(api, "t", b"small", qos=1), 1)
    assert [p.payload for p in sent(api, server)] == [b"small"]


def test_reason_string_then_user_properties_are_dropped_to_fit(api):
    server = accepted_server(api, 5, maximum_packet_size=40)
    subscribe = api.Subscribe(packet_id=1, subscriptions=[api.Subscription(topic_filter="a")])
    for reason, properties, kept_reason, kept_properties in [
        ("r" * 50, [("k", "v")], None, [("k", "v")]),
        ("r" * 50, [("k" * 50, "v")], None, []),
        ("short", [], "short", []),
    ]:
        (request,) = server.receive_data(api.encode(subscribe, 5))
        server.suback(request, [0], reason_string=reason, user_properties=properties)
        data = server.data_to_send()
        assert len(data) <= 40
        suback, _ = api.decode(data, 5)
        assert (suback.reason_string, suback.user_properties) == (kept_reason, kept_properties)


def test_inbound_packet_over_our_maximum_is_0x95(api):
    client = connected_client(api, 5, client_options={"max_packet_size": 100})
    events = client.receive_data(publish(api, None, qos=0, payload=b"x" * 200))
    assert [(type(e), e.reason_code) for e in events] == [(api.Disconnected, 0x95)]
    assert [p.reason_code for p in sent(api, client)] == [0x95]


def test_the_client_announces_its_maximum_packet_size(api):
    client, server = pair(api, 5, client_options={"max_packet_size": 500})
    assert server.connect_packet.maximum_packet_size == 500


# ---- topic aliases ------------------------------------------------------------------------------------


def test_client_uses_aliases_up_to_the_server_maximum_and_the_server_resolves_them(api):
    client, server = pair(api, 5, server_options={"topic_alias_maximum": 2})
    topics = ["a/1", "a/2", "a/1", "a/3", "a/1", "a/2"]
    for topic in topics:
        client.publish(topic, b"x")
    data = client.data_to_send()
    wire = []
    offset = 0
    while offset < len(data):
        packet, size = api.decode(data[offset:], 5)
        wire.append((packet.topic, packet.topic_alias))
        offset += size
    assert all(alias in (1, 2) for _, alias in wire)
    assert wire[0] == ("a/1", 1) and wire[1] == ("a/2", 2) and wire[2] == ("", 1)
    events = server.receive_data(data)
    assert [(e.topic, e.message.topic_alias) for e in events] == [(t, None) for t in topics]


def test_no_aliases_toward_a_peer_without_topic_alias_maximum(api):
    client, server = pair(api, 5, server_options={"topic_alias_maximum": 0})
    client.publish("a", b"x")
    client.publish("a", b"x")
    assert [(p.topic, p.topic_alias) for p in sent(api, client)] == [("a", None), ("a", None)]


def test_server_uses_aliases_toward_a_client_that_allows_them(api):
    client, server = pair(api, 5, client_options={"topic_alias_maximum": 1})
    for payload in (b"1", b"2"):
        server.deliver(published(api, "long/topic", payload), 0)
    assert [(p.topic, p.topic_alias) for p in sent(api, server)] == [("long/topic", 1), ("", 1)]


@pytest.mark.parametrize("alias", [0, 11])
def test_alias_out_of_range_is_0x94(api, alias):
    server = accepted_server(api, 5)  # topic alias maximum 10
    # Built by hand: the encoder refuses alias 0. Topic "t", property 0x23 (Topic Alias), payload "x".
    events = server.receive_data(b"\x30\x08\x00\x01t\x03\x23" + alias.to_bytes(2, "big") + b"x")
    assert [(type(e), e.reason_code) for e in events] == [(api.Disconnected, 0x94)]
    assert [p.reason_code for p in sent(api, server)] == [0x94]


def test_an_alias_toward_a_client_that_allows_none_is_0x94(api):
    client = connected_client(api, 5)
    events = client.receive_data(publish(api, None, qos=0, topic_alias=1))
    assert [(type(e), e.reason_code) for e in events] == [(api.Disconnected, 0x94)]


def test_unknown_alias_without_topic_is_0x82(api):
    server = accepted_server(api, 5)
    events = server.receive_data(publish(api, None, qos=0, topic="", topic_alias=3))
    assert [(type(e), e.reason_code) for e in events] == [(api.Disconnected, 0x82)]


def test_aliases_do_not_carry_over_to_the_next_connection(api):
    server = accepted_server(api, 5)
    server.receive_data(publish(api, None, qos=0, topic="a/b", topic_alias=1))
    assert [e.topic for e in server.receive_data(publish(api, None, qos=0, topic="", topic_alias=1))] == ["a/b"]
    again = accepted_server(api, 5)
    events = again.receive_data(publish(api, None, qos=0, topic="", topic_alias=1))
    assert [(type(e), e.reason_code) for e in events] == [(api.Disconnected, 0x82)]


def test_a_resumed_session_resends_with_the_full_topic(api):
    connack = api.Connack(topic_alias_maximum=5)
    client = connected_client(api, 5, clean_start=False, session_expiry_interval=60, connack=connack)
    client.publish("a/b", b"1")
    packet_id = client.publish("a/b", b"2", qos=1)
    assert [(p.topic, p.topic_alias) for p in sent(api, client)] == [("a/b", 1), ("", 1)]
    client.connection_lost()
    again = connected_client(api, 5, {"session": client.session}, api.Connack(session_present=True, topic_alias_maximum=5), clean_start=False)
    (resent,) = sent(api, again)
    assert (resent.packet_id, resent.topic, resent.dup) == (packet_id, "a/b", True)


@pytest.mark.parametrize("version", [3, 4, 5])
def test_max_inflight_bounds_the_send_quota_even_where_the_server_announces_none(api, version):
    connack = api.Connack(receive_maximum=10) if version == 5 else None
    client = connected_client(api, version, {"max_inflight": 2}, connack)
    ids = [client.publish("t", b"x", qos=1) for _ in range(4)]
    assert [p.packet_id for p in sent(api, client)] == ids[:2]
    client.receive_data(api.encode(api.Puback(packet_id=ids[0]), version))
    assert [p.packet_id for p in sent(api, client)] == [ids[2]]


def test_a_will_of_the_other_twin_is_taken_by_connect(api):
    from mqttfast import fallback

    # Both twins are needed; an install built without extensions has only one.
    other = fallback if api.IMPLEMENTATION == "cython" else pytest.importorskip("mqttfast._compiled", exc_type=ImportError)
    client = api.ClientConnection(5)
    client.connect("c1", will=other.Will(topic="w", payload=b"bye", qos=1, user_properties=[("a", "1")]))
    connect, _ = api.decode(client.data_to_send(), None)
    assert (connect.will.topic, connect.will.payload, connect.will.qos, connect.will.user_properties) == (
        "w",
        b"bye",
        1,
        [("a", "1")],
    )


# ---- A lone PUBACK read without events (the broker's shortcut) -------------------------------------


def _in_flight(api, version, receive_maximum=2):
    # A server that delivered two QoS 1 messages; with a Receive Maximum of 1 (5.0) the second waits.
    server = accepted_server(api, version, keep_alive=10, **({"receive_maximum": receive_maximum} if version == 5 else {}))
    first = server.deliver(published(api, "t", b"1", qos=1), 1)
    second = server.deliver(published(api, "t", b"2", qos=1), 1)
    server.data_to_send()
    return server, first, second


@pytest.mark.parametrize("version", [4, 5])
def test_puback_received_does_what_receive_data_does_with_those_four_bytes(api, version):
    by_bytes, first, second = _in_flight(api, version)
    by_id, _, _ = _in_flight(api, version)
    by_bytes.handle_timeout(0.0)
    by_id.handle_timeout(0.0)
    events = by_bytes.receive_data(bytes((0x40, 2, 0, first)), 12.0)
    assert [type(e) for e in events] == [api.PublishCompleted]
    assert by_id.puback_received(first, 12.0) is True
    assert by_id.data_to_send() == by_bytes.data_to_send() == b""
    assert sorted(by_id.session.outbound) == sorted(by_bytes.session.outbound) == [second]
    # The read counts for the keep-alive at its own time: silent until 12 + 15 both close at 27.
    for server in (by_id, by_bytes):
        assert server.handle_timeout(26.9) == []
        assert [type(e) for e in server.handle_timeout(27.0)] == [api.Disconnected]


def test_puback_received_ignores_a_stray_id_as_receive_data_does(api):
    server, first, second = _in_flight(api, 5)
    assert server.puback_received(999, 1.0) is True
    assert server.data_to_send() == b""
    assert sorted(server.session.outbound) == [first, second]


def test_puback_received_leaves_to_receive_data_what_it_cannot_do_alone(api):
    server, first, _ = _in_flight(api, 5)
    assert server.puback_received(0) is False  # a violation: receive_data reports it
    assert server.puback_received(2**70) is False
    server.receive_data(b"\x40")  # part of a packet is held: the next bytes continue it
    assert server.puback_received(first) is False
    assert first in server.session.outbound
    fresh = api.ServerConnection()  # no CONNECT yet
    assert fresh.puback_received(1) is False


def test_puback_received_leaves_a_quota_that_frees_a_waiting_message_to_receive_data(api):
    # Sending the waiting message can fail (here: a topic no PUBLISH may carry), which receive_data
    # reports as a violation, with the connection closed.
    server, first, second = _in_flight(api, 5, receive_maximum=1)
    assert server.puback_received(first) is False
    assert sorted(server.session.outbound) == [first, second]
    events = server.receive_data(bytes((0x40, 2, 0, first)))
    assert [type(e) for e in events] == [api.PublishCompleted]
    assert [p.packet_id for p in sent(api, server)] == [second]
    bad, first, _ = _in_flight(api, 5, receive_maximum=1)
    bad.deliver(published(api, "t", b"3", qos=1), 1)
    bad.session.outbound[max(bad.session.outbound)].message.topic = "bad/#"
    assert bad.puback_received(first) is False
    assert not bad.closed


def test_puback_received_leaves_a_flow_that_ends_in_a_future_to_receive_data(api):
    # An asyncio client hands its connection the futures of its publishes: their results come from
    # receive_data, which this shortcut does not replace.
    client = connected_client(api, 5)
    client._futures = {}
    packet_id = client.publish("t", b"x", qos=1)
    assert client.puback_received(packet_id, 1.0) is False
    assert packet_id in client.session.outbound


def test_a_class_that_replaces_a_step_of_the_puback_path_reads_every_puback_itself(api):
    from mqttfast._connection_common import reads_lone_pubacks

    class Own(api.ServerConnection):
        def _replay(self, packet, events):
            return super()._replay(packet, events)

    class Later(api.ServerConnection):
        pass

    assert reads_lone_pubacks(api.ServerConnection) and not reads_lone_pubacks(Own)
    assert reads_lone_pubacks(Later)
    Later.receive_data = lambda self, data, now=None: []  # replaced after a first answer
    assert not reads_lone_pubacks(Later)
