"""mqttfast.broker against hostile and broken peers, through raw sockets.

Protocol violations get the answer the spec asks for (MQTT 5: a DISCONNECT
with the right reason code, then a close; 3.x: a close), and the broker
survives floods of CONNECT, half-open connections, a consumer that never
reads, and the fuzz corpus's packets, mutated, each on its own connection;
it never logs a traceback (``running_broker`` fails the test if it does).
"""

import importlib.util
import random
import socket
import threading
import time
from pathlib import Path

import pytest

import mqttfast

from .helpers.broker import connect_raw, read_until_closed, running_broker
from .helpers.peers import TIMEOUT


def connect_packet(version, client_id="hostile", **fields):
    return mqttfast.encode(mqttfast.Connect(protocol_version=version, client_id=client_id, **fields), version)


def packets_in(data, version):
    """Decode every packet of ``data`` (the broker's whole answer)."""
    out = []
    view = memoryview(data)
    while view:
        packet, size = mqttfast.decode(view, version)
        out.append(packet)
        view = view[size:]
    return out


def answer_to(port, version, violation, *, connect_fields=None):
    """Connect at ``version``, send ``violation``; the packets the broker sent until it closed."""
    sock = connect_raw(port)
    try:
        sock.sendall(connect_packet(version, **(connect_fields or {})))
        connack = sock.recv(64)  # a CONNACK is 4 bytes at 3.x, a few more at 5.0
        sock.sendall(violation)
        return packets_in(connack + read_until_closed(sock), version)
    finally:
        sock.close()


def publish(version, topic="t", payload=b"x", **fields):
    return mqttfast.encode(mqttfast.Publish(topic=topic, payload=payload, **fields), version)


def raw(first_byte, body):
    """A packet written by hand (``body`` under 128 bytes): what the encoder refuses to make."""
    return bytes([first_byte, len(body)]) + body


def props(version):
    """An empty property block at 5.0, nothing at 3.x."""
    return b"\x00" if version == 5 else b""


VIOLATIONS = {
    # name: (bytes after CONNECT, at a version -> the MQTT 5 reason code)
    "second CONNECT": (lambda v: connect_packet(v), 0x82),
    "PUBLISH at QoS 3": (lambda v: raw(0x36, b"\x00\x01t\x00\x01" + props(v)), 0x81),
    "reserved packet type 0": (lambda v: b"\x00\x00", 0x81),
    "PUBREL with wrong flags": (lambda v: b"\x60\x02\x00\x01", 0x81),
    "wildcard in a topic name": (lambda v: raw(0x30, b"\x00\x03a/+" + props(v) + b"x"), 0x90),
    "topic name with U+0000": (lambda v: raw(0x30, b"\x00\x03a\x00b" + props(v) + b"x"), 0x81),
    "SUBSCRIBE without a filter": (lambda v: raw(0x82, b"\x00\x01" + props(v)), 0x82),
    "remaining length over 4 bytes": (lambda v: b"\x30\xff\xff\xff\xff\x01", 0x81),
    "packet id 0 at QoS 1": (lambda v: raw(0x32, b"\x00\x01t\x00\x00" + props(v)), 0x82),
}


#: More violations that mean the same at every version: (bytes after CONNECT, the MQTT 5 reason code).
VIOLATIONS.update(
    {
        "subscription options with reserved bits": (lambda v: raw(0x82, b"\x00\x01" + props(v) + b"\x00\x01a\xc1"), 0x81),
        "UNSUBSCRIBE without a filter": (lambda v: raw(0xA2, b"\x00\x01" + props(v)), 0x82),
        "PINGREQ with a body": (lambda v: b"\xc0\x01\x00", 0x81),
        "CONNACK from a client": (lambda v: raw(0x20, b"\x00\x00" + props(v)), 0x82),
        "SUBACK from a client": (lambda v: raw(0x90, b"\x00\x01" + props(v) + b"\x00"), 0x82),
        "DUP at QoS 0": (lambda v: raw(0x38, b"\x00\x01t" + props(v) + b"x"), 0x81),
        "topic name not UTF-8": (lambda v: raw(0x30, b"\x00\x02\xc3\x28" + props(v) + b"x"), 0x81),
        "AUTH (reserved type at 3.x)": (lambda v: raw(0xF0, b"\x00\x00") if v == 5 else b"\xf0\x00", 0x82),
    }
)

