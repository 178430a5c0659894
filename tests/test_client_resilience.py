"""mqttfast.client when the network misbehaves: broker restart, connections cut at random, TLS, WebSocket."""

import asyncio
import getpass
import random
import shutil
import ssl
import subprocess

import pytest

from mqttfast.client import Client, ProtocolVersion

from .helpers.mosquitto import free_port, running_mosquitto
from .test_client_mosquitto import VERSIONS, run, take

pytestmark = pytest.mark.peer

# mosquitto started as root drops to the "mosquitto" user, which cannot read pytest's private
# temporary directories: keep it as the user running the tests.
SAME_USER = f"user {getpass.getuser()}\n"


@pytest.mark.parametrize("protocol", VERSIONS)
def test_session_resumes_across_a_broker_restart(tmp_path, protocol):
    """mosquitto with persistence: the subscription and the queued QoS 1 messages survive the restart."""
    port = free_port()
    persistence = SAME_USER + f"persistence true\npersistence_location {tmp_path}/\n"
    options = dict(
        protocol=protocol, identifier="resumer", clean_start=False, reconnect=True, reconnect_delay=(0.05, 0.2)
    )
    if protocol == ProtocolVersion.V5:
        options["session_expiry_interval"] = 600

    async def first_half():
        async with Client("127.0.0.1", port, **options) as client:
            await client.subscribe("keep/#", qos=1)
        async with Client("127.0.0.1", port) as publisher:  # queued for the offline session
            for index in range(5):
                await publisher.publish("keep/x", b"%d" % index, qos=1)

    async def second_half():
        async with Client("127.0.0.1", port, **options) as client:
            assert client.connack.session_present
            return await take(client, 5)

    with running_mosquitto(tmp_path, persistence, port=port):
        run(first_half())
    with running_mosquitto(tmp_path, persistence, port=port):
        messages = run(second_half())
    assert [m.payload for m in messages] == [b"%d" % i for i in range(5)]


class CuttingProxy:
    """A TCP proxy to the broker that closes each connection after a random number of bytes."""

    def __init__(self, target_port, seed):
        self.target_port = target_port
        self.random = random.Random(seed)
        self.cuts = 0
        self.writers = set()

    async def start(self):
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def handle(self, client_reader, client_writer):
        broker_reader, broker_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        budget = [self.random.randint(200, 3000)]  # bytes, both directions together
        self.writers |= {client_writer, broker_writer}

        async def pipe(reader, writer):
            try:
                while budget[0] > 0:
                    data = await reader.read(min(512, budget[0]))
                    if not data:
                        break
                    budget[0] -= len(data)
                    writer.write(data)
                    await writer.drain()
            except OSError:
                pass
            finally:
                if budget[0] <= 0:
                    self.cuts += 1
                for w in (client_writer, broker_writer):
                    w.transport.abort()

        await asyncio.gather(pipe(client_reader, broker_writer), pipe(broker_reader, client_writer))

    def close(self):
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()


@pytest.mark.parametrize("protocol", VERSIONS)
def test_no_qos1_or_qos2_message_lost_when_the_connection_is_cut_at_random(tmp_path, protocol):
    count = 150

    async def main(port):
        proxy = CuttingProxy(port, seed=int(protocol))
        proxy_port = await proxy.start()
        options = dict(protocol=protocol, clean_start=False, reconnect=True, reconnect_delay=(0.01, 0.05))
        if protocol == ProtocolVersion.V5:
            options["session_expiry_interval"] = 600
        try:
            async with Client("127.0.0.1", proxy_port, identifier="sub", **options) as subscriber, Client(
                "127.0.0.1", proxy_port, identifier="pub", **options
            ) as publisher:
                await subscriber.subscribe("cut/#", qos=2)
                publishes = [publisher.publish("cut/t", b"%d" % i, qos=1 + i % 2) for i in range(count)]
                codes = await asyncio.wait_for(asyncio.gather(*publishes), 30)
                received = set()
                async for message in subscriber.messages:
                    received.add(message.payload)
                    if len(received) == count:
                        break
        finally:
            proxy.close()
        assert all(code < 0x80 for code in codes)
        assert received == {b"%d" % i for i in range(count)}
        assert proxy.cuts >= 3  # the test did test reconnection

    with running_mosquitto(tmp_path) as port:
        run(main(port), timeout=40)


def _self_signed(tmp_path):
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("the TLS test needs the openssl command line (apt-get install -y openssl)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )
    return cert, key


def test_tls_with_a_self_signed_certificate(tmp_path):
    cert, key = _self_signed(tmp_path)
    tls_port = free_port()
    config = SAME_USER + f"listener {tls_port} 127.0.0.1\ncertfile {cert}\nkeyfile {key}\n"

    async def main():
        context = ssl.create_default_context(cafile=str(cert))
        async with Client("127.0.0.1", tls_port, tls_context=context) as client:
            await client.subscribe("tls/#", qos=1)
            await client.publish("tls/x", "secret", qos=1)
            (message,) = await take(client, 1)
        assert message.payload == b"secret"
        untrusting = ssl.create_default_context()  # the system CAs do not know our certificate
        with pytest.raises(ssl.SSLCertVerificationError):
            async with Client("127.0.0.1", tls_port, tls_context=untrusting):
                pass

    with running_mosquitto(tmp_path, config):
        run(main())


def test_websocket_transport(tmp_path):
    """Debian's mosquitto 2.0.11 has no WebSocket listener (no libwebsockets): a WebSocket-to-TCP bridge stands in."""
    websockets = pytest.importorskip("websockets.asyncio.server")

    async def main(broker_port):
        seen_subprotocols = []

        async def bridge(websocket):
            seen_subprotocols.append(websocket.subprotocol)
            reader, writer = await asyncio.open_connection("127.0.0.1", broker_port)

            async def upstream():
                async for frame in websocket:
                    writer.write(frame)
                writer.close()

            async def downstream():
                while data := await reader.read(65536):
                    await websocket.send(data)
                await websocket.close()

            await asyncio.gather(upstream(), downstream(), return_exceptions=True)

        async with websockets.serve(bridge, "127.0.0.1", 0, subprotocols=["mqtt"]) as server:
            port = server.sockets[0].getsockname()[1]
            async with Client("127.0.0.1", port, transport="websockets", websocket_path="/mqtt") as client:
                await client.subscribe("ws/#", qos=2)
                for qos in (0, 1, 2):
                    await client.publish("ws/x", b"over websocket %d" % qos, qos=qos)
                messages = await take(client, 3)
        assert [m.payload for m in messages] == [b"over websocket %d" % q for q in (0, 1, 2)]
        assert seen_subprotocols == ["mqtt"]

    with running_mosquitto(tmp_path) as port:
        run(main(port))
