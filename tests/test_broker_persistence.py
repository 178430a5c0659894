"""Broker persistence (``--persistence PATH``): what was acknowledged survives a stop, even a kill -9.

The store's round trip is tested directly; the whole story runs
``python -m mqttfast.broker`` as a subprocess on 127.0.0.1 with paho-mqtt
clients: persistent sessions of 3.1.1 and 5.0 subscribers are offline while
a publisher's QoS 1 and 2 messages and retained messages are acknowledged,
the broker stops (SIGTERM, or SIGKILL for the crash), starts again on the
same database, and the subscribers come back to find everything.
"""

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import pytest

import mqttfast
from mqttfast.broker import Broker, Client
from mqttfast.broker._store import (
    SCHEMA_VERSION,
    SQLiteStore,
    _EncodingCache,
    _twin,
    decode_session,
    dump_session,
    encode_session,
)

from .helpers.peers import TIMEOUT

mqtt = pytest.importorskip("paho.mqtt.client")
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402

from .helpers.subprocesses import MQTTFAST_ROOT as SRC

# ---- the store alone ----------------------------------------------------------------------------


def _session():
    """A server session with something in every part of its state, in the packets its connection uses."""
    packets = _twin()
    session = mqttfast.ServerSession("keeper")
    session.expiry_interval = 3600
    session.subscriptions["a/+"] = (packets.Subscription(topic_filter="a/+", qos=2, no_local=True), 7)
    session.subscriptions["b/#"] = (packets.Subscription(topic_filter="b/#", qos=1, retain_handling=2), None)
    first = packets.Publish(topic="a/1", payload=b"\x00one", qos=1, packet_id=11, content_type="x")
    second = packets.Publish(topic="a/2", payload=b"two", qos=2, packet_id=12)
    session.outbound[1] = mqttfast.Outgoing(first, 1, False, [7], 150.0)
    session.outbound[1].sent = True
    session.outbound[2] = None  # PUBREL sent, PUBCOMP awaited
    session.enqueue(second, 2, True, None, None)
    session.enqueue(packets.Will(topic="w", payload=b"routed will", qos=1).to_publish(), 1)  # no packet id
    session.inbound_qos2.update({5, 9})
    session.will = packets.Will(topic="gone", payload=b"bye", qos=1, will_delay_interval=30)  # no packet id either
    session.will_on_close = True
    session.will_at = 130.0
    session.expires_at = 3700.0
    return session


def test_session_data_has_the_keys_of_dump():
    assert set(dump_session(mqttfast.ServerSession("x"))) == set(mqttfast.ServerSession("x").dump()) | {"connected"}


def test_session_round_trip_shifts_deadlines():
    session = _session()
    blob = encode_session(session, 1000.0)
    assert isinstance(blob, bytes)
    loaded, connected = decode_session(blob, 1000.0)
    assert connected is False
    assert loaded.client_id == "keeper"
    assert list(loaded.outbound) == list(session.outbound)
    assert loaded.outbound[2] is None
    entry = loaded.outbound[1]
    assert (entry.message.topic, bytes(entry.message.payload), entry.message.content_type) == ("a/1", b"\x00one", "x")
    assert (entry.qos, entry.retain, entry.subscription_identifiers, entry.sent) == (1, False, [7], True)
    assert entry.expires_at == pytest.approx(150.0, abs=1.0)
    waiting = loaded.outbound[3]
    assert (waiting.message.topic, waiting.qos, waiting.retain, waiting.sent) == ("a/2", 2, True, False)
    assert bytes(loaded.outbound[4].message.payload) == b"routed will"
    assert list(loaded.waiting) == [3, 4]
    assert loaded.inbound_qos2 == {5, 9}
    assert loaded.subscriptions["a/+"][0].no_local and loaded.subscriptions["a/+"][1] == 7
    assert loaded.subscriptions["b/#"][0].retain_handling == 2 and loaded.subscriptions["b/#"][1] is None
    assert (loaded.will.topic, bytes(loaded.will.payload), loaded.will.qos) == ("gone", b"bye", 1)
    assert loaded.will.will_delay_interval == 30 and loaded.will_on_close
    assert loaded.will_at == pytest.approx(130.0, abs=1.0)
    assert loaded.expires_at == pytest.approx(3700.0, abs=1.0)
    assert loaded.expiry_interval == 3600
    # Stored as wall-clock times: the offset is in the bytes.
    assert b"1130" in blob and b"4700" in blob
    # The placeholder packet ids are not put into the live session.
    assert session.outbound[4].message.packet_id is None


