"""Connection lifecycle (SESSIONS.md §1): CONNECT and CONNACK, session present, client ids, takeover, auth."""

import pytest

from .helpers.sessions import accepted_server, connected_client, pair, published, raw_connect, sent, server_connect

CONNECT_V7 = b"\x10\x0e\x00\x04MQTT\x07\x02\x00\x3c\x00\x02c1"
CONNECT_BRIDGE_311 = b"\x10\x0e\x00\x04MQTT\x84\x02\x00\x3c\x00\x02c1"
CONNECT_RESERVED_FLAG = {5: b"\x10\x0f\x00\x04MQTT\x05\x03\x00\x3c\x00\x00\x02c1", 4: b"\x10\x0e\x00\x04MQTT\x04\x03\x00\x3c\x00\x02c1"}
REFUSED_VERSION = b"\x20\x02\x00\x01"


# ---- CONNECT first, and once ------------------------------------------------------------------


@pytest.mark.parametrize("first", [b"\xc0\x00", b"\x30\x05\x00\x01ahi", b"\x82\x06\x00\x01\x00\x01a\x00"])
def test_a_packet_before_connect_closes_without_an_answer(api, first):
    server = api.ServerConnection()
    events = server.receive_data(first)
    assert [type(e) for e in events] == [api.Disconnected]
    assert events[0].reason_code == 0x82 and not events[0].by_peer
    assert server.closed and server.data_to_send() == b""


@pytest.mark.parametrize("version", [4, 5])
def test_a_second_connect_is_a_protocol_error(api, version):
    server = accepted_server(api, version)
    events = server.receive_data(api.encode(api.Connect(client_id="c1"), version))
    assert [(type(e), e.reason_code) for e in events] == [(api.Disconnected, 0x82)]
    if version == 5:
        assert [(p.packet_type, p.reason_code) for p in sent(api, server)] == [(api.PacketType.DISCONNECT, 0x82)]
    else:
        assert server.data_to_send() == b""  # 3.x has no DISCONNECT from the server
    assert server.closed


def test_a_second_connect_pipelined_behind_the_first_is_refused(api):
    server = api.ServerConnection()
    connect = api.encode(api.Connect(client_id="c1"), 5)
    events = server.receive_data(connect + connect)
    assert [type(e) for e in events] == [api.ConnectRequested, api.Disconnected]
    assert events[1].reason_code == 0x82
    assert [(p.packet_type, p.reason_code) for p in sent(api, server, 5)] == [(api.PacketType.CONNACK, 0x82)]
    assert server.closed


def test_client_cannot_connect_twice(api):
    client = api.ClientConnection(5)
    client.connect("c1")
    with pytest.raises(api.LocalProtocolError):
        client.connect("c1")


# ---- CONNACK ------------------------------------------------------------------------------------


@pytest.mark.parametrize("early", [b"\x90\x04\x00\x01\x00\x00", b"\x30\x04\x00\x01a\x00", b"\xd0\x00"])
def test_client_closes_on_anything_but_auth_before_the_connack(api, early):
    client = api.ClientConnection(5)
    client.connect("c1")
    client.data_to_send()
    events = client.receive_data(early)
    assert [(type(e), e.reason_code) for e in events] == [(api.Disconnected, 0x82)]
    assert client.closed


@pytest.mark.parametrize("version", [3, 4, 5])
def test_a_second_connack_is_a_protocol_error(api, version):
    client = connected_client(api, version)
    events = client.receive_data(api.encode(api.Connack(), version))
    assert [(type(e), e.reason_code) for e in events] == [(api.Disconnected, 0x82)]
    assert client.closed


@pytest.mark.parametrize("version, code", [(5, 0x87), (5, 0x9C), (4, 0x05), (3, 0x02)])
def test_a_refusing_connack_closes_the_client(api, version, code):
    client = api.ClientConnection(version)
    client.connect("c1")
    client.data_to_send()
    events = client.receive_data(api.encode(api.Connack(reason_code=code), version))
    assert [(type(e), e.reason_code, e.unsupported_version) for e in events] == [
        (api.ConnectionRefused, code, False)
    ]
    assert client.closed and client.data_to_send() == b""
    assert client.receive_data(api.encode(api.Connack(), version)) == []


