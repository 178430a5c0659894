"""QoS 0, 1 and 2 flows in both directions (SESSIONS.md §3)."""

import pytest

from .helpers.sessions import accepted_server, connected_client, exchange, pair, published, sent

VERSIONS = [4, 5]


def publish(api, version, packet_id, qos=1, topic="t", payload=b"x", dup=False):
    return api.encode(api.Publish(topic=topic, payload=payload, qos=qos, packet_id=packet_id, dup=dup), version)


def kinds(packets):
    return [(p.packet_type.name, getattr(p, "packet_id", None)) for p in packets]


# ---- packet ids ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_each_side_has_its_own_id_space(api, version):
    client, server = pair(api, version)
    assert client.publish("a", b"from client", qos=2) == 1
    assert server.deliver(published(api, "b", b"from server", qos=2), 2) == 1
    client_events, server_events = exchange(client, server)
    assert sorted(type(e).__name__ for e in client_events) == ["MessageReceived", "PublishCompleted"]
    assert sorted(type(e).__name__ for e in server_events) == ["MessageReceived", "PublishCompleted"]
    assert not client.session.outbound and not server.session.outbound
    assert not client.session.inbound_qos2 and not server.session.inbound_qos2


def test_ids_in_flight_are_never_reused_and_are_freed_by_the_ack(api):
    client = connected_client(api, 5)
    ids = [client.publish("a", b"x", qos=1) for _ in range(5)]
    assert len(set(ids)) == 5 and 0 not in ids
    client.data_to_send()
    client.receive_data(api.encode(api.Puback(packet_id=ids[2]), 5))
    assert ids[2] not in client.session.outbound
    assert set(client.session.outbound) == set(ids) - {ids[2]}


def test_subscribe_ids_do_not_collide_with_publish_ids(api):
    client = connected_client(api, 5)
    publish_id = client.publish("a", b"x", qos=1)
    subscribe_id = client.subscribe("a/#", 1)
    unsubscribe_id = client.unsubscribe("a/#")
    assert len({publish_id, subscribe_id, unsubscribe_id}) == 3


# ---- QoS 0 and 1 -----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_qos_0_has_no_id_no_dup_and_no_ack(api, version):
    client, server = pair(api, version)
    assert client.publish("a", b"x") is None
    (message,) = sent(api, client)
    assert (message.qos, message.packet_id, message.dup) == (0, None, False)
    events = server.receive_data(api.encode(message, version))
    assert [type(e) for e in events] == [api.MessageReceived]
    assert server.data_to_send() == b""


@pytest.mark.parametrize("version", VERSIONS)
def test_qos_1_is_held_until_puback(api, version):
    client = connected_client(api, version)
    packet_id = client.publish("a", b"x", qos=1)
    (message,) = sent(api, client)
    assert (message.packet_id, message.dup) == (packet_id, False)
    assert packet_id in client.session.outbound
    events = client.receive_data(api.encode(api.Puback(packet_id=packet_id), version))
    assert [(type(e), e.packet_id, e.reason_code) for e in events] == [(api.PublishCompleted, packet_id, 0)]
    assert not client.session.outbound


@pytest.mark.parametrize("version", VERSIONS)
def test_qos_1_receiver_acks_each_and_the_same_id_after_puback_is_new(api, version):
    server = accepted_server(api, version)
    for _ in range(2):
        events = server.receive_data(publish(api, version, 9))
        assert [type(e) for e in events] == [api.MessageReceived]
        assert kinds(sent(api, server)) == [("PUBACK", 9)]


# ---- QoS 2 -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_qos_2_sender_flow(api, version):
    client = connected_client(api, version)
    packet_id = client.publish("a", b"x", qos=2)
    client.data_to_send()
    assert client.receive_data(api.encode(api.Pubrec(packet_id=packet_id), version)) == []
    assert kinds(sent(api, client)) == [("PUBREL", packet_id)]
    # A repeated PUBREC gets the PUBREL again, never the PUBLISH.
    assert client.receive_data(api.encode(api.Pubrec(packet_id=packet_id), version)) == []
    assert kinds(sent(api, client)) == [("PUBREL", packet_id)]
    events = client.receive_data(api.encode(api.Pubcomp(packet_id=packet_id), version))
    assert [(type(e), e.packet_id) for e in events] == [(api.PublishCompleted, packet_id)]
    assert not client.session.outbound