#: MQTT 5 only: (bytes after CONNECT, reason code).
VIOLATIONS_5 = {
    "shared subscription with No Local": (raw(0x82, b"\x00\x01\x00\x00\x0a$share/g/a\x05"), 0x82),
    "subscription identifier 0": (raw(0x82, b"\x00\x01\x02\x0b\x00\x00\x01a\x01"), 0x82),
    "session expiry raised from 0 at DISCONNECT": (raw(0xE0, b"\x00\x05\x11\x00\x00\x00\x05"), 0x82),
}


def raw_connect(version, flags, client_id=b"\x00\x01c", properties=b"\x00"):
    """A CONNECT written by hand with these flags (keep alive 60)."""
    name = {3: b"\x00\x06MQIsdp\x03", 4: b"\x00\x04MQTT\x04", 5: b"\x00\x04MQTT\x05"}[version]
    return raw(0x10, name + bytes([flags]) + b"\x00\x3c" + (properties if version == 5 else b"") + client_id)


#: A CONNECT refused: (version, bytes) -> everything the broker sends before it closes.
REFUSED_CONNECTS = {
    "reserved flag 3.1": ((3, raw_connect(3, 0x03)), b""),
    "reserved flag 3.1.1": ((4, raw_connect(4, 0x03)), b""),
    "reserved flag 5.0": ((5, raw_connect(5, 0x03)), b"\x20\x03\x00\x81\x00"),
    "will QoS without a will 3.1.1": ((4, raw_connect(4, 0x0A)), b""),
    "will QoS without a will 5.0": ((5, raw_connect(5, 0x0A)), b"\x20\x03\x00\x81\x00"),
    "password without a user name 3.1.1": ((4, raw_connect(4, 0x42, b"\x00\x01c\x00\x01p")), b""),
    "empty client id with clean session 0 at 3.1.1": ((4, raw_connect(4, 0x00, b"\x00\x00")), b"\x20\x02\x00\x02"),
    "empty client id at 3.1": ((3, raw_connect(3, 0x02, b"\x00\x00")), b"\x20\x02\x00\x02"),
    "client id over 23 bytes at 3.1": ((3, raw_connect(3, 0x02, b"\x00\x18" + b"a" * 24)), b"\x20\x02\x00\x02"),
    "unknown protocol name": ((4, raw(0x10, b"\x00\x04MQTX\x04\x02\x00\x3c\x00\x01c")), b"\x20\x02\x00\x01"),
    "client id not UTF-8 5.0": ((5, raw_connect(5, 0x02, b"\x00\x02\xc3\x28")), b"\x20\x03\x00\x81\x00"),
    # No enhanced authentication here: an authentication method is refused [MQTT-4.12.0-1].
    "authentication method 5.0": ((5, raw_connect(5, 0x02, properties=b"\x06\x15\x00\x03abc")), b"\x20\x03\x00\x8c\x00"),
}


@pytest.fixture(scope="module")
def broker():
    with running_broker(receive_maximum=2, topic_alias_maximum=2, max_packet_size=1024, connect_timeout=0.5) as running:
        yield running


@pytest.mark.parametrize("name", sorted(VIOLATIONS))
def test_violation_at_5_gets_disconnect_with_its_code(broker, name):
    make, code = VIOLATIONS[name]
    answer = answer_to(broker.port, 5, make(5))
    assert [type(packet).__name__ for packet in answer] == ["Connack", "Disconnect"], answer
    assert answer[1].reason_code == code


@pytest.mark.parametrize("name", sorted(VIOLATIONS_5))
def test_violation_only_at_5_gets_disconnect_with_its_code(broker, name):
    violation, code = VIOLATIONS_5[name]
    answer = answer_to(broker.port, 5, violation)
    assert [type(packet).__name__ for packet in answer] == ["Connack", "Disconnect"], answer
    assert answer[1].reason_code == code


@pytest.mark.parametrize("name", sorted(REFUSED_CONNECTS))
def test_refused_connect(broker, name):
    (version, connect), expected = REFUSED_CONNECTS[name]
    sock = connect_raw(broker.port)
    try:
        sock.sendall(connect)
        assert read_until_closed(sock) == expected
    finally:
        sock.close()


