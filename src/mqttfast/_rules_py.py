"""The protocol rules that both directions enforce, pure-Python twin of ``_rules_c.pxi``.

The reader refuses to read and the writer refuses to write the same things,
raising the same exception, because both call these checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._constants import (
    ALLOWED_REASON_CODES,
    MQTT_3_1,
    MQTT_3_1_1,
    MQTT_5,
    PROPERTY_NAMES,
    PROPERTY_TYPES,
    V3_SUBACK_CODES,
    PacketType,
    PropertyId,
    PropertyType,
)
from ._errors import (
    ClientIdentifierNotValid,
    InvalidTopicName,
    MalformedPacket,
    ProtocolError,
    TopicAliasInvalid,
)
from ._topic_rules_py import validate_topic_filter

if TYPE_CHECKING:
    from ._typing import Buffer, Connect, Publish, Subscription

_VERSIONS = (MQTT_3_1, MQTT_3_1_1, MQTT_5)
_PT = PacketType
_PID = PropertyId

#: Fixed-header flags every packet type but PUBLISH must carry (MQTT 5.0 §2.1.3).
_REQUIRED_FLAGS: dict[int, int] = {t: 0 for t in _PT}
_REQUIRED_FLAGS[_PT.PUBREL] = _REQUIRED_FLAGS[_PT.SUBSCRIBE] = _REQUIRED_FLAGS[_PT.UNSUBSCRIBE] = 2


#: Properties whose value 0 is a Protocol Error (MQTT 5.0 §3.1.2.11, §3.3.2.3).
_NONZERO_PROPERTIES = frozenset(
    {_PID.RECEIVE_MAXIMUM, _PID.TOPIC_ALIAS, _PID.MAXIMUM_PACKET_SIZE, _PID.SUBSCRIPTION_IDENTIFIER}
)


def _check_topic_name(topic: str, field: str, offset: int | None = None) -> None:
    # Strings reaching here are already valid UTF-8 without U+0000.
    if "+" in topic or "#" in topic:
        raise InvalidTopicName(f"{field} {topic!r} contains a wildcard [MQTT-3.3.2-2]", offset)


def _check_property_value(pid: int, value: object, offset: int | None = None) -> None:
    """The per-property rules beyond the wire type, shared by reader and writer."""
    if PROPERTY_TYPES[pid] == PropertyType.BYTE and value not in (0, 1):
        raise ProtocolError(f"{PROPERTY_NAMES[pid]} must be 0 or 1, not {value}", offset)
    if value == 0 and pid in _NONZERO_PROPERTIES:
        if pid == _PID.TOPIC_ALIAS:
            # Its own reason code, so a receiver answers DISCONNECT 0x94 [MQTT-3.3.2-8, §3.3.2.3.4].
            raise TopicAliasInvalid("topic_alias must not be 0 [MQTT-3.3.2-8]", offset)
        raise ProtocolError(f"{PROPERTY_NAMES[pid]} must not be 0", offset)
    if pid == _PID.RESPONSE_TOPIC:
        if not value:
            raise InvalidTopicName("response_topic must not be empty [MQTT-4.7.3-1]", offset)
        # A RESPONSE_TOPIC is read by string() and written after _put_string(): a str.
        _check_topic_name(value, "response_topic", offset)  # type: ignore[arg-type]


def _check_client_id(packet: Connect, version: int, offset: int | None = None) -> None:
    client_id = packet.client_id
    if version == MQTT_3_1:
        if not 1 <= len(client_id.encode("utf-8")) <= 23:
            raise ClientIdentifierNotValid("MQTT 3.1 client identifier must be 1 to 23 bytes", offset)
    elif version == MQTT_3_1_1 and not client_id and not packet.clean_start:
        raise ClientIdentifierNotValid("empty client identifier requires clean session [MQTT-3.1.3-7]", offset)


def _check_will_topic(topic: str, offset: int | None = None) -> None:
    if not topic:
        raise InvalidTopicName("will topic must not be empty [MQTT-4.7.3-1]", offset)
    _check_topic_name(topic, "will topic", offset)


def _check_connack_code(code: int, version: int, offset: int | None = None) -> None:
    if version == MQTT_5:
        _check_reason_code(_PT.CONNACK, code, offset)
    elif not 0 <= code <= 5:
        raise ProtocolError(f"CONNACK return code {code} is not one of 0..5", offset)


def _check_reason_code(packet_type: int, code: int, offset: int | None = None) -> None:
    if code not in ALLOWED_REASON_CODES[packet_type]:
        raise ProtocolError(f"reason code 0x{code:02X} is not allowed in {PacketType(packet_type).name}", offset)


def _check_publish_topic_present(packet: Publish, version: int, offset: int | None = None) -> None:
    if packet.topic:
        return
    if version < MQTT_5:
        raise InvalidTopicName("topic name must not be empty [MQTT-4.7.3-1]", offset)
    if packet.topic_alias is None:
        raise ProtocolError("empty topic name without a topic alias [MQTT-3.3.2-8]", offset)


def _validate_topic_filters(topic_filters: list[str]) -> None:
    """``validate_topic_filter`` on each of ``topic_filters``, in order.

    The reader and the writer of SUBSCRIBE call this once for all the filters
    of the packet, from a ``finally``: when the loop over the filters stops at
    an error of its own, the filters read until then are checked first, so an
    invalid filter before the error is reported instead, as when each filter is
    validated as soon as it is read. Filters come here from ``string()`` or
    ``_put_string()``: ``str``, well-formed, without U+0000, short enough.
    """
    if not _plainly_valid_filters(topic_filters):
        for topic_filter in topic_filters:
            validate_topic_filter(topic_filter)


def _plainly_valid_filters(topic_filters: list[str]) -> bool:
    """True only when ``validate_topic_filter`` accepts every one of ``topic_filters``.

    What ``string()`` and ``_put_string()`` leave to check is looked at in all
    the filters at once, joined into one string, with a few string methods
    instead of a loop in Python. False for what needs a closer look (a shared
    subscription, a misplaced wildcard): ``validate_topic_filter`` decides.
    """
    if "" in topic_filters:
        return False  # an empty filter [MQTT-4.7.3-1]
    joined = "\x00".join(topic_filters)  # U+0000: in no filter
    if "$share/" in joined:
        return False  # a share name to check [MQTT-4.8.2-1, MQTT-4.8.2-2]
    if "+" not in joined and "#" not in joined:
        return True
    # Every '/' doubled and every filter between "/\x00/": each level has a '/' of its own on
    # either side, so a '+' occupying a whole level [MQTT-4.7.1-2] reads "/+/" and a '#' alone
    # in the last level [MQTT-4.7.1-1] "/#/\x00". Once those are blanked, no wildcard may be left.
    levels = f"\x00{joined}\x00".replace("/", "//").replace("\x00", "/\x00/")
    levels = levels.replace("/+/", "/_/").replace("/#/\x00", "/_/\x00")
    return "+" not in levels and "#" not in levels


def _check_subscription(subscription: Subscription, offset: int | None = None) -> None:
    if subscription.qos == 3:
        raise MalformedPacket("subscription QoS is 3", offset)
    if subscription.retain_handling == 3:
        # A Protocol Error, not a malformed packet: MQTT 5.0 §3.8.3.1 names it so.
        raise ProtocolError("retain handling is 3 (MQTT 5.0 §3.8.3.1)", offset)
    if subscription.no_local and subscription.topic_filter.startswith("$share/"):
        raise ProtocolError("No Local on a shared subscription [MQTT-3.8.3-4]", offset)


def _check_suback_codes(codes: list[int], version: int, offset: int | None = None) -> None:
    if not codes:
        raise ProtocolError("SUBACK without a reason code", offset)
    allowed = ALLOWED_REASON_CODES[_PT.SUBACK] if version == MQTT_5 else V3_SUBACK_CODES[version]
    for index, code in enumerate(codes):
        if code not in allowed:
            at = None if offset is None else offset + index
            raise ProtocolError(f"SUBACK reason code 0x{code:02X} is not allowed", at)


def _check_unsuback_codes(codes: list[int], offset: int | None = None) -> None:
    if not codes:
        raise ProtocolError("UNSUBACK without a reason code", offset)
    for index, code in enumerate(codes):
        _check_reason_code(_PT.UNSUBACK, code, None if offset is None else offset + index)


def _as_view(data: Buffer) -> memoryview:
    view = memoryview(data)
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    return view


def _check_version(version: object) -> None:
    if version is not None and not (isinstance(version, int) and version in _VERSIONS):
        raise ValueError(f"version must be 3, 4, 5 or None, not {version!r}")