def test_redirect_carries_the_server_reference(api):
    client = api.ClientConnection(5)
    client.connect("c1")
    events = client.receive_data(api.encode(api.Connack(reason_code=0x9D, server_reference="other:1883"), 5))
    assert events[0].reason_code == 0x9D and events[0].packet.server_reference == "other:1883"


@pytest.mark.parametrize(
    "version, code, wire", [(5, 0x87, 0x87), (5, 0x9C, 0x9C), (4, 0x87, 0x05), (4, 0x86, 0x04), (3, 0x85, 0x02)]
)
def test_reject_sends_one_connack_without_session_present_and_closes(api, version, code, wire):
    server = api.ServerConnection()
    server_connect(api, server, version, clean_start=False)
    server.reject(code)
    answers = sent(api, server, version)
    assert [(p.packet_type, p.reason_code, p.session_present) for p in answers] == [
        (api.PacketType.CONNACK, wire, False)
    ]
    assert server.closed


def test_reject_at_311_without_a_fitting_return_code_closes_silently(api):
    server = api.ServerConnection()
    server_connect(api, server, 4)
    server.reject(0x97)
    assert server.data_to_send() == b"" and server.closed


def test_reject_at_5_needs_an_error_code(api):
    server = api.ServerConnection()
    server_connect(api, server, 5)
    with pytest.raises(ValueError):
        server.reject(0x00)


def test_a_refusing_server_ignores_what_the_client_pipelined(api):
    server = api.ServerConnection()
    data = api.encode(api.Connect(client_id="c1"), 5) + api.encode(api.Publish(topic="a", qos=1, packet_id=1), 5)
    server.receive_data(data)
    server.reject(0x87)
    assert [p.packet_type for p in sent(api, server, 5)] == [api.PacketType.CONNACK]
    assert server.receive_data(b"\xc0\x00") == [] and server.data_to_send() == b""


def test_pipelined_packets_are_answered_after_the_connack(api):
    server = api.ServerConnection()
    data = (
        api.encode(api.Connect(client_id="c1"), 5)
        + api.encode(api.Subscribe(packet_id=1, subscriptions=[api.Subscription(topic_filter="a/#", qos=1)]), 5)
        + api.encode(api.Publish(topic="a/b", payload=b"x", qos=1, packet_id=7), 5)
    )
    assert [type(e) for e in server.receive_data(data)] == [api.ConnectRequested]
    assert server.data_to_send() == b""  # nothing but AUTH before the CONNACK [MQTT-3.2.0-1]
    events = server.accept()
    assert [type(e) for e in events] == [api.SubscribeRequested, api.MessageReceived]
    assert [p.packet_type for p in sent(api, server)] == [api.PacketType.CONNACK, api.PacketType.PUBACK]


def test_server_sends_no_disconnect_before_its_connack(api):
    server = api.ServerConnection()
    server_connect(api, server, 5)
    server.disconnect(0x8B)
    assert server.data_to_send() == b"" and server.closed


# ---- Session Present ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [4, 5])
def test_session_present_only_for_a_kept_session_without_clean_start(api, version):
    kept = api.ServerSession("c1")
    kept.subscriptions["a"] = (api.Subscription(topic_filter="a", qos=1), None)
    for clean_start, session, present in [(False, kept, True), (False, None, False), (True, kept, False)]:
        server = api.ServerConnection()
        server_connect(api, server, version, clean_start=clean_start)
        server.accept(session=session)
        (connack,) = sent(api, server)
        assert connack.session_present is present
    assert kept.subscriptions == {}  # Clean Start 1 discarded it [MQTT-3.1.2-4]


def test_mqtt_31_has_no_session_present_bit(api):
    server = api.ServerConnection()
    server_connect(api, server, 3, clean_start=False)
    server.accept(session=api.ServerSession("c1"))
    assert server.data_to_send() == b"\x20\x02\x00\x00"


def test_client_with_clean_start_seeing_session_present_closes(api):
    client = api.ClientConnection(5)
    client.connect("c1", clean_start=True)
    client.data_to_send()
    events = client.receive_data(api.encode(api.Connack(session_present=True), 5))
    assert [(type(e), e.reason_code) for e in events] == [(api.Disconnected, 0x82)]
    assert [p.reason_code for p in sent(api, client)] == [0x82]


