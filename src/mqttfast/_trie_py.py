"""The subscription trie, pure-Python twin of ``_trie_c.pxi``.

Filters are paths of levels; a filter's values sit at its last node. The
trie is the hot kernel of ``TopicMatcher`` (which *is* a trie: see
``_topics``): ``match`` is the call made for every PUBLISH; the other methods
serve the facade.
"""

from __future__ import annotations

import operator
import sys
from typing import Any, Callable, Optional, Union

from ._errors import MQTTError
from ._topic_rules_py import validate_topic_name

__all__ = ["Trie", "RememberedMatches"]

# Filters repeat their levels ('sensors', 'temperature', ...): one str per
# distinct level instead of one per trie node saves memory and cache misses
# in match(). Not on 3.12.0 to 3.12.5, where interned strings are immortal and
# the levels of filters unsubscribed long ago would leak (CPython gh-113993).
_intern: Callable[[str], str] = str if (3, 12) <= sys.version_info[:3] < (3, 12, 6) else sys.intern


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


class Trie:
    """Filters as paths of levels; values stored at the filter's last node."""

    # A TopicMatcher's (unset in other tries): the trie of its shared subscriptions'
    # inner filters and {inner filter: {group: {member: None}}}.
    __slots__ = ("_root", "_shared_trie", "_shared")
    _shared_trie: Trie
    _shared: dict[str, dict[str, dict[Any, None]]]

    def __init__(self) -> None:
        self._root = _Node()

    def match(self, topic: str) -> list[Any]:
        """Values of the non-shared subscriptions matching the topic name ``topic``.

        Breadth-first over the levels, so a topic of thousands of levels needs
        no recursion; the '$' rule applies to wildcards at the first level.
        """
        validate_topic_name(topic)
        out: list[Any] = []
        wildcards_allowed = not topic.startswith("$")
        nodes = [self._root]
        for level in topic.split("/"):
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
                return out
            wildcards_allowed = True
        for node in nodes:
            node.collect(out)
            hash_node = node.hash
            if hash_node is not None:
                hash_node.collect(out)  # '#' matches the parent level too
        return out

    def match_depth_first(self, topic: str) -> list[Any]:
        """The values of ``match(topic)``, in the order of a depth-first walk.

        At each level the walk takes the exact level, then '+', then the values
        of '#', and a filter's values come before those of the filters it is a
        prefix of: filters ordered by their levels ranked exact < '+' < '#',
        compared as sequences (paho-mqtt's matcher yields this order, which
        ``mqttfast.compat.paho`` keeps; ``match`` walks breadth-first).
        """
        validate_topic_name(topic)
        out: list[Any] = []
        levels = topic.split("/")
        last = len(levels)
        wildcards_at_top = not topic.startswith("$")
        # (node, levels matched) still to visit, or (a '#' node, -1) whose values are due once the
        # subtrees stacked above it are done. The top is taken first, so children go on in reverse.
        pending: list[tuple[_Node, int]] = [(self._root, 0)]
        while pending:
            node, depth = pending.pop()
            if depth < 0:
                node.collect(out)
                continue
            if depth == last:
                node.collect(out)
                hash_node = node.hash
                if hash_node is not None:
                    hash_node.collect(out)  # '#' matches the parent level too
                continue
            if depth or wildcards_at_top:
                if node.hash is not None:
                    pending.append((node.hash, -1))
                if node.plus is not None:
                    pending.append((node.plus, depth + 1))
            child = node.child(levels[depth])
            if child is not None:
                pending.append((child, depth + 1))
        return out

    def match_shared(self, topic: str) -> dict[tuple[str, str], list[Any]]:
        """``{(group, filter): [members]}`` of the shared subscriptions matching the topic name ``topic``.

        A ``TopicMatcher`` method, defined on its trie as ``match`` is: it is
        called once per PUBLISH, and the compiled twin's runs without a Python frame.
        """
        return self._shared_trie._match_groups(topic, self._shared)

    def _match_groups(self, topic: str, groups_by_filter: dict[str, dict[str, dict[Any, None]]]) -> dict[tuple[str, str], list[Any]]:
        """``{(group, filter): [members]}`` for the filters (this trie's values) matching ``topic``."""
        result: dict[tuple[str, str], list[Any]] = {}
        for inner in self.match(topic):
            groups = groups_by_filter.get(inner)
            if groups is not None:
                for group, members in list(groups.items()):
                    result[(group, inner)] = list(members)
        return result

    def _add(self, levels: list[str], value: Any) -> bool:
        """Store ``value`` under the filter made of ``levels``; False if it was there."""
        node = self._root
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

    def _find(self, levels: list[str]) -> Optional[_Node]:
        """The node of the filter made of ``levels``, or None."""
        node: Optional[_Node] = self._root
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

    def _values(self, levels: list[str]) -> list[Any]:
        """The values stored under the filter made of ``levels``."""
        found: list[Any] = []
        node = self._find(levels)
        if node is not None:
            node.collect(found)
        return found

    def _discard(self, levels: list[str], value: Any) -> bool:
        """Remove ``value`` from the filter made of ``levels``; False if it was not there."""
        path: list[tuple[_Node, str]] = []
        node = self._root
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

    def _items(self, out: list[tuple[str, Any]]) -> None:
        """Append ``(filter, value)`` of every stored pair to ``out`` (depth first, no recursion)."""
        stack: list[tuple[_Node, Optional[str]]] = [(self._root, None)]
        while stack:
            node, prefix = stack.pop()
            if prefix is not None:
                values: list[Any] = []
                node.collect(values)
                out.extend([(prefix, value) for value in values])
            for level, child in node.branches():
                stack.append((child, level if prefix is None else prefix + "/" + level))

    def _nodes(self) -> int:
        """Number of nodes, the root included."""
        count = 0
        stack = [self._root]
        while stack:
            node = stack.pop()
            count += 1
            stack.extend([child for _, child in node.branches()])
        return count


