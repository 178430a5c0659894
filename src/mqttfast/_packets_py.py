"""The packet classes, pure-Python twin of ``_packets_c``.

One flat class per control packet: fixed-header and variable-header fields
first, then the MQTT 5 properties the packet may carry (named as in
``_constants.PROPERTY_NAMES``, ``None`` when absent), ``user_properties``
last. The field tables live in ``_fields`` and are shared with the compiled twin.
"""

from __future__ import annotations

from ._constants import PacketType
from ._fields import FIELDS, FRESH_LIST

__all__ = [
    "Will",
    "Connect",
    "Connack",
    "Publish",
    "Puback",
    "Pubrec",
    "Pubrel",
    "Pubcomp",
    "Subscription",
    "Subscribe",
    "Suback",
    "Unsubscribe",
    "Unsuback",
    "Pingreq",
    "Pingresp",
    "Disconnect",
    "Auth",
]


def _as_bytes_if_binary(value):
    # A memoryview's repr says nothing about its content; show it as bytes.
    return bytes(value) if isinstance(value, memoryview) else value


class _Packet:
    """Keyword construction, equality and repr, driven by the ``_fields`` table."""

    __slots__ = ()
    _fields: tuple[tuple[str, object], ...] = ()
    _has_properties = False
    packet_type: int

    def __init__(self, **fields: object) -> None:
        for name, default in self._fields:
            value = fields.pop(name, default) if fields else default
            if default is FRESH_LIST and (value is FRESH_LIST or value is None):
                value = []
            setattr(self, name, value)
        if fields:
            name = next(iter(fields))
            raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {name!r}")
        if self._has_properties:
            self._wire_order = None

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name, _ in self._fields)

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def __repr__(self) -> str:
        parts = []
        for name, default in self._fields:
            value = getattr(self, name)
            if default is FRESH_LIST:
                if not value:
                    continue
            elif value is default or value == default:
                continue
            parts.append(f"{name}={_as_bytes_if_binary(value)!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


class Will(_Packet):
    """The will message of a CONNECT: published by the server if the client vanishes."""

    _fields = FIELDS["Will"]
    _has_properties = True
    # The order the peer sent the properties in, when it was not identifier order.
    __slots__ = tuple(name for name, _ in _fields) + ("_wire_order",)


class Connect(_Packet):
    """CONNECT (MQTT 5.0 §3.1). ``protocol_version`` is 3 (3.1), 4 (3.1.1) or 5 (5.0)."""

    packet_type = PacketType.CONNECT
    _fields = FIELDS["Connect"]
    _has_properties = True
    # The order the peer sent the properties in, when it was not identifier order.
    __slots__ = tuple(name for name, _ in _fields) + ("_wire_order",)


class Connack(_Packet):
    """CONNACK (MQTT 5.0 §3.2). Under 3.x ``reason_code`` is the return code 0..5."""

    packet_type = PacketType.CONNACK
    _fields = FIELDS["Connack"]
    _has_properties = True
    # The order the peer sent the properties in, when it was not identifier order.
    __slots__ = tuple(name for name, _ in _fields) + ("_wire_order",)


class Publish(_Packet):
    """PUBLISH (MQTT 5.0 §3.3). ``packet_id`` is None for QoS 0 and required otherwise."""

    packet_type = PacketType.PUBLISH
    _fields = FIELDS["Publish"]
    _has_properties = True
    # The order the peer sent the properties in, when it was not identifier order.
    __slots__ = tuple(name for name, _ in _fields) + ("_wire_order",)


class Puback(_Packet):
    """PUBACK (MQTT 5.0 §3.4): QoS 1 acknowledgement."""

    packet_type = PacketType.PUBACK
    _fields = FIELDS["Puback"]
    _has_properties = True
    # The order the peer sent the properties in, when it was not identifier order.
    __slots__ = tuple(name for name, _ in _fields) + ("_wire_order",)


class Pubrec(_Packet):
    """PUBREC (MQTT 5.0 §3.5): QoS 2 delivery, part 1."""

    packet_type = PacketType.PUBREC
    _fields = FIELDS["Pubrec"]
    _has_properties = True
    # The order the peer sent the properties in, when it was not identifier order.
    __slots__ = tuple(name for name, _ in _fields) + ("_wire_order",)


class Pubrel(_Packet):
    """PUBREL (MQTT 5.0 §3.6): QoS 2 delivery, part 2."""

    packet_type = PacketType.PUBREL
    _fields = FIELDS["Pubrel"]
    _has_properties = True
    # The order the peer sent the properties in, when it was not identifier order.
    __slots__ = tuple(name for name, _ in _fields) + ("_wire_order",)


class Pubcomp(_Packet):
    """PUBCOMP (MQTT 5.0 §3.7): QoS 2 delivery, part 3."""

    packet_type = PacketType.PUBCOMP
    _fields = FIELDS["Pubcomp"]
    _has_properties = True
    # The order the peer sent the properties in, when it was not identifier order.
    __slots__ = tuple(name for name, _ in _fields) + ("_wire_order",)


class Subscription(_Packet):
    """One topic filter of a SUBSCRIBE with its options (MQTT 5.0 §3.8.3.1)."""

    _fields = FIELDS["Subscription"]
    __slots__ = tuple(name for name, _ in _fields)


class Subscribe(_Packet):
    """SUBSCRIBE (MQTT 5.0 §3.8): ``subscriptions`` is a list of ``Subscription``."""

    packet_type = PacketType.SUBSCRIBE
    _fields = FIELDS["Subscribe"]
    _has_properties = True
    # The order the peer sent the properties in, when it was not identifier order.
    __slots__ = tuple(name for name, _ in _fields) + ("_wire_order",)


class Suback(_Packet):
    """SUBACK (MQTT 5.0 §3.9): one reason code per requested filter."""

    packet_type = PacketType.SUBACK
    _fields = FIELDS["Suback"]
    _has_properties = True
    # The order the peer sent the properties in, when it was not identifier order.
    __slots__ = tuple(name for name, _ in _fields) + ("_wire_order",)


class Unsubscribe(_Packet):
    """UNSUBSCRIBE (MQTT 5.0 §3.10): ``topic_filters`` is a list of str."""

    packet_type = PacketType.UNSUBSCRIBE
    _fields = FIELDS["Unsubscribe"]
    _has_properties = True
    # The order the peer sent the properties in, when it was not identifier order.
    __slots__ = tuple(name for name, _ in _fields) + ("_wire_order",)


class Unsuback(_Packet):
    """UNSUBACK (MQTT 5.0 §3.11): reason codes exist in MQTT 5 only (empty under 3.x)."""

    packet_type = PacketType.UNSUBACK
    _fields = FIELDS["Unsuback"]
    _has_properties = True
    # The order the peer sent the properties in, when it was not identifier order.
    __slots__ = tuple(name for name, _ in _fields) + ("_wire_order",)


class Pingreq(_Packet):
    """PINGREQ (MQTT 5.0 §3.12)."""

    packet_type = PacketType.PINGREQ
    _fields = FIELDS["Pingreq"]
    __slots__ = ()


class Pingresp(_Packet):
    """PINGRESP (MQTT 5.0 §3.13)."""

    packet_type = PacketType.PINGRESP
    _fields = FIELDS["Pingresp"]
    __slots__ = ()


class Disconnect(_Packet):
    """DISCONNECT (MQTT 5.0 §3.14). The reason code and properties exist in MQTT 5 only."""

    packet_type = PacketType.DISCONNECT
    _fields = FIELDS["Disconnect"]
    _has_properties = True
    # The order the peer sent the properties in, when it was not identifier order.
    __slots__ = tuple(name for name, _ in _fields) + ("_wire_order",)


class Auth(_Packet):
    """AUTH (MQTT 5.0 §3.15), MQTT 5 only: extended authentication exchange."""

    packet_type = PacketType.AUTH
    _fields = FIELDS["Auth"]
    _has_properties = True
    # The order the peer sent the properties in, when it was not identifier order.
    __slots__ = tuple(name for name, _ in _fields) + ("_wire_order",)