def test_client_with_state_seeing_no_session_present_drops_it(api):
    client = connected_client(api, 5)
    client.publish("a", b"x", qos=1)
    session = client.session
    assert session.outbound
    client.connection_lost()
    again = connected_client(api, 5, {"session": session}, api.Connack(session_present=False), clean_start=False)
    assert not session.outbound and again.data_to_send() == b""


# ---- client identifiers ---------------------------------------------------------------------------


@pytest.mark.parametrize("clean_start", [True, False])
def test_empty_client_id_at_5_gets_an_assigned_identifier(api, clean_start):
    client, server = pair(api, 5, client_id="", clean_start=clean_start)
    assert server.client_id and server.client_id == server.session.client_id
    assert client.connack.assigned_client_identifier == server.client_id
    assert client.session.client_id == server.client_id


def test_empty_client_id_at_311_with_clean_session_is_assigned_silently(api):
    server = api.ServerConnection()
    (event,) = server_connect(api, server, 4, client_id="", clean_start=True)
    assert event.assigned_client_id and event.client_id
    server.accept()
    assert server.data_to_send() == b"\x20\x02\x00\x00"


@pytest.mark.parametrize(
    "version, client_id, flags, options",
    [
        (4, b"", 0x00, {}),
        (3, b"", 0x02, {}),
        (3, b"x" * 24, 0x02, {}),
        (4, b"", 0x02, {"assign_client_ids": False}),
    ],
)
def test_client_id_refused_at_3x_with_return_code_2(api, version, client_id, flags, options):
    server = api.ServerConnection(**options)
    events = server.receive_data(raw_connect(version, client_id, flags))
    assert [(type(e), e.reason_code) for e in events] == [(api.Disconnected, 0x85)]
    assert server.data_to_send() == b"\x20\x02\x00\x02" and server.closed


def test_client_id_refused_at_5_with_0x85(api):
    server = api.ServerConnection(assign_client_ids=False)
    server_connect(api, server, 5, client_id="")
    assert [(p.reason_code, p.session_present) for p in sent(api, server, 5)] == [(0x85, False)]


def test_server_may_accept_a_long_client_id_at_311_and_5(api):
    for version in (4, 5):
        server = api.ServerConnection()
        (event,) = server_connect(api, server, version, client_id="a-much-longer-client-identifier/with:punctuation")
        assert isinstance(event, api.ConnectRequested)


def test_client_refuses_an_empty_id_without_clean_start_at_311(api):
    client = api.ClientConnection(4)
    with pytest.raises(api.LocalProtocolError) as info:
        client.connect("", clean_start=False)
    assert info.value.reason_code == 0x85


# ---- takeover -------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [4, 5])
def test_takeover_closes_the_old_connection_and_resumes_its_session(api, version):
    will = api.Will(topic="w", payload=b"gone", qos=1)
    expiry = {"session_expiry_interval": 60} if version == 5 else {}
    old = accepted_server(api, version, client_id="c1", clean_start=False, will=will, **expiry)
    session = old.session
    old.deliver(published(api, "t", b"m", qos=1), 1)
    first = sent(api, old, version)
    assert [p.packet_type for p in first] == [api.PacketType.PUBLISH]
    # A second CONNECT with the same id arrives on a new connection: the broker ends the old one.
    new = api.ServerConnection()
    server_connect(api, new, version, client_id="c1", clean_start=False)
    old.disconnect(0x8E)
    if version == 5:
        assert [(p.packet_type, p.reason_code) for p in sent(api, old)] == [(api.PacketType.DISCONNECT, 0x8E)]
    else:
        assert old.data_to_send() == b""
    assert old.closed
    due = session.detach(100.0)
    assert [type(e) for e in due] == [api.WillPublished]  # no delay: the will fires at once
    new.accept(session=session)
    again = sent(api, new)
    assert [p.packet_type for p in again] == [api.PacketType.CONNACK, api.PacketType.PUBLISH]
    assert again[0].session_present and again[1].dup and again[1].packet_id == first[0].packet_id


def test_takeover_within_the_will_delay_cancels_the_will(api):
    will = api.Will(topic="w", payload=b"gone", will_delay_interval=30)
    old = accepted_server(api, 5, client_id="c1", clean_start=False, will=will, session_expiry_interval=60)
    session = old.session
    new = api.ServerConnection()
    server_connect(api, new, 5, client_id="c1", clean_start=False)
    old.disconnect(0x8E)
    assert session.detach(10.0) == []
    assert session.next_deadline() == 40.0
    new.accept(session=session)
    assert session.next_deadline() is None
    assert session.handle_timeout(1000.0) == []


