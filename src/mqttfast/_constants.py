"""Protocol constants shared by both twins: packet types, reason codes, properties.

The tables here are the single source of truth for which property and which
reason code each packet may carry; the codecs read them, never restate them.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "MQTT_3_1",
    "MQTT_3_1_1",
    "MQTT_5",
    "PROTOCOL_NAMES",
    "BRIDGE_BIT",
    "V3_UNACCEPTABLE_PROTOCOL_VERSION",
    "MAX_VARINT",
    "DEFAULT_MAX_PACKET_SIZE",
    "DEFAULT_MAX_PROPERTIES",
    "DEFAULT_COPY_THRESHOLD",
    "PacketType",
    "ReasonCode",
    "PropertyId",
    "PropertyType",
    "PROPERTY_TYPES",
    "PROPERTY_NAMES",
    "WILL",
    "ALLOWED_PROPERTIES",
    "ALLOWED_REASON_CODES",
    "V3_SUBACK_CODES",
]

#: Protocol levels as carried in CONNECT.
MQTT_3_1 = 3
MQTT_3_1_1 = 4
MQTT_5 = 5

#: The protocol name each level must announce in CONNECT.
PROTOCOL_NAMES = {MQTT_3_1: "MQIsdp", MQTT_3_1_1: "MQTT", MQTT_5: "MQTT"}

#: The bit of the CONNECT protocol level that marks a mosquitto bridge ("try_private"):
#: bridges connect with 0x83 or 0x84, which brokers accept as 3 or 4.
BRIDGE_BIT = 0x80

#: The 3.1/3.1.1 CONNACK return code "unacceptable protocol version": a
#: 3.1.1-only server answers a 5.0 CONNECT with it, in the two-byte 3.1.1 form.
V3_UNACCEPTABLE_PROTOCOL_VERSION = 0x01

#: The largest value a variable byte integer holds (MQTT 5.0 §1.5.5).
MAX_VARINT = 268_435_455

#: Default ceiling on a whole packet (fixed header included) for decode() and
#: Decoder: large enough for any ordinary message, small enough that a hostile
#: length field cannot make a broker commit the protocol's 256 MiB per peer.
DEFAULT_MAX_PACKET_SIZE = 16 * 1024 * 1024

#: Default ceiling on the properties of one property block (user properties and
#: subscription identifiers are the ones that repeat): each costs objects, so a
#: packet of tiny properties would otherwise turn 16 MiB into gigabytes.
DEFAULT_MAX_PROPERTIES = 1024

#: A Decoder copies PUBLISH payloads shorter than this out of its buffer, so a
#: kept packet pins only its own bytes. It equals the decoder's buffer size:
#: a payload this long fills a buffer with nothing else in it, so its view
#: costs no more than a copy would, and stays zero-copy.
DEFAULT_COPY_THRESHOLD = 64 * 1024


class PacketType(IntEnum):
    """Control packet types, the high nibble of the fixed header (MQTT 5.0 §2.1.2)."""

    CONNECT = 1
    CONNACK = 2
    PUBLISH = 3
    PUBACK = 4
    PUBREC = 5
    PUBREL = 6
    PUBCOMP = 7
    SUBSCRIBE = 8
    SUBACK = 9
    UNSUBSCRIBE = 10
    UNSUBACK = 11
    PINGREQ = 12
    PINGRESP = 13
    DISCONNECT = 14
    AUTH = 15


class ReasonCode(IntEnum):
    """MQTT 5 reason codes (MQTT 5.0 §2.4). Several names share a value."""

    SUCCESS = 0x00
    NORMAL_DISCONNECTION = 0x00
    GRANTED_QOS_0 = 0x00
    GRANTED_QOS_1 = 0x01
    GRANTED_QOS_2 = 0x02
    DISCONNECT_WITH_WILL_MESSAGE = 0x04
    NO_MATCHING_SUBSCRIBERS = 0x10
    NO_SUBSCRIPTION_EXISTED = 0x11
    CONTINUE_AUTHENTICATION = 0x18
    RE_AUTHENTICATE = 0x19
    UNSPECIFIED_ERROR = 0x80
    MALFORMED_PACKET = 0x81
    PROTOCOL_ERROR = 0x82
    IMPLEMENTATION_SPECIFIC_ERROR = 0x83
    UNSUPPORTED_PROTOCOL_VERSION = 0x84
    CLIENT_IDENTIFIER_NOT_VALID = 0x85
    BAD_USER_NAME_OR_PASSWORD = 0x86
    NOT_AUTHORIZED = 0x87
    SERVER_UNAVAILABLE = 0x88
    SERVER_BUSY = 0x89
    BANNED = 0x8A
    SERVER_SHUTTING_DOWN = 0x8B
    BAD_AUTHENTICATION_METHOD = 0x8C
    KEEP_ALIVE_TIMEOUT = 0x8D
    SESSION_TAKEN_OVER = 0x8E
    TOPIC_FILTER_INVALID = 0x8F
    TOPIC_NAME_INVALID = 0x90
    PACKET_IDENTIFIER_IN_USE = 0x91
    PACKET_IDENTIFIER_NOT_FOUND = 0x92
    RECEIVE_MAXIMUM_EXCEEDED = 0x93
    TOPIC_ALIAS_INVALID = 0x94
    PACKET_TOO_LARGE = 0x95
    MESSAGE_RATE_TOO_HIGH = 0x96
    QUOTA_EXCEEDED = 0x97
    ADMINISTRATIVE_ACTION = 0x98
    PAYLOAD_FORMAT_INVALID = 0x99
    RETAIN_NOT_SUPPORTED = 0x9A
    QOS_NOT_SUPPORTED = 0x9B
    USE_ANOTHER_SERVER = 0x9C
    SERVER_MOVED = 0x9D
    SHARED_SUBSCRIPTIONS_NOT_SUPPORTED = 0x9E
    CONNECTION_RATE_EXCEEDED = 0x9F
    MAXIMUM_CONNECT_TIME = 0xA0
    SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED = 0xA1
    WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED = 0xA2


class PropertyId(IntEnum):
    """MQTT 5 property identifiers (MQTT 5.0 §2.2.2.2)."""

    PAYLOAD_FORMAT_INDICATOR = 0x01
    MESSAGE_EXPIRY_INTERVAL = 0x02
    CONTENT_TYPE = 0x03
    RESPONSE_TOPIC = 0x08
    CORRELATION_DATA = 0x09
    SUBSCRIPTION_IDENTIFIER = 0x0B
    SESSION_EXPIRY_INTERVAL = 0x11
    ASSIGNED_CLIENT_IDENTIFIER = 0x12
    SERVER_KEEP_ALIVE = 0x13
    AUTHENTICATION_METHOD = 0x15
    AUTHENTICATION_DATA = 0x16
    REQUEST_PROBLEM_INFORMATION = 0x17
    WILL_DELAY_INTERVAL = 0x18
    REQUEST_RESPONSE_INFORMATION = 0x19
    RESPONSE_INFORMATION = 0x1A
    SERVER_REFERENCE = 0x1C
    REASON_STRING = 0x1F
    RECEIVE_MAXIMUM = 0x21
    TOPIC_ALIAS_MAXIMUM = 0x22
    TOPIC_ALIAS = 0x23
    MAXIMUM_QOS = 0x24
    RETAIN_AVAILABLE = 0x25
    USER_PROPERTY = 0x26
    MAXIMUM_PACKET_SIZE = 0x27
    WILDCARD_SUBSCRIPTION_AVAILABLE = 0x28
    SUBSCRIPTION_IDENTIFIER_AVAILABLE = 0x29
    SHARED_SUBSCRIPTION_AVAILABLE = 0x2A


class PropertyType(IntEnum):
    """Wire types of property values (MQTT 5.0 §1.5)."""

    BYTE = 1  # one byte; every byte property here allows only 0 or 1, except Maximum QoS (0 or 1 too)
    TWO_BYTE_INT = 2
    FOUR_BYTE_INT = 3
    VARINT = 4
    UTF8_STRING = 5
    BINARY = 6
    STRING_PAIR = 7


_P = PropertyId
_T = PropertyType

#: Property id -> wire type.
PROPERTY_TYPES: dict[int, PropertyType] = {
    _P.PAYLOAD_FORMAT_INDICATOR: _T.BYTE,
    _P.MESSAGE_EXPIRY_INTERVAL: _T.FOUR_BYTE_INT,
    _P.CONTENT_TYPE: _T.UTF8_STRING,
    _P.RESPONSE_TOPIC: _T.UTF8_STRING,
    _P.CORRELATION_DATA: _T.BINARY,
    _P.SUBSCRIPTION_IDENTIFIER: _T.VARINT,
    _P.SESSION_EXPIRY_INTERVAL: _T.FOUR_BYTE_INT,
    _P.ASSIGNED_CLIENT_IDENTIFIER: _T.UTF8_STRING,
    _P.SERVER_KEEP_ALIVE: _T.TWO_BYTE_INT,
    _P.AUTHENTICATION_METHOD: _T.UTF8_STRING,
    _P.AUTHENTICATION_DATA: _T.BINARY,
    _P.REQUEST_PROBLEM_INFORMATION: _T.BYTE,
    _P.WILL_DELAY_INTERVAL: _T.FOUR_BYTE_INT,
    _P.REQUEST_RESPONSE_INFORMATION: _T.BYTE,
    _P.RESPONSE_INFORMATION: _T.UTF8_STRING,
    _P.SERVER_REFERENCE: _T.UTF8_STRING,
    _P.REASON_STRING: _T.UTF8_STRING,
    _P.RECEIVE_MAXIMUM: _T.TWO_BYTE_INT,
    _P.TOPIC_ALIAS_MAXIMUM: _T.TWO_BYTE_INT,
    _P.TOPIC_ALIAS: _T.TWO_BYTE_INT,
    _P.MAXIMUM_QOS: _T.BYTE,
    _P.RETAIN_AVAILABLE: _T.BYTE,
    _P.USER_PROPERTY: _T.STRING_PAIR,
    _P.MAXIMUM_PACKET_SIZE: _T.FOUR_BYTE_INT,
    _P.WILDCARD_SUBSCRIPTION_AVAILABLE: _T.BYTE,
    _P.SUBSCRIPTION_IDENTIFIER_AVAILABLE: _T.BYTE,
    _P.SHARED_SUBSCRIPTION_AVAILABLE: _T.BYTE,
}

#: Property id -> the attribute name packet classes use for it.
PROPERTY_NAMES: dict[int, str] = {pid: PropertyId(pid).name.lower() for pid in PROPERTY_TYPES}
PROPERTY_NAMES[_P.USER_PROPERTY] = "user_properties"

#: Pseudo packet type for the Will Properties of a CONNECT payload.
WILL = 0

_PT = PacketType
_ALL = frozenset({_P.USER_PROPERTY})
_PUB = _ALL | {
    _P.PAYLOAD_FORMAT_INDICATOR,
    _P.MESSAGE_EXPIRY_INTERVAL,
    _P.CONTENT_TYPE,
    _P.RESPONSE_TOPIC,
    _P.CORRELATION_DATA,
}
_ACK = _ALL | {_P.REASON_STRING}
_AUTH = {_P.AUTHENTICATION_METHOD, _P.AUTHENTICATION_DATA}

#: Packet type (or WILL) -> property ids it may carry (MQTT 5.0 §2.2.2.2).
ALLOWED_PROPERTIES: dict[int, frozenset[int]] = {
    WILL: frozenset(_PUB | {_P.WILL_DELAY_INTERVAL}),
    _PT.CONNECT: frozenset(
        _ALL
        | _AUTH
        | {
            _P.SESSION_EXPIRY_INTERVAL,
            _P.REQUEST_PROBLEM_INFORMATION,
            _P.REQUEST_RESPONSE_INFORMATION,
            _P.RECEIVE_MAXIMUM,
            _P.TOPIC_ALIAS_MAXIMUM,
            _P.MAXIMUM_PACKET_SIZE,
        }
    ),
    _PT.CONNACK: frozenset(
        _ACK
        | _AUTH
        | {
            _P.SESSION_EXPIRY_INTERVAL,
            _P.ASSIGNED_CLIENT_IDENTIFIER,
            _P.SERVER_KEEP_ALIVE,
            _P.RESPONSE_INFORMATION,
            _P.SERVER_REFERENCE,
            _P.RECEIVE_MAXIMUM,
            _P.TOPIC_ALIAS_MAXIMUM,
            _P.MAXIMUM_QOS,
            _P.RETAIN_AVAILABLE,
            _P.MAXIMUM_PACKET_SIZE,
            _P.WILDCARD_SUBSCRIPTION_AVAILABLE,
            _P.SUBSCRIPTION_IDENTIFIER_AVAILABLE,
            _P.SHARED_SUBSCRIPTION_AVAILABLE,
        }
    ),
    _PT.PUBLISH: frozenset(_PUB | {_P.SUBSCRIPTION_IDENTIFIER, _P.TOPIC_ALIAS}),
    _PT.PUBACK: frozenset(_ACK),
    _PT.PUBREC: frozenset(_ACK),
    _PT.PUBREL: frozenset(_ACK),
    _PT.PUBCOMP: frozenset(_ACK),
    _PT.SUBSCRIBE: frozenset(_ALL | {_P.SUBSCRIPTION_IDENTIFIER}),
    _PT.SUBACK: frozenset(_ACK),
    _PT.UNSUBSCRIBE: frozenset(_ALL),
    _PT.UNSUBACK: frozenset(_ACK),
    _PT.DISCONNECT: frozenset(_ACK | {_P.SESSION_EXPIRY_INTERVAL, _P.SERVER_REFERENCE}),
    _PT.AUTH: frozenset(_ACK | _AUTH),
}

_R = ReasonCode
_PUBACK_CODES = frozenset(
    {
        _R.SUCCESS,
        _R.NO_MATCHING_SUBSCRIBERS,
        _R.UNSPECIFIED_ERROR,
        _R.IMPLEMENTATION_SPECIFIC_ERROR,
        _R.NOT_AUTHORIZED,
        _R.TOPIC_NAME_INVALID,
        _R.PACKET_IDENTIFIER_IN_USE,
        _R.QUOTA_EXCEEDED,
        _R.PAYLOAD_FORMAT_INVALID,
    }
)
_PUBREL_CODES = frozenset({_R.SUCCESS, _R.PACKET_IDENTIFIER_NOT_FOUND})

#: Packet type -> reason codes an MQTT 5 packet of that type may carry (MQTT 5.0 §3.x.2.1).
ALLOWED_REASON_CODES: dict[int, frozenset[int]] = {
    _PT.CONNACK: frozenset(
        {
            _R.SUCCESS,
            _R.UNSPECIFIED_ERROR,
            _R.MALFORMED_PACKET,
            _R.PROTOCOL_ERROR,
            _R.IMPLEMENTATION_SPECIFIC_ERROR,
            _R.UNSUPPORTED_PROTOCOL_VERSION,
            _R.CLIENT_IDENTIFIER_NOT_VALID,
            _R.BAD_USER_NAME_OR_PASSWORD,
            _R.NOT_AUTHORIZED,
            _R.SERVER_UNAVAILABLE,
            _R.SERVER_BUSY,
            _R.BANNED,
            _R.BAD_AUTHENTICATION_METHOD,
            _R.TOPIC_NAME_INVALID,
            _R.PACKET_TOO_LARGE,
            _R.QUOTA_EXCEEDED,
            _R.PAYLOAD_FORMAT_INVALID,
            _R.RETAIN_NOT_SUPPORTED,
            _R.QOS_NOT_SUPPORTED,
            _R.USE_ANOTHER_SERVER,
            _R.SERVER_MOVED,
            _R.CONNECTION_RATE_EXCEEDED,
        }
    ),
    _PT.PUBACK: _PUBACK_CODES,
    _PT.PUBREC: _PUBACK_CODES,
    _PT.PUBREL: _PUBREL_CODES,
    _PT.PUBCOMP: _PUBREL_CODES,
    _PT.SUBACK: frozenset(
        {
            _R.GRANTED_QOS_0,
            _R.GRANTED_QOS_1,
            _R.GRANTED_QOS_2,
            _R.UNSPECIFIED_ERROR,
            _R.IMPLEMENTATION_SPECIFIC_ERROR,
            _R.NOT_AUTHORIZED,
            _R.TOPIC_FILTER_INVALID,
            _R.PACKET_IDENTIFIER_IN_USE,
            _R.QUOTA_EXCEEDED,
            _R.SHARED_SUBSCRIPTIONS_NOT_SUPPORTED,
            _R.SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED,
            _R.WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED,
        }
    ),
    _PT.UNSUBACK: frozenset(
        {
            _R.SUCCESS,
            _R.NO_SUBSCRIPTION_EXISTED,
            _R.UNSPECIFIED_ERROR,
            _R.IMPLEMENTATION_SPECIFIC_ERROR,
            _R.NOT_AUTHORIZED,
            _R.TOPIC_FILTER_INVALID,
            _R.PACKET_IDENTIFIER_IN_USE,
        }
    ),
    _PT.DISCONNECT: frozenset(
        {
            _R.NORMAL_DISCONNECTION,
            _R.DISCONNECT_WITH_WILL_MESSAGE,
            _R.UNSPECIFIED_ERROR,
            _R.MALFORMED_PACKET,
            _R.PROTOCOL_ERROR,
            _R.IMPLEMENTATION_SPECIFIC_ERROR,
            _R.NOT_AUTHORIZED,
            _R.SERVER_BUSY,
            _R.SERVER_SHUTTING_DOWN,
            _R.KEEP_ALIVE_TIMEOUT,
            _R.SESSION_TAKEN_OVER,
            _R.TOPIC_FILTER_INVALID,
            _R.TOPIC_NAME_INVALID,
            _R.RECEIVE_MAXIMUM_EXCEEDED,
            _R.TOPIC_ALIAS_INVALID,
            _R.PACKET_TOO_LARGE,
            _R.MESSAGE_RATE_TOO_HIGH,
            _R.QUOTA_EXCEEDED,
            _R.ADMINISTRATIVE_ACTION,
            _R.PAYLOAD_FORMAT_INVALID,
            _R.RETAIN_NOT_SUPPORTED,
            _R.QOS_NOT_SUPPORTED,
            _R.USE_ANOTHER_SERVER,
            _R.SERVER_MOVED,
            _R.SHARED_SUBSCRIPTIONS_NOT_SUPPORTED,
            _R.CONNECTION_RATE_EXCEEDED,
            _R.MAXIMUM_CONNECT_TIME,
            _R.SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED,
            _R.WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED,
        }
    ),
    _PT.AUTH: frozenset({_R.SUCCESS, _R.CONTINUE_AUTHENTICATION, _R.RE_AUTHENTICATE}),
}

#: SUBACK return codes in 3.1.1 (3.1 has no failure code 0x80).
V3_SUBACK_CODES = {MQTT_3_1: frozenset({0, 1, 2}), MQTT_3_1_1: frozenset({0, 1, 2, 0x80})}
