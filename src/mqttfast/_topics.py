"""What both topic implementations share: the ``$share/`` syntax and the ``TopicMatcher`` facade.

Only the hot kernels are twinned: ``_topic_rules_py`` / ``_topic_rules_c.pxi``
validate topic names and filters, ``_trie_py`` / ``_trie_c.pxi`` store
filters and match topics against them. Everything a broker calls once per
SUBSCRIBE, per UNSUBSCRIBE or per inspection (argument checks, the shared
subscription groups, ``len``, ``in``, iteration) is written once, here; each
implementation (``_topics_py``, ``_topics_c``) builds its ``TopicMatcher``
from this facade and its own trie, which the matcher *is*: ``match``, the one
call made per PUBLISH, is the trie's own method, with no Python frame between
the caller and the compiled walk.
"""

from __future__ import annotations

import operator
import threading
from typing import TYPE_CHECKING, Any, ClassVar, Iterator, Optional, cast

from ._errors import InvalidTopicFilter

__all__ = ["DEFAULT_MAX_LEVELS", "SHARE_PREFIX", "split_shared", "MatcherFacade", "MATCHER_SLOTS", "IMPLEMENTATION_NAMES"]

#: What ``_topics_py`` and ``_topics_c`` each export.
IMPLEMENTATION_NAMES = (
    "MAX_TOPIC_BYTES",
    "DEFAULT_MAX_LEVELS",
    "validate_topic_name",
    "validate_topic_filter",
    "topic_matches",
    "split_shared",
    "TopicMatcher",
)

#: Default limit on the levels of a subscribed filter: far above any real hierarchy,
#: low enough that one hostile SUBSCRIBE cannot make the trie grow by megabytes.
DEFAULT_MAX_LEVELS = 128

SHARE_PREFIX = "$share/"


def split_shared(topic_filter: str) -> Optional[tuple[str, str]]:
    """``(share_name, inner_filter)`` of a shared subscription filter, else None (no validation)."""
    if not topic_filter.startswith(SHARE_PREFIX):
        return None
    share_name, _, inner = topic_filter[len(SHARE_PREFIX) :].partition("/")
    return share_name, inner


#: The instance fields of a ``TopicMatcher``, besides those of its trie. A mixin
#: cannot declare them itself (a class cannot have two bases with slots, and the
#: compiled trie is one), so each implementation's class lists these.
MATCHER_SLOTS = ("_max_levels", "_count", "_lock")


