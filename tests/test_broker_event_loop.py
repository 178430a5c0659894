"""``--event-loop``: uvloop when installed by default (the mqttfast[broker-uvloop] extra), else asyncio's."""

import importlib.util

import pytest

import mqttfast as m
from mqttfast.broker import Broker
from mqttfast.broker import _server
from mqttfast.broker.__main__ import loop_factory, parse_args

from .helpers.broker import connect_raw, read_until_closed, running_broker

HAVE_UVLOOP = importlib.util.find_spec("uvloop") is not None


def test_auto_is_the_default_and_asyncio_runs_without_a_factory():
    assert parse_args([]).event_loop == "auto"
    assert loop_factory("asyncio") is None


def test_uvloop_when_asked_for_and_installed_else_an_error_that_names_the_extra():
    if HAVE_UVLOOP:
        import uvloop

        assert loop_factory("uvloop") is uvloop.new_event_loop
        assert loop_factory("auto") is uvloop.new_event_loop
    else:
        with pytest.raises(RuntimeError, match="broker-uvloop"):
            loop_factory("uvloop")
        assert loop_factory("auto") is None


def test_the_config_file_takes_only_the_listed_loops(tmp_path, capsys):
    config = tmp_path / "broker.toml"
    config.write_text('event-loop = "uvloop"\n')
    assert parse_args(["--config", str(config)]).event_loop == "uvloop"
    config.write_text('event-loop = "fastest"\n')
    with pytest.raises(SystemExit) as exited:
        parse_args(["--config", str(config)])
    assert exited.value.code == 2
    assert "not one of" in capsys.readouterr().err


# ---- the flush on each loop: a read alone in its pass, and reads that share one --------------------


class _Raw:
    """An MQTT 3.1.1 client on a plain socket: packets out, packets in (decoded by mqttfast)."""

    def __init__(self, port, client_id):
        self.sock = connect_raw(port)
        self.decoder = m.Decoder(4)
        self.pending = []
        self.send(m.Connect(client_id=client_id, keep_alive=600, clean_start=True))
        assert type(self.receive()) is m.Connack

    def send(self, *packets):
        self.sock.sendall(b"".join(m.encode(packet, 4) for packet in packets))

    def receive(self):
        while not self.pending:
            data = self.sock.recv(65536)
            assert data, "the broker closed the connection"
            self.pending += self.decoder.feed(data)
        return self.pending.pop(0)


@pytest.fixture(params=["asyncio", "uvloop"])
def served(request, monkeypatch):
    """A broker on each loop whose periodic tick never comes during the test: what it delivers, a
    flush of the read (at once or at the end of the pass) delivered."""
    if request.param == "uvloop":
        pytest.importorskip("uvloop")
    monkeypatch.setattr(_server, "TICK", 3600.0)
    with running_broker(loop_factory=loop_factory(request.param)) as running:
        yield running


@pytest.mark.parametrize("qos", [0, 1])
def test_messages_one_at_a_time_then_in_a_burst_arrive_in_order_without_the_tick(served, qos):
    subscriber = _Raw(served.port, "sub")
    publisher = _Raw(served.port, "pub")
    try:
        subscriber.send(m.Subscribe(packet_id=1, subscriptions=[m.Subscription(topic_filter="t", qos=qos)]))
        assert type(subscriber.receive()) is m.Suback

        def publish(i):
            return m.Publish(topic="t", payload=str(i).encode(), qos=qos, packet_id=i + 1 if qos else None)

        def delivered():
            message = subscriber.receive()
            if qos:
                subscriber.send(m.Puback(packet_id=message.packet_id))
            return int(bytes(message.payload))

        # One at a time: each read is alone in its loop pass (flushed at once).
        for i in range(20):
            publisher.send(publish(i))
            assert delivered() == i
            if qos:
                assert publisher.receive() == m.Puback(packet_id=i + 1)
        # A burst: reads of many packets, and reads that follow each other within a pass.
        publisher.send(*[publish(i) for i in range(20, 520)])
        assert [delivered() for _ in range(500)] == list(range(20, 520))
        if qos:
            assert [publisher.receive().packet_id for _ in range(500)] == list(range(21, 521))
    finally:
        subscriber.sock.close()
        publisher.sock.close()


