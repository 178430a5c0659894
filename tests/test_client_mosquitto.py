"""mqttfast.client against a real mosquitto on 127.0.0.1: QoS, retained, will, aliases, handlers, backpressure."""

import asyncio

import pytest

import mqttfast
from mqttfast.client import Client, ConnectError, Message, ProtocolVersion, SyncClient, Topic, Will
from mqttfast.client._client import COALESCE_BELOW

from .helpers.mosquitto import running_mosquitto

pytestmark = pytest.mark.peer

VERSIONS = [pytest.param(ProtocolVersion.V311, id="3.1.1"), pytest.param(ProtocolVersion.V5, id="5.0")]


@pytest.fixture
def broker(tmp_path):
    with running_mosquitto(tmp_path, "max_topic_alias 10\n") as port:
        yield port


def run(coroutine, timeout=10.0):
    """Run a test coroutine, bounded: a hang fails the test instead of the suite."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


async def take(client, count, timeout=5.0):
    """The next ``count`` messages of ``client.messages``."""
    messages = []

    async def collect():
        async for message in client.messages:
            messages.append(message)
            if len(messages) == count:
                return

    await asyncio.wait_for(collect(), timeout)
    return messages


@pytest.mark.parametrize("protocol", VERSIONS)
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_publish_and_receive_every_qos(broker, protocol, qos):
    async def main():
        async with Client("127.0.0.1", broker, protocol=protocol) as client:
            assert await client.subscribe("q/#", qos=qos) == [qos]
            for index in range(20):
                assert await client.publish(f"q/{index % 3}", f"m{index}", qos=qos) < 0x80
            messages = await take(client, 20)
        assert [m.payload for m in messages] == [f"m{i}".encode() for i in range(20)]
        assert [str(m.topic) for m in messages] == [f"q/{i % 3}" for i in range(20)]
        assert {m.qos for m in messages} == {qos}
        assert messages[0].topic.matches("q/+")

    run(main())


@pytest.mark.parametrize("protocol", VERSIONS)
def test_concurrent_qos1_and_qos2_publishes_are_each_acknowledged(broker, protocol):
    async def main():
        async with Client("127.0.0.1", broker, protocol=protocol) as client:
            results = await asyncio.gather(
                *(client.publish("c/t", b"x" * 64, qos=1 + i % 2) for i in range(500))
            )
            assert all(code < 0x80 for code in results)
            assert client.session.in_flight == 0

    run(main())


@pytest.mark.parametrize("protocol", VERSIONS)
def test_retained_message_reaches_a_later_subscriber(broker, protocol):
    async def main():
        async with Client("127.0.0.1", broker, protocol=protocol) as publisher:
            await publisher.publish("r/state", "on", qos=1, retain=True)
        async with Client("127.0.0.1", broker, protocol=protocol) as subscriber:
            await subscriber.subscribe("r/#", qos=1)
            (message,) = await take(subscriber, 1)
        assert message.retain and message.payload == b"on"
        # client.messages hands out aiomqtt-shaped messages: a Topic that matches filters, a QoS, an id.
        assert type(message) is Message and type(message.topic) is Topic and message.topic.matches("r/+")
        assert message.qos == 1 and message.mid > 0 and message.properties.topic == "r/state"

    run(main())


@pytest.mark.parametrize("protocol", VERSIONS)
def test_will_is_published_when_the_client_vanishes(broker, protocol):
    async def main():
        async with Client("127.0.0.1", broker, protocol=protocol) as watcher:
            await watcher.subscribe("w/#", qos=1)
            doomed = Client("127.0.0.1", broker, protocol=protocol, will=Will("w/gone", "bye", qos=1))
            await doomed.__aenter__()
            doomed._link.close()  # the socket dies without a DISCONNECT
            (will,) = await take(watcher, 1)
            assert will.topic == "w/gone" and will.payload == b"bye"
            await doomed.disconnect()

    run(main())


def test_clean_disconnect_does_not_publish_the_will(broker):
    async def main():
        async with Client("127.0.0.1", broker) as watcher:
            await watcher.subscribe("w/#", qos=1)
            async with Client("127.0.0.1", broker, will=Will("w/gone", "bye")):
                pass
            await watcher.publish("w/marker", "after", qos=1)
            (message,) = await take(watcher, 1)
            assert message.topic == "w/marker"

    run(main())


def test_repeated_topics_go_out_with_topic_aliases(broker):
    async def main():
        async with Client("127.0.0.1", broker) as client:
            await client.subscribe("alias/#")
            written = []
            link = client._link
            original = link.writelines
            link.writelines = lambda buffers: (written.append(b"".join(buffers)), original(buffers))
            for _ in range(5):
                await client.publish("alias/a/very/long/topic/name", b"p", qos=1)
            messages = await take(client, 5)
        assert client.connack.topic_alias_maximum == 10
        publishes = [data for data in written if data[0] >> 4 == 3]
        assert b"alias/a/very/long/topic/name" in publishes[0]
        assert all(b"alias/a/very" not in data for data in publishes[1:])
        assert [str(m.topic) for m in messages] == ["alias/a/very/long/topic/name"] * 5

    run(main())


@pytest.mark.parametrize("protocol", VERSIONS)
def test_handler_gets_the_messages_of_its_subscription_only(broker, protocol):
    async def main():
        async with Client("127.0.0.1", broker, protocol=protocol) as client:
            handled = []
            await client.subscribe("h/alarms/#", qos=1, handler=handled.append)
            await client.subscribe("h/plain/#", qos=1)
            await client.publish("h/alarms/fire", "1", qos=1)
            await client.publish("h/plain/x", "2", qos=1)
            (queued,) = await take(client, 1)
        assert [m.payload for m in handled] == [b"1"]
        assert queued.payload == b"2"
        if protocol == ProtocolVersion.V5:
            assert handled[0].properties.subscription_identifiers == [1]

    run(main())


@pytest.mark.parametrize("protocol", VERSIONS)
def test_publishes_beyond_the_session_queue_wait_in_order_and_complete(broker, protocol):
    """20 in flight (mosquitto), 3 waiting in the session, the rest held by the client: all acknowledged, in order.

    QoS 1 only: the order of a QoS 1 flow is kept [MQTT-4.6.0-2], mosquitto reorders QoS 2 against it.
    """
    count = 200

    async def main():
        async with Client("127.0.0.1", broker, protocol=protocol) as consumer:
            await consumer.subscribe("bl/t", qos=1)
            async with Client(
                "127.0.0.1", broker, protocol=protocol, max_queued_outgoing_messages=3
            ) as producer:
                codes = await asyncio.gather(
                    *(producer.publish("bl/t", b"%d" % i, qos=1) for i in range(count))
                )
                assert not producer._backlog
            messages = await take(consumer, count)
        assert all(code < 0x80 for code in codes)
        assert [m.payload for m in messages] == [b"%d" % i for i in range(count)]

    run(main(), timeout=20)


def test_publishes_with_a_timeout_beyond_the_session_queue_are_woken_by_acknowledgements(broker):
    """A publish given a timeout waits for a place in the session as a task; each PUBACK frees one.

    The PUBACKs resolve the futures inside the session layer, without an event per
    acknowledgement: the client still wakes one waiting publish per acknowledged one.
    """
    count = 100

    async def main():
        async with Client("127.0.0.1", broker) as consumer:
            await consumer.subscribe("tw/t", qos=1)
            async with Client("127.0.0.1", broker, max_queued_outgoing_messages=3) as producer:
                tasks = [asyncio.ensure_future(producer.publish("tw/t", b"%d" % i, qos=1, timeout=5)) for i in range(count)]
                codes = await asyncio.gather(*tasks)
                assert not producer._slot_waiters and not producer._publishes
            messages = await take(consumer, count)
        assert codes == [0] * count
        assert sorted(int(m.payload) for m in messages) == list(range(count))

    run(main(), timeout=20)


def test_a_publish_cancelled_in_flight_leaves_the_connection_working(broker):
    """Its PUBACK finds a cancelled future (which refuses a result): ignored, the next publishes complete."""

    async def main():
        async with Client("127.0.0.1", broker) as client:
            cancelled = [client.publish("cf/t", b"%d" % i, qos=1) for i in range(5)]
            for future in cancelled:
                future.cancel()
            assert await client.publish("cf/t", b"after", qos=1) < 0x80
            assert await asyncio.gather(*(client.publish("cf/t", b"x", qos=1) for _ in range(50))) == [0x10] * 50
            assert client.is_connected and not client._publishes

    run(main())


def test_a_held_publish_cancelled_by_its_caller_is_not_sent(broker):
    """Cancelling the future of a publish the client still holds (beyond the session's queue) drops it."""
    count = 100

    async def main():
        async with Client("127.0.0.1", broker) as consumer:
            await consumer.subscribe("cx/t", qos=1)
            async with Client("127.0.0.1", broker, max_queued_outgoing_messages=3) as producer:
                futures = [producer.publish("cx/t", b"%d" % i, qos=1) for i in range(count)]
                dropped = set(range(60, count, 7))  # all beyond 20 in flight and 3 queued: held
                for index in dropped:
                    futures[index].cancel()
                codes = await asyncio.gather(*futures, return_exceptions=True)
                assert not producer._backlog and not producer._held
            kept = [i for i in range(count) if i not in dropped]
            messages = await take(consumer, len(kept))
            await asyncio.sleep(0.2)
            assert len(consumer.messages) == 0  # nothing of the cancelled ones came after
        assert [m.payload for m in messages] == [b"%d" % i for i in kept]
        assert all(isinstance(codes[i], asyncio.CancelledError) for i in dropped)
        assert all(codes[i] == 0 for i in kept)

    run(main(), timeout=20)


def test_publish_errors_surface_where_awaited(broker):
    async def main():
        async with Client("127.0.0.1", broker) as client:
            pending = client.publish("bad/#/topic", b"x", qos=1)  # no exception at the call
            with pytest.raises(mqttfast.MQTTError) as raised:
                await pending
            assert raised.value.reason_code == 0x90  # Topic Name invalid
            assert await client.publish("good/topic", b"x", qos=1) == 0x10  # No matching subscribers

    run(main())


def test_request_response(broker):
    async def main():
        async with Client("127.0.0.1", broker) as server, Client("127.0.0.1", broker) as caller:
            await server.subscribe(
                "svc/double", qos=1, handler=lambda m: server.respond(m, str(2 * int(m.payload)))
            )
            answers = await asyncio.gather(*(caller.request("svc/double", str(i)) for i in range(10)))
        assert [a.payload for a in answers] == [str(2 * i).encode() for i in range(10)]

    run(main())


def test_request_without_a_responder_times_out_and_forgets_the_request(broker):
    async def main():
        async with Client("127.0.0.1", broker) as caller:
            with pytest.raises(asyncio.TimeoutError):
                await caller.request("svc/nobody", b"?", timeout=0.2)
            assert caller._responses == {}

    run(main())


def test_requests_time_out_each_at_its_own_deadline(broker):
    """One timer serves every request: a shorter deadline set after a longer one is still kept, and answered requests leave no trace."""

    async def main():
        async with Client("127.0.0.1", broker) as server, Client("127.0.0.1", broker) as caller:
            await server.subscribe("svc/echo", qos=1, handler=lambda m: server.respond(m, m.payload))
            patient = asyncio.ensure_future(caller.request("svc/nobody", b"1", timeout=30))
            await asyncio.sleep(0.05)
            started = asyncio.get_running_loop().time()
            with pytest.raises(asyncio.TimeoutError):
                await caller.request("svc/nobody", b"2", timeout=0.2)
            assert 0.15 < asyncio.get_running_loop().time() - started < 5
            assert not patient.done()
            assert (await caller.request("svc/echo", b"3", timeout=0.2)).payload == b"3"
            with pytest.raises(asyncio.TimeoutError):  # the timer, re-armed after the first sweep
                await caller.request("svc/nobody", b"4", timeout=0.1)
            patient.cancel()
            with pytest.raises(asyncio.CancelledError):
                await patient
            assert caller._deadlines == {} and caller._responses == {}

    run(main())


def test_a_slow_consumer_stops_the_reading_and_loses_nothing(broker):
    """Backpressure: past the bound the socket is not read; QoS 1 then stops at mosquitto's in-flight window.

    600 messages: mosquitto queues at most 1,000 (max_queued_messages) for a client that does not ack.
    """
    bound = 50

    async def main():
        async with Client("127.0.0.1", broker, max_queued_incoming_messages=bound) as consumer:
            await consumer.subscribe("bp/t", qos=1)
            async with Client("127.0.0.1", broker) as producer:
                await asyncio.gather(*(producer.publish("bp/t", b"%d" % i, qos=1) for i in range(600)))
            await asyncio.sleep(0.2)
            # At most one read beyond the bound (mosquitto holds the rest: 20 in flight by default).
            assert bound <= len(consumer.messages) <= bound + 25
            assert consumer._reading_paused
            messages = await take(consumer, 600)
        assert [m.payload for m in messages] == [b"%d" % i for i in range(600)]

    run(main(), timeout=20)


def test_read_coalescing_under_a_stream_loses_nothing_and_yields_to_backpressure(broker):
    """A QoS 0 stream: reading pauses for batches and for the bound in turn; every message arrives, in order."""
    count = 2000

    async def main():
        async with Client(
            "127.0.0.1", broker, max_queued_incoming_messages=100, read_coalescing=0.02
        ) as consumer:
            pauses = []
            coalesce = consumer._coalesce

            def counting():
                coalesce()
                if consumer._coalescing and consumer._coalesce_timer not in pauses:
                    pauses.append(consumer._coalesce_timer)

            consumer._coalesce = counting
            await consumer.subscribe("rc/t")

            async def produce():
                async with Client("127.0.0.1", broker) as producer:
                    for start in range(0, count, 10):  # a stream of bursts about 1 ms apart, for 0.2 s or more
                        for index in range(start, start + 10):
                            await producer.publish("rc/t", b"%d" % index)
                        await asyncio.sleep(0.001)

            producing = asyncio.ensure_future(produce())
            messages = []
            async for message in consumer.messages:
                messages.append(message)
                if len(messages) % 300 == 0:
                    await asyncio.sleep(0.01)  # slower than the broker: the bound pauses reading too
                if len(messages) == count:
                    break
            await producing
        assert [m.payload for m in messages] == [b"%d" % i for i in range(count)]
        assert len(pauses) > 1, "the stream never paused for a batch, or never read again after one"

    run(main(), timeout=20)


def test_read_coalescing_never_pauses_with_a_batch_waiting_in_the_socket(broker):
    """When the kernel already holds a read's worth for us, a pause could only let it fill and hold the broker back."""
    count = 1500  # 1,500 messages of 100 B: more than COALESCE_BELOW bytes (the kernel holds about 128 KiB)

    async def main():
        async with Client("127.0.0.1", broker) as consumer, Client("127.0.0.1", broker) as producer:
            await consumer.subscribe("rc/w")
            link = consumer._link
            link.pause_reading()
            await asyncio.gather(*(producer.publish("rc/w", b"x" * 100) for _ in range(count)))
            for _ in range(200):
                if link.bytes_waiting() >= COALESCE_BELOW:
                    break
                await asyncio.sleep(0.01)
            assert link.bytes_waiting() >= COALESCE_BELOW
            loop = asyncio.get_running_loop()
            consumer._last_read = loop.time()  # as if a read came just now: a stream by the timing
            consumer._coalesce()
            assert not consumer._coalescing
            link.resume_reading()
            assert len(await take(consumer, count)) == count
            assert link.bytes_waiting() == 0
            consumer._last_read = loop.time()
            consumer._coalesce()  # nothing waits: the stream's next read is worth a pause
            assert consumer._coalescing

    run(main())


@pytest.mark.parametrize("qos", [1, 2])
def test_read_coalescing_never_holds_a_round_trip(broker, qos):
    """Publish, await the acknowledgement, await the message back, again: a publish ends any pause at once."""

    async def main():
        async with Client("127.0.0.1", broker, read_coalescing=0.05) as client:
            await client.subscribe("rt/t", qos=qos)
            paused_while_publishing = []
            for index in range(100):
                pending = client.publish("rt/t", b"%d" % index, qos=qos)
                paused_while_publishing.append(client._coalescing)
                await pending
                (message,) = await take(client, 1)
                assert message.payload == b"%d" % index
        assert not any(paused_while_publishing)

    run(main())


def test_refusal_carries_the_reason_code(broker):
    async def main():
        with pytest.raises(ConnectError) as refused:
            async with Client("127.0.0.1", broker, authentication_method="SCRAM-SHA-1"):
                pass
        assert refused.value.reason_code == 0x8C  # Bad authentication method: mosquitto has no such plugin

    run(main())


def test_sync_client(broker):
    with SyncClient("127.0.0.1", broker) as client:
        assert client.subscribe("s/#", qos=1) == [1]
        client.publish("s/x", "sync", qos=1)
        (message,) = list(client.messages(timeout=0.5))
    assert message.payload == b"sync"
