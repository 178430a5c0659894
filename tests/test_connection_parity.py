"""The compiled and pure-Python connections answer the same exchanges with the same bytes and events.

Each script drives a client and a server connection of one implementation
through an exchange (valid flows, limits, manual acks, broken input) and
writes a transcript: every buffer that leaves either side, every event, the
outcome of every call. Both twins must write the same transcript. Events
compare by class name and fields, packets by repr, errors by class, message
and reason code.
"""

import pytest

from .helpers.implementations import load_implementation

VERSIONS = [3, 4, 5]


@pytest.fixture(scope="module")
def twins():
    return load_implementation("c-extension"), load_implementation("pure-python")


def describe(value):
    """``value`` in a form that compares equal across twins."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (list, tuple)):
        return [describe(item) for item in value]
    if isinstance(value, BaseException):
        return (type(value).__name__, str(value), getattr(value, "reason_code", None))
    if type(value).__module__.startswith("mqttfast._packets"):
        return (type(value).__name__, repr(value))
    slots = getattr(type(value), "__slots__", None)
    if slots is not None and type(value).__module__.endswith("_events"):
        return (type(value).__name__, [(name, describe(getattr(value, name))) for name in slots])
    return value


class Link:
    """A client and a server connection of one implementation, joined in memory, writing a transcript."""

    def __init__(self, api, version, client=None, server=None, session=None, chunk=None):
        self.api = api
        self.version = version
        self.log = []
        self.chunk = chunk
        self.client = api.ClientConnection(version, session=session, **(client or {}))
        self.server = api.ServerConnection(**(server or {}))
        self.server_session = None
        self.route_qos = None  # when set, the server delivers every message it receives back to the client

    def call(self, label, func, *args, **kwargs):
        try:
            result = func(*args, **kwargs)
        except Exception as exc:  # the transcript records the caller's errors too
            self.log.append((label, "raised", describe(exc)))
            return None
        self.log.append((label, describe(result)))
        return result

    def feed(self, side, data):
        connection = self.server if side == "server" else self.client
        self.log.append((f"to {side}", bytes(data)))
        if self.chunk is None:
            events = connection.receive_data(data)
        else:
            events = []
            for start in range(0, len(data), self.chunk):
                events.extend(connection.receive_data(data[start : start + self.chunk]))
        self.log.append((f"{side} events", describe(events)))
        self.log.append((f"{side} state", connection.state))
        if side == "server" and self.route_qos is not None:
            for event in events:
                if type(event).__name__ == "MessageReceived":
                    self.call("deliver", self.server.deliver, event.message, self.route_qos)
        return events

    def to_server(self):
        return self.feed("server", self.client.data_to_send())

    def to_client(self):
        # The server side writes with buffers_to_send(), as a transport's writelines() would.
        return self.feed("client", b"".join(bytes(b) for b in self.server.buffers_to_send()))

    def pump(self, rounds=12):
        for _ in range(rounds):
            if not self.client._out and not self.server._out:
                return
            self.to_server()
            self.to_client()

    def connect(self, accept=None, **connect):
        connect.setdefault("client_id", "c1")
        self.call("connect", self.client.connect, **connect)
        events = self.to_server()
        if events and type(events[0]).__name__ == "ConnectRequested":
            self.server_session = self.call("accept", self.server.accept, **(accept or {}))
            self.server_session = self.server.session
        self.to_client()

    def subscribe(self, topic_filter="t/#", qos=2):
        self.call("subscribe", self.client.subscribe, topic_filter, qos)
        events = self.to_server()
        for event in events:
            if type(event).__name__ == "SubscribeRequested":
                self.call("suback", self.server.suback, event, [qos] * len(event.subscriptions))
        self.to_client()

    def names(self):
        found = []
        for entry in self.log:
            if entry[0].endswith("events"):
                found.extend(event[0] for event in entry[1])
        return found


def run(api, script, version, **options):
    link = Link(api, version, **options)
    script(link)
    return link


def assert_same(twins, script, version, expect=(), **options):
    compiled = run(twins[0], script, version, **options)
    pure = run(twins[1], script, version, **options)
    for name in expect:  # the script reached what it is about
        assert name in pure.names(), (name, pure.names())
    assert compiled.log == pure.log


def raw(api, version, packet):
    return api.encode(packet, version)


# ---- valid flows ------------------------------------------------------------------------------------


def flows(link):
    link.connect(keep_alive=30)
    link.subscribe("t/#", 2)
    link.route_qos = 2
    for qos in (0, 1, 2):
        link.call("publish", link.client.publish, "t/a", b"x" * 64, qos)
        link.pump()
    link.call("disconnect", link.client.disconnect)
    link.to_server()


@pytest.mark.parametrize("version", VERSIONS)
def test_qos_flows_both_directions(twins, version):
    assert_same(twins, flows, version, expect=["Connected", "MessageReceived", "PublishCompleted", "Disconnected"])


@pytest.mark.parametrize("version", VERSIONS)
def test_qos_flows_fed_a_byte_at_a_time(twins, version):
    assert_same(twins, flows, version, expect=["PublishCompleted"], chunk=1)


def many_flows(link):
    link.connect()
    link.subscribe("t/#", 1)
    link.route_qos = 1
    for index in range(6):
        link.call("publish", link.client.publish, f"t/{index % 3}", b"p", index % 3)
    link.pump()
    link.route_qos = 2
    for index in range(6):
        link.call("publish", link.client.publish, f"t/{index % 4}", b"q" * index, 2)
    link.pump()


@pytest.mark.parametrize("version", VERSIONS)
def test_interleaved_flows(twins, version):
    assert_same(twins, many_flows, version, expect=["PublishCompleted"])


def aliases(link):
    link.connect()
    link.subscribe("t/#", 1)
    link.route_qos = 1
    for topic in ("t/1", "t/2", "t/3", "t/1", "t/2", "t/4", "t/1"):
        link.call("publish", link.client.publish, topic, b"alias", 1)
        link.pump()


@pytest.mark.parametrize("version", VERSIONS)
def test_topic_aliases_both_ways(twins, version):
    assert_same(
        twins,
        aliases,
        version,
        expect=["MessageReceived"],
        client={"topic_alias_maximum": 2},
        server={"topic_alias_maximum": 2},
    )


def aliases_repeated(link):
    # The same topic object published again keeps its place as the most recently used (the
    # compiled twin skips reordering then): which alias is reassigned must still be the same.
    link.connect()
    link.subscribe("t/#", 1)
    link.route_qos = 1
    for topic in ("t/1", "t/2", "t/2", "t/1", "t/1", "t/3", "t/2", "t/3", "t/3", "t/4", "t/1", "t/4", "t/2"):
        link.call("publish", link.client.publish, topic, b"alias", 1)
        link.pump()


@pytest.mark.parametrize("version", [5])
def test_topic_aliases_reassigned_least_recently_used_first(twins, version):
    assert_same(twins, aliases_repeated, version, expect=["MessageReceived"], server={"topic_alias_maximum": 2})


def request_properties(link):
    # The compiled publish() takes Response Topic and Correlation Data on its fast path; the
    # mixin's checks still decide what is refused (3.x, wildcards, wrong types, other names).
    link.connect()
    link.subscribe("t/#", 1)
    link.route_qos = 1
    cases = [
        {"response_topic": "r/1", "correlation_data": b"\x00\x01"},
        {"response_topic": "r/2"},
        {"correlation_data": b"only"},
        {"response_topic": "r/3", "correlation_data": b"c", "content_type": "text/plain"},
        {"response_topic": "r/+", "correlation_data": b"c"},
        {"response_topic": "r/4", "correlation_data": "not bytes"},
        {"response_topic": 7},
        {"response_topic": "r/5", "dup": True},
    ]
    for index, properties in enumerate(cases):
        link.call("publish", link.client.publish, "t/req", b"%d" % index, index % 3, **properties)
        link.pump()
        link.call("in flight", lambda: (sorted(link.client.session.outbound), list(link.client.session.waiting)))


@pytest.mark.parametrize("version", VERSIONS)
def test_request_properties_on_publish(twins, version):
    assert_same(twins, request_properties, version)


def request_properties_queued(link):
    # Beyond the send quota: the message waits, sized now, sent as an acknowledgement frees the quota.
    link.connect()
    link.subscribe("t/#", 1)
    for index in range(4):
        link.call(
            "publish", link.client.publish, "t/req", b"x" * 40 * index, 1,
            response_topic="r/%d" % index, correlation_data=b"%d" % index,
        )
    link.route_qos = 1
    link.pump(rounds=20)


def test_request_properties_beyond_the_quota(twins):
    assert_same(
        twins,
        request_properties_queued,
        5,
        expect=["PublishCompleted", "MessageReceived"],
        server={"receive_maximum": 1, "max_packet_size": 100},
    )


def topics_one_after_another(link):
    # The compiled publish() validates a topic once while it publishes to that one string:
    # every other topic is still checked, and the remembered one does not vouch for them.
    link.connect()
    link.subscribe("t/#", 1)
    topic = "t/same"
    for candidate in (topic, topic, "t/+", topic, "t/#", "", "t/\x00", "t/" + "x" * 3, topic, 7):
        link.call("publish", link.client.publish, candidate, b"x", 1)
    link.route_qos = 1
    link.pump(rounds=20)


@pytest.mark.parametrize("version", VERSIONS)
def test_topic_checked_for_each_new_topic(twins, version):
    assert_same(twins, topics_one_after_another, version, expect=["PublishCompleted"])
    raised = [entry for entry in run(twins[0], topics_one_after_another, version).log if entry[1] == "raised"]
    assert len(raised) == 5, raised  # t/+, t/#, the empty topic, the NUL character, a number


# ---- publishes held by an asyncio client -----------------------------------------------------------


class Pending:
    """A future's stand-in that writes what is done to it into the transcript."""

    def __init__(self, link, name, cancelled=False):
        self.link, self.name, self.outcome = link, name, "cancelled" if cancelled else None

    def done(self):
        return self.outcome is not None

    def set_result(self, result):
        if self.outcome is not None:  # as asyncio's InvalidStateError
            raise RuntimeError(f"{self.name} is already done")
        self.outcome = "result"
        self.link.log.append((self.name, "result", result))

    def set_exception(self, exc):
        assert self.outcome is None, self.name
        self.outcome = "exception"
        self.link.log.append((self.name, "exception", describe(exc)))


