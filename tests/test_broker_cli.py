"""``python -m mqttfast.broker``: options, the TOML config, $SYS, logs, the clean stop, the interop profile."""

import socket
import time

import pytest

from mqttfast.broker.__main__ import parse_args

from .helpers.broker_process import TIMEOUT, BrokerProcess, close_client, paho_client

# ---- options and config ---------------------------------------------------------------------------


def test_config_keys_take_dashes_or_underscores_and_the_command_line_wins(tmp_path):
    config = tmp_path / "broker.toml"
    config.write_text(
        'port = 1999\nreceive-maximum = 7\ntopic_alias_maximum = 3\nno-anonymous = true\nacl_file = "acl"\n'
        "sys-interval = 0\n"
    )
    args = parse_args(["--config", str(config), "--port", "2000"])
    assert args.port == 2000
    assert args.receive_maximum == 7
    assert args.topic_alias_maximum == 3
    assert args.no_anonymous is True
    assert args.acl_file == "acl"
    assert args.sys_interval == 0
    assert parse_args([]).receive_maximum == 0xFFFF  # nothing leaks between parsers


@pytest.mark.parametrize(
    "text",
    ['colour = "blue"\n', 'port = "many"\n', "port = \n", 'config = "other.toml"\n'],
    ids=["unknown key", "bad value", "bad TOML", "config in config"],
)
def test_a_bad_config_file_is_a_usage_error(tmp_path, text, capsys):
    config = tmp_path / "broker.toml"
    config.write_text(text)
    with pytest.raises(SystemExit) as exited:
        parse_args(["--config", str(config)])
    assert exited.value.code == 2
    assert "--config" in capsys.readouterr().err


