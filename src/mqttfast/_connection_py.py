"""The per-message core of a connection, pure-Python twin of ``_connection_c.pyx``.

Sans-I/O: a connection owns no socket and no clock. Bytes come in through
``receive_data`` and leave through ``data_to_send`` / ``buffers_to_send``;
time comes in through ``handle_timeout(now)`` and the optional ``now`` of
``receive_data``. This module holds what runs once per application message,
the part worth compiling: reading a stream into packets, receiving a PUBLISH
and acknowledging it, the QoS 1 and 2 flows in both directions, Receive
Maximum flow control, topic aliases both ways and the peer's Maximum Packet
Size. Everything that runs once per connection (CONNECT and CONNACK, SUBSCRIBE,
AUTH, keep alive) is shared Python in ``_client_connection`` and
``_server_connection``, mixed into the final classes at the bottom.

The rules kept here:

- Two packet id spaces [MQTT-2.2.1]: ours is the session's ``outbound``; the
  peer's QoS 2 ids live in ``inbound_qos2`` until its PUBREL.
- Send quota [MQTT-4.9.0-1..3]: starts at the peer's Receive Maximum, one
  per QoS 1/2 PUBLISH sent, one back per PUBACK, PUBCOMP or PUBREC >= 0x80.
  At 0, QoS 1/2 messages wait in ``session.waiting``; all else goes out.
- Our own Receive Maximum: inbound QoS 1 counts until our PUBACK, QoS 2
  until our PUBCOMP; one more is a protocol violation (0x93).
- Acknowledgements leave in the order the PUBLISHes came [MQTT-4.6.0-2..4],
  also when the application acknowledges by hand (``ack()``).
- A violation by the peer never escapes ``receive_data``: it becomes a
  DISCONNECT (5.0) or a bare close, and a ``Disconnected`` event.
"""

from __future__ import annotations

from collections import deque
from types import SimpleNamespace
from typing import Any

from . import _packets_py
from ._client_connection import ClientMixin
from ._codec_py import Decoder, encode, encode_forward, encoded_size
from ._connection_common import unsupported_publish as _unsupported
from ._constants import MQTT_5, PacketType
from ._errors import (
    LocalProtocolError,
    MQTTError,
    ProtocolError,
    ReceiveMaximumExceeded,
    TopicAliasInvalid,
)
from ._events import Disconnected, MessageReceived, PublishCompleted
from ._fields import PACKET_NAMES
from ._packets_py import Puback, Pubcomp, Pubrec, Pubrel
from ._server_connection import ServerMixin
from ._session import Outgoing
from ._topic_rules_py import validate_topic_filter, validate_topic_name

__all__ = ["ClientConnection", "Connection", "ServerConnection"]

# Connection states, in order.
NEW = 0  # nothing exchanged yet
CONNECTING = 1  # client: CONNECT sent; server: CONNECT received, answer pending
CONNECTED = 2
CLOSED = 3

_PUBLISH = PacketType.PUBLISH
_PUBACK = PacketType.PUBACK
_PUBREC = PacketType.PUBREC
_PUBREL = PacketType.PUBREL
_PUBCOMP = PacketType.PUBCOMP

#: What "no Maximum Packet Size" means on the wire: the largest packet MQTT can frame.
UNLIMITED_PACKET_SIZE = 268_435_460


