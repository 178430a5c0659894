"""The reading side (bytes to packets), pure-Python twin of ``_readers_c.pxi``.

One reader per packet type behind one table, every rule of MQTT 5.0 §2-§3
(and its 3.1.1 counterpart) checked as the fields are read. Binary fields are
zero-copy ``memoryview`` slices of the input unless a copy is asked for.
"""

from __future__ import annotations

from struct import Struct
from typing import TYPE_CHECKING, Callable

from ._constants import (
    ALLOWED_PROPERTIES,
    BRIDGE_BIT,
    DEFAULT_MAX_PACKET_SIZE,
    DEFAULT_MAX_PROPERTIES,
    MQTT_5,
    PROPERTY_NAMES,
    PROPERTY_TYPES,
    PROTOCOL_NAMES,
    V3_UNACCEPTABLE_PROTOCOL_VERSION,
    WILL,
    PacketType,
    PropertyType,
    ReasonCode,
)
from ._errors import (
    Incomplete,
    MalformedPacket,
    MQTTError,
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
    _check_topic_name,
    _check_unsuback_codes,
    _check_version,
    _check_will_topic,
    _validate_topic_filters,
)
from ._topic_rules_py import validate_topic_filter

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
    from ._typing import Ack, Binary, Buffer, Packet, PropertyValue, ReasonCoded, WithProperties

_U32 = Struct(">I")
_RC = ReasonCode

_ACK_CLASSES: dict[int, type[Ack]] = {_PT.PUBACK: Puback, _PT.PUBREC: Pubrec, _PT.PUBREL: Pubrel, _PT.PUBCOMP: Pubcomp}