def test_tls_port_needs_a_certificate_and_a_key(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--tls-port", "8883", "--certfile", "cert.pem"])
    assert "--certfile and --keyfile" in capsys.readouterr().err


# ---- a running broker ------------------------------------------------------------------------------


@pytest.mark.peer
def test_sigterm_sends_0x8b_to_a_5_0_client_and_exits_0_within_a_second():
    broker = BrokerProcess("--port", "0", "--sys-interval", "0")
    try:
        client, result = paho_client(broker.port, "stays")
        assert result["rc"] == 0
        client._reconnect_on_failure = False
        started = time.monotonic()
        status = broker.terminate()
        assert status == 0
        assert time.monotonic() - started < 1.0
        assert result["disconnect"].get(timeout=TIMEOUT) == 0x8B
        close_client(client)
        assert "mqttfast broker terminating." in broker.log()
    finally:
        broker.stop()


@pytest.mark.peer
def test_sys_counters_are_retained_and_refreshed():
    with BrokerProcess("--port", "0", "--sys-interval", "0.2") as broker:
        client, result = paho_client(broker.port, "watcher")
        try:
            client.subscribe("$SYS/broker/#")
            assert result["suback"].get(timeout=TIMEOUT) == [0]
            seen = {}
            deadline = time.monotonic() + TIMEOUT
            while time.monotonic() < deadline and not (
                seen.get("$SYS/broker/clients/connected") == b"1"
                and seen.get("$SYS/broker/subscriptions/count") == b"1"
            ):
                message = result["messages"].get(timeout=TIMEOUT)
                seen[message.topic] = message.payload
            assert seen["$SYS/broker/version"].startswith(b"mqttfast version ")
            assert seen["$SYS/broker/uptime"].endswith(b" seconds")
            for name in ("messages/received", "messages/sent", "messages/dropped", "retained messages/count"):
                assert int(seen[f"$SYS/broker/{name}"]) >= 0
            # "#" alone never shows $SYS topics [MQTT-4.7.2-1].
            other, other_result = paho_client(broker.port, "everything")
            other.subscribe("#")
            assert other_result["suback"].get(timeout=TIMEOUT) == [0]
            time.sleep(0.5)
            assert other_result["messages"].empty()
            close_client(other)
        finally:
            close_client(client)


def raw_connect(port, client_id, keep_alive=1):
    """A 3.1.1 CONNECT over a raw socket, CONNACK read: for the timeout and protocol-error logs."""
    name = client_id.encode()
    body = b"\x00\x04MQTT\x04\x02" + keep_alive.to_bytes(2, "big") + len(name).to_bytes(2, "big") + name
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    sock.sendall(bytes([0x10, len(body)]) + body)
    assert sock.recv(4) == b"\x20\x02\x00\x00"
    return sock


@pytest.mark.peer
def test_logs_say_why_each_client_went_in_mosquittos_words():
    with BrokerProcess("--port", "0", "--sys-interval", "0") as broker:
        silent = raw_connect(broker.port, "silent", keep_alive=1)
        assert broker.wait_for_line("Client silent has exceeded timeout, disconnecting.", 4) is not None
        silent.close()
        rude = raw_connect(broker.port, "rude")
        rude.sendall(b"\xf0\x00")  # reserved packet type
        assert broker.wait_for_line("Client rude disconnected due to protocol error.") is not None
        rude.close()
        first = raw_connect(broker.port, "twice")
        second = raw_connect(broker.port, "twice")
        assert broker.wait_for_line("Client twice already connected, closing old connection.") is not None
        second.close()
        assert broker.wait_for_line("Client twice closed its connection.") is not None
        first.close()
        reset = raw_connect(broker.port, "reset")
        reset.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        reset.close()  # RST instead of FIN
        assert broker.wait_for_line("Socket error on client reset, disconnecting.") is not None


# ---- the interoperability profile ------------------------------------------------------------------


def pipelined_publishes(port, count):
    """Connect at 5.0, send ``count`` QoS 1 and 2 messages in one write: the packets answered, CONNACK first."""
    import mqttfast

    publishes = [
        mqttfast.Publish(topic="test/ok", payload=b"x", qos=1 + i % 2, packet_id=i + 1) for i in range(count)
    ]
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    try:
        sock.sendall(mqttfast.encode(mqttfast.Connect(client_id="pipeliner"), 5))
        sock.sendall(b"".join(mqttfast.encode(publish, 5) for publish in publishes))
        decoder, packets = mqttfast.Decoder(5), []
        while len(packets) < count + 1:
            data = sock.recv(65536)
            if not data:
                break
            packets += decoder.feed(data)
        return packets
    finally:
        sock.close()


@pytest.mark.peer
def test_the_interoperability_profile_through_options_and_an_acl_file(tmp_path):
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    (tmp_path / "acl").write_text("topic readwrite #\ntopic deny test/nosubscribe\n")
    args = [
        "--port", "0", "--sys-interval", "0",
        "--server-keep-alive", "60",
        "--topic-alias-maximum", "2",
        "--maximum-packet-size", "256",
        "--receive-maximum", "2",
        "--acl-file", "acl",
    ]  # fmt: skip
    with BrokerProcess(*args, cwd=tmp_path) as broker:
        # --server-keep-alive is a ceiling (mosquitto's max_keepalive): a client asking for more gets it.
        client, result = paho_client(broker.port, "interop", keepalive=100)
        try:
            assert result["rc"] == 0
            connack = result["connack"]
            assert connack.ServerKeepAlive == 60
            assert connack.TopicAliasMaximum == 2
            assert connack.MaximumPacketSize == 256
            assert connack.ReceiveMaximum == 2
            client.subscribe([("test/nosubscribe", 1), ("test/ok", 1)])
            assert result["suback"].get(timeout=TIMEOUT) == [0x80, 1]
            # Topic aliases 1 and 2 are accepted; the message still arrives by its topic.
            properties = Properties(PacketTypes.PUBLISH)
            properties.TopicAlias = 2
            client.publish("test/ok", b"aliased", qos=1, properties=properties)
            assert result["puback"].get(timeout=TIMEOUT) == 0
            assert result["messages"].get(timeout=TIMEOUT).payload == b"aliased"
        finally:
            close_client(client)
        # Four QoS 1/2 messages in one write, past the Receive Maximum of 2 as the suite's client sends
        # them: with the ACL's manual acks, the read's QoS 1 messages do not count yet, so no 0x93.
        assert [type(p).__name__ for p in pipelined_publishes(broker.port, 4)] == [
            "Connack", "Puback", "Pubrec", "Puback", "Pubrec",
        ]  # fmt: skip
        # A packet over 256 bytes ends the connection with 0x95.
        big, big_result = paho_client(broker.port, "too-big")
        big._reconnect_on_failure = False
        big.publish("test/ok", b"x" * 300, qos=0)
        assert big_result["disconnect"].get(timeout=TIMEOUT) == 0x95
        close_client(big)
