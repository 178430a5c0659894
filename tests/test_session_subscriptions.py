"""What a connection does for subscriptions, retained flags and pass-through (SESSIONS.md §6, §7, §8).

Matching, retained storage, shared-group choice and overlap merging belong to
the broker; these tests hold the connection to its part: SUBACK and UNSUBACK
codes, delivery QoS, RETAIN and subscription identifiers on the wire.
"""

import pytest

from .helpers.sessions import accepted_server, pair, published, sent


def subscribe(api, server, version, *subscriptions, identifier=None):
    extra = {"subscription_identifier": identifier} if identifier is not None else {}
    packet = api.Subscribe(packet_id=3, subscriptions=list(subscriptions), **extra)
    return server.receive_data(api.encode(packet, version))


# ---- SUBACK ---------------------------------------------------------------------------------------


def test_suback_one_code_per_filter_in_order_with_the_same_id(api):
    client, server = pair(api, 5, server_options={"maximum_qos": 1})
    packet_id = client.subscribe([("a", 2), ("b/+", 0), ("c", 1)])
    (request,) = server.receive_data(client.data_to_send())
    assert [s.topic_filter for s in request.subscriptions] == ["a", "b/+", "c"]
    server.suback(request, [2, 2, 0x87])
    (event,) = client.receive_data(server.data_to_send())
    # Granted QoS is capped at the request and the server's Maximum QoS.
    assert (event.packet_id, event.reason_codes) == (packet_id, [1, 0, 0x87])
    assert sorted(server.session.subscriptions) == ["a", "b/+"]


def test_suback_codes_for_unsupported_wildcards_and_shared_subscriptions(api):
    server = accepted_server(
        api, 5, server_options={"wildcard_subscription_available": False, "shared_subscription_available": False}
    )
    (request,) = subscribe(
        api, server, 5, api.Subscription(topic_filter="a/#"), api.Subscription(topic_filter="$share/g/a"),
        api.Subscription(topic_filter="a"),
    )
    server.suback(request, [0, 0, 0])
    (suback,) = sent(api, server)
    assert suback.reason_codes == [0xA2, 0x9E, 0x00]


def test_311_failure_codes_are_0x80(api):
    server = accepted_server(api, 4, server_options={"wildcard_subscription_available": False})
    (request,) = subscribe(api, server, 4, api.Subscription(topic_filter="a/#", qos=1), api.Subscription(topic_filter="b", qos=1))
    server.suback(request, [1, 0x87])
    (suback,) = sent(api, server, 4)
    assert suback.reason_codes == [0x80, 0x80]


def test_suback_needs_a_code_per_subscription(api):
    server = accepted_server(api, 5)
    (request,) = subscribe(api, server, 5, api.Subscription(topic_filter="a"))
    with pytest.raises(ValueError):
        server.suback(request, [0, 0])


def test_the_same_filter_replaces_the_subscription(api):
    server = accepted_server(api, 5)
    for qos in (0, 2):
        (request,) = subscribe(api, server, 5, api.Subscription(topic_filter="a", qos=qos))
        server.suback(request, [qos])
    assert list(server.session.subscriptions) == ["a"]
    assert server.session.subscriptions["a"][0].qos == 2


def test_shared_subscription_with_no_local_is_a_protocol_error(api):
    server = accepted_server(api, 5)
    # Built by hand: the encoder refuses it. Options 0x04: No Local.
    events = server.receive_data(b"\x82\x10\x00\x01\x00\x00\x0a$share/g/a\x04")
    assert [(type(e), e.reason_code) for e in events] == [(api.Disconnected, 0x82)]
    assert [p.reason_code for p in sent(api, server)] == [0x82]


def test_retain_handling_3_is_a_protocol_error(api):
    # MQTT 5.0 §3.8.3.1: "It is a Protocol Error to send a Retain Handling value of 3".
    server = accepted_server(api, 5)
    # Built by hand: the encoder refuses it. Options 0x30: Retain Handling 3.
    events = server.receive_data(b"\x82\x07\x00\x01\x00\x00\x01a\x30")
    assert [(type(e), e.reason_code) for e in events] == [(api.Disconnected, 0x82)]
    assert [p.reason_code for p in sent(api, server)] == [0x82]


