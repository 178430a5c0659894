"""The whole public API of mqttfast in pure Python.

Importable beside the compiled implementation (as ``msgpack.fallback`` is), so
both can be compared in one process. ``mqttfast`` itself re-exports this
module when the compiled twins are unavailable or ``MQTTFAST_NO_EXTENSIONS``
is set.
"""

from ._api import PUBLIC_NAMES, shared_namespace
from ._codec_py import Decoder, decode, encode, encode_forward, encode_into, encoded_size
from ._packets_py import (
    Auth,
    Connack,
    Connect,
    Disconnect,
    Pingreq,
    Pingresp,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    Suback,
    Subscribe,
    Subscription,
    Unsuback,
    Unsubscribe,
    Will,
)
from ._topics_py import TopicMatcher, topic_matches, validate_topic_filter, validate_topic_name
from ._varint_py import decode_varint, encode_varint, varint_size

globals().update(shared_namespace())

IMPLEMENTATION = "python"

__all__ = list(PUBLIC_NAMES)
