"""``python -m mqttfast``: which implementation is active, and the compiled and
pure-Python twins timed side by side on the same inputs.

A quick look, not the benchmark suite (that is ``benchmarks/``): each case is
timed with ``timeit`` for about 0.2 s per implementation, best of 3.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import random
import sys
import timeit
from types import ModuleType
from typing import Callable

#: (name, zero-argument callable, operations per call).
Case = tuple[str, Callable[[], object], int]


def _cases(api: ModuleType) -> list[Case]:
    """The timed cases, built from one implementation's API."""
    publish_v4 = api.Publish(topic="sensors/room1/temperature", payload=bytes(range(64)), qos=0)
    wire_v4 = api.encode(publish_v4, version=4)
    publish_v5 = api.Publish(
        topic="devices/abc123/telemetry/power",
        payload=bytes(256),
        qos=1,
        packet_id=1234,
        payload_format_indicator=0,
        message_expiry_interval=3600,
        content_type="application/octet-stream",
        topic_alias=7,
        user_properties=[("trace", "4bf92f3577b34da6")],
    )
    wire_v5 = api.encode(publish_v5, version=5)
    stream = b"".join(
        api.encode(api.Publish(topic=f"t/{i % 50}", payload=b"x" * 16), version=4) for i in range(1000)
    )

    def stream_decode() -> None:
        decoder = api.Decoder(version=4)
        decoder.feed(stream)

    rng = random.Random(7)
    matcher = api.TopicMatcher()
    for i in range(10_000):
        levels = [f"l{rng.randrange(20)}" for _ in range(rng.randrange(4, 8))]
        kind = rng.random()
        if kind < 0.2:
            levels[rng.randrange(len(levels))] = "+"
        elif kind < 0.3:
            levels[-1] = "#"
        matcher.subscribe("/".join(levels), i)
    topics = ["/".join(f"l{rng.randrange(20)}" for _ in range(rng.randrange(4, 8))) for _ in range(100)]

    def match_100() -> None:
        for topic in topics:
            matcher.match(topic)

    qos1_round = _session_round(api, qos=1, messages=100)

    return [
        ("decode PUBLISH 3.1.1 QoS0 64 B", lambda: api.decode(wire_v4, 4), 1),
        ("encode PUBLISH 3.1.1 QoS0 64 B", lambda: api.encode(publish_v4, 4), 1),
        ("decode PUBLISH 5.0 QoS1 256 B + props", lambda: api.decode(wire_v5, 5), 1),
        ("encode PUBLISH 5.0 QoS1 256 B + props", lambda: api.encode(publish_v5, 5), 1),
        ("Decoder.feed 1000 PUBLISH (per packet)", stream_decode, 1000),
        ("encode_varint(2_097_152)", lambda: api.encode_varint(2_097_152), 1),
        ("decode_varint 4 bytes", lambda: api.decode_varint(b"\x80\x80\x80\x01"), 1),
        ("TopicMatcher.match, 10k subs (per topic)", match_100, 100),
        ("session round 5.0 QoS1 64 B (per message)", qos1_round, 100),
    ]


def _session_round(api: ModuleType, qos: int, messages: int) -> Callable[[], None]:
    """A client publishing ``messages`` through a ServerConnection back to itself, all acks included."""
    client = api.ClientConnection(5)
    server = api.ServerConnection()
    client.connect("demo")
    server.receive_data(client.data_to_send())
    server.accept()
    client.receive_data(server.data_to_send())
    client.subscribe("bench/#", qos=qos)
    (request,) = server.receive_data(client.data_to_send())
    server.suback(request, [qos])
    client.receive_data(server.data_to_send())
    payload = bytes(64)

    def run() -> None:
        for _ in range(messages):
            client.publish("bench/topic", payload, qos=qos)
        for event in server.receive_data(client.data_to_send()):
            server.deliver(event.message, qos)
        client.receive_data(server.data_to_send())
        server.receive_data(client.data_to_send())

    return run


def _time(fn: Callable[[], object], per: int, budget: float) -> float:
    """Nanoseconds per operation of ``fn`` (best of 3 rounds), spending about ``budget`` seconds."""
    timer = timeit.Timer(fn)
    number, elapsed = timer.autorange()
    number = max(1, int(number * budget / max(elapsed, 1e-9) / 3))
    return min(timer.repeat(repeat=3, number=number)) / number / per * 1e9


def _positive_seconds(text: str) -> float:
    """``--budget``'s type: a finite number of seconds above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a number of seconds above 0")
    return value


def make_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m mqttfast``."""
    parser = argparse.ArgumentParser(
        prog="python -m mqttfast",
        description=(
            "Print which mqttfast implementation is active, then time the compiled and "
            "pure-Python twins side by side on the same inputs (a quick look, not the "
            "benchmark suite in benchmarks/)."
        ),
    )
    parser.add_argument(
        "--budget",
        type=_positive_seconds,
        default=0.2,
        metavar="SECONDS",
        help="time to spend per case and implementation, above 0 (default: %(default)s)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)

    import mqttfast

    print(f"mqttfast {mqttfast.__version__} on {platform.python_implementation()} {platform.python_version()}")
    print(f"IMPLEMENTATION = {mqttfast.IMPLEMENTATION!r}")
    contenders = []
    try:
        contenders.append(("compiled", importlib.import_module("mqttfast._compiled")))
    except ImportError as exc:
        print(f"compiled twins unavailable ({exc}); timing pure Python only")
    contenders.append(("pure Python", importlib.import_module("mqttfast.fallback")))

    tables = [_cases(api) for _, api in contenders]
    header = f"{'case':44}" + "".join(f"{name + ' ns':>16}" for name, _ in contenders)
    if len(contenders) == 2:
        header += f"{'speed-up':>10}"
    print(header)
    for row in zip(*tables):
        name = row[0][0]
        times = [_time(fn, per, args.budget) for _, fn, per in row]
        line = f"{name:44}" + "".join(f"{t:16.1f}" for t in times)
        if len(times) == 2:
            line += f"{times[1] / times[0]:9.1f}x"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
