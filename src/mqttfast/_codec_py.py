"""Packet encoding and decoding, pure-Python twin of ``_codec_c``.

Sans-I/O: bytes in, packets out, bytes back. Every rule of the checklist in
MQTT 5.0 §2-§3 (and its 3.1.1 counterpart) is checked here, on both sides:
the encoder refuses to write what the decoder would refuse to read, raising
the same exception class.
"""

from __future__ import annotations

from struct import Struct

from ._constants import (
    ALLOWED_PROPERTIES,
    ALLOWED_REASON_CODES,
    DEFAULT_MAX_PACKET_SIZE,
    DEFAULT_MAX_PROPERTIES,
    MAX_VARINT,
    MQTT_3_1,
    MQTT_3_1_1,
    MQTT_5,
    PROPERTY_NAMES,
    PROPERTY_TYPES,
    PROTOCOL_NAMES,
    V3_SUBACK_CODES,
    WILL,
    PacketType,
    PropertyId,
    PropertyType,
)
from ._errors import (
    ClientIdentifierNotValid,
    Incomplete,
    InvalidTopicName,
    MalformedPacket,
    PacketTooLarge,
    ProtocolError,
    UnsupportedProtocolVersion,
)
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
from ._topics_py import validate_topic_filter
from ._varint_py import encode_varint

__all__ = ["decode", "encode", "encode_into", "encoded_size", "encode_forward", "Decoder"]

_U16 = Struct(">H")
_U32 = Struct(">I")
_VERSIONS = (MQTT_3_1, MQTT_3_1_1, MQTT_5)
_PT = PacketType
_PID = PropertyId

#: Fixed-header flags every packet type but PUBLISH must carry (MQTT 5.0 §2.1.3).
_REQUIRED_FLAGS = {t: 0 for t in _PT}
_REQUIRED_FLAGS[_PT.PUBREL] = _REQUIRED_FLAGS[_PT.SUBSCRIBE] = _REQUIRED_FLAGS[_PT.UNSUBSCRIBE] = 2

#: Properties whose value 0 is a Protocol Error (MQTT 5.0 §3.1.2.11, §3.3.2.3).
_NONZERO_PROPERTIES = frozenset(
    {_PID.RECEIVE_MAXIMUM, _PID.TOPIC_ALIAS, _PID.MAXIMUM_PACKET_SIZE, _PID.SUBSCRIPTION_IDENTIFIER}
)

_ACK_CLASSES = {_PT.PUBACK: Puback, _PT.PUBREC: Pubrec, _PT.PUBREL: Pubrel, _PT.PUBCOMP: Pubcomp}


def _check_topic_name(topic: str, field: str, offset: int | None = None) -> None:
    # Strings reaching here are already valid UTF-8 without U+0000.
    if "+" in topic or "#" in topic:
        raise InvalidTopicName(f"{field} {topic!r} contains a wildcard [MQTT-3.3.2-2]", offset)


def _check_property_value(pid: int, value: object, offset: int | None = None) -> None:
    """The per-property rules beyond the wire type, shared by reader and writer."""
    if PROPERTY_TYPES[pid] == PropertyType.BYTE and value not in (0, 1):
        raise ProtocolError(f"{PROPERTY_NAMES[pid]} must be 0 or 1, not {value}", offset)
    if value == 0 and pid in _NONZERO_PROPERTIES:
        raise ProtocolError(f"{PROPERTY_NAMES[pid]} must not be 0", offset)
    if pid == _PID.RESPONSE_TOPIC:
        if not value:
            raise InvalidTopicName("response_topic must not be empty [MQTT-4.7.3-1]", offset)
        _check_topic_name(value, "response_topic", offset)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


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
        return _U32.unpack_from(self.view, pos)[0]

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

    def binary(self, field: str):
        length = self.u16(field)
        pos = self._take(length, field)
        data = self.view[pos : pos + length]
        return bytes(data) if self.copy else data

    def rest(self):
        data = self.view[self.pos : self.end]
        self.pos = self.end
        return bytes(data) if self.copy else data

    def packet_id(self) -> int:
        pos = self.pos
        packet_id = self.u16("packet identifier")
        if not packet_id:
            raise ProtocolError("packet identifier must not be 0 [MQTT-2.2.1-3]", pos)
        return packet_id

    def properties(self, packet_type: int, target) -> None:
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
        order = []
        in_order = True
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
                target.subscription_identifiers.append(value)
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
            target._wire_order = tuple(order)


