"""The topic functions and ``TopicMatcher`` of the pure-Python implementation.

The hot kernels are this implementation's own (``_topic_rules_py``,
``_trie_py``); the rest of the matcher is the shared facade of ``_topics``.
"""

from __future__ import annotations

from ._topic_rules_py import MAX_TOPIC_BYTES, topic_matches, validate_topic_filter, validate_topic_name
from ._topics import DEFAULT_MAX_LEVELS, IMPLEMENTATION_NAMES, MATCHER_SLOTS, MatcherFacade, split_shared
from ._trie_py import Trie

__all__ = list(IMPLEMENTATION_NAMES)


class TopicMatcher(MatcherFacade, Trie):
    __doc__ = MatcherFacade.__doc__
    __slots__ = MATCHER_SLOTS
    _validate_filter = staticmethod(validate_topic_filter)
    _trie_class = Trie
