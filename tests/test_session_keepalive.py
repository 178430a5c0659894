"""Keep alive on a virtual clock (SESSIONS.md §2): client PINGREQ, server 1.5x timeout, Server Keep Alive."""

import pytest

from .helpers.sessions import accepted_server, connected_client, sent

PINGREQ = b"\xc0\x00"
PINGRESP = b"\xd0\x00"


def run_client(client, until, step=0.5, start=0.0):
    """Call ``handle_timeout`` on a virtual clock from ``start`` to ``until``; (time, bytes sent) pairs."""
    out = []
    now = start
    while now <= until:
        client.handle_timeout(now)
        data = client.data_to_send()
        if data:
            out.append((now, data))
        now += step
    return out


# ---- client ------------------------------------------------------------------------------------


def test_client_pings_only_when_idle_and_never_stays_silent_longer_than_keep_alive(api):
    client = connected_client(api, 5, keep_alive=10)
    assert client.next_deadline() == 0.0  # the first handle_timeout starts the clock
    sends = run_client(client, 10)
    assert [data for t, data in sends] == [PINGREQ]
    assert client.receive_data(PINGRESP) == [api.PingResponse()]


def test_client_sends_no_pingreq_while_it_sends_other_packets(api):
    client = connected_client(api, 5, keep_alive=10)
    client.handle_timeout(0.0)
    for now in range(1, 40):
        client.publish("t", b"x")  # QoS 0: one packet every second
        client.data_to_send()
        client.handle_timeout(float(now))
        assert client.data_to_send() == b""


def test_client_closes_with_0x8d_when_no_pingresp_comes(api):
    client = connected_client(api, 5, keep_alive=10)
    sends = run_client(client, 30)
    first_ping = next(t for t, data in sends if data == PINGREQ)
    assert client.closed
    closing = [(t, data) for t, data in sends if data != PINGREQ]
    assert len(closing) == 1
    when, data = closing[0]
    assert first_ping < when <= first_ping + 10.5
    (disconnect,) = [p for p in sent_packets(api, data)]
    assert (disconnect.packet_type, disconnect.reason_code) == (api.PacketType.DISCONNECT, 0x8D)
    assert client.next_deadline() is None


def sent_packets(api, data):
    from .helpers.sessions import packets

    return packets(api, data, 5)


def test_client_keep_alive_timeout_reports_the_event(api):
    client = connected_client(api, 4, keep_alive=4)
    events = []
    for now in range(0, 20):
        events += client.handle_timeout(float(now))
        client.data_to_send()
    assert [(type(e), e.reason_code, e.by_peer) for e in events] == [(api.Disconnected, 0x8D, False)]
    assert isinstance(events[0].error, api.KeepAliveTimeout)


def test_pingresp_in_time_keeps_the_client_open(api):
    client = connected_client(api, 5, keep_alive=10)
    now = 0.0
    pings = [0.0]
    while now < 100:
        client.handle_timeout(now)
        if client.data_to_send() == PINGREQ:
            pings.append(now)
            assert client.receive_data(PINGRESP, now + 1) == [api.PingResponse()]
        now += 0.5
    assert not client.closed
    assert len(pings) > 5 and max(b - a for a, b in zip(pings, pings[1:])) <= 10


def test_server_keep_alive_overrides_the_client_value(api):
    client = connected_client(api, 5, keep_alive=60, connack=api.Connack(server_keep_alive=4))
    times = [t for t, data in run_client(client, 12) if data == PINGREQ]
    assert times and times[0] <= 4


def test_keep_alive_0_means_no_pings(api):
    client = connected_client(api, 5, keep_alive=0)
    assert client.next_deadline() is None
    assert run_client(client, 1000, step=50) == []
    assert not client.closed


# ---- server ------------------------------------------------------------------------------------


def close_time(server, until=200.0, step=0.25):
    """When ``server`` closes on a virtual clock (handle_timeout every ``step``), and the events."""
    now = 0.0
    while now <= until:
        events = server.handle_timeout(now)
        if events:
            return now, events
        now += step
    return None, []


@pytest.mark.parametrize("version", [4, 5])
def test_server_closes_a_silent_client_at_one_and_a_half_keep_alive(api, version):
    server = accepted_server(api, version, keep_alive=10)
    when, events = close_time(server)
    assert when == 15.0
    assert [(type(e), e.reason_code, e.by_peer) for e in events] == [(api.Disconnected, 0x8D, False)]
    if version == 5:
        assert [(p.packet_type, p.reason_code) for p in sent(api, server)] == [(api.PacketType.DISCONNECT, 0x8D)]
    else:
        assert server.data_to_send() == b""
    assert server.closed


def test_server_keep_alive_timeout_fires_the_will(api):
    will = api.Will(topic="w", payload=b"bye")
    server = accepted_server(api, 5, keep_alive=10, will=will)
    close_time(server)
    events = server.session.detach(15.0)
    assert [type(e) for e in events] == [api.WillPublished, api.SessionExpired]
    assert events[0].message.payload == b"bye"


def test_every_packet_resets_the_server_timer_with_its_arrival_time(api):
    server = accepted_server(api, 5, keep_alive=10)
    server.handle_timeout(0.0)
    assert server.receive_data(PINGREQ, 10.0) == []
    assert server.data_to_send() == PINGRESP  # a PINGRESP per PINGREQ [MQTT-3.12.4-1]
    assert server.handle_timeout(24.9) == []
    assert server.next_deadline() == 25.0
    assert [type(e) for e in server.handle_timeout(25.0)] == [api.Disconnected]


def test_bytes_without_a_time_count_at_the_next_handle_timeout_never_earlier(api):
    server = accepted_server(api, 5, keep_alive=10)
    server.handle_timeout(0.0)
    server.receive_data(PINGREQ, 5.0)
    server.receive_data(PINGREQ)  # arrived at 12, but the caller did not say
    assert server.handle_timeout(12.0) == []
    assert server.next_deadline() >= 12.0 + 15.0
    assert server.handle_timeout(26.9) == []


def test_server_keep_alive_is_imposed_and_used(api):
    server = accepted_server(api, 5, server_options={"server_keep_alive": 2}, keep_alive=60)
    when, events = close_time(server)
    assert when == 3.0 and events[0].reason_code == 0x8D


def test_keep_alive_0_never_times_out_on_the_server(api):
    server = accepted_server(api, 5, keep_alive=0)
    assert server.next_deadline() is None
    assert close_time(server, until=10_000, step=100) == (None, [])


def test_a_socket_that_never_sends_connect_is_closed(api):
    server = api.ServerConnection(connect_timeout=5)
    assert server.next_deadline() == 0.0
    when, events = close_time(server)
    assert when == 5.0 and events[0].reason_code == 0x8D
    assert server.data_to_send() == b""