@pytest.mark.parametrize("version", [3, 4])
@pytest.mark.parametrize("name", sorted(VIOLATIONS))
def test_violation_at_3_closes(broker, version, name):
    make, _ = VIOLATIONS[name]
    answer = answer_to(broker.port, version, make(version))
    assert [type(packet).__name__ for packet in answer] == ["Connack"]


def test_topic_alias_over_the_maximum_gets_0x94(broker):
    answer = answer_to(broker.port, 5, publish(5, "a", topic_alias=3))
    assert answer[-1].reason_code == 0x94


def test_topic_alias_unknown_gets_0x82(broker):
    answer = answer_to(broker.port, 5, publish(5, "", topic_alias=1))
    assert answer[-1].reason_code == 0x82


def test_packet_over_the_maximum_size_gets_0x95(broker):
    answer = answer_to(broker.port, 5, publish(5, payload=b"x" * 2000))
    assert answer[-1].reason_code == 0x95


def test_receive_maximum_exceeded_gets_0x93(broker):
    three = b"".join(publish(5, qos=2, packet_id=i) for i in (1, 2, 3))
    answer = answer_to(broker.port, 5, three)
    assert [type(packet).__name__ for packet in answer] == ["Connack", "Pubrec", "Pubrec", "Disconnect"]
    assert answer[-1].reason_code == 0x93


def test_unsupported_level_gets_connack_0x01_and_close(broker):
    sock = connect_raw(broker.port)
    try:
        # Protocol level 6 does not exist: the 3.x-form refusal every version can read.
        sock.sendall(b"\x10\x0d\x00\x04MQTT\x06\x02\x00\x3c\x00\x01c")
        assert read_until_closed(sock) == b"\x20\x02\x00\x01"
    finally:
        sock.close()


def test_publish_before_connect_is_closed(broker):
    sock = connect_raw(broker.port)
    try:
        sock.sendall(publish(4))
        assert read_until_closed(sock) == b""
    finally:
        sock.close()


def subscribe_packet(topic_filter, qos=1):
    return mqttfast.encode(mqttfast.Subscribe(packet_id=1, subscriptions=[mqttfast.Subscription(topic_filter=topic_filter, qos=qos)]), 5)


def exchange(port, data, count):
    """Connect at 5.0, send ``data``; the first ``count`` packets of the answer (the CONNACK first)."""
    sock = connect_raw(port)
    try:
        sock.sendall(connect_packet(5) + data)
        decoder = mqttfast.Decoder(5)
        packets = []
        while len(packets) < count:
            data = sock.recv(1 << 20)
            assert data, f"closed after {packets}"
            packets.extend(decoder.feed(data))
        return packets[:count]
    finally:
        sock.close()


def test_filter_deeper_than_the_matcher_takes_is_refused(broker):
    connack, suback = exchange(broker.port, subscribe_packet("+/" * 200 + "#"), 2)
    assert suback.reason_codes == [0x8F]


def test_retained_topic_deeper_than_the_stack():
    deep = "d/" * 5000 + "end"  # more levels than Python has frames
    with running_broker() as running:
        _, puback = exchange(running.port, publish(5, deep, b"kept", qos=1, packet_id=1, retain=True), 2)
        assert type(puback) is mqttfast.Puback
        _, _, message = exchange(running.port, subscribe_packet("d/#"), 3)
    assert (message.topic, bytes(message.payload)) == (deep, b"kept")


# ---- floods, half-open connections, slow consumers -------------------------------------------------


def assert_serves_a_normal_client(port):
    """A fresh MQTT 5 client can subscribe and get its own message back."""
    sock = connect_raw(port)
    try:
        sock.sendall(connect_packet(5, "normal"))
        decoder = mqttfast.Decoder(5)
        got = []

        def until(kind):
            while True:
                for packet in got:
                    if type(packet).__name__ == kind:
                        return packet
                got.extend(decoder.feed(sock.recv(65536)))

        until("Connack")
        sock.sendall(mqttfast.encode(mqttfast.Subscribe(packet_id=1, subscriptions=[mqttfast.Subscription(topic_filter="alive/#", qos=1)]), 5))
        until("Suback")
        sock.sendall(publish(5, "alive/t", b"still here", qos=1, packet_id=1))
        message = until("Publish")
        assert message.topic == "alive/t" and bytes(message.payload) == b"still here"
    finally:
        sock.close()