def test_encoding_cache_keeps_only_the_messages_of_the_last_pass():
    session = _session()
    cache = _EncodingCache({})
    assert encode_session(session, 0.0, cache) == encode_session(session, 0.0)
    assert len(cache.used) == 3  # the three messages in outbound
    session.outbound.pop(1)  # acknowledged
    later = _EncodingCache(cache.used)
    blob = encode_session(session, 0.0, later)
    assert sorted(entry[0].topic for entry in later.used.values()) == ["a/2", "w"]
    assert list(decode_session(blob, 0.0)[0].outbound) == [2, 3, 4]


def _fake_broker(*sessions):
    return SimpleNamespace(dirty={}, sessions={session.client_id: session for session in sessions})


def test_store_saves_changed_sessions_and_deletes_ended_ones(tmp_path):
    path = str(tmp_path / "broker.db")
    store = SQLiteStore(path, clock=lambda: 100.0)
    session = _session()
    fleeting = mqttfast.ServerSession("fleeting")  # expiry 0: ends with its connection, never stored
    broker = _fake_broker(session, fleeting)
    store.session_changed("keeper")
    store.session_changed("fleeting")
    store.save(broker)
    store.close()

    reopened = SQLiteStore(path, clock=lambda: 100.0)
    loaded = reopened.load_sessions(100.0)
    assert list(loaded) == ["keeper"]
    restored = loaded["keeper"][0]
    assert _timeless(restored) == _timeless(session)
    assert restored.will.topic == "gone" and restored.will_at == pytest.approx(130.0, abs=1.0)
    # The session ends: its row goes.
    session.end()
    reopened.session_changed("keeper")
    reopened.save(broker)
    assert reopened.load_sessions(100.0) == {}
    reopened.close()


def _timeless(session):
    """The session's plain data without its deadlines (wall time moves on between save and load)."""
    state = dump_session(session)
    state["will_at"] = state["expires_at"] = None
    for _, entry in state["outbound"]:
        if entry is not None:
            entry["expires_at"] = None
    return state


def test_store_saves_sessions_of_clients_written_to(tmp_path):
    store = SQLiteStore(str(tmp_path / "broker.db"))
    session = mqttfast.ServerSession("sub")
    session.expiry_interval = 0xFFFFFFFF  # 3.x CleanSession 0
    session.connected = True
    broker = _fake_broker(session)
    written, unnamed = Client(None, print, print), Client(None, print, print)
    written.client_id = "sub"
    broker.dirty = {written: None, unnamed: None}
    store.save(broker)
    loaded = store.load_sessions(0.0)
    assert loaded["sub"][1] is True  # was connected: detached again at restore
    store.close()


def test_restore_rebuilds_the_broker(tmp_path):
    path = str(tmp_path / "broker.db")
    store = SQLiteStore(path, clock=lambda: 1000.0)
    packets = _twin()
    expired = _session()
    expired.client_id, expired.will = "expired", None
    expired.expires_at = 990.0  # ran out while the broker was down
    alive = _session()
    alive.client_id, alive.will = "alive", None
    connected = mqttfast.ServerSession("connected")  # connected when the broker stopped, with a will
    connected.expiry_interval, connected.connected = 60, True
    connected.will = packets.Will(topic="lost/connected", payload=b"gone", retain=True)
    connected.will_on_close = True
    for session in (expired, alive, connected):
        store.session_changed(session.client_id)
    store.save(_fake_broker(expired, alive, connected))
    store.close()

    store = SQLiteStore(path)
    broker = Broker(store=store)
    store.restore(broker, 5.0)
    assert set(broker.sessions) == {"alive", "connected"}
    assert {record.client_id for record in broker.matcher.match("a/x")} == {"alive"}
    assert broker.sessions["alive"].expires_at == pytest.approx(3700.0 - 1000.0 + 5.0, abs=1.0)
    # The restart disconnected "connected": its will (no delay) went out, its expiry runs from now.
    assert [message.topic for message, _ in broker.retained.messages()] == ["lost/connected"]
    assert broker.sessions["connected"].expires_at == pytest.approx(65.0)
    broker.flush()
    store.close()
    reopened = SQLiteStore(path)
    assert set(reopened.load_sessions(5.0)) == {"alive", "connected"}
    assert reopened.load_sessions(5.0)["connected"][0].will is None
    assert [message.topic for message, _ in reopened.load_retained(5.0)] == ["lost/connected"]
    reopened.close()


