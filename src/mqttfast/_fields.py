"""The fields of every packet class, shared by both twins of the packet classes.

Fixed-header and variable-header fields first, then the MQTT 5 properties the
packet may carry (derived from ``ALLOWED_PROPERTIES`` so that classes and codec
can never disagree), ``user_properties`` last. Each entry is (name, default).
"""

from __future__ import annotations

from ._constants import ALLOWED_PROPERTIES, PROPERTY_NAMES, WILL, PacketType, PropertyId

__all__ = ["FRESH_LIST", "FIELDS", "property_fields"]


class _FreshList:
    """Default marker: every instance gets its own empty list (``None`` given means the same)."""

    def __repr__(self) -> str:
        return "[]"


FRESH_LIST = _FreshList()


def property_fields(packet_type: int) -> tuple[tuple[str, object], ...]:
    """(name, default) of the MQTT 5 properties ``packet_type`` may carry, in identifier order."""
    fields = []
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
FIELDS: dict[str, tuple[tuple[str, object], ...]] = {
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