def held_publishes(link):
    # What mqttfast.client leaves to the layer: held publishes moved in while none waits
    # (_publish_held), and acknowledged flows resolving their futures (_futures) in place
    # of PublishCompleted; a refusal, an id not in the table and a cancelled future still
    # take the reporting path.
    from collections import deque

    link.connect()
    link.subscribe("t/#", 2)
    awaited = {}
    link.client._futures = awaited
    five = link.version == 5
    held = [
        ("t/a", b"1", 1, False, None),
        ("t/a", b"2", 2, False, None),
        ("t/b", b"3", 1, False, None),  # its future is cancelled: never sent
        ("t/+", b"4", 1, False, None),  # an invalid topic name: its future fails
        ("t/c", b"5", 1, False, {"response_topic": "r", "correlation_data": b"c"} if five else None),
        ("t/c", b"6", 2, True, {"user_properties": [("k", "v")]} if five else None),
        ("t/d", b"7", 1, False, {"message_expiry_interval": 60} if five else {"retain": True}),  # 3.x: TypeError
        ("t/a", b"8", 1, False, None),
        ("t/a", b"9", 2, False, None),
        ("t/a", b"10", 1, False, None),
    ]
    futures = deque(Pending(link, f"future {index}", cancelled=index == 2) for index in range(len(held)))
    arguments = deque(held)
    link.route_qos = 2
    for _ in range(12):
        link.call("held", link.client._publish_held, futures, arguments, awaited)
        link.call("held left", lambda: (len(futures), len(arguments), sorted(awaited)))
        link.to_server()
        link.to_client()
    link.pump(rounds=20)
    # A publish made outside the table is still reported; a refusal reports and keeps its future;
    # a future cancelled while its message is in flight is left as it is, and nothing is reported.
    link.call("publish", link.client.publish, "t/e", b"x", 1)
    link.pump()
    cancelled = link.call("publish", link.client.publish, "t/g", b"z", 1)
    awaited[cancelled] = Pending(link, "cancelled in flight", cancelled=True)
    link.pump()
    packet_id = link.call("publish", link.client.publish, "t/f", b"y", 1)
    awaited[packet_id] = Pending(link, "refused")
    link.client.data_to_send()
    refusal = link.api.Puback(packet_id=packet_id, reason_code=0x87 if five else 0)
    link.feed("client", raw(link.api, link.version, refusal))
    link.call("table", lambda: sorted(awaited))


