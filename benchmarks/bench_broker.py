"""The broker comparison of ``broker_compare.py``, small enough for CI: every scenario for a moment.

Each flow (fan-in, fan-out 1->10 and 1->100, 20 pairs, the wildcard flow
with idle subscriptions) runs for a fraction of a second at QoS 0 and 1 with
64 B and 1 KB payloads, against mqttfast.broker and, when installed,
mosquitto; then latency at 1,000 messages/s, connections/s and idle
connections, scaled down, and a short memory soak (``broker_soak.py``:
100,000 messages, RSS growth after the warm-up bounded). Messages/s and CPU per message go to the
benchmark's ``extra_info``; what is asserted is only correctness: every QoS 1
and QoS 2 message delivered exactly once by our broker. QoS 2 runs fan-in,
fan-out 1->10 and 20 pairs with 64 B. The full comparison, with amqtt and the
issue's sizes: ``python benchmarks/broker_compare.py`` (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import pytest

from . import broker_compare, broker_soak, loadgen

SECONDS = 0.2
BROKERS = ["mqttfast"] + (["mosquitto"] if shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin") else [])
FLOWS = [
    (name, qos, payload)
    for qos in (0, 1, 2)
    for payload in loadgen.FLOW_PAYLOADS[qos]
    for name in loadgen.flow_scenarios(qos, payload, SECONDS, idle=1000)
]


@pytest.fixture(scope="module", params=BROKERS)
def broker(request):
    with tempfile.TemporaryDirectory() as directory:
        process = broker_compare.BrokerProcess(request.param, Path(directory), [])
        try:
            yield process
        finally:
            process.stop()


@pytest.mark.parametrize(("scenario", "qos", "payload"), FLOWS, ids=[f"{n}-qos{q}-{p}B" for n, q, p in FLOWS])
def test_flow(benchmark, broker, scenario, qos, payload):
    arguments = loadgen.flow_scenarios(qos, payload, SECONDS, idle=1000)[scenario]
    marks: dict[str, float] = {}
    result = benchmark.pedantic(
        lambda: asyncio.run(
            loadgen.flow(
                "127.0.0.1",
                broker.port,
                scenario,
                ready=lambda: marks.setdefault("start", broker.cpu()),
                finished=lambda: marks.setdefault("end", broker.cpu()),
                **arguments,
            )
        ),
        rounds=1,
        iterations=1,
    )
    benchmark.extra_info.update(
        broker=broker.name, rate=result.rate, cpu_per_message=(marks["end"] - marks["start"]) / max(result.delivered, 1)
    )
    print(f"{broker.name} {scenario} QoS {qos} {payload} B: {result.rate:,.0f} msg/s")
    assert result.delivered > 0
    if qos and broker.name == "mqttfast":
        # Ours must lose nothing at QoS 1 or 2; mosquitto 2.0.11 drops QoS 1 messages under this load (measured,
        # not judged: see docs/benchmarks.md, "Broker").
        assert (result.lost, result.duplicated, result.stalled) == (0, 0, False)


def test_latency(benchmark, broker):
    latencies, sent = benchmark.pedantic(
        lambda: asyncio.run(loadgen.latency("127.0.0.1", broker.port, qos=1, seconds=0.3)), rounds=1, iterations=1
    )
    latencies.sort()
    n = len(latencies)
    benchmark.extra_info.update(broker=broker.name, p50=latencies[n // 2], p99=latencies[int(n * 0.99)], p999=latencies[int(n * 0.999)])
    assert len(latencies) == sent


def test_connections(benchmark, broker):
    rate = benchmark.pedantic(lambda: loadgen.connect_rate("127.0.0.1", broker.port, 200), rounds=1, iterations=1)
    held = loadgen.idle_connections("127.0.0.1", broker.port, 200, broker.rss)
    benchmark.extra_info.update(broker=broker.name, connections_per_second=rate, rss_200_idle=held)
    assert rate > 0 and held > 0


def test_soak(benchmark):
    """Our broker's memory over 100,000 mixed messages: the million-message soak of ``broker_soak.py``, short."""
    with tempfile.TemporaryDirectory() as directory:
        process = broker_compare.BrokerProcess("mqttfast", Path(directory), [])
        try:
            result = benchmark.pedantic(
                lambda: asyncio.run(broker_soak.soak(process, 100_000, 30_000, seconds=0.1)), rounds=1, iterations=1
            )
        finally:
            process.stop()
    benchmark.extra_info.update(rss_start=result.rss_start, rss_warm=result.rss_warm, rss_end=result.rss_end)
    print(f"mqttfast {result}")
    assert result.lost == 0
    assert result.growth <= broker_soak.MAX_GROWTH_MB * 2**20, str(result)
