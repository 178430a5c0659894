"""Topic names, topic filters and the subscription matcher, pure-Python twin of ``_topics_c``.

The rules are those of MQTT 5.0 §4.7 (topics and wildcards) and §4.8.2
(shared subscriptions); 3.1.1 §4.7 says the same.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Callable, Iterator, Optional, Union, cast

from ._errors import InvalidTopicFilter, InvalidTopicName

__all__ = [
    "validate_topic_name",
    "validate_topic_filter",
    "topic_matches",
    "split_shared",
    "TopicMatcher",
]

#: Strings are limited by their 2-byte length prefix (MQTT 5.0 §1.5.4).
MAX_TOPIC_BYTES = 65_535

#: Default limit on the levels of a subscribed filter: far above any real hierarchy,
#: low enough that one hostile SUBSCRIBE cannot make the trie grow by megabytes.
DEFAULT_MAX_LEVELS = 128

_SHARE_PREFIX = "$share/"

# Filters repeat their levels ('sensors', 'temperature', ...): one str per
# distinct level instead of one per trie node saves memory and cache misses
# in match(). Not on 3.12.0 to 3.12.5, where interned strings are immortal and
# the levels of filters unsubscribed long ago would leak (CPython gh-113993).
_intern: Callable[[str], str] = str if (3, 12) <= sys.version_info[:3] < (3, 12, 6) else sys.intern


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


def split_shared(topic_filter: str) -> Optional[tuple[str, str]]:
    """``(share_name, inner_filter)`` of a shared subscription filter, else None (no validation)."""
    if not topic_filter.startswith(_SHARE_PREFIX):
        return None
    share_name, _, inner = topic_filter[len(_SHARE_PREFIX) :].partition("/")
    return share_name, inner


def validate_topic_filter(topic_filter: str) -> None:
    """Raise ``InvalidTopicFilter`` unless ``topic_filter`` may be subscribed to.

    ``$share/{ShareName}/{filter}`` is a shared subscription: ShareName is at
    least one character without ``/``, ``+`` or ``#`` and the filter after it
    is validated as usual [MQTT-4.8.2-1, MQTT-4.8.2-2].
    """
    _check_text(topic_filter, InvalidTopicFilter, "topic filter")
    if "+" not in topic_filter and "#" not in topic_filter and not topic_filter.startswith(_SHARE_PREFIX):
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


_NO_VALUE = object()


class _Node:
    """One level of the trie. Small on purpose: a broker holds millions of them.

    ``children`` is None, the only child itself (most nodes of a real trie
    have one; its ``key`` says which level it stands for), or a dict from
    level to child once there are several. ``plus`` and ``hash`` are the '+'
    and '#' children, kept apart so matching never hashes a wildcard. A node's
    subscribers are ``value`` (the first) and ``more`` (later ones, an
    insertion-ordered dict), so the common single-subscriber leaf allocates
    no container.

    Every change is one store or one dict operation, and readers read each
    field once, so a concurrent match sees a change either whole or not at all.
    """

    __slots__ = ("key", "children", "plus", "hash", "value", "more")

    key: str
    children: Union[None, _Node, dict[str, _Node]]
    plus: Optional[_Node]
    hash: Optional[_Node]
    value: Any
    more: Optional[dict[Any, None]]

    def __init__(self, key: str = "") -> None:
        self.key = key
        self.children = None
        self.plus = None
        self.hash = None
        self.value = _NO_VALUE
        self.more = None

    def child(self, level: str) -> Optional[_Node]:
        children = self.children
        if children is None:
            return None
        if isinstance(children, dict):
            return children.get(level)
        return children if children.key == level else None

    def add_child(self, level: str) -> _Node:
        children = self.children
        if children is None:
            child = self.children = _Node(_intern(level))
        elif isinstance(children, dict):
            found = children.get(level)
            if found is None:
                level = _intern(level)
                found = children[level] = _Node(level)
            child = found
        elif children.key == level:
            child = children
        else:
            level = _intern(level)
            child = _Node(level)
            self.children = {children.key: children, level: child}
        return child

    def remove_child(self, level: str) -> None:
        children = self.children
        if not isinstance(children, dict):
            self.children = None
            return
        del children[level]
        if len(children) == 1:
            self.children = next(iter(children.values()))

    def add(self, value: Any) -> bool:
        more = self.more
        if more is None:
            if self.value is _NO_VALUE:
                self.value = value
                return True
            if self.value is value or self.value == value:  # as a dict compares keys
                return False
            self.more = {value: None}
            return True
        if (self.value is not _NO_VALUE and (self.value is value or self.value == value)) or value in more:
            return False
        more[value] = None
        return True

    def discard(self, value: Any) -> bool:
        if self.value is not _NO_VALUE and (self.value is value or self.value == value):
            self.value = _NO_VALUE
        elif self.more is not None and value in self.more:
            del self.more[value]
        else:
            return False
        if not self.more:
            self.more = None
        return True

    def collect(self, out: list[Any]) -> None:
        value = self.value
        if value is not _NO_VALUE:
            out.append(value)
        more = self.more
        if more:
            out.extend(more)

    def branches(self) -> list[tuple[str, _Node]]:
        """``(level, child)`` of every child, wildcards included."""
        children = self.children
        branches: list[tuple[str, _Node]]
        if children is None:
            branches = []
        elif isinstance(children, dict):
            branches = list(children.items())
        else:
            branches = [(children.key, children)]
        if self.plus is not None:
            branches.append(("+", self.plus))
        if self.hash is not None:
            branches.append(("#", self.hash))
        return branches

    def empty(self) -> bool:
        return (
            self.value is _NO_VALUE
            and not self.more
            and self.children is None
            and self.plus is None
            and self.hash is None
        )


class _Trie:
    """Filters as paths of levels; values stored at the filter's last node."""

    __slots__ = ("root",)

    def __init__(self) -> None:
        self.root = _Node()

    def add(self, levels: list[str], value: Any) -> bool:
        node = self.root
        for level in levels:
            if level == "+":
                if node.plus is None:
                    node.plus = _Node()
                node = node.plus
            elif level == "#":
                if node.hash is None:
                    node.hash = _Node()
                node = node.hash
            else:
                node = node.add_child(level)
        return node.add(value)

    def find(self, levels: list[str]) -> Optional[_Node]:
        """The node of the filter made of ``levels``, or None."""
        node: Optional[_Node] = self.root
        for level in levels:
            assert node is not None
            if level == "+":
                node = node.plus
            elif level == "#":
                node = node.hash
            else:
                node = node.child(level)
            if node is None:
                return None
        return node

    def discard(self, levels: list[str], value: Any) -> bool:
        path: list[tuple[_Node, str]] = []
        node = self.root
        for level in levels:
            if level == "+":
                child = node.plus
            elif level == "#":
                child = node.hash
            else:
                child = node.child(level)
            if child is None:
                return False
            path.append((node, level))
            node = child
        if not node.discard(value):
            return False
        # Prune the nodes left empty, deepest first, so memory comes back.
        while path and node.empty():
            parent, level = path.pop()
            if level == "+":
                parent.plus = None
            elif level == "#":
                parent.hash = None
            else:
                parent.remove_child(level)
            node = parent
        return True

    def items(self, out: list[tuple[str, Any]]) -> None:
        """Append ``(filter, value)`` of every stored pair to ``out`` (depth first, no recursion)."""
        stack: list[tuple[_Node, Optional[str]]] = [(self.root, None)]
        while stack:
            node, prefix = stack.pop()
            if prefix is not None:
                values: list[Any] = []
                node.collect(values)
                out.extend([(prefix, value) for value in values])
            for level, child in node.branches():
                stack.append((child, level if prefix is None else prefix + "/" + level))

    def node_count(self) -> int:
        """Number of nodes, the root included."""
        count = 0
        stack = [self.root]
        while stack:
            node = stack.pop()
            count += 1
            stack.extend([child for _, child in node.branches()])
        return count

    def match(self, topic: str, out: list[Any]) -> None:
        """Append the values of every filter matching ``topic`` to ``out``.

        Breadth-first over the levels, so a topic of thousands of levels needs
        no recursion; the '$' rule applies to wildcards at the first level.
        """
        levels = topic.split("/")
        wildcards_allowed = not topic.startswith("$")
        nodes = [self.root]
        for level in levels:
            following: list[_Node] = []
            for node in nodes:
                if wildcards_allowed:
                    hash_node, plus = node.hash, node.plus
                    if hash_node is not None:
                        hash_node.collect(out)
                    if plus is not None:
                        following.append(plus)
                child = node.child(level)
                if child is not None:
                    following.append(child)
            nodes = following
            if not nodes:
                return
            wildcards_allowed = True
        for node in nodes:
            node.collect(out)
            hash_node = node.hash
            if hash_node is not None:
                hash_node.collect(out)  # '#' matches the parent level too


