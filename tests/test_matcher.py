"""TopicMatcher against a brute-force reference, and its bookkeeping, memory and threads."""

import random
import threading
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .helpers.implementations import implementation_params, load_implementation

LEVELS = ["a", "b", "", "$x", "é"]
topic_levels = st.lists(st.sampled_from(LEVELS), min_size=1, max_size=4)
topics = topic_levels.map("/".join).filter(bool)
filter_levels = st.lists(st.sampled_from([*LEVELS, "+"]), min_size=1, max_size=4)
filters = st.one_of(
    filter_levels.map("/".join),
    filter_levels.map(lambda levels: "/".join([*levels[:-1], "#"])),
).filter(bool)


def reference(api, subscriptions, topic):
    """Brute force: every non-shared (filter, value) whose filter matches."""
    return Counter(value for f, value in subscriptions if not f.startswith("$share/") and api.topic_matches(f, topic))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(filters, st.integers(0, 5)), max_size=25), st.lists(topics, min_size=1, max_size=6))
def test_match_equals_brute_force(api, subscriptions, probe_topics):
    matcher = api.TopicMatcher()
    stored = []
    for topic_filter, value in subscriptions:
        if matcher.subscribe(topic_filter, value):
            stored.append((topic_filter, value))
    assert len(matcher) == len(stored) == len(set(stored))
    for topic in probe_topics:
        assert Counter(matcher.match(topic)) == reference(api, stored, topic)



def depth_first_key(topic_filter):
    """A filter's place in the depth-first order: its levels ranked exact 0, '+' 1, '#' 2, compared as sequences."""
    return tuple({"+": 1, "#": 2}.get(level, 0) for level in topic_filter.split("/"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(filters, st.integers(0, 5)), max_size=25), st.lists(topics, min_size=1, max_size=6))
def test_match_depth_first_orders_the_matches_by_filter(api, subscriptions, probe_topics):
    matcher = api.TopicMatcher()
    stored = [pair for pair in subscriptions if matcher.subscribe(*pair)]
    for topic in probe_topics:
        matching = [(topic_filter, value) for topic_filter, value in stored if api.topic_matches(topic_filter, topic)]
        # sorted() is stable: the values of one filter stay in subscription order, as in match().
        expected = [value for _, value in sorted(matching, key=lambda pair: depth_first_key(pair[0]))]
        assert matcher.match_depth_first(topic) == expected
        assert sorted(matcher.match(topic)) == sorted(expected)


def test_match_depth_first_takes_exact_then_plus_then_hash_and_a_prefix_first(api):
    matcher = api.TopicMatcher()
    for topic_filter in ["#", "+/#", "+/+", "a/#", "a/+", "a/b", "a/b/#", "+/b"]:
        matcher.subscribe(topic_filter, topic_filter)
    assert matcher.match_depth_first("a/b") == ["a/b", "a/b/#", "a/+", "a/#", "+/b", "+/+", "+/#", "#"]
    assert matcher.match_depth_first("$a/b") == []
    matcher.subscribe("$a/+", "$a/+")
    assert matcher.match_depth_first("$a/b") == ["$a/+"]
    with pytest.raises(api.InvalidTopicName):
        matcher.match_depth_first("a/#")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(filters, st.integers(0, 3)), max_size=20), st.data())
def test_unsubscribing_everything_empties_the_matcher(api, subscriptions, data):
    matcher = api.TopicMatcher()
    stored = {pair for pair in subscriptions if matcher.subscribe(*pair)}
    order = data.draw(st.permutations(sorted(stored)))
    for index, (topic_filter, value) in enumerate(order):
        assert matcher.unsubscribe(topic_filter, value)
        assert not matcher.unsubscribe(topic_filter, value)
        remaining = order[index + 1 :]
        for topic in ("a", "a/b", "$x/a", "/"):
            assert Counter(matcher.match(topic)) == reference(api, remaining, topic)
    assert len(matcher) == 0
    assert matcher.match("a/b") == []
    assert list(matcher) == []
    assert matcher._node_count() == 2  # the two empty roots: every other node was pruned


