"""mqttfast.client facing a broker that misbehaves: every failure is an exception with a reason code, never a hang."""

import asyncio

import pytest

import mqttfast
from mqttfast.client import Client, ConnectError, DisconnectedError, ProtocolVersion, PublishError

from .test_client_mosquitto import run


class FakeBroker:
    """A one-connection-at-a-time broker scripted by ``script(reader, writer, server_connection)``."""

    def __init__(self, script):
        self.script = script
        self.connections = 0

    async def __aenter__(self):
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def __aexit__(self, *exc):
        self.server.close()

    async def handle(self, reader, writer):
        self.connections += 1
        try:
            await self.script(reader, writer, mqttfast.ServerConnection())
        finally:
            writer.close()


async def until_connect(reader, server):
    """Read until the CONNECT is complete; its ConnectRequested event."""
    while True:
        data = await reader.read(65536)
        assert data, "the client closed before its CONNECT"
        for event in server.receive_data(data):
            if isinstance(event, mqttfast.ConnectRequested):
                return event


async def accept(reader, writer, server):
    await until_connect(reader, server)
    server.accept()
    writer.write(server.data_to_send())


async def hold(reader):
    """Keep the connection open until the client closes it."""
    while await reader.read(65536):
        pass


def test_connack_refusal_at_5():
    async def script(reader, writer, server):
        await until_connect(reader, server)
        server.reject(0x87, reason_string="not you")
        writer.write(server.data_to_send())
        await hold(reader)

    async def main():
        async with FakeBroker(script) as port:
            with pytest.raises(ConnectError) as refused:
                async with Client("127.0.0.1", port):
                    pass
        assert refused.value.reason_code == 0x87 and refused.value.rc == 0x87
        assert "not you" in str(refused.value)

    run(main())


def test_connack_refusal_at_3_1_1():
    async def script(reader, writer, server):
        await until_connect(reader, server)
        writer.write(b"\x20\x02\x00\x05")  # return code 5: not authorized
        await hold(reader)

    async def main():
        async with FakeBroker(script) as port:
            with pytest.raises(ConnectError) as refused:
                async with Client("127.0.0.1", port, protocol=ProtocolVersion.V311):
                    pass
        assert refused.value.reason_code == 0x05

    run(main())


def test_falls_back_to_3_1_1_when_asked():
    levels = []

    async def script(reader, writer, server):
        event = await until_connect(reader, server)
        levels.append(event.packet.protocol_version)
        if event.packet.protocol_version == 5:
            writer.write(b"\x20\x02\x00\x01")  # mosquitto's answer to a level it refuses
        else:
            server.accept()
            writer.write(server.data_to_send())
        await hold(reader)

    async def main():
        async with FakeBroker(script) as port:
            with pytest.raises(ConnectError) as refused:
                async with Client("127.0.0.1", port):
                    pass
            assert refused.value.unsupported_version
            async with Client("127.0.0.1", port, fallback_to_v311=True) as client:
                assert client.protocol == ProtocolVersion.V311
        assert levels == [5, 5, 4]

    run(main())


def test_malformed_packet_ends_the_iteration_with_0x81():
    async def script(reader, writer, server):
        await accept(reader, writer, server)
        writer.write(b"\x30\xff\xff\xff\xff\x7f")  # a remaining length of five bytes
        await hold(reader)

    async def main():
        async with FakeBroker(script) as port:
            async with Client("127.0.0.1", port) as client:
                with pytest.raises(DisconnectedError) as ended:
                    async for _ in client.messages:
                        pass
        assert ended.value.reason_code == 0x81 and not ended.value.by_peer

    run(main())


def test_disconnect_with_a_reason_fails_the_pending_publish():
    async def script(reader, writer, server):
        await accept(reader, writer, server)
        await reader.read(65536)  # the PUBLISH: never acknowledged
        server.disconnect(0x8B, reason_string="maintenance")
        writer.write(server.data_to_send())
        await hold(reader)

    async def main():
        async with FakeBroker(script) as port:
            async with Client("127.0.0.1", port) as client:
                with pytest.raises(DisconnectedError) as ended:
                    await client.publish("a/b", "x", qos=1)
        assert ended.value.reason_code == 0x8B and ended.value.by_peer
        assert ended.value.reason_string == "maintenance"

    run(main())


def test_a_handler_publishing_in_a_read_that_ends_the_connection_fails_with_its_reason():
    """A message and DISCONNECT in one read: what the message's handler publishes is never sent and fails."""
    received = []

    async def script(reader, writer, server):
        await accept(reader, writer, server)
        (event,) = server.receive_data(await reader.read(65536))
        server.suback(event, [1])
        writer.write(server.data_to_send())
        await asyncio.sleep(0.1)  # subscribe() returns, its handler in place, before the message comes
        message = mqttfast.Publish(topic="h/t", payload=b"ask", qos=0)
        server.deliver(message, 0, subscription_identifiers=[event.subscription_identifier])
        server.disconnect(0x8B)
        writer.write(server.data_to_send())
        while data := await reader.read(65536):
            received.extend(type(event).__name__ for event in server.receive_data(data))

    async def main():
        answers = []
        async with FakeBroker(script) as port:
            async with Client("127.0.0.1", port) as client:
                await client.subscribe("h/t", qos=1, handler=lambda m: answers.append(client.publish("h/answer", b"x", qos=1)))
                with pytest.raises(DisconnectedError):
                    async for _ in client.messages:
                        pass
                (answer,) = answers
                with pytest.raises(DisconnectedError) as failed:
                    await answer
        assert failed.value.reason_code == 0x8B and failed.value.by_peer
        assert "MessageReceived" not in received

    run(main())


def test_refused_publish_raises_with_the_code():
    async def script(reader, writer, server):
        await accept(reader, writer, server)
        data = await reader.read(65536)
        (event,) = server.receive_data(data)
        writer.write(b"\x40\x03" + event.message.packet_id.to_bytes(2, "big") + b"\x87")
        await hold(reader)

    async def main():
        async with FakeBroker(script) as port:
            async with Client("127.0.0.1", port) as client:
                with pytest.raises(PublishError) as refused:
                    await client.publish("a/b", "x", qos=1)
        assert refused.value.reason_code == 0x87

    run(main())


def test_silent_broker_times_out_with_0x88():
    async def script(reader, writer, server):
        await hold(reader)

    async def main():
        async with FakeBroker(script) as port:
            with pytest.raises(ConnectError) as silent:
                async with Client("127.0.0.1", port, timeout=0.3):
                    pass
        assert silent.value.reason_code == 0x88

    run(main())


def test_enhanced_authentication_answers_the_challenge():
    answers = []

    async def script(reader, writer, server):
        await until_connect(reader, server)
        server.auth(b"challenge")
        writer.write(server.data_to_send())
        while True:
            events = server.receive_data(await reader.read(65536))
            if events:
                break
        answers.append(events[0].data)
        server.accept()
        writer.write(server.data_to_send())
        await hold(reader)

    async def authenticator(reason_code, data):
        assert reason_code == 0x18
        return data[::-1]

    async def main():
        async with FakeBroker(script) as port:
            async with Client("127.0.0.1", port, authentication_method="TOY", authenticator=authenticator):
                pass
        assert answers == [b"egnellahc"]

    run(main())
