"""The writing side (packets to bytes), pure-Python twin of ``_writers_c.pxi``.

One writer per packet type behind one table; the writer refuses to produce
what the reader would refuse to read, raising the same exception class.
"""

from __future__ import annotations

from struct import Struct
from typing import TYPE_CHECKING, Any, Callable

from ._constants import (
    ALLOWED_PROPERTIES,
    BRIDGE_BIT,
    MAX_VARINT,
    MQTT_5,
    PROPERTY_NAMES,
    PROPERTY_TYPES,
    PROTOCOL_NAMES,
    WILL,
    PropertyType,
)
from ._errors import (
    MalformedPacket,
    PacketTooLarge,
    ProtocolError,
    UnsupportedProtocolVersion,
)
from ._rules_py import (
    _PID,
    _PT,
    _REQUIRED_FLAGS,
    _VERSIONS,
    _as_view,
    _check_client_id,
    _check_connack_code,
    _check_property_value,
    _check_publish_topic_present,
    _check_reason_code,
    _check_suback_codes,
    _check_subscription,
    _check_topic_name,
    _check_unsuback_codes,
    _check_version,
    _check_will_topic,
    _validate_topic_filters,
)
from ._topic_rules_py import validate_topic_filter
from ._varint_py import encode_varint

# The packet classes for mypy are those of the stubs, which declare their fields: see _typing.
from ._typing import (
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

if TYPE_CHECKING:
    from ._typing import Ack, Binary, Buffer, Packet, PropertyValue, ReasonCoded, WithProperties, Written

_U16 = Struct(">H")
_U32 = Struct(">I")


def _int(value: object, field: str, limit: int) -> int:
    if not isinstance(value, int):
        raise TypeError(f"{field} must be an int, not {type(value).__name__}")
    if not 0 <= value <= limit:
        raise MalformedPacket(f"{field} {value} out of range 0..{limit}")
    return value


def _put_u8(out: bytearray, value: int, field: str) -> None:
    out.append(_int(value, field, 0xFF))


def _put_u16(out: bytearray, value: int, field: str) -> None:
    out += _U16.pack(_int(value, field, 0xFFFF))


def _put_u32(out: bytearray, value: int, field: str) -> None:
    out += _U32.pack(_int(value, field, 0xFFFFFFFF))


def _put_varint(out: bytearray, value: int, field: str) -> None:
    out += encode_varint(_int(value, field, MAX_VARINT))


def _put_string(out: bytearray, text: str, field: str) -> None:
    if not isinstance(text, str):
        raise TypeError(f"{field} must be a str, not {type(text).__name__}")
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedPacket(f"{field} contains a surrogate [MQTT-1.5.4-1]") from None
    if "\x00" in text:
        raise MalformedPacket(f"{field} contains U+0000 [MQTT-1.5.4-2]")
    if len(data) > 0xFFFF:
        raise MalformedPacket(f"{field} is {len(data)} bytes, more than 65,535")
    out += _U16.pack(len(data))
    out += data


def _put_binary(out: bytearray, data: Buffer, field: str) -> None:
    if isinstance(data, str):
        raise TypeError(f"{field} must be bytes-like, not str")
    try:
        size = memoryview(data).nbytes
    except TypeError:
        raise TypeError(f"{field} must be bytes-like, not {type(data).__name__}") from None
    if size > 0xFFFF:
        raise MalformedPacket(f"{field} is {size} bytes, more than 65,535")
    out += _U16.pack(size)
    out += data


def _packet_id(value: int | None) -> int:
    if value is None or value == 0:
        raise ProtocolError("packet identifier must be set and non-zero [MQTT-2.2.1-3]")
    return _int(value, "packet_id", 0xFFFF)


#: Property kind -> writer. The value's type follows from the kind, which mypy cannot tell:
#: each writer checks its value's type at run time.
_PUT_BY_KIND: dict[int, Callable[[bytearray, Any, str], None]] = {
    PropertyType.BYTE: _put_u8,
    PropertyType.TWO_BYTE_INT: _put_u16,
    PropertyType.FOUR_BYTE_INT: _put_u32,
    PropertyType.VARINT: _put_varint,
    PropertyType.UTF8_STRING: _put_string,
    PropertyType.BINARY: _put_binary,
}


#: (property identifier, attribute name, property kind, whether the attribute is a list).
_PlanEntry = tuple[int, str, int, bool]


def _property_plan(packet_type: int) -> tuple[_PlanEntry, ...]:
    # Identifier order, user properties at 0x26 among them: the order paho-mqtt writes.
    plan: list[_PlanEntry] = []
    for pid in sorted(ALLOWED_PROPERTIES[packet_type]):
        name = PROPERTY_NAMES[pid]
        if pid == _PID.SUBSCRIPTION_IDENTIFIER and packet_type == _PT.PUBLISH:
            name = "subscription_identifiers"
        kind = PROPERTY_TYPES[pid]
        # Whether the attribute is a list, written as one property per item.
        many = kind == PropertyType.STRING_PAIR or name == "subscription_identifiers"
        plan.append((pid, name, kind, many))
    return tuple(plan)


_PROPERTY_PLANS = {packet_type: _property_plan(packet_type) for packet_type in ALLOWED_PROPERTIES}


#: (property identifier, attribute name, property kind, value): one property to write.
_Entry = tuple[int, str, int, "PropertyValue | tuple[str, str]"]


def _property_entries(packet: WithProperties, packet_type: int) -> list[_Entry]:
    """(pid, name, kind, value) of each property to write, one per occurrence.

    Identifier order, user properties at 0x26 among them (the order paho-mqtt
    writes), unless the packet was decoded from a peer that used another
    order: then the peer's order, and properties added since after them.
    """
    entries: list[_Entry] = []
    for pid, name, kind, many in _PROPERTY_PLANS[packet_type]:
        value = getattr(packet, name)
        if many:
            if value:
                entries.extend((pid, name, kind, item) for item in value)
        elif value is not None:
            entries.append((pid, name, kind, value))
    # _wire_order: a private slot of the packets with properties, which the stubs leave out.
    wire_order: tuple[int, ...] | None = packet._wire_order  # type: ignore[union-attr]
    if wire_order:
        remaining, entries = entries, []
        for wire_pid in wire_order:
            for index, entry in enumerate(remaining):
                if entry[0] == wire_pid:
                    entries.append(remaining.pop(index))
                    break
        entries += remaining
    return entries


def _put_properties(out: bytearray, packet: WithProperties, packet_type: int) -> None:
    block = bytearray()
    for pid, name, kind, value in _property_entries(packet, packet_type):
        if kind == PropertyType.STRING_PAIR:
            if not isinstance(value, tuple) or len(value) != 2:
                raise TypeError(f"user_properties must hold (name, value) pairs, not {value!r}")
            block.append(pid)
            _put_string(block, value[0], "user property name")
            _put_string(block, value[1], "user property value")
        else:
            block.append(pid)
            _PUT_BY_KIND[kind](block, value, name)
            _check_property_value(pid, value)
    if len(block) < 0x80:
        out.append(len(block))  # a one-byte property length needs no varint loop
    else:
        _put_varint(out, len(block), "property length")
    out += block


def _has_properties(packet: WithProperties, packet_type: int) -> bool:
    for _, name, _, many in _PROPERTY_PLANS[packet_type]:
        value = getattr(packet, name)
        if value if many else value is not None:
            return True
    return False


def _write_connect(packet: Connect, version: int) -> Written:
    will = packet.will
    flags = 0x02 if packet.clean_start else 0
    if will is not None and not isinstance(will, Will):
        raise TypeError(f"will must be a Will, not {type(will).__name__}")
    if will is not None:
        qos = _int(will.qos, "will qos", 3)
        if qos == 3:
            raise MalformedPacket("will QoS is 3 [MQTT-3.1.2-12]")
        flags |= 0x04 | qos << 3 | (0x20 if will.retain else 0)
    if packet.password is not None:
        if packet.username is None and version < MQTT_5:
            raise ProtocolError("a password requires a user name before MQTT 5 [MQTT-3.1.2-22]")
        flags |= 0x40
    if packet.username is not None:
        flags |= 0x80
    out = bytearray()
    _put_string(out, PROTOCOL_NAMES[version], "protocol name")
    out.append(version | BRIDGE_BIT if packet.bridge else version)
    out.append(flags)
    _put_u16(out, packet.keep_alive, "keep_alive")
    if version == MQTT_5:
        _put_properties(out, packet, _PT.CONNECT)
    _put_string(out, packet.client_id, "client_id")
    _check_client_id(packet, version)
    if will is not None:
        if version == MQTT_5:
            _put_properties(out, will, WILL)
        _put_string(out, will.topic, "will topic")
        _check_will_topic(will.topic)
        _put_binary(out, will.payload, "will payload")
    if packet.username is not None:
        _put_string(out, packet.username, "username")
    if packet.password is not None:
        _put_binary(out, packet.password, "password")
    return 0x10, out, None


def _write_connack(packet: Connack, version: int) -> Written:
    code = _int(packet.reason_code, "reason_code", 0xFF)
    _check_connack_code(code, version)
    if packet.session_present and code:
        raise ProtocolError("session present with a failure reason code [MQTT-3.2.2-6]")
    out = bytearray((1 if packet.session_present else 0, code))
    if version == MQTT_5:
        _put_properties(out, packet, _PT.CONNACK)
    return 0x20, out, None


def _write_publish(packet: Publish, version: int) -> Written:
    qos = _int(packet.qos, "qos", 3)
    if qos == 3:
        raise MalformedPacket("PUBLISH QoS is 3 [MQTT-3.3.1-4]")
    if packet.dup and not qos:
        raise MalformedPacket("PUBLISH DUP set with QoS 0 [MQTT-3.3.1-2]")
    out = bytearray()
    _put_string(out, packet.topic, "topic")
    _check_topic_name(packet.topic, "topic")
    if qos:
        _put_u16(out, _packet_id(packet.packet_id), "packet_id")
    elif packet.packet_id is not None:
        raise ProtocolError("a QoS 0 PUBLISH must not carry a packet identifier [MQTT-2.2.1-2]")
    if version == MQTT_5:
        _put_properties(out, packet, _PT.PUBLISH)
    _check_publish_topic_present(packet, version)
    payload = packet.payload
    if isinstance(payload, str):
        raise TypeError("payload must be bytes-like, not str")
    first = 0x30 | qos << 1 | (0x08 if packet.dup else 0) | (0x01 if packet.retain else 0)
    if type(payload) is bytes:
        return first, out, payload
    try:
        return first, out, _as_view(payload)
    except TypeError:
        raise TypeError(f"payload must be bytes-like, not {type(payload).__name__}") from None


def _write_reason_and_properties(out: bytearray, packet: ReasonCoded, packet_type: int) -> None:
    # The shortest form that carries the fields (MQTT 5.0 §3.4.2.1, §3.14.2.1, §3.15.2.1).
    code = _int(packet.reason_code, "reason_code", 0xFF)
    _check_reason_code(packet_type, code)
    if _has_properties(packet, packet_type):
        out.append(code)
        _put_properties(out, packet, packet_type)
    elif code:
        out.append(code)


def _write_ack(packet: Ack, version: int) -> Written:
    out = bytearray(_U16.pack(_packet_id(packet.packet_id)))
    packet_type = packet.packet_type
    if version == MQTT_5:
        _write_reason_and_properties(out, packet, packet_type)
    return packet_type << 4 | _REQUIRED_FLAGS[packet_type], out, None


def _write_subscribe(packet: Subscribe, version: int) -> Written:
    out = bytearray(_U16.pack(_packet_id(packet.packet_id)))
    if version == MQTT_5:
        _put_properties(out, packet, _PT.SUBSCRIBE)
    if not packet.subscriptions:
        raise ProtocolError("SUBSCRIBE without a topic filter [MQTT-3.8.3-3]")
    topic_filters: list[str] = []
    try:
        for subscription in packet.subscriptions:
            if not isinstance(subscription, Subscription):
                raise TypeError(f"subscriptions must hold Subscription objects, not {type(subscription).__name__}")
            topic_filter = subscription.topic_filter
            _put_string(out, topic_filter, "topic_filter")
            topic_filters.append(topic_filter)
            options = _int(subscription.qos, "qos", 3)
            if version == MQTT_5:
                retain_handling = _int(subscription.retain_handling, "retain_handling", 3)
                options |= (
                    (0x04 if subscription.no_local else 0)
                    | (0x08 if subscription.retain_as_published else 0)
                    | retain_handling << 4
                )
                _check_subscription(subscription)
            elif options == 3:
                raise MalformedPacket("subscription QoS is 3")
            out.append(options)
    finally:
        # Each filter is validated as soon as it is written, in effect: see _validate_topic_filters.
        _validate_topic_filters(topic_filters)
    return 0x82, out, None


def _write_suback(packet: Suback, version: int) -> Written:
    out = bytearray(_U16.pack(_packet_id(packet.packet_id)))
    if version == MQTT_5:
        _put_properties(out, packet, _PT.SUBACK)
    for code in packet.reason_codes:
        _put_u8(out, code, "reason code")
    _check_suback_codes(packet.reason_codes, version)
    return 0x90, out, None


def _write_unsubscribe(packet: Unsubscribe, version: int) -> Written:
    out = bytearray(_U16.pack(_packet_id(packet.packet_id)))
    if version == MQTT_5:
        _put_properties(out, packet, _PT.UNSUBSCRIBE)
    if not packet.topic_filters:
        raise ProtocolError("UNSUBSCRIBE without a topic filter [MQTT-3.10.3-2]")
    for topic_filter in packet.topic_filters:
        _put_string(out, topic_filter, "topic filter")
        validate_topic_filter(topic_filter)
    return 0xA2, out, None


def _write_unsuback(packet: Unsuback, version: int) -> Written:
    out = bytearray(_U16.pack(_packet_id(packet.packet_id)))
    if version == MQTT_5:
        _put_properties(out, packet, _PT.UNSUBACK)
        for code in packet.reason_codes:
            _put_u8(out, code, "reason code")
        _check_unsuback_codes(packet.reason_codes)
    return 0xB0, out, None


def _write_pingreq(packet: Pingreq, version: int) -> Written:
    return 0xC0, bytearray(), None


def _write_pingresp(packet: Pingresp, version: int) -> Written:
    return 0xD0, bytearray(), None


def _write_disconnect(packet: Disconnect, version: int) -> Written:
    out = bytearray()
    if version == MQTT_5:
        _write_reason_and_properties(out, packet, _PT.DISCONNECT)
    return 0xE0, out, None


def _write_auth(packet: Auth, version: int) -> Written:
    if version < MQTT_5:
        raise MalformedPacket("AUTH exists only in MQTT 5")
    out = bytearray()
    _write_reason_and_properties(out, packet, _PT.AUTH)
    return 0xF0, out, None


#: The packets whose bytes need no version: the same at every level, or AUTH, which only MQTT 5 has.
_SAME_AT_EVERY_LEVEL = (Pingreq, Pingresp, Auth)

#: Packet class -> writer. Each writer takes the exact class it is filed under, a
#: relation mypy cannot express in a dict: hence Any for the packet.
_WRITERS: dict[type[Packet], Callable[[Any, int], Written]] = {
    Connect: _write_connect,
    Connack: _write_connack,
    Publish: _write_publish,
    Puback: _write_ack,
    Pubrec: _write_ack,
    Pubrel: _write_ack,
    Pubcomp: _write_ack,
    Subscribe: _write_subscribe,
    Suback: _write_suback,
    Unsubscribe: _write_unsubscribe,
    Unsuback: _write_unsuback,
    Pingreq: _write_pingreq,
    Pingresp: _write_pingresp,
    Disconnect: _write_disconnect,
    Auth: _write_auth,
}


def _resolve_version(packet: Packet, version: int | None) -> int:
    """The protocol level to encode ``packet`` at: ``version``, or where it cannot be wrong, the packet's.

    A CONNECT carries its level: ``protocol_version`` decides when ``version``
    is None, and the two must agree when both are given. PINGREQ and PINGRESP
    are the same bytes at every level and AUTH exists only in MQTT 5; every
    other packet's bytes differ between 3.1.1 and 5.0, so guessing would
    write what a peer misreads.
    """
    _check_version(version)
    if type(packet) is Connect:
        own = packet.protocol_version
        if own is None:
            if version is None:
                raise TypeError("encode() needs version= (3, 4 or 5) for a Connect without protocol_version")
            return version
        if not (isinstance(own, int) and own in _VERSIONS):
            raise UnsupportedProtocolVersion(f"unsupported protocol level {own!r}")
        if version is not None and version != own:
            raise ValueError(f"Connect.protocol_version is {own}, encode() was given {version}")
        return own
    if version is None:
        if type(packet) in _SAME_AT_EVERY_LEVEL:
            return MQTT_5
        raise TypeError(
            f"encode() needs version= (3, 4 or 5) for a {type(packet).__name__}: its bytes differ between levels"
        )
    return version


def _write(packet: Packet, version: int | None) -> tuple[bytes, bytearray, Binary | None]:
    """``(fixed_header, body, payload_or_None)`` of ``packet``."""
    writer = _WRITERS.get(type(packet))
    if writer is None:
        raise TypeError(f"cannot encode {type(packet).__name__}: not an mqttfast packet")
    version = _resolve_version(packet, version)
    first, body, payload = writer(packet, version)
    remaining = len(body) + (len(payload) if payload is not None else 0)
    if remaining > MAX_VARINT:
        raise PacketTooLarge(f"packet body of {remaining} bytes exceeds the protocol's {MAX_VARINT}")
    # Most packets are short: a one-byte remaining length needs no varint loop.
    header = bytes((first, remaining)) if remaining < 0x80 else bytes((first,)) + encode_varint(remaining)
    return header, body, payload


def encode(packet: Packet, version: int | None = None) -> bytes:
    """The wire bytes of ``packet`` for protocol level ``version``.

    ``version`` may be left out only where it cannot be wrong: a CONNECT
    whose ``protocol_version`` is set, PINGREQ and PINGRESP (the same bytes at
    every level) and AUTH (MQTT 5 only); for any other packet that is a
    TypeError. Fields only MQTT 5 knows (properties, reason codes of
    acknowledgements) are left out when encoding for 3.x.
    """
    header, body, payload = _write(packet, version)
    if payload is None:
        return bytes(header + body)
    return b"".join((header, body, payload))


def encoded_size(packet: Packet, version: int | None = None) -> int:
    """How many bytes ``encode(packet, version)`` returns, with the same checks."""
    header, body, payload = _write(packet, version)
    return len(header) + len(body) + (len(payload) if payload is not None else 0)


def encode_into(packet: Packet, buffer: Buffer, offset: int = 0, version: int | None = None) -> int:
    """Encode ``packet`` into the writable ``buffer`` at ``offset``; the number of bytes written.

    Raises ``ValueError`` (writing nothing) when the packet does not fit.
    """
    target = _as_view(buffer)
    if target.readonly:
        raise TypeError("encode_into() needs a writable buffer")
    header, body, payload = _write(packet, version)
    size = len(header) + len(body) + (len(payload) if payload is not None else 0)
    if offset < 0 or offset + size > len(target):
        raise ValueError(f"packet of {size} bytes does not fit in buffer of {len(target)} at offset {offset}")
    pos = offset
    for part in (header, body, payload):
        if part is not None:
            target[pos : pos + len(part)] = part
            pos += len(part)
    return size
