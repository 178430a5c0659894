"""A broker-agnostic MQTT 3.1.1 load generator: pre-encoded packets over raw asyncio sockets.

Every packet is encoded once, before the clock starts, with mqttfast; a
publisher then writes ready-made bytes and a subscriber only cuts and counts
what arrives (``mqttfast.Decoder``), so the generator costs a small fraction
of what any broker spends per message. Each run counts the messages delivered
against the number expected and reports how many were lost.

Scenarios:
- ``fan-in``: N publishers (10) send QoS 0 messages to one topic each,
  one subscriber on ``fanin/+`` receives all of them.
- ``wildcard``: an idle client holds 10,000 subscriptions that never match
  (``idle/<i>/+``); one publisher sends to ``load/<k>/x``, one subscriber on
  ``load/+/x`` receives them: the cost of the idle filters per publish.

CLI: ``python benchmarks/loadgen.py --port 1883 fan-in --messages 20000``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import mqttfast as m

VERSION = 4
IDLE_TIMEOUT = 5.0  # seconds without a delivery before a run gives up (and reports the loss)


@dataclass
class Result:
    """What a scenario measured: messages expected and delivered, seconds from first send to last delivery."""

    scenario: str
    expected: int
    delivered: int
    seconds: float

    @property
    def lost(self) -> int:
        return self.expected - self.delivered

    @property
    def rate(self) -> float:
        return self.delivered / self.seconds if self.seconds else 0.0

    def __str__(self) -> str:
        return (
            f"{self.scenario}: {self.delivered}/{self.expected} delivered ({self.lost} lost) "
            f"in {self.seconds:.3f} s = {self.rate:,.0f} msg/s"
        )


class Connection:
    """One raw MQTT connection: write pre-encoded bytes, read packets through a Decoder."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.decoder = m.Decoder(VERSION)
        self.pending: list[object] = []

    @classmethod
    async def open(cls, host: str, port: int, client_id: str) -> Connection:
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
        connection = cls(reader, writer)
        writer.write(m.encode(m.Connect(client_id=client_id, keep_alive=600, clean_start=True), VERSION))
        await connection.expect(m.Connack)
        return connection

    async def expect(self, kind: type) -> object:
        while True:
            while self.pending:
                packet = self.pending.pop(0)
                if type(packet) is kind:
                    return packet
            chunk = await asyncio.wait_for(self.reader.read(1 << 16), IDLE_TIMEOUT)
            if not chunk:
                raise ConnectionError("broker closed the connection")
            self.pending += self.decoder.feed(chunk)

    async def subscribe(self, filters: list[str], batch: int = 500) -> None:
        """Subscribe (QoS 0) to every filter, ``batch`` filters per SUBSCRIBE, waiting for each SUBACK."""
        for packet_id, start in enumerate(range(0, len(filters), batch), 1):
            subscriptions = [m.Subscription(topic_filter=f, qos=0) for f in filters[start : start + batch]]
            self.writer.write(m.encode(m.Subscribe(packet_id=packet_id, subscriptions=subscriptions), VERSION))
            await self.expect(m.Suback)

    async def count_publishes(self, expected: int) -> tuple[int, float]:
        """Count PUBLISH packets until ``expected`` or IDLE_TIMEOUT of silence; (count, time of the last)."""
        count = sum(1 for p in self.pending if type(p) is m.Publish)
        self.pending.clear()
        last = time.perf_counter()
        while count < expected:
            try:
                chunk = await asyncio.wait_for(self.reader.read(1 << 16), IDLE_TIMEOUT)
            except asyncio.TimeoutError:
                break
            if not chunk:
                break
            count += sum(1 for p in self.decoder.feed(chunk) if type(p) is m.Publish)
            last = time.perf_counter()
        return count, last

    async def close(self) -> None:
        self.writer.write(m.encode(m.Disconnect(), VERSION))
        try:
            await self.writer.drain()
        except ConnectionError:
            pass
        self.writer.close()


async def _publish(connection: Connection, packet: bytes, count: int, chunk: int = 256) -> None:
    batch = packet * chunk
    for start in range(0, count, chunk):
        connection.writer.write(batch if start + chunk <= count else packet * (count - start))
        await connection.writer.drain()


async def fan_in(
    host: str, port: int, publishers: int = 10, messages: int = 20000, payload: int = 64, on_start: Callable[[], None] = lambda: None
) -> Result:
    """``publishers`` clients send ``messages`` QoS 0 PUBLISH in total; one subscriber counts them.

    ``on_start`` is called when the clock starts, every connection and subscription made.
    """
    subscriber = await Connection.open(host, port, "loadgen-sub")
    await subscriber.subscribe(["fanin/+"])
    senders = [await Connection.open(host, port, f"loadgen-pub{i}") for i in range(publishers)]
    per_sender = messages // publishers
    packets = [m.encode(m.Publish(topic=f"fanin/{i}", payload=b"x" * payload), VERSION) for i in range(publishers)]
    expected = per_sender * publishers
    on_start()
    start = time.perf_counter()
    counting = asyncio.ensure_future(subscriber.count_publishes(expected))
    await asyncio.gather(*(_publish(s, p, per_sender) for s, p in zip(senders, packets)))
    delivered, last = await counting
    for connection in senders + [subscriber]:
        await connection.close()
    return Result(f"fan-in {publishers}->1 QoS 0", expected, delivered, last - start)


async def wildcard(
    host: str, port: int, idle: int = 10000, messages: int = 2000, payload: int = 64, on_start: Callable[[], None] = lambda: None
) -> Result:
    """One publisher to ``load/<k>/x``, one ``load/+/x`` subscriber, ``idle`` non-matching subscriptions held.

    ``on_start`` is called when the clock starts, every connection and subscription made.
    """
    holder = await Connection.open(host, port, "loadgen-idle")
    await holder.subscribe([f"idle/{i}/+" for i in range(idle)])
    subscriber = await Connection.open(host, port, "loadgen-sub")
    await subscriber.subscribe(["load/+/x"])
    sender = await Connection.open(host, port, "loadgen-pub")
    packets = b"".join(m.encode(m.Publish(topic=f"load/{k}/x", payload=b"y" * payload), VERSION) for k in range(100))
    on_start()
    start = time.perf_counter()
    counting = asyncio.ensure_future(subscriber.count_publishes(messages))
    await _publish(sender, packets, messages // 100, chunk=4)
    delivered, last = await counting
    for connection in (sender, subscriber, holder):
        await connection.close()
    return Result(f"wildcard, {idle} idle subscriptions", messages // 100 * 100, delivered, last - start)


SCENARIOS = {"fan-in": fan_in, "wildcard": wildcard}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--messages", type=int, default=20000)
    args = parser.parse_args(argv)
    print(asyncio.run(SCENARIOS[args.scenario](args.host, args.port, messages=args.messages)))


if __name__ == "__main__":
    main()