@pytest.mark.parametrize("version", VERSIONS)
def test_qos_2_receiver_delivers_once_until_pubrel(api, version):
    server = accepted_server(api, version)
    assert [type(e) for e in server.receive_data(publish(api, version, 4, qos=2))] == [api.MessageReceived]
    assert kinds(sent(api, server)) == [("PUBREC", 4)]
    # The retransmission (DUP) is acknowledged again without a second delivery [MQTT-4.3.3-10].
    assert server.receive_data(publish(api, version, 4, qos=2, dup=True)) == []
    assert kinds(sent(api, server)) == [("PUBREC", 4)]
    assert server.receive_data(api.encode(api.Pubrel(packet_id=4), version)) == []
    assert kinds(sent(api, server)) == [("PUBCOMP", 4)]
    # After PUBCOMP the id is fresh: a new message [MQTT-4.3.3-12].
    assert [type(e) for e in server.receive_data(publish(api, version, 4, qos=2))] == [api.MessageReceived]


def test_qos_2_receiver_refusing_pubrec_frees_the_id(api):
    server = accepted_server(api, 5, server_options={"auto_ack": False})
    (event,) = server.receive_data(publish(api, 5, 4, qos=2))
    server.ack(event, 0x87)
    (pubrec,) = sent(api, server)
    assert (pubrec.packet_type, pubrec.reason_code) == (api.PacketType.PUBREC, 0x87)
    assert not server.session.inbound_qos2
    assert [type(e) for e in server.receive_data(publish(api, 5, 4, qos=2))] == [api.MessageReceived]


# ---- unknown ids and refusals ----------------------------------------------------------------------------


def test_unknown_pubrel_and_pubrec_get_0x92(api):
    client = connected_client(api, 5)
    client.receive_data(api.encode(api.Pubrel(packet_id=3), 5))
    client.receive_data(api.encode(api.Pubrec(packet_id=5), 5))
    answers = sent(api, client)
    assert [(p.packet_type, p.packet_id, p.reason_code) for p in answers] == [
        (api.PacketType.PUBCOMP, 3, 0x92),
        (api.PacketType.PUBREL, 5, 0x92),
    ]
    assert not client.closed


def test_unknown_pubrel_at_311_gets_a_plain_pubcomp(api):
    server = accepted_server(api, 4)
    server.receive_data(api.encode(api.Pubrel(packet_id=3), 4))
    assert server.data_to_send() == b"\x70\x02\x00\x03"


@pytest.mark.parametrize("version", VERSIONS)
def test_stray_puback_and_pubcomp_are_ignored(api, version):
    client = connected_client(api, version)
    packet_id = client.publish("a", b"x", qos=2)
    client.data_to_send()
    assert client.receive_data(api.encode(api.Puback(packet_id=packet_id), version)) == []
    assert client.receive_data(api.encode(api.Pubcomp(packet_id=packet_id), version)) == []
    assert client.receive_data(api.encode(api.Puback(packet_id=77), version)) == []
    assert client.data_to_send() == b"" and not client.closed
    assert packet_id in client.session.outbound


@pytest.mark.parametrize("ack, code", [("Puback", 0x87), ("Pubrec", 0x80), ("Pubrec", 0x97)])
def test_an_error_ack_ends_the_flow_without_retransmission(api, ack, code):
    client = connected_client(api, 5, connack=api.Connack(receive_maximum=1))
    qos = 1 if ack == "Puback" else 2
    packet_id = client.publish("a", b"x", qos=qos)
    behind = client.publish("a", b"y", qos=qos)  # waits for the quota
    assert kinds(sent(api, client)) == [("PUBLISH", packet_id)]
    events = client.receive_data(api.encode(getattr(api, ack)(packet_id=packet_id, reason_code=code), 5))
    assert [(type(e), e.packet_id, e.reason_code) for e in events] == [(api.PublishCompleted, packet_id, code)]
    assert kinds(sent(api, client)) == [("PUBLISH", behind)]  # no PUBREL; the quota came back
    assert packet_id not in client.session.outbound


