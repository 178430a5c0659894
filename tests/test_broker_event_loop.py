"""``--event-loop``: asyncio's by default, uvloop on request (the mqttfast[broker-uvloop] extra)."""

import importlib.util

import pytest

import mqttfast as m
from mqttfast.broker import _server
from mqttfast.broker.__main__ import loop_factory, parse_args

from .helpers.broker import connect_raw, running_broker

HAVE_UVLOOP = importlib.util.find_spec("uvloop") is not None


def test_asyncio_is_the_default_and_runs_without_a_factory():
    assert parse_args([]).event_loop == "asyncio"
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
