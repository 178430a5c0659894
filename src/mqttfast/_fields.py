"""The fields of every packet class, and the behaviour they drive, shared by both twins.

``FIELDS`` lists each class's fields: fixed-header and variable-header fields
first, then the MQTT 5 properties the packet may carry (derived from
``ALLOWED_PROPERTIES`` so that classes and codec can never disagree),
``user_properties`` last. Each entry is (name, default).

What is not hot is written here once and used by both twins: repr, copying
and pickling, and turning a will into a PUBLISH. The compiled twin keeps
construction, equality and the lazy accessors of a decoded PUBLISH compiled.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any, Callable, Optional

from ._constants import ALLOWED_PROPERTIES, PROPERTY_NAMES, WILL, PacketType, PropertyId

__all__ = [
    "FRESH_LIST",
    "FIELDS",
    "PACKET_NAMES",
    "property_fields",
    "packet_eq",
    "packet_repr",
    "packet_copy",
    "packet_reduce",
    "will_to_publish",
]


class _FreshList:
    """Default marker: every instance gets its own empty list (``None`` given means the same)."""

    def __repr__(self) -> str:
        return "[]"


FRESH_LIST = _FreshList()

Fields = tuple[tuple[str, object], ...]


def property_fields(packet_type: int) -> Fields:
    """(name, default) of the MQTT 5 properties ``packet_type`` may carry, in identifier order."""
    fields: list[tuple[str, object]] = []
    for pid in sorted(ALLOWED_PROPERTIES[packet_type]):
        if pid == PropertyId.USER_PROPERTY:
            continue
        if pid == PropertyId.SUBSCRIPTION_IDENTIFIER and packet_type == PacketType.PUBLISH:
            # A PUBLISH to a client carries one identifier per matching subscription.
            fields.append(("subscription_identifiers", FRESH_LIST))
        else:
            fields.append((PROPERTY_NAMES[pid], None))
    fields.append(("user_properties", FRESH_LIST))
    return tuple(fields)


_T = PacketType
_ACK = (("packet_id", 0), ("reason_code", 0))

#: Class name -> ((field name, default), ...), in declaration order.
FIELDS: dict[str, Fields] = {
    "Will": (("topic", ""), ("payload", b""), ("qos", 0), ("retain", False)) + property_fields(WILL),
    "Connect": (
        # None: the level is given to encode(); a decoded CONNECT has the level it announced.
        ("protocol_version", None),
        ("client_id", ""),
        ("clean_start", True),
        ("keep_alive", 0),
        ("username", None),
        ("password", None),
        ("will", None),
        # The 0x80 bit of the protocol level, set by mosquitto bridges ("try_private").
        ("bridge", False),
    )
    + property_fields(_T.CONNECT),
    "Connack": (("session_present", False), ("reason_code", 0)) + property_fields(_T.CONNACK),
    "Publish": (
        ("topic", ""),
        ("payload", b""),
        ("qos", 0),
        ("retain", False),
        ("dup", False),
        ("packet_id", None),
    )
    + property_fields(_T.PUBLISH),
    "Puback": _ACK + property_fields(_T.PUBACK),
    "Pubrec": _ACK + property_fields(_T.PUBREC),
    "Pubrel": _ACK + property_fields(_T.PUBREL),
    "Pubcomp": _ACK + property_fields(_T.PUBCOMP),
    "Subscription": (
        ("topic_filter", ""),
        ("qos", 0),
        ("no_local", False),
        ("retain_as_published", False),
        ("retain_handling", 0),
    ),
    "Subscribe": (("packet_id", 0), ("subscriptions", FRESH_LIST)) + property_fields(_T.SUBSCRIBE),
    "Suback": (("packet_id", 0), ("reason_codes", FRESH_LIST)) + property_fields(_T.SUBACK),
    "Unsubscribe": (("packet_id", 0), ("topic_filters", FRESH_LIST)) + property_fields(_T.UNSUBSCRIBE),
    "Unsuback": (("packet_id", 0), ("reason_codes", FRESH_LIST)) + property_fields(_T.UNSUBACK),
    "Pingreq": (),
    "Pingresp": (),
    "Disconnect": (("reason_code", 0),) + property_fields(_T.DISCONNECT),
    "Auth": (("reason_code", 0),) + property_fields(_T.AUTH),
}

#: The names of the packet classes each twin defines, in the order above.
PACKET_NAMES = tuple(FIELDS)


# Packet class -> a function giving the tuple of a packet's field values, in
# ``_fields`` order: one C call instead of a getattr per field in Python.
_value_getters: dict[type, Callable[[Any], tuple[Any, ...]]] = {}


def _values(packet: Any) -> tuple[Any, ...]:
    cls = type(packet)
    try:
        return _value_getters[cls](packet)
    except KeyError:
        pass
    names = [name for name, _ in cls._fields]
    if len(names) > 1:
        getter: Callable[[Any], tuple[Any, ...]] = attrgetter(*names)
    else:  # attrgetter of one name gives the value itself, of none raises
        getter = lambda packet: tuple(getattr(packet, name) for name in names)  # noqa: E731
    _value_getters[cls] = getter
    return getter(packet)


def packet_eq(self: Any, other: object) -> Any:
    """``__eq__`` of every packet class: same class and equal fields (payload views compare by content)."""
    if type(other) is not type(self):
        return NotImplemented
    return _values(self) == _values(other)


#: How many bytes of a binary field a repr shows before it says how many there are.
REPR_BYTES = 64


def _show(value: object) -> str:
    # A view says so (it may go stale when its buffer is reused, a copy does not),
    # and a large payload must not turn a log line into megabytes.
    if type(value) is memoryview:
        kind = "memoryview"
        size = value.nbytes
        head = value[:REPR_BYTES].tobytes() if value.ndim == 1 and value.itemsize == 1 else value.tobytes()[:REPR_BYTES]
    elif isinstance(value, (bytes, bytearray)):
        if type(value) is bytes and len(value) <= REPR_BYTES:
            return repr(value)
        kind = "" if type(value) is bytes else type(value).__name__
        size = len(value)
        head = bytes(value[:REPR_BYTES])
    else:
        return repr(value)
    shown = repr(head) + (f"... ({size} bytes)" if size > REPR_BYTES else "")
    return f"{kind}({shown})" if kind else shown


def packet_repr(self: Any) -> str:
    """``__repr__`` of every packet class: the fields that differ from their defaults, by keyword.

    Binary fields show as ``b'...'`` when they are ``bytes`` and as
    ``memoryview(b'...')`` when they are views (what a decoder hands out);
    beyond ``REPR_BYTES`` bytes only the first ones are shown, followed by
    ``... (N bytes)``.
    """
    parts = []
    for (name, default), value in zip(self._fields, _values(self)):
        if default is FRESH_LIST:
            if not value:
                continue
        elif value is default or value == default:
            continue
        parts.append(f"{name}={_show(value)}")
    return f"{type(self).__name__}({', '.join(parts)})"


def _rebuild(cls: type, fields: dict[str, object], wire_order: Optional[tuple[int, ...]]) -> Any:
    packet = cls(**fields)
    if wire_order is not None:
        # Re-encoding gives the peer's property order back, as for the original.
        packet._wire_order = wire_order
    return packet


def packet_copy(self: Any) -> Any:
    """``__copy__`` of every packet class: a new packet holding the same field objects."""
    fields = {name: value for (name, _), value in zip(self._fields, _values(self))}
    return _rebuild(type(self), fields, getattr(self, "_wire_order", None))


def packet_reduce(self: Any) -> tuple[Any, ...]:
    """``__reduce__`` of every packet class, for pickle and ``copy.deepcopy``.

    Views become ``bytes``: a memoryview cannot be pickled, and a deep copy
    must not keep the decoder's buffer alive.
    """
    fields = {}
    for (name, _), value in zip(self._fields, _values(self)):
        fields[name] = value.tobytes() if isinstance(value, memoryview) else value
    return _rebuild, (type(self), fields, getattr(self, "_wire_order", None))


# The message fields a will shares with a PUBLISH (all but will_delay_interval).
_WILL_MESSAGE_FIELDS = tuple(name for name, _ in FIELDS["Will"] if name in dict(FIELDS["Publish"]))


def will_to_publish(will: Any, publish_class: type) -> Any:
    """The PUBLISH of ``will`` (``Will.to_publish`` of both twins): same payload object, new user property list."""
    fields = {name: getattr(will, name) for name in _WILL_MESSAGE_FIELDS}
    fields["user_properties"] = list(fields["user_properties"])
    return publish_class(**fields)

