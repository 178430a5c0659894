"""The one exception hierarchy of mqttfast, shared by the compiled and pure-Python twins.

Every error a peer can provoke carries the MQTT 5 reason code that a server
should send back (in a CONNACK or DISCONNECT) before closing the connection,
so a broker can answer without a lookup table of its own.
"""

from __future__ import annotations

__all__ = [
    "ClientIdentifierNotValid",
    "Incomplete",
    "InvalidTopicFilter",
    "InvalidTopicName",
    "KeepAliveTimeout",
    "LocalProtocolError",
    "MQTTError",
    "MalformedPacket",
    "PacketTooLarge",
    "ProtocolError",
    "QueueFull",
    "ReceiveMaximumExceeded",
    "TopicAliasInvalid",
    "UnsupportedProtocolVersion",
]


class MQTTError(Exception):
    """Base class of every error mqttfast raises for bad MQTT data.

    ``reason_code`` is the MQTT 5 reason code that describes the failure;
    ``offset`` is the byte offset in the input where it was found, when known.

    An error in a CONNECT found after its protocol name and level were read
    carries them as ``protocol_name`` and ``protocol_level`` (the level without
    a bridge's 0x80 bit), so a server can answer in the form the client reads:
    a 3.1 or 3.1.1 return code (0x01 for an unsupported level, 0x02 for a
    rejected client identifier) or an MQTT 5 reason code. Both are ``None``
    otherwise, and then a server just closes the connection.
    """

    reason_code: int = 0x80  # Unspecified error
    protocol_level: int | None = None
    protocol_name: str | None = None

    def __init__(self, message: str, offset: int | None = None) -> None:
        if offset is not None:
            message = f"{message} (at byte {offset})"
        super().__init__(message)
        self.offset = offset


class Incomplete(MQTTError):
    """The buffer ends before the packet does.

    Not an error for a stream (wait for more bytes); it is one when the
    connection closes here, hence the Malformed Packet reason code.
    ``needed`` is how many bytes the whole packet takes, when the fixed header
    was complete enough to tell, else None.
    """

    reason_code = 0x81

    def __init__(
        self, message: str, offset: int | None = None, needed: int | None = None
    ) -> None:
        super().__init__(message, offset)
        self.needed = needed


class MalformedPacket(MQTTError):
    """The bytes cannot be parsed according to the specification (0x81)."""

    reason_code = 0x81


class ProtocolError(MQTTError):
    """The bytes parse, but break a rule of the protocol (0x82)."""

    reason_code = 0x82


class UnsupportedProtocolVersion(ProtocolError):
    """A CONNECT names a protocol or level this library does not speak (0x84).

    A server answers it with CONNACK 0x84 (MQTT 5) or return code 1 (3.x)
    [MQTT-3.1.2-2].
    """

    reason_code = 0x84


class ClientIdentifierNotValid(ProtocolError):
    """A CONNECT carries a client identifier its protocol level forbids (0x85).

    A server answers it with CONNACK 0x85 (MQTT 5) or return code 2 (3.x)
    [MQTT-3.1.3-8].
    """

    reason_code = 0x85


class PacketTooLarge(MQTTError):
    """The packet exceeds the maximum packet size in force (0x95)."""

    reason_code = 0x95


class InvalidTopicName(MQTTError):
    """A topic name breaks the rules of MQTT 5.0 §4.7 (0x90)."""

    reason_code = 0x90


class InvalidTopicFilter(MQTTError):
    """A topic filter breaks the rules of MQTT 5.0 §4.7 or §4.8.2 (0x8F)."""

    reason_code = 0x8F


class ReceiveMaximumExceeded(ProtocolError):
    """The peer sent more QoS 1 and 2 messages than our Receive Maximum allows in flight (0x93)."""

    reason_code = 0x93


class TopicAliasInvalid(ProtocolError):
    """A PUBLISH carries topic alias 0 or one above our Topic Alias Maximum (0x94) [MQTT-3.3.2-9]."""

    reason_code = 0x94


class KeepAliveTimeout(MQTTError):
    """The peer went silent: no packet within 1.5 keep alives, or no PINGRESP (0x8D) [MQTT-3.1.2-22]."""

    reason_code = 0x8D


class LocalProtocolError(MQTTError):
    """The caller asked a connection for something the protocol forbids at this point.

    Publishing before the CONNACK, a QoS above the server's Maximum QoS
    (0x9B), a retained message to a server without Retain Available (0x9A),
    a packet larger than the peer's Maximum Packet Size (0x95). Nothing was
    sent and the connection's state is unchanged. ``reason_code`` is the
    MQTT 5 reason code that names the rule.
    """

    reason_code = 0x82

    def __init__(self, message: str, reason_code: int | None = None) -> None:
        super().__init__(message)
        if reason_code is not None:
            self.reason_code = reason_code


class QueueFull(LocalProtocolError):
    """A bounded queue of the connection or its session is full (0x97, Quota exceeded).

    Raised by a command that would have to queue a message beyond the limit
    the caller set; the message was not accepted.
    """

    reason_code = 0x97