class MatcherFacade:
    """Subscriptions by topic filter, matched against topic names through a trie.

    ``subscribe(filter, value)`` stores the pair once (values must be
    hashable; a broker typically uses a client id or session object).
    ``match(topic)`` returns the values of every non-shared filter matching
    the topic, once per matching filter: a client subscribed through two
    overlapping filters appears twice, which lets a broker deliver once per
    subscription or pick the highest QoS (3.1.1 §3.3.5) and collect every
    subscription identifier (5.0 §3.3.4). Values of one filter come in
    subscription order; filters in a fixed order of the trie walk (level by
    level; at each level '#' before '+' before the exact level), the same for
    both twins.
    ``match_depth_first(topic)`` returns the same values in depth-first order
    (filters compared level by level, exact before '+' before '#', a filter
    before the longer ones it is a prefix of): paho-mqtt's order.

    Shared subscriptions ``$share/{group}/{filter}`` are kept per group and
    never appear in ``match``; ``match_shared(topic)`` returns
    ``{(group, filter): [members in subscription order]}`` for every group
    whose filter matches, and the broker delivers to one member of each.

    ``len()`` counts the (filter, value) pairs, shared ones included;
    ``(filter, value) in matcher`` tests one; iterating yields every pair
    (shared ones as ``$share/{group}/{filter}``) from a snapshot, in no
    promised order.

    ``max_levels`` (an int, default 128, read-only) bounds the levels of a
    subscribed filter (``InvalidTopicFilter`` beyond it); topics of any depth
    can be matched.

    Thread safety: ``subscribe``, ``unsubscribe`` and the snapshot taken by
    iteration are serialised by an internal lock; ``match`` and
    ``match_shared`` take no lock and may run in any number of threads
    alongside them. Every change to the trie is a single store or dict
    operation (in the compiled trie, a C step that runs no Python code), and
    a match never iterates a live dict except through one C call
    (``list.extend``, ``list(d.items())``), all atomic under the GIL, so a
    concurrent match sees each subscription either before or after a change,
    never a broken trie nor "dictionary changed size during iteration". (A
    free-threaded build would need a lock.)
    """

    if not TYPE_CHECKING:
        # The fields are MATCHER_SLOTS, declared by each implementation (mypy,
        # seeing no __slots__ here, lets the methods below assign them).
        __slots__ = ()

    #: Set by each implementation: its trie class (also the matcher's other base).
    _trie_class: ClassVar[type[Any]]

    if TYPE_CHECKING:  # the trie this matcher is (see _trie_py.Trie), its fields, the twin's validation

        @staticmethod
        def _validate_filter(topic_filter: str) -> None: ...

        _max_levels: int
        _shared_trie: Any  # a second trie of the twin: inner filters of shared subscriptions
        _shared: dict[str, dict[str, dict[Any, None]]]  # inner filter -> {group: {member: None}}
        _count: int
        _lock: threading.Lock

        def match(self, topic: str) -> list[Any]: ...
        def match_depth_first(self, topic: str) -> list[Any]: ...
        # On the trie too, like match: it is called once per PUBLISH, so the compiled
        # twin runs it without a Python frame (it reads _shared_trie and _shared).
        def match_shared(self, topic: str) -> dict[tuple[str, str], list[Any]]: ...
        def _add(self, levels: list[str], value: Any) -> bool: ...
        def _discard(self, levels: list[str], value: Any) -> bool: ...
        def _values(self, levels: list[str]) -> list[Any]: ...
        def _items(self, out: list[tuple[str, Any]]) -> None: ...
        def _nodes(self) -> int: ...

    def __init__(self, *, max_levels: int = DEFAULT_MAX_LEVELS) -> None:
        max_levels = operator.index(max_levels)
        if max_levels < 1:
            raise ValueError("max_levels must be at least 1")
        super().__init__()  # the trie's: this matcher's own root
        self._max_levels = max_levels
        self._shared_trie = self._trie_class()
        self._shared = {}
        self._count = 0
        self._lock = threading.Lock()

    @property
    def max_levels(self) -> int:
        """The most levels a subscribed filter may have."""
        return self._max_levels

    def subscribe(self, topic_filter: str, value: Any) -> bool:
        """Add ``value`` under ``topic_filter``; False if that pair was already there."""
        # Validation and the shared-subscription split inline: a SUBSCRIBE of many filters calls this per filter.
        self._validate_filter(topic_filter)
        shared = split_shared(topic_filter) if topic_filter.startswith(SHARE_PREFIX) else None
        # Each level is a node: a 65,535-byte filter of slashes would otherwise cost megabytes.
        levels = topic_filter.count("/") + 1 - (0 if shared is None else 2)
        if levels > self._max_levels:
            raise InvalidTopicFilter(f"topic filter has {levels} levels, more than max_levels={self._max_levels}")
        hash(value)  # refuse an unhashable value before touching the trie
        with self._lock:
            if shared is None:
                added = self._add(topic_filter.split("/"), value)
            else:
                group, inner = shared
                groups = self._shared.get(inner)
                if groups is None:
                    groups = self._shared[inner] = {}
                    self._shared_trie._add(inner.split("/"), inner)
                members = groups.setdefault(group, {})
                added = value not in members
                members[value] = None
            if added:
                self._count += 1
            return added

    def unsubscribe(self, topic_filter: str, value: Any) -> bool:
        """Remove ``value`` from ``topic_filter``; False if it was not subscribed."""
        self._validate_filter(topic_filter)
        shared = split_shared(topic_filter) if topic_filter.startswith(SHARE_PREFIX) else None
        with self._lock:
            if shared is None:
                removed = self._discard(topic_filter.split("/"), value)
            else:
                group, inner = shared
                groups = self._shared.get(inner)
                members = groups.get(group) if groups is not None else None
                removed = members is not None and value in members
                if removed:
                    assert groups is not None and members is not None
                    del members[value]
                    if not members:
                        del groups[group]
                        if not groups:
                            del self._shared[inner]
                            self._shared_trie._discard(inner.split("/"), inner)
            if removed:
                self._count -= 1
            return removed

    def __len__(self) -> int:
        """Number of (filter, value) pairs, shared subscriptions included."""
        return self._count

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        """Every stored ``(filter, value)`` pair, from a snapshot taken under the lock."""
        pairs: list[tuple[str, Any]] = []
        with self._lock:
            self._items(pairs)
            for inner, groups in self._shared.items():
                for group, members in groups.items():
                    prefix = f"{SHARE_PREFIX}{group}/{inner}"
                    pairs.extend([(prefix, member) for member in members])
        return iter(pairs)

    def __contains__(self, item: object) -> bool:
        """Whether the ``(filter, value)`` pair is stored."""
        topic_filter, value = cast("tuple[str, Any]", item)
        shared = split_shared(topic_filter)
        if shared is not None:
            groups = self._shared.get(shared[1])
            return groups is not None and value in groups.get(shared[0], ())
        # Copied out of the trie first: the comparisons may run Python code.
        return value in self._values(topic_filter.split("/"))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._count} subscriptions, max_levels={self._max_levels}>"

    def _node_count(self) -> int:
        """Trie nodes in use, both roots included (2 when empty); for tests of pruning."""
        return int(self._nodes() + self._shared_trie._nodes())
