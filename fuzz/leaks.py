"""Leak run: millions of decode/encode/forward/match cycles, valid and failing, with memory watched.

    python fuzz/leaks.py --cycles 1000000 [--implementation c-extension|pure-python]

Prints the resident set size and the Python heap (objects alive, by
``sys.getallocatedblocks``) every tenth of the run, and exits non-zero if
either grows by more than the tolerance after the warm-up tenth.
"""

import argparse
import gc
import importlib
import sys


def rss_kib():
    with open("/proc/self/statm") as file:
        return int(file.read().split()[1]) * 4


def workload(api):
    publish = api.Publish(
        topic="plant/line1/temp", payload=b"x" * 200, qos=1, packet_id=9, content_type="c", user_properties=[("k", "v")]
    )
    wire5 = api.encode(publish, 5)
    wire4 = api.encode(publish, 4)
    connect = api.encode(api.Connect(client_id="leak", will=api.Will(topic="w", payload=b"p")), 5)
    stream = wire5 * 3
    bad = [
        bytes.fromhex("30 05 0003 612f2b"),  # wildcard in topic
        bytes.fromhex("30 06 0001 61 02 7f 00"),  # unknown property
        bytes.fromhex("30 08 0001 61 04 01 01 01 01"),  # duplicate property
        bytes.fromhex("36 05 0001 61 0001"),  # QoS 3
        wire5[:-40] + b"\xff",  # cut short
        bytes.fromhex("30 ff ff ff 7f"),  # too large
    ]
    invalid = [api.Publish(topic="a/#"), api.Publish(topic="a", qos=1), api.Publish(topic="a", payload="str")]
    matcher = api.TopicMatcher()
    for i in range(200):
        matcher.subscribe(f"plant/+/s{i % 20}/#", i)

    def cycle(i):
        packet, _ = api.decode(wire5, 5)
        packet.user_properties  # build the lazy list on every other cycle
        api.encode(packet, 5)
        header, payload = api.encode_forward(packet, 5, granted_qos=0)
        api.decode(bytearray(wire4), 4, copy=True)
        api.decode(connect)
        for data in bad:
            try:
                api.decode(data, 5, max_packet_size=1 << 20)
            except api.MQTTError:
                pass
        for item in invalid:
            try:
                api.encode(item, 5)
            except (api.MQTTError, TypeError):
                pass
        decoder = api.Decoder(5)
        decoder.feed(stream[:100])
        decoder.feed(stream[100:])
        try:
            decoder.feed(bad[0])
        except api.MQTTError:
            pass
        topic_filter = f"plant/x{i % 50}/+"
        matcher.subscribe(topic_filter, i)
        matcher.match("plant/line1/s3/temp")
        matcher.match_shared("plant/line1/s3/temp")
        matcher.unsubscribe(topic_filter, i)

    return cycle


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=200_000)
    parser.add_argument("--implementation", choices=["c-extension", "pure-python"], default="c-extension")
    parser.add_argument("--tolerance-kib", type=int, default=4096)
    args = parser.parse_args(argv)
    module = "mqttfast._compiled" if args.implementation == "c-extension" else "mqttfast.fallback"
    api = importlib.import_module(module)
    cycle = workload(api)
    step = max(1, args.cycles // 10)
    samples = []
    for i in range(args.cycles):
        cycle(i)
        if (i + 1) % step == 0:
            gc.collect()
            samples.append((i + 1, rss_kib(), sys.getallocatedblocks()))
            print(f"{i + 1:>10} cycles  rss {samples[-1][1]:>8} KiB  python blocks {samples[-1][2]:>8}", flush=True)
    _, rss0, blocks0 = samples[0]
    _, rss1, blocks1 = samples[-1]
    print(f"{args.implementation}: {args.cycles} cycles, growth after warm-up: rss {rss1 - rss0:+} KiB, blocks {blocks1 - blocks0:+}")
    if rss1 - rss0 > args.tolerance_kib or blocks1 - blocks0 > 1000:
        print("memory grew: leak suspected")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
