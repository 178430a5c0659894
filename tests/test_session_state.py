"""Session state across connections (SESSIONS.md §5): dump/load, Clean Start, will and expiry, bounded queues."""

import pytest

from .helpers.sessions import accepted_server, connected_client, published, sent


def resumed_server(api, session, now=None, **connect):
    server = api.ServerConnection()
    if now is not None:
        server.handle_timeout(now)
    server.receive_data(api.encode(api.Connect(client_id="c1", clean_start=False, **connect), 5))
    server.accept(session=session)
    return server


# ---- dump and load ---------------------------------------------------------------------------


def test_client_session_round_trip_resumes_the_same_flows(api):
    client = connected_client(api, 5, clean_start=False, session_expiry_interval=60, connack=api.Connack(receive_maximum=2))
    one = client.publish("a", b"1", qos=1, user_properties=[("k", "v")])
    two = client.publish("a", b"2", qos=2)
    three = client.publish("a", b"3", qos=1)  # waits for the quota
    client.data_to_send()
    client.receive_data(api.encode(api.Pubrec(packet_id=two), 5))
    client.receive_data(api.encode(api.Publish(topic="in", qos=2, packet_id=40), 5))
    client.data_to_send()
    state = client.session.dump()
    loaded = api.ClientSession.load(state)
    assert loaded.dump() == state
    assert loaded.inbound_qos2 == {40}
    again = connected_client(api, 5, {"session": loaded}, api.Connack(session_present=True, receive_maximum=2), clean_start=False)
    resent = sent(api, again)
    # The PUBREL's flow holds a unit of the quota of 2 until its PUBCOMP, as the receiver counts it.
    assert [(p.packet_type.name, p.packet_id) for p in resent] == [("PUBLISH", one), ("PUBREL", two)]
    assert resent[0].dup and resent[0].user_properties == [("k", "v")]
    again.receive_data(api.encode(api.Puback(packet_id=one), 5))
    (third,) = sent(api, again)
    assert (third.packet_type.name, third.packet_id, third.dup) == ("PUBLISH", three, False)
    # The inbound QoS 2 id survived: its retransmission is not delivered again.
    assert again.receive_data(api.encode(api.Publish(topic="in", qos=2, packet_id=40, dup=True), 5)) == []


def test_server_session_round_trip(api):
    will = api.Will(topic="w", payload=b"bye", qos=1, will_delay_interval=5, user_properties=[("a", "1"), ("b", "2")])
    server = accepted_server(api, 5, client_id="c1", clean_start=False, will=will, session_expiry_interval=100)
    subscribe = api.Subscribe(
        packet_id=1,
        subscriptions=[api.Subscription(topic_filter="a/#", qos=1, no_local=True, retain_handling=2)],
        subscription_identifier=7,
    )
    (request,) = server.receive_data(api.encode(subscribe, 5))
    server.suback(request, [1])
    session = server.session
    server.connection_lost()
    session.detach(10.0)
    session.enqueue(published(api, "a/b", b"queued", qos=1), 1)
    state = session.dump()
    loaded = api.ServerSession.load(state)
    assert loaded.dump() == state
    subscription, identifier = loaded.subscriptions["a/#"]
    assert (subscription.qos, subscription.no_local, subscription.retain_handling, identifier) == (1, True, 2, 7)
    assert loaded.next_deadline() == 15.0
    (event,) = loaded.handle_timeout(15.0)
    assert isinstance(event, api.WillPublished)
    assert (event.message.payload, event.message.user_properties) == (b"bye", [("a", "1"), ("b", "2")])
    again = resumed_server(api, loaded)
    connack, delivery = sent(api, again)
    assert connack.session_present and delivery.payload == b"queued"


# ---- Clean Start and expiry ---------------------------------------------------------------------


def test_client_clean_start_discards_its_session(api):
    session = api.ClientSession()
    client = connected_client(api, 5, {"session": session}, clean_start=False, session_expiry_interval=60)
    client.publish("a", b"x", qos=1)
    client.connection_lost()
    connected_client(api, 5, {"session": session}, clean_start=True)
    assert not session.outbound


@pytest.mark.parametrize("clean_start, expiry", [(True, 0), (False, 0xFFFFFFFF)])
def test_311_clean_session_maps_to_session_expiry(api, clean_start, expiry):
    server = accepted_server(api, 4, clean_start=clean_start)
    assert server.session.expiry_interval == expiry


def test_session_expiry_absent_ends_the_session_with_the_connection(api):
    server = accepted_server(api, 5)
    events = server.session.detach(3.0)
    assert [type(e) for e in events] == [api.SessionExpired]


def test_session_expiry_never(api):
    server = accepted_server(api, 5, session_expiry_interval=0xFFFFFFFF)
    assert server.session.detach(3.0) == [] and server.session.next_deadline() is None


def test_server_may_impose_the_session_expiry(api):
    server = accepted_server(api, 5, session_expiry_interval=1000, accept_options={"session_expiry_interval": 10})
    assert server.session.expiry_interval == 10


