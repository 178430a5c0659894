"""Topic names and filters (MQTT 5.0 §4.7, §4.8.2): validation and matching, from the specification's examples."""

import re

import pytest

VALID_NAMES = ["a", "/", "/a", "a/", "a//b", "sport/tennis/player1", "$SYS/broker", "\ufeffa", "é/ü", " ", "a" * 65535]
INVALID_NAMES = [
    ("", "empty"),
    ("a/+", "wildcard"),
    ("#", "wildcard"),
    ("sport/tennis#", "wildcard"),
    ("a\x00b", "U+0000"),
    ("a\ud800", "surrogate"),
    ("a" * 65536, "65,535"),
    ("é" * 32768, "65,535"),
]

VALID_FILTERS = [
    "#",
    "+",
    "+/+",
    "/+",
    "sport/#",
    "sport/tennis/#",
    "+/tennis/#",
    "sport/+/player1",
    "a//b",
    "$SYS/#",
    "$share/group/a/b",
    "$share/g/#",
    "$share/g//x",
    "$share",
    "$sharex/y",
]
INVALID_FILTERS = [
    ("", "empty"),
    ("sport/tennis#", "'#'"),
    ("sport/tennis/#/ranking", "'#'"),
    ("#/a", "'#'"),
    ("sport+", "'+'"),
    ("a/b+/c", "'+'"),
    ("++", "'+'"),
    ("a\x00", "U+0000"),
    ("\udfff", "surrogate"),
    ("a" * 65536, "65,535"),
    ("$share/g", "no topic filter"),
    ("$share/g/", "no topic filter"),
    ("$share//a", "share name"),
    ("$share/g+/a", "share name"),
    ("$share/#/a", "share name"),
    ("$share/g/a#", "'#'"),
]


@pytest.mark.parametrize("name", VALID_NAMES)
def test_valid_topic_names(api, name):
    api.validate_topic_name(name)


@pytest.mark.parametrize(("name", "words"), INVALID_NAMES)
def test_invalid_topic_names(api, name, words):
    with pytest.raises(api.InvalidTopicName, match=re.escape(words)) as info:
        api.validate_topic_name(name)
    assert info.value.reason_code == 0x90


@pytest.mark.parametrize("topic_filter", VALID_FILTERS)
def test_valid_topic_filters(api, topic_filter):
    api.validate_topic_filter(topic_filter)


@pytest.mark.parametrize(("topic_filter", "words"), INVALID_FILTERS)
def test_invalid_topic_filters(api, topic_filter, words):
    with pytest.raises(api.InvalidTopicFilter, match=re.escape(words)) as info:
        api.validate_topic_filter(topic_filter)
    assert info.value.reason_code == 0x8F


def test_wrong_types_are_type_errors(api):
    for function in (api.validate_topic_name, api.validate_topic_filter):
        with pytest.raises(TypeError):
            function(b"a/b")
    with pytest.raises(TypeError):
        api.topic_matches("a", None)


MATCHES = [
    # MQTT 5.0 §4.7.1.2
    ("sport/tennis/player1/#", "sport/tennis/player1", True),
    ("sport/tennis/player1/#", "sport/tennis/player1/ranking", True),
    ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", True),
    ("sport/#", "sport", True),
    ("sport/#", "sport/", True),
    ("#", "anything/at/all", True),
    ("#", "/", True),
    # MQTT 5.0 §4.7.1.3
    ("sport/tennis/+", "sport/tennis/player1", True),
    ("sport/tennis/+", "sport/tennis/player2", True),
    ("sport/tennis/+", "sport/tennis/player1/ranking", False),
    ("sport/+", "sport", False),
    ("sport/+", "sport/", True),
    ("+/+", "/finance", True),
    ("/+", "/finance", True),
    ("+", "/finance", False),
    ("+", "a", True),
    ("+/b/+", "a/b/c", True),
    ("a//b", "a//b", True),
    ("a/+/b", "a//b", True),
    ("a/b", "a/B", False),
    ("a/b", "a/b/", False),
    # MQTT 5.0 §4.7.2: wildcards in the first level never match '$' topics
    ("#", "$SYS/monitor/Clients", False),
    ("+/monitor/Clients", "$SYS/monitor/Clients", False),
    ("$SYS/#", "$SYS/monitor/Clients", True),
    ("$SYS/monitor/+", "$SYS/monitor/Clients", True),
    ("#", "$SYS", False),
    ("a/#", "a/$x", True),
    # shared subscriptions match as their inner filter
    ("$share/g/sport/#", "sport/tennis", True),
    ("$share/g/+", "$SYS", False),
    ("$share/g/a", "b", False),
]


