"""Topic matcher benchmarks: mqttfast TopicMatcher (compiled, fallback) vs paho.

Contenders: ``mqttfast-compiled``, ``mqttfast-fallback``, ``paho`` (paho-mqtt's
``MQTTMatcher``, ``m[filter] = value`` / ``iter_match``), and ``paho-scan``
(``topic_matches_sub`` over every filter: the scan a user without a trie
writes; only at 10k, as it is O(subscriptions) per lookup).

Sizes 10k and 100k; 1M only with ``MQTTFAST_BENCH_1M=1`` (minutes). Workload:
``helpers.workloads.matcher_workload`` (70% exact / 20% '+' / 10% '#', 4-7 levels,
sharded so that matches per lookup do not depend on the size).

* insert: a fresh matcher filled with all n filters per round;
  ``ops_per_call = n`` gives the time per subscription.
* lookup: one call matches a batch of topics; ``ops_per_call`` = batch size.
* memory: ``tracemalloc`` around filling a matcher, once per size and contender
  (module-scoped fixture), divided by n, in ``extra_info["bytes_per_sub"]``.
  tracemalloc sees allocations through Python's allocators (PyMem/PyObject,
  which Cython objects and containers use); a raw ``malloc`` in an extension
  would be invisible to it.
"""

from __future__ import annotations

import gc
import tracemalloc

import pytest
from mqttfast._env import env_flag

from .helpers import workloads as w
from .helpers.contenders import load_mqttfast, record

SIZES = [10_000, 100_000] + ([1_000_000] if env_flag("MQTTFAST_BENCH_1M") else [])
CONTENDERS = ["mqttfast-compiled", "mqttfast-fallback", "paho"]
LOOKUP_BATCH = 256
SCAN_BATCH = 4
SEED = 1

# Size-major order (each size's workload and matchers are built once), contender-first ids.
MATRIX = [(c, n) for n in SIZES for c in CONTENDERS]
MATRIX_IDS = [f"{c}-{n // 1000}k" if n < 1_000_000 else f"{c}-1M" for c, n in MATRIX]


def _paho():
    try:
        from paho.mqtt.client import topic_matches_sub
        from paho.mqtt.matcher import MQTTMatcher
    except ImportError as exc:
        pytest.skip(f"paho-mqtt not installed: {exc}")
    return MQTTMatcher, topic_matches_sub


def _new_and_fill(contender):
    """``(new, fill, lookup)`` callables for a contender."""
    if contender == "paho":
        MQTTMatcher, _ = _paho()

        def fill(matcher, filters):
            for i, f in enumerate(filters):
                matcher[f] = i

        def lookup(matcher, topics):
            for t in topics:
                list(matcher.iter_match(t))

        return MQTTMatcher, fill, lookup, lambda m, t: sorted(m.iter_match(t))
    m = load_mqttfast(contender)

    def fill(matcher, filters):
        subscribe = matcher.subscribe
        for i, f in enumerate(filters):
            subscribe(f, i)

    def lookup(matcher, topics):
        match = matcher.match
        for t in topics:
            match(t)

    return m.TopicMatcher, fill, lookup, lambda mt, t: sorted(mt.match(t))


_workload_cache: dict = {}


def workload(n):
    if n not in _workload_cache:
        _workload_cache.clear()  # keep one size in memory at a time
        _workload_cache[n] = w.matcher_workload(n, SEED)
    return _workload_cache[n]


_built: dict = {}
_expected_cache: dict = {}


def _expected_matches(n):
    """Two lookups of size n with their matches by brute force (``topic_matches_sub``), cached."""
    if n not in _expected_cache:
        _, topic_matches_sub = _paho()
        filters, topics = workload(n)
        _expected_cache[n] = [
            (t, sorted(i for i, f in enumerate(filters) if topic_matches_sub(f, t))) for t in topics[:2]
        ]
    return _expected_cache[n]


