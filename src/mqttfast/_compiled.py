"""The public API of mqttfast served by the compiled (Cython) twins.

Importing it raises ImportError when a compiled module is missing, which is
how ``mqttfast`` decides to fall back to pure Python.
"""

from ._api import PUBLIC_NAMES, shared_namespace
from ._codec_c import Decoder, decode, encode, encode_forward, encode_into, encoded_size
from ._packets_c import (
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
from ._topics_c import TopicMatcher, topic_matches, validate_topic_filter, validate_topic_name
from ._varint_c import decode_varint, encode_varint, varint_size

globals().update(shared_namespace())

IMPLEMENTATION = "cython"

__all__ = list(PUBLIC_NAMES)