def test_session_expiry_cannot_change_from_0_on_disconnect(api):
    server = accepted_server(api, 5)
    events = server.receive_data(api.encode(api.Disconnect(session_expiry_interval=30), 5))
    assert [(type(e), e.reason_code) for e in events] == [(api.Disconnected, 0x82)]
    client = connected_client(api, 5)
    with pytest.raises(api.LocalProtocolError):
        client.disconnect(session_expiry_interval=30)


def test_disconnect_may_change_a_nonzero_session_expiry(api):
    server = accepted_server(api, 5, session_expiry_interval=10)
    server.receive_data(api.encode(api.Disconnect(session_expiry_interval=99), 5))
    assert server.session.expiry_interval == 99


# ---- the will ------------------------------------------------------------------------------------


@pytest.mark.parametrize("delay, expiry, fires_at", [(30, 60, 30.0), (100, 60, 60.0), (0, 60, 0.0)])
def test_will_fires_at_its_delay_or_the_session_end_whichever_first(api, delay, expiry, fires_at):
    will = api.Will(topic="w", payload=b"bye", will_delay_interval=delay)
    server = accepted_server(api, 5, will=will, session_expiry_interval=expiry)
    server.connection_lost()
    session = server.session
    events = session.detach(0.0)
    now = 0.0
    while not any(isinstance(e, api.WillPublished) for e in events):
        now = session.next_deadline()
        events = session.handle_timeout(now)
    assert now == fires_at
    assert [e.message.payload for e in events if isinstance(e, api.WillPublished)] == [b"bye"]


@pytest.mark.parametrize("code, fires", [(0x00, False), (0x04, True), (0x80, True)])
def test_disconnect_0_discards_the_will_other_codes_keep_it(api, code, fires):
    server = accepted_server(api, 5, will=api.Will(topic="w", payload=b"bye"))
    server.receive_data(api.encode(api.Disconnect(reason_code=code), 5))
    events = server.session.detach(0.0)
    assert any(isinstance(e, api.WillPublished) for e in events) is fires


def test_311_will_fires_on_any_close_without_disconnect(api):
    server = accepted_server(api, 4, will=api.Will(topic="w", payload=b"bye"))
    server.connection_lost()
    assert [type(e) for e in server.session.detach(0.0)] == [api.WillPublished, api.SessionExpired]
    server = accepted_server(api, 4, will=api.Will(topic="w", payload=b"bye"))
    server.receive_data(b"\xe0\x00")
    assert [type(e) for e in server.session.detach(0.0)] == [api.SessionExpired]


def test_reconnect_within_the_will_delay_cancels_it(api):
    will = api.Will(topic="w", payload=b"bye", will_delay_interval=30)
    server = accepted_server(api, 5, will=will, session_expiry_interval=60)
    session = server.session
    server.connection_lost()
    session.detach(0.0)
    resumed_server(api, session)
    assert session.handle_timeout(31.0) == [] and session.next_deadline() is None


# ---- message expiry ------------------------------------------------------------------------------


def test_queued_message_expires_before_it_starts(api):
    server = accepted_server(api, 5, client_id="c1", clean_start=False, session_expiry_interval=600)
    session = server.session
    server.connection_lost()
    session.detach(0.0)
    session.enqueue(published(api, "a", b"old", qos=1), 1, expires_at=10.0)
    session.enqueue(published(api, "a", b"new", qos=1, message_expiry_interval=100), 1, expires_at=100.0)
    again = resumed_server(api, session, now=20.0)
    connack, delivery = sent(api, again)
    assert delivery.payload == b"new" and delivery.message_expiry_interval == 80
    assert len(session.outbound) == 1


def test_deliver_forwards_the_remaining_lifetime_or_nothing(api):
    server = accepted_server(api, 5)
    server.handle_timeout(50.0)
    message = published(api, "a", b"x", qos=1, message_expiry_interval=60)
    server.deliver(message, 1, expires_at=60.0)
    (delivery,) = sent(api, server)
    assert delivery.message_expiry_interval == 10
    assert server.deliver(message, 1, expires_at=40.0) is None
    assert server.data_to_send() == b""


# ---- bounded queues --------------------------------------------------------------------------------


def test_client_queue_full(api):
    client = connected_client(api, 5, {"max_queued": 2}, api.Connack(receive_maximum=1))
    for _ in range(3):
        client.publish("a", b"x", qos=1)  # one in flight, two waiting
    with pytest.raises(api.QueueFull) as info:
        client.publish("a", b"x", qos=1)
    assert info.value.reason_code == 0x97
    assert len(client.session.waiting) == 2
    client.publish("a", b"qos 0 is never queued")


def test_server_session_drops_the_newest_when_full(api):
    session = api.ServerSession("c1", max_queued=2)
    ids = [session.enqueue(published(api, "a", bytes([n]), qos=1), 1) for n in range(4)]
    assert ids[2:] == [None, None] and session.dropped == 2
    assert [session.outbound[i].message.payload for i in ids[:2]] == [b"\x00", b"\x01"]
    assert session.enqueue(published(api, "a", b"q0"), 0) is None


def test_server_connection_drops_beyond_the_queue_and_counts(api):
    server = accepted_server(api, 5, server_options={"max_queued": 1}, receive_maximum=1)
    ids = [server.deliver(published(api, "a", bytes([n]), qos=1), 1) for n in range(3)]
    assert ids[2] is None and server.session.dropped == 1