@pytest.fixture(scope="module")
def built():
    """``(contender, n) -> (matcher, bytes_per_sub)``, built once (under tracemalloc) and reused."""

    def get(contender, n):
        key = (contender, n)
        if key not in _built:
            for old in [k for k in _built if k[1] != n]:
                del _built[old]  # free the previous size before building a bigger one
            new, fill, _, _ = _new_and_fill(contender)
            filters, _ = workload(n)
            gc.collect()
            tracemalloc.start()
            try:
                before = tracemalloc.get_traced_memory()[0]
                matcher = new()
                fill(matcher, filters)
                gc.collect()
                after = tracemalloc.get_traced_memory()[0]
            finally:
                tracemalloc.stop()
            _built[key] = (matcher, (after - before) / n)
        return _built[key]

    yield get
    _built.clear()


@pytest.mark.parametrize(("contender", "n"), MATRIX, ids=MATRIX_IDS)
def test_matcher_insert(benchmark, contender, n):
    new, fill, _, _ = _new_and_fill(contender)
    filters, _ = workload(n)
    benchmark.group = f"matcher insert {n}"
    record(benchmark, op="matcher-insert", case=f"matcher-{n}", contender=contender, ops_per_call=n, n=n)
    rounds = 5 if n <= 10_000 else (2 if n <= 100_000 else 1)
    benchmark.pedantic(fill, setup=lambda: ((new(), filters), {}), rounds=rounds, iterations=1)


@pytest.mark.parametrize(("contender", "n"), MATRIX, ids=MATRIX_IDS)
def test_matcher_lookup(benchmark, built, contender, n):
    _, _, lookup, matches = _new_and_fill(contender)
    matcher, bytes_per_sub = built(contender, n)
    filters, topics = workload(n)
    batch = topics[:LOOKUP_BATCH]
    # correctness: the matcher finds exactly the filters topic_matches_sub accepts (spot check)
    for t, expected in _expected_matches(n):
        assert matches(matcher, t) == expected, (contender, t)
    n_matches = sum(len(matches(matcher, t)) for t in batch) / len(batch)
    benchmark.group = f"matcher lookup {n}"
    record(
        benchmark,
        op="matcher-lookup",
        case=f"matcher-{n}",
        contender=contender,
        ops_per_call=len(batch),
        n=n,
        bytes_per_sub=bytes_per_sub,
        matches_per_lookup=n_matches,
    )
    benchmark(lookup, matcher, batch)


def test_matcher_scan_lookup_10k(benchmark):
    """paho's ``topic_matches_sub`` over all 10k filters: the no-trie reference."""
    _, topic_matches_sub = _paho()
    filters, topics = workload(10_000)
    batch = topics[:SCAN_BATCH]

    def scan(topics):
        for t in topics:
            [f for f in filters if topic_matches_sub(f, t)]

    benchmark.group = "matcher lookup 10000"
    record(benchmark, op="matcher-lookup", case="matcher-10000", contender="paho-scan", ops_per_call=len(batch), n=10_000)
    benchmark.pedantic(scan, args=(batch,), rounds=3, iterations=1)


def test_matcher_workload_is_comparable_across_sizes():
    """The average number of matches per lookup barely moves with the size (see matcher_workload)."""
    from mqttfast.fallback import TopicMatcher

    averages = []
    for n in (10_000, 100_000):
        filters, topics = w.matcher_workload(n, SEED)
        assert len(set(filters)) == n
        assert sum("+" in f for f in filters) == n // 5 and sum(f.endswith("#") for f in filters) == n // 10
        assert all(4 <= f.count("/") + 1 <= 7 for f in filters)
        m = TopicMatcher()
        for i, f in enumerate(filters):
            m.subscribe(f, i)
        averages.append(sum(len(m.match(t)) for t in topics) / len(topics))
    assert abs(averages[0] - averages[1]) < 0.25 * averages[0], averages
