"""The broker over TLS and over WebSocket, with paho on the other side, beside plain TCP."""

import socket
import ssl
import subprocess

import pytest

from .helpers.broker_process import TIMEOUT, BrokerProcess, close_client, paho_client

pytestmark = pytest.mark.peer


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, made by the openssl command line."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def broker(certificate):
    cert, key = certificate
    args = ["--port", "0", "--tls-port", "0", "--certfile", str(cert), "--keyfile", str(key), "--ws-port", "0"]
    with BrokerProcess(*args, "--sys-interval", "0") as process:
        assert len(process.ports) == 3  # TCP, TLS, WebSocket
        yield process


def round_trip(publisher, publisher_result, subscriber, subscriber_result, topic):
    subscriber.subscribe(topic, 1)
    assert subscriber_result["suback"].get(timeout=TIMEOUT) == [1]
    publisher.publish(topic, b"across", qos=1)
    assert publisher_result["puback"].get(timeout=TIMEOUT) == 0
    message = subscriber_result["messages"].get(timeout=TIMEOUT)
    assert (message.topic, message.payload, message.qos) == (topic, b"across", 1)


def test_a_tls_client_talks_to_a_tcp_client(broker, certificate):
    context = ssl.create_default_context(cafile=str(certificate[0]))
    secure, secure_result = paho_client(broker.ports[1], "over-tls", tls_context=context)
    plain, plain_result = paho_client(broker.port, "over-tcp")
    try:
        assert secure_result["rc"] == 0
        round_trip(secure, secure_result, plain, plain_result, "tls/to/tcp")
        round_trip(plain, plain_result, secure, secure_result, "tcp/to/tls")
    finally:
        close_client(secure)
        close_client(plain)


def test_a_plain_client_on_the_tls_port_does_not_get_in(broker):
    with socket.create_connection(("127.0.0.1", broker.ports[1]), timeout=TIMEOUT) as sock:
        sock.sendall(b"\x10\x0f\x00\x04MQTT\x04\x02\x00\x1e\x00\x03raw")
        try:
            answer = sock.recv(64)
        except ConnectionResetError:
            answer = b""
    assert not answer.startswith(b"\x20")  # a TLS alert or nothing, never a CONNACK


def test_a_websocket_client_talks_to_a_tcp_client(broker):
    web, web_result = paho_client(broker.ports[2], "over-ws", transport="websockets")
    plain, plain_result = paho_client(broker.port, "over-tcp-2")
    try:
        assert web_result["rc"] == 0
        round_trip(web, web_result, plain, plain_result, "ws/to/tcp")
        round_trip(plain, plain_result, web, web_result, "tcp/to/ws")
        # A message bigger than a few frames' worth crosses intact.
        web.subscribe("ws/big", 0)
        assert web_result["suback"].get(timeout=TIMEOUT) == [0]
        payload = bytes(range(256)) * 400
        plain.publish("ws/big", payload, qos=0)
        assert web_result["messages"].get(timeout=TIMEOUT).payload == payload
    finally:
        close_client(web)
        close_client(plain)
    assert broker.wait_for_line("Client over-ws disconnected.") is not None


def test_the_websocket_subprotocol_is_mqtt(broker):
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{broker.ports[2]}/", subprotocols=["mqtt"], open_timeout=TIMEOUT) as websocket:
        assert websocket.subprotocol == "mqtt"
        # CONNECT 3.1.1, clean session, client id "raw": one binary frame, CONNACK back.
        websocket.send(b"\x10\x0f\x00\x04MQTT\x04\x02\x00\x1e\x00\x03raw")
        assert websocket.recv(timeout=TIMEOUT) == b"\x20\x02\x00\x00"
        websocket.send("text frames are refused")  # [MQTT-6.0.0-1]
        with pytest.raises(ConnectionClosed):
            websocket.recv(timeout=TIMEOUT)


def test_sigterm_says_goodbye_to_a_websocket_client(certificate):
    with BrokerProcess("--port", "0", "--ws-port", "0", "--sys-interval", "0") as process:
        web, web_result = paho_client(process.ports[1], "ws-bye", transport="websockets")
        web._reconnect_on_failure = False
        assert web_result["rc"] == 0
        assert process.terminate() == 0
        assert web_result["disconnect"].get(timeout=TIMEOUT) == 0x8B
        close_client(web)
