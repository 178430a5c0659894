"""The server side of a connection: CONNECT to CONNACK, subscriptions, delivery (shared by both twins).

Mixed into ``ServerConnection`` over the per-message core of
``_connection_py`` (or its compiled twin). The application (a broker) makes
the decisions the protocol leaves to it, answering events: ``accept()`` or
``reject()`` a ``ConnectRequested``, ``suback()`` a ``SubscribeRequested``,
``unsuback()`` an ``UnsubscribeRequested``, ``auth()`` an ``AuthRequested``;
it routes each ``MessageReceived`` and calls ``deliver()`` on the connection
of every matching subscriber (or ``ServerSession.enqueue()`` while that
client is away).

Keep alive: the server closes a client silent for 1.5 times its keep alive
(or the Server Keep Alive it imposed) [MQTT-3.1.2-22], sending DISCONNECT
0x8D in MQTT 5; the will fires. Before the CONNECT, ``connect_timeout``
seconds are allowed (practice: a socket that never speaks is closed).
"""

from __future__ import annotations

import os
from typing import Any

from ._connection_common import CLOSED, CONNECTED, CONNECTING, NEW, CommonMixin
from ._constants import MQTT_3_1, MQTT_3_1_1, MQTT_5, PacketType
from ._errors import KeepAliveTimeout, LocalProtocolError, MQTTError, ProtocolError
from ._events import (
    ConnectRequested,
    SubscribeRequested,
    UnsubscribeRequested,
)
from ._session import NEVER_EXPIRES, Outgoing, ServerSession
from ._topics import split_shared

__all__ = ["ServerMixin"]

# 3.x CONNACK return codes for the MQTT 5 reason codes that have one [MQTT-3.2.2-3 of 3.1.1].
_UNACCEPTABLE_VERSION = b"\x20\x02\x00\x01"
_V3_RETURN_CODES = {
    0x84: 0x01,
    0x85: 0x02,
    0x88: 0x03,
    0x89: 0x03,
    0x86: 0x04,
    0x87: 0x05,
    0x8C: 0x04,
}


