"""paho-mqtt's ``MQTTMatcher`` and ``topic_matches_sub``, answered by ``TopicMatcher``.

paho's matcher is a trie that accepts any string as a filter and any string as
a topic, and walks it depth first: at every level the literal child, then the
``+`` child, then the ``#`` child's value; a node's own value comes before its
children's. Its answers, and their order, are what this module reproduces:

- Valid MQTT filters (not ``$share/...``, which paho treats as plain levels)
  live in a ``TopicMatcher``; a valid topic is looked up there, in compiled code.
  Each such filter matches a valid topic along exactly one path, whose order
  key is the filter's own level ranks (literal 0, ``+`` 1, ``#`` 2), so
  sorting by that key restores paho's depth-first order. The key is computed
  once per filter, and a lookup that finds one filter (the usual case) sorts
  nothing.
- The answer for a topic is remembered until the filters change: a client
  receives on the same few topics over and over.
- Anything ``TopicMatcher`` refuses (``a+b``, ``a/#/b``, ``""``, shared filters,
  topics holding wildcards) goes through :func:`_paths`, a per-filter replay
  of paho's walk. It also yields a value once per path, as paho does when a
  topic level is itself ``+`` or ``#``.
"""

from __future__ import annotations

from collections.abc import Iterator
from operator import attrgetter, itemgetter
from typing import Any

from .. import MQTTError, TopicMatcher, topic_matches

_RANK = {"+": 1, "#": 2}
_NO_MATCH: tuple[Any, ...] = ()
_MAX_ANSWERS = 4096  # topics whose answers a matcher remembers at once


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


class _Entry:
    """One filter of an ``MQTTMatcher``: its value and its order key, held by the ``TopicMatcher`` itself.

    The ``TopicMatcher`` stores the entry, not the value, so that a lookup
    yields what it needs (value and order) with no dict access, a replaced
    value needs no trie change, and any value works, hashable or not.
    """

    __slots__ = ("key", "rank", "value")

    def __init__(self, key: str, value: Any) -> None:
        self.key = key
        self.rank = _rank(key)
        self.value = value


_by_rank = attrgetter("rank")


class MQTTMatcher:
    """Drop-in for ``paho.mqtt.matcher.MQTTMatcher``: filters mapped to values, matched by topic.

    Same mapping interface (``m[filter] = value``, ``m[filter]``, ``del m[filter]``)
    and the same ``iter_match(topic)`` results in the same order, including for
    strings that are not valid MQTT. As in paho, a filter set to ``None`` counts
    as absent.
    """

    __slots__ = ("_entries", "_fast", "_odd", "_answers")

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._fast = TopicMatcher()
        self._odd: dict[str, _Entry] = {}  # filters TopicMatcher cannot answer for, in insertion order
        # topic -> the values iter_match yields for it. A client sees the same few topics again and
        # again and changes its filters rarely. Every change binds a new dict, so a lookup that ran
        # concurrently stores its (possibly stale) answer in a dict no longer used; a full dict is emptied.
        self._answers: dict[str, tuple[Any, ...]] = {}

    def __setitem__(self, key: str, value: Any) -> None:
        """Add the topic filter ``key`` with ``value`` (replacing any previous value)."""
        self._answers = {}
        entry = self._entries.get(key)
        if entry is not None:
            entry.value = value
            return
        entry = self._entries[key] = _Entry(key, value)
        if not (_fast_eligible(key) and self._subscribe_fast(entry)):
            self._odd[key] = entry

    def _subscribe_fast(self, entry: _Entry) -> bool:
        try:
            self._fast.subscribe(entry.key, entry)
        except MQTTError:
            return False
        return True

    def __getitem__(self, key: str) -> Any:
        """The value of the topic filter ``key``; ``KeyError`` when absent or ``None``."""
        entry = self._entries.get(key)
        if entry is None or entry.value is None:
            raise KeyError(key)
        return entry.value

    def __delitem__(self, key: str) -> None:
        """Remove the topic filter ``key``; ``KeyError`` when absent or ``None``."""
        entry = self._entries.get(key)
        if entry is None or entry.value is None:
            raise KeyError(key)
        self._answers = {}
        del self._entries[key]
        if key in self._odd:
            del self._odd[key]
        else:
            self._fast.unsubscribe(key, entry)

    def iter_match(self, topic: str) -> Iterator[Any]:
        """An iterator over the values of every filter matching ``topic``, in paho's order."""
        answers = self._answers
        values = answers.get(topic)
        if values is None:
            values = self._lookup(topic)
            if len(answers) >= _MAX_ANSWERS:
                answers.clear()  # never rebinds self._answers: a change made meanwhile keeps its new dict
            answers[topic] = values
        return iter(values)

    def _lookup(self, topic: str) -> tuple[Any, ...]:
        try:
            found = self._fast.match(topic)
        except MQTTError:
            # A topic TopicMatcher refuses (empty, holding wildcards, ...): replay paho on every filter.
            return self._slow_match(topic, list(self._entries.values()))
        if self._odd:
            return self._slow_match(topic, list(self._odd.values()), found)
        # The common lookups, up to two matches, need no sort.
        count = len(found)
        if not count:
            return _NO_MATCH
        if count == 1:
            value = found[0].value
            return _NO_MATCH if value is None else (value,)
        if count == 2:
            first, second = found
            if second.rank < first.rank:
                first, second = second, first
            if first.value is not None and second.value is not None:
                return (first.value, second.value)
        found.sort(key=_by_rank)
        return tuple([value for value in [entry.value for entry in found] if value is not None])

    @staticmethod
    def _slow_match(topic: str, candidates: list[_Entry], fast: list[_Entry] | tuple[()] = ()) -> tuple[Any, ...]:
        levels = topic.split("/")
        normal = not topic.startswith("$")
        found = [(entry.rank, entry) for entry in fast]
        for entry in candidates:
            found += [(path, entry) for path in _paths(entry.key.split("/"), levels, normal)]
        found.sort(key=itemgetter(0))
        return tuple([entry.value for _, entry in found if entry.value is not None])


def topic_matches_sub(sub: str, topic: str) -> bool:
    """Drop-in for ``paho.mqtt.client.topic_matches_sub``: whether ``topic`` matches the filter ``sub``."""
    if _fast_eligible(sub):
        try:
            return topic_matches(sub, topic)
        except MQTTError:
            pass
    return next(_paths(sub.split("/"), topic.split("/"), not topic.startswith("$")), None) is not None
