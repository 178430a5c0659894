"""One message delivered to many subscribers: every connection gets the bytes a lone delivery would give.

The compiled twin reuses the header of the last delivery when the next one
is of the same message with the same options (patching the packet id); these
tests deliver a message in a row to connections that differ in level, QoS,
aliases, identifiers, expiry and resends, change the message in between, and
compare each connection's bytes with ``encode_forward`` of that delivery.
"""

import pytest

from .helpers.sessions import accepted_server, server_connect


def wire(api, version, qos=1, **fields):
    """A received PUBLISH, as the broker holds it: decoded from the wire."""
    packet = api.Publish(topic="a/b", payload=b"p" * 40, qos=qos, packet_id=1 if qos else None, **fields)
    (message,) = api.Decoder(version).feed(api.encode(packet, version))
    return message


def expected(api, version, message, qos, packet_id, **options):
    header, payload = api.encode_forward(message, version, granted_qos=qos, packet_id=packet_id, **options)
    return header + bytes(payload)


@pytest.mark.parametrize("version", [3, 4, 5])
def test_many_subscribers_get_their_own_packet_ids(api, version):
    message = wire(api, version)
    servers = [accepted_server(api, version, client_id=f"c{index}") for index in range(5)]
    for server in servers[:2]:  # an earlier flow on two of them: their next packet id is 2
        server.deliver(message, 1)
        server.data_to_send()
    for server in servers:
        packet_id = server.deliver(message, 1)
        assert server.data_to_send() == expected(api, version, message, 1, packet_id)
    for qos in (0, 2, 1):
        for server in servers:
            packet_id = server.deliver(message, qos)
            assert server.data_to_send() == expected(api, version, message, qos, packet_id)


def test_options_that_change_the_header(api):
    message = wire(api, 5, qos=2, content_type="text", user_properties=[("k", "v")])
    plain = accepted_server(api, 5, client_id="plain")
    aliased = accepted_server(api, 5, client_id="alias", topic_alias_maximum=5)
    for _ in range(2):  # the second round sends the alias alone
        for server, options in (
            (plain, {}),
            (aliased, {}),
            (plain, {"subscription_identifiers": [3]}),
            (plain, {"subscription_identifiers": [3, 4]}),
            (plain, {"retained": True}),
            (plain, {"expires_at": 50.0}),
        ):
            packet_id = server.deliver(message, 2, **options)
            packets = server.data_to_send()
            assert packets[0] & 0xF6 == 0x34, packets  # PUBLISH at QoS 2, no DUP
            (decoded,) = api.Decoder(5).feed(packets)
            assert decoded.packet_id == packet_id
            assert decoded.subscription_identifiers == options.get("subscription_identifiers", [])
            assert decoded.retain == options.get("retained", False)
            assert decoded.content_type == "text" and decoded.user_properties == [("k", "v")]
            assert bytes(decoded.payload) == bytes(message.payload)
            if server is aliased:
                assert decoded.topic_alias == 1


def test_a_changed_message_is_encoded_again(api):
    message = wire(api, 5)
    first, second = accepted_server(api, 5, client_id="one"), accepted_server(api, 5, client_id="two")
    changes = [
        lambda: setattr(message, "topic", "c/d"),
        lambda: setattr(message, "payload", b"other"),
        lambda: setattr(message, "content_type", "json"),
        lambda: setattr(message, "correlation_data", b"id"),
        lambda: message.user_properties.append(("k", "v")),
        lambda: message.user_properties.append(("k2", "v2")),
        lambda: setattr(message, "qos", 0),
    ]
    for change in changes:
        first.deliver(message, 2)
        first.data_to_send()
        change()
        packet_id = second.deliver(message, 2)
        assert second.data_to_send() == expected(api, 5, message, 2, packet_id)


def test_a_resend_carries_dup_on_its_own_copy(api):
    message = wire(api, 5)
    server = accepted_server(api, 5, client_id="c", session_expiry_interval=60)
    other = accepted_server(api, 5, client_id="o")
    packet_id = server.deliver(message, 1)
    server.data_to_send()
    session = server.session
    server.connection_lost()
    resumed = api.ServerConnection()
    server_connect(api, resumed, 5, client_id="c", clean_start=False)
    resumed.accept(session=session)
    data = resumed.data_to_send()
    resent = data[data[1] + 2 :]  # after the CONNACK
    assert resent[0] & 0x08 and resent[1:] == expected(api, 5, message, 1, packet_id)[1:]
    fresh = other.deliver(message, 1)
    assert other.data_to_send() == expected(api, 5, message, 1, fresh)  # no DUP left behind