def test_flood_of_connects(broker):
    for i in range(500):
        sock = socket.create_connection(("127.0.0.1", broker.port), timeout=TIMEOUT)
        try:
            if i % 2:
                sock.sendall(connect_packet(4 if i % 4 == 1 else 5, f"flood{i}"))
        finally:
            sock.close()
    assert broker.wait_for(lambda: not broker.server.protocols and not broker.broker.clients)
    assert_serves_a_normal_client(broker.port)
    assert broker.wait_for(lambda: broker.broker.stats["clients_connected"] == 0)


def test_flood_of_simultaneous_connects():
    with running_broker() as running:  # the default connect timeout: opening 500 sockets takes a while
        socks = [socket.create_connection(("127.0.0.1", running.port), timeout=TIMEOUT) for _ in range(500)]
        try:
            for i, sock in enumerate(socks):
                sock.sendall(connect_packet(5, f"many{i}"))
            for sock in socks:
                assert sock.recv(5)[:1] == b"\x20"
            assert running.call(lambda: len(running.broker.clients)) == 500
        finally:
            for sock in socks:
                sock.close()
        assert running.wait_for(lambda: not running.server.protocols and not running.broker.clients)
        assert_serves_a_normal_client(running.port)


def test_half_open_connection_is_closed_after_the_connect_timeout(broker):
    sock = connect_raw(broker.port)
    try:
        started = time.monotonic()
        assert read_until_closed(sock) == b""
        # connect_timeout 0.5 s, checked by a 0.5 s ticker.
        assert time.monotonic() - started <= 2.0
    finally:
        sock.close()