def _read_connect(r: _Reader, flags: int, version):
    start = r.pos
    name = r.string("protocol name")
    level = r.u8("protocol level")
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
    if level == MQTT_5:
        r.properties(_PT.CONNECT, packet)
    pos = r.pos
    packet.client_id = r.string("client identifier")
    _check_client_id(packet, pos)
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
    return packet


def _check_client_id(packet: Connect, offset: int | None = None) -> None:
    client_id = packet.client_id
    if packet.protocol_version == MQTT_3_1:
        if not 1 <= len(client_id.encode("utf-8")) <= 23:
            raise ClientIdentifierNotValid("MQTT 3.1 client identifier must be 1 to 23 bytes", offset)
    elif packet.protocol_version == MQTT_3_1_1 and not client_id and not packet.clean_start:
        raise ClientIdentifierNotValid("empty client identifier requires clean session [MQTT-3.1.3-7]", offset)


def _check_will_topic(topic: str, offset: int | None = None) -> None:
    if not topic:
        raise InvalidTopicName("will topic must not be empty [MQTT-4.7.3-1]", offset)
    _check_topic_name(topic, "will topic", offset)


def _read_connack(r: _Reader, flags: int, version: int):
    pos = r.pos
    ack_flags = r.u8("acknowledge flags")
    if ack_flags & 0xFE:
        raise MalformedPacket("reserved acknowledge flags are set [MQTT-3.2.2-1]", pos)
    pos = r.pos
    code = r.u8("reason code")
    _check_connack_code(code, version, pos)
    if ack_flags and code:
        raise ProtocolError("session present with a failure reason code [MQTT-3.2.2-6]", pos)
    packet = Connack(session_present=bool(ack_flags), reason_code=code)
    if version == MQTT_5:
        r.properties(_PT.CONNACK, packet)
    return packet


def _check_connack_code(code: int, version: int, offset: int | None = None) -> None:
    if version == MQTT_5:
        _check_reason_code(_PT.CONNACK, code, offset)
    elif not 0 <= code <= 5:
        raise ProtocolError(f"CONNACK return code {code} is not one of 0..5", offset)


def _check_reason_code(packet_type: int, code: int, offset: int | None = None) -> None:
    if code not in ALLOWED_REASON_CODES[packet_type]:
        raise ProtocolError(f"reason code 0x{code:02X} is not allowed in {PacketType(packet_type).name}", offset)


def _read_publish(r: _Reader, flags: int, version: int):
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


def _check_publish_topic_present(packet: Publish, version: int, offset: int | None = None) -> None:
    if packet.topic:
        return
    if version < MQTT_5:
        raise InvalidTopicName("topic name must not be empty [MQTT-4.7.3-1]", offset)
    if packet.topic_alias is None:
        raise ProtocolError("empty topic name without a topic alias [MQTT-3.3.2-8]", offset)


def _read_ack(r: _Reader, flags: int, version: int, packet_type: int):
    packet = _ACK_CLASSES[packet_type](packet_id=r.packet_id())
    if version == MQTT_5:
        _read_reason_and_properties(r, packet_type, packet)
    return packet


def _read_reason_and_properties(r: _Reader, packet_type: int, packet) -> None:
    # Short forms: the reason code, then the properties, may be left out (MQTT 5.0 §3.4.2.1).
    if r.pos < r.end:
        pos = r.pos
        packet.reason_code = r.u8("reason code")
        _check_reason_code(packet_type, packet.reason_code, pos)
        if r.pos < r.end:
            r.properties(packet_type, packet)


def _read_subscribe(r: _Reader, flags: int, version: int):
    packet = _new_subscribe(r.packet_id())
    if version == MQTT_5:
        r.properties(_PT.SUBSCRIBE, packet)
    known_options = _SUBSCRIPTION_OPTIONS[version]
    subscriptions = packet.subscriptions
    topic_filters: list = []
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