class RememberedMatches:
    """A base class whose ``iter_match(topic)`` iterates over ``lookup(topic)``, some answers remembered.

    The base of the paho drop-in ``MQTTMatcher``: a client sees the same few
    topics over and over, and in the compiled twin a remembered answer costs
    one dict read and no Python frame (a C method, called as paho's is). One
    answer in ``every`` is kept, since keeping each would cost a topic seen
    once about as much as its lookup; a full memo (``limit`` answers) is
    emptied. ``lookup`` may raise ``MQTTError``: then ``fallback`` answers.
    ``_forget()`` binds a new memo, so a lookup that ran concurrently with a
    change keeps its possibly stale answer in the old one.
    """

    __slots__ = ("_answers", "_lookup", "_fallback", "_every", "_countdown", "_limit")

    def __init__(self, lookup: Callable[[str], Any], fallback: Callable[[str], Any], every: int, limit: int) -> None:
        every, limit = operator.index(every), operator.index(limit)  # integers only, as the compiled twin's
        if every < 1 or limit < 1:
            raise ValueError("every and limit must be at least 1")
        self._answers: dict[str, tuple[Any, ...]] = {}
        self._lookup = lookup
        self._fallback = fallback
        self._every = every
        self._countdown = 1
        self._limit = limit

    def iter_match(self, topic: str) -> Any:
        """An iterator over the values of every filter matching ``topic`` (``lookup``'s order)."""
        values = self._answers.get(topic)
        if values is not None:
            return iter(values)
        answers = self._answers  # taken before the lookup: see _forget()
        try:
            found = self._lookup(topic)
        except MQTTError:
            found = self._fallback(topic)
        self._countdown -= 1
        if self._countdown <= 0:
            self._countdown = self._every
            if len(answers) >= self._limit:
                answers.clear()  # never rebinds: a _forget() made meanwhile keeps its new memo
            # A tuple is one object where a list is two: fewer cache misses when it is read again.
            answers[topic] = tuple(found)
        return iter(found)

    def _forget(self) -> None:
        """Drop every remembered answer (the filters changed)."""
        self._answers = {}
