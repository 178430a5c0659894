# The compiled twin of _topics_py.py; its public API is described once, in _types.pyi.
from typing import Optional

from ._types import TopicMatcher as TopicMatcher
from ._types import topic_matches as topic_matches
from ._types import validate_topic_filter as validate_topic_filter
from ._types import validate_topic_name as validate_topic_name

def split_shared(topic_filter: str) -> Optional[tuple[str, str]]: ...