def test_slow_consumer_does_not_hold_memory_nor_others():
    count, payload = 50_000, b"p" * 1000  # 50 MB of QoS 0
    with running_broker() as running:
        port = running.port
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(("127.0.0.1", port))
        fast = connect_raw(port)
        sub = mqttfast.encode(mqttfast.Subscribe(packet_id=1, subscriptions=[mqttfast.Subscription(topic_filter="flood/t", qos=0)]), 5)
        for sock, name in ((slow, "slow"), (fast, "fast")):
            sock.sendall(connect_packet(5, name) + sub)
        for name in ("slow", "fast"):
            assert running.wait_for(lambda name=name: "flood/t" in running.broker._subscriptions.get(name, {}))
        one = publish(5, "flood/t", payload)
        expected = count * len(one)
        fast_bytes = [0]

        def read_fast():
            fast.settimeout(TIMEOUT)
            while fast_bytes[0] < expected + 11:  # and a CONNACK (5 bytes or more) and a SUBACK (6)
                data = fast.recv(1 << 20)
                if not data:
                    return
                fast_bytes[0] += len(data)

        reader = threading.Thread(target=read_fast, daemon=True)
        reader.start()
        peak = [0]
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                size = running.call(
                    lambda: max(
                        (p.transport.get_write_buffer_size() for p in running.server.protocols), default=0
                    )
                )
                peak[0] = max(peak[0], size)
                time.sleep(0.01)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        publisher = connect_raw(port)
        publisher.sendall(connect_packet(5, "publisher"))
        batch = one * 1000
        for _ in range(count // 1000):
            publisher.sendall(batch)
        reader.join(60)
        stop.set()
        watcher.join(TIMEOUT)
        stats = dict(running.call(lambda: dict(running.broker.stats)))
        for sock in (slow, fast, publisher):
            sock.close()
    # The fast subscriber got every message (its CONNACK and SUBACK too).
    assert fast_bytes[0] >= expected
    # The slow one's QoS 0 messages were dropped rather than buffered.
    assert stats["messages_dropped"] > 0
    assert peak[0] < 1024 * 1024, f"a write buffer grew to {peak[0]} bytes"


def test_slow_consumer_at_qos_1_is_dropped_and_its_socket_aborted(monkeypatch):
    from mqttfast.broker import _server

    monkeypatch.setattr(_server, "CLOSE_TIMEOUT", 0.5)
    with running_broker(max_queued=100) as running:
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(("127.0.0.1", running.port))
        subscribe = mqttfast.Subscribe(packet_id=1, subscriptions=[mqttfast.Subscription(topic_filter="q/t", qos=1)])
        slow.sendall(connect_packet(5, "slow") + mqttfast.encode(subscribe, 5))
        assert running.wait_for(lambda: "q/t" in running.broker._subscriptions.get("slow", {}))
        publisher = connect_raw(running.port)
        publisher.sendall(connect_packet(5, "publisher"))
        acks = []

        def read_acks():
            decoder = mqttfast.Decoder(5)
            while len(acks) < 5000:
                data = publisher.recv(1 << 16)
                if not data:
                    return
                acks.extend(p for p in decoder.feed(data) if type(p) is mqttfast.Puback)

        reader = threading.Thread(target=read_acks, daemon=True)
        reader.start()
        for i in range(5000):
            publisher.sendall(publish(5, "q/t", b"p" * 1000, qos=1, packet_id=i + 1))
        reader.join(TIMEOUT * 2)
        # Its queue overflowed: it is gone for the broker at once, and its socket soon after.
        assert running.call(lambda: sorted(running.broker.clients)) == ["publisher"]
        assert running.wait_for(lambda: len(running.server.protocols) == 1)
        slow.close()
        publisher.close()
    assert len(acks) == 5000


# ---- the fuzz corpus through a socket -------------------------------------------------------------


def corpus(count=400, seed=11):
    """The fuzz seeds (fuzz/seeds.py) as (version, bytes): each whole, then mutated (flips, cuts, splices)."""
    spec = importlib.util.spec_from_file_location("fuzz_seeds", Path(__file__).resolve().parent.parent / "fuzz" / "seeds.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pool = []
    for name, data in module.seeds():
        version = int(name[1])
        pool.append((version, bytes(data[1:])))  # the first byte is the fuzzer's selector
    rng = random.Random(seed)
    out = list(pool)
    while len(out) < count:
        version, data = rng.choice(pool)
        data = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            how = rng.randrange(4)
            if how == 0 and data:
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            elif how == 1 and data:
                data[rng.randrange(len(data))] = rng.choice((0x00, 0x7F, 0x80, 0xFF))
            elif how == 2:
                del data[rng.randrange(len(data) + 1) :]
            else:
                other = rng.choice(pool)[1]
                data[rng.randrange(len(data) + 1) :] = other[rng.randrange(len(other) + 1) :]
        out.append((version, bytes(data)))
    return out


def test_fuzz_corpus_through_sockets():
    with running_broker(connect_timeout=0.5) as running:
        for index, (version, data) in enumerate(corpus()):
            sock = connect_raw(running.port)
            try:
                # Half of them after a good CONNECT, so that they reach the connected state.
                if index % 2:
                    sock.sendall(connect_packet(version, f"fuzz{index}"))
                sock.sendall(data)
                sock.shutdown(socket.SHUT_WR)
                read_until_closed(sock)
            except (ConnectionResetError, BrokenPipeError):
                pass
            finally:
                sock.close()
        assert running.wait_for(lambda: not running.server.protocols)
        assert_serves_a_normal_client(running.port)


# ---- connections that break in the middle of a flow --------------------------------------------------


def read_for(sock, version, seconds=0.5):
    """Every packet that arrives on ``sock`` within ``seconds``."""
    decoder = mqttfast.Decoder(version)
    sock.settimeout(seconds)
    got = []
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return got
            got.extend(decoder.feed(data))
    except socket.timeout:
        return got


def test_qos_2_exactly_once_across_a_publisher_reconnect():
    kept = {"clean_start": False, "session_expiry_interval": 60}
    with running_broker() as running:
        sub = connect_raw(running.port)
        sub.sendall(connect_packet(5, "sub") + subscribe_packet("x2/t", 2))
        assert running.wait_for(lambda: "x2/t" in running.broker._subscriptions.get("sub", {}))
        message = mqttfast.encode(mqttfast.Publish(topic="x2/t", payload=b"once", qos=2, packet_id=5), 5)
        first = connect_raw(running.port)
        first.sendall(connect_packet(5, "pub", **kept) + message)
        assert [type(p).__name__ for p in read_for(first, 5)] == ["Connack", "Pubrec"]
        first.close()  # the PUBREC was lost, as far as the publisher knows
        again = connect_raw(running.port)
        again.sendall(connect_packet(5, "pub", **kept))
        (connack,) = read_for(again, 5)
        assert connack.session_present
        resent = mqttfast.encode(mqttfast.Publish(topic="x2/t", payload=b"once", qos=2, packet_id=5, dup=True), 5)
        again.sendall(resent + mqttfast.encode(mqttfast.Pubrel(packet_id=5), 5))
        answer = read_for(again, 5)
        assert [(type(p).__name__, p.reason_code) for p in answer] == [("Pubrec", 0), ("Pubcomp", 0)]
        delivered = [p for p in read_for(sub, 5) if type(p) is mqttfast.Publish]
        assert [bytes(p.payload) for p in delivered] == [b"once"]
        for sock in (sub, again):
            sock.close()


def test_acks_pipelined_behind_connect_wait_for_the_connack():
    with running_broker() as running:
        sock = connect_raw(running.port)
        # A PUBREL for an id nobody holds: PUBCOMP 0x92, but only after the CONNACK [MQTT-3.2.0-1].
        sock.sendall(connect_packet(5, "early") + mqttfast.encode(mqttfast.Pubrel(packet_id=3), 5))
        answer = read_for(sock, 5)
        sock.close()
    assert [type(p).__name__ for p in answer] == ["Connack", "Pubcomp"]


def test_subscriber_reconnect_resumes_qos_2_at_pubrel_and_qos_1_with_dup():
    kept = {"clean_start": False, "session_expiry_interval": 60}
    with running_broker() as running:
        sub = connect_raw(running.port)
        subscribe = mqttfast.Subscribe(
            packet_id=1,
            subscriptions=[mqttfast.Subscription(topic_filter="r2/t", qos=2), mqttfast.Subscription(topic_filter="r1/t", qos=1)],
        )
        sub.sendall(connect_packet(5, "sub", **kept) + mqttfast.encode(subscribe, 5))
        assert running.wait_for(lambda: "r1/t" in running.broker._subscriptions.get("sub", {}))
        pub = connect_raw(running.port)
        pub.sendall(connect_packet(5, "pub") + publish(5, "r2/t", b"two", qos=2, packet_id=1) + publish(5, "r1/t", b"one", qos=1, packet_id=2))
        got = [p for p in read_for(sub, 5) if type(p) is mqttfast.Publish]
        assert [bytes(p.payload) for p in got] == [b"two", b"one"]
        two = got[0]
        sub.sendall(mqttfast.encode(mqttfast.Pubrec(packet_id=two.packet_id), 5))
        assert any(type(p) is mqttfast.Pubrel for p in read_for(sub, 5))
        sub.close()  # neither the PUBCOMP nor the PUBACK was sent
        back = connect_raw(running.port)
        back.sendall(connect_packet(5, "sub", **kept))
        answer = read_for(back, 5)
        kinds = [type(p).__name__ for p in answer]
        # The PUBLISH of the QoS 2 message is not sent again after its PUBREL; the QoS 1 one is, DUP set.
        assert kinds == ["Connack", "Pubrel", "Publish"], kinds
        assert answer[0].session_present and answer[1].packet_id == two.packet_id
        assert (bytes(answer[2].payload), answer[2].dup) == (b"one", True)
        for sock in (pub, back):
            sock.close()


def test_sessions_and_subscriptions_are_released():
    with running_broker() as running:
        for i in range(50):
            version = 5 if i % 2 else 4
            subscribe = mqttfast.Subscribe(packet_id=1, subscriptions=[mqttfast.Subscription(topic_filter=f"g/{i}/#", qos=1)])
            sock = connect_raw(running.port)
            sock.sendall(connect_packet(version, f"gone{i}") + mqttfast.encode(subscribe, version))
            read_for(sock, version, 0.05)
            sock.close()
        for i in range(10):
            sock = connect_raw(running.port)
            connect = mqttfast.Connect(protocol_version=5, client_id=f"brief{i}", clean_start=False, session_expiry_interval=1)
            sock.sendall(mqttfast.encode(connect, 5) + subscribe_packet(f"b/{i}"))
            read_for(sock, 5, 0.05)
            sock.close()
        assert running.wait_for(lambda: len(running.broker.sessions) == 10 and not running.broker.clients)
        # The kept sessions end after their second: nothing of any client stays.
        assert running.wait_for(
            lambda: not running.broker.sessions and not running.broker._subscriptions and len(running.broker.matcher) == 0
        )