class Connection:
    """What both sides of a connection share: the stream, the QoS flows, flow control, aliases."""

    def __init__(
        self,
        version: int | None,
        *,
        max_packet_size: int,
        receive_maximum: int,
        topic_alias_maximum: int,
        auto_ack: bool,
    ) -> None:
        if not 1 <= receive_maximum <= 0xFFFF:
            raise ValueError("receive_maximum must be 1 to 65535")
        if not 0 <= topic_alias_maximum <= 0xFFFF:
            raise ValueError("topic_alias_maximum must be 0 to 65535")
        self._version = version
        self._decoder = Decoder(version, max_packet_size=max_packet_size)
        self._max_packet_size = max_packet_size
        self._out: list[Any] = []
        self._state = NEW
        self._session: Any = None
        self._outbound: dict[int, Outgoing | None] = {}
        self._waiting: dict[int, None] = {}
        self._inbound_qos2: set[int] = set()
        self._receive_maximum = receive_maximum
        self._peer_receive_maximum = 0xFFFF
        self._send_quota = 0xFFFF
        self._unacked_qos1 = 0
        self._unacked_qos1_earlier = 0  # of those, the ones from earlier reads: see _check_receive_maximum
        self._peer_max_packet_size = UNLIMITED_PACKET_SIZE
        self._topic_alias_maximum = topic_alias_maximum
        self._aliases_in: dict[int, str] = {}
        self._peer_topic_alias_maximum = 0
        self._aliases_out: dict[str, int] = {}
        self._next_alias = 1
        self._free_aliases: list[int] = []
        self._auto_ack = auto_ack
        # What this side announced it takes in a PUBLISH (a server's Maximum QoS and Retain Available).
        self._accepted_qos = 2
        self._accepted_retain = True
        # Manual acknowledgement: [packet id, qos, reason code or -1 while the app has not acked], arrival order.
        self._pending_acks: deque[list[int]] = deque()
        self._now: float | None = None
        self._received = False
        # Whether data_to_send()/buffers_to_send() handed anything out since the client's last
        # keep-alive check (the client's PINGREQ rule; a server ignores it).
        self._sent = False
        self._last_received: float | None = None
        # Packet id -> future of a QoS 1/2 publish of ours, or None (ClientMixin: "publishes held by an asyncio client").
        self._futures: dict[int, Any] | None = None

    # ---- bytes in -------------------------------------------------------------------------

    def receive_data(self, data: Any, now: float | None = None) -> list[Any]:
        """Feed bytes read from the network (any buffer; cut anywhere); the events they complete.

        ``now``, when given, is the time the bytes arrived (the clock of
        ``handle_timeout``), which keeps the keep-alive exact; without it a
        packet counts as received when the next ``handle_timeout`` runs, so a
        silent peer is closed late, never early. Bytes after the connection
        closed are ignored. A violation by the peer is reported as a
        ``Disconnected`` event, with the DISCONNECT (5.0) in ``data_to_send()``.
        """
        events: list[Any] = []
        if self._state == CLOSED:
            return events
        self._note_read(now)
        error: MQTTError | None = None
        try:
            packets = self._decoder.feed(data)
        except MQTTError as exc:
            packets = getattr(exc, "packets", [])
            error = exc
        for packet in packets:
            if self._state == CLOSED:
                break
            try:
                self._replay(packet, events)
            except MQTTError as exc:
                self._violation(exc, events)
                break
        if error is not None and self._state != CLOSED:
            self._violation(error, events)
        return events

    def _note_read(self, now: float | None) -> None:
        # A read at ``now``: the keep-alive's clock, and where this read's QoS 1 messages start.
        if now is not None:
            self._now = now
            self._last_received = now
        else:
            # Arrival time unknown: the next handle_timeout counts it as now, never an older time.
            self._last_received = None
        self._received = True
        self._unacked_qos1_earlier = self._unacked_qos1

    def puback_received(self, packet_id: int, now: float | None = None) -> bool:
        """What ``receive_data`` does with a read of one reason-less PUBACK (``40 02`` and
        ``packet_id``) at ``now``, without making its events, for a reader that has no use for them
        (a broker, whose subscribers' acknowledgements are most of what it reads); whether it did.

        False, with nothing done, where ``receive_data`` must read those bytes
        instead: the connection is not connected (a connected one took a CONNECT, so its
        Maximum Packet Size takes a PUBACK), part of a packet is held, ``packet_id``
        is not 1 to 65,535 (0 is a violation), messages wait for the send quota (sending
        them can fail, which ``receive_data`` reports as a violation), or the flows' ends
        resolve futures (``_futures``, an asyncio client's). Like ``receive_data``, a
        PUBACK matching no QoS 1 message in flight is ignored.
        """
        if (
            self._state != CONNECTED
            or self._decoder.pending
            or not 0 < packet_id <= 0xFFFF
            or self._futures is not None
            or self._waiting
        ):
            return False
        self._note_read(now)
        if self._end_qos1_flow(packet_id):
            self._release_quota()
        return True

    def _replay(self, packet: Any, events: list[Any]) -> None:
        """Act on one received packet (also a packet held behind the CONNECT, once accepted)."""
        packet_type = packet.packet_type
        if packet_type == _PUBLISH:
            self._receive_publish(packet, events)
        elif packet_type > _PUBCOMP or packet_type < _PUBACK:
            self._receive_packet(packet, events)
        elif self._state != CONNECTED:
            # An ack before the CONNACK: the server holds it until accept(), the client refuses it.
            self._receive_early(packet, events)
        elif packet_type == _PUBACK:
            self._receive_puback(packet, events)
        elif packet_type == _PUBREC:
            self._receive_pubrec(packet, events)
        elif packet_type == _PUBREL:
            self._receive_pubrel(packet, events)
        else:
            self._receive_pubcomp(packet, events)

    def _receive_publish(self, packet: Any, events: list[Any]) -> None:
        if self._state != CONNECTED:
            self._receive_early(packet, events)
            return
        alias = packet.topic_alias
        if alias is not None:
            self._resolve_alias(packet, alias)
        elif not packet.topic:
            raise ProtocolError(
                "a PUBLISH without a topic name nor a topic alias [MQTT-3.3.2-1]"
            )
        qos = packet.qos
        if qos > self._accepted_qos or (packet.retain and not self._accepted_retain):
            raise _unsupported(packet, self._accepted_qos)
        if qos == 0:
            events.append(MessageReceived(packet))
            return
        packet_id = packet.packet_id
        if qos == 1:
            self._check_receive_maximum()
            events.append(MessageReceived(packet))
            if self._auto_ack and not self._pending_acks:
                self._out.append(bytes((0x40, 2, packet_id >> 8, packet_id & 0xFF)))
            else:
                self._unacked_qos1 += 1
                self._pending_acks.append([packet_id, 1, -1])
            return
        if packet_id in self._inbound_qos2:
            # A retransmission of a message we hold: acknowledge again, do not deliver again [MQTT-4.3.3-10].
            if not self._manual_ack_pending(packet_id):
                self._out.append(bytes((0x50, 2, packet_id >> 8, packet_id & 0xFF)))
            return
        self._check_receive_maximum()
        self._inbound_qos2.add(packet_id)
        events.append(MessageReceived(packet))
        if self._auto_ack and not self._pending_acks:
            self._out.append(bytes((0x50, 2, packet_id >> 8, packet_id & 0xFF)))
        else:
            self._pending_acks.append([packet_id, 2, -1])

    def _resolve_alias(self, packet: Any, alias: int) -> None:
        # Inbound aliases are stripped here so that routing always sees the full topic [MQTT-3.3.2-12].
        if alias == 0 or alias > self._topic_alias_maximum:
            raise TopicAliasInvalid(
                f"topic alias {alias} is outside 1..{self._topic_alias_maximum} [MQTT-3.3.2-9]"
            )
        if packet.topic:
            self._aliases_in[alias] = packet.topic
        else:
            topic = self._aliases_in.get(alias)
            if topic is None:
                raise ProtocolError(
                    f"topic alias {alias} was never set on this connection [MQTT-3.3.2-12]"
                )
            packet.topic = topic
        packet.topic_alias = None

    def _check_receive_maximum(self) -> None:
        # Only MQTT 5 announces a Receive Maximum; a 3.x peer never learnt ours, so it cannot break it.
        # A QoS 1 message counts once the application could have acknowledged it: those of this read
        # cannot be (its acks go out after it), and auto-acked ones never count. Otherwise manual acks
        # would refuse a client that pipelines QoS 1 publishes while auto acks accept it, as mosquitto does.
        if (
            self._version == MQTT_5
            and self._unacked_qos1_earlier + len(self._inbound_qos2) >= self._receive_maximum
        ):
            raise ReceiveMaximumExceeded(
                f"more than the Receive Maximum of {self._receive_maximum} QoS 1 and 2 messages in flight"
                " [MQTT-3.3.4-9]"
            )

    def _manual_ack_pending(self, packet_id: int) -> bool:
        for pending in self._pending_acks:
            if pending[0] == packet_id and pending[1] == 2:
                return True
        return False

    def _receive_puback(self, packet: Any, events: list[Any]) -> None:
        packet_id = packet.packet_id
        if self._end_qos1_flow(packet_id):
            self._flow_ended(packet_id, packet, events)
            self._release_quota()

    def _end_qos1_flow(self, packet_id: int) -> bool:
        # The flow a PUBACK for packet_id ends, forgotten: whether there was one.
        entry = self._outbound.get(packet_id)
        if entry is None or entry.qos != 1 or packet_id in self._waiting:
            return False  # a stray PUBACK is ignored (practice: mosquitto, paho)
        del self._outbound[packet_id]
        return True

    def _flow_ended(self, packet_id: int, packet: Any, events: list[Any]) -> None:
        # A flow of ours ended with the ack ``packet``: a success resolves the future the
        # client gave for it (no event, no Python frame in the client per acknowledgement);
        # anything else is reported.
        code = packet.reason_code
        if self._futures is not None and code < 0x80:
            future = self._futures.pop(packet_id, None)
            if future is not None:
                try:
                    future.set_result(code)
                except Exception:
                    # A future its caller cancelled refuses a result: nothing to do. Asked only
                    # then, not before every set_result (a method call per acknowledgement).
                    if not future.done():
                        raise
                return
        events.append(PublishCompleted(packet_id, code, packet))

    def _receive_pubrec(self, packet: Any, events: list[Any]) -> None:
        packet_id = packet.packet_id
        outbound = self._outbound
        if packet_id not in outbound or packet_id in self._waiting:
            # Unknown id: answer PUBREL 0x92 so the peer can end its flow (practice).
            self._send_ack(Pubrel, packet_id, 0x92)
            return
        entry = outbound[packet_id]
        if entry is not None:
            if entry.qos != 2:
                return
            if packet.reason_code >= 0x80:
                # A refusal ends the flow; no PUBREL [MQTT-4.4.0-2].
                del outbound[packet_id]
                events.append(PublishCompleted(packet_id, packet.reason_code, packet))
                self._release_quota()
                return
            outbound[packet_id] = (
                None  # the message is the receiver's now: no PUBLISH after PUBREL
            )
        self._out.append(bytes((0x62, 2, packet_id >> 8, packet_id & 0xFF)))

    def _receive_pubrel(self, packet: Any, events: list[Any]) -> None:
        packet_id = packet.packet_id
        if packet_id in self._inbound_qos2:
            if self._manual_ack_pending(packet_id):
                raise ProtocolError(
                    f"PUBREL {packet_id} before its PUBREC [MQTT-4.3.3-8]"
                )
            self._inbound_qos2.discard(packet_id)
            self._out.append(bytes((0x70, 2, packet_id >> 8, packet_id & 0xFF)))
        else:
            self._send_ack(Pubcomp, packet_id, 0x92)

    def _receive_pubcomp(self, packet: Any, events: list[Any]) -> None:
        packet_id = packet.packet_id
        outbound = self._outbound
        if packet_id in outbound and outbound[packet_id] is None:
            del outbound[packet_id]
            self._flow_ended(packet_id, packet, events)
            self._release_quota()

    # ---- acknowledging by hand --------------------------------------------------------------

    def ack(self, event: Any, reason_code: int = 0) -> None:
        """Acknowledge a ``MessageReceived`` when automatic acknowledgement is off.

        Acknowledgements leave in the order the messages came, whatever the
        order of the calls [MQTT-4.6.0-2, -3]. A ``reason_code`` of 0x80 or
        more refuses the message (MQTT 5; 3.x has no such code and sends a
        plain ack). QoS 0 messages need no ack; acking one does nothing.
        """
        message = event.message
        if message.qos == 0 or self._state == CLOSED:
            return
        for pending in self._pending_acks:
            if (
                pending[0] == message.packet_id
                and pending[1] == message.qos
                and pending[2] < 0
            ):
                pending[2] = reason_code
                break
        else:
            raise LocalProtocolError(
                f"message {message.packet_id} has no acknowledgement pending"
            )
        pending_acks = self._pending_acks
        while pending_acks and pending_acks[0][2] >= 0:
            packet_id, qos, code = pending_acks.popleft()
            if qos == 1:
                self._unacked_qos1 -= 1
                self._send_ack(Puback, packet_id, code)
            else:
                if code >= 0x80 and self._version == MQTT_5:
                    self._inbound_qos2.discard(
                        packet_id
                    )  # a refusing PUBREC frees the id [MQTT-4.3.3-9]
                self._send_ack(Pubrec, packet_id, code)

    def _send_ack(self, cls: Any, packet_id: int, reason_code: int) -> None:
        if reason_code == 0 or self._version != MQTT_5:
            first = (0x40, 0x50, 0x62, 0x70)[cls.packet_type - _PUBACK]
            self._out.append(bytes((first, 2, packet_id >> 8, packet_id & 0xFF)))
        else:
            self._out.append(
                encode(cls(packet_id=packet_id, reason_code=reason_code), MQTT_5)
            )

    # ---- messages out -----------------------------------------------------------------------

    def _queue_outgoing(self, entry: Outgoing) -> int | None:
        """Send ``entry`` now, or queue it behind the send quota; its packet id (None for QoS 0)."""
        if entry.qos == 0:
            self._transmit(entry, 0)
            return None
        session = self._session
        packet_id: int
        if self._send_quota > 0 and not self._waiting and self._state == CONNECTED:
            packet_id = session.allocate_packet_id()
            if self._transmit(entry, packet_id):
                self._outbound[packet_id] = entry
                self._send_quota -= 1
            return packet_id
        if len(self._waiting) >= session.max_queued:
            return self._queue_full(entry)
        packet_id = session.allocate_packet_id()
        self._outbound[packet_id] = entry
        self._waiting[packet_id] = None
        return packet_id

    def _transmit(self, entry: Outgoing, packet_id: int) -> bool:
        """Encode ``entry`` with ``packet_id`` into the output, applying the peer's limits; whether it went."""
        message = entry.message
        topic = message.topic
        alias = None
        new_alias = False
        if self._peer_topic_alias_maximum:
            alias = self._aliases_out.get(topic)
            if alias is not None:
                # Most recently used last: the alias of the least used topic is the one reassigned.
                del self._aliases_out[topic]
                self._aliases_out[topic] = alias
                topic = ""
            else:
                alias = self._assign_alias(topic)
                new_alias = True
        expiry = message.message_expiry_interval
        if entry.expires_at is not None and self._now is not None:
            expiry = int(entry.expires_at - self._now + 0.999)
            if expiry <= 0:
                expiry = 1
        header, payload = self._encode_entry(entry, packet_id, topic, alias, expiry)
        if len(header) + len(payload) > self._peer_max_packet_size:
            if new_alias:
                # The peer never learnt this alias: make its number free again, and try the
                # topic alone, which is what a caller's size check measured (aliases are optional).
                self._free_aliases.append(self._aliases_out.pop(message.topic))
                header, payload = self._encode_entry(
                    entry, packet_id, message.topic, None, expiry
                )
            if len(header) + len(payload) > self._peer_max_packet_size:
                self._too_large(entry, packet_id)
                return False
        entry.sent = True
        self._out.append(header)
        if len(payload):
            self._out.append(payload)
        return True

    def _encode_entry(
        self,
        entry: Outgoing,
        packet_id: int,
        topic: str,
        alias: int | None,
        expiry: int | None,
    ) -> tuple[Any, Any]:
        header, payload = encode_forward(
            entry.message,
            self._version,
            granted_qos=entry.qos,
            packet_id=packet_id,
            retained_delivery=entry.retain,
            topic=topic,
            topic_alias=alias,
            subscription_identifiers=entry.subscription_identifiers,
            message_expiry_interval=expiry,
        )
        if entry.sent:
            header = (
                bytes((header[0] | 0x08,)) + header[1:]
            )  # DUP on a resend [MQTT-3.3.1-1]
        return header, payload

    def _assign_alias(self, topic: str) -> int:
        aliases = self._aliases_out
        if self._free_aliases:
            alias = self._free_aliases.pop()
        elif self._next_alias <= self._peer_topic_alias_maximum:
            alias = self._next_alias
            self._next_alias += 1
        else:
            # Reassign the alias of the least recently used topic.
            oldest = next(iter(aliases))
            alias = aliases.pop(oldest)
        aliases[topic] = alias
        return alias

    def _release_quota(self) -> None:
        if self._send_quota < self._peer_receive_maximum:
            self._send_quota += 1
        if self._waiting:
            self._send_waiting()

    def _send_waiting(self) -> None:
        waiting = self._waiting
        outbound = self._outbound
        while waiting and self._send_quota > 0 and self._state == CONNECTED:
            packet_id = next(iter(waiting))
            del waiting[packet_id]
            entry = outbound[packet_id]
            assert entry is not None
            if (
                entry.expires_at is not None
                and self._now is not None
                and entry.expires_at <= self._now
            ):
                del outbound[packet_id]  # expired before it could start [MQTT-3.3.2-5]
                continue
            if self._transmit(entry, packet_id):
                self._send_quota -= 1
            else:
                del outbound[packet_id]

    # ---- bytes out --------------------------------------------------------------------------

    def data_to_send(self) -> bytes:
        """Everything queued for the network since the last call, as one ``bytes`` (empty when nothing)."""
        out = self._out
        if not out:
            return b""
        self._sent = True
        self._out = []
        return b"".join(out)

    def buffers_to_send(self) -> list[Any]:
        """Everything queued since the last call as a list of buffers, for ``transport.writelines()``.

        Payloads are not copied: a buffer may be a view of a received packet.
        """
        out = self._out
        if out:
            self._sent = True
        self._out = []
        return out

    def _send_packet(self, packet: Any) -> None:
        """Encode a control packet at the connection's level, dropping what the peer's size allows.

        Reason String, then User Properties, are the only things a sender
        may drop to fit the peer's Maximum Packet Size [MQTT-3.1.2-25 and the
        packets' own rules]; a packet that still does not fit is not sent.
        """
        data = encode(packet, self._version)
        if len(data) > self._peer_max_packet_size and self._version == MQTT_5:
            if getattr(packet, "reason_string", None) is not None:
                packet.reason_string = None
                data = encode(packet, self._version)
            if len(data) > self._peer_max_packet_size and getattr(
                packet, "user_properties", None
            ):
                packet.user_properties = []
                data = encode(packet, self._version)
            if len(data) > self._peer_max_packet_size:
                return
        self._out.append(data)

    # ---- hooks of the side (ClientMixin / ServerMixin) ----------------------------------------

    def _receive_packet(self, packet: Any, events: list[Any]) -> None:
        raise NotImplementedError

    def _receive_early(self, packet: Any, events: list[Any]) -> None:
        raise NotImplementedError

    def _violation(self, error: MQTTError, events: list[Any]) -> None:
        raise NotImplementedError

    def _queue_full(self, entry: Outgoing) -> int | None:
        raise NotImplementedError

    def _too_large(self, entry: Outgoing, packet_id: int) -> None:
        raise NotImplementedError

    def _close(
        self,
        reason_code: int,
        by_peer: bool,
        events: list[Any],
        error: Any = None,
        packet: Any = None,
    ) -> None:
        """Enter CLOSED and report it once."""
        if self._state == CLOSED:
            return
        self._state = CLOSED
        events.append(Disconnected(reason_code, by_peer, error, packet))


#: The packet classes and helpers of this twin, for the shared mixins.
_TWIN = SimpleNamespace(
    encoded_size=encoded_size,
    validate_topic_name=validate_topic_name,
    validate_topic_filter=validate_topic_filter,
    **{name: getattr(_packets_py, name) for name in PACKET_NAMES},
)


class ClientConnection(ClientMixin, Connection):
    __doc__ = ClientMixin.__doc__
    _packets = _TWIN


class ServerConnection(ServerMixin, Connection):
    __doc__ = ServerMixin.__doc__
    _packets = _TWIN
