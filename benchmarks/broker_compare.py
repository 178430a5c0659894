"""mqttfast.broker against mosquitto and amqtt, same load generator, one table (issue #11).

Each broker runs as a subprocess pinned to CPU 0 (``taskset -c 0``), this
script (the load generator of ``loadgen.py``) pins itself to CPU 1. For each
broker in turn: the flows (fan-in 10->1, fan-out 1->10 and 1->100, 20
point-to-point pairs, a wildcard flow with 10,000 idle subscriptions) at QoS
0 and 1 with 64 B and 1 KB payloads, each for ``--seconds``; latency at a
fixed 1,000 messages/s; connections per second; memory of 10,000 idle
connections. Delivered messages/s, the broker's CPU per delivered message
(from ``/proc/<pid>/stat``), QoS 1 and 2 loss and duplication are reported;
the QoS 2 flows (fan-in, fan-out 1->10, 20 pairs, 64 B) follow the others.

    python benchmarks/broker_compare.py                 # all three, a few minutes
    python benchmarks/broker_compare.py --brokers mqttfast,mosquitto --seconds 1
    python benchmarks/broker_compare.py --broker-arg=--event-loop=asyncio  # extra option for ours (and the relay)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import loadgen  # noqa: E402

import mqttfast  # noqa: E402
from mqttfast.broker.__main__ import loop_factory  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
BROKERS = ("mqttfast", "mosquitto", "amqtt")


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


class BrokerProcess:
    """A broker subprocess on CPU 0 with a listener on a free port; its CPU time and memory from /proc."""

    def __init__(self, name: str, directory: Path, extra: list[str]) -> None:
        self.name = name
        self.port = free_port()
        # The mqttfast this process imports (an installed copy, or the checkout's src/), compiled twins included.
        root = str(Path(mqttfast.__file__).resolve().parent.parent)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
        if name == "mqttfast":
            argv = [sys.executable, "-m", "mqttfast.broker", "--host", "127.0.0.1", "--port", str(self.port), *extra]
        elif name == "mosquitto":
            binary = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin")
            if binary is None:
                raise RuntimeError("mosquitto is not installed (apt-get install mosquitto)")
            config = directory / "mosquitto.conf"
            # Default configuration plus the listener (mosquitto 2 needs allow_anonymous with one).
            config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n")
            argv = [binary, "-c", str(config)]
        elif name == "amqtt":
            argv = [sys.executable, str(HERE / "amqtt_server.py"), str(self.port)]
        elif name == "relay":  # no broker: the floor of the fixed-rate run (relay_server.py)
            argv = [sys.executable, str(HERE / "relay_server.py"), str(self.port), *extra]
        else:
            raise ValueError(name)
        # Pinned to CPU 0 where there is more than one and taskset (util-linux) is there.
        pin = ["taskset", "-c", "0"] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []
        self.process = subprocess.Popen([*pin, *argv], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.pid = self.process.pid  # taskset execs the broker: same pid
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"{name} did not start") from None
                time.sleep(0.05)

    def cpu(self) -> float:
        """CPU seconds of the broker so far, all its threads: the scheduler's nanoseconds
        (``/proc/PID/task/*/schedstat``), where ``/proc/PID/stat`` counts 10 ms ticks."""
        try:
            return sum(int(Path(task, "schedstat").read_text().split()[0]) for task in Path(f"/proc/{self.pid}/task").iterdir()) / 1e9
        except (OSError, IndexError, ValueError):  # a thread ended meanwhile, or no schedstat: the ticks
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def waited(self) -> float:
        """Seconds the broker was ready to run but waited for a CPU (``/proc/PID/schedstat``), 0 if unknown."""
        try:
            return int(Path(f"/proc/{self.pid}/schedstat").read_text().split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            return 0.0

    def rss(self) -> int:
        """Resident memory in bytes."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextlib.contextmanager
def running(name: str, extra: list[str]) -> Iterator[BrokerProcess]:
    with tempfile.TemporaryDirectory() as directory:
        broker = BrokerProcess(name, Path(directory), extra)
        try:
            yield broker
        finally:
            broker.stop()


def own_cpu() -> float:
    """User + system CPU seconds of this process (the load generator) so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def pin_self() -> None:
    """The load generator on CPU 1 (what ``taskset -c 1`` would do), and enough file descriptors."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # brokers started later inherit it


class Strace:
    """``strace -c -f`` attached to the broker between ``start()`` and ``stop()``: its system calls, counted."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.process: subprocess.Popen[bytes] | None = None
        self.output = Path(tempfile.mkstemp(suffix=".strace")[1])

    def start(self) -> None:
        self.process = subprocess.Popen(["strace", "-c", "-f", "-p", str(self.pid), "-o", str(self.output)], stderr=subprocess.DEVNULL)
        time.sleep(0.5)  # attached before the first message

    def stop(self) -> int:
        """Detach; the number of system calls made meanwhile."""
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        self.process.wait()
        total = [line for line in self.output.read_text().splitlines() if line.rstrip().endswith(" total")]
        self.output.unlink()
        return int(total[0].split()[3]) if total else 0


async def run_flows(
    broker: BrokerProcess, seconds: float, idle: int, only: str | None, strace: bool = False, windows: tuple[int | None, int | None] = (None, None)
) -> list[dict[str, Any]]:
    rows = []
    for qos in (0, 1, 2):
        for payload in loadgen.FLOW_PAYLOADS[qos]:
            for name, arguments in loadgen.flow_scenarios(qos, payload, seconds, idle, windows[min(qos, 1)]).items():
                label = f"{name}, QoS {qos}, {payload} B"
                if only and only not in label:
                    continue
                marks: dict[str, float] = {}
                tracer = Strace(broker.pid) if strace else None

                def ready() -> None:
                    if tracer is not None:
                        tracer.start()
                    marks["start"] = broker.cpu()
                    marks["gen_start"] = own_cpu()
                    marks["wait_start"] = broker.waited()

                def finished() -> None:
                    marks["end"] = broker.cpu()
                    marks["gen_end"] = own_cpu()
                    marks["wait_end"] = broker.waited()
                    if tracer is not None:
                        marks["syscalls"] = tracer.stop()

                result = await loadgen.flow("127.0.0.1", broker.port, label, ready=ready, finished=finished, **arguments)
                cpu = marks["end"] - marks["start"]
                generator = marks["gen_end"] - marks["gen_start"]
                rows.append(
                    {
                        "scenario": label,
                        "rate": result.rate,
                        "delivered": result.delivered,
                        "expected": result.expected,
                        "lost": result.lost,
                        "duplicated": result.duplicated,
                        "stalled": result.stalled,
                        "cpu_us": cpu / result.delivered * 1e6 if result.delivered else 0.0,
                        # Share of its core the generator used: near 1.0 means it, not the broker, set the rate.
                        "generator_load": generator / result.seconds,
                        "broker_load": cpu / result.seconds,
                        # Share of the time the broker could have run but another process had its core:
                        # the machine, not the broker nor the generator, took that from the rate.
                        "broker_waiting": (marks["wait_end"] - marks["wait_start"]) / result.seconds,
                    }
                )
                print(f"  {broker.name:9} {label:40} {result.rate:>10,.0f} msg/s  {rows[-1]['cpu_us']:6.2f} us CPU/msg"
                      f"  broker {rows[-1]['broker_load']:4.0%} (waiting {rows[-1]['broker_waiting']:4.0%})"
                      f" generator {rows[-1]['generator_load']:4.0%} of a core"
                      f"  lost {result.lost} dup {result.duplicated}{' STALLED' if result.stalled else ''}", flush=True)
                if tracer is not None:
                    rows[-1]["syscalls"] = marks["syscalls"]
                    print(f"  {broker.name:9} {label:40} {marks['syscalls']:,} system calls for {result.delivered:,} messages"
                          f" = {marks['syscalls'] / max(result.delivered, 1):.3f} per message", flush=True)
    return rows


async def run_latency(broker: BrokerProcess, seconds: float) -> list[dict[str, Any]]:
    rows = []
    for qos in (0, 1):
        marks: dict[str, float] = {}
        latencies, sent = await loadgen.latency(
            "127.0.0.1", broker.port, qos=qos, seconds=seconds, ready=lambda: marks.setdefault("cpu", broker.cpu())
        )
        cpu = broker.cpu() - marks["cpu"]
        latencies.sort()
        n = len(latencies)
        row = {
            "scenario": f"latency at 1,000 msg/s, QoS {qos}, 64 B",
            "p50_ms": latencies[n // 2] * 1e3 if n else float("nan"),
            "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1e3 if n else float("nan"),
            "p999_ms": latencies[min(n - 1, int(n * 0.999))] * 1e3 if n else float("nan"),
            "delivered": n,
            "expected": sent,
            "cpu_us": cpu / n * 1e6 if n else 0.0,
        }
        rows.append(row)
        print(f"  {broker.name:9} {row['scenario']:40} p50 {row['p50_ms']:.3f} ms p99 {row['p99_ms']:.3f} ms p99.9 {row['p999_ms']:.3f} ms"
              f"  {row['cpu_us']:.1f} us CPU/msg  {n}/{sent}", flush=True)
    return rows


async def run_connections(broker: BrokerProcess, count: int, idle: int) -> dict[str, Any]:
    cpu = broker.cpu()
    rate = loadgen.connect_rate("127.0.0.1", broker.port, count)
    cpu = broker.cpu() - cpu
    await asyncio.sleep(1)  # let the broker forget the sessions of the closed connections
    base = broker.rss()
    held = loadgen.idle_connections("127.0.0.1", broker.port, idle, broker.rss)
    row = {"connect_rate": rate, "cpu_us_per_connection": cpu / count * 1e6, "idle": idle, "rss_idle_mb": held / 2**20, "rss_base_mb": base / 2**20}
    print(f"  {broker.name:9} {rate:,.0f} connections/s ({row['cpu_us_per_connection']:.0f} us CPU each); {idle} idle connections: RSS {held / 2**20:.1f} MB"
          f" (before {base / 2**20:.1f} MB)", flush=True)
    return row


def relay_loop(broker_args: list[str]) -> str:
    """The relay's ``--event-loop=`` option for the loop the broker runs on (its default: ``auto``)."""
    choice = next((a.split("=", 1)[1] for a in broker_args if a.startswith("--event-loop=")), "auto")
    if choice == "auto":
        choice = "uvloop" if loop_factory("auto") is not None else "asyncio"
    return f"--event-loop={choice}"


def broker_extra(name: str, args: argparse.Namespace) -> list[str]:
    """The extra options of ``name``'s command line: ``--broker-arg`` for ours; the relay takes the
    broker's --event-loop too (the floor on the loop the broker runs on)."""
    if name == "mqttfast":
        return list(args.broker_arg)
    return [relay_loop(args.broker_arg)] if name == "relay" else []


async def measure(name: str, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with running(name, broker_extra(name, args)) as broker:
        if not args.skip_flows:
            out["flows"] = await run_flows(
                broker, args.seconds, args.idle_subscriptions, args.only, args.strace, (args.window_qos0, args.window_qos1)
            )
        if not args.skip_latency:
            out["latency"] = await run_latency(broker, args.latency_seconds)
        if not args.skip_connections:
            out["connections"] = await run_connections(broker, args.connections, args.idle_connections)
    return out


def _ratio(ours: float, theirs: float | None) -> str:
    return f"{ours / theirs:.1f}x" if theirs else "-"


def table(results: dict[str, dict[str, Any]]) -> str:
    """Markdown tables of the flows (msg/s, ratios, CPU/msg), latency and connections."""
    names = list(results)
    lines = []
    if all("flows" in r for r in results.values()):
        head = "| scenario | " + " | ".join(f"{n} msg/s" for n in names)
        head += " | vs mosquitto | vs amqtt | " + " | ".join(f"{n} µs CPU/msg" for n in names) + " | QoS 1/2 lost/dup |"
        lines += [head, "|" + "---|" * (head.count("|") - 1)]
        by_name = {n: {row["scenario"]: row for row in results[n]["flows"]} for n in names}
        for scenario in by_name[names[0]]:
            rows = {n: by_name[n].get(scenario) for n in names}
            ours = rows.get("mqttfast")
            rate = {n: (row["rate"] if row else None) for n, row in rows.items()}
            cells = [f"{rate[n]:,.0f}" if rate[n] is not None else "-" for n in names]
            ratios = [
                _ratio(ours["rate"], rate.get(other)) if ours else "-" for other in ("mosquitto", "amqtt")
            ]
            cpus = [f"{rows[n]['cpu_us']:.2f}" if rows[n] else "-" for n in names]
            loss = ", ".join(
                f"{n} {row['lost']}/{row['duplicated']}{' stalled' if row['stalled'] else ''}"
                for n, row in rows.items()
                if row and "QoS 0" not in scenario
            )
            lines.append(f"| {scenario} | " + " | ".join(cells + ratios + cpus) + f" | {loss or '-'} |")
    if all("latency" in r for r in results.values()):
        lines += ["", "| at 1,000 msg/s | " + " | ".join(f"{n} p50 / p99 / p99.9 ms | {n} µs CPU/msg" for n in names) + " |"]
        lines.append("|" + "---|" * (1 + 2 * len(names)))
        for i, row in enumerate(results[names[0]]["latency"]):
            cells = []
            for n in names:
                other = results[n]["latency"][i]
                cells += [f"{other['p50_ms']:.2f} / {other['p99_ms']:.2f} / {other['p999_ms']:.2f}", f"{other['cpu_us']:.1f}"]
            lines.append(f"| {row['scenario']} | " + " | ".join(cells) + " |")
    if all("connections" in r for r in results.values()):
        lines += ["", "| | " + " | ".join(names) + " |", "|" + "---|" * (1 + len(names))]
        lines.append("| connections/s | " + " | ".join(f"{results[n]['connections']['connect_rate']:,.0f}" for n in names) + " |")
        lines.append(
            "| broker CPU per connection (µs) | "
            + " | ".join(f"{results[n]['connections']['cpu_us_per_connection']:.0f}" for n in names)
            + " |"
        )
        idle = results[names[0]]["connections"]["idle"]
        lines.append(
            f"| RSS with {idle:,} idle connections (MB) | "
            + " | ".join(f"{results[n]['connections']['rss_idle_mb']:.0f}" for n in names)
            + " |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--brokers",
        default=",".join(BROKERS),
        help="comma-separated, from " + ", ".join(BROKERS) + " (and relay: no broker, the floor of the latency run only)",
    )
    parser.add_argument("--seconds", type=float, default=1.5, help="sending time of each flow")
    parser.add_argument("--latency-seconds", type=float, default=3.0)
    parser.add_argument("--idle-subscriptions", type=int, default=10000)
    parser.add_argument("--connections", type=int, default=2000, help="CONNECT rounds of the connections/s run")
    parser.add_argument("--idle-connections", type=int, default=10000)
    parser.add_argument("--window-qos0", type=int, help="messages a publisher may be ahead at QoS 0 (default 2000)")
    parser.add_argument("--window-qos1", type=int, help="messages a publisher may be ahead at QoS 1 and 2 (default 400)")
    parser.add_argument("--only", help="run the flows whose label contains this")
    parser.add_argument("--skip-flows", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-connections", action="store_true")
    parser.add_argument("--broker-arg", action="append", default=[], help="an extra option for python -m mqttfast.broker")
    parser.add_argument("--strace", action="store_true", help="count the broker's system calls during each flow (slows it)")
    parser.add_argument(
        "--latency-rounds",
        type=int,
        default=1,
        help="run the fixed-rate part this many times, the brokers alternated round by round (each fresh),"
        " then the medians of CPU per message and p99",
    )
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args(argv)
    pin_self()
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}", flush=True)
    rounds = args.latency_rounds if not args.skip_latency else 1
    if rounds > 1:
        args.skip_latency = True  # measured below, round by round
    results: dict[str, Any] = {name: asyncio.run(measure(name, args)) for name in args.brokers.split(",")}
    if rounds > 1:
        latency = asyncio.run(latency_rounds(args, rounds))
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}", flush=True)
    print(table(results))
    if rounds > 1:
        print(latency_table(latency, rounds))
        results = {"by_broker": results, "latency_rounds": latency}
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


async def latency_rounds(args: argparse.Namespace, rounds: int) -> dict[str, list[list[dict[str, Any]]]]:
    """The fixed-rate run ``rounds`` times, every broker once per round (fresh each time): a change of
    the host's state between two runs then hits every broker, not one."""
    runs: dict[str, list[list[dict[str, Any]]]] = {}
    for _ in range(rounds):
        for name in args.brokers.split(","):
            with running(name, broker_extra(name, args)) as broker:
                runs.setdefault(name, []).append(await run_latency(broker, args.latency_seconds))
    return runs


def latency_table(runs: dict[str, list[list[dict[str, Any]]]], rounds: int) -> str:
    """Medians over the rounds: CPU per message and p99 of each broker, and mqttfast's CPU over mosquitto's."""
    lines = [
        f"\n| at 1,000 msg/s, median of {rounds} alternated rounds | " + " | ".join(f"{n} µs CPU/msg (p99 ms)" for n in runs)
        + " | mqttfast / mosquitto CPU (each round) |",
        "|---|" + "---|" * (len(runs) + 1),
    ]
    for i, row in enumerate(next(iter(runs.values()))[0]):
        cpu = {n: [r[i]["cpu_us"] for r in rs] for n, rs in runs.items()}
        p99 = {n: [r[i]["p99_ms"] for r in rs] for n, rs in runs.items()}
        cells = [f"{statistics.median(cpu[n]):.1f} ({statistics.median(p99[n]):.2f})" for n in runs]
        ratio = "-"
        if "mqttfast" in cpu and "mosquitto" in cpu:
            each = [ours / theirs for ours, theirs in zip(cpu["mqttfast"], cpu["mosquitto"])]
            ratio = f"{statistics.median(cpu['mqttfast']) / statistics.median(cpu['mosquitto']):.2f}x (" + ", ".join(f"{r:.2f}" for r in each) + ")"
        lines.append(f"| {row['scenario']} | " + " | ".join(cells) + f" | {ratio} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
