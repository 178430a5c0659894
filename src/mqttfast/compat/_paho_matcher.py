"""paho-mqtt's ``MQTTMatcher`` and ``topic_matches_sub``, answered by ``TopicMatcher``.

paho's matcher is a trie that accepts any string as a filter and any string as
a topic, and walks it depth first: at every level the literal child, then the
``+`` child, then the ``#`` child's value; a node's own value comes before its
children's. Its answers, and their order, are what this module reproduces:

- Valid MQTT filters (not ``$share/...``, which paho treats as plain levels)
  live in a ``TopicMatcher``; a valid topic is looked up there, in compiled code.
  Each such filter matches a valid topic along exactly one path, whose order
  key is the filter's own level ranks (literal 0, ``+`` 1, ``#`` 2), so
  sorting by that key restores paho's depth-first order.
- Anything ``TopicMatcher`` refuses (``a+b``, ``a/#/b``, ``""``, shared filters,
  topics holding wildcards) goes through :func:`_paths`, a per-filter replay
  of paho's walk. It also yields a value once per path, as paho does when a
  topic level is itself ``+`` or ``#``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .. import MQTTError, TopicMatcher, topic_matches

_RANK = {"+": 1, "#": 2}
_NO_MATCH: tuple[Any, ...] = ()


def _rank(topic_filter: str) -> tuple[int, ...]:
    """The depth-first order key of a filter's single path through paho's trie."""
    return tuple([_RANK.get(level, 0) for level in topic_filter.split("/")])


def _fast_eligible(topic_filter: str) -> bool:
    """A filter TopicMatcher answers exactly as paho does (validity is checked on subscribe)."""
    return not topic_filter.startswith("$share/")


def _paths(
    levels: list[str], topic: list[str], normal: bool, depth: int = 0, prefix: tuple[int, ...] = ()
) -> Iterator[tuple[int, ...]]:
    """Every path by which paho's walk reaches the value of the filter ``levels``, as order keys."""
    if depth == len(topic):
        if len(levels) == depth:
            yield prefix
    elif len(levels) > depth:
        level = levels[depth]
        if level == topic[depth]:
            yield from _paths(levels, topic, normal, depth + 1, prefix + (0,))
        if level == "+" and (normal or depth > 0):
            yield from _paths(levels, topic, normal, depth + 1, prefix + (1,))
    # paho looks for a '#' child at every node it visits, the last level included.
    if len(levels) == depth + 1 and levels[depth] == "#" and (normal or depth > 0):
        yield prefix + (2,)


class MQTTMatcher:
    """Drop-in for ``paho.mqtt.matcher.MQTTMatcher``: filters mapped to values, matched by topic.

    Same mapping interface (``m[filter] = value``, ``m[filter]``, ``del m[filter]``)
    and the same ``iter_match(topic)`` results in the same order, including for
    strings that are not valid MQTT. As in paho, a filter set to ``None`` counts
    as absent.
    """

    __slots__ = ("_values", "_ranks", "_fast", "_odd")

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}
        self._ranks: dict[str, tuple[int, ...]] = {}  # computed once per filter: lookups only sort
        self._fast = TopicMatcher()
        self._odd: dict[str, None] = {}  # filters TopicMatcher cannot answer for, in insertion order

    def __setitem__(self, key: str, value: Any) -> None:
        """Add the topic filter ``key`` with ``value`` (replacing any previous value)."""
        if key not in self._values:
            if not (_fast_eligible(key) and self._subscribe_fast(key)):
                self._odd[key] = None
            self._ranks[key] = _rank(key)
        self._values[key] = value

    def _subscribe_fast(self, key: str) -> bool:
        try:
            self._fast.subscribe(key, key)
        except MQTTError:
            return False
        return True

    def __getitem__(self, key: str) -> Any:
        """The value of the topic filter ``key``; ``KeyError`` when absent or ``None``."""
        value = self._values.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __delitem__(self, key: str) -> None:
        """Remove the topic filter ``key``; ``KeyError`` when absent or ``None``."""
        if self._values.get(key) is None:
            raise KeyError(key)
        del self._values[key]
        del self._ranks[key]
        if key in self._odd:
            del self._odd[key]
        else:
            self._fast.unsubscribe(key, key)

    def iter_match(self, topic: str) -> Iterator[Any]:
        """An iterator over the values of every filter matching ``topic``, in paho's order."""
        values = self._values
        if not values:
            return iter(_NO_MATCH)
        try:
            keys = self._fast.match(topic)
        except MQTTError:
            # A topic TopicMatcher refuses (empty, holding wildcards, ...): replay paho on every filter.
            return iter(self._slow_match(topic, list(values)))
        if self._odd:
            return iter(self._slow_match(topic, list(self._odd), keys))
        if len(keys) > 1:
            keys.sort(key=self._ranks.__getitem__)
        return iter([value for value in map(values.__getitem__, keys) if value is not None])

    def _slow_match(self, topic: str, candidates: list[str], fast_keys: tuple[str, ...] | list[str] = ()) -> list[Any]:
        levels = topic.split("/")
        normal = not topic.startswith("$")
        found = [(self._ranks[key], key) for key in fast_keys]
        for key in candidates:
            found += [(path, key) for path in _paths(key.split("/"), levels, normal)]
        found.sort(key=lambda pair: pair[0])
        values = self._values
        return [values[key] for _, key in found if values[key] is not None]


def topic_matches_sub(sub: str, topic: str) -> bool:
    """Drop-in for ``paho.mqtt.client.topic_matches_sub``: whether ``topic`` matches the filter ``sub``."""
    if _fast_eligible(sub):
        try:
            return topic_matches(sub, topic)
        except MQTTError:
            pass
    return next(_paths(sub.split("/"), topic.split("/"), not topic.startswith("$")), None) is not None
