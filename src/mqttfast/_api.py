"""The public names, listed once for ``mqttfast``, ``mqttfast.fallback`` and ``mqttfast._compiled``."""

from __future__ import annotations

from types import ModuleType

from . import _constants, _errors, _events, _session
from ._fields import PACKET_NAMES

#: Names defined once and shared by both implementations.
SHARED_NAMES = tuple(_errors.__all__) + (
    "MQTT_3_1",
    "MQTT_3_1_1",
    "MQTT_5",
    "MAX_VARINT",
    "DEFAULT_MAX_PACKET_SIZE",
    "DEFAULT_MAX_PROPERTIES",
    "PacketType",
    "ReasonCode",
    "PropertyId",
    # the session layer's events and session state
    *_events.__all__,
    "ClientSession",
    "ServerSession",
    "Outgoing",
)

#: Names each implementation provides in its own twin modules.
TWIN_NAMES = (
    # variable byte integer
    "encode_varint",
    "decode_varint",
    "varint_size",
    # packets, one class per entry of the shared field table
    *PACKET_NAMES,
    # codec
    "decode",
    "encode",
    "encode_into",
    "encoded_size",
    "encode_forward",
    "Decoder",
    # topics
    "validate_topic_name",
    "validate_topic_filter",
    "topic_matches",
    "TopicMatcher",
    # sans-I/O connections
    "ClientConnection",
    "ServerConnection",
)

PUBLIC_NAMES = SHARED_NAMES + TWIN_NAMES


def implementation_namespace(*twins: ModuleType) -> dict[str, object]:
    """The public API of one implementation: each twin name from the module of ``twins`` that defines it.

    The shared names come along. A twin name no module defines is an ImportError,
    so an incomplete build fails at import instead of serving half an API.
    """
    namespace = shared_namespace()
    for name in TWIN_NAMES:
        for module in twins:
            if name in vars(module):
                namespace[name] = vars(module)[name]
                break
        else:
            raise ImportError(
                f"no module of {[module.__name__ for module in twins]} defines {name}"
            )
    return namespace


def shared_namespace() -> dict[str, object]:
    """The shared names with their objects, for the implementation modules to re-export."""
    namespace: dict[str, object] = {}
    for name in SHARED_NAMES:
        for module in (_errors, _events, _session, _constants):
            if name in vars(module):
                namespace[name] = vars(module)[name]
                break
    return namespace
