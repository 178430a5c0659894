"""DISCONNECT and errors (SESSIONS.md §9): codes, 3.x closes, nothing after DISCONNECT, hostile peers."""

import random

import pytest

from .helpers.sessions import accepted_server, connected_client, pair, sent


@pytest.mark.parametrize("code", [0x00, 0x04, 0x80, 0x8B, 0x8E, 0x9C])
def test_disconnect_from_the_server_reaches_the_client_with_its_code(api, code):
    client, server = pair(api, 5)
    server.disconnect(code, reason_string="because")
    (event,) = client.receive_data(server.data_to_send())
    assert (type(event), event.reason_code, event.by_peer) == (api.Disconnected, code, True)
    assert event.packet.reason_string == "because"
    assert client.closed and server.closed


def test_caller_initiated_disconnect_emits_no_event(api):
    client, server = pair(api, 5)
    client.disconnect(0x04)
    (disconnect,) = sent(api, client)
    assert disconnect.reason_code == 0x04 and client.closed
    (event,) = server.receive_data(api.encode(disconnect, 5))
    assert (event.reason_code, event.by_peer) == (0x04, True)


def test_311_server_has_no_disconnect(api):
    client, server = pair(api, 4)
    server.disconnect(0x8B)
    assert server.data_to_send() == b"" and server.closed


@pytest.mark.parametrize("version", [3, 4])
def test_311_violation_closes_without_disconnect(api, version):
    server = accepted_server(api, version)
    events = server.receive_data(b"\x20\x02\x00\x00")  # a CONNACK from a client
    assert [(type(e), e.reason_code) for e in events] == [(api.Disconnected, 0x82)]
    assert server.data_to_send() == b"" and server.closed


def test_nothing_is_sent_after_disconnect(api):
    client = connected_client(api, 5, keep_alive=1)
    client.disconnect()
    client.data_to_send()
    with pytest.raises(api.LocalProtocolError):
        client.publish("a", b"x")
    with pytest.raises(api.LocalProtocolError):
        client.subscribe("a")
    for now in (0.0, 10.0, 100.0):
        assert client.handle_timeout(now) == []
    client.disconnect()
    assert client.data_to_send() == b"" and client.next_deadline() is None


@pytest.mark.parametrize("side", ["client", "server"])
def test_bytes_after_close_are_ignored(api, side):
    client, server = pair(api, 5)
    connection = client if side == "client" else server
    peer = server if side == "client" else client
    peer.disconnect()
    assert len(connection.receive_data(peer.data_to_send() + b"\x30\x04\x00\x01ax\xff\xff")) == 1
    assert connection.receive_data(b"\xc0\x00\x30\x04\x00\x01ax") == []
    assert connection.data_to_send() == b""
    assert connection.connection_lost() == []


def test_connection_lost_is_reported_once(api):
    client, server = pair(api, 5)
    (event,) = server.connection_lost()
    assert (type(event), event.reason_code, event.by_peer) == (api.Disconnected, 0x80, True)
    assert server.connection_lost() == []


def test_empty_data_is_a_no_op(api):
    client, server = pair(api, 5)
    assert server.receive_data(b"") == [] and not server.closed


def test_server_violation_after_connack_sends_disconnect_with_its_code(api):
    server = accepted_server(api, 5)
    events = server.receive_data(b"\x30\x03\x00\x05a")  # topic length beyond the packet
    assert [(type(e), e.reason_code) for e in events] == [(api.Disconnected, 0x81)]
    assert [(p.packet_type, p.reason_code) for p in sent(api, server)] == [(api.PacketType.DISCONNECT, 0x81)]
    assert isinstance(events[0].error, api.MQTTError)


def _hostile_inputs(seed, count):
    rng = random.Random(seed)
    templates = [b"\x30\x07\x00\x01a\x00\x01hi", b"\x62\x02\x00\x01", b"\x82\x06\x00\x01\x00\x01a\x00", b"\xe0\x00"]
    for _ in range(count):
        choice = rng.random()
        if choice < 0.4:
            yield bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
        else:
            data = bytearray(rng.choice(templates))
            for _ in range(rng.randrange(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            yield bytes(data)


@pytest.mark.parametrize("version", [3, 4, 5])
def test_hostile_bytes_never_raise_out_of_receive_data(api, version):
    for n, data in enumerate(_hostile_inputs(version, 300)):
        for connection in (accepted_server(api, version), connected_client(api, version), api.ServerConnection()):
            events = []
            for cut in (data[: n % 7], data[n % 7 :]):
                events += connection.receive_data(cut)
            assert all(isinstance(e, api.Event) for e in events)
            closes = [e for e in events if isinstance(e, api.Disconnected)]
            assert len(closes) <= 1
            if closes:
                assert connection.closed and events[-1] is closes[0]
                out = connection.data_to_send()
                if version != 5 or out == b"":
                    continue
                answer, _ = api.decode(out, 5)
                assert answer.reason_code == closes[0].reason_code >= 0x80


@pytest.mark.parametrize(
    "data, code",
    [
        (b"\x30\x04\x00\x01a\x00", None),  # fine
        (b"\x00\x00", 0x81),  # reserved packet type
        (b"\x32\x04\x00\x01a\x00", 0x81),  # QoS 1 without a packet id (truncated)
        (b"\x36\x06\x00\x01a\x00\x01\x00", 0x81),  # QoS 3
        (b"\xf0\x02\x00\x00", 0x82),  # AUTH with no method in CONNECT
    ],
)
def test_specific_violations_get_their_codes(api, data, code):
    server = accepted_server(api, 5)
    events = server.receive_data(data)
    if code is None:
        assert not server.closed
    else:
        assert [(type(e), e.reason_code) for e in events] == [(api.Disconnected, code)]
