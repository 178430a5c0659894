#!/usr/bin/env python
"""Run the benchmark suite and print the results as Markdown.

    python benchmarks/report.py [--quick] [--1m] [--stat min|median] [--output FILE] [--json FILE]

Runs ``pytest benchmarks`` with pytest-benchmark (``--benchmark-json``), then
prints: the machine and versions, time per operation of every contender for
every codec case with the ratios (compiled vs fallback, compiled vs each
peer), varint, streaming packets/s, payload 64 B vs 1 MB, matcher insert and
lookup per size with memory per subscription, and the issue #3 targets as a
PASS/MISS check list with the measured ratios.

``--quick`` uses short rounds (the whole run stays under two minutes);
``--stat median`` reports the median round instead of the fastest one (the default, ``min``);
``--1m`` adds the 1M-subscription matcher (sets ``MQTTFAST_BENCH_1M=1``;
minutes); ``--json FILE`` keeps pytest-benchmark's raw JSON.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# Run as a script: the repository root goes on the path so that the ``benchmarks`` package imports.
sys.path.insert(0, ROOT)

from benchmarks.helpers.workloads import CASES, payload_size_wire  # noqa: E402

COMPILED, FALLBACK = "mqttfast-compiled", "mqttfast-fallback"
PEERS = ["mqtt5", "amqtt", "mqttools", "paho"]


# ---------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------


def run_pytest(json_path: str, quick: bool, one_m: bool) -> None:
    cmd = [sys.executable, "-m", "pytest", HERE, "-q", f"--benchmark-json={json_path}", "--benchmark-sort=name"]
    if quick:
        cmd += ["--benchmark-min-time=0.00002", "--benchmark-max-time=0.05", "--benchmark-min-rounds=3", "--benchmark-warmup=off"]
    else:
        cmd += ["--benchmark-max-time=1.0", "--benchmark-min-rounds=5", "--benchmark-warmup=on"]
    env = dict(os.environ)
    if one_m:
        env["MQTTFAST_BENCH_1M"] = "1"
    print("running:", " ".join(cmd), file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    tail = "\n".join(proc.stdout.splitlines()[-3:])
    print(tail, file=sys.stderr)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-20000:] + proc.stderr[-5000:])
        raise SystemExit(f"pytest failed with exit code {proc.returncode}")


# ---------------------------------------------------------------------------
# environment
# ---------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def version(dist: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def header(args) -> list[str]:
    try:
        import mqttfast._compiled as c

        impl = f"compiled twin importable (`IMPLEMENTATION = {c.IMPLEMENTATION!r}`)"
    except ImportError as exc:
        impl = f"compiled twin NOT importable ({exc})"
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    cmd = "python benchmarks/report.py" + (" --quick" if args.quick else "") + (" --1m" if args.one_m else "")
    if args.stat != "min":
        cmd += f" --stat {args.stat}"
    return [
        "# mqttfast benchmarks",
        "",
        f"- command: `{cmd}` ({datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC)",
        f"- machine: {cpu_model()}, {os.cpu_count()} logical cores ({affinity} usable), {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), {impl}",
        "- versions: "
        + ", ".join(
            f"{d} {version(d)}" for d in ("mqttfast", "Cython", "mqtt5", "amqtt", "mqttools", "paho-mqtt", "pytest-benchmark")
        ),
        f"- times are the {STAT_WORDS[args.stat]} per operation; `x` columns are how many "
        "times faster mqttfast-compiled is "
        "(peer time / compiled time); `—` means the contender cannot express the case.",
        "",
    ]


# ---------------------------------------------------------------------------
# formatting
# ---------------------------------------------------------------------------


def fmt_time(seconds) -> str:
    if seconds is None:
        return "—"
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def fmt_ratio(r) -> str:
    if r is None:
        return "—"
    return f"{r:.2f}x" if r < 10 else (f"{r:.1f}x" if r < 100 else f"{r:.0f}x")


def ratio(slow, fast):
    return None if slow is None or fast is None or fast == 0 else slow / fast


def table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out + [""]


# ---------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------


#: What each choice of ``--stat`` reports, in the words of the header.
STAT_WORDS = {
    # Other processes on a shared machine only ever add time to a round, so the
    # fastest round is the closest to the code's own cost (the reasoning of timeit).
    "min": "fastest round's mean (other processes on a shared machine only add time)",
    "median": "median round's mean",
}


def load(json_path: str, stat: str = "min"):
    """``{(op, case): {contender: (seconds per op, extra_info)}}``."""
    with open(json_path) as f:
        data = json.load(f)
    results: dict = defaultdict(dict)
    for b in data["benchmarks"]:
        info = b.get("extra_info") or {}
        if "op" not in info:
            continue
        per_op = b["stats"][stat] / info.get("ops_per_call", 1)
        results[(info["op"], info["case"])][info["contender"]] = (per_op, info)
    return results


def t(results, op, case, contender):
    entry = results.get((op, case), {}).get(contender)
    return None if entry is None else entry[0]


def codec_section(results, lines):

    contenders = [COMPILED, FALLBACK] + PEERS
    head = ["case"] + contenders + ["x fallback"] + [f"x {p}" for p in PEERS]
    for op in ("decode", "encode"):
        rows = []
        for case in CASES:
            c = t(results, op, case, COMPILED)
            row = [case] + [fmt_time(t(results, op, case, k)) for k in contenders]
            row += [fmt_ratio(ratio(t(results, op, case, k), c)) for k in [FALLBACK] + PEERS]
            rows.append(row)
        lines += [f"## {op.capitalize()}", ""] + table(head, rows)
    rows = []
    for case in CASES:
        floor, c = t(results, "encode", case, "floor"), t(results, "encode", case, COMPILED)
        rows.append([case, fmt_time(floor), fmt_time(c), fmt_time(c - floor) if floor and c else "—"])
    lines += [
        "Floor: the cheapest call that returns a new `bytes` of the packet's size "
        "(`operator.add` of its two halves), timed by the same harness:",
        "",
    ]
    lines += table(["case", "floor", COMPILED, "compiled above floor"], rows)


STREAM_VARIANTS = (
    ("stream", "default (payloads < 64 KiB copied)"),
    ("stream-read", "default, every payload read"),
    ("stream-views", "views (copy_threshold=0)"),
    ("stream-copy", "copy=True"),
)


def varint_stream_section(results, lines):
    rows = []
    for op in ("varint-encode", "varint-decode"):
        c, f = t(results, op, "varint", COMPILED), t(results, op, "varint", FALLBACK)
        rows.append([op, fmt_time(c), fmt_time(f), fmt_ratio(ratio(f, c))])
    lines += ["## Variable byte integer (mean over 9 values, 1 to 4 bytes)", ""]
    lines += table(["op", COMPILED, FALLBACK, "x fallback"], rows)
    rows = []
    for op, label in STREAM_VARIANTS:
        for k in (COMPILED, FALLBACK):
            per = t(results, op, "stream-10k", k)
            rows.append([k, label, fmt_time(per), f"{1 / per:,.0f}" if per else "—", fmt_time(per * 10_000) if per else "—"])
    lines += ["## Streaming decode: 10,000 concatenated 3.1.1 PUBLISH (30-60 B) through `Decoder.feed`", ""]
    lines += table(["contender", "payloads", "per packet", "packets/s (one core)", "per 10k feed"], rows)


def shares_memory():
    """For each size contender: does the 1 MB payload decode share memory with the input?"""
    out = {}
    data = bytearray(payload_size_wire("1MB"))
    for name in (COMPILED, FALLBACK, "mqtt5"):
        try:
            if name == "mqtt5":
                import mqtt5

                payload = mqtt5.read(memoryview(data))[0].payload
            else:
                import importlib

                m = importlib.import_module("mqttfast._compiled" if name == COMPILED else "mqttfast.fallback")
                payload = m.decode(data, 5)[0].payload
        except ImportError:
            out[name] = None
            continue
        if isinstance(payload, memoryview):
            before = bytes(payload[-1:])
            data[-1] ^= 0xFF
            out[name] = bytes(payload[-1:]) != before
            data[-1] ^= 0xFF
        else:
            out[name] = False
    return out


def size_section(results, lines, shared):
    rows = []
    for k in (COMPILED, FALLBACK, "mqtt5"):
        small, big = t(results, "decode-size", "payload-64B", k), t(results, "decode-size", "payload-1MB", k)
        s = shared.get(k)
        rows.append([k, fmt_time(small), fmt_time(big), fmt_ratio(ratio(big, small)), "—" if s is None else ("yes" if s else "no (copy)")])
    lines += ["## Decode cost, 64 B vs 1 MB payload (MQTT 5 PUBLISH, QoS 0)", ""]
    lines += table(["contender", "64 B", "1 MB", "1 MB / 64 B", "payload shares input memory"], rows)


def matcher_section(results, lines):
    sizes = sorted({int(case.split("-")[1]) for op, case in results if op == "matcher-lookup"})
    rows = []
    for n in sizes:
        case = f"matcher-{n}"
        c = t(results, "matcher-lookup", case, COMPILED)
        for k in (COMPILED, FALLBACK, "paho", "paho-scan"):
            entry = results.get(("matcher-lookup", case), {}).get(k)
            if entry is None:
                continue
            info = entry[1]
            mem = info.get("bytes_per_sub")
            rows.append(
                [
                    f"{n:,}",
                    k,
                    fmt_time(t(results, "matcher-insert", case, k)),
                    fmt_time(entry[0]),
                    fmt_ratio(ratio(entry[0], c)) if k != COMPILED else "1.0x",
                    "—" if mem is None else f"{mem:.0f} B",
                    f"{info['matches_per_lookup']:.2f}" if "matches_per_lookup" in info else "—",
                ]
            )
    lines += ["## Topic matcher (70% exact, 20% '+', 10% '#', 4-7 levels)", ""]
    lines += table(
        ["subscriptions", "contender", "insert / sub", "lookup", "lookup x (vs compiled)", "memory / sub (tracemalloc)", "matches / lookup"],
        rows,
    )
    return sizes


def _below_floor(contender, time, times, floor, measured):
    """Why a missed "``times``x faster than ``contender``" cannot be met, when the floor says so."""
    if floor is None or measured >= times or time / times >= floor:
        return ""
    return (
        f"{contender} / {times} = {fmt_time(time / times)} is below the "
        f"{fmt_time(floor)} CPython itself needs to return a new bytes of this size"
    )


def targets_section(results, lines, sizes, shared):

    checks = []

    def check(label, value, ok, note=""):
        if value is None:
            checks.append(f"- [ ] NOT MEASURED — {label}{(' (' + note + ')') if note else ''}")
        else:
            checks.append(f"- [{'x' if ok else ' '}] {'PASS' if ok else 'MISS'} — {label}: {value}{(' (' + note + ')') if note else ''}")

    pubs = [c for c in CASES if c.startswith("publish")]
    for op in ("decode", "encode"):
        for case in pubs:
            c = t(results, op, case, COMPILED)
            r = ratio(t(results, op, case, FALLBACK), c)
            floor = t(results, op, case, "floor")
            if r is not None:
                check(
                    f"PUBLISH {op} {case}: compiled >= 15x fallback", fmt_ratio(r), r >= 15,
                    _below_floor(FALLBACK, t(results, op, case, FALLBACK), 15, floor, r),
                )
            for peer in ("amqtt", "mqttools"):
                r = ratio(t(results, op, case, peer), c)
                if r is not None:
                    note = _below_floor(peer, t(results, op, case, peer), 30, floor, r)
                    check(f"PUBLISH {op} {case}: compiled >= 30x {peer}", fmt_ratio(r), r >= 30, note)
            r = ratio(t(results, op, case, "mqtt5"), c)
            if r is not None:
                check(f"PUBLISH {op} {case}: compiled faster than mqtt5 (Rust)", fmt_ratio(r), r > 1)
    # The target is decoding; the row with every payload read is shown in the table, not judged.
    for op, label in STREAM_VARIANTS:
        if op == "stream-read":
            continue
        per = t(results, op, "stream-10k", COMPILED)
        check(
            f"streaming decode >= 3,000,000 PUBLISH/s through Decoder ({label})",
            f"{1 / per:,.0f}/s" if per else None,
            per is not None and 1 / per >= 3e6,
        )

    top = max(sizes) if sizes else None
    note = "" if top == 1_000_000 else f"measured at {top:,}; the target is at 1M: run with --1m"
    if top:
        case = f"matcher-{top}"
        c = t(results, "matcher-lookup", case, COMPILED)
        r = ratio(t(results, "matcher-lookup", case, "paho"), c)
        check("matcher lookup >= 20x paho MQTTMatcher", fmt_ratio(r), r is not None and r >= 20, note)
        c10 = t(results, "matcher-lookup", "matcher-10000", COMPILED)
        r = ratio(c, c10)
        check(f"matcher lookup at {top:,} within 2x of 10k", fmt_ratio(r), r is not None and r <= 2, note)
        mine = results.get(("matcher-lookup", case), {}).get(COMPILED, (None, {}))[1].get("bytes_per_sub")
        paho = results.get(("matcher-lookup", case), {}).get("paho", (None, {}))[1].get("bytes_per_sub")
        check(
            "matcher memory per subscription below paho's",
            None if mine is None or paho is None else f"{mine:.0f} B vs {paho:.0f} B",
            mine is not None and paho is not None and mine < paho,
            note,
        )
    small, big = t(results, "decode-size", "payload-64B", COMPILED), t(results, "decode-size", "payload-1MB", COMPILED)
    r = ratio(big, small)
    check("zero-copy: 1 MB PUBLISH decode within 1.5x of 64 B", fmt_ratio(r), r is not None and r <= 1.5)
    s = shared.get(COMPILED)
    check("zero-copy: decoded payload shares memory with the input", None if s is None else ("yes" if s else "no"), bool(s))
    for op in ("decode", "encode"):
        for case in CASES:
            f = t(results, op, case, FALLBACK)
            for peer in ("amqtt", "mqttools"):
                p = t(results, op, case, peer)
                if p is not None and f is not None:
                    r = ratio(p, f)
                    check(f"fallback faster than {peer}: {op} {case}", f"{r:.2f}x", r > 1)
    lines += ["## Issue #3 targets", ""] + checks + [""]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short rounds (whole run < 2 minutes)")
    parser.add_argument("--1m", dest="one_m", action="store_true", help="include the 1M-subscription matcher")
    parser.add_argument("--output", help="also write the Markdown to this file")
    parser.add_argument("--json", help="keep pytest-benchmark's JSON here")
    parser.add_argument("--from-json", help="skip running; report from an existing pytest-benchmark JSON")
    parser.add_argument("--stat", choices=sorted(STAT_WORDS), default="min", help="round statistic to report (default: min)")
    args = parser.parse_args(argv)

    if args.from_json:
        json_path = args.from_json
    else:
        json_path = args.json or os.path.join(tempfile.mkdtemp(prefix="mqttfast-bench-"), "bench.json")
        run_pytest(json_path, args.quick, args.one_m)
    results = load(json_path, args.stat)
    shared = shares_memory()
    lines = header(args)
    codec_section(results, lines)
    varint_stream_section(results, lines)
    size_section(results, lines, shared)
    sizes = matcher_section(results, lines)
    targets_section(results, lines, sizes, shared)
    text = "\n".join(lines)
    print(text)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