class TopicMatcher:
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

    Shared subscriptions ``$share/{group}/{filter}`` are kept per group and
    never appear in ``match``; ``match_shared(topic)`` returns
    ``{(group, filter): [members in subscription order]}`` for every group
    whose filter matches, and the broker delivers to one member of each.

    ``len()`` counts the (filter, value) pairs, shared ones included;
    ``(filter, value) in matcher`` tests one; iterating yields every pair
    (shared ones as ``$share/{group}/{filter}``) from a snapshot, in no
    promised order.

    ``max_levels`` (default 128) bounds the levels of a subscribed filter
    (``InvalidTopicFilter`` beyond it); topics of any depth can be matched.

    Thread safety: ``subscribe``, ``unsubscribe`` and the snapshot taken by
    iteration are serialised by an internal lock; ``match`` and
    ``match_shared`` take no lock and may run in any number of threads
    alongside them. Every change to the trie is a single store or dict
    operation, and a match never iterates a live dict except through one C
    call (``list.extend``, ``list(d.items())``), all atomic under the GIL,
    so a concurrent match sees each subscription either before or after a
    change, never a broken trie nor "dictionary changed size during
    iteration".
    """

    def __init__(self, *, max_levels: int = DEFAULT_MAX_LEVELS) -> None:
        if max_levels < 1:
            raise ValueError("max_levels must be at least 1")
        self.max_levels = max_levels
        self._trie = _Trie()
        self._shared_trie = _Trie()  # inner filters of shared subscriptions; values are the inner filters
        self._shared: dict[str, dict[str, dict[Any, None]]] = {}  # inner filter -> {group: {member: None}}
        self._count = 0
        self._lock = threading.Lock()

    def subscribe(self, topic_filter: str, value: Any) -> bool:
        """Add ``value`` under ``topic_filter``; False if that pair was already there."""
        validate_topic_filter(topic_filter)
        # Each level is a node: a 65,535-byte filter of slashes would otherwise cost megabytes.
        levels = topic_filter.count("/") + 1 - (2 if topic_filter.startswith("$share/") else 0)
        if levels > self.max_levels:
            raise InvalidTopicFilter(f"topic filter has {levels} levels, more than max_levels={self.max_levels}")
        hash(value)  # refuse an unhashable value before touching the trie
        with self._lock:
            shared = split_shared(topic_filter)
            if shared is None:
                added = self._trie.add(topic_filter.split("/"), value)
            else:
                group, inner = shared
                groups = self._shared.get(inner)
                if groups is None:
                    groups = self._shared[inner] = {}
                    self._shared_trie.add(inner.split("/"), inner)
                members = groups.setdefault(group, {})
                added = value not in members
                members[value] = None
            if added:
                self._count += 1
            return added

    def unsubscribe(self, topic_filter: str, value: Any) -> bool:
        """Remove ``value`` from ``topic_filter``; False if it was not subscribed."""
        validate_topic_filter(topic_filter)
        with self._lock:
            shared = split_shared(topic_filter)
            if shared is None:
                removed = self._trie.discard(topic_filter.split("/"), value)
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
                            self._shared_trie.discard(inner.split("/"), inner)
            if removed:
                self._count -= 1
            return removed

    def match(self, topic: str) -> list[Any]:
        """Values of the non-shared subscriptions matching the topic name ``topic``."""
        validate_topic_name(topic)
        out: list[Any] = []
        self._trie.match(topic, out)
        return out

    def match_shared(self, topic: str) -> dict[tuple[str, str], list[Any]]:
        """``{(group, filter): [members]}`` of the shared subscriptions matching ``topic``."""
        validate_topic_name(topic)
        inners: list[str] = []
        self._shared_trie.match(topic, inners)
        result: dict[tuple[str, str], list[Any]] = {}
        for inner in inners:
            groups = self._shared.get(inner)
            if groups is not None:
                for group, members in list(groups.items()):
                    result[(group, inner)] = list(members)
        return result

    def __len__(self) -> int:
        """Number of (filter, value) pairs, shared subscriptions included."""
        return self._count

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        """Every stored ``(filter, value)`` pair, from a snapshot taken under the lock."""
        pairs: list[tuple[str, Any]] = []
        with self._lock:
            self._trie.items(pairs)
            for inner, groups in self._shared.items():
                for group, members in groups.items():
                    prefix = f"{_SHARE_PREFIX}{group}/{inner}"
                    pairs.extend([(prefix, member) for member in members])
        return iter(pairs)

    def _node_count(self) -> int:
        """Trie nodes in use, both roots included (2 when empty); for tests of pruning."""
        return self._trie.node_count() + self._shared_trie.node_count()

    def __contains__(self, item: object) -> bool:
        """Whether the ``(filter, value)`` pair is stored."""
        topic_filter, value = cast("tuple[str, Any]", item)
        shared = split_shared(topic_filter)
        if shared is not None:
            groups = self._shared.get(shared[1])
            return groups is not None and value in groups.get(shared[0], ())
        node = self._trie.find(topic_filter.split("/"))
        if node is None:
            return False
        found: list[Any] = []
        node.collect(found)
        return value in found
