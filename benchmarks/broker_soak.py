"""Memory soak of a broker (issue #11: "memory flat over a soak of a million messages").

Rounds of traffic go through one broker subprocess until ``--messages``
have been delivered: flows of ``loadgen.flow`` in turn (20 pairs at QoS 0,
fan-out 1->10 at QoS 1, fan-in 10->1 at QoS 1, each with fresh connections),
and after each flow a persistent session (MQTT 3.1.1, CleanSession 0) that
disconnects, has QoS 1 messages queued for it while away, reconnects and
takes them. The broker's RSS is sampled after every round; the figures are
RSS at start (before any traffic), after the warm-up (the first
``--warmup`` messages: caches, free lists and the allocator's arenas filled)
and at the end. The run fails (exit status 1) if the end exceeds the
warm-up figure by more than ``--max-growth-mb``.

    python benchmarks/broker_soak.py                       # 1,000,000 messages, mqttfast
    python benchmarks/broker_soak.py --broker mosquitto    # the same for mosquitto
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import broker_compare  # noqa: E402
import loadgen  # noqa: E402

import mqttfast as m  # noqa: E402

#: the flows of a round: (scenario of ``loadgen.flow_scenarios``, QoS).
ROUND = (("20 pairs", 0), ("fan-out 1->10", 1), ("fan-in 10->1", 1))
PERSISTENT_ID = "soak-persistent"
#: RSS growth allowed after the warm-up. Measured: +1.3 MB from 200,000 to 1,000,000 messages, then
#: flat at +3 MB from 3 to 5 million (the allocator's arenas and free lists, not a per-client leak:
#: every flow's client ids are new, and a leak per connection or session would not level off).
MAX_GROWTH_MB = 5.0
PERSISTENT_TOPIC = "soak/persistent"


@dataclass
class SoakResult:
    """Messages delivered and the broker's RSS (bytes) at start, after warm-up, at the end, sampled between."""

    messages: int = 0
    rss_start: int = 0
    rss_warm: int = 0
    rss_end: int = 0
    samples: list[tuple[int, int]] = field(default_factory=list)  # (messages so far, RSS)
    lost: int = 0  # QoS 1 messages lost or duplicated, over every round

    @property
    def growth(self) -> int:
        """RSS gained after the warm-up, in bytes."""
        return self.rss_end - self.rss_warm

    def __str__(self) -> str:
        mb = 2**20
        return (
            f"{self.messages:,} messages: RSS {self.rss_start / mb:.1f} MB at start, {self.rss_warm / mb:.1f} MB after"
            f" warm-up, {self.rss_end / mb:.1f} MB at the end ({self.growth / mb:+.1f} MB after warm-up;"
            f" peak {max(r for _, r in self.samples) / mb:.1f} MB); QoS 1 lost or duplicated: {self.lost}"
        )


async def _open(host: str, port: int) -> loadgen.Connection:
    """The persistent session's connection: CleanSession 0, so the broker keeps it while away."""
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    connection = loadgen.Connection(reader, writer)
    writer.write(m.encode(m.Connect(client_id=PERSISTENT_ID, keep_alive=600, clean_start=False), loadgen.VERSION))
    await connection.expect(m.Connack)
    return connection


