"""Retained messages: one per topic, found by topic filter when a subscription is made (§3.3.1.3).

Stored in a tree of topic levels, so a filter walks only the branches it can
match: a subscription to ``sensors/+/temp`` visits the children of
``sensors`` and one level below each, never the whole store. ``+`` and ``#``
in the first level do not match topics starting with ``$`` [MQTT-4.7.2-1].
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["RetainedStore"]


class _Level:
    __slots__ = ("children", "expires_at", "message")

    def __init__(self) -> None:
        self.children: dict[str, _Level] = {}
        self.message: Any = None
        self.expires_at: float | None = None


class RetainedStore:
    """The retained message of every topic that has one, bounded by ``max_messages``."""

    def __init__(self, max_messages: int = 1_000_000) -> None:
        self._root = _Level()
        self._count = 0
        self.max_messages = max_messages

    def __len__(self) -> int:
        return self._count

    def set(self, message: Any, expires_at: float | None = None) -> bool:
        """Keep ``message`` for its topic (replacing [MQTT-3.3.1-5]); an empty payload clears it [MQTT-3.3.1-6].

        Returns False when the store is full and the topic had no message (the new one is not kept).
        """
        levels = message.topic.split("/")
        if not len(message.payload):
            self._clear(levels)
            return True
        node = self._root
        for level in levels:
            child = node.children.get(level)
            if child is None:
                if self._count >= self.max_messages:
                    return False
                child = node.children[level] = _Level()
            node = child
        if node.message is None:
            if self._count >= self.max_messages:
                return False
            self._count += 1
        node.message = message
        node.expires_at = expires_at
        return True

    def _clear(self, levels: list[str]) -> None:
        path = [self._root]
        for level in levels:
            child = path[-1].children.get(level)
            if child is None:
                return
            path.append(child)
        if path[-1].message is not None:
            path[-1].message = None
            path[-1].expires_at = None
            self._count -= 1
        # Prune the empty branch so the tree never holds more than the topics it stores.
        for parent, level, node in zip(
            reversed(path[:-1]), reversed(levels), reversed(path[1:])
        ):
            if node.message is None and not node.children:
                del parent.children[level]
            else:
                break

    def match(
        self, topic_filter: str, now: float | None = None
    ) -> Iterator[tuple[Any, float | None]]:
        """``(message, expires_at)`` of every retained message whose topic matches ``topic_filter``.

        Messages expired at ``now`` are dropped on the way [MQTT-3.3.2-5].
        """
        # Walked with a stack, not recursion: a topic may have more levels than Python has frames.
        levels = topic_filter.split("/")
        found: list[tuple[Any, float | None]] = []
        stack = [(self._root, 0)]
        while stack:
            node, depth = stack.pop()
            if depth == len(levels):
                self._take(node, found, now)
                continue
            level = levels[depth]
            if level == "#":
                self._take(node, found, now)  # "sport/#" matches "sport" too
                self._everything(node, found, now, depth == 0)
            elif level == "+":
                for name, child in reversed(list(node.children.items())):
                    if not (depth == 0 and name.startswith("$")):
                        stack.append((child, depth + 1))
            else:
                exact = node.children.get(level)
                if exact is not None:
                    stack.append((exact, depth + 1))
        return iter(found)

    def _everything(
        self, node: _Level, found: list[Any], now: float | None, at_root: bool
    ) -> None:
        """Every message below ``node``, depth first, without recursion."""
        stack = [
            child
            for name, child in reversed(list(node.children.items()))
            if not (at_root and name.startswith("$"))
        ]
        while stack:
            child = stack.pop()
            self._take(child, found, now)
            stack.extend(reversed(list(child.children.values())))

    def _take(self, node: _Level, found: list[Any], now: float | None) -> None:
        message = node.message
        if message is None:
            return
        if node.expires_at is not None and now is not None and node.expires_at <= now:
            self._clear(message.topic.split("/"))
            return
        found.append((message, node.expires_at))

    def messages(self) -> Iterator[tuple[Any, float | None]]:
        """Every retained message with its expiry, for storage."""
        found: list[tuple[Any, float | None]] = []
        self._everything(self._root, found, None, False)
        return iter(found)
