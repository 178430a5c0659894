"""The packet classes, pure-Python twin of ``_packets_c``.

One flat class per control packet: fixed-header and variable-header fields
first, then the MQTT 5 properties the packet may carry (named as in
``_constants.PROPERTY_NAMES``, ``None`` when absent), ``user_properties``
last. The field tables, equality, repr, copying and pickling live in
``_fields`` and are shared with the compiled twin.
"""

from __future__ import annotations

from typing import Optional

from ._constants import PacketType
from ._fields import (
    FIELDS,
    FRESH_LIST,
    PACKET_NAMES,
    packet_copy,
    packet_eq,
    packet_reduce,
    packet_repr,
    will_to_publish,
)

__all__ = list(PACKET_NAMES)


def _slots(fields: tuple[tuple[str, object], ...]) -> tuple[str, ...]:
    return tuple(name for name, _ in fields)


class _Packet:
    """Keyword construction, equality, repr, copy and pickle, driven by the ``_fields`` table.

    ``repr`` shows the fields that differ from their defaults; a binary field
    shows as ``b'...'`` when it is ``bytes`` and as ``memoryview(b'...')``
    when it is a view of a decoder's input, and beyond 64 bytes only the first
    64 followed by ``... (N bytes)``. Pickling and ``copy.deepcopy`` turn views
    into ``bytes`` (a copy must not keep the decoder's buffer alive);
    ``copy.copy`` keeps the same field objects.
    """

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
            # Set here rather than in a subclass __init__: one Python frame less per packet.
            self._wire_order = None  # type: ignore[misc]  # a slot of every subclass that has properties

    __eq__ = packet_eq
    __hash__ = None  # type: ignore[assignment]  # mutable, like a list
    __repr__ = packet_repr
    __copy__ = packet_copy
    __reduce__ = packet_reduce


class _WithUserProperties(_Packet):
    """A packet with MQTT 5 properties."""

    # The order the peer sent the properties in, when it was not identifier order.
    __slots__ = ("_wire_order",)
    _has_properties = True


class Will(_WithUserProperties):
    """The will message of a CONNECT: published by the server if the client vanishes."""

    _fields = FIELDS["Will"]
    __slots__ = _slots(_fields)

    def to_publish(self) -> Publish:
        """The PUBLISH a server sends for this will: its topic, payload (the same object), QoS, retain and properties.

        ``user_properties`` is a new list of the same pairs; ``packet_id`` is
        None (assign one for QoS 1 and 2). ``will_delay_interval`` is no
        PUBLISH property: the server applies it, waiting that long before it
        publishes the will.
        """
        publish: Publish = will_to_publish(self, Publish)
        return publish


class Connect(_WithUserProperties):
    """CONNECT (MQTT 5.0 §3.1). ``protocol_version`` is 3 (3.1), 4 (3.1.1) or 5 (5.0)."""

    packet_type = PacketType.CONNECT
    _fields = FIELDS["Connect"]
    __slots__ = _slots(_fields)


class Connack(_WithUserProperties):
    """CONNACK (MQTT 5.0 §3.2). Under 3.x ``reason_code`` is the return code 0..5."""

    packet_type = PacketType.CONNACK
    _fields = FIELDS["Connack"]
    __slots__ = _slots(_fields)


class Publish(_WithUserProperties):
    """PUBLISH (MQTT 5.0 §3.3). ``packet_id`` is None for QoS 0 and required otherwise."""

    packet_type = PacketType.PUBLISH
    _fields = FIELDS["Publish"]
    __slots__ = _slots(_fields)


class _Ack(_WithUserProperties):
    """PUBACK, PUBREC, PUBREL and PUBCOMP share one layout."""

    __slots__ = _slots(FIELDS["Puback"])


class Puback(_Ack):
    """PUBACK (MQTT 5.0 §3.4): QoS 1 acknowledgement."""

    packet_type = PacketType.PUBACK
    _fields = FIELDS["Puback"]
    __slots__ = ()


class Pubrec(_Ack):
    """PUBREC (MQTT 5.0 §3.5): QoS 2 delivery, part 1."""

    packet_type = PacketType.PUBREC
    _fields = FIELDS["Pubrec"]
    __slots__ = ()


class Pubrel(_Ack):
    """PUBREL (MQTT 5.0 §3.6): QoS 2 delivery, part 2."""

    packet_type = PacketType.PUBREL
    _fields = FIELDS["Pubrel"]
    __slots__ = ()


class Pubcomp(_Ack):
    """PUBCOMP (MQTT 5.0 §3.7): QoS 2 delivery, part 3."""

    packet_type = PacketType.PUBCOMP
    _fields = FIELDS["Pubcomp"]
    __slots__ = ()


class Subscription(_Packet):
    """One topic filter of a SUBSCRIBE with its options (MQTT 5.0 §3.8.3.1)."""

    _fields = FIELDS["Subscription"]
    __slots__ = _slots(_fields)


class Subscribe(_WithUserProperties):
    """SUBSCRIBE (MQTT 5.0 §3.8): ``subscriptions`` is a list of ``Subscription``."""

    packet_type = PacketType.SUBSCRIBE
    _fields = FIELDS["Subscribe"]
    __slots__ = _slots(_fields)


class Suback(_WithUserProperties):
    """SUBACK (MQTT 5.0 §3.9): one reason code per requested filter."""

    packet_type = PacketType.SUBACK
    _fields = FIELDS["Suback"]
    __slots__ = _slots(_fields)


class Unsubscribe(_WithUserProperties):
    """UNSUBSCRIBE (MQTT 5.0 §3.10): ``topic_filters`` is a list of str."""

    packet_type = PacketType.UNSUBSCRIBE
    _fields = FIELDS["Unsubscribe"]
    __slots__ = _slots(_fields)


class Unsuback(_WithUserProperties):
    """UNSUBACK (MQTT 5.0 §3.11): reason codes exist in MQTT 5 only (empty under 3.x)."""

    packet_type = PacketType.UNSUBACK
    _fields = FIELDS["Unsuback"]
    __slots__ = _slots(_fields)


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


class Disconnect(_WithUserProperties):
    """DISCONNECT (MQTT 5.0 §3.14). The reason code and properties exist in MQTT 5 only."""

    packet_type = PacketType.DISCONNECT
    _fields = FIELDS["Disconnect"]
    __slots__ = _slots(_fields)


class Auth(_WithUserProperties):
    """AUTH (MQTT 5.0 §3.15), MQTT 5 only: extended authentication exchange."""

    packet_type = PacketType.AUTH
    _fields = FIELDS["Auth"]
    __slots__ = _slots(_fields)