def test_subscription_identifier_reaches_the_request_and_the_session(api):
    server = accepted_server(api, 5)
    (request,) = subscribe(api, server, 5, api.Subscription(topic_filter="a"), identifier=12)
    assert request.subscription_identifier == 12
    server.suback(request, [0])
    assert server.session.subscriptions["a"][1] == 12


# ---- UNSUBACK --------------------------------------------------------------------------------------


def test_unsuback_defaults_to_0x00_for_known_filters_and_0x11_for_others(api):
    client, server = pair(api, 5)
    client.subscribe("a")
    (request,) = server.receive_data(client.data_to_send())
    server.suback(request, [0])
    client.receive_data(server.data_to_send())
    packet_id = client.unsubscribe(["a", "b"])
    (request,) = server.receive_data(client.data_to_send())
    server.unsuback(request)
    (event,) = client.receive_data(server.data_to_send())
    assert (event.packet_id, event.reason_codes) == (packet_id, [0x00, 0x11])
    assert server.session.subscriptions == {}


def test_311_unsuback_has_no_codes(api):
    client, server = pair(api, 4)
    packet_id = client.unsubscribe("a")
    (request,) = server.receive_data(client.data_to_send())
    server.unsuback(request)
    assert server.data_to_send() == bytes((0xB0, 2, 0, packet_id))
    client.receive_data(bytes((0xB0, 2, 0, packet_id)))


# ---- delivery -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("published_qos, granted, sent_qos", [(2, 1, 1), (1, 2, 1), (0, 2, 0), (2, 0, 0)])
def test_deliver_sends_the_lower_qos(api, published_qos, granted, sent_qos):
    server = accepted_server(api, 5)
    packet_id = server.deliver(published(api, "a", b"x", qos=published_qos), granted)
    (delivery,) = sent(api, server)
    assert delivery.qos == sent_qos and (delivery.packet_id is None) is (sent_qos == 0)
    assert packet_id == delivery.packet_id


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize(
    "message_retain, options, expected",
    [
        (True, {}, False),
        (True, {"retain_as_published": True}, True),
        (False, {"retain_as_published": True}, False),
        (False, {"retained": True}, True),
        (True, {"retained": True}, True),
    ],
)
def test_retain_flag_on_delivery(api, version, message_retain, options, expected):
    server = accepted_server(api, version)
    server.deliver(published(api, "a", b"x", retain=message_retain), 0, **options)
    (delivery,) = sent(api, server, version)
    assert delivery.retain is expected


def test_subscription_identifiers_only_at_5(api):
    server = accepted_server(api, 5)
    server.deliver(published(api, "a", b"x"), 0, subscription_identifiers=[3, 9])
    (delivery,) = sent(api, server)
    assert delivery.subscription_identifiers == [3, 9]
    server = accepted_server(api, 4)
    server.deliver(published(api, "a", b"x", version=4), 0, subscription_identifiers=[3, 9])
    assert server.data_to_send() == b"\x30\x04\x00\x01ax"


def test_client_publish_never_carries_subscription_identifiers(api):
    client, server = pair(api, 5)
    with pytest.raises(TypeError):
        client.publish("a", b"x", subscription_identifiers=[1])


def test_properties_pass_through_unchanged(api):
    properties = {
        "payload_format_indicator": 1,
        "response_topic": "reply/to",
        "correlation_data": b"\x00\x01",
        "content_type": "text/plain",
        "user_properties": [("b", "2"), ("a", "1"), ("b", "1")],
    }
    client, server = pair(api, 5)
    client.publish("a", b"hello", qos=1, **properties)
    (received,) = server.receive_data(client.data_to_send())
    subscriber = accepted_server(api, 5, client_id="s")
    subscriber.deliver(received.message, 2)
    (delivery,) = sent(api, subscriber)
    for name, value in properties.items():
        assert getattr(delivery, name) == value, name
    assert (delivery.payload, delivery.qos, delivery.dup) == (b"hello", 1, False)


def test_a_delivery_never_carries_the_publisher_alias(api):
    server = accepted_server(api, 5)
    data = api.encode(api.Publish(topic="a/b", payload=b"x", topic_alias=2), 5)
    (received,) = server.receive_data(data)
    subscriber = accepted_server(api, 5, client_id="s")  # no Topic Alias Maximum: no aliases toward it
    subscriber.deliver(received.message, 0)
    (delivery,) = sent(api, subscriber)
    assert (delivery.topic, delivery.topic_alias) == ("a/b", None)