@pytest.mark.parametrize("version", VERSIONS)
def test_held_publishes_and_futures_resolved_by_the_layer(twins, version):
    assert_same(
        twins,
        held_publishes,
        version,
        expect=["PublishCompleted", "MessageReceived"],
        client={"max_queued": 1},
        server={"receive_maximum": 2},
    )
    log = run(twins[0], held_publishes, version, client={"max_queued": 1}, server={"receive_maximum": 2}).log
    outcomes = {entry[0]: entry[1] for entry in log if str(entry[0]).startswith("future")}
    assert outcomes["future 0"] == "result" and outcomes["future 9"] == "result"
    assert outcomes["future 3"] == "exception" and "future 2" not in outcomes
    assert not any(entry[0] == "cancelled in flight" for entry in log)
    assert ("refused", "result", 0) in log if version != 5 else not any(entry[0] == "refused" for entry in log)


# ---- flow control ---------------------------------------------------------------------------------


def quota(link):
    link.connect()
    link.subscribe("t/#", 2)
    for index in range(7):
        link.call("publish", link.client.publish, "t/q", b"%d" % index, 1 + index % 2)
    link.call("in flight", lambda: (sorted(link.client.session.outbound), list(link.client.session.waiting)))
    link.route_qos = 2
    link.pump(rounds=30)
    link.call("in flight", lambda: (sorted(link.client.session.outbound), list(link.client.session.waiting)))


