"""mqttfast.client against paho-mqtt, aiomqtt, gmqtt and zmqtt, on one mosquitto on 127.0.0.1.

    python benchmarks/bench_client.py                      # short counts (about a minute)
    python benchmarks/bench_client.py --full               # the issue's counts: 1,000,000 / 100,000
    python benchmarks/bench_client.py --only mqttfast,paho --scenarios receive
    python benchmarks/bench_client.py --full --rounds 5     # alternated rounds, then the medians

Every client runs in a child process of its own, which reports its own CPU
time (``resource.getrusage``: user + system) and wall time for the measured
part only (connection and subscription excluded). Scenarios:

- ``receive``: N QoS 0 messages of 64 B, blasted into mosquitto by this
  (parent) process over a raw socket; the child counts them.
- ``publish``: N QoS 1 messages of 64 B, until every PUBACK is in.
- ``reqresp``: QoS 1 request/response pairs (a requester and a responder
  client in the same child, ten requests in flight), pairs per second; each
  library its own way: Response Topic and Correlation Data everywhere
  (all five speak MQTT 5), through ``request()`` where the library has one.
- ``qos2``: QoS 2 publishes one after the other, each awaited to PUBCOMP.
- ``memory``: N QoS 0 messages to a consumer that takes 1 ms per message;
  the child's peak RSS growth after 3 s (bounded queue versus unbounded).

A contender that lacks a scenario here is reported as "-". The machine is
shared: figures are noisy, CPU time less so than wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import mqttfast

HERE = os.path.dirname(os.path.abspath(__file__))
# BENCH_CLIENT_SRC: another source tree to time (a branch with the compiled session core, say).
# The mqttfast under test by default (installed or this checkout's src/), or another tree.
SRC = os.environ.get("BENCH_CLIENT_SRC") or os.path.dirname(os.path.dirname(os.path.abspath(mqttfast.__file__)))
PAYLOAD = b"x" * 64
CONTENDERS = ("mqttfast", "paho", "aiomqtt", "gmqtt", "zmqtt")
SCENARIOS = ("receive", "publish", "reqresp", "qos2", "memory")
SHORT = {"receive": 100_000, "publish": 20_000, "reqresp": 2_000, "qos2": 2_000, "memory": 50_000}
TINY = {"receive": 2_000, "publish": 500, "reqresp": 50, "qos2": 50, "memory": 10_000}
FULL = {"receive": 1_000_000, "publish": 100_000, "reqresp": 10_000, "qos2": 10_000, "memory": 200_000}


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_kib() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


class Meter:
    """CPU and wall time from ``start()`` to ``stop()``; the report line the parent reads."""

    def start(self) -> None:
        self.cpu, self.wall = cpu(), time.perf_counter()

    def stop(self, count: int, **extra: float) -> None:
        result = dict(cpu=cpu() - self.cpu, wall=time.perf_counter() - self.wall, count=count, **extra)
        print("RESULT " + json.dumps(result), flush=True)


def ready() -> None:
    print("READY", flush=True)


async def consume(messages: Any, scenario: str, n: int, meter: Meter) -> None:
    """The receive and memory scenarios over an aiomqtt-shaped ``client.messages``: count N, or
    (memory) take 1 ms per message for 3 s; the report includes the RSS growth meanwhile."""
    base = rss_kib()
    ready()
    count = 0
    async for _ in messages:
        if count == 0:
            meter.start()
        count += 1
        if scenario == "memory":
            await asyncio.sleep(0.001)
            if time.perf_counter() - meter.wall > 3:
                break
        elif count == n:
            break
    meter.stop(count, rss_growth_kib=rss_kib() - base)


# ---- children: one function per contender and scenario -----------------------------------------


async def mqttfast_child(scenario: str, port: int, n: int) -> None:
    sys.path.insert(0, SRC)
    from mqttfast.client import Client

    meter = Meter()
    if scenario in ("receive", "memory"):
        bound = 1000 if scenario == "memory" else 10_000
        async with Client("127.0.0.1", port, max_queued_incoming_messages=bound) as client:
            await client.subscribe("bench/rx")
            await consume(client.messages, scenario, n, meter)
    elif scenario == "publish":
        async with Client("127.0.0.1", port) as client:
            meter.start()
            await asyncio.gather(*(client.publish("bench/tx", PAYLOAD, qos=1) for _ in range(n)))
            meter.stop(n)
    elif scenario == "qos2":
        async with Client("127.0.0.1", port) as client:
            meter.start()
            for _ in range(n):
                await client.publish("bench/q2", PAYLOAD, qos=2)
            meter.stop(n)
    elif scenario == "reqresp":
        async with Client("127.0.0.1", port) as responder, Client("127.0.0.1", port) as requester:
            await responder.subscribe("bench/req", qos=1, handler=lambda m: responder.respond(m, m.payload, qos=1))
            await requester.request("bench/req", PAYLOAD, qos=1)  # the response subscription, outside the timing
            meter.start()
            remaining = iter(range(n))

            async def worker() -> None:
                for _ in remaining:
                    await requester.request("bench/req", PAYLOAD, qos=1)

            await asyncio.gather(*(worker() for _ in range(10)))
            meter.stop(n)


def paho_child(scenario: str, port: int, n: int) -> None:
    import paho.mqtt.client as mqtt

    meter = Meter()
    done = threading.Event()
    state = {"count": 0}

    def client() -> mqtt.Client:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        c.max_inflight_messages_set(65535)
        c.max_queued_messages_set(0)
        c.connect("127.0.0.1", port)
        return c

    if scenario == "receive":
        c = client()

        def on_message(c: object, userdata: object, message: object) -> None:
            if state["count"] == 0:
                meter.start()
            state["count"] += 1
            if state["count"] == n:
                done.set()

        c.on_message = on_message
        c.subscribe("bench/rx", 0)
        c.loop_start()
        time.sleep(0.3)
        ready()
        done.wait()
        meter.stop(state["count"])
        c.loop_stop()
    elif scenario in ("publish", "qos2"):
        c = client()
        qos = 1 if scenario == "publish" else 2
        acked = threading.Semaphore(0)

        def on_publish(*args: object) -> None:
            state["count"] += 1
            if scenario == "qos2":
                acked.release()
            elif state["count"] == n:
                done.set()

        c.on_publish = on_publish
        c.loop_start()
        time.sleep(0.3)
        meter.start()
        for _ in range(n):
            c.publish("bench/tx", PAYLOAD, qos=qos)
            if scenario == "qos2":
                acked.acquire()
        if scenario == "publish":
            done.wait()
        meter.stop(n)
        c.loop_stop()
    elif scenario == "reqresp":
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        responder, requester = client(), client()

        def respond(c: object, userdata: object, message: object) -> None:
            props = Properties(PacketTypes.PUBLISH)
            props.CorrelationData = message.properties.CorrelationData
            responder.publish(message.properties.ResponseTopic, message.payload, qos=1, properties=props)

        window = threading.Semaphore(10)

        def on_response(c: object, userdata: object, message: object) -> None:
            state["count"] += 1
            window.release()
            if state["count"] == n:
                done.set()

        responder.on_message = respond
        requester.on_message = on_response
        responder.subscribe("bench/req", 1)
        requester.subscribe("bench/resp", 1)
        responder.loop_start()
        requester.loop_start()
        time.sleep(0.5)
        meter.start()
        for index in range(n):
            window.acquire()
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = "bench/resp"
            props.CorrelationData = index.to_bytes(8, "big")
            requester.publish("bench/req", PAYLOAD, qos=1, properties=props)
        done.wait()
        meter.stop(n)


async def aiomqtt_child(scenario: str, port: int, n: int) -> None:
    import aiomqtt

    meter = Meter()
    # timeout: its default of 10 s fails a publish among 20,000 pending (at paho's pace underneath);
    # a quiet logger: it warns once per pending publish beyond ten.
    quiet = logging.getLogger("bench-aiomqtt")
    quiet.setLevel(logging.ERROR)
    async with aiomqtt.Client(
        "127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5, timeout=600, logger=quiet
    ) as client:
        if scenario in ("receive", "memory"):
            await client.subscribe("bench/rx")
            await consume(client.messages, scenario, n, meter)
        elif scenario == "publish":
            meter.start()
            await asyncio.gather(*(client.publish("bench/tx", PAYLOAD, qos=1) for _ in range(n)))
            meter.stop(n)
        elif scenario == "qos2":
            meter.start()
            for _ in range(n):
                await client.publish("bench/q2", PAYLOAD, qos=2)
            meter.stop(n)
        elif scenario == "reqresp":
            await aiomqtt_reqresp(client, port, n, meter)


async def aiomqtt_reqresp(responder: object, port: int, n: int, meter: Meter) -> None:
    """aiomqtt has no request helper: Response Topic and Correlation Data as paho Properties, a future per request."""
    import aiomqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    async def respond() -> None:
        async for message in responder.messages:
            props = Properties(PacketTypes.PUBLISH)
            props.CorrelationData = message.properties.CorrelationData
            await responder.publish(message.properties.ResponseTopic, message.payload, qos=1, properties=props)

    async with aiomqtt.Client("127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5) as requester:
        await responder.subscribe("bench/req", qos=1)
        await requester.subscribe("bench/resp", qos=1)
        waiting: dict[bytes, asyncio.Future[None]] = {}

        async def collect() -> None:
            async for message in requester.messages:
                future = waiting.pop(message.properties.CorrelationData, None)
                if future is not None:
                    future.set_result(None)

        tasks = [asyncio.ensure_future(respond()), asyncio.ensure_future(collect())]
        loop = asyncio.get_running_loop()
        remaining = iter(range(n))

        async def worker() -> None:
            for index in remaining:
                props = Properties(PacketTypes.PUBLISH)
                props.ResponseTopic = "bench/resp"
                props.CorrelationData = index.to_bytes(8, "big")
                waiting[props.CorrelationData] = future = loop.create_future()
                await requester.publish("bench/req", PAYLOAD, qos=1, properties=props)
                await future

        meter.start()
        await asyncio.gather(*(worker() for _ in range(10)))
        meter.stop(n)
        for task in tasks:
            task.cancel()


async def gmqtt_child(scenario: str, port: int, n: int) -> None:
    import gmqtt

    meter = Meter()
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    state = {"count": 0}
    client = gmqtt.Client("bench-gmqtt")

    def on_message(client: object, topic: str, payload: bytes, qos: int, properties: object) -> int:
        if state["count"] == 0:
            meter.start()
        state["count"] += 1
        if state["count"] == n and not done.done():
            done.set_result(None)
        return 0

    client.on_message = on_message
    await client.connect("127.0.0.1", port)
    if scenario == "receive":
        client.subscribe("bench/rx", qos=0)
        await asyncio.sleep(0.3)
        ready()
        await done
        meter.stop(state["count"])
    elif scenario == "publish":
        # gmqtt's publish() does not wait for the PUBACK: count them in its callback.
        acked = {"count": 0}

        def on_puback(*args: object) -> None:
            acked["count"] += 1
            if acked["count"] == n and not done.done():
                done.set_result(None)

        from gmqtt.mqtt.handler import MqttPackageHandler

        original = MqttPackageHandler._handle_puback_packet

        def handle_puback(self: object, cmd: object, packet: object) -> None:
            original(self, cmd, packet)
            on_puback()

        MqttPackageHandler._handle_puback_packet = handle_puback  # this child process only
        meter.start()
        for _ in range(n):
            while True:
                try:
                    client.publish("bench/tx", PAYLOAD, qos=1)
                    break
                except OverflowError:  # gmqtt's ids are all in flight (mosquitto's Receive Maximum): yield
                    await asyncio.sleep(0)
        await done
        meter.stop(n)
    elif scenario == "qos2":
        # gmqtt's API reports no QoS 2 completion (it frees the id at PUBREC's answer, PUBCOMP, inside
        # its handler): count the round trip at PUBCOMP in a patched handler, the end every other
        # client here awaits, so that the rounds compare like for like.
        from gmqtt.mqtt.handler import MqttPackageHandler

        original_pubcomp = MqttPackageHandler._handle_pubcomp_packet
        completed: list[asyncio.Future[None]] = []

        def handle_pubcomp(self: object, cmd: object, packet: object) -> None:
            original_pubcomp(self, cmd, packet)
            if completed and not completed[0].done():
                completed[0].set_result(None)

        MqttPackageHandler._handle_pubcomp_packet = handle_pubcomp  # this child process only
        meter.start()
        for _ in range(n):
            completed[:] = [loop.create_future()]
            client.publish("bench/q2", PAYLOAD, qos=2)
            await completed[0]
        meter.stop(n)
    elif scenario == "reqresp":
        # Response Topic and Correlation Data as gmqtt's publish keyword properties; ten in flight,
        # each response sends the next request (gmqtt's publish does not wait for the PUBACK).
        responder = gmqtt.Client("bench-gmqtt-responder")

        def respond(client: object, topic: str, payload: bytes, qos: int, properties: dict) -> int:
            responder.publish(
                properties["response_topic"][0], payload, qos=1, correlation_data=properties["correlation_data"][0]
            )
            return 0

        responder.on_message = respond
        await responder.connect("127.0.0.1", port)
        responder.subscribe("bench/req", qos=1)
        sent = {"count": 0}

        def request() -> None:
            client.publish(
                "bench/req", PAYLOAD, qos=1, response_topic="bench/resp",
                correlation_data=sent["count"].to_bytes(8, "big"),
            )
            sent["count"] += 1

        def on_response(client_: object, topic: str, payload: bytes, qos: int, properties: dict) -> int:
            state["count"] += 1
            if sent["count"] < n:
                request()
            elif state["count"] == n and not done.done():
                done.set_result(None)
            return 0

        client.on_message = on_response
        client.subscribe("bench/resp", qos=1)
        await asyncio.sleep(0.3)
        meter.start()
        for _ in range(10):
            request()
        await done
        meter.stop(n)
        await responder.disconnect()
    await client.disconnect()


async def zmqtt_child(scenario: str, port: int, n: int) -> None:
    import zmqtt

    meter = Meter()
    async with zmqtt.create_client("127.0.0.1", port, version="5.0") as client:
        if scenario == "receive":
            async with client.subscribe("bench/rx", receive_buffer_size=10_000) as subscription:
                await consume(subscription, scenario, n, meter)
        elif scenario == "publish":
            meter.start()
            await asyncio.gather(*(client.publish("bench/tx", PAYLOAD, qos=zmqtt.QoS.AT_LEAST_ONCE) for _ in range(n)))
            meter.stop(n)
        elif scenario == "qos2":
            meter.start()
            for _ in range(n):
                await client.publish("bench/q2", PAYLOAD, qos=zmqtt.QoS.EXACTLY_ONCE)
            meter.stop(n)
        elif scenario == "reqresp":
            await zmqtt_reqresp(client, port, n, meter)


async def zmqtt_reqresp(requester: object, port: int, n: int, meter: Meter) -> None:
    """zmqtt's own request(): one Response Topic for all (its default is a new topic per request), ten in flight."""
    import zmqtt

    qos1 = zmqtt.QoS.AT_LEAST_ONCE
    async with zmqtt.create_client("127.0.0.1", port, version="5.0") as responder:
        async with responder.subscribe("bench/req", qos=qos1) as subscription:

            async def respond() -> None:
                async for message in subscription:
                    await responder.publish(
                        message.properties.response_topic,
                        message.payload,
                        qos=qos1,
                        properties=zmqtt.PublishProperties(correlation_data=message.properties.correlation_data),
                    )

            serving = asyncio.ensure_future(respond())
            reply_to = zmqtt.PublishProperties(response_topic="bench/resp/zmqtt")
            await requester.request("bench/req", PAYLOAD, qos=qos1, properties=reply_to)  # subscribes, untimed
            remaining = iter(range(n))

            async def worker() -> None:
                for _ in remaining:
                    await requester.request("bench/req", PAYLOAD, qos=qos1, properties=reply_to)

            meter.start()
            await asyncio.gather(*(worker() for _ in range(10)))
            meter.stop(n)
            serving.cancel()