def test_retained_round_trip_and_expiry(tmp_path):
    path = str(tmp_path / "broker.db")
    clock = [50.0]
    store = SQLiteStore(path, clock=lambda: clock[0])
    packets = _twin()
    kept = packets.Publish(topic="r/kept", payload=b"k", qos=1, retain=True, packet_id=3, user_properties=[("a", "b")])
    willish = packets.Publish(topic="r/will", payload=b"w", qos=2, retain=True)  # no packet id, as a will's
    brief = packets.Publish(topic="r/brief", payload=b"b", retain=True, message_expiry_interval=5)
    cleared = packets.Publish(topic="r/cleared", payload=b"c", retain=True)
    for message, expires_at in ((kept, None), (willish, None), (brief, 55.0), (cleared, None)):
        store.retained_changed(message, expires_at)
    store.save(_fake_broker())
    store.retained_changed(packets.Publish(topic="r/cleared", payload=b"", retain=True), None)
    store.save(_fake_broker())
    store.close()

    store = SQLiteStore(path)
    found = {message.topic: (message, expires_at) for message, expires_at in store.load_retained(1000.0)}
    assert set(found) == {"r/kept", "r/will", "r/brief"}
    message, expires_at = found["r/kept"]
    assert (bytes(message.payload), message.qos, message.retain, message.user_properties) == (b"k", 1, True, [("a", "b")])
    assert expires_at is None
    assert found["r/will"][0].qos == 2
    assert found["r/brief"][1] == pytest.approx(1005.0, abs=1.0)  # 5 s left, on the new clock
    store.close()


def test_expired_retained_messages_are_dropped_at_load(tmp_path):
    path = str(tmp_path / "broker.db")
    store = SQLiteStore(path, clock=lambda: 0.0)
    store.retained_changed(_twin().Publish(topic="old", payload=b"o", retain=True), -1.0)  # expired a second ago
    store.save(_fake_broker())
    assert store.load_retained(0.0) == []
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM retained").fetchone()[0] == 0
    db.close()


