"""paho-mqtt's ``MQTTMatcher`` and ``topic_matches_sub``, answered by ``TopicMatcher``.

paho's matcher is a trie that accepts any string as a filter and any string as
a topic, and walks it depth first: at every level the literal child, then the
``+`` child, then the ``#`` child's value; a node's own value comes before its
children's. Its answers, and their order, are what this module reproduces:

- Valid MQTT filters (not ``$share/...``, which paho treats as plain levels)
  live in a ``TopicMatcher``, which holds the values themselves, so a valid
  topic is answered by one ``TopicMatcher.match_depth_first`` call: the walk
  of paho's own order, in compiled code. A lookup touches no object of ours
  (at 100k filters the trie is far larger than the caches, and every object
  read is a cache miss). An unhashable value is stored in a ``_Boxed``; only
  while a matcher holds one are its answers unboxed.
- Answers are remembered until the filters change (one lookup in 16 keeps
  its answer): a client receives on the same few topics over and over.
- Anything ``TopicMatcher`` refuses (``a+b``, ``a/#/b``, ``""``, shared filters,
  topics holding wildcards) goes through :func:`_paths`, a per-filter replay
  of paho's walk. It also yields a value once per path, as paho does when a
  topic level is itself ``+`` or ``#``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Callable

from .. import IMPLEMENTATION, MQTTError, TopicMatcher, topic_matches, validate_topic_filter

if TYPE_CHECKING or IMPLEMENTATION != "cython":
    from .._trie_py import RememberedMatches
else:
    from .._topics_c import RememberedMatches

_RANK = {"+": 1, "#": 2}
_MAX_ANSWERS = 4096  # topics whose answers a matcher remembers at once
_REMEMBER_EVERY = 16  # of the answers looked up, the one kept (keeping each would cost a topic seen once
# about as much as its lookup: a new allocation that stays, in memory not yet cached)
# A filter of at most 65,535 bytes has at most 32,768 levels: TopicMatcher takes every valid one, as paho does.
_ANY_DEPTH = 32_768
_ABSENT = object()


def _fast_eligible(topic_filter: str) -> bool:
    """A filter TopicMatcher answers exactly as paho does (validity is checked on subscribe)."""
    return not topic_filter.startswith("$share/")


def _paths(
    levels: list[str], topic: list[str], normal: bool, depth: int = 0, prefix: tuple[int, ...] = ()
) -> Iterator[tuple[int, ...]]:
    """Every path by which paho's walk reaches the value of the filter ``levels``, as order keys.

    A key is the path's level ranks (literal 0, ``+`` 1, ``#`` 2): paho's
    depth-first order is the order of these keys.
    """
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


class _Boxed:
    """An unhashable value (TopicMatcher stores hashable ones), in a box that hashes by identity."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _storable(value: Any) -> Any:
    """What the TopicMatcher holds for ``value``: itself, or a ``_Boxed`` if it cannot be hashed."""
    try:
        hash(value)
    except Exception:  # noqa: BLE001 - paho takes any value; whatever hash() raises, box it
        return _Boxed(value)
    return value


def _unboxed(stored: Any) -> Any:
    return stored.value if type(stored) is _Boxed else stored