@pytest.mark.parametrize("version", VERSIONS)
def test_send_quota_and_queue(twins, version):
    assert_same(
        twins,
        quota,
        version,
        expect=["PublishCompleted"],
        client={"receive_maximum": 1, "max_queued": 4},
        server={"receive_maximum": 2, "max_queued": 3},
    )


def peer_packet_size(link):
    link.connect()
    link.subscribe("t/#", 1)
    link.call("publish", link.client.publish, "t/big", b"x" * 200, 1)
    link.call("publish", link.client.publish, "t/small", b"x" * 10, 1)
    link.call("deliver", link.server.deliver, link.api.Publish(topic="t/big", payload=b"y" * 200, qos=1), 1)
    link.call("deliver", link.server.deliver, link.api.Publish(topic="t/ok", payload=b"y", qos=1), 1)
    link.pump()


@pytest.mark.parametrize("version", VERSIONS)
def test_peer_maximum_packet_size(twins, version):
    assert_same(
        twins,
        peer_packet_size,
        version,
        client={"max_packet_size": 100},
        server={"max_packet_size": 100},
    )


def expiry(link):
    link.connect()
    link.subscribe("t/#", 1)
    link.call("timeout", link.server.handle_timeout, 100.0)
    for index, expires_at in enumerate((90.0, 100.5, 160.0, None)):
        message = link.api.Publish(topic="t/e", payload=b"e", qos=1, message_expiry_interval=60 if index else None)
        link.call("deliver", link.server.deliver, message, 1, expires_at=expires_at)
    link.pump()