SUPPORTED = {
    "mqttfast": set(SCENARIOS),
    "paho": {"receive", "publish", "reqresp", "qos2"},
    "aiomqtt": {"receive", "publish", "qos2", "memory", "reqresp"},
    "gmqtt": {"receive", "publish", "qos2", "reqresp"},
    "zmqtt": {"receive", "publish", "qos2", "reqresp"},
}


#: What the table must say beside a figure for it to be read right.
NOTES = {
    ("gmqtt", "publish"): "publish() does not wait: PUBACKs counted in a patched handler",
    ("gmqtt", "qos2"): "PUBCOMP counted in a patched handler (gmqtt's API reports none)",
    ("gmqtt", "reqresp"): "callbacks; requests do not wait for their PUBACK",
}


def child(contender: str, scenario: str, port: int, n: int) -> None:
    function = globals()[f"{contender}_child"]
    if asyncio.iscoroutinefunction(function):
        asyncio.run(function(scenario, port, n))
    else:
        function(scenario, port, n)


# ---- the parent: broker, blaster, table --------------------------------------------------------


def blast(port: int, n: int) -> None:
    """Publish ``n`` QoS 0 messages of 64 B over a raw socket (3.1.1), as fast as mosquitto takes them."""
    sys.path.insert(0, SRC)
    import mqttfast

    packet = mqttfast.encode(mqttfast.Publish(topic="bench/rx", payload=PAYLOAD), version=4)
    connect = mqttfast.encode(mqttfast.Connect(client_id="blaster", keep_alive=0), version=4)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(connect)
        sock.recv(4)
        chunk = packet * 1000
        for _ in range(n // 1000):
            sock.sendall(chunk)
        sock.sendall(packet * (n % 1000))
        sock.sendall(b"\xe0\x00")


def run_one(contender: str, scenario: str, port: int, n: int) -> dict[str, float] | None:
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", contender, scenario, str(port), str(n)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    result = None
    timer = threading.Timer(300, process.kill)
    timer.start()
    try:
        for line in process.stdout:
            if line.startswith("READY"):
                threading.Thread(target=blast, args=(port, n), daemon=True).start()
            elif line.startswith("RESULT "):
                result = json.loads(line[7:])
        process.wait()
    finally:
        timer.cancel()
    return result


def medians(cpu: dict[tuple[str, str], list[float]], rounds: int) -> str:
    """A table of each contender's median CPU seconds per scenario, and mqttfast's over the fastest other's."""
    lines = [f"\n| scenario | median client CPU s over {rounds} alternated rounds | mqttfast / fastest other |", "|---|---|---|"]
    for scenario in dict.fromkeys(s for s, _ in cpu):
        median = {c: statistics.median(v) for (s, c), v in cpu.items() if s == scenario}
        others = {c: v for c, v in median.items() if c != "mqttfast"}
        ratio = "-"
        if "mqttfast" in median and others:
            fastest = min(others, key=others.__getitem__)
            ratio = f"{median['mqttfast'] / others[fastest]:.2f}x ({fastest})"
        cells = ", ".join(f"{c} {v:.2f}" for c, v in median.items())
        lines.append(f"| {scenario} | {cells} | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="the issue's counts")
    parser.add_argument("--only", default=",".join(CONTENDERS))
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run every contender this many times per scenario, alternated, then a table of median CPU"
        " seconds and our ratio to the fastest other (a shared host moves single runs by 20%% or more)",
    )
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        contender, scenario, port, n = args.child
        child(contender, scenario, int(port), int(n))
        return
    counts = FULL if args.full else TINY if os.environ.get("BENCH_CLIENT_TINY") else SHORT
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with tempfile.TemporaryDirectory() as directory:
        with socket.create_server(("127.0.0.1", 0)) as probe:
            port = probe.getsockname()[1]
        config = os.path.join(directory, "mosquitto.conf")
        with open(config, "w") as file:
            file.write(f"listener {port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\nmax_queued_messages 0\n")
        broker = subprocess.Popen([mosquitto, "-c", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            print("| scenario (N) | client | client CPU s | wall s | per second | note |\n|---|---|---|---|---|---|")
            cpu: dict[tuple[str, str], list[float]] = {}
            # Round by round, each contender once per round: a change of the host's state hits them all.
            contenders = args.only.split(",")
            runs = [(s, c) for s in args.scenarios.split(",") for _ in range(args.rounds) for c in contenders]
            for scenario, contender in runs:
                n = counts[scenario]
                if scenario not in SUPPORTED[contender]:
                    print(f"| {scenario} ({n:,}) | {contender} | - | - | - | not written |", flush=True)
                    continue
                result = run_one(contender, scenario, port, n)
                if result is None:
                    print(f"| {scenario} ({n:,}) | {contender} | - | - | - | failed |", flush=True)
                    continue
                notes = [NOTES[contender, scenario]] if (contender, scenario) in NOTES else []
                if "rss_growth_kib" in result:
                    notes.append(f"RSS +{result['rss_growth_kib'] / 1024:.1f} MiB")
                note = "; ".join(notes)
                if result["count"] != n and scenario != "memory":
                    note += f" got {result['count']:,}"
                rate = result["count"] / result["wall"] if result["wall"] else 0
                print(
                    f"| {scenario} ({n:,}) | {contender} | {result['cpu']:.2f} | {result['wall']:.2f} | {rate:,.0f} | {note} |",
                    flush=True,
                )
                cpu.setdefault((scenario, contender), []).append(result["cpu"])
            if args.rounds > 1:
                print(medians(cpu, args.rounds))
        finally:
            broker.terminate()
            broker.wait()


if __name__ == "__main__":
    main()