def test_a_burst_to_a_subscriber_that_keeps_up_loses_no_qos0_message(served):
    # Fan-in: ten publishers, reads of dozens of 1 KB messages, each pass flushed to one subscriber
    # that reads as fast as it can, the publishers at most 500 messages ahead of it. The kernel
    # takes what it is given; a loop that holds a batch until the end of its pass must not count
    # it against the high-water mark and drop QoS 0 messages to a reader that keeps up.
    import threading
    import time

    subscriber = _Raw(served.port, "sub")
    publishers = [_Raw(served.port, f"pub{i}") for i in range(10)]
    total = 10_000
    try:
        subscriber.send(m.Subscribe(packet_id=1, subscriptions=[m.Subscription(topic_filter="t", qos=0)]))
        assert type(subscriber.receive()) is m.Suback
        subscriber.sock.settimeout(10)
        received = []

        def read():
            try:
                while len(received) < total:
                    received.append(subscriber.receive())
            except OSError:
                pass

        reader = threading.Thread(target=read)
        reader.start()
        chunk = m.encode(m.Publish(topic="t", payload=bytes(1024)), 4) * 50
        deadline = time.monotonic() + 20
        for sent in range(0, total, 50):
            while sent - len(received) > 500 and reader.is_alive() and time.monotonic() < deadline:
                time.sleep(0.0005)
            publishers[sent // 50 % 10].sock.sendall(chunk)
        reader.join(20)
        assert served.broker.stats["messages_dropped"] == 0
        assert len(received) == total
    finally:
        for client in [subscriber, *publishers]:
            client.sock.close()


class _QueueingTransport:
    """A transport that is not asyncio's socket transport (as uvloop's or TLS's): records the calls."""

    def __init__(self):
        self.calls = []

    def get_extra_info(self, name):
        return ("127.0.0.1", 1) if name in ("peername", "sockname") else None

    def is_closing(self):
        return False

    def write(self, data):
        self.calls.append(("write", data))

    def writelines(self, buffers):
        self.calls.append(("writelines", list(buffers)))


def test_a_batch_goes_to_other_transports_as_one_write_of_the_joined_bytes():
    # uvloop's writelines() holds the batch until the end of the pass (and counts it against the
    # high-water mark meanwhile); its write() tries the socket at once.
    server = _server.BrokerServer(Broker())
    server.bind_loop(None)
    protocol = _server._Protocol(server)
    transport = _QueueingTransport()
    protocol.connection_made(transport)
    protocol.write([b"\x30\x03", memoryview(b"\x00\x01t"), b"\x30\x02"])
    protocol.write([b"\xd0\x00"])
    assert transport.calls == [("write", b"\x30\x03\x00\x01t\x30\x02"), ("write", b"\xd0\x00")]


@pytest.mark.parametrize("event_loop", ["asyncio", "uvloop"])
def test_a_peer_still_sending_after_our_disconnect_reads_its_reason_code(event_loop, monkeypatch):
    # Three QoS 2 messages past a Receive Maximum of 2: PUBREC, PUBREC, DISCONNECT 0x93. The peer
    # answers the PUBRECs before it reads on (as the Paho suite's test_flow_control2 does): a socket
    # closed under its PUBRELs would reset the connection and lose the DISCONNECT on the way.
    import time

    if event_loop == "uvloop":
        pytest.importorskip("uvloop")
    with running_broker(loop_factory=loop_factory(event_loop), receive_maximum=2) as running:
        sock = connect_raw(running.port)
        try:
            sock.sendall(m.encode(m.Connect(client_id="c", keep_alive=60, clean_start=True), 5))
            sock.sendall(b"".join(m.encode(m.Publish(topic="t", payload=b"x", qos=2, packet_id=i), 5) for i in (1, 2, 3)))
            time.sleep(0.3)  # our DISCONNECT is out and the connection closed on our side by now
            for i in (1, 2):
                sock.sendall(m.encode(m.Pubrel(packet_id=i), 5))
                time.sleep(0.05)
            data = read_until_closed(sock)
        finally:
            sock.close()
    packets = m.Decoder(5).feed(data)
    assert [type(p) for p in packets] == [m.Connack, m.Pubrec, m.Pubrec, m.Disconnect]
    assert packets[-1].reason_code == 0x93
