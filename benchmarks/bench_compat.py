"""mqttfast.compat: paho-mqtt and amqtt patched versus unpatched, in one run.

- paho client receiving QoS 0 messages from mosquitto, CPU seconds of the client
  process (``MQTTFAST_BENCH_PAHO_COUNT``, default 20,000; the issue's figure is
  200,000: ``MQTTFAST_BENCH_PAHO_COUNT=200000 python -m pytest benchmarks/bench_compat.py -k receive``).
- paho ``MQTTMatcher.iter_match`` at 100,000 subscriptions, on topics seen
  again and again and on topics each seen once, and beside them the floor: a
  bare ``TopicMatcher.match`` on the same filters.
- the amqtt broker under ``loadgen.py`` (fan-in 10->1 QoS 0, and 10,000 idle
  wildcard subscriptions), messages/s with no message lost, and the broker's CPU
  seconds from the first PUBLISH on (steadier than messages/s on a shared machine).

Each measured figure is in the benchmark's ``extra_info`` (``--benchmark-json``)
and printed; ratios are for the reader to take, never asserted.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import mqttfast as m

from . import loadgen

HERE = Path(__file__).resolve().parent
PAHO_COUNT = int(os.environ.get("MQTTFAST_BENCH_PAHO_COUNT", "20000"))
MODES = ["unpatched", "patched"]


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]


def _spawn(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(m.__file__).resolve().parent.parent), os.environ.get("PYTHONPATH", "")]))
    process = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


@pytest.fixture(scope="module")
def mosquitto(tmp_path_factory):
    from tests.helpers.mosquitto import running_mosquitto

    # Unlimited queues: a QoS 0 flood must reach a slow subscriber whole.
    with running_mosquitto(tmp_path_factory.mktemp("bench"), "max_queued_messages 0\nmax_queued_bytes 0\n") as port:
        yield port


@pytest.mark.parametrize("mode", MODES)
def test_paho_receive_cpu(benchmark, mosquitto, mode):
    packet = m.encode(m.Publish(topic="bench/data", payload=b"p" * 32), 4)
    connect = m.encode(m.Connect(client_id=f"flood-{mode}", keep_alive=60), 4)

    def run():
        receiver = _spawn(str(HERE / "paho_receive.py"), str(mosquitto), str(PAHO_COUNT), *(["--patched"] if mode == "patched" else []))
        with socket.create_connection(("127.0.0.1", mosquitto)) as flood:
            flood.sendall(connect)
            flood.recv(4)
            for start in range(0, PAHO_COUNT, 1000):
                flood.sendall(packet * min(1000, PAHO_COUNT - start))
            out, _ = receiver.communicate(timeout=600)  # also closes its stdout
        received, cpu = out.split()
        return int(received), float(cpu)

    received, cpu = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(received=received, client_cpu_seconds=cpu, messages=PAHO_COUNT)
    print(f"\npaho {mode}: {received}/{PAHO_COUNT} received, client CPU {cpu:.3f} s")
    assert received == PAHO_COUNT


@pytest.fixture(scope="module")
def subscriptions_100k():
    rng = random.Random(13)
    filters = [f"site/{i}/+/temp" for i in range(60000)] + [f"site/{i}/dev/#" for i in range(30000)]
    filters += [f"fleet/{i % 100}/{i}/+" for i in range(10000)]
    # "repeated": 1,100 topics looked up again every round, as a client sees the same topics over and
    # over; "distinct": 70,100 different topics per round, each seen once (no remembered answer helps).
    topics = {
        "repeated": [f"site/{rng.randrange(70000)}/dev/temp" for _ in range(1000)] + [f"fleet/{i}/x/y" for i in range(100)],
        "distinct": [f"site/{i}/dev/temp" for i in rng.sample(range(70000), 70000)] + [f"fleet/{i}/x/y" for i in range(100)],
    }
    return filters, topics


@pytest.mark.parametrize("mode", ["paho", "mqttfast", "floor"])
@pytest.mark.parametrize("topics_kind", ["repeated", "distinct"])
def test_paho_matcher_lookups_at_100k(benchmark, subscriptions_100k, mode, topics_kind):
    """``floor``: ``list(TopicMatcher.match(topic))``, the bare compiled lookup no drop-in can beat."""
    filters, all_topics = subscriptions_100k
    topics = all_topics[topics_kind]
    if mode == "floor":
        matcher = m.TopicMatcher()
        for value, topic_filter in enumerate(filters):
            matcher.subscribe(topic_filter, value)

        def lookups():
            return sum(len(list(matcher.match(topic))) for topic in topics)

    else:
        if mode == "paho":
            from paho.mqtt.matcher import MQTTMatcher
        else:
            from mqttfast.compat.paho import MQTTMatcher
        paho_matcher = MQTTMatcher()
        for value, topic_filter in enumerate(filters):
            paho_matcher[topic_filter] = value

        def lookups():
            return sum(len(list(paho_matcher.iter_match(topic))) for topic in topics)

    found = benchmark(lookups)
    benchmark.extra_info.update(lookups=len(topics), matches=found)
    print(f"\nMQTTMatcher {mode}, {topics_kind}: {found} matches in {len(topics)} lookups")
    assert found > len(topics) // 2


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc): what a busy machine cannot inflate."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("scenario", "messages"), [("fan-in", 20000), ("wildcard", 1000)])
def test_amqtt_broker_under_loadgen(benchmark, mode, scenario, messages):
    port = _free_port()
    broker = _spawn(str(HERE / "amqtt_server.py"), str(port), *(["--patched"] if mode == "patched" else []))
    cpu_at_start = []

    def clock_started():
        cpu_at_start.append(_cpu_seconds(broker.pid))

    try:
        result = benchmark.pedantic(
            lambda: asyncio.run(loadgen.SCENARIOS[scenario]("127.0.0.1", port, messages=messages, on_start=clock_started)),
            rounds=1,
            iterations=1,
        )
        cpu = _cpu_seconds(broker.pid) - cpu_at_start[0]  # from the first PUBLISH on, connections and subscriptions made
    finally:
        broker.terminate()
        broker.wait(10)
        broker.stdout.close()
    benchmark.extra_info.update(
        delivered=result.delivered, lost=result.lost, messages_per_second=round(result.rate), broker_cpu_seconds=cpu
    )
    print(f"\namqtt {mode}: {result}; broker CPU {cpu:.2f} s = {cpu / messages * 1e6:.0f} us/message")
    assert result.lost == 0
