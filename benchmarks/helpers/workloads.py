"""Shared inputs of the benchmarks: every contender sees exactly these.

Packet cases are described once, as the keyword arguments of mqttfast's
packet classes plus the protocol version; ``wire(case)`` is the reference
encoding (made by ``mqttfast.fallback``, the readable twin) that every decoder
is fed. The peer libraries build their own native packet objects from the same
fields in ``adapters.py``.

Cases (names are the benchmark ids' first part):

* ``publish-3.1.1-qos0-64B``   MQTT 3.1.1, QoS 0, topic ``sensors/room1/temperature``, 64 B payload.
* ``publish-5-qos1-256B``      MQTT 5.0, QoS 1, 256 B payload, payload format indicator,
  message expiry, content type, one user property and a topic alias.
* ``publish-5-qos0-256B-noup`` the same at QoS 0 without the user property: the only
  MQTT 5 PUBLISH ``mqttools`` can read and write (it supports QoS 0 only and encodes
  a user property as one string instead of a name/value pair), so that it takes
  part in a PUBLISH comparison at all.
* ``connect-3.1.1`` / ``connect-5`` (5.0 with session expiry, receive maximum,
  topic alias maximum and maximum packet size), both with username and password.
* ``subscribe-3.1.1`` / ``subscribe-5``: five filters, mixed QoS and wildcards.
"""

from __future__ import annotations

import random

TOPIC = "sensors/room1/temperature"
PAYLOAD_64 = bytes(range(64))
PAYLOAD_256 = bytes(i & 0xFF for i in range(7, 7 + 256))
PAYLOAD_1M = bytes(1 << 20)

SUB_FILTERS = [
    ("sensors/+/temperature", 0),
    ("sensors/room1/#", 1),
    ("home/kitchen/light/state", 1),
    ("factory/line4/+/vibration", 2),
    ("alerts/#", 0),
]

#: name -> (packet class name, protocol version, field keywords)
CASES: dict[str, tuple[str, int, dict]] = {
    "publish-3.1.1-qos0-64B": ("Publish", 4, dict(topic=TOPIC, payload=PAYLOAD_64)),
    "publish-5-qos1-256B": (
        "Publish",
        5,
        dict(
            topic=TOPIC,
            payload=PAYLOAD_256,
            qos=1,
            packet_id=42,
            payload_format_indicator=1,
            message_expiry_interval=3600,
            content_type="application/json",
            user_properties=[("unit", "celsius")],
            topic_alias=7,
        ),
    ),
    "publish-5-qos0-256B-noup": (
        "Publish",
        5,
        dict(
            topic=TOPIC,
            payload=PAYLOAD_256,
            payload_format_indicator=1,
            message_expiry_interval=3600,
            content_type="application/json",
            topic_alias=7,
        ),
    ),
    "connect-3.1.1": (
        "Connect",
        4,
        dict(
            protocol_version=4,
            client_id="sensor-gateway-0042",
            clean_start=True,
            keep_alive=60,
            username="gateway",
            password=b"s3cret-token",
        ),
    ),
    "connect-5": (
        "Connect",
        5,
        dict(
            protocol_version=5,
            client_id="sensor-gateway-0042",
            clean_start=True,
            keep_alive=60,
            username="gateway",
            password=b"s3cret-token",
            session_expiry_interval=3600,
            receive_maximum=100,
            topic_alias_maximum=16,
            maximum_packet_size=1 << 20,
        ),
    ),
    "subscribe-3.1.1": ("Subscribe", 4, dict(packet_id=10, filters=SUB_FILTERS)),
    "subscribe-5": ("Subscribe", 5, dict(packet_id=10, filters=SUB_FILTERS)),
}

PUBLISH_CASES = [name for name in CASES if name.startswith("publish")]
CONNECT_CASES = [name for name in CASES if name.startswith("connect")]
SUBSCRIBE_CASES = [name for name in CASES if name.startswith("subscribe")]

#: 64 B versus 1 MB payload, MQTT 5 QoS 0 without properties (so mqtt5 can take part).
PAYLOAD_SIZE_CASES = {"64B": PAYLOAD_64, "1MB": PAYLOAD_1M}

VARINT_VALUES = [0, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455]

STREAM_PACKETS = 10_000


