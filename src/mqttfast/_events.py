"""The events a connection reports, shared by both twins and by both sides.

``ClientConnection.receive_data`` and ``ServerConnection.receive_data`` (and
``handle_timeout``) return lists of these. Where an event means the same on
both sides it is the same class: a ``MessageReceived`` is an application
message that arrived, whichever side received it.

Events are small ``__slots__`` classes; the packet that caused an event is
kept on it as ``packet`` for anything the event does not lift out (user
properties, reason strings, server capabilities).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthRequested",
    "ConnectRequested",
    "Connected",
    "ConnectionRefused",
    "Disconnected",
    "Event",
    "MessageReceived",
    "PingResponse",
    "PublishCompleted",
    "SessionExpired",
    "SubscribeRequested",
    "Subscribed",
    "UnsubscribeRequested",
    "Unsubscribed",
    "WillPublished",
]


class Event:
    """Base class of every event: equality by fields, a repr that names them."""

    __slots__ = ()

    def _fields(self) -> tuple[Any, ...]:
        names: tuple[str, ...] = self.__slots__
        return tuple(getattr(self, name) for name in names)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event) or type(other) is not type(self):
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        names: tuple[str, ...] = self.__slots__
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{type(self).__name__}({fields})"


class Connected(Event):
    """The connection is accepted (client: the CONNACK said success).

    ``session_present`` is true when the server resumed a kept session;
    ``packet`` is the CONNACK (its server capabilities, assigned client
    identifier, Server Keep Alive...).
    """

    __slots__ = ("packet", "session_present")

    def __init__(self, session_present: bool, packet: Any) -> None:
        self.session_present = session_present
        self.packet = packet


class ConnectionRefused(Event):
    """The server refused the connection (client side); the connection is closed.

    ``reason_code`` is the CONNACK's: an MQTT 5 reason code, or the 3.x return
    code (1 to 5). ``unsupported_version`` is true when the server does not
    speak the level asked for, including the 3.x-style refusal ``20 02 00 01``
    that mosquitto sends to a 5.0 client: retry with a lower level.
    """

    __slots__ = ("packet", "reason_code", "unsupported_version")

    def __init__(
        self, reason_code: int, unsupported_version: bool, packet: Any
    ) -> None:
        self.reason_code = reason_code
        self.unsupported_version = unsupported_version
        self.packet = packet


class MessageReceived(Event):
    """An application message arrived (a PUBLISH from the peer).

    ``message`` is the ``Publish`` itself, with an inbound topic alias already
    resolved (``topic`` is the full topic and ``topic_alias`` is None). Each
    message is reported once: a retransmitted QoS 2 PUBLISH still in its flow
    is acknowledged again without a second event. With automatic
    acknowledgement off, answer it with ``connection.ack(event)``.
    """

    __slots__ = ("message",)

    def __init__(self, message: Any) -> None:
        self.message = message

    @property
    def topic(self) -> str:
        return self.message.topic  # type: ignore[no-any-return]

    @property
    def payload(self) -> Any:
        return self.message.payload

    @property
    def qos(self) -> int:
        return self.message.qos  # type: ignore[no-any-return]

    @property
    def retain(self) -> bool:
        return self.message.retain  # type: ignore[no-any-return]


class PublishCompleted(Event):
    """An outbound QoS 1 or 2 message's flow ended; its packet id is free again.

    Reported on the PUBACK (QoS 1) or the PUBCOMP (QoS 2), or on an ack whose
    reason code is 0x80 or more (the peer refused the message; the flow ends
    there [MQTT-4.4.0-2]). ``reason_code`` is the ack's; ``packet`` the ack.
    """

    __slots__ = ("packet", "packet_id", "reason_code")

    def __init__(self, packet_id: int, reason_code: int, packet: Any) -> None:
        self.packet_id = packet_id
        self.reason_code = reason_code
        self.packet = packet


class Subscribed(Event):
    """The SUBACK for the SUBSCRIBE with ``packet_id``: one reason code per filter, in order."""

    __slots__ = ("packet", "packet_id", "reason_codes")

    def __init__(self, packet_id: int, reason_codes: list[int], packet: Any) -> None:
        self.packet_id = packet_id
        self.reason_codes = reason_codes
        self.packet = packet


class Unsubscribed(Event):
    """The UNSUBACK for the UNSUBSCRIBE with ``packet_id`` (3.x: no reason codes, an empty list)."""

    __slots__ = ("packet", "packet_id", "reason_codes")

    def __init__(self, packet_id: int, reason_codes: list[int], packet: Any) -> None:
        self.packet_id = packet_id
        self.reason_codes = reason_codes
        self.packet = packet


class Disconnected(Event):
    """The connection is over: close the socket once ``data_to_send()`` is written.

    ``by_peer`` is true when the peer sent DISCONNECT or the network
    connection was lost, false when this side ended it (a protocol violation
    by the peer, answered with DISCONNECT in 5.0; a keep-alive timeout).
    ``reason_code`` is the DISCONNECT's, or the code this side sent or would
    have sent (0x8D keep-alive timeout, 0x81 malformed, 0x82 protocol
    error...). ``error`` is the exception that ended it, when one did;
    ``packet`` the peer's DISCONNECT, when there was one.
    """

    __slots__ = ("by_peer", "error", "packet", "reason_code")

    def __init__(
        self,
        reason_code: int,
        by_peer: bool,
        error: BaseException | None = None,
        packet: Any = None,
    ) -> None:
        self.reason_code = reason_code
        self.by_peer = by_peer
        self.error = error
        self.packet = packet


class ConnectRequested(Event):
    """A client asks to connect (server side): answer with ``accept()`` or ``reject(reason_code)``.

    ``packet`` is the CONNECT; ``client_id`` the identifier the session will
    have (assigned by the connection when the client sent none and may get
    one, see ``assigned_client_id``). Packets pipelined behind the CONNECT
    wait until the answer.
    """

    __slots__ = ("assigned_client_id", "client_id", "packet")

    def __init__(self, client_id: str, assigned_client_id: bool, packet: Any) -> None:
        self.client_id = client_id
        self.assigned_client_id = assigned_client_id
        self.packet = packet

    @property
    def clean_start(self) -> bool:
        return self.packet.clean_start  # type: ignore[no-any-return]

    @property
    def username(self) -> str | None:
        return self.packet.username  # type: ignore[no-any-return]

    @property
    def password(self) -> Any:
        return self.packet.password


class SubscribeRequested(Event):
    """A SUBSCRIBE (server side): answer with ``suback(event, reason_codes)``, one code per subscription."""

    __slots__ = ("packet", "packet_id", "subscription_identifier", "subscriptions")

    def __init__(
        self,
        packet_id: int,
        subscriptions: list[Any],
        subscription_identifier: int | None,
        packet: Any,
    ) -> None:
        self.packet_id = packet_id
        self.subscriptions = subscriptions
        self.subscription_identifier = subscription_identifier
        self.packet = packet


class UnsubscribeRequested(Event):
    """An UNSUBSCRIBE (server side): answer with ``unsuback(event, reason_codes)``."""

    __slots__ = ("packet", "packet_id", "topic_filters")

    def __init__(self, packet_id: int, topic_filters: list[str], packet: Any) -> None:
        self.packet_id = packet_id
        self.topic_filters = topic_filters
        self.packet = packet


class AuthRequested(Event):
    """An enhanced-authentication step from the peer (MQTT 5): answer with ``auth()``.

    Server side: the CONNECT's method and data (``packet`` is the CONNECT;
    answer with ``auth(...)`` to challenge, then ``accept()`` or ``reject()``),
    or an AUTH from the client (0x18 continue, 0x19 re-authenticate).
    Client side: the server's challenge (AUTH 0x18).
    """

    __slots__ = ("data", "method", "packet", "reason_code")

    def __init__(
        self, reason_code: int, method: str | None, data: Any, packet: Any
    ) -> None:
        self.reason_code = reason_code
        self.method = method
        self.data = data
        self.packet = packet


class PingResponse(Event):
    """The server answered a PINGREQ (client side): the connection is alive."""

    __slots__ = ()


class WillPublished(Event):
    """A session's will is due (``ServerSession.handle_timeout`` and friends): publish ``message``."""

    __slots__ = ("client_id", "message")

    def __init__(self, client_id: str, message: Any) -> None:
        self.client_id = client_id
        self.message = message


class SessionExpired(Event):
    """A server session has ended: drop its subscriptions and forget it."""

    __slots__ = ("client_id",)

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id