# ---- resending after a reconnect -------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_client_resends_unacked_publish_with_dup_and_pubrel_in_order_on_reconnect(api, version):
    client = connected_client(api, version, clean_start=False, **({"session_expiry_interval": 60} if version == 5 else {}))
    first = client.publish("a", b"1", qos=1)
    second = client.publish("a", b"2", qos=2)
    third = client.publish("a", b"3", qos=2)
    client.data_to_send()
    client.receive_data(api.encode(api.Pubrec(packet_id=third), version))
    assert kinds(sent(api, client)) == [("PUBREL", third)]
    # Nothing is resent on the same connection, however long it waits [MQTT-4.4.0-1].
    for now in (0.0, 30.0, 59.0):
        client.handle_timeout(now)
    assert all(p.packet_type == api.PacketType.PINGREQ for p in sent(api, client))
    client.connection_lost()
    again = connected_client(api, version, {"session": client.session}, api.Connack(session_present=True), clean_start=False)
    resent = sent(api, again)
    assert kinds(resent) == [("PUBLISH", first), ("PUBLISH", second), ("PUBREL", third)]
    assert resent[0].dup and resent[1].dup
    assert (resent[0].payload, resent[1].payload) == (b"1", b"2")


def test_server_resends_to_a_resumed_session(api):
    server = accepted_server(api, 5, client_id="c1", clean_start=False, session_expiry_interval=60)
    first = server.deliver(published(api, "a", b"1", qos=1), 1)
    server.data_to_send()
    session = server.session
    server.connection_lost()
    session.detach(1.0)
    again = api.ServerConnection()
    again.receive_data(api.encode(api.Connect(client_id="c1", clean_start=False), 5))
    again.accept(session=session)
    connack, resent = sent(api, again)
    assert connack.session_present and (resent.packet_id, resent.dup, resent.payload) == (first, True, b"1")


def test_client_resumes_queued_messages_after_the_resent_ones(api):
    client = connected_client(api, 5, clean_start=False, session_expiry_interval=60, connack=api.Connack(receive_maximum=1))
    sent_id = client.publish("a", b"1", qos=1)
    queued_id = client.publish("a", b"2", qos=1)
    client.data_to_send()
    client.connection_lost()
    again = connected_client(api, 5, {"session": client.session}, api.Connack(session_present=True, receive_maximum=1), clean_start=False)
    (resent,) = sent(api, again)
    assert (resent.packet_id, resent.dup) == (sent_id, True)
    again.receive_data(api.encode(api.Puback(packet_id=sent_id), 5))
    (fresh,) = sent(api, again)
    assert (fresh.packet_id, fresh.dup) == (queued_id, False)


# ---- acknowledgement order ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_manual_acks_leave_in_publish_order(api, version):
    server = accepted_server(api, version, server_options={"auto_ack": False})
    data = publish(api, version, 1, qos=1) + publish(api, version, 2, qos=2) + publish(api, version, 3, qos=1)
    events = server.receive_data(data)
    assert [e.message.packet_id for e in events] == [1, 2, 3]
    assert server.data_to_send() == b""
    server.ack(events[2])
    server.ack(events[0])
    assert kinds(sent(api, server)) == [("PUBACK", 1)]
    server.ack(events[1])
    assert kinds(sent(api, server)) == [("PUBREC", 2), ("PUBACK", 3)]
    with pytest.raises(api.LocalProtocolError):
        server.ack(events[1])


def test_automatic_acks_wait_behind_a_pending_manual_one(api):
    # auto_ack=False defers every ack; the order still holds with QoS 0 messages in between.
    server = accepted_server(api, 5, server_options={"auto_ack": False})
    events = server.receive_data(publish(api, 5, 1, qos=1) + publish(api, 5, None, qos=0) + publish(api, 5, 2, qos=1))
    assert [e.qos for e in events] == [1, 0, 1]
    server.ack(events[1])  # QoS 0: nothing to send
    server.ack(events[0])
    server.ack(events[2])
    assert kinds(sent(api, server)) == [("PUBACK", 1), ("PUBACK", 2)]


def test_pubrel_before_the_manual_pubrec_is_a_protocol_error(api):
    server = accepted_server(api, 5, server_options={"auto_ack": False})
    server.receive_data(publish(api, 5, 1, qos=2))
    events = server.receive_data(api.encode(api.Pubrel(packet_id=1), 5))
    assert [(type(e), e.reason_code) for e in events] == [(api.Disconnected, 0x82)]