class ServerMixin(CommonMixin):
    """The server side of one network connection from an MQTT client, sans-I/O.

    Feed the socket's bytes to ``receive_data()``, write ``data_to_send()``,
    call ``handle_timeout(now)`` at ``next_deadline()``, and answer the
    events (see the module ``_server_connection``). The options are this
    server's capabilities, announced in the CONNACK (MQTT 5):
    ``receive_maximum``, ``max_packet_size``, ``topic_alias_maximum``,
    ``maximum_qos``, ``retain_available``, the three ``*_available``
    flags, ``server_keep_alive`` (imposed on the client), and
    ``versions``, the protocol levels accepted (a refused level gets CONNACK
    0x84 in 5.0 and return code 1 in 3.x). ``assign_client_ids`` lets a
    client with an empty identifier in.
    """

    def __init__(
        self,
        *,
        receive_maximum: int = 0xFFFF,
        max_packet_size: int | None = None,
        topic_alias_maximum: int = 10,
        auto_ack: bool = True,
        maximum_qos: int = 2,
        retain_available: bool = True,
        wildcard_subscription_available: bool = True,
        subscription_identifier_available: bool = True,
        shared_subscription_available: bool = True,
        server_keep_alive: int | None = None,
        versions: tuple[int, ...] = (MQTT_3_1, MQTT_3_1_1, MQTT_5),
        assign_client_ids: bool = True,
        connect_timeout: float = 10.0,
        max_queued: int = 1000,
    ) -> None:
        from ._constants import DEFAULT_MAX_PACKET_SIZE

        if maximum_qos not in (0, 1, 2):
            raise ValueError("maximum_qos must be 0, 1 or 2")
        super().__init__(  # type: ignore[call-arg]
            None,
            max_packet_size=max_packet_size or DEFAULT_MAX_PACKET_SIZE,
            receive_maximum=receive_maximum,
            topic_alias_maximum=topic_alias_maximum,
            auto_ack=auto_ack,
        )
        self._announced_max_packet_size = max_packet_size
        self.maximum_qos = maximum_qos
        self.retain_available = retain_available
        self.wildcard_subscription_available = wildcard_subscription_available
        self.subscription_identifier_available = subscription_identifier_available
        self.shared_subscription_available = shared_subscription_available
        self.server_keep_alive = server_keep_alive
        self.versions = versions
        self.assign_client_ids = assign_client_ids
        self.connect_timeout = connect_timeout
        self.max_queued = max_queued
        #: The client's CONNECT, once received.
        self.connect_packet: Any = None
        self.client_id = ""
        self._held: list[Any] = []
        self._keep_alive = 0
        self._deadline: float | None = None
        self._connack_sent = False
        self._auth_method: str | None = None

    # ---- answering the CONNECT ------------------------------------------------------------------

    def accept(
        self,
        session: ServerSession | None = None,
        *,
        session_expiry_interval: int | None = None,
        **properties: Any,
    ) -> list[Any]:
        """Accept the connection: CONNACK 0x00. Returns the events of packets pipelined behind the CONNECT.

        ``session``: the client id's existing session to resume (Session
        Present is then 1 unless the client asked for Clean Start, which
        clears it [MQTT-3.2.2-2, -3]); a new one is made otherwise. A resumed
        session's unacknowledged messages are sent again, and its waiting
        ones as the client's Receive Maximum allows. ``session_expiry_interval``
        imposes the server's value (MQTT 5, sent in the CONNACK);
        ``properties`` are further CONNACK properties (``reason_string``,
        ``user_properties``, ``response_information``, ``authentication_data``...).
        """
        if self._state != CONNECTING:
            raise LocalProtocolError(
                f"accept() answers a ConnectRequested; the connection is {self.state}"
            )
        connect = self.connect_packet
        five = self._version == MQTT_5
        session_present = session is not None and not connect.clean_start
        if session is None:
            session = ServerSession(self.client_id, max_queued=self.max_queued)
        elif connect.clean_start:
            session.clear()
            session.subscriptions.clear()
        session.client_id = self.client_id
        self._adopt_session(session)
        if five:
            requested = connect.session_expiry_interval or 0
            session.expiry_interval = (
                requested
                if session_expiry_interval is None
                else session_expiry_interval
            )
        else:
            session.expiry_interval = (
                0 if connect.clean_start else NEVER_EXPIRES
            )  # mosquitto's mapping
        session.attach()
        session.will = connect.will
        session.will_on_close = connect.will is not None
        self._keep_alive = (
            self.server_keep_alive
            if self.server_keep_alive is not None
            else connect.keep_alive
        )
        if five:
            connack = self._packets.Connack(
                session_present=session_present,
                reason_code=0,
                **self._connack_properties(session_expiry_interval),
            )
            for name, value in properties.items():
                setattr(connack, name, value)
            if connect.request_response_information != 1:
                connack.response_information = None  # only on request [MQTT-3.1.2-28]
            self._apply_client_limits(connect)
            self._accepted_qos = self.maximum_qos
            self._accepted_retain = self.retain_available
        else:
            if properties:
                raise LocalProtocolError("CONNACK properties need MQTT 5")
            connack = self._packets.Connack(
                session_present=session_present and self._version != MQTT_3_1
            )
        self._send_packet(connack)
        self._connack_sent = True
        self._state = CONNECTED
        self._deadline = None  # re-armed by the next handle_timeout with the keep alive
        if session_present:
            self._resend_session()
        events: list[Any] = []
        held, self._held = self._held, []
        for packet in held:
            if self._state != CONNECTED:
                break
            try:
                self._replay(packet, events)  # type: ignore[attr-defined]
            except MQTTError as exc:
                self._violation(exc, events)
        return events

    def _connack_properties(
        self, session_expiry_interval: int | None
    ) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        if self._receive_maximum != 0xFFFF:  # type: ignore[attr-defined]
            properties["receive_maximum"] = self._receive_maximum  # type: ignore[attr-defined]
        if self.maximum_qos < 2:
            properties["maximum_qos"] = self.maximum_qos
        if not self.retain_available:
            properties["retain_available"] = 0
        if self._announced_max_packet_size is not None:
            properties["maximum_packet_size"] = self._announced_max_packet_size
        if self._topic_alias_maximum:  # type: ignore[attr-defined]
            properties["topic_alias_maximum"] = self._topic_alias_maximum  # type: ignore[attr-defined]
        if self.connect_packet.client_id == "":
            properties["assigned_client_identifier"] = self.client_id  # [MQTT-3.2.2-16]
        for name in (
            "wildcard_subscription_available",
            "subscription_identifier_available",
            "shared_subscription_available",
        ):
            if not getattr(self, name):
                properties[name] = 0
        if self.server_keep_alive is not None:
            properties["server_keep_alive"] = self.server_keep_alive
        if session_expiry_interval is not None:
            properties["session_expiry_interval"] = session_expiry_interval
        return properties

    def _apply_client_limits(self, connect: Any) -> None:
        if connect.receive_maximum is not None:
            self._peer_receive_maximum = connect.receive_maximum
            self._send_quota = connect.receive_maximum
        if connect.maximum_packet_size is not None:
            self._peer_max_packet_size = connect.maximum_packet_size
        if connect.topic_alias_maximum is not None:
            self._peer_topic_alias_maximum = connect.topic_alias_maximum

    def reject(self, reason_code: int, **properties: Any) -> None:
        """Refuse the connection: CONNACK with ``reason_code`` (0x80 or more), then close.

        At 3.x the code is sent as the matching return code (0x86 -> 4, 0x87
        -> 5, ...; 1 to 5 are taken as they are); with no fitting return
        code the connection closes without a CONNACK [MQTT-3.2.2-6 of 3.1.1].
        The will never fires: there is no session.
        """
        if self._state != CONNECTING:
            raise LocalProtocolError(
                f"reject() answers a ConnectRequested; the connection is {self.state}"
            )
        self._refuse(reason_code, properties)

    def _refuse(self, reason_code: int, properties: dict[str, Any]) -> None:
        if reason_code == 0x84 and self._version not in self.versions:
            # A level this server does not speak: answer in the 3.x form, which every client
            # reads, as mosquitto does (a 5.0 client then retries at 3.1.1).
            self._out.append(_UNACCEPTABLE_VERSION)
        elif self._version == MQTT_5:
            if reason_code < 0x80:
                raise ValueError(
                    "a refusing CONNACK needs a reason code of 0x80 or more [MQTT-3.2.2-7]"
                )
            self._send_packet(
                self._packets.Connack(reason_code=reason_code, **properties)
            )
        else:
            code = (
                reason_code
                if 1 <= reason_code <= 5
                else _V3_RETURN_CODES.get(reason_code)
            )
            if code is not None:
                self._send_packet(self._packets.Connack(reason_code=code))
        self._held = []
        self._state = CLOSED

    def auth(
        self, data: bytes | None = None, *, reason_code: int = 0x18, **properties: Any
    ) -> None:
        """Send AUTH with the CONNECT's method: a challenge (0x18), or 0x00 ending a re-authentication."""
        if self._version != MQTT_5 or self._auth_method is None:
            raise LocalProtocolError(
                "auth() needs MQTT 5 and a CONNECT with an authentication method [MQTT-4.12.0-7]"
            )
        if self._state not in (CONNECTING, CONNECTED):
            raise LocalProtocolError(
                f"cannot authenticate on a {self.state} connection"
            )
        self._send_packet(
            self._packets.Auth(
                reason_code=reason_code,
                authentication_method=self._auth_method,
                authentication_data=data,
                **self._problem_information(properties),
            )
        )

    def _problem_information(self, properties: dict[str, Any]) -> dict[str, Any]:
        """``properties`` without Reason String and User Properties when the client asked for none.

        Request Problem Information 0 keeps them to PUBLISH, CONNACK and
        DISCONNECT [MQTT-3.1.2-29]; SUBACK, UNSUBACK and AUTH go without.
        """
        if self.connect_packet.request_problem_information != 0:
            return properties
        return {
            name: value
            for name, value in properties.items()
            if name not in ("reason_string", "user_properties")
        }

    # ---- answering SUBSCRIBE and UNSUBSCRIBE ---------------------------------------------------

    def suback(
        self, request: SubscribeRequested, reason_codes: list[int], **properties: Any
    ) -> None:
        """Answer a SUBSCRIBE: one reason code per subscription, in order (the granted QoS, or >= 0x80).

        Granted subscriptions are recorded in the session (replacing one with
        the same filter [MQTT-3.8.4-3]); a granted QoS is capped at the
        server's Maximum QoS, and a wildcard or shared filter the server does
        not support is answered 0xA2 / 0x9E. At 3.x every failure is 0x80.
        """
        if len(reason_codes) != len(request.subscriptions):
            raise ValueError(
                f"{len(request.subscriptions)} subscriptions need as many reason codes [MQTT-3.8.4-6]"
            )
        codes = []
        five = self._version == MQTT_5
        for subscription, code in zip(request.subscriptions, reason_codes):
            topic_filter = subscription.topic_filter
            if code < 0x80:
                if (
                    split_shared(topic_filter) is not None
                    and not self.shared_subscription_available
                ):
                    code = 0x9E
                elif (
                    "+" in topic_filter or "#" in topic_filter
                ) and not self.wildcard_subscription_available:
                    code = 0xA2
                else:
                    code = min(code, subscription.qos, self.maximum_qos)
            if code >= 0x80 and not five:
                code = 0x80
            if code < 0x80:
                self._session.subscriptions[topic_filter] = (
                    subscription,
                    request.subscription_identifier,
                )
            codes.append(code)
        if self._state == CLOSED:
            return
        extra = self._problem_information(properties) if five else {}
        self._send_packet(
            self._packets.Suback(
                packet_id=request.packet_id, reason_codes=codes, **extra
            )
        )

    def unsuback(
        self,
        request: UnsubscribeRequested,
        reason_codes: list[int] | None = None,
        **properties: Any,
    ) -> None:
        """Answer an UNSUBSCRIBE; by default 0x00 per filter the session had, 0x11 for the others.

        The session forgets the filters answered below 0x80; messages already
        in flight to them still complete [MQTT-3.10.4-3].
        """
        subscriptions = self._session.subscriptions
        if reason_codes is None:
            reason_codes = [
                0x00 if f in subscriptions else 0x11 for f in request.topic_filters
            ]
        elif len(reason_codes) != len(request.topic_filters):
            raise ValueError(
                f"{len(request.topic_filters)} topic filters need as many reason codes [MQTT-3.11.3-1]"
            )
        for topic_filter, code in zip(request.topic_filters, reason_codes):
            if code < 0x80:
                subscriptions.pop(topic_filter, None)
        if self._state == CLOSED:
            return
        if self._version == MQTT_5:
            packet = self._packets.Unsuback(
                packet_id=request.packet_id,
                reason_codes=reason_codes,
                **self._problem_information(properties),
            )
        else:
            packet = self._packets.Unsuback(packet_id=request.packet_id)
        self._send_packet(packet)

    # ---- delivering messages ----------------------------------------------------------------------

    def deliver(
        self,
        message: Any,
        qos: int = 2,
        *,
        retain_as_published: bool = False,
        retained: bool = False,
        subscription_identifiers: list[int] | None = None,
        expires_at: float | None = None,
    ) -> int | None:
        """Send a message to this connection's client for one of its subscriptions; its packet id, or None.

        The QoS sent is the lower of the message's and ``qos`` (the
        subscription's) [MQTT-3.8.4-8]; RETAIN is set for a ``retained``
        message sent because of a new subscription, or kept from the message
        with ``retain_as_published`` [MQTT-3.3.1-12]; the topic may go as an
        alias (the client's Topic Alias Maximum). A QoS 1/2 message beyond
        the client's Receive Maximum waits in the session. A message larger
        than the client's Maximum Packet Size is dropped as if delivered
        [MQTT-3.1.2-25], and so is a QoS 1/2 message when the session's queue
        is full (counted in ``session.dropped``). ``expires_at`` is the
        message's absolute expiry on the clock of ``handle_timeout``: it goes
        with the remaining lifetime, or not at all once expired.
        """
        granted = min(message.qos, qos)
        entry = Outgoing(
            message,
            granted,
            bool(retained or (retain_as_published and message.retain)),
            subscription_identifiers if self._version == MQTT_5 else None,
            expires_at,
        )
        if self._state != CONNECTED:
            if self._session is None or not granted:
                return None
            session: ServerSession = self._session
            return session.enqueue(message, granted, entry.retain, entry.subscription_identifiers, expires_at)
        if expires_at is not None and self._now is not None and expires_at <= self._now:
            return None
        return self._queue_outgoing(entry)  # type: ignore[attr-defined, no-any-return]

    def disconnect(self, reason_code: int = 0, **properties: Any) -> None:
        """End the connection from the server side: DISCONNECT (MQTT 5, after the CONNACK), then close.

        The will fires: only the client's DISCONNECT 0x00 discards it
        [MQTT-3.1.2-10]. Use 0x8E for a takeover [MQTT-3.1.4-3], 0x8B for a
        shutdown. At 3.x, and before the CONNACK, the connection just closes.
        """
        if self._state == CLOSED:
            return
        if self._state == CONNECTED and self._version == MQTT_5:
            self._send_packet(
                self._packets.Disconnect(reason_code=reason_code, **properties)
            )
        self._state = CLOSED

    # ---- time -------------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When to call ``handle_timeout``: 0.0 when it was never called (it starts the clocks)."""
        if self._state == CLOSED:
            return None
        if self._state == CONNECTED and not self._keep_alive:
            return None
        return 0.0 if self._deadline is None else self._deadline

    def handle_timeout(self, now: float) -> list[Any]:
        """Let time pass: close a connection whose client stayed silent too long."""
        events: list[Any] = []
        self._now = now
        if self._state == CLOSED:
            return events
        if self._state != CONNECTED:
            if self._deadline is None:
                self._deadline = now + self.connect_timeout
            elif now >= self._deadline:
                self._close(
                    0x8D,
                    False,
                    events,
                    KeepAliveTimeout("no CONNECT within the connect timeout"),
                )
            return events
        if not self._keep_alive:
            return events
        if self._received or self._deadline is None:
            base = self._last_received if self._last_received is not None else now
            self._received = False
            self._deadline = base + self._keep_alive * 1.5
        if now >= self._deadline:
            self._violation(
                KeepAliveTimeout(
                    f"no packet for 1.5 x {self._keep_alive} s [MQTT-3.1.2-22]"
                ),
                events,
            )
        return events

    # ---- packets from the client --------------------------------------------------------------------

    def _receive_packet(self, packet: Any, events: list[Any]) -> None:
        if self._state == NEW:
            if packet.packet_type != PacketType.CONNECT:
                raise ProtocolError(
                    f"{packet.packet_type.name} before CONNECT [MQTT-3.1.0-1]"
                )
            self._receive_connect(packet, events)
        elif self._state == CONNECTING:
            if packet.packet_type == PacketType.AUTH:
                self._receive_auth(packet, events)
            else:
                self._hold(packet)
        else:
            self._dispatch(packet, events)

    def _receive_early(self, packet: Any, events: list[Any]) -> None:
        if self._state == NEW:
            raise ProtocolError(f"{packet.packet_type.name} before CONNECT [MQTT-3.1.0-1]")
        self._hold(packet)

    def _hold(self, packet: Any) -> None:
        """Keep a packet pipelined behind the CONNECT until the answer."""
        if self._auth_method is not None and packet.packet_type != PacketType.DISCONNECT:
            raise ProtocolError(
                f"{packet.packet_type.name} during enhanced authentication, before the CONNACK"
                " [MQTT-3.1.2-30]"
            )
        self._held.append(packet)

    def _dispatch(self, packet: Any, events: list[Any]) -> None:
        packet_type = packet.packet_type
        if packet_type == PacketType.SUBSCRIBE:
            self._receive_subscribe(packet, events)
        elif packet_type == PacketType.UNSUBSCRIBE:
            events.append(
                UnsubscribeRequested(packet.packet_id, packet.topic_filters, packet)
            )
        elif packet_type == PacketType.PINGREQ:
            self._out.append(b"\xd0\x00")  # [MQTT-3.12.4-1]
        elif packet_type == PacketType.DISCONNECT:
            self._receive_disconnect(packet, events)
        elif packet_type == PacketType.AUTH:
            self._receive_auth(packet, events)
        elif packet_type == PacketType.CONNECT:
            raise ProtocolError("a second CONNECT [MQTT-3.1.0-2]")
        else:
            raise ProtocolError(f"a server does not receive {packet_type.name}")

    def _receive_connect(self, connect: Any, events: list[Any]) -> None:
        self._version = connect.protocol_version
        self.connect_packet = connect
        self._state = CONNECTING
        if self._version not in self.versions:
            self._refuse(0x84, {})
            events.append(_refused_event(0x84))
            return
        five = self._version == MQTT_5
        client_id = connect.client_id
        assigned = False
        if not client_id:
            if (
                self._version == MQTT_3_1
                or (not five and not connect.clean_start)
                or not self.assign_client_ids
            ):
                self._refuse(0x85, {})  # [MQTT-3.1.3-8; 3.1.1: 3.1.3-8, -9]
                events.append(_refused_event(0x85))
                return
            client_id = "mqttfast-" + os.urandom(8).hex()
            assigned = True
        elif self._version == MQTT_3_1 and len(client_id.encode()) > 23:
            self._refuse(0x85, {})
            events.append(_refused_event(0x85))
            return
        will = connect.will
        if will is not None:
            if will.qos > self.maximum_qos:
                self._refuse(0x9B, {})  # [MQTT-3.2.2-12]
                events.append(_refused_event(0x9B))
                return
            if will.retain and not self.retain_available:
                self._refuse(0x9A, {})  # [MQTT-3.2.2-13]
                events.append(_refused_event(0x9A))
                return
        self.client_id = client_id
        self._auth_method = connect.authentication_method if five else None
        events.append(ConnectRequested(client_id, assigned, connect))

    def _receive_subscribe(self, packet: Any, events: list[Any]) -> None:
        if (
            packet.subscription_identifier is not None
            and not self.subscription_identifier_available
        ):
            raise _SubscriptionIdentifiersNotSupported(
                "subscription identifiers are not supported here"
            )
        for subscription in packet.subscriptions:
            if (
                subscription.no_local
                and split_shared(subscription.topic_filter) is not None
            ):
                raise ProtocolError("No Local on a shared subscription [MQTT-3.8.3-4]")
            if self.connect_packet.bridge:
                # A mosquitto bridge (protocol level | 0x80) wants its own messages kept off
                # its link and retained flags kept: practice, as mosquitto does.
                subscription.no_local = True
                subscription.retain_as_published = True
        events.append(
            SubscribeRequested(
                packet.packet_id,
                packet.subscriptions,
                packet.subscription_identifier,
                packet,
            )
        )

    def _receive_disconnect(self, packet: Any, events: list[Any]) -> None:
        session = self._session
        expiry = packet.session_expiry_interval if self._version == MQTT_5 else None
        if expiry is not None:
            if session.expiry_interval == 0 and expiry != 0:
                raise ProtocolError(
                    "session expiry changed from 0 on DISCONNECT [MQTT-3.14.2-2]"
                )
            session.expiry_interval = expiry
        code = packet.reason_code if self._version == MQTT_5 else 0
        if code == 0x00:
            session.will_on_close = (
                False  # a normal disconnection discards the will [MQTT-3.1.2-10]
            )
        self._close(code, True, events, None, packet)

    def _receive_auth(self, packet: Any, events: list[Any]) -> None:
        # Before the CONNACK only Continue; after it Continue or Re-authenticate.
        self._auth_step(packet, events, (0x18,) if self._state == CONNECTING else (0x18, 0x19))

    # ---- failures ------------------------------------------------------------------------------------

    def _violation(self, error: MQTTError, events: list[Any]) -> None:
        code = error.reason_code
        if self._state == NEW or (self._state == CONNECTING and not self._connack_sent):
            level = self._version or error.protocol_level
            if code == 0x84:
                self._out.append(
                    _UNACCEPTABLE_VERSION
                )  # any level: the 3.x form every client reads
            elif level == MQTT_5:
                self._version = MQTT_5
                self._send_packet(self._packets.Connack(reason_code=code))
            elif level in (MQTT_3_1, MQTT_3_1_1) and code == 0x85:
                self._out.append(b"\x20\x02\x00\x02")  # identifier rejected
        elif self._version == MQTT_5:
            self._send_packet(
                self._packets.Disconnect(reason_code=code)
            )  # [MQTT-4.13.1-1]
        self._close(code, False, events, error)

    def _queue_full(self, entry: Outgoing) -> int | None:
        self._session.dropped += 1
        return None

    def _too_large(self, entry: Outgoing, packet_id: int) -> None:
        pass  # dropped as if delivered [MQTT-3.1.2-25]


class _SubscriptionIdentifiersNotSupported(ProtocolError):
    reason_code = 0xA1


def _refused_event(reason_code: int) -> Any:
    from ._events import Disconnected

    return Disconnected(reason_code, False)
