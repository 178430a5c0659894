"""What ``--persistence`` costs: a QoS 1 fan-in to a persistent session, with and without SQLite.

Ten publishers send pre-encoded QoS 1 PUBLISH packets (pipelined, distinct
packet ids) to ``fanin/<i>``; one subscriber with a persistent session
(MQTT 3.1.1, CleanSession 0) on ``fanin/+`` at QoS 1 acknowledges every
delivery. Both sides count: deliveries, and PUBACKs back to the publishers
(each one is, with persistence, a message committed to disk first).

Runs ``python -m mqttfast.broker`` twice on a free port, without and with
``--persistence`` (a fresh database in a temporary directory), and prints
both rates and the broker's CPU time per message (read from /proc: on a
shared machine the CPU time is the steadier figure)::

    python benchmarks/bench_persistence.py --messages 20000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__:
    from .loadgen import IDLE_TIMEOUT, VERSION, Connection, Result
else:  # run as a script: python benchmarks/bench_persistence.py
    from loadgen import IDLE_TIMEOUT, VERSION, Connection, Result

import mqttfast as m

# The directory holding the mqttfast under test (an installed copy in CI, this checkout's src/ in
# development): a subprocess must import the same one, compiled twins included.
SRC = Path(m.__file__).resolve().parent.parent


async def _open(port: int, client_id: str, clean: bool) -> Connection:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    connection = Connection(reader, writer)
    writer.write(m.encode(m.Connect(client_id=client_id, keep_alive=600, clean_start=clean), VERSION))
    await connection.expect(m.Connack)
    return connection


async def _acknowledge(subscriber: Connection, expected: int) -> tuple[int, float]:
    """PUBACK every delivery until ``expected`` or IDLE_TIMEOUT of silence; (count, time of the last)."""
    count = 0
    last = time.perf_counter()
    packets = list(subscriber.pending)
    subscriber.pending.clear()
    while True:
        acks = [m.encode(m.Puback(packet_id=p.packet_id), VERSION) for p in packets if type(p) is m.Publish]
        if acks:
            subscriber.writer.write(b"".join(acks))
            count += len(acks)
            last = time.perf_counter()
        if count >= expected:
            return count, last
        try:
            chunk = await asyncio.wait_for(subscriber.reader.read(1 << 16), IDLE_TIMEOUT)
        except asyncio.TimeoutError:
            return count, last
        if not chunk:
            return count, last
        packets = subscriber.decoder.feed(chunk)


async def _publish(publisher: Connection, packets: bytes, count: int) -> int:
    """Write the pre-encoded packets and count the PUBACKs that come back."""
    publisher.writer.write(packets)
    acked = 0
    while acked < count:
        try:
            chunk = await asyncio.wait_for(publisher.reader.read(1 << 16), IDLE_TIMEOUT)
        except asyncio.TimeoutError:
            break
        if not chunk:
            break
        acked += sum(1 for p in publisher.decoder.feed(chunk) if type(p) is m.Puback)
    return acked


async def fan_in_qos1(port: int, publishers: int = 10, messages: int = 20000, payload: int = 64) -> Result:
    """``publishers`` clients send ``messages`` QoS 1 PUBLISH in total to a persistent QoS 1 subscriber."""
    subscriber = await _open(port, "bench-persistent-sub", clean=False)
    subscriber.writer.write(
        m.encode(m.Subscribe(packet_id=1, subscriptions=[m.Subscription(topic_filter="fanin/+", qos=1)]), VERSION)
    )
    await subscriber.expect(m.Suback)
    senders = [await _open(port, f"bench-pub{i}", clean=True) for i in range(publishers)]
    per_sender = messages // publishers
    packets = [
        b"".join(
            m.encode(m.Publish(topic=f"fanin/{i}", payload=b"x" * payload, qos=1, packet_id=k), VERSION)
            for k in range(1, per_sender + 1)
        )
        for i in range(publishers)
    ]
    expected = per_sender * publishers
    start = time.perf_counter()
    counting = asyncio.ensure_future(_acknowledge(subscriber, expected))
    acked = await asyncio.gather(*(_publish(s, p, per_sender) for s, p in zip(senders, packets)))
    delivered, last = await counting
    for connection in senders + [subscriber]:
        await connection.close()
    assert sum(acked) == expected, f"{sum(acked)} PUBACKs for {expected} messages"
    return Result(f"fan-in {publishers}->1 QoS 1, persistent subscriber", expected, delivered, last - start)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def run(messages: int, persistence: str | None) -> str:
    """Start a broker (with ``--persistence`` when given), run the fan-in once, stop it; the figures."""
    port = _free_port()
    command = [sys.executable, "-m", "mqttfast.broker", "--port", str(port), "-q"]
    if persistence:
        command += ["--persistence", persistence]
    env = dict(os.environ, PYTHONPATH=str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    broker = subprocess.Popen(command, env=env)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        before = _cpu_seconds(broker.pid)
        result = asyncio.run(fan_in_qos1(port, messages=messages))
        cpu = _cpu_seconds(broker.pid) - before
        return f"{result}, broker CPU {cpu * 1e6 / result.delivered:.1f} us/msg"
    finally:
        broker.terminate()
        broker.wait(10)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20000)
    args = parser.parse_args(argv)
    print("memory only:   ", run(args.messages, None))
    with tempfile.TemporaryDirectory() as directory:
        print("--persistence: ", run(args.messages, os.path.join(directory, "broker.db")))


if __name__ == "__main__":
    main()