def test_takeover_with_clean_start_fires_the_delayed_will_as_the_session_ends(api):
    will = api.Will(topic="w", payload=b"gone", will_delay_interval=30)
    old = accepted_server(api, 5, client_id="c1", will=will, session_expiry_interval=60)
    session = old.session
    new = api.ServerConnection()
    server_connect(api, new, 5, client_id="c1", clean_start=True)
    old.disconnect(0x8E)
    session.detach(10.0)
    events = session.end()  # Clean Start 1 on its client id ends the old session
    assert [type(e) for e in events] == [api.WillPublished, api.SessionExpired]
    assert events[0].message.payload == b"gone"


# ---- protocol levels --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [CONNECT_V7, b"\x10\x0e\x00\x04MQTX\x05\x02\x00\x3c\x00\x02c1"],
    ids=["level-7", "bad-name"],
)
def test_unknown_level_or_name_is_answered_in_the_3x_form(api, data):
    server = api.ServerConnection()
    events = server.receive_data(data)
    assert [(type(e), e.reason_code) for e in events] == [(api.Disconnected, 0x84)]
    assert server.data_to_send() == REFUSED_VERSION and server.closed


def test_a_level_the_server_does_not_accept_is_answered_in_the_3x_form(api):
    server = api.ServerConnection(versions=(4,))
    events = server_connect(api, server, 5)
    assert [(type(e), e.reason_code) for e in events] == [(api.Disconnected, 0x84)]
    assert server.data_to_send() == REFUSED_VERSION


def test_a_5_client_reading_the_3x_refusal_learns_the_version_is_unsupported(api):
    client = api.ClientConnection(5)
    client.connect("c1")
    client.data_to_send()
    events = client.receive_data(REFUSED_VERSION)
    assert len(events) == 1 and isinstance(events[0], api.ConnectionRefused)
    assert events[0].unsupported_version
    assert client.closed and client.data_to_send() == b""


def test_a_311_client_reading_return_code_1_learns_the_version_is_unsupported(api):
    client = api.ClientConnection(4)
    client.connect("c1")
    (event,) = client.receive_data(REFUSED_VERSION)
    assert event.unsupported_version and event.reason_code == 0x01


def test_a_bridge_gets_no_local_and_retain_as_published(api):
    server = api.ServerConnection()
    (event,) = server.receive_data(CONNECT_BRIDGE_311)
    assert event.packet.bridge and server.version == 4
    server.accept()
    subscribe = api.Subscribe(packet_id=1, subscriptions=[api.Subscription(topic_filter="a/#", qos=1)])
    (request,) = server.receive_data(api.encode(subscribe, 4))
    (subscription,) = request.subscriptions
    assert subscription.no_local and subscription.retain_as_published


# ---- CONNECT flags ------------------------------------------------------------------------------------


def test_reserved_connect_flag_at_5_gets_connack_0x81(api):
    server = api.ServerConnection()
    events = server.receive_data(CONNECT_RESERVED_FLAG[5])
    assert [(type(e), e.reason_code) for e in events] == [(api.Disconnected, 0x81)]
    assert [(p.packet_type, p.reason_code) for p in sent(api, server, 5)] == [(api.PacketType.CONNACK, 0x81)]


def test_reserved_connect_flag_at_311_closes_silently(api):
    server = api.ServerConnection()
    events = server.receive_data(CONNECT_RESERVED_FLAG[4])
    assert [(type(e), e.reason_code) for e in events] == [(api.Disconnected, 0x81)]
    assert server.data_to_send() == b"" and server.closed


def test_will_qos_3_is_malformed(api):
    # CONNECT 3.1.1 with the will flag and will QoS 3 (flags 0x1E).
    data = raw_connect(4, flags=0x1E, rest=b"\x00\x01w\x00\x01x")
    server = api.ServerConnection()
    events = server.receive_data(data)
    assert [(type(e), e.reason_code) for e in events] == [(api.Disconnected, 0x81)]
    assert server.closed


@pytest.mark.parametrize("version", [3, 4])
def test_password_without_user_name_is_malformed_before_5(api, version):
    server = api.ServerConnection()
    events = server.receive_data(raw_connect(version, flags=0x42, rest=b"\x00\x02pw"))
    assert isinstance(events[0], api.Disconnected) and events[0].reason_code in (0x81, 0x82)
    assert server.closed


