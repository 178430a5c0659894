"""The client side of a connection: CONNECT to CONNACK, commands, keep alive (shared by both twins).

Mixed into ``ClientConnection`` over the per-message core of
``_connection_py`` (or its compiled twin); see that module for the QoS flows.

Keep alive, without a clock: the client checks every half keep-alive
interval; when nothing was handed to ``data_to_send()`` during the last half
interval it sends PINGREQ, so the gap between two packets never exceeds the
keep alive [MQTT-3.1.2-20]. A PINGREQ unanswered for a whole keep-alive
interval closes the connection (0x8D). Server Keep Alive replaces the
client's value [MQTT-3.2.2-21].
"""

from __future__ import annotations

from typing import Any, Union

from ._connection_common import CLOSED, CONNECTED, CONNECTING, NEW, CommonMixin
from ._constants import MQTT_3_1, MQTT_5, PacketType
from ._errors import KeepAliveTimeout, LocalProtocolError, MQTTError, ProtocolError, QueueFull
from ._events import (
    Connected,
    ConnectionRefused,
    PingResponse,
    Subscribed,
    Unsubscribed,
)
from ._session import ClientSession, Outgoing
from ._topics import split_shared

__all__ = ["ClientMixin"]

SubscriptionSpec = Union[str, tuple[str, int], Any]