def build_packet(m, name: str):
    """The mqttfast packet of case ``name``, built with module ``m`` (compiled or fallback)."""
    cls_name, version, fields = CASES[name]
    fields = dict(fields)
    if cls_name == "Subscribe":
        fields["subscriptions"] = [m.Subscription(topic_filter=f, qos=q) for f, q in fields.pop("filters")]
    return getattr(m, cls_name)(**fields)


def version_of(name: str) -> int:
    return CASES[name][1]


def wire(name: str) -> bytes:
    """The reference encoding of case ``name`` (by ``mqttfast.fallback``)."""
    import mqttfast.fallback as fb

    return fb.encode(build_packet(fb, name), version_of(name))


def payload_size_wire(size_name: str) -> bytes:
    import mqttfast.fallback as fb

    return fb.encode(fb.Publish(topic=TOPIC, payload=PAYLOAD_SIZE_CASES[size_name]), 5)


def stream(n: int = STREAM_PACKETS) -> bytes:
    """``n`` small MQTT 3.1.1 QoS 0 PUBLISH packets, concatenated (16-24 B payloads, 100 topics)."""
    import mqttfast.fallback as fb

    parts = []
    for i in range(n):
        topic = f"sensors/room{i % 100}/temperature"
        parts.append(fb.encode(fb.Publish(topic=topic, payload=b"%d.%d C" % (20 + i % 10, i % 10) + bytes(10 + i % 9)), 4))
    return b"".join(parts)


# ---------------------------------------------------------------------------
# Matcher workload
# ---------------------------------------------------------------------------

#: Subscriptions per shard (70 exact, 20 with '+', 10 ending in '#').
SHARD_SIZE = 100
_VOCAB = ["alpha", "beta", "gamma", "delta"]


def matcher_workload(n: int, seed: int = 1, n_topics: int = 1000) -> tuple[list[str], list[str]]:
    """``(filters, topics)``: ``n`` distinct topic filters and ``n_topics`` topic names to look up.

    Mix: 70% exact filters, 20% containing '+' (one or two levels), 10% ending
    in '#'; every filter has 4-7 levels. Deterministic from ``seed``.

    How the number of matches is kept comparable across sizes: the filters
    come in shards of ``SHARD_SIZE`` = 100 (70/20/10), each shard owning its
    own first level (``t{shard}``, i.e. a tenant or device fleet, as broker
    topic trees usually are) and drawing its deeper levels from the same small
    vocabulary (4 words per level). Wildcards never stand at the first level,
    so a topic can only match filters of its own shard, and every shard is
    generated by the same random process: the distribution of matches per
    lookup is the same at 10k, 100k and 1M subscriptions (only the fan-out at
    the root grows). Topics are drawn from the exact filters of random shards
    (so every lookup matches at least its own exact subscription; about half
    of them also get one or more wildcard matches — ``benchmarks/report.py``
    prints the measured average).
    """
    if n % SHARD_SIZE:
        raise ValueError(f"n must be a multiple of {SHARD_SIZE}")
    rng = random.Random(seed)
    filters: list[str] = []
    exact_by_shard: list[list[str]] = []
    for shard in range(n // SHARD_SIZE):
        root = f"t{shard}"
        seen: set[str] = set()
        exact: list[str] = []

        def fresh(make):
            while True:
                f = make()
                if f not in seen:
                    seen.add(f)
                    return f

        def levels(k):
            return [rng.choice(_VOCAB) for _ in range(k - 1)]

        for _ in range(70):
            f = fresh(lambda: "/".join([root, *levels(rng.randint(4, 7))]))
            exact.append(f)
        for _ in range(20):

            def plus():
                parts = [root, *levels(rng.randint(4, 7))]
                for pos in rng.sample(range(1, len(parts)), rng.choice((1, 1, 2))):
                    parts[pos] = "+"
                return "/".join(parts)

            fresh(plus)
        for _ in range(10):

            def hash_():
                # 4-7 levels including the '#'
                return "/".join([root, *levels(rng.randint(4, 7) - 1), "#"])

            fresh(hash_)
        filters.extend(sorted(seen, key=lambda f: (f not in exact, f)))
        exact_by_shard.append(exact)
    rng.shuffle(filters)
    topics = [rng.choice(rng.choice(exact_by_shard)) for _ in range(n_topics)]
    return filters, topics


MATCHER_SIZES = [10_000, 100_000, 1_000_000]