def test_password_without_user_name_is_fine_at_5(api):
    server = api.ServerConnection()
    (event,) = server_connect(api, server, 5, password=b"pw")
    assert isinstance(event, api.ConnectRequested) and event.password == b"pw"


@pytest.mark.parametrize(
    "options, will, code",
    [
        ({"maximum_qos": 1}, {"qos": 2}, 0x9B),
        ({"maximum_qos": 0}, {"qos": 1}, 0x9B),
        ({"retain_available": False}, {"retain": True}, 0x9A),
    ],
)
def test_a_will_beyond_the_server_capabilities_is_refused(api, options, will, code):
    server = api.ServerConnection(**options)
    events = server_connect(api, server, 5, will=api.Will(topic="w", payload=b"x", **will))
    assert [(type(e), e.reason_code) for e in events] == [(api.Disconnected, code)]
    assert [p.reason_code for p in sent(api, server, 5)] == [code]


def test_a_will_within_the_server_capabilities_is_accepted(api):
    server = api.ServerConnection(maximum_qos=1, retain_available=False)
    (event,) = server_connect(api, server, 5, will=api.Will(topic="w", payload=b"x", qos=1))
    assert isinstance(event, api.ConnectRequested)


# ---- enhanced authentication ---------------------------------------------------------------------------


def test_enhanced_authentication_both_ways_then_reauthentication(api):
    client = api.ClientConnection(5)
    server = api.ServerConnection()
    client.connect("c1", authentication_method="SCRAM", authentication_data=b"first")
    (request,) = server.receive_data(client.data_to_send())
    assert isinstance(request, api.ConnectRequested)
    assert request.packet.authentication_method == "SCRAM" and request.packet.authentication_data == b"first"
    server.auth(b"challenge")
    (challenge,) = client.receive_data(server.data_to_send())
    assert isinstance(challenge, api.AuthRequested)
    assert (challenge.reason_code, challenge.method, bytes(challenge.data)) == (0x18, "SCRAM", b"challenge")
    client.auth(b"response")
    (answer,) = server.receive_data(client.data_to_send())
    assert (answer.reason_code, bytes(answer.data)) == (0x18, b"response")
    server.accept(authentication_method="SCRAM", authentication_data=b"done")
    (connected,) = client.receive_data(server.data_to_send())
    assert isinstance(connected, api.Connected)
    # Re-authentication: the client starts it with 0x19 and traffic goes on meanwhile [MQTT-4.12.1-1].
    client.auth(b"again")
    client.publish("t", b"during", qos=1)
    events = server.receive_data(client.data_to_send())
    assert [type(e) for e in events] == [api.AuthRequested, api.MessageReceived]
    assert events[0].reason_code == 0x19
    server.auth(reason_code=0x00)
    events = client.receive_data(server.data_to_send())
    assert [type(e) for e in events] == [api.PublishCompleted, api.AuthRequested]
    assert events[1].reason_code == 0x00


def test_reauthentication_failure_is_a_disconnect(api):
    client, server = pair(api, 5, authentication_method="M")
    client.auth(b"bad")
    server.receive_data(client.data_to_send())
    server.disconnect(0x87)
    (event,) = client.receive_data(server.data_to_send())
    assert isinstance(event, api.Disconnected) and event.reason_code == 0x87 and event.by_peer


def test_unknown_authentication_method_is_rejected(api):
    client = api.ClientConnection(5)
    server = api.ServerConnection()
    client.connect("c1", authentication_method="UNKNOWN")
    server.receive_data(client.data_to_send())
    server.reject(0x8C)
    (event,) = client.receive_data(server.data_to_send())
    assert isinstance(event, api.ConnectionRefused) and event.reason_code == 0x8C


def test_auth_without_a_method_in_connect_is_a_protocol_error_on_both_sides(api):
    auth = api.encode(api.Auth(reason_code=0x18, authentication_method="M"), 5)
    client = api.ClientConnection(5)
    client.connect("c1")
    events = client.receive_data(auth)
    assert [(type(e), e.reason_code) for e in events] == [(api.Disconnected, 0x82)]
    server = accepted_server(api, 5)
    events = server.receive_data(api.encode(api.Auth(reason_code=0x19, authentication_method="M"), 5))
    assert [(type(e), e.reason_code) for e in events] == [(api.Disconnected, 0x82)]
    with pytest.raises(api.LocalProtocolError):
        server.auth(b"x")