class ClientMixin(CommonMixin):
    """The client side of one network connection to an MQTT server, sans-I/O.

    ``ClientConnection(version=MQTT_5, *, session=None, ...)``, then
    ``connect(...)``; write ``data_to_send()`` to the socket, feed what the
    socket reads to ``receive_data()``, act on the events it returns, and
    call ``handle_timeout(now)`` at ``next_deadline()``.

    ``session`` is a ``ClientSession`` kept from an earlier connection (resume
    with ``clean_start=False``); a new one is made otherwise. The limits are
    this client's, announced in the CONNECT (MQTT 5): ``receive_maximum``
    (QoS 1/2 messages the server may have in flight to us),
    ``max_packet_size`` (larger packets are refused with 0x95),
    ``topic_alias_maximum`` (aliases the server may use toward us).
    ``auto_ack=False`` leaves PUBACK/PUBREC to ``ack(event)``.
    ``max_queued`` bounds the messages waiting for the server's Receive
    Maximum; beyond it ``publish()`` raises ``QueueFull``. ``max_inflight``
    bounds the QoS 1/2 messages in flight whatever the server announces: a
    3.x server announces nothing, yet mosquitto refuses QoS 1 beyond its
    ``max_inflight_messages`` (20) with a PUBACK 3.1.1 cannot make an error of.
    """

    _implementation: str

    def __init__(
        self,
        version: int = MQTT_5,
        *,
        session: ClientSession | None = None,
        receive_maximum: int = 0xFFFF,
        max_packet_size: int | None = None,
        topic_alias_maximum: int = 0,
        auto_ack: bool = True,
        max_queued: int = 1000,
        max_inflight: int | None = None,
    ) -> None:
        from ._constants import DEFAULT_MAX_PACKET_SIZE

        if version not in (MQTT_3_1, 4, MQTT_5):
            raise ValueError(f"version must be 3, 4 or 5, not {version!r}")
        super().__init__(  # type: ignore[call-arg]
            version,
            max_packet_size=max_packet_size or DEFAULT_MAX_PACKET_SIZE,
            receive_maximum=receive_maximum,
            topic_alias_maximum=topic_alias_maximum if version == MQTT_5 else 0,
            auto_ack=auto_ack,
        )
        self._announced_max_packet_size = max_packet_size
        if max_inflight is not None and not 1 <= max_inflight <= 0xFFFF:
            raise ValueError("max_inflight must be 1 to 65535")
        self._max_inflight = max_inflight or 0xFFFF
        self._adopt_session(
            session if session is not None else ClientSession(max_queued=max_queued)
        )
        self._requests: dict[int, Any] = {}
        self._clean_start = True
        self._keep_alive = 0
        self._ping_check: float | None = None
        self._ping_sent_at: float | None = None
        self._sent = False
        self._auth_method: str | None = None
        self._session_expiry_interval = 0
        #: The CONNACK of this connection, once received (server capabilities, assigned identifier).
        self.connack: Any = None
        self.maximum_qos = 2
        self.retain_available = True
        self.wildcard_subscription_available = True
        self.subscription_identifier_available = True
        self.shared_subscription_available = True

    # ---- commands -----------------------------------------------------------------------------

    def connect(
        self,
        client_id: str = "",
        *,
        clean_start: bool = True,
        keep_alive: int = 60,
        username: str | None = None,
        password: bytes | None = None,
        will: Any = None,
        session_expiry_interval: int | None = None,
        authentication_method: str | None = None,
        authentication_data: bytes | None = None,
        request_response_information: int | None = None,
        request_problem_information: int | None = None,
        user_properties: list[tuple[str, str]] | None = None,
    ) -> None:
        """Queue the CONNECT. ``clean_start=False`` resumes the session given to the constructor.

        MQTT 5 properties (session expiry, authentication, user properties)
        are refused at 3.x. 3.1.1 needs ``clean_start`` with an empty client
        id [MQTT-3.1.3-7 of 3.1.1]. With an ``authentication_method``,
        ``AuthRequested`` events carry the server's challenges.
        """
        if self._state != NEW:
            raise LocalProtocolError(
                "connect() was already called on this connection [MQTT-3.1.0-2]"
            )
        five = self._version == MQTT_5
        properties: dict[str, Any] = {}
        if five:
            if session_expiry_interval:
                properties["session_expiry_interval"] = session_expiry_interval
            if self._receive_maximum != 0xFFFF:  # type: ignore[attr-defined]
                properties["receive_maximum"] = self._receive_maximum  # type: ignore[attr-defined]
            if self._announced_max_packet_size is not None:
                properties["maximum_packet_size"] = self._announced_max_packet_size
            if self._topic_alias_maximum:  # type: ignore[attr-defined]
                properties["topic_alias_maximum"] = self._topic_alias_maximum  # type: ignore[attr-defined]
            for name, value in (
                ("authentication_method", authentication_method),
                ("authentication_data", authentication_data),
                ("request_response_information", request_response_information),
                ("request_problem_information", request_problem_information),
            ):
                if value is not None:
                    properties[name] = value
            if user_properties:
                properties["user_properties"] = user_properties
        elif (
            session_expiry_interval
            or authentication_method
            or authentication_data
            or user_properties
        ):
            raise LocalProtocolError(
                "session expiry, authentication and user properties need MQTT 5"
            )
        elif not client_id and not clean_start:
            raise LocalProtocolError(
                "an empty client id needs clean_start=True before MQTT 5 [MQTT-3.1.3-7]",
                0x85,
            )
        if will is not None and type(will) is not self._packets.Will:
            will = _same_will(self._packets.Will, will)  # a Will of the other twin: same fields
        connect = self._packets.Connect(
            protocol_version=self._version,
            client_id=client_id,
            clean_start=clean_start,
            keep_alive=keep_alive,
            username=username,
            password=password,
            will=will,
            **properties,
        )
        self._send_packet(connect)
        self._session.client_id = client_id
        self._clean_start = clean_start
        self._keep_alive = keep_alive
        self._auth_method = authentication_method
        self._session_expiry_interval = session_expiry_interval or 0
        if clean_start:
            self._session.clear()  # [MQTT-3.1.2-4]
        self._state = CONNECTING

    def publish(
        self,
        topic: str,
        payload: Any = b"",
        qos: int = 0,
        retain: bool = False,
        **properties: Any,
    ) -> int | None:
        """Publish an application message; its packet id (None for QoS 0).

        QoS 1 and 2 messages beyond the server's Receive Maximum wait and go
        out as acknowledgements free the quota; ``PublishCompleted`` reports
        the end of each flow. ``properties`` are the PUBLISH's MQTT 5
        properties (``message_expiry_interval``, ``response_topic``,
        ``correlation_data``, ``user_properties``...). Raises
        ``LocalProtocolError`` before the CONNACK, for a QoS above the
        server's Maximum QoS (0x9B), a RETAIN the server does not support
        (0x9A), or a packet larger than its Maximum Packet Size (0x95);
        ``QueueFull`` when the queue is at ``max_queued``.
        """
        self._require_connected("publish")
        if qos not in (0, 1, 2):
            raise ValueError(f"qos must be 0, 1 or 2, not {qos!r}")
        if qos > self.maximum_qos:
            raise LocalProtocolError(
                f"QoS {qos} is above the server's Maximum QoS {self.maximum_qos}", 0x9B
            )
        if retain and not self.retain_available:
            raise LocalProtocolError(
                "the server does not support retained messages", 0x9A
            )
        if properties and self._version != MQTT_5:
            raise LocalProtocolError(
                f"PUBLISH properties need MQTT 5: {sorted(properties)}"
            )
        for name in ("topic_alias", "subscription_identifiers", "packet_id", "dup"):
            if name in properties:
                raise TypeError(f"publish() sets {name} itself")
        message = self._packets.Publish(
            topic=topic, payload=payload, qos=qos, retain=retain, **properties
        )
        self._validate_topic(topic)
        entry = Outgoing(message, qos, retain)
        if qos and (self._send_quota <= 0 or self._waiting):
            self._check_size(
                message
            )  # it will go out later, where no exception can reach the caller
        return self._queue_outgoing(entry)  # type: ignore[attr-defined, no-any-return]

    # ---- publishes held by an asyncio client (mqttfast.client) ------------------------------------
    #
    # A burst of publishes mostly waits for the server's Receive Maximum outside the
    # session, in the client. These two move it in and out in C with the compiled twin:
    # per message, no Python frame of the client's between its publish() and its future.
    # Set ``_futures`` to a dict of packet id -> future: a QoS 1/2 flow of ours that ends
    # in success then resolves (pops) its future there instead of reporting
    # ``PublishCompleted``; refusals and ids not in the dict are reported as before.

    def _publish_held(self, futures: Any, held: Any, awaited: dict[Any, Any]) -> None:
        """Publish held messages while none waits for the send quota; each one's future into ``awaited``.

        ``futures`` and ``held`` are deques in step: a future, and its
        ``(topic, payload, qos, retain, properties or None)``. A cancelled
        future's message is dropped; a message ``publish()`` refuses fails
        its future; at ``QueueFull`` both go back in front and this stops.
        Only while none waits in the session: then each one goes out at
        once while the quota allows, and at most one waits there.
        """
        waiting = self._waiting
        while futures and not waiting:
            future = futures.popleft()
            arguments = held.popleft()
            if future.done():  # cancelled by its caller
                continue
            topic, payload, qos, retain, properties = arguments
            try:
                if properties is None:
                    packet_id = self.publish(topic, payload, qos, retain)
                else:
                    packet_id = self.publish(topic, payload, qos, retain, **properties)
            except QueueFull:
                futures.appendleft(future)  # still first in line
                held.appendleft(arguments)
                return
            except Exception as exc:
                future.set_exception(exc)
                continue
            awaited[packet_id] = future

    def subscribe(
        self,
        subscriptions: SubscriptionSpec | list[SubscriptionSpec],
        qos: int = 0,
        *,
        subscription_identifier: int | None = None,
        user_properties: list[tuple[str, str]] | None = None,
    ) -> int:
        """Subscribe; the SUBSCRIBE's packet id, echoed by the ``Subscribed`` event.

        ``subscriptions``: a topic filter (at ``qos``), a ``Subscription``
        (with its MQTT 5 options), a ``(filter, qos)`` pair, or a list of them.
        """
        self._require_connected("subscribe")
        items = subscriptions if isinstance(subscriptions, list) else [subscriptions]
        if not items:
            raise ValueError(
                "subscribe() needs at least one topic filter [MQTT-3.8.3-2]"
            )
        built = []
        for item in items:
            if isinstance(item, str):
                item = self._packets.Subscription(topic_filter=item, qos=qos)
            elif isinstance(item, tuple):
                item = self._packets.Subscription(topic_filter=item[0], qos=item[1])
            self._check_filter(item.topic_filter)
            built.append(item)
        if subscription_identifier is not None:
            if self._version != MQTT_5:
                raise LocalProtocolError("subscription identifiers need MQTT 5")
            if not self.subscription_identifier_available:
                raise LocalProtocolError(
                    "the server does not support subscription identifiers", 0xA1
                )
        packet_id = self._allocate_request_id()
        extra: dict[str, Any] = {}
        if self._version == MQTT_5:
            extra = {
                "subscription_identifier": subscription_identifier,
                "user_properties": user_properties or [],
            }
        elif user_properties:
            raise LocalProtocolError("user properties need MQTT 5")
        packet = self._packets.Subscribe(
            packet_id=packet_id, subscriptions=built, **extra
        )
        self._send_packet(packet)
        self._requests[packet_id] = packet
        return packet_id

    def unsubscribe(
        self,
        topic_filters: str | list[str],
        *,
        user_properties: list[tuple[str, str]] | None = None,
    ) -> int:
        """Unsubscribe; the UNSUBSCRIBE's packet id, echoed by the ``Unsubscribed`` event."""
        self._require_connected("unsubscribe")
        filters = (
            [topic_filters] if isinstance(topic_filters, str) else list(topic_filters)
        )
        if not filters:
            raise ValueError(
                "unsubscribe() needs at least one topic filter [MQTT-3.10.3-2]"
            )
        extra: dict[str, Any] = {}
        if self._version == MQTT_5:
            extra = {"user_properties": user_properties or []}
        elif user_properties:
            raise LocalProtocolError("user properties need MQTT 5")
        packet_id = self._allocate_request_id()
        packet = self._packets.Unsubscribe(
            packet_id=packet_id, topic_filters=filters, **extra
        )
        self._send_packet(packet)
        self._requests[packet_id] = packet
        return packet_id

    def disconnect(self, reason_code: int = 0, **properties: Any) -> None:
        """Queue DISCONNECT and end the connection; close the socket after writing ``data_to_send()``.

        0x04 asks the server to publish the will. ``session_expiry_interval``
        may change the session's lifetime, except from 0 [MQTT-3.14.2-2].
        """
        if self._state == CLOSED:
            return
        if self._state == NEW:
            self._state = CLOSED
            return
        expiry = properties.get("session_expiry_interval")
        if expiry and not self._session_expiry_interval:
            raise LocalProtocolError(
                "the session expiry cannot change from 0 on DISCONNECT [MQTT-3.14.2-2]",
                0x82,
            )
        if properties and self._version != MQTT_5:
            raise LocalProtocolError("DISCONNECT properties need MQTT 5")
        self._send_packet(self._disconnect_packet(reason_code, properties))
        self._state = CLOSED

    def auth(
        self,
        data: bytes | None = None,
        *,
        reason_code: int | None = None,
        **properties: Any,
    ) -> None:
        """Send an AUTH with the CONNECT's method (MQTT 5 enhanced authentication).

        Before the CONNACK it answers the server's challenge (0x18, Continue);
        after it, it starts re-authentication (0x19) [MQTT-4.12.1-1].
        """
        if self._version != MQTT_5 or self._auth_method is None:
            raise LocalProtocolError(
                "auth() needs MQTT 5 and a CONNECT with an authentication method [MQTT-4.12.0-7]"
            )
        if self._state == CONNECTING:
            code = 0x18 if reason_code is None else reason_code
        elif self._state == CONNECTED:
            code = 0x19 if reason_code is None else reason_code
        else:
            raise LocalProtocolError(
                f"cannot authenticate on a {self.state} connection"
            )
        self._send_packet(
            self._packets.Auth(
                reason_code=code,
                authentication_method=self._auth_method,
                authentication_data=data,
                **properties,
            )
        )

    # ---- time ---------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When to call ``handle_timeout``: 0.0 when it was never called (it starts the keep-alive clock)."""
        if self._state in (NEW, CLOSED) or not self._keep_alive:
            return None
        if self._ping_check is None:
            return 0.0
        if self._ping_sent_at is not None:
            return min(self._ping_check, self._ping_sent_at + self._keep_alive)
        return self._ping_check

    def handle_timeout(self, now: float) -> list[Any]:
        """Let time pass: send PINGREQ when due, close when the server stopped answering."""
        events: list[Any] = []
        self._now = now
        keep_alive = self._keep_alive
        if self._state in (NEW, CLOSED) or not keep_alive:
            return events
        if self._ping_check is None:
            self._ping_check = now + keep_alive / 2
            return events
        if self._ping_sent_at is not None and now >= self._ping_sent_at + keep_alive:
            self._violation(
                KeepAliveTimeout("no PINGRESP within the keep alive"), events
            )
            return events
        if now >= self._ping_check:
            if not self._sent and not self._out and self._state == CONNECTED:
                self._out.append(b"\xc0\x00")
                if self._ping_sent_at is None:
                    self._ping_sent_at = now
            self._sent = False
            self._ping_check = now + keep_alive / 2
        return events

    # ---- packets from the server ----------------------------------------------------------------

    def _receive_packet(self, packet: Any, events: list[Any]) -> None:
        packet_type = packet.packet_type
        if packet_type == PacketType.CONNACK:
            self._receive_connack(packet, events)
        elif packet_type == PacketType.AUTH:
            self._receive_auth(packet, events)
        elif self._state != CONNECTED:
            raise ProtocolError(f"{packet_type.name} before the CONNACK [MQTT-3.2.0-1]")
        elif packet_type == PacketType.SUBACK:
            if self._requests.pop(packet.packet_id, None) is not None:
                events.append(Subscribed(packet.packet_id, packet.reason_codes, packet))
        elif packet_type == PacketType.UNSUBACK:
            if self._requests.pop(packet.packet_id, None) is not None:
                events.append(
                    Unsubscribed(packet.packet_id, packet.reason_codes, packet)
                )
        elif packet_type == PacketType.PINGRESP:
            self._ping_sent_at = None
            events.append(PingResponse())
        elif packet_type == PacketType.DISCONNECT:
            self._close(packet.reason_code, True, events, None, packet)
        else:
            raise ProtocolError(f"a client does not receive {packet_type.name}")

    def _receive_early(self, packet: Any, events: list[Any]) -> None:
        raise ProtocolError(f"{packet.packet_type.name} before the CONNACK [MQTT-3.2.0-1]")

    def _receive_connack(self, packet: Any, events: list[Any]) -> None:
        if self._state != CONNECTING:
            raise ProtocolError("a second CONNACK [MQTT-3.2.0-2]")
        five = self._version == MQTT_5
        code = packet.reason_code
        if code != 0:
            self.connack = packet
            unsupported = code == 0x84 or (not five and code == 0x01)
            self._state = CLOSED
            events.append(ConnectionRefused(code, unsupported, packet))
            return
        session_present = bool(packet.session_present)
        if session_present and self._clean_start:
            raise ProtocolError("Session Present with Clean Start [MQTT-3.2.2-4]")
        # 3.1 has no Session Present bit: a CleanSession 0 connection resumes as far as the client can know.
        resumed = session_present or (self._version == MQTT_3_1 and not self._clean_start)
        if not resumed:
            self._session.clear()  # the server has no state: neither do we [MQTT-3.2.2-5]
        self.connack = packet
        # The send quota: the server's Receive Maximum (5.0), never above our own bound; a 3.x
        # server announces none, so ``max_inflight`` is the only one there.
        self._peer_receive_maximum = self._send_quota = self._max_inflight
        if five:
            self._apply_capabilities(packet)
        self._state = CONNECTED
        events.append(Connected(session_present, packet))
        if resumed:
            self._resend_session()

    def _apply_capabilities(self, connack: Any) -> None:
        if connack.receive_maximum is not None:
            quota = min(connack.receive_maximum, self._max_inflight)
            self._peer_receive_maximum = self._send_quota = quota
        if connack.maximum_packet_size is not None:
            self._peer_max_packet_size = connack.maximum_packet_size
        if connack.topic_alias_maximum is not None:
            self._peer_topic_alias_maximum = connack.topic_alias_maximum
        if connack.maximum_qos is not None:
            self.maximum_qos = connack.maximum_qos
        if connack.retain_available is not None:
            self.retain_available = bool(connack.retain_available)
        for name in (
            "wildcard_subscription_available",
            "subscription_identifier_available",
            "shared_subscription_available",
        ):
            value = getattr(connack, name)
            if value is not None:
                setattr(self, name, bool(value))
        if connack.server_keep_alive is not None:
            self._keep_alive = connack.server_keep_alive  # [MQTT-3.2.2-21]
        if connack.assigned_client_identifier is not None:
            self._session.client_id = connack.assigned_client_identifier
        if connack.session_expiry_interval is not None:
            self._session_expiry_interval = connack.session_expiry_interval

    def _receive_auth(self, packet: Any, events: list[Any]) -> None:
        # Before the CONNACK only Continue; after it the server answers a re-authentication.
        self._auth_step(packet, events, (0x18,) if self._state == CONNECTING else (0x00, 0x18))

    # ---- failures -------------------------------------------------------------------------------

    def _violation(self, error: MQTTError, events: list[Any]) -> None:
        code = error.reason_code
        if self._version == MQTT_5 and self._state in (CONNECTING, CONNECTED):
            self._send_packet(
                self._packets.Disconnect(reason_code=code)
            )  # the client SHOULD say why [4.13.1]
        self._close(code, False, events, error)

    def _queue_full(self, entry: Outgoing) -> int | None:
        from ._errors import QueueFull

        raise QueueFull(
            f"{len(self._waiting)} messages already wait for the server's Receive Maximum"
        )

    def _too_large(self, entry: Outgoing, packet_id: int) -> None:
        raise LocalProtocolError(
            f"the PUBLISH exceeds the server's Maximum Packet Size of {self._peer_max_packet_size} bytes",
            0x95,
        )

    # ---- checks -----------------------------------------------------------------------------------

    def _check_size(self, message: Any) -> None:
        if message.qos:
            message.packet_id = 1  # any id: they are all two bytes
        size = self._packets.encoded_size(message, self._version)
        message.packet_id = None
        if size > self._peer_max_packet_size:
            self._too_large(Outgoing(message, message.qos, message.retain), 0)

    def _validate_topic(self, topic: str) -> None:
        self._packets.validate_topic_name(topic)

    def _check_filter(self, topic_filter: str) -> None:
        self._packets.validate_topic_filter(topic_filter)
        shared = split_shared(topic_filter)
        if shared is not None and not self.shared_subscription_available:
            raise LocalProtocolError(
                "the server does not support shared subscriptions", 0x9E
            )
        if not self.wildcard_subscription_available and (
            "+" in topic_filter or "#" in topic_filter
        ):
            raise LocalProtocolError(
                "the server does not support wildcard subscriptions", 0xA2
            )

    def _allocate_request_id(self) -> int:
        while True:
            packet_id = self._session.allocate_packet_id()
            if packet_id not in self._requests:
                return packet_id  # type: ignore[no-any-return]


def _same_will(will_class: Any, will: Any) -> Any:
    from ._fields import FIELDS

    return will_class(**{name: getattr(will, name) for name, _ in FIELDS["Will"]})