def _subscription_options(options: int, version: int, offset: int | None = None) -> tuple:
    """``(qos, no_local, retain_as_published, retain_handling)`` of a subscription options byte (MQTT 5.0 §3.8.3.1)."""
    # Under 3.x only the QoS bits exist: with the others zero, the 5.0 fields read as their defaults.
    if options & (0xC0 if version == MQTT_5 else 0xFC):
        raise MalformedPacket("reserved subscription option bits are set [MQTT-3.8.3-5]", offset)
    # The checks of _check_subscription, on the option bits themselves.
    if options & 0x03 == 0x03:
        raise MalformedPacket("subscription QoS is 3", offset)
    if options & 0x30 == 0x30:
        raise MalformedPacket("retain handling is 3", offset)
    return options & 0x03, (options & 0x04) != 0, (options & 0x08) != 0, options >> 4 & 0x03


def _known_options(version: int) -> tuple:
    # The fields of each valid options byte, None for the others (_subscription_options raises for those).
    table = []
    for options in range(256):
        try:
            table.append(_subscription_options(options, version))
        except MalformedPacket:
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
    packet._wire_order = None
    return packet


def _validate_topic_filters(topic_filters: list) -> None:
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


def _plainly_valid_filters(topic_filters: list) -> bool:
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
        raise MalformedPacket("retain handling is 3", offset)
    if subscription.no_local and subscription.topic_filter.startswith("$share/"):
        raise ProtocolError("No Local on a shared subscription [MQTT-3.8.3-4]", offset)


def _read_suback(r: _Reader, flags: int, version: int):
    packet = Suback(packet_id=r.packet_id())
    if version == MQTT_5:
        r.properties(_PT.SUBACK, packet)
    pos = r.pos
    packet.reason_codes = list(r.rest())
    _check_suback_codes(packet.reason_codes, version, pos)
    return packet


def _check_suback_codes(codes: list, version: int, offset: int | None = None) -> None:
    if not codes:
        raise ProtocolError("SUBACK without a reason code", offset)
    allowed = ALLOWED_REASON_CODES[_PT.SUBACK] if version == MQTT_5 else V3_SUBACK_CODES[version]
    for index, code in enumerate(codes):
        if code not in allowed:
            at = None if offset is None else offset + index
            raise ProtocolError(f"SUBACK reason code 0x{code:02X} is not allowed", at)


def _read_unsubscribe(r: _Reader, flags: int, version: int):
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


def _read_unsuback(r: _Reader, flags: int, version: int):
    packet = Unsuback(packet_id=r.packet_id())
    if version == MQTT_5:
        r.properties(_PT.UNSUBACK, packet)
        pos = r.pos
        packet.reason_codes = list(r.rest())
        _check_unsuback_codes(packet.reason_codes, pos)
    return packet


def _check_unsuback_codes(codes: list, offset: int | None = None) -> None:
    if not codes:
        raise ProtocolError("UNSUBACK without a reason code", offset)
    for index, code in enumerate(codes):
        _check_reason_code(_PT.UNSUBACK, code, None if offset is None else offset + index)


def _read_pingreq(r: _Reader, flags: int, version: int):
    return Pingreq()


def _read_pingresp(r: _Reader, flags: int, version: int):
    return Pingresp()


def _read_disconnect(r: _Reader, flags: int, version: int):
    packet = Disconnect()
    if version == MQTT_5:
        _read_reason_and_properties(r, _PT.DISCONNECT, packet)
    return packet


def _read_auth(r: _Reader, flags: int, version: int):
    packet = Auth()
    _read_reason_and_properties(r, _PT.AUTH, packet)
    return packet


_READERS = {
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


def _as_view(data) -> memoryview:
    view = memoryview(data)
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    return view


def _check_version(version) -> None:
    if version is not None and not (isinstance(version, int) and version in _VERSIONS):
        raise ValueError(f"version must be 3, 4, 5 or None, not {version!r}")


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
    version,
    copy: bool,
    max_properties: int = DEFAULT_MAX_PROPERTIES,
):
    """The packet whose fixed header starts at ``start`` and whose body is ``body_start:end``."""
    byte0 = view[start]
    packet_type = byte0 >> 4
    if version is None:
        if packet_type != _PT.CONNECT:
            raise ProtocolError("the first packet of a connection must be CONNECT [MQTT-3.1.0-1]", start)
    elif packet_type == _PT.AUTH and version < MQTT_5:
        raise MalformedPacket("AUTH exists only in MQTT 5", start)
    reader = _Reader(view, body_start, end, copy, max_properties)
    packet = _READERS[packet_type](reader, byte0 & 0x0F, version)
    if reader.pos != end:
        raise MalformedPacket(f"{end - reader.pos} bytes left over after the last field", reader.pos)
    return packet