def test_a_value_is_stored_once_per_filter(api):
    matcher = api.TopicMatcher()
    assert matcher.subscribe("a/+", "c1")
    assert not matcher.subscribe("a/+", "c1")
    assert matcher.subscribe("a/#", "c1")
    assert matcher.subscribe("a/+", "c2")
    assert len(matcher) == 3
    assert sorted(matcher.match("a/b")) == ["c1", "c1", "c2"]
    assert ("a/+", "c1") in matcher and ("a/x", "c1") not in matcher


def test_values_of_a_filter_keep_subscription_order(api):
    matcher = api.TopicMatcher()
    for value in ["z", "y", "x", "w"]:
        matcher.subscribe("t", value)
    matcher.unsubscribe("t", "z")
    matcher.subscribe("t", "z")
    assert matcher.match("t") == ["y", "x", "w", "z"]


def test_shared_subscriptions_are_grouped(api):
    matcher = api.TopicMatcher()
    matcher.subscribe("$share/g1/sport/#", "a")
    matcher.subscribe("$share/g1/sport/#", "b")
    matcher.subscribe("$share/g2/sport/+", "c")
    matcher.subscribe("$share/g1/other", "d")
    matcher.subscribe("sport/tennis", "e")
    assert len(matcher) == 5
    assert matcher.match("sport/tennis") == ["e"]
    assert matcher.match_shared("sport/tennis") == {("g1", "sport/#"): ["a", "b"], ("g2", "sport/+"): ["c"]}
    assert matcher.match_shared("$SYS/x") == {}
    assert not matcher.subscribe("$share/g1/sport/#", "a")
    assert matcher.unsubscribe("$share/g1/sport/#", "a")
    assert not matcher.unsubscribe("$share/g1/sport/#", "a")
    assert matcher.match_shared("sport") == {("g1", "sport/#"): ["b"]}
    assert ("$share/g1/sport/#", "b") in matcher
    for topic_filter, value in [("$share/g1/sport/#", "b"), ("$share/g2/sport/+", "c"), ("$share/g1/other", "d")]:
        assert matcher.unsubscribe(topic_filter, value)
    assert matcher.match_shared("sport/tennis") == {}
    assert len(matcher) == 1


def test_invalid_input_is_refused(api):
    matcher = api.TopicMatcher()
    with pytest.raises(api.InvalidTopicFilter):
        matcher.subscribe("a/#/b", 1)
    with pytest.raises(api.InvalidTopicName):
        matcher.match("a/+")
    with pytest.raises(TypeError):
        matcher.subscribe("a", [])  # values must be hashable
    assert len(matcher) == 0


def test_filter_depth_is_limited_but_topic_depth_is_not(api):
    matcher = api.TopicMatcher()
    assert matcher.max_levels == 128
    matcher.subscribe("/".join(["x"] * 128), 1)
    matcher.subscribe("$share/g/" + "/".join(["x"] * 128), 2)
    with pytest.raises(api.InvalidTopicFilter, match="129 levels"):
        matcher.subscribe("/".join(["x"] * 129), 1)
    with pytest.raises(api.InvalidTopicFilter):
        matcher.subscribe("/" * 65534, 1)
    matcher.subscribe("x/#", 3)
    assert matcher.match("/".join(["x"] * 5000)) == [3]
    assert len(matcher) == 3
    with pytest.raises(ValueError):
        api.TopicMatcher(max_levels=0)


def test_deep_topics_need_no_recursion(api):
    matcher = api.TopicMatcher(max_levels=20000)
    deep = "/".join(["x"] * 20000)
    matcher.subscribe(deep, 1)
    matcher.subscribe("x/#", 2)
    assert sorted(matcher.match(deep)) == [1, 2]
    assert matcher.match_depth_first(deep) == [1, 2]
    matcher.subscribe("/".join(["+"] * 19999) + "/#", 3)
    assert matcher.match_depth_first(deep) == [1, 2, 3]
    assert matcher.match_depth_first(deep + "/x") == [2, 3]
    assert matcher.unsubscribe(deep, 1)