class _Reader:
    """A cursor over one packet's body; every read checks the packet's end."""

    __slots__ = ("view", "pos", "end", "copy", "max_properties")

    def __init__(self, view: memoryview, pos: int, end: int, copy: bool, max_properties: int) -> None:
        self.view = view
        self.pos = pos
        self.end = end
        self.copy = copy
        self.max_properties = max_properties

    def _take(self, n: int, field: str) -> int:
        pos = self.pos
        if pos + n > self.end:
            raise MalformedPacket(f"{field} runs past the end of the packet", pos)
        self.pos = pos + n
        return pos

    # u8(), u16() and string() make _take()'s check themselves: they read most fields.
    def u8(self, field: str) -> int:
        pos = self.pos
        if pos >= self.end:
            raise MalformedPacket(f"{field} runs past the end of the packet", pos)
        self.pos = pos + 1
        return self.view[pos]

    def u16(self, field: str) -> int:
        pos = self.pos
        if pos + 2 > self.end:
            raise MalformedPacket(f"{field} runs past the end of the packet", pos)
        self.pos = pos + 2
        view = self.view
        return view[pos] << 8 | view[pos + 1]

    def u32(self, field: str) -> int:
        pos = self._take(4, field)
        value: int = _U32.unpack_from(self.view, pos)[0]
        return value

    def varint(self, field: str) -> int:
        view, pos, end = self.view, self.pos, self.end
        if pos < end and view[pos] < 0x80:
            self.pos = pos + 1
            return view[pos]  # one byte: most lengths are short
        value = shift = 0
        for count in range(4):
            if pos >= end:
                raise MalformedPacket(f"{field} runs past the end of the packet", pos)
            byte = view[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                self.pos = pos
                return value
            shift += 7
        raise MalformedPacket(f"{field}: variable byte integer longer than 4 bytes", self.pos)

    def string(self, field: str) -> str:
        view, start, end = self.view, self.pos, self.end
        pos = start + 2
        if pos > end:
            raise MalformedPacket(f"{field} runs past the end of the packet", start)
        stop = pos + (view[start] << 8 | view[start + 1])
        if stop > end:
            raise MalformedPacket(f"{field} runs past the end of the packet", pos)
        self.pos = stop
        try:
            text = str(view[pos:stop], "utf-8")
        except UnicodeDecodeError as exc:
            # Python's strict codec also refuses encoded surrogates [MQTT-1.5.4-1].
            raise MalformedPacket(f"{field} is not well-formed UTF-8: {exc.reason}", start) from None
        if "\x00" in text:
            raise MalformedPacket(f"{field} contains U+0000 [MQTT-1.5.4-2]", start)
        return text

    def binary(self, field: str) -> Binary:
        length = self.u16(field)
        pos = self._take(length, field)
        data = self.view[pos : pos + length]
        return bytes(data) if self.copy else data

    def rest(self) -> Binary:
        data = self.view[self.pos : self.end]
        self.pos = self.end
        return bytes(data) if self.copy else data

    def packet_id(self) -> int:
        pos = self.pos
        packet_id = self.u16("packet identifier")
        if not packet_id:
            raise ProtocolError("packet identifier must not be 0 [MQTT-2.2.1-3]", pos)
        return packet_id

    def properties(self, packet_type: int, target: WithProperties) -> None:
        """Read a property block into the attributes of ``target``."""
        length = self.varint("property length")
        if not length:
            return  # the common case of SUBSCRIBE and the acknowledgements
        stop = self.pos + length
        if stop > self.end:
            raise MalformedPacket("property length runs past the end of the packet", self.pos)
        outer_end, self.end = self.end, stop
        allowed = ALLOWED_PROPERTIES[packet_type]
        seen = 0
        order: list[int] = []
        in_order = True
        value: PropertyValue
        while self.pos < stop:
            start = self.pos
            if len(order) == self.max_properties:
                raise PacketTooLarge(f"more than max_properties={self.max_properties} properties", start)
            pid = self.varint("property identifier")
            if self.pos - start != 1:
                # Every identifier is one byte (MQTT 5.0 §2.2.2.2); a longer form is not minimal [MQTT-1.5.5-1].
                raise MalformedPacket("property identifier longer than one byte", start)
            if order and pid < order[-1]:
                in_order = False
            order.append(pid)
            kind = PROPERTY_TYPES.get(pid)
            if kind is None:
                raise MalformedPacket(f"unknown property identifier 0x{pid:02X}", start)
            if pid not in allowed:
                where = "Will" if packet_type == WILL else PacketType(packet_type).name
                raise ProtocolError(f"property {PROPERTY_NAMES[pid]} is not allowed in {where}", start)
            if kind == PropertyType.STRING_PAIR:
                name = self.string("user property name")
                target.user_properties.append((name, self.string("user property value")))
                continue
            if pid == _PID.SUBSCRIPTION_IDENTIFIER and packet_type == _PT.PUBLISH:
                value = self.varint("subscription_identifier")
                _check_property_value(pid, value, start)
                # packet_type PUBLISH: target is the Publish being read.
                target.subscription_identifiers.append(value)  # type: ignore[union-attr]
                continue
            if seen >> pid & 1:
                raise ProtocolError(f"property {PROPERTY_NAMES[pid]} appears twice", start)
            seen |= 1 << pid
            name = PROPERTY_NAMES[pid]
            if kind == PropertyType.BYTE:
                value = self.u8(name)
            elif kind == PropertyType.TWO_BYTE_INT:
                value = self.u16(name)
            elif kind == PropertyType.FOUR_BYTE_INT:
                value = self.u32(name)
            elif kind == PropertyType.VARINT:
                value = self.varint(name)
            elif kind == PropertyType.UTF8_STRING:
                value = self.string(name)
            else:
                value = self.binary(name)
            _check_property_value(pid, value, start)
            setattr(target, name, value)
        self.end = outer_end
        if not in_order:
            # Kept so that re-encoding gives the peer's bytes back (the specification fixes no order).
            target._wire_order = tuple(order)  # type: ignore[union-attr]  # a private slot, not in the stubs


def _read_connect(r: _Reader, flags: int, version: int | None) -> Connect:
    start = r.pos
    name = r.string("protocol name")
    level = r.u8("protocol level")
    # mosquitto bridges set the level's top bit ("try_private"); the level is the rest.
    bridge = bool(level & BRIDGE_BIT)
    level &= ~BRIDGE_BIT
    try:
        return _read_connect_rest(r, name, level, bridge, start)
    except MQTTError as exc:
        # The server answers in the form of the level it read [MQTT-3.1.4-2, MQTT-3.2.2-4/5].
        exc.protocol_name = name
        exc.protocol_level = level
        raise


def _read_connect_rest(r: _Reader, name: str, level: int, bridge: bool, start: int) -> Connect:
    if level not in _VERSIONS or PROTOCOL_NAMES[level] != name:
        raise UnsupportedProtocolVersion(f"unsupported protocol {name!r} level {level} [MQTT-3.1.2-2]", start)
    pos = r.pos
    connect_flags = r.u8("connect flags")
    if connect_flags & 0x01:
        raise MalformedPacket("reserved connect flag is set [MQTT-3.1.2-3]", pos)
    has_will = connect_flags & 0x04
    will_qos = connect_flags >> 3 & 3
    will_retain = bool(connect_flags & 0x20)
    if will_qos == 3:
        raise MalformedPacket("will QoS is 3 [MQTT-3.1.2-12]", pos)
    if not has_will and (will_qos or will_retain):
        raise MalformedPacket("will QoS or retain set without a will [MQTT-3.1.2-11]", pos)
    has_password = connect_flags & 0x40
    has_username = connect_flags & 0x80
    if has_password and not has_username and level < MQTT_5:
        raise ProtocolError("password flag set without user name flag [MQTT-3.1.2-22]", pos)
    packet = Connect(protocol_version=level, clean_start=bool(connect_flags & 0x02), keep_alive=r.u16("keep alive"))
    packet.bridge = bridge
    if level == MQTT_5:
        r.properties(_PT.CONNECT, packet)
    pos = r.pos
    packet.client_id = r.string("client identifier")
    _check_client_id(packet, level, pos)
    if has_will:
        will = Will(qos=will_qos, retain=will_retain)
        if level == MQTT_5:
            r.properties(WILL, will)
        pos = r.pos
        will.topic = r.string("will topic")
        _check_will_topic(will.topic, pos)
        will.payload = r.binary("will payload")
        packet.will = will
    if has_username:
        packet.username = r.string("user name")
    if has_password:
        packet.password = r.binary("password")
    if r.pos != r.end:
        # Checked here too, so that the error carries the level like the others.
        raise MalformedPacket(f"{r.end - r.pos} bytes left over after the last field", r.pos)
    return packet


def _read_connack(r: _Reader, flags: int, version: int) -> Connack:
    pos = r.pos
    ack_flags = r.u8("acknowledge flags")
    if ack_flags & 0xFE:
        raise MalformedPacket("reserved acknowledge flags are set [MQTT-3.2.2-1]", pos)
    pos = r.pos
    code = r.u8("reason code")
    if version == MQTT_5 and code == V3_UNACCEPTABLE_PROTOCOL_VERSION and r.pos == r.end and not ack_flags:
        # A 3.1.1-only server refusing a 5.0 client answers in its own form, 20 02 00 01, with
        # no property length. Read as the 5.0 refusal it means, so the client can fall back.
        return Connack(reason_code=int(_RC.UNSUPPORTED_PROTOCOL_VERSION))
    _check_connack_code(code, version, pos)
    if ack_flags and code:
        raise ProtocolError("session present with a failure reason code [MQTT-3.2.2-6]", pos)
    packet = Connack(session_present=bool(ack_flags), reason_code=code)
    if version == MQTT_5:
        r.properties(_PT.CONNACK, packet)
    return packet


def _read_publish(r: _Reader, flags: int, version: int) -> Publish:
    qos = flags >> 1 & 3
    if qos == 3:
        raise MalformedPacket("PUBLISH QoS is 3 [MQTT-3.3.1-4]", r.pos - 1)
    if flags & 0x08 and not qos:
        raise MalformedPacket("PUBLISH DUP set with QoS 0 [MQTT-3.3.1-2]", r.pos - 1)
    pos = r.pos
    packet = Publish(topic=r.string("topic name"), qos=qos, retain=bool(flags & 1), dup=bool(flags & 8))
    _check_topic_name(packet.topic, "topic name", pos)
    if qos:
        packet.packet_id = r.packet_id()
    if version == MQTT_5:
        r.properties(_PT.PUBLISH, packet)
    _check_publish_topic_present(packet, version, pos)
    packet.payload = r.rest()
    return packet


def _read_ack(r: _Reader, flags: int, version: int, packet_type: int) -> Ack:
    packet = _ACK_CLASSES[packet_type](packet_id=r.packet_id())
    if version == MQTT_5:
        _read_reason_and_properties(r, packet_type, packet)
    return packet


def _read_reason_and_properties(r: _Reader, packet_type: int, packet: ReasonCoded) -> None:
    # Short forms: the reason code, then the properties, may be left out (MQTT 5.0 §3.4.2.1).
    if r.pos < r.end:
        pos = r.pos
        packet.reason_code = r.u8("reason code")
        _check_reason_code(packet_type, packet.reason_code, pos)
        if r.pos < r.end:
            r.properties(packet_type, packet)


def _read_subscribe(r: _Reader, flags: int, version: int) -> Subscribe:
    packet = _new_subscribe(r.packet_id())
    if version == MQTT_5:
        r.properties(_PT.SUBSCRIBE, packet)
    known_options = _SUBSCRIPTION_OPTIONS[version]
    subscriptions = packet.subscriptions
    topic_filters: list[str] = []
    try:
        while r.pos < r.end:
            topic_filter = r.string("topic filter")
            topic_filters.append(topic_filter)
            pos = r.pos
            options = r.u8("subscription options")
            fields = known_options[options] or _subscription_options(options, version, pos)
            qos, no_local, retain_as_published, retain_handling = fields
            if no_local and topic_filter.startswith("$share/"):
                raise ProtocolError("No Local on a shared subscription [MQTT-3.8.3-4]", pos)
            subscription = Subscription.__new__(Subscription)
            subscription.topic_filter = topic_filter
            subscription.qos = qos
            subscription.no_local = no_local
            subscription.retain_as_published = retain_as_published
            subscription.retain_handling = retain_handling
            subscriptions.append(subscription)
    finally:
        # Each filter is validated as soon as it is read, in effect: see _validate_topic_filters.
        _validate_topic_filters(topic_filters)
    if not subscriptions:
        raise ProtocolError("SUBSCRIBE without a topic filter [MQTT-3.8.3-3]", r.pos)
    return packet


#: ``(qos, no_local, retain_as_published, retain_handling)`` of one subscription.
_Options = tuple[int, bool, bool, int]


def _subscription_options(options: int, version: int, offset: int | None = None) -> _Options:
    """``(qos, no_local, retain_as_published, retain_handling)`` of a subscription options byte (MQTT 5.0 §3.8.3.1)."""
    # Under 3.x only the QoS bits exist: with the others zero, the 5.0 fields read as their defaults.
    if options & (0xC0 if version == MQTT_5 else 0xFC):
        raise MalformedPacket("reserved subscription option bits are set [MQTT-3.8.3-5]", offset)
    # The checks of _check_subscription, on the option bits themselves.
    if options & 0x03 == 0x03:
        raise MalformedPacket("subscription QoS is 3", offset)
    if options & 0x30 == 0x30:
        raise ProtocolError("retain handling is 3 (MQTT 5.0 §3.8.3.1)", offset)
    return options & 0x03, (options & 0x04) != 0, (options & 0x08) != 0, options >> 4 & 0x03


def _known_options(version: int) -> tuple[_Options | None, ...]:
    # The fields of each valid options byte, None for the others (_subscription_options raises for those).
    table: list[_Options | None] = []
    for options in range(256):
        try:
            table.append(_subscription_options(options, version))
        except (MalformedPacket, ProtocolError):
            table.append(None)
    return tuple(table)


_SUBSCRIPTION_OPTIONS = {version: _known_options(version) for version in _VERSIONS}


def _new_subscribe(packet_id: int) -> Subscribe:
    # Slots set directly, as for each Subscription in _read_subscribe: the keyword
    # constructor costs more than reading a small SUBSCRIBE does.
    packet = Subscribe.__new__(Subscribe)
    packet.packet_id = packet_id
    packet.subscriptions = []
    packet.subscription_identifier = None
    packet.user_properties = []
    packet._wire_order = None  # type: ignore[attr-defined]  # a private slot, not in the stubs
    return packet


def _read_suback(r: _Reader, flags: int, version: int) -> Suback:
    packet = Suback(packet_id=r.packet_id())
    if version == MQTT_5:
        r.properties(_PT.SUBACK, packet)
    pos = r.pos
    packet.reason_codes = list(r.rest())
    _check_suback_codes(packet.reason_codes, version, pos)
    return packet


def _read_unsubscribe(r: _Reader, flags: int, version: int) -> Unsubscribe:
    packet = Unsubscribe(packet_id=r.packet_id())
    if version == MQTT_5:
        r.properties(_PT.UNSUBSCRIBE, packet)
    while r.pos < r.end:
        topic_filter = r.string("topic filter")
        validate_topic_filter(topic_filter)
        packet.topic_filters.append(topic_filter)
    if not packet.topic_filters:
        raise ProtocolError("UNSUBSCRIBE without a topic filter [MQTT-3.10.3-2]", r.pos)
    return packet


def _read_unsuback(r: _Reader, flags: int, version: int) -> Unsuback:
    packet = Unsuback(packet_id=r.packet_id())
    if version == MQTT_5:
        r.properties(_PT.UNSUBACK, packet)
        pos = r.pos
        packet.reason_codes = list(r.rest())
        _check_unsuback_codes(packet.reason_codes, pos)
    return packet


def _read_pingreq(r: _Reader, flags: int, version: int) -> Pingreq:
    return Pingreq()


def _read_pingresp(r: _Reader, flags: int, version: int) -> Pingresp:
    return Pingresp()


def _read_disconnect(r: _Reader, flags: int, version: int) -> Disconnect:
    packet = Disconnect()
    if version == MQTT_5:
        _read_reason_and_properties(r, _PT.DISCONNECT, packet)
    return packet


def _read_auth(r: _Reader, flags: int, version: int) -> Auth:
    packet = Auth()
    _read_reason_and_properties(r, _PT.AUTH, packet)
    return packet


#: (reader, fixed-header flags, protocol level) -> packet. The level is None only for a
#: connection's first packet, which read_packet() lets through only when it is a CONNECT.
_READERS: dict[int, Callable[[_Reader, int, int], Packet]] = {
    _PT.CONNECT: _read_connect,
    _PT.CONNACK: _read_connack,
    _PT.PUBLISH: _read_publish,
    _PT.PUBACK: lambda r, f, v: _read_ack(r, f, v, _PT.PUBACK),
    _PT.PUBREC: lambda r, f, v: _read_ack(r, f, v, _PT.PUBREC),
    _PT.PUBREL: lambda r, f, v: _read_ack(r, f, v, _PT.PUBREL),
    _PT.PUBCOMP: lambda r, f, v: _read_ack(r, f, v, _PT.PUBCOMP),
    _PT.SUBSCRIBE: _read_subscribe,
    _PT.SUBACK: _read_suback,
    _PT.UNSUBSCRIBE: _read_unsubscribe,
    _PT.UNSUBACK: _read_unsuback,
    _PT.PINGREQ: _read_pingreq,
    _PT.PINGRESP: _read_pingresp,
    _PT.DISCONNECT: _read_disconnect,
    _PT.AUTH: _read_auth,
}


def read_fixed_header(view: memoryview, start: int, end: int, max_packet_size: int) -> tuple[int, int]:
    """``(body_start, packet_end)`` of the packet at ``start``.

    Checks the first byte and the size before anything else, so a hostile
    length costs nothing; raises ``Incomplete`` while the header is cut short.
    """
    if start >= end:
        raise Incomplete("no bytes to decode", start)
    byte0 = view[start]
    packet_type = byte0 >> 4
    if packet_type == 0:
        raise MalformedPacket("reserved packet type 0", start)
    if packet_type != _PT.PUBLISH and byte0 & 0x0F != _REQUIRED_FLAGS[packet_type]:
        raise MalformedPacket(f"invalid fixed header flags for {PacketType(packet_type).name}", start)
    pos = start + 1
    remaining = shift = 0
    while True:
        if pos >= end:
            raise Incomplete("buffer ends inside the fixed header", start)
        byte = view[pos]
        pos += 1
        remaining |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        if pos - start == 5:
            raise MalformedPacket("remaining length longer than 4 bytes", start + 1)
        shift += 7
    packet_end = pos + remaining
    if packet_end - start > max_packet_size:
        raise PacketTooLarge(
            f"packet of {packet_end - start} bytes exceeds the maximum packet size {max_packet_size}", start
        )
    return pos, packet_end


def read_packet(
    view: memoryview,
    start: int,
    body_start: int,
    end: int,
    version: int | None,
    copy: bool,
    max_properties: int = DEFAULT_MAX_PROPERTIES,
) -> Packet:
    """The packet whose fixed header starts at ``start`` and whose body is ``body_start:end``."""
    byte0 = view[start]
    packet_type = byte0 >> 4
    if version is None:
        if packet_type != _PT.CONNECT:
            raise ProtocolError("the first packet of a connection must be CONNECT [MQTT-3.1.0-1]", start)
    elif packet_type == _PT.AUTH and version < MQTT_5:
        raise MalformedPacket("AUTH exists only in MQTT 5", start)
    reader = _Reader(view, body_start, end, copy, max_properties)
    # None passes only to _read_connect (checked above), which takes it: see _READERS.
    packet = _READERS[packet_type](reader, byte0 & 0x0F, version)  # type: ignore[arg-type]
    if reader.pos != end:
        raise MalformedPacket(f"{end - reader.pos} bytes left over after the last field", reader.pos)
    return packet


def decode(
    data: Buffer,
    version: int | None = None,
    *,
    max_packet_size: int = DEFAULT_MAX_PACKET_SIZE,
    max_properties: int = DEFAULT_MAX_PROPERTIES,
    copy: bool = False,
) -> tuple[Packet, int]:
    """Decode the first packet of ``data`` (any buffer): ``(packet, nbytes)``.

    ``version`` is the protocol level of the connection (3, 4 or 5); ``None``
    is allowed only for a CONNECT, which carries its own. Binary fields are
    zero-copy ``memoryview`` slices of ``data`` unless ``copy`` is true.
    Raises ``Incomplete`` when ``data`` ends before the packet does, and
    ``PacketTooLarge`` beyond ``max_packet_size`` bytes or ``max_properties``
    properties in one property block.
    """
    _check_version(version)
    view = _as_view(data)
    end = len(view)
    body_start, packet_end = read_fixed_header(view, 0, end, max_packet_size)
    if packet_end > end:
        raise Incomplete(f"packet needs {packet_end} bytes, buffer has {end}", 0, needed=packet_end)
    return read_packet(view, 0, body_start, packet_end, version, copy, max_properties), packet_end