def decode(
    data,
    version=None,
    *,
    max_packet_size: int = DEFAULT_MAX_PACKET_SIZE,
    max_properties: int = DEFAULT_MAX_PROPERTIES,
    copy: bool = False,
):
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


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


def _int(value, field: str, limit: int) -> int:
    if not isinstance(value, int):
        raise TypeError(f"{field} must be an int, not {type(value).__name__}")
    if not 0 <= value <= limit:
        raise MalformedPacket(f"{field} {value} out of range 0..{limit}")
    return value


def _put_u8(out: bytearray, value, field: str) -> None:
    out.append(_int(value, field, 0xFF))


def _put_u16(out: bytearray, value, field: str) -> None:
    out += _U16.pack(_int(value, field, 0xFFFF))


def _put_u32(out: bytearray, value, field: str) -> None:
    out += _U32.pack(_int(value, field, 0xFFFFFFFF))


def _put_varint(out: bytearray, value, field: str) -> None:
    out += encode_varint(_int(value, field, MAX_VARINT))


def _put_string(out: bytearray, text, field: str) -> None:
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


def _put_binary(out: bytearray, data, field: str) -> None:
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


def _packet_id(value) -> int:
    if value is None or value == 0:
        raise ProtocolError("packet identifier must be set and non-zero [MQTT-2.2.1-3]")
    return _int(value, "packet_id", 0xFFFF)


_PUT_BY_KIND = {
    PropertyType.BYTE: _put_u8,
    PropertyType.TWO_BYTE_INT: _put_u16,
    PropertyType.FOUR_BYTE_INT: _put_u32,
    PropertyType.VARINT: _put_varint,
    PropertyType.UTF8_STRING: _put_string,
    PropertyType.BINARY: _put_binary,
}


def _property_plan(packet_type: int):
    # Identifier order, user properties at 0x26 among them: the order paho-mqtt writes.
    plan = []
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


def _property_entries(packet, packet_type: int) -> list:
    """(pid, name, kind, value) of each property to write, one per occurrence.

    Identifier order, user properties at 0x26 among them (the order paho-mqtt
    writes), unless the packet was decoded from a peer that used another
    order: then the peer's order, and properties added since after them.
    """
    entries = []
    for pid, name, kind, many in _PROPERTY_PLANS[packet_type]:
        value = getattr(packet, name)
        if many:
            if value:
                entries.extend((pid, name, kind, item) for item in value)
        elif value is not None:
            entries.append((pid, name, kind, value))
    if packet._wire_order:
        remaining, entries = entries, []
        for wire_pid in packet._wire_order:
            for index, entry in enumerate(remaining):
                if entry[0] == wire_pid:
                    entries.append(remaining.pop(index))
                    break
        entries += remaining
    return entries


def _put_properties(out: bytearray, packet, packet_type: int) -> None:
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


def _has_properties(packet, packet_type: int) -> bool:
    for _, name, _, many in _PROPERTY_PLANS[packet_type]:
        value = getattr(packet, name)
        if value if many else value is not None:
            return True
    return False


def _write_connect(packet: Connect, version: int):
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
    out.append(version)
    out.append(flags)
    _put_u16(out, packet.keep_alive, "keep_alive")
    if version == MQTT_5:
        _put_properties(out, packet, _PT.CONNECT)
    _put_string(out, packet.client_id, "client_id")
    _check_client_id(packet)
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


def _write_connack(packet: Connack, version: int):
    code = _int(packet.reason_code, "reason_code", 0xFF)
    _check_connack_code(code, version)
    if packet.session_present and code:
        raise ProtocolError("session present with a failure reason code [MQTT-3.2.2-6]")
    out = bytearray((1 if packet.session_present else 0, code))
    if version == MQTT_5:
        _put_properties(out, packet, _PT.CONNACK)
    return 0x20, out, None