@pytest.mark.parametrize("version", VERSIONS)
def test_message_expiry_on_delivery(twins, version):
    assert_same(twins, expiry, version if version == 5 else 5, expect=["MessageReceived"])


# ---- manual acknowledgement --------------------------------------------------------------------------


def manual_ack(link):
    link.connect()
    received = []
    for qos in (1, 2, 1, 2, 0):
        link.call("publish", link.client.publish, "t/m", b"m", qos)
        received.extend(link.to_server())
    link.call("ack out of order", link.server.ack, received[2], 0x80)
    link.call("ack", link.server.ack, received[1], 0x80)
    link.call("ack twice", link.server.ack, received[1])
    link.call("ack qos 0", link.server.ack, received[4])
    link.call("ack", link.server.ack, received[0])
    link.pump()
    link.call("ack", link.server.ack, received[3])
    link.pump()


@pytest.mark.parametrize("version", VERSIONS)
def test_manual_ack(twins, version):
    assert_same(twins, manual_ack, version, expect=["PublishCompleted"], server={"auto_ack": False})


def manual_ack_pubrel_early(link):
    link.connect()
    link.call("publish", link.client.publish, "t/m", b"m", 2)
    link.to_server()
    # A PUBREL for a message the application has not acknowledged yet.
    link.feed("server", raw(link.api, link.version, link.api.Pubrel(packet_id=1)))
    link.to_client()


@pytest.mark.parametrize("version", VERSIONS)
def test_manual_ack_pubrel_before_pubrec(twins, version):
    assert_same(twins, manual_ack_pubrel_early, version, expect=["Disconnected"], server={"auto_ack": False})


# ---- sessions ---------------------------------------------------------------------------------------


def resume(link):
    link.connect(clean_start=True, session_expiry_interval=300 if link.version == 5 else None)
    link.subscribe("t/#", 2)
    for qos in (1, 2, 1):
        link.call("publish", link.client.publish, "t/r", b"r", qos)
    link.to_server()  # the server's acks are lost with the connection
    link.server.data_to_send()
    link.call("lost", link.client.connection_lost)
    link.call("lost", link.server.connection_lost)
    api, session, server_session = link.api, link.client.session, link.server_session
    link.client = api.ClientConnection(link.version, session=session)
    link.server = api.ServerConnection()
    link.connect(clean_start=False, accept={"session": server_session})
    link.pump()


@pytest.mark.parametrize("version", [4, 5])
def test_session_resumed_resends(twins, version):
    assert_same(twins, resume, version, expect=["Connected", "PublishCompleted"])


def pipelined(link):
    api, version = link.api, link.version
    data = raw(api, version, api.Connect(protocol_version=version, client_id="p", clean_start=True))
    data += raw(api, version, api.Publish(topic="t/p", payload=b"1", qos=1, packet_id=7))
    data += raw(api, version, api.Subscribe(packet_id=8, subscriptions=[api.Subscription(topic_filter="t/#", qos=1)]))
    data += raw(api, version, api.Publish(topic="t/p", payload=b"2", qos=2, packet_id=9))
    link.feed("server", data)
    link.call("accept", link.server.accept)
    link.to_client()


@pytest.mark.parametrize("version", VERSIONS)
def test_pipelined_behind_connect(twins, version):
    assert_same(twins, pipelined, version, expect=["ConnectRequested"])


# ---- broken input ------------------------------------------------------------------------------------