def test_auth_with_another_method_is_a_protocol_error(api):
    client, server = pair(api, 5, authentication_method="M")
    events = server.receive_data(api.encode(api.Auth(reason_code=0x19, authentication_method="N"), 5))
    assert [(type(e), e.reason_code) for e in events] == [(api.Disconnected, 0x82)]


def test_auth_needs_mqtt_5(api):
    client = api.ClientConnection(4)
    client.connect("c1")
    with pytest.raises(api.LocalProtocolError):
        client.auth(b"x")


def test_with_an_authentication_method_only_auth_may_follow_the_connect(api):
    server = api.ServerConnection()
    data = api.encode(api.Connect(client_id="c1", authentication_method="M"), 5) + api.encode(
        api.Publish(topic="a", payload=b"x"), 5
    )
    events = server.receive_data(data)
    assert [type(e) for e in events] == [api.ConnectRequested, api.Disconnected]
    assert events[1].reason_code == 0x82
    assert [(p.packet_type, p.reason_code) for p in sent(api, server, 5)] == [(api.PacketType.CONNACK, 0x82)]


# ---- Request Response / Problem Information ---------------------------------------------------------------


def test_no_response_information_unless_requested(api):
    for requested, expected in [(None, None), (0, None), (1, "reply/here")]:
        server = api.ServerConnection()
        server_connect(api, server, 5, request_response_information=requested)
        server.accept(response_information="reply/here")
        (connack,) = sent(api, server)
        assert connack.response_information == expected


def test_request_problem_information_0_keeps_reason_strings_to_connack_publish_disconnect(api):
    server = accepted_server(
        api, 5, request_problem_information=0, accept_options={"reason_string": "welcome"}
    )
    subscribe = api.Subscribe(packet_id=1, subscriptions=[api.Subscription(topic_filter="a", qos=1)])
    (request,) = server.receive_data(api.encode(subscribe, 5))
    server.suback(request, [1], reason_string="why", user_properties=[("k", "v")])
    (suback,) = sent(api, server)
    assert suback.reason_string is None and suback.user_properties == []
    unsubscribe = api.Unsubscribe(packet_id=2, topic_filters=["a"])
    (request,) = server.receive_data(api.encode(unsubscribe, 5))
    server.unsuback(request, reason_string="why")
    (unsuback,) = sent(api, server)
    assert unsuback.reason_string is None
    server.disconnect(0x8B, reason_string="shutting down")
    (disconnect,) = sent(api, server)
    assert disconnect.reason_string == "shutting down"


def test_problem_information_is_sent_by_default(api):
    server = accepted_server(api, 5)
    subscribe = api.Subscribe(packet_id=1, subscriptions=[api.Subscription(topic_filter="a", qos=1)])
    (request,) = server.receive_data(api.encode(subscribe, 5))
    server.suback(request, [1], reason_string="why")
    (suback,) = sent(api, server)
    assert suback.reason_string == "why"


@pytest.mark.parametrize("version", [4, 5])
def test_acks_pipelined_behind_connect_wait_for_the_answer(api, version):
    server = api.ServerConnection()
    session = api.ServerSession("c1")
    session.inbound_qos2.add(9)
    connect = api.encode(api.Connect(protocol_version=version, client_id="c1", clean_start=False), version)
    (requested,) = server.receive_data(connect + api.encode(api.Pubrel(packet_id=9), version))
    assert type(requested) is api.ConnectRequested
    assert server.data_to_send() == b""  # no PUBCOMP before the CONNACK [MQTT-3.2.0-1]
    server.accept(session)
    decoder = api.Decoder(version)
    packets = decoder.feed(server.data_to_send())
    assert [type(p).__name__ for p in packets] == ["Connack", "Pubcomp"]
    assert packets[1].packet_id == 9 and packets[1].reason_code == 0 and 9 not in session.inbound_qos2


def test_a_client_refuses_an_ack_before_the_connack(api):
    client = api.ClientConnection(5)
    client.connect("c1")
    client.data_to_send()
    (gone,) = client.receive_data(api.encode(api.Puback(packet_id=1), 5))
    assert type(gone) is api.Disconnected and gone.reason_code == 0x82 and not gone.by_peer