async def persistent_cycle(host: str, port: int, messages: int, first: bool) -> int:
    """The persistent session goes away, ``messages`` QoS 1 messages are queued for it, it comes back for them.

    Returns how many it received (each acknowledged). ``first`` subscribes
    the session (the broker is fresh: its client id is new there); later
    cycles resume it.
    """
    version = loadgen.VERSION
    subscriber = await _open(host, port)
    if first:
        subscribe = m.Subscribe(packet_id=1, subscriptions=[m.Subscription(topic_filter=PERSISTENT_TOPIC, qos=1)])
        subscriber.writer.write(m.encode(subscribe, version))
        await subscriber.expect(m.Suback)
    await subscriber.close()
    publisher = await loadgen.Connection.open(host, port, "soak-publisher")
    packets = b"".join(
        m.encode(m.Publish(topic=PERSISTENT_TOPIC, payload=b"q" * 64, qos=1, packet_id=i + 1), version) for i in range(messages)
    )
    publisher.writer.write(packets)
    acked = 0
    while acked < messages:  # every PUBACK in: every message is queued for the session before it returns
        chunk = await asyncio.wait_for(publisher.reader.read(1 << 16), loadgen.IDLE_TIMEOUT)
        if not chunk:
            raise ConnectionError("broker closed the publisher")
        acked += sum(1 for p in publisher.decoder.feed(chunk) if type(p) is m.Puback)
    await publisher.close()
    subscriber = await _open(host, port)
    packets = subscriber.pending  # what came in the read of the CONNACK
    subscriber.pending = []
    received = 0
    while True:
        acks = [loadgen.PUBACKS[p.packet_id] for p in packets if type(p) is m.Publish]  # type: ignore[attr-defined]
        subscriber.writer.write(b"".join(acks))
        received += len(acks)
        if received >= messages:
            break
        try:
            chunk = await asyncio.wait_for(subscriber.reader.read(1 << 16), loadgen.IDLE_TIMEOUT)
        except asyncio.TimeoutError:
            break
        if not chunk:
            break
        packets = subscriber.decoder.feed(chunk)
    await subscriber.close()
    return received


async def soak(
    broker: broker_compare.BrokerProcess,
    messages: int,
    warmup: int,
    seconds: float = 0.25,
    queued: int = 500,
    report: Callable[[str], None] = lambda line: None,
) -> SoakResult:
    """Rounds of traffic through ``broker`` until ``messages`` are delivered; RSS sampled after each round."""
    result = SoakResult(rss_start=broker.rss())
    cycle = 0
    while result.messages < messages:
        for name, qos in ROUND:
            arguments = loadgen.flow_scenarios(qos, 64, seconds, idle=0)[name]
            flow = await loadgen.flow("127.0.0.1", broker.port, name, **arguments)  # type: ignore[arg-type]
            if qos:
                result.lost += flow.lost + flow.duplicated
            received = await persistent_cycle("127.0.0.1", broker.port, queued, first=cycle == 0)
            cycle += 1
            result.lost += abs(queued - received)
            before = result.messages
            result.messages += flow.delivered + received
            rss = broker.rss()
            result.samples.append((result.messages, rss))
            if before < warmup <= result.messages:
                result.rss_warm = rss
            report(f"{result.messages:>10,} messages  RSS {rss / 2**20:6.1f} MB  ({name}, QoS {qos}: {flow.rate:,.0f} msg/s)")
            if result.messages >= messages:
                break
    if not result.rss_warm:  # a warm-up longer than the run: measure growth over the whole of it
        result.rss_warm = result.samples[0][1]
    result.rss_end = result.samples[-1][1]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--broker", default="mqttfast", choices=broker_compare.BROKERS)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--warmup", type=int, default=200_000, help="messages before the reference RSS is taken")
    parser.add_argument("--max-growth-mb", type=float, default=MAX_GROWTH_MB, help="RSS allowed to grow after the warm-up")
    parser.add_argument("--seconds", type=float, default=0.25, help="sending time of each flow (shorter: more connections)")
    parser.add_argument("--broker-arg", action="append", default=[], help="an extra option for python -m mqttfast.broker")
    args = parser.parse_args(argv)
    broker_compare.pin_self()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        broker = broker_compare.BrokerProcess(args.broker, Path(directory), args.broker_arg if args.broker == "mqttfast" else [])
        try:
            result = asyncio.run(soak(broker, args.messages, args.warmup, args.seconds, report=print))
        finally:
            broker.stop()
    print(f"{args.broker}: {result} in {time.perf_counter() - started:.0f} s")
    if result.growth > args.max_growth_mb * 2**20:
        print(f"FAILED: RSS grew {result.growth / 2**20:.1f} MB after the warm-up (bound {args.max_growth_mb} MB)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