def test_threads_hammering_subscribe_unsubscribe_and_match(api):
    matcher = api.TopicMatcher()
    matcher.subscribe("stable/#", "always")
    errors = []

    def churn(seed):
        rng = random.Random(seed)
        try:
            for _ in range(3000):
                topic_filter = rng.choice(["stable/+", "stable/a", "stable/#", "+/a", "$share/g/stable/a"])
                value = rng.randrange(8)
                if rng.random() < 0.5:
                    matcher.subscribe(topic_filter, value)
                else:
                    matcher.unsubscribe(topic_filter, value)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def look():
        try:
            for _ in range(3000):
                found = matcher.match("stable/a")
                assert "always" in found
                matcher.match_shared("stable/a")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=churn, args=(seed,)) for seed in range(3)]
    threads += [threading.Thread(target=look) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    # The count agrees with what is really stored.
    stored = sum(
        (topic_filter, value) in matcher
        for topic_filter in ["stable/+", "stable/a", "stable/#", "+/a", "$share/g/stable/a"]
        for value in range(8)
    )
    assert len(matcher) == stored + 1


def test_unsubscribing_everything_returns_memory(api):
    matcher = api.TopicMatcher()
    pairs = [
        (topic_filter, value)
        for topic_filter in [
            *["a/b/c", "a/b", "a/+/c", "a/#", "#", "+", "a//"],
            *["$share/g/a/b", "$share/h/a/b", "$share/g/+"],
        ]
        for value in range(3)
    ]
    for pair in pairs:
        assert matcher.subscribe(*pair)
    assert matcher._node_count() > 2
    assert sorted(matcher) == sorted(pairs)
    for pair in reversed(pairs):
        assert matcher.unsubscribe(*pair)
    assert len(matcher) == 0
    assert matcher._node_count() == 2
    assert matcher.match_shared("a/b") == {}


def test_iteration_yields_every_pair_once(api):
    matcher = api.TopicMatcher()
    pairs = {("a/+/c", 1), ("a/+/c", 2), ("a", 1), ("a/#", 1), ("/", 3), ("$SYS/#", 6)}
    pairs |= {("$share/g/a", 4), ("$share/g/a", 5)}
    for pair in pairs:
        matcher.subscribe(*pair)
    listed = list(matcher)
    assert len(listed) == len(pairs) == len(matcher)
    assert set(listed) == pairs
    assert all(pair in matcher for pair in pairs)


def test_values_compare_as_dict_keys(api):
    # The first value of a filter is kept outside a dict; it must still compare as a dict key would.
    nan = float("nan")
    matcher = api.TopicMatcher()
    assert matcher.subscribe("a", nan)
    assert not matcher.subscribe("a", nan)
    assert matcher.subscribe("a", 1)
    assert not matcher.subscribe("a", 1.0)
    assert len(matcher) == 2
    assert matcher.unsubscribe("a", nan)
    assert matcher.match("a") == [1]


def test_overlapping_filters_deliver_once_per_filter_in_walk_order(api):
    matcher = api.TopicMatcher()
    for topic_filter in ["a/b", "a/+", "a/#", "#", "+/b", "+/+"]:
        matcher.subscribe(topic_filter, topic_filter)
    assert matcher.match("a/b") == ["#", "a/#", "+/+", "+/b", "a/+", "a/b"]
    assert matcher.match("$a/b") == []


# Cross-twin parity: the same random (often invalid) input gives the same results, order and errors.

def _both(config):
    if "c-extension" not in implementation_params(config):
        pytest.skip("C extensions disabled: nothing to compare the pure-Python twin with")
    return load_implementation("c-extension"), load_implementation("pure-python")


PIECES = ["a", "b", "/", "+", "#", "$", "\x00", "é", "\ud800", "$share/"]
TEXT = st.lists(st.sampled_from(PIECES), max_size=8).map("".join)


def _outcome(function, *args):
    try:
        return ("ok", function(*args))
    except Exception as exc:  # noqa: BLE001 - the class and message are what we compare
        return (type(exc).__name__, str(exc))


@settings(max_examples=400, deadline=None)
@given(TEXT, TEXT)
def test_twins_validate_and_match_alike(pytestconfig, topic_filter, topic):
    compiled, python = _both(pytestconfig)
    for name, args in [
        ("validate_topic_name", (topic,)),
        ("validate_topic_filter", (topic_filter,)),
        ("topic_matches", (topic_filter, topic)),
    ]:
        assert _outcome(getattr(compiled, name), *args) == _outcome(getattr(python, name), *args)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.one_of(filters, filters.map(lambda f: "$share/g/" + f), TEXT), st.integers(0, 3)),
        max_size=25,
    ),
    st.lists(st.one_of(topics, TEXT), min_size=1, max_size=6),
)
def test_twin_matchers_agree_exactly(pytestconfig, subscriptions, probe_topics):
    compiled, python = _both(pytestconfig)
    matchers = (compiled.TopicMatcher(), python.TopicMatcher())
    for index, pair in enumerate(subscriptions):
        results = [_outcome(matcher.subscribe, *pair) for matcher in matchers]
        assert results[0] == results[1]
        if index % 3 == 2:  # unsubscribe now and then
            old = subscriptions[index // 2]
            assert _outcome(matchers[0].unsubscribe, *old) == _outcome(matchers[1].unsubscribe, *old)
    assert len(matchers[0]) == len(matchers[1])
    assert sorted(matchers[0]) == sorted(matchers[1])
    assert matchers[0]._node_count() == matchers[1]._node_count()
    for topic in probe_topics:
        assert _outcome(matchers[0].match, topic) == _outcome(matchers[1].match, topic)
        assert _outcome(matchers[0].match_depth_first, topic) == _outcome(matchers[1].match_depth_first, topic)
        assert _outcome(matchers[0].match_shared, topic) == _outcome(matchers[1].match_shared, topic)


def test_many_siblings_grow_and_shrink_the_children(api):
    # Hundreds of children under one level, added and removed in random order:
    # exercises the compiled twin's children table (growth, deletion, back to one child).
    rng = random.Random(7)
    levels = [f"l{i}" for i in range(150)] + [f"é{i}" for i in range(50)] + ["", "€", "\U0001f600"]
    matcher = api.TopicMatcher()
    live = set()
    for _ in range(3000):
        level = rng.choice(levels)
        if level in live:
            assert matcher.unsubscribe(f"root/{level}", level)
            live.discard(level)
        else:
            assert matcher.subscribe(f"root/{level}", level)
            live.add(level)
        probe = rng.choice(levels)
        assert matcher.match(f"root/{probe}") == ([probe] if probe in live else [])
    for level in levels:
        assert matcher.match(f"root/{level}") == ([level] if level in live else [])
        assert ((f"root/{level}", level) in matcher) is (level in live)
    assert len(matcher) == len(live)
    for level in list(live):
        assert matcher.unsubscribe(f"root/{level}", level)
    assert matcher._node_count() == 2


def test_levels_alike_in_their_first_bytes_are_told_apart(api):
    # The compiled twin compares a level's first 8 bytes and length before the rest:
    # levels that agree on those (or differ only after them) must still be told apart.
    levels = ["abcdefgh", "abcdefghi", "abcdefghj", "abcdefgh\u00e9", "\u00e9\u00e9\u00e9\u00e9x", "\u00e9\u00e9\u00e9\u00e9y"]
    levels += [f"temperature_sensor_{i}" for i in range(12)] + ["x" * 300, "x" * 299 + "y", ""]
    matcher = api.TopicMatcher()
    for level in levels:
        assert matcher.subscribe(f"root/{level}", level)
        assert matcher.subscribe(f"{level}/leaf", level)
    for level in levels:
        assert matcher.match(f"root/{level}") == [level]
        assert matcher.match(f"{level}/leaf") == [level]
        assert matcher.match(f"root/{level}x") == []
        assert matcher.match(f"{level[:-1]}/leaf") == ([] if level[:-1] not in levels else [level[:-1]])


def test_a_matcher_emptied_after_growing_works_as_new(api):
    # The compiled twin gives its node memory back when the trie becomes empty: a big
    # matcher emptied and filled again must behave as a fresh one.
    matcher = api.TopicMatcher()
    filters = [f"t{i % 97}/{i % 5}/+/{i}" for i in range(3000)] + [f"t{i}/#" for i in range(97)]
    for round_ in range(2):
        for value, topic_filter in enumerate(filters):
            assert matcher.subscribe(topic_filter, value)
        assert matcher.match("t3/3/x/3") == [3000 + 3, 3]
        for value, topic_filter in enumerate(filters):
            assert matcher.unsubscribe(topic_filter, value)
        assert len(matcher) == 0 and matcher._node_count() == 2
        assert matcher.match("t3/3/x/3") == []


# The facade (argument checks, shared groups, len/in/iter/repr) is one shared class: both twins must agree.


@pytest.mark.parametrize(
    ("max_levels", "error"), [(0, ValueError), (-3, ValueError), (1.5, TypeError), ("8", TypeError), (None, TypeError)]
)
def test_bad_max_levels_are_refused_alike(pytestconfig, max_levels, error):
    compiled, python = _both(pytestconfig)
    outcomes = [_outcome(lambda api=api: api.TopicMatcher(max_levels=max_levels)) for api in (compiled, python)]
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == error.__name__


def test_max_levels_is_read_only(api):
    matcher = api.TopicMatcher(max_levels=3)
    assert matcher.max_levels == 3
    with pytest.raises(AttributeError):
        matcher.max_levels = 1000
    with pytest.raises(api.InvalidTopicFilter, match="4 levels"):
        matcher.subscribe("a/b/c/d", 1)


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.subscribe(b"a/b", 1),
        lambda m: m.subscribe(None, 1),
        lambda m: m.subscribe("a/#/b", 1),
        lambda m: m.subscribe("$share//a", 1),
        lambda m: m.subscribe("a/b/c", {}),
        lambda m: m.unsubscribe("a/+b", 1),
        lambda m: m.unsubscribe(3, 1),
        lambda m: m.match(b"a"),
        lambda m: m.match_depth_first(b"a"),
        lambda m: m.match_depth_first(""),
        lambda m: m.match_shared("a/#"),
        lambda m: m.match_shared(""),
        lambda m: ("a", 1, 2) in m,
        lambda m: repr(m),
        lambda m: (m.subscribe("$share/g/a", 1), m.subscribe("a", 1), len(m), sorted(m), repr(m)),
    ],
)
def test_facade_results_and_errors_are_identical_on_both_twins(pytestconfig, call):
    compiled, python = _both(pytestconfig)
    assert _outcome(call, compiled.TopicMatcher()) == _outcome(call, python.TopicMatcher())


