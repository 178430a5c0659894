"""Topic names and topic filters, pure-Python twin of ``_topic_rules_c.pxi``.

The rules are those of MQTT 5.0 §4.7 (topics and wildcards) and §4.8.2
(shared subscriptions); 3.1.1 §4.7 says the same. These run for every
PUBLISH matched and every SUBSCRIBE decoded: they are a hot kernel, twinned.
"""

from __future__ import annotations

from ._errors import InvalidTopicFilter, InvalidTopicName
from ._topics import SHARE_PREFIX, split_shared

__all__ = ["MAX_TOPIC_BYTES", "validate_topic_name", "validate_topic_filter", "topic_matches"]

#: Strings are limited by their 2-byte length prefix (MQTT 5.0 §1.5.4).
MAX_TOPIC_BYTES = 65_535


def _check_text(text: object, error: type[Exception], what: str) -> None:
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a str, not {type(text).__name__}")
    if not text:
        raise error(f"{what} must not be empty [MQTT-4.7.3-1]")
    index = text.find("\x00")
    if index >= 0:
        raise error(f"{what} contains U+0000 at index {index} [MQTT-1.5.4-2]")
    # A str of at most 16,383 characters cannot exceed 65,535 bytes; ASCII cannot hold a surrogate.
    if text.isascii():
        size = len(text)
    else:
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise error(f"{what} contains a surrogate at index {exc.start} [MQTT-1.5.4-1]") from None
    if size > MAX_TOPIC_BYTES:
        raise error(f"{what} is {size} bytes, more than 65,535")


def validate_topic_name(name: str) -> None:
    """Raise ``InvalidTopicName`` unless ``name`` may be published to."""
    _check_text(name, InvalidTopicName, "topic name")
    for wildcard in "+#":
        index = name.find(wildcard)
        if index >= 0:
            raise InvalidTopicName(f"topic name {name!r} has wildcard {wildcard!r} at index {index} [MQTT-3.3.2-2]")


def validate_topic_filter(topic_filter: str) -> None:
    """Raise ``InvalidTopicFilter`` unless ``topic_filter`` may be subscribed to.

    ``$share/{ShareName}/{filter}`` is a shared subscription: ShareName is at
    least one character without ``/``, ``+`` or ``#`` and the filter after it
    is validated as usual [MQTT-4.8.2-1, MQTT-4.8.2-2].
    """
    _check_text(topic_filter, InvalidTopicFilter, "topic filter")
    if "+" not in topic_filter and "#" not in topic_filter and not topic_filter.startswith(SHARE_PREFIX):
        return  # no wildcard to place, no share name to check
    inner = topic_filter
    shared = split_shared(topic_filter)
    if shared is not None:
        share_name, inner = shared
        if not share_name:
            raise InvalidTopicFilter(
                f"shared subscription {topic_filter!r} has an empty share name at index 7 [MQTT-4.8.2-1]"
            )
        for wildcard in "+#":
            index = share_name.find(wildcard)
            if index >= 0:
                raise InvalidTopicFilter(
                    f"shared subscription {topic_filter!r} has {wildcard!r} in its share name "
                    f"at index {7 + index} [MQTT-4.8.2-2]"
                )
        if not inner:
            raise InvalidTopicFilter(
                f"shared subscription {topic_filter!r} has no topic filter after index {len(topic_filter) - 1} "
                "[MQTT-4.7.3-1]"
            )
    start = len(topic_filter) - len(inner)  # index of the current level in topic_filter
    levels = inner.split("/")
    last = len(levels) - 1
    for index, level in enumerate(levels):
        if "+" in level and level != "+":
            raise InvalidTopicFilter(
                f"topic filter {topic_filter!r} has '+' at index {start + level.index('+')} "
                "not occupying a whole level [MQTT-4.7.1-2]"
            )
        if "#" in level and (level != "#" or index != last):
            raise InvalidTopicFilter(
                f"topic filter {topic_filter!r} has '#' at index {start + level.index('#')} "
                "not alone in the last level [MQTT-4.7.1-1]"
            )
        start += len(level) + 1


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Whether ``topic_filter`` (a shared one matches as its inner filter) matches the topic name ``topic``."""
    validate_topic_filter(topic_filter)
    validate_topic_name(topic)
    shared = split_shared(topic_filter)
    filter_levels = (shared[1] if shared is not None else topic_filter).split("/")
    topic_levels = topic.split("/")
    # Wildcards in the first level never match '$' topics such as $SYS [MQTT-4.7.2-1].
    if topic.startswith("$") and filter_levels[0] in ("+", "#"):
        return False
    for index, level in enumerate(filter_levels):
        if level == "#":
            return True  # also the parent level: 'sport/#' matches 'sport'
        if index >= len(topic_levels) or (level != "+" and level != topic_levels[index]):
            return False
    return len(filter_levels) == len(topic_levels)
