"""Helpers for the session-layer tests: decoding what a connection sends, connecting a pair in memory."""


def packets(api, data, version):
    """Every packet of ``data`` (bytes a connection sent), decoded at ``version``."""
    data = bytes(data)
    found = []
    offset = 0
    while offset < len(data):
        packet, size = api.decode(data[offset:], version, copy=True)
        found.append(packet)
        offset += size
    return found


def sent(api, connection, version=None):
    """The packets ``connection`` queued since the last call, decoded at its level."""
    return packets(api, connection.data_to_send(), version or connection.version)


def server_connect(api, server, version=5, **connect):
    """Feed ``server`` a CONNECT built from ``connect``; its events."""
    connect.setdefault("client_id", "c1")
    return server.receive_data(api.encode(api.Connect(**connect), version))


def accepted_server(api, version=5, server_options=None, accept_options=None, **connect):
    """A server connection that received a CONNECT and accepted it (CONNACK taken off its output)."""
    server = api.ServerConnection(**(server_options or {}))
    events = server_connect(api, server, version, **connect)
    assert isinstance(events[-1], api.ConnectRequested), events
    server.accept(**(accept_options or {}))
    connack = sent(api, server)
    assert connack[0].packet_type == api.PacketType.CONNACK
    return server


def connected_client(api, version=5, client_options=None, connack=None, **connect):
    """A client connection that sent CONNECT and read a CONNACK (``connack``, success by default)."""
    client = api.ClientConnection(version, **(client_options or {}))
    connect.setdefault("client_id", "c1")
    client.connect(**connect)
    client.data_to_send()
    events = client.receive_data(api.encode(connack or api.Connack(), version))
    assert isinstance(events[-1], api.Connected), events
    return client


def pair(api, version=5, client_options=None, server_options=None, accept_options=None, **connect):
    """A client and a server connection that connected to each other in memory."""
    client = api.ClientConnection(version, **(client_options or {}))
    server = api.ServerConnection(**(server_options or {}))
    connect.setdefault("client_id", "c1")
    client.connect(**connect)
    events = server.receive_data(client.data_to_send())
    assert isinstance(events[-1], api.ConnectRequested), events
    server.accept(**(accept_options or {}))
    events = client.receive_data(server.data_to_send())
    assert isinstance(events[-1], api.Connected), events
    return client, server


def exchange(a, b, rounds=6):
    """Pass bytes between ``a`` and ``b`` until both are quiet; the events of each (a's, b's)."""
    events_a, events_b = [], []
    for _ in range(rounds):
        to_b = a.data_to_send()
        if to_b:
            events_b += b.receive_data(to_b)
        to_a = b.data_to_send()
        if to_a:
            events_a += a.receive_data(to_a)
        if not to_a and not to_b:
            break
    return events_a, events_b


def raw_connect(version, client_id=b"c1", flags=0x02, keep_alive=60, rest=b""):
    """CONNECT bytes built by hand (for what ``encode`` refuses to write): 3.x or 5.0 without properties."""
    name = b"MQIsdp" if version == 3 else b"MQTT"
    body = len(name).to_bytes(2, "big") + name + bytes((version, flags)) + keep_alive.to_bytes(2, "big")
    if version == 5:
        body += b"\x00"
    body += len(client_id).to_bytes(2, "big") + client_id + rest
    return bytes((0x10, len(body))) + body


def published(api, topic, payload=b"", qos=0, retain=False, version=5, **properties):
    """An application message as a server connection receives it from a publisher (what ``deliver`` takes)."""
    server = accepted_server(api, version, client_id="publisher")
    packet_id = 1 if qos else None
    data = api.encode(
        api.Publish(topic=topic, payload=payload, qos=qos, retain=retain, packet_id=packet_id, **properties), version
    )
    (event,) = server.receive_data(data)
    return event.message