@pytest.mark.parametrize(("topic_filter", "topic", "expected"), MATCHES)
def test_topic_matches(api, topic_filter, topic, expected):
    assert api.topic_matches(topic_filter, topic) is expected


def test_topic_matches_validates_both(api):
    with pytest.raises(api.InvalidTopicFilter):
        api.topic_matches("a#", "a")
    with pytest.raises(api.InvalidTopicName):
        api.topic_matches("a/#", "a/+")


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("a/b+", "'+' at index 3"),
        ("ab/#", "'#' at index 3"),
        ("ab\x00", "U+0000 at index 2"),
        ("é/\udc00", "surrogate at index 2"),
    ],
)
def test_topic_name_errors_give_the_character_index(api, name, words):
    with pytest.raises(api.InvalidTopicName, match=re.escape(words)):
        api.validate_topic_name(name)


@pytest.mark.parametrize(
    ("topic_filter", "words"),
    [
        ("sport/tennis#", "'#' at index 12 not alone in the last level [MQTT-4.7.1-1]"),
        ("sport/tennis/#/ranking", "'#' at index 13"),
        ("sport+", "'+' at index 5 not occupying a whole level [MQTT-4.7.1-2]"),
        ("a//b/c+", "'+' at index 6"),
        ("$share/g/a/x+", "'+' at index 12"),
        ("$share//a", "empty share name at index 7 [MQTT-4.8.2-1]"),
        ("$share/ab+c/a", "'+' in its share name at index 9 [MQTT-4.8.2-2]"),
        ("$share/a#/x", "'#' in its share name at index 8"),
        ("$share/g", "no topic filter after index 7"),
        ("$share/g/", "no topic filter after index 8"),
        ("a\x00", "U+0000 at index 1"),
        ("a/\ud800", "surrogate at index 2"),
    ],
)
def test_topic_filter_errors_give_the_character_index(api, topic_filter, words):
    with pytest.raises(api.InvalidTopicFilter, match=re.escape(words)):
        api.validate_topic_filter(topic_filter)


def test_length_limit_counts_utf8_bytes_not_characters(api):
    api.validate_topic_name("é" * 32767 + "a")  # 65,535 bytes
    api.validate_topic_filter("€" * 21845)  # 65,535 bytes
    with pytest.raises(api.InvalidTopicFilter, match="is 65536 bytes, more than 65,535"):
        api.validate_topic_filter("€" * 21845 + "a")


def test_shared_prefix_needs_the_slash(api):
    # '$share' alone and '$sharex/...' are ordinary filters, matched as such.
    assert api.topic_matches("$share", "$share")
    assert api.topic_matches("$sharex/+", "$sharex/a")
    assert not api.topic_matches("+/a", "$sharex/a")
    assert api.topic_matches("$share/g//x", "/x")


def test_str_subclasses_are_topics_like_any_str(api):
    class Text(str):
        pass

    api.validate_topic_filter(Text("$share/g/a/+"))
    with pytest.raises(api.InvalidTopicFilter):
        api.validate_topic_filter(Text("a/#/b"))
    assert api.topic_matches(Text("a/+"), Text("a/b"))
    matcher = api.TopicMatcher()
    matcher.subscribe(Text("a/+"), 1)
    matcher.subscribe(Text("$share/g/a/#"), 2)
    assert matcher.match(Text("a/b")) == [1]
    assert matcher.match_shared(Text("a/b")) == {("g", "a/#"): [2]}
    assert (Text("a/+"), 1) in matcher and matcher.unsubscribe(Text("a/+"), 1)