def _write_publish(packet: Publish, version: int):
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


def _write_reason_and_properties(out: bytearray, packet, packet_type: int) -> None:
    # The shortest form that carries the fields (MQTT 5.0 §3.4.2.1, §3.14.2.1, §3.15.2.1).
    code = _int(packet.reason_code, "reason_code", 0xFF)
    _check_reason_code(packet_type, code)
    if _has_properties(packet, packet_type):
        out.append(code)
        _put_properties(out, packet, packet_type)
    elif code:
        out.append(code)


def _write_ack(packet, version: int):
    out = bytearray(_U16.pack(_packet_id(packet.packet_id)))
    packet_type = packet.packet_type
    if version == MQTT_5:
        _write_reason_and_properties(out, packet, packet_type)
    return packet_type << 4 | _REQUIRED_FLAGS[packet_type], out, None


def _write_subscribe(packet: Subscribe, version: int):
    out = bytearray(_U16.pack(_packet_id(packet.packet_id)))
    if version == MQTT_5:
        _put_properties(out, packet, _PT.SUBSCRIBE)
    if not packet.subscriptions:
        raise ProtocolError("SUBSCRIBE without a topic filter [MQTT-3.8.3-3]")
    topic_filters: list = []
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


def _write_suback(packet: Suback, version: int):
    out = bytearray(_U16.pack(_packet_id(packet.packet_id)))
    if version == MQTT_5:
        _put_properties(out, packet, _PT.SUBACK)
    for code in packet.reason_codes:
        _put_u8(out, code, "reason code")
    _check_suback_codes(packet.reason_codes, version)
    return 0x90, out, None


def _write_unsubscribe(packet: Unsubscribe, version: int):
    out = bytearray(_U16.pack(_packet_id(packet.packet_id)))
    if version == MQTT_5:
        _put_properties(out, packet, _PT.UNSUBSCRIBE)
    if not packet.topic_filters:
        raise ProtocolError("UNSUBSCRIBE without a topic filter [MQTT-3.10.3-2]")
    for topic_filter in packet.topic_filters:
        _put_string(out, topic_filter, "topic filter")
        validate_topic_filter(topic_filter)
    return 0xA2, out, None


def _write_unsuback(packet: Unsuback, version: int):
    out = bytearray(_U16.pack(_packet_id(packet.packet_id)))
    if version == MQTT_5:
        _put_properties(out, packet, _PT.UNSUBACK)
        for code in packet.reason_codes:
            _put_u8(out, code, "reason code")
        _check_unsuback_codes(packet.reason_codes)
    return 0xB0, out, None


def _write_pingreq(packet: Pingreq, version: int):
    return 0xC0, bytearray(), None


def _write_pingresp(packet: Pingresp, version: int):
    return 0xD0, bytearray(), None


def _write_disconnect(packet: Disconnect, version: int):
    out = bytearray()
    if version == MQTT_5:
        _write_reason_and_properties(out, packet, _PT.DISCONNECT)
    return 0xE0, out, None


def _write_auth(packet: Auth, version: int):
    if version < MQTT_5:
        raise MalformedPacket("AUTH exists only in MQTT 5")
    out = bytearray()
    _write_reason_and_properties(out, packet, _PT.AUTH)
    return 0xF0, out, None