class MQTTMatcher(RememberedMatches):
    """Drop-in for ``paho.mqtt.matcher.MQTTMatcher``: filters mapped to values, matched by topic.

    Same mapping interface (``m[filter] = value``, ``m[filter]``, ``del m[filter]``)
    and the same ``iter_match(topic)`` results in the same order, including for
    strings that are not valid MQTT. As in paho, a filter set to ``None`` counts
    as absent. One difference: ``iter_match`` iterates over the answer as it
    was when called, where paho's generator reads its trie as it goes.
    """

    __slots__ = ("_stored", "_fast", "_odd", "_boxes")

    def __init__(self) -> None:
        # filter -> what the TopicMatcher holds for it (the value or its _Boxed), None for a None value.
        self._stored: dict[str, Any] = {}
        self._fast = TopicMatcher(max_levels=_ANY_DEPTH)
        self._odd: dict[str, None] = {}  # filters TopicMatcher cannot answer for, in insertion order
        self._boxes = 0  # _Boxed values in the TopicMatcher
        # A client sees the same few topics again and again and changes its filters rarely: answers
        # are remembered until a change. A topic not remembered is answered by the TopicMatcher
        # alone while it holds every filter and no box (a C method, no Python frame), else by
        # _answer; one TopicMatcher refuses (empty, holding wildcards, ...) by a replay of paho.
        super().__init__(self._fast.match_depth_first, self._replay_all, _REMEMBER_EVERY, _MAX_ANSWERS)

    def __setitem__(self, key: str, value: Any) -> None:
        """Add the topic filter ``key`` with ``value`` (replacing any previous value)."""
        stored = None if value is None else _storable(value)
        old = self._stored.get(key, _ABSENT)
        if old is _ABSENT and not self._fast_accepts(key):
            self._odd[key] = None
        elif old is not _ABSENT and key not in self._odd and old is not None:
            self._unsubscribe(key, old)
        self._stored[key] = stored
        if stored is not None and key not in self._odd:
            self._fast.subscribe(key, stored)
            if type(stored) is _Boxed:
                self._boxes += 1
        self._changed()

    @staticmethod
    def _fast_accepts(key: str) -> bool:
        if not _fast_eligible(key):
            return False
        try:
            validate_topic_filter(key)
        except MQTTError:
            return False
        return True

    def _unsubscribe(self, key: str, stored: Any) -> None:
        self._fast.unsubscribe(key, stored)
        if type(stored) is _Boxed:
            self._boxes -= 1

    def _changed(self) -> None:
        self._lookup = self._fast.match_depth_first if not (self._odd or self._boxes) else self._answer
        self._forget()

    def __getitem__(self, key: str) -> Any:
        """The value of the topic filter ``key``; ``KeyError`` when absent or ``None``."""
        stored = self._stored.get(key)
        if stored is None:
            raise KeyError(key)
        return _unboxed(stored)

    def __delitem__(self, key: str) -> None:
        """Remove the topic filter ``key``; ``KeyError`` when absent or ``None``."""
        stored = self._stored.get(key)
        if stored is None:
            raise KeyError(key)
        del self._stored[key]
        if key in self._odd:
            del self._odd[key]
        else:
            self._unsubscribe(key, stored)
        self._changed()

    def _replay_all(self, topic: str) -> list[Any]:
        """paho's answer for a topic the TopicMatcher refuses, by a replay of its walk on every filter."""
        return self._replay(topic, self._stored)

    def _answer(self, topic: str) -> list[Any]:
        """The answer for a valid topic when the TopicMatcher's alone will not do (odd filters, boxes)."""
        found = self._fast.match_depth_first(topic)
        if self._odd:
            odd = self._replay(topic, self._odd)
            if odd:
                # Merging needs every match's order key, which the TopicMatcher does not give; the
                # filters of both kinds rarely match one topic ('$share/...' topics only match odd ones).
                return odd if not found else self._replay(topic, self._stored)
        if self._boxes:
            return [_unboxed(stored) for stored in found]
        return found

    def _replay(self, topic: str, keys: Iterable[str]) -> list[Any]:
        """paho's answer from the filters ``keys`` alone, by a replay of its walk for each."""
        levels = topic.split("/")
        normal = not topic.startswith("$")
        stored_by_key = self._stored
        found: list[tuple[tuple[int, ...], Any]] = []
        for key in list(keys):  # a copy: another thread may change the filters meanwhile
            stored = stored_by_key.get(key)
            if stored is not None:
                found += [(path, stored) for path in _paths(key.split("/"), levels, normal)]
        found.sort(key=itemgetter(0))
        return [_unboxed(stored) for _, stored in found]


def topic_matches_sub(sub: str, topic: str) -> bool:
    """Drop-in for ``paho.mqtt.client.topic_matches_sub``: whether ``topic`` matches the filter ``sub``."""
    if _fast_eligible(sub):
        try:
            return topic_matches(sub, topic)
        except MQTTError:
            pass
    return next(_paths(sub.split("/"), topic.split("/"), not topic.startswith("$")), None) is not None
