"""What the application handles: received messages, their topic, the will, the protocol versions."""

from __future__ import annotations

import enum
from typing import Any

from .. import Will as _WillPacket
from .. import topic_matches

__all__ = ["Message", "PayloadType", "ProtocolVersion", "Topic", "Will", "encode_payload"]

PayloadType = str | bytes | bytearray | memoryview | int | float | None


class ProtocolVersion(enum.IntEnum):
    """MQTT protocol levels, numbered as on the wire (and as in aiomqtt)."""

    V31 = 3
    V311 = 4
    V5 = 5


def encode_payload(payload: PayloadType) -> Any:
    """The bytes of a payload given as aiomqtt accepts it: str (UTF-8), number (its text), None (empty)."""
    if payload is None:
        return b""
    if isinstance(payload, str):
        return payload.encode()
    if isinstance(payload, (bytes, bytearray, memoryview)):
        return payload
    if isinstance(payload, (int, float)):
        return str(payload).encode()
    raise TypeError(f"payload must be str, bytes, int, float or None, not {type(payload).__name__}")


class Topic(str):
    """A topic name: a ``str`` with aiomqtt's ``value`` and ``matches()``."""

    __slots__ = ()

    @property
    def value(self) -> str:
        """The topic as a plain ``str``."""
        return str(self)

    def matches(self, wildcard: str) -> bool:
        """Whether the topic filter ``wildcard`` (``+``, ``#``, ``$share/...``) matches this topic."""
        return bool(topic_matches(str(wildcard), self))


class Message:
    """A received application message.

    ``topic`` (a ``Topic``), ``payload`` (``bytes``), ``qos``, ``retain``,
    ``mid`` (the packet id, 0 for QoS 0) and ``properties`` (the received
    ``Publish`` packet, whose attributes are the MQTT 5 properties:
    ``response_topic``, ``correlation_data``, ``user_properties``,
    ``subscription_identifiers``, ``content_type``...). Built only when the
    application takes it from the queue: the queue holds the packets.
    """

    __slots__ = ("_packet",)

    def __init__(self, packet: Any) -> None:
        self._packet = packet

    @property
    def topic(self) -> Topic:
        """The topic it was published to (an inbound topic alias is already resolved)."""
        return Topic(self._packet.topic)

    @property
    def payload(self) -> bytes:
        """The payload, as ``bytes``."""
        payload = self._packet.payload
        return payload if type(payload) is bytes else bytes(payload)

    @property
    def qos(self) -> int:
        """The QoS it was delivered at."""
        return int(self._packet.qos)

    @property
    def retain(self) -> bool:
        """True for a retained message sent because of a new subscription."""
        return bool(self._packet.retain)

    @property
    def mid(self) -> int:
        """The packet identifier (0 for QoS 0)."""
        return int(self._packet.packet_id or 0)

    @property
    def properties(self) -> Any:
        """The ``Publish`` packet: its attributes are the MQTT 5 properties."""
        return self._packet

    @property
    def response_topic(self) -> str | None:
        """The Response Topic of a request (MQTT 5)."""
        value: str | None = self._packet.response_topic
        return value

    @property
    def correlation_data(self) -> bytes | None:
        """The Correlation Data of a request or response (MQTT 5)."""
        value = self._packet.correlation_data
        return None if value is None else bytes(value)

    def __repr__(self) -> str:
        return f"Message(topic={self._packet.topic!r}, payload={self.payload!r}, qos={self.qos}, retain={self.retain})"


class Will:
    """The will message, shaped like aiomqtt's: ``Will(topic, payload=None, qos=0, retain=False, properties=None)``.

    ``properties`` is a dict of MQTT 5 will properties (``will_delay_interval``,
    ``message_expiry_interval``, ``content_type``, ``user_properties``...).
    An ``mqttfast.Will`` packet is accepted wherever this class is.
    """

    __slots__ = ("payload", "properties", "qos", "retain", "topic")

    def __init__(
        self,
        topic: str,
        payload: PayloadType = None,
        qos: int = 0,
        retain: bool = False,
        properties: dict[str, Any] | None = None,
    ) -> None:
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties or {}

    def to_packet(self, version: int, will_class: Any = _WillPacket) -> Any:
        """The ``Will`` packet of the CONNECT (of ``will_class``); the properties only at MQTT 5."""
        properties = self.properties if version == ProtocolVersion.V5 else {}
        return will_class(
            topic=self.topic, payload=encode_payload(self.payload), qos=self.qos, retain=self.retain, **properties
        )