_WRITERS = {
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


def _write(packet, version):
    """``(fixed_header, body, payload_or_None)`` of ``packet``."""
    writer = _WRITERS.get(type(packet))
    if writer is None:
        raise TypeError(f"cannot encode {type(packet).__name__}: not an mqttfast packet")
    _check_version(version)
    if type(packet) is Connect:
        if version is None:
            version = packet.protocol_version
        elif version != packet.protocol_version:
            raise ValueError(f"Connect.protocol_version is {packet.protocol_version}, encode() was given {version}")
        if version not in _VERSIONS:
            raise UnsupportedProtocolVersion(f"unsupported protocol level {version!r}")
    elif version is None:
        version = MQTT_5
    first, body, payload = writer(packet, version)
    remaining = len(body) + (len(payload) if payload is not None else 0)
    if remaining > MAX_VARINT:
        raise PacketTooLarge(f"packet body of {remaining} bytes exceeds the protocol's {MAX_VARINT}")
    # Most packets are short: a one-byte remaining length needs no varint loop.
    header = bytes((first, remaining)) if remaining < 0x80 else bytes((first,)) + encode_varint(remaining)
    return header, body, payload


def encode(packet, version=None) -> bytes:
    """The wire bytes of ``packet`` for protocol level ``version``.

    ``version=None`` means the packet's own level for a CONNECT and MQTT 5 for
    everything else. Fields only MQTT 5 knows (properties, reason codes of
    acknowledgements) are left out when encoding for 3.x.
    """
    header, body, payload = _write(packet, version)
    if payload is None:
        return bytes(header + body)
    return b"".join((header, body, payload))


def encoded_size(packet, version=None) -> int:
    """How many bytes ``encode(packet, version)`` returns, with the same checks."""
    header, body, payload = _write(packet, version)
    return len(header) + len(body) + (len(payload) if payload is not None else 0)


def encode_into(packet, buffer, offset: int = 0, version=None) -> int:
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


# ---------------------------------------------------------------------------
# Streaming
# ---------------------------------------------------------------------------

#: Size of each buffer a Decoder reads into; a larger packet gets a buffer of its own size.
_CHUNK = 64 * 1024


class Decoder:
    """Streaming decoder for one connection: bytes in, packets out.

    ``feed(data)`` takes chunks cut anywhere; for ``asyncio.BufferedProtocol``
    use ``get_buffer(sizehint)`` and ``buffer_updated(nbytes)``, which let the
    transport read straight into the decoder's buffer. The version is learned
    from CONNECT when not given.

    Buffer ownership: the decoder never writes over bytes it has already
    received. When its buffer fills up it starts a fresh one and moves only the
    unfinished packet there, so the payload views of returned packets stay
    valid for as long as they are referenced (pass ``copy=True`` for ``bytes``).
    A header announcing more than ``max_packet_size`` bytes raises
    ``PacketTooLarge`` before any of the body is buffered, so the bytes held
    never exceed the larger of 64 KiB and ``max_packet_size``; so does a
    property block of more than ``max_properties`` properties. After an error the
    decoder is poisoned: every later call raises the same error, since MQTT
    requires the connection to be closed. Packets decoded in the same call
    before the error are attached to the exception as ``packets``.

    Not thread-safe: one decoder belongs to one connection and one reader.
    """

    def __init__(
        self,
        version=None,
        *,
        max_packet_size: int = DEFAULT_MAX_PACKET_SIZE,
        max_properties: int = DEFAULT_MAX_PROPERTIES,
        copy: bool = False,
    ):
        _check_version(version)
        if max_packet_size < 2:
            raise ValueError("max_packet_size must be at least 2")
        self.version = version
        self.max_packet_size = max_packet_size
        self.max_properties = max_properties
        self._copy = copy
        self._connected = False  # a connection carries one CONNECT [MQTT-3.1.0-2]
        self._buffer = bytearray(0)
        self._view = memoryview(self._buffer)
        self._start = 0  # first byte of the unfinished packet
        self._end = 0  # end of the received bytes
        self._body_start = 0
        self._packet_end = -1  # end of the unfinished packet once its header is read
        self._error = None

    @property
    def pending(self) -> int:
        """Bytes received of a packet not yet complete."""
        return self._end - self._start

    def feed(self, data) -> list:
        """Take the next bytes of the stream; the packets they complete, in order."""
        if self._error is not None:
            raise self._error
        incoming = _as_view(data)
        packets: list = []
        pos = 0
        total = len(incoming)
        while pos < total:
            target = self.get_buffer(total - pos)
            n = min(len(target), total - pos)
            target[:n] = incoming[pos : pos + n]
            pos += n
            packets += self.buffer_updated(n)
        return packets

    def get_buffer(self, sizehint: int = -1) -> memoryview:
        """A writable view for the next bytes (``asyncio.BufferedProtocol``)."""
        if self._error is not None:
            raise self._error
        free = len(self._buffer) - self._end
        needed = self._packet_end - self._start if self._packet_end >= 0 else 0
        if free == 0 or len(self._buffer) - self._start < needed:
            self._renew(max(_CHUNK, needed))
            free = len(self._buffer) - self._end
        return self._view[self._end :]

    def _renew(self, capacity: int) -> None:
        # Never compact in place: returned packets may hold views of the old buffer.
        pending = self._end - self._start
        buffer = bytearray(capacity)
        buffer[:pending] = self._view[self._start : self._end]
        if self._packet_end >= 0:
            self._packet_end -= self._start
            self._body_start -= self._start
        self._buffer = buffer
        self._view = memoryview(buffer)
        self._start, self._end = 0, pending

    def buffer_updated(self, nbytes: int) -> list:
        """``nbytes`` were written into the last ``get_buffer()``; the packets they complete."""
        if self._error is not None:
            raise self._error
        if not 0 <= nbytes <= len(self._buffer) - self._end:
            raise ValueError("nbytes exceeds the buffer handed out by get_buffer()")
        self._end += nbytes
        packets: list = []
        try:
            self._drain(packets)
        except Exception as exc:
            self._error = exc
            exc.packets = packets  # type: ignore[attr-defined]
            raise
        return packets

    def _drain(self, packets: list) -> None:
        view, end = self._view, self._end
        while self._start < end:
            start = self._start
            if self._packet_end < 0:
                try:
                    self._body_start, self._packet_end = read_fixed_header(view, start, end, self.max_packet_size)
                except Incomplete:
                    return
            if self._packet_end > end:
                return
            packet = read_packet(
                view, start, self._body_start, self._packet_end, self.version, self._copy, self.max_properties
            )
            if type(packet) is Connect:
                if self._connected:
                    raise ProtocolError("a second CONNECT on the connection [MQTT-3.1.0-2]", start)
                self._connected = True
                self.version = packet.protocol_version
            packets.append(packet)
            self._start = self._packet_end
            self._packet_end = -1


# ---------------------------------------------------------------------------
# Forwarding
# ---------------------------------------------------------------------------

_KEEP = object()


def encode_forward(
    packet,
    version=None,
    *,
    qos=None,
    packet_id=None,
    retain=None,
    topic=None,
    topic_alias=None,
    subscription_identifiers=None,
    message_expiry_interval=_KEEP,
):
    """``(header, payload)`` of ``packet`` re-addressed to one subscriber, for ``transport.writelines()``.

    ``header`` is a small new ``bytes`` (fixed header, topic, packet id,
    properties) and ``payload`` is ``packet.payload`` itself, never copied, so
    fanning one message out to many subscribers costs one header each.
    ``qos``, ``retain`` and ``topic`` default to the packet's own; ``packet_id``
    is the subscriber's (required when the QoS is above 0); DUP is always
    cleared [MQTT-3.3.1-3]; ``topic_alias`` and ``subscription_identifiers``
    are the subscriber's connection's own and never copied from the incoming
    packet [MQTT-3.3.2-10, MQTT-3.3.4-6]; ``message_expiry_interval`` lets a
    broker send the remaining lifetime. Every other MQTT 5 property is
    forwarded unchanged, as the server must [MQTT-3.3.2-4]. The same checks as
    ``encode()`` apply.
    """
    if type(packet) is not Publish:
        raise TypeError(f"encode_forward() needs a Publish, not {type(packet).__name__}")
    outgoing = Publish(
        topic=packet.topic if topic is None else topic,
        payload=packet.payload,
        qos=packet.qos if qos is None else qos,
        retain=packet.retain if retain is None else retain,
        packet_id=packet_id,
        payload_format_indicator=packet.payload_format_indicator,
        message_expiry_interval=(
            packet.message_expiry_interval if message_expiry_interval is _KEEP else message_expiry_interval
        ),
        content_type=packet.content_type,
        response_topic=packet.response_topic,
        correlation_data=packet.correlation_data,
        subscription_identifiers=list(subscription_identifiers or ()),
        topic_alias=topic_alias,
        user_properties=packet.user_properties,
    )
    outgoing._wire_order = packet._wire_order
    header, body, payload = _write(outgoing, version)
    return bytes(header + body), packet.payload