def broken(data_of, side="server", connect=True):
    def script(link):
        if connect:
            link.connect()
        data = data_of(link.api, link.version)
        link.feed(side, data)
        link.call("lost", (link.server if side == "server" else link.client).connection_lost)
        link.log.append(("left", link.server.data_to_send(), link.client.data_to_send()))

    return script


def _connect(api, version, client_id="b"):
    return raw(api, version, api.Connect(protocol_version=version, client_id=client_id, clean_start=True))


BROKEN = {
    "truncated connect": (broken(lambda api, v: _connect(api, v)[:7], connect=False)),
    "garbage before connect": broken(lambda api, v: b"\xff\xff\xff\xff\x00", connect=False),
    "publish before connect": broken(
        lambda api, v: raw(api, v, api.Publish(topic="t", payload=b"x")), connect=False
    ),
    "truncated publish": broken(lambda api, v: raw(api, v, api.Publish(topic="t", payload=b"xyz", qos=1, packet_id=3))[:-2]),
    "garbage": broken(lambda api, v: b"\x00\x01\x02\x03\x04\x05"),
    "bad remaining length": broken(lambda api, v: b"\x30\xff\xff\xff\xff\x01"),
    "second connect": broken(lambda api, v: _connect(api, v)),
    "pubrec unknown id": broken(lambda api, v: raw(api, v, api.Pubrec(packet_id=44))),
    "pubrel unknown id": broken(lambda api, v: raw(api, v, api.Pubrel(packet_id=45))),
    "puback and pubcomp unknown id": broken(
        lambda api, v: raw(api, v, api.Puback(packet_id=46)) + raw(api, v, api.Pubcomp(packet_id=47))
    ),
    "qos 2 retransmission": broken(
        lambda api, v: raw(api, v, api.Publish(topic="t", payload=b"x", qos=2, packet_id=5)) * 3
    ),
    "client: garbage": broken(lambda api, v: b"\xf0\x00\xf0", side="client"),
    "client: second connack": broken(lambda api, v: raw(api, v, api.Connack()), side="client"),
    "client: publish before connack": broken(
        lambda api, v: raw(api, v, api.Publish(topic="t", payload=b"x")), side="client", connect=False
    ),
}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_input(twins, version, case):
    assert_same(twins, BROKEN[case], version)


def _publish_with_alias(alias, topic):
    def data(api, version):
        wire = raw(api, 5, api.Publish(topic=topic, payload=b"a", qos=1, packet_id=2, topic_alias=alias or 1))
        # An alias of 0 cannot be encoded: write 1, then patch the property's value.
        return wire if alias else wire.replace(b"\x23\x00\x01", b"\x23\x00\x00")

    return broken(data)


@pytest.mark.parametrize(
    "alias, topic",
    [(1, "t/a"), (0, "t/a"), (11, "t/a"), (3, "")],
    ids=["valid", "zero", "above maximum", "never set"],
)
def test_inbound_topic_alias(twins, alias, topic):
    assert_same(twins, _publish_with_alias(alias, topic), 5, server={"topic_alias_maximum": 10})


def quota_overrun(link):
    link.connect()
    api, version = link.api, link.version
    packets = [raw(api, version, api.Publish(topic="t", payload=b"o", qos=1 + i % 2, packet_id=i + 1)) for i in range(4)]
    # QoS 1 messages count once a read is over (their acks could have gone out): the first read's two
    # fit, the second read's QoS 2 message is the third in flight.
    link.feed("server", packets[0] + packets[1])
    link.feed("server", packets[2] + packets[3])
    link.to_client()


@pytest.mark.parametrize("version", VERSIONS)
def test_receive_maximum_overrun(twins, version):
    # Only MQTT 5 announces a Receive Maximum: a 3.x peer cannot break it.
    expect = ["MessageReceived", "Disconnected"] if version == 5 else ["MessageReceived"]
    assert_same(twins, quota_overrun, version, expect=expect, server={"receive_maximum": 2, "auto_ack": False})
