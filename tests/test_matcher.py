"""TopicMatcher against a brute-force reference, and its bookkeeping, memory and threads."""

import random
import threading
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    assert matcher._trie.root.children is None if hasattr(matcher, "_trie") else True


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


def test_deep_topics_need_no_recursion(api):
    matcher = api.TopicMatcher()
    deep = "/".join(["x"] * 20000)
    matcher.subscribe(deep, 1)
    matcher.subscribe("x/#", 2)
    assert sorted(matcher.match(deep)) == [1, 2]
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