def test_schema_is_versioned_and_in_wal_mode(tmp_path):
    path = str(tmp_path / "broker.db")
    SQLiteStore(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    with pytest.raises(RuntimeError, match="schema 99"):
        SQLiteStore(path)


# ---- the broker, stopped and started again ------------------------------------------------------


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class BrokerProcess:
    """``python -m mqttfast.broker --persistence PATH`` on a free loopback port."""

    def __init__(self, database, port, env_extra=None):
        env = dict(os.environ, PYTHONPATH=str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        env.update(env_extra or {})
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mqttfast.broker", "--port", str(port), "--persistence", str(database), "-q"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.port = port
        deadline = time.monotonic() + 3 * TIMEOUT
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.05)
        raise AssertionError(f"broker did not start: {self.stop(signal.SIGKILL)}")

    def stop(self, signum):
        """Send ``signum``, wait for the end (killing it after ``TIMEOUT``); what it wrote to stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            _, errors = self.process.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, errors = self.process.communicate()
        return errors.decode(errors="replace")


class Paho:
    """A paho client run on its own thread, recording CONNACKs and messages."""

    def __init__(self, port, client_id, version, *, session_expiry=None, clean=False):
        kwargs = {} if version == 5 else {"clean_session": clean}
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5 if version == 5 else mqtt.MQTTv311,
            **kwargs,
        )
        self.connacks = []
        self.messages = []
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        properties = None
        connect_args = {}
        if version == 5:
            connect_args["clean_start"] = clean
            if session_expiry is not None:
                properties = Properties(PacketTypes.CONNECT)
                properties.SessionExpiryInterval = session_expiry
        self.client.connect("127.0.0.1", port, keepalive=30, properties=properties, **connect_args)
        self.client.loop_start()
        assert self.connected.wait(TIMEOUT), f"{client_id}: no CONNACK"

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.connacks.append((flags.session_present, reason_code))
        self.connected.set()

    def _on_message(self, client, userdata, message):
        with self.lock:
            self.messages.append((message.topic, message.payload, message.qos, message.retain))

    def subscribe(self, topic_filter, qos):
        done = threading.Event()
        self.client.on_subscribe = lambda *args: done.set()
        self.client.subscribe(topic_filter, qos)
        assert done.wait(TIMEOUT), "no SUBACK"

    def wait_for(self, predicate, what):
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            with self.lock:
                if predicate(list(self.messages)):
                    return list(self.messages)
            time.sleep(0.02)
        with self.lock:
            raise AssertionError(f"{what}: got {self.messages!r}")

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def _publish_all(port, count):
    """QoS 1 and QoS 2 messages to ``t/...`` and two retained ones, each acknowledged before returning."""
    publisher = Paho(port, "publisher", 5, clean=True)
    infos = []
    for i in range(count):
        infos.append(publisher.client.publish(f"t/q1/{i}", f"one-{i}".encode(), qos=1))
        infos.append(publisher.client.publish(f"t/q2/{i}", f"two-{i}".encode(), qos=2))
    infos.append(publisher.client.publish("r/a", b"retained-a", qos=1, retain=True))
    infos.append(publisher.client.publish("r/b", b"retained-b", qos=2, retain=True))
    infos.append(publisher.client.publish("r/gone", b"x", qos=1, retain=True))
    infos.append(publisher.client.publish("r/gone", b"", qos=1, retain=True))  # clears it
    for info in infos:
        info.wait_for_publish(TIMEOUT)
        assert info.is_published()
    # Not closed cleanly: the broker dies with the acks sent, nothing after.
    publisher.client.loop_stop()
    publisher.client.socket().close()


@pytest.mark.peer
@pytest.mark.parametrize(
    ("signum", "env"),
    [
        (signal.SIGTERM, {}),
        (signal.SIGKILL, {}),
        (signal.SIGKILL, {"MQTTFAST_NO_EXTENSIONS": "1"}),
    ],
    ids=["sigterm", "kill-9", "kill-9-pure-python"],
)
def test_acknowledged_messages_survive_a_restart(tmp_path, signum, env):
    database = tmp_path / "broker.db"
    port = _free_port()
    broker = BrokerProcess(database, port, env)
    count = 25
    try:
        subscribers = [
            Paho(port, "sub-311", 4, clean=False),
            Paho(port, "sub-5", 5, session_expiry=3600),
        ]
        for subscriber in subscribers:
            assert subscriber.connacks[0][0] is False
            subscriber.subscribe("t/#", 2)
            subscriber.close()  # offline: the broker queues for them
        _publish_all(port, count)
    finally:
        errors = broker.stop(signum)
    assert "Traceback" not in errors, errors

    broker = BrokerProcess(database, port, env)
    try:
        expected = {(f"t/q1/{i}", f"one-{i}".encode(), 1) for i in range(count)}
        expected |= {(f"t/q2/{i}", f"two-{i}".encode(), 2) for i in range(count)}
        for client_id, version, extra in (("sub-311", 4, {"clean": False}), ("sub-5", 5, {"session_expiry": 3600})):
            subscriber = Paho(port, client_id, version, **extra)
            try:
                assert subscriber.connacks[0][0] is True, "session not resumed"
                got = subscriber.wait_for(lambda ms: len({m[:3] for m in ms} & expected) == len(expected), client_id)
                time.sleep(0.2)  # room for a duplicate to show up
                with subscriber.lock:
                    got = [m for m in subscriber.messages if m[0].startswith("t/q")]
                assert {m[:3] for m in got} == expected
                qos2 = [m for m in got if m[2] == 2]
                assert len(qos2) == count, "a QoS 2 message arrived twice"
                # Subscriptions resumed: a new message arrives without subscribing again.
                after = f"t/after/{client_id}"
                subscriber.client.publish(after, b"after", qos=1).wait_for_publish(TIMEOUT)
                subscriber.wait_for(lambda ms: any(m[0] == after for m in ms), "subscription not resumed")
                # Retained messages are back (and the cleared one stays cleared).
                subscriber.subscribe("r/#", 2)
                retained = subscriber.wait_for(lambda ms: sum(m[3] for m in ms) >= 2, "retained")
                time.sleep(0.1)
                with subscriber.lock:
                    retained = {(m[0], m[1]) for m in subscriber.messages if m[3]}
                assert retained == {("r/a", b"retained-a"), ("r/b", b"retained-b")}
            finally:
                subscriber.close()
    finally:
        errors = broker.stop(signal.SIGTERM)
    assert broker.process.returncode == 0, errors
    assert "Traceback" not in errors, errors