# ---- RememberedMatches (the paho drop-in's iter_match) -------------------------------------------


def remembered_class(api):
    if api.IMPLEMENTATION == "cython":
        from mqttfast._topics_c import RememberedMatches
    else:
        from mqttfast._trie_py import RememberedMatches
    return RememberedMatches


def test_remembered_matches_keeps_one_answer_in_every_and_answers_the_rest_by_lookup(api):
    looked_up = []

    def lookup(topic):
        looked_up.append(topic)
        return [topic, len(looked_up)]

    remembered = remembered_class(api)(lookup, None, 3, 100)
    answers = [list(remembered.iter_match(topic)) for topic in ["a", "b", "c", "d", "a", "b", "a"]]
    # The first lookup is kept (countdown starts at 1), then every third: "a" then "d".
    assert answers == [["a", 1], ["b", 2], ["c", 3], ["d", 4], ["a", 1], ["b", 5], ["a", 1]]
    assert looked_up == ["a", "b", "c", "d", "b"]
    assert remembered._answers == {"a": ("a", 1), "d": ("d", 4)}
    remembered._forget()
    assert list(remembered.iter_match("a")) == ["a", 6]


def test_remembered_matches_falls_back_on_mqtt_errors_only_and_empties_a_full_memo(api):
    def lookup(topic):
        if topic == "bad":
            raise api.InvalidTopicName("bad topic")
        if topic == "worse":
            raise KeyError(topic)
        return [topic]

    remembered = remembered_class(api)(lookup, lambda topic: ["fallback"], 1, 2)
    assert list(remembered.iter_match("bad")) == ["fallback"]
    with pytest.raises(KeyError):
        remembered.iter_match("worse")
    assert list(remembered.iter_match("x")) == ["x"]
    assert remembered._answers == {"bad": ("fallback",), "x": ("x",)}
    assert list(remembered.iter_match("y")) == ["y"]
    assert remembered._answers == {"y": ("y",)}
    with pytest.raises(ValueError):
        remembered_class(api)(lookup, None, 0, 1)
    with pytest.raises(TypeError):
        remembered_class(api)(lookup, None, 1.5, 1)
