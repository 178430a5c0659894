# The per-message core of a connection, compiled twin of ``_connection_py.py``
# (whose header states the rules kept here). Each function below translates the
# one of the same name there; what differs is typing: counters, quotas and the
# state are C ints, the session's tables typed ``dict``/``set``, PUBLISH and ack
# fields read as C struct members of the compiled packet classes.
#
# The shared mixins (``_client_connection``, ``_server_connection``) read and
# write the core's attributes, hence ``cdef public``; the methods they call are
# ``def``, each a thin wrapper over the ``cdef`` version the hot path calls
# directly. The hooks the core calls on the mixins (``_receive_packet``,
# ``_receive_early``, ``_violation``, ``_queue_full``, ``_too_large``) are looked
# up as Python attributes, so the subclass's methods answer.

from collections import deque
from types import SimpleNamespace

from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.object cimport PyObject, PyTypeObject

from . import _packets_c, _topics_c
from ._client_connection import ClientMixin
from ._connection_common import unsupported_publish as _unsupported
from ._codec_c import Decoder, encode, encode_forward, encoded_size
from ._codec_c cimport forward_publish
from ._constants import MQTT_5
from ._errors import (
    LocalProtocolError,
    MQTTError,
    ProtocolError,
    QueueFull,
    ReceiveMaximumExceeded,
    TopicAliasInvalid,
)
from ._events import Disconnected, MessageReceived, PublishCompleted
from ._fields import PACKET_NAMES
from ._packets_c cimport Puback, Pubcomp, Publish, Pubrec, Pubrel, _Ack
from ._server_connection import ServerMixin
from ._session import Outgoing
from ._outgoing_c cimport Outgoing as CompiledOutgoing
from ._topics_c import validate_topic_filter
from ._topics_c cimport validate_topic_name

__all__ = ["ClientConnection", "Connection", "ServerConnection"]

# Connection states, in order (the same numbers as _connection_py and _connection_common).
cdef enum:
    NEW = 0
    CONNECTING = 1
    CONNECTED = 2
    CLOSED = 3

cdef enum:
    _PUBACK = 4  # PacketType.PUBACK
    _MQTT_5 = 5  # MQTT_5, as a C constant for comparisons with _level

#: What "no Maximum Packet Size" means on the wire: the largest packet MQTT can frame.
UNLIMITED_PACKET_SIZE = 268_435_460


cdef inline bytes _ack_bytes(unsigned char first, long packet_id):
    # A reason-less acknowledgement, the same 4 bytes in every version.
    cdef unsigned char data[4]
    data[0] = first
    data[1] = 2
    data[2] = (packet_id >> 8) & 0xFF
    data[3] = packet_id & 0xFF
    return PyBytes_FromStringAndSize(<char*>data, 4)


# The hot path makes its events and session entries without a Python __init__ frame:
# the same classes (the events shared with the pure twin, one definition of their
# fields), their fields set from C in the order __init__ sets them. A frame was a
# tenth of a round.

cdef tuple _NO_ARGS = ()


cdef inline object _bare(type cls):
    # cls.__new__(cls) through the type's slot: a Python-level call of __new__ cost as much as __init__.
    return (<PyTypeObject*>cls).tp_new(cls, <PyObject*>_NO_ARGS, NULL)


cdef inline object _message_received(message):
    event = _bare(MessageReceived)
    event.message = message
    return event


cdef inline object _publish_completed(packet_id, reason_code, packet):
    event = _bare(PublishCompleted)
    event.packet_id = packet_id
    event.reason_code = reason_code
    event.packet = packet
    return event


cdef inline object _outgoing(message, qos, retain, subscription_identifiers, expires_at):
    cdef CompiledOutgoing compiled
    # _session's choice whenever the compiled twins are in use (MQTTFAST_NO_EXTENSIONS unset).
    if Outgoing is CompiledOutgoing:
        compiled = CompiledOutgoing.__new__(CompiledOutgoing)
        compiled.message = message
        compiled.qos = qos
        compiled.retain = retain
        compiled.subscription_identifiers = subscription_identifiers
        compiled.expires_at = expires_at
        compiled.sent = False
        return compiled
    return Outgoing(message, qos, retain, subscription_identifiers, expires_at)


include "_fanout_c.pxi"


cdef inline object _entry_qos(entry):
    return (<CompiledOutgoing>entry).qos if type(entry) is CompiledOutgoing else entry.qos


cdef class Connection:
    """What both sides of a connection share: the stream, the QoS flows, flow control, aliases."""

    def __init__(
        self,
        version,
        *,
        max_packet_size,
        receive_maximum,
        topic_alias_maximum,
        auto_ack,
    ):
        if not 1 <= receive_maximum <= 0xFFFF:
            raise ValueError("receive_maximum must be 1 to 65535")
        if not 0 <= topic_alias_maximum <= 0xFFFF:
            raise ValueError("topic_alias_maximum must be 0 to 65535")
        self._version = version
        self._decoder = Decoder(version, max_packet_size=max_packet_size)
        self._feed = self._decoder.feed
        self._max_packet_size = max_packet_size
        self._out = []
        self._state = NEW
        self._session = None
        self._outbound = {}
        self._waiting = {}
        self._inbound_qos2 = set()
        self._receive_maximum = receive_maximum
        self._peer_receive_maximum = 0xFFFF
        self._send_quota = 0xFFFF
        self._unacked_qos1 = 0
        self._unacked_qos1_earlier = 0  # of those, the ones from earlier reads: see _check_receive_maximum
        self._peer_max_packet_size = UNLIMITED_PACKET_SIZE
        self._topic_alias_maximum = topic_alias_maximum
        self._aliases_in = {}
        self._peer_topic_alias_maximum = 0
        self._aliases_out = {}
        self._next_alias = 1
        self._free_aliases = []
        self._auto_ack = auto_ack
        # Manual acknowledgement: [packet id, qos, reason code or -1 while the app has not acked], arrival order.
        self._pending_acks = deque()
        self._now = None
        self._received = False
        # Whether data_to_send()/buffers_to_send() handed anything out since the client's last
        # keep-alive check (the client's PINGREQ rule; a server ignores it).
        self._sent = False
        self._last_received = None
        # What this side announced it takes in a PUBLISH (a server's Maximum QoS and Retain Available).
        self._accepted_qos = 2
        self._accepted_retain = True
        self._futures = None

    @property
    def _version(self):
        return self._version_value

    @_version.setter
    def _version(self, value):
        self._version_value = value
        self._level = 0 if value is None else value

    # ---- bytes in -------------------------------------------------------------------------

    def receive_data(self, data, now=None):
        """Feed bytes read from the network (any buffer; cut anywhere); the events they complete.

        ``now``, when given, is the time the bytes arrived (the clock of
        ``handle_timeout``), which keeps the keep-alive exact; without it a
        packet counts as received when the next ``handle_timeout`` runs, so a
        silent peer is closed late, never early. Bytes after the connection
        closed are ignored. A violation by the peer is reported as a
        ``Disconnected`` event, with the DISCONNECT (5.0) in ``data_to_send()``.
        """
        return self._receive_data_c(data, now)

    cdef list _receive_data_c(self, data, now):
        cdef list events = []
        cdef list packets
        if self._state == CLOSED:
            return events
        self._note_read(now)
        error = None
        try:
            packets = self._feed(data)
        except MQTTError as exc:
            packets = getattr(exc, "packets", [])
            error = exc
        for packet in packets:
            if self._state == CLOSED:
                break
            try:
                # The decoder makes exact classes: a type test is the packet_type test.
                self._replay_c(packet, events)
            except MQTTError as exc:
                self._violation(exc, events)
                break
        if error is not None and self._state != CLOSED:
            self._violation(error, events)
        return events

    cdef int _note_read(self, now) except -1:
        if now is not None:
            self._now = now
            self._last_received = now
        else:
            # Arrival time unknown: the next handle_timeout counts it as now, never an older time.
            self._last_received = None
        self._received = True
        self._unacked_qos1_earlier = self._unacked_qos1
        return 0

    def puback_received(self, packet_id, now=None):
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
        if not 0 < packet_id <= 0xFFFF:
            return False
        return self._puback_received_c(packet_id, now)

    cdef bint _puback_received_c(self, long packet_id, now) except -1:
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

    def _replay(self, packet, events):
        """Act on one received packet (also a packet held behind the CONNECT, once accepted)."""
        self._replay_c(packet, <list?>events)

    cdef int _replay_c(self, packet, list events) except -1:
        # The decoder makes exact classes: a type test is the packet_type test.
        cdef type packet_type = type(packet)
        if packet_type is Publish:
            self._receive_publish_c(<Publish>packet, events)
        elif packet_type is not Puback and packet_type is not Pubrec and packet_type is not Pubrel and packet_type is not Pubcomp:
            self._receive_packet(packet, events)
        elif self._state != CONNECTED:
            # An ack before the CONNACK: the server holds it until accept(), the client refuses it.
            self._receive_early(packet, events)
        elif packet_type is Puback:
            self._receive_puback(<_Ack>packet, events)
        elif packet_type is Pubrec:
            self._receive_pubrec(<_Ack>packet, events)
        elif packet_type is Pubrel:
            self._receive_pubrel(<_Ack>packet, events)
        else:
            self._receive_pubcomp(<_Ack>packet, events)
        return 0

    def _receive_publish(self, packet, events):
        self._receive_publish_c(<Publish?>packet, <list?>events)

    cdef int _receive_publish_c(self, Publish packet, list events) except -1:
        cdef long packet_id, qos
        if self._state != CONNECTED:
            self._receive_early(packet, events)
            return 0
        packet._load()
        alias = packet._topic_alias
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
            events.append(_message_received(packet))
            return 0
        packet_id = packet.packet_id
        if qos == 1:
            self._check_receive_maximum()
            events.append(_message_received(packet))
            if self._auto_ack and not self._pending_acks:
                self._out.append(_ack_bytes(0x40, packet_id))
            else:
                self._unacked_qos1 += 1
                self._pending_acks.append([packet_id, 1, -1])
            return 0
        if packet_id in self._inbound_qos2:
            # A retransmission of a message we hold: acknowledge again, do not deliver again [MQTT-4.3.3-10].
            if not self._manual_ack_pending(packet_id):
                self._out.append(_ack_bytes(0x50, packet_id))
            return 0
        self._check_receive_maximum()
        self._inbound_qos2.add(packet_id)
        events.append(_message_received(packet))
        if self._auto_ack and not self._pending_acks:
            self._out.append(_ack_bytes(0x50, packet_id))
        else:
            self._pending_acks.append([packet_id, 2, -1])
        return 0

    cdef int _resolve_alias(self, Publish packet, alias) except -1:
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
        packet._topic_alias = None
        return 0

    cdef int _check_receive_maximum(self) except -1:
        # Only MQTT 5 announces a Receive Maximum; a 3.x peer never learnt ours, so it cannot break it.
        # QoS 1 messages of this read do not count (see the Python twin).
        if self._level == _MQTT_5 and self._unacked_qos1_earlier + len(self._inbound_qos2) >= self._receive_maximum:
            raise ReceiveMaximumExceeded(
                f"more than the Receive Maximum of {self._receive_maximum} QoS 1 and 2 messages in flight"
                " [MQTT-3.3.4-9]"
            )
        return 0

    cdef bint _manual_ack_pending(self, long packet_id) except -1:
        for pending in self._pending_acks:
            if pending[0] == packet_id and pending[1] == 2:
                return True
        return False

    cdef int _receive_puback(self, _Ack packet, list events) except -1:
        packet_id = packet.packet_id
        if self._end_qos1_flow(packet_id):
            self._flow_ended(packet_id, packet, events)
            self._release_quota()
        return 0

    cdef bint _end_qos1_flow(self, packet_id) except -1:
        entry = self._outbound.get(packet_id)
        if entry is None or _entry_qos(entry) != 1 or packet_id in self._waiting:
            return False  # a stray PUBACK is ignored (practice: mosquitto, paho)
        del self._outbound[packet_id]
        return True

    cdef int _flow_ended(self, packet_id, _Ack packet, list events) except -1:
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
                return 0
        events.append(_publish_completed(packet_id, code, packet))
        return 0

    cdef int _receive_pubrec(self, _Ack packet, list events) except -1:
        packet_id = packet.packet_id
        cdef dict outbound = self._outbound
        if packet_id not in outbound or packet_id in self._waiting:
            # Unknown id: answer PUBREL 0x92 so the peer can end its flow (practice).
            self._send_ack(Pubrel, packet_id, 0x92)
            return 0
        entry = outbound[packet_id]
        if entry is not None:
            if _entry_qos(entry) != 2:
                return 0
            if packet.reason_code >= 0x80:
                # A refusal ends the flow; no PUBREL [MQTT-4.4.0-2].
                del outbound[packet_id]
                events.append(_publish_completed(packet_id, packet.reason_code, packet))
                self._release_quota()
                return 0
            outbound[packet_id] = None  # the message is the receiver's now: no PUBLISH after PUBREL
        self._out.append(_ack_bytes(0x62, packet_id))
        return 0

    cdef int _receive_pubrel(self, _Ack packet, list events) except -1:
        packet_id = packet.packet_id
        if packet_id in self._inbound_qos2:
            if self._manual_ack_pending(packet_id):
                raise ProtocolError(
                    f"PUBREL {packet_id} before its PUBREC [MQTT-4.3.3-8]"
                )
            self._inbound_qos2.discard(packet_id)
            self._out.append(_ack_bytes(0x70, packet_id))
        else:
            self._send_ack(Pubcomp, packet_id, 0x92)
        return 0

    cdef int _receive_pubcomp(self, _Ack packet, list events) except -1:
        packet_id = packet.packet_id
        cdef dict outbound = self._outbound
        if packet_id in outbound and outbound[packet_id] is None:
            del outbound[packet_id]
            self._flow_ended(packet_id, packet, events)
            self._release_quota()
        return 0

    # ---- acknowledging by hand --------------------------------------------------------------

    def ack(self, event, reason_code=0):
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
                if code >= 0x80 and self._level == _MQTT_5:
                    self._inbound_qos2.discard(packet_id)  # a refusing PUBREC frees the id [MQTT-4.3.3-9]
                self._send_ack(Pubrec, packet_id, code)

    cdef int _send_ack(self, type cls, long packet_id, long reason_code) except -1:
        if reason_code == 0 or self._level != _MQTT_5:
            first = (0x40, 0x50, 0x62, 0x70)[cls.packet_type - _PUBACK]
            self._out.append(_ack_bytes(first, packet_id))
        else:
            self._out.append(encode(cls(packet_id=packet_id, reason_code=reason_code), MQTT_5))
        return 0

    # ---- messages out -----------------------------------------------------------------------

    def _queue_outgoing(self, entry):
        """Send ``entry`` now, or queue it behind the send quota; its packet id (None for QoS 0)."""
        return self._queue_outgoing_c(entry)

    cdef object _queue_outgoing_c(self, entry):
        if _entry_qos(entry) == 0:
            self._transmit_c(entry, 0)
            return None
        session = self._session
        if self._send_quota > 0 and not self._waiting and self._state == CONNECTED:
            packet_id = self._allocate_packet_id(session)
            if self._transmit_c(entry, packet_id):
                self._outbound[packet_id] = entry
                self._send_quota -= 1
            return packet_id
        if len(self._waiting) >= session.max_queued:
            return self._queue_full(entry)
        packet_id = self._allocate_packet_id(session)
        self._outbound[packet_id] = entry
        self._waiting[packet_id] = None
        return packet_id

    cdef object _allocate_packet_id(self, session):
        # session.allocate_packet_id() inlined (the same rule on the same state, the
        # session's counter): a Python call was a tenth of a QoS 1 round. The id is
        # made a Python int once, for the test, the counter, the tables and the caller.
        cdef dict outbound = self._outbound  # the session's own (_adopt_session)
        cdef long packet_id
        if len(outbound) >= 0xFFFF:
            raise QueueFull("all 65,535 packet identifiers are in use")
        packet_id = session._last_packet_id
        while True:
            packet_id = packet_id + 1 if packet_id < 0xFFFF else 1
            identifier = packet_id
            if identifier not in outbound:
                session._last_packet_id = identifier
                return identifier

    def _transmit(self, entry, packet_id):
        """Encode ``entry`` with ``packet_id`` into the output, applying the peer's limits; whether it went."""
        return self._transmit_c(entry, packet_id)

    cdef bint _transmit_c(self, entry, packet_id) except -1:
        cdef CompiledOutgoing compiled
        # The entry's fields, read once (as C members from the compiled Outgoing).
        if type(entry) is CompiledOutgoing:
            compiled = <CompiledOutgoing>entry
            if not self._transmit_message(
                compiled.message, compiled.qos, compiled.retain, compiled.subscription_identifiers,
                compiled.expires_at, compiled.sent, packet_id, entry,
            ):
                return False
            compiled.sent = True
            return True
        if not self._transmit_message(
            entry.message, entry.qos, entry.retain, entry.subscription_identifiers, entry.expires_at,
            entry.sent, packet_id, entry,
        ):
            return False
        entry.sent = True
        return True

    cdef bint _transmit_message(
        self, message, qos, retain, subscription_identifiers, expires_at, sent, packet_id, entry
    ) except -1:
        # _transmit_c on the fields of an entry: ``entry`` None for a QoS 0 delivery, which needs none
        # (made only for the _too_large hook).
        topic = (<Publish>message).topic if type(message) is Publish else message.topic
        alias = None
        cdef bint new_alias = False
        cdef bytes header
        if self._peer_topic_alias_maximum:
            alias = self._aliases_out.get(topic)
            if alias is not None:
                # Most recently used last: the alias of the least used topic is the one reassigned.
                if topic is not self._alias_last:
                    del self._aliases_out[topic]
                    self._aliases_out[topic] = alias
                    self._alias_last = topic
                topic = ""
            else:
                alias = self._assign_alias(topic)
                new_alias = True
        if type(message) is Publish:
            (<Publish>message)._load()
            expiry = (<Publish>message)._message_expiry_interval  # the property's value, without its call
        else:
            expiry = message.message_expiry_interval
        if expires_at is not None and self._now is not None:
            expiry = int(expires_at - self._now + 0.999)
            if expiry <= 0:
                expiry = 1
        header, payload = self._encode_entry(
            message, qos, retain, subscription_identifiers, sent, packet_id, topic, alias, expiry
        )
        if len(header) + len(payload) > self._peer_max_packet_size:
            if new_alias:
                # The peer never learnt this alias: make its number free again, and try the
                # topic alone, which is what a caller's size check measured (aliases are optional).
                self._free_aliases.append(self._aliases_out.pop(message.topic))
                header, payload = self._encode_entry(
                    message, qos, retain, subscription_identifiers, sent, packet_id, message.topic, None, expiry
                )
            if len(header) + len(payload) > self._peer_max_packet_size:
                if entry is None:
                    entry = _outgoing(message, qos, retain, subscription_identifiers, expires_at)
                self._too_large(entry, packet_id)
                return False
        self._out.append(header)
        if len(payload):
            self._out.append(payload)
        return True

    cdef tuple _encode_entry(
        self, message, qos, retain, subscription_identifiers, sent, packet_id, topic, alias, expiry
    ):
        cdef bytes header
        cdef _LastForward last = _last_forward
        if type(message) is Publish and self._level:
            if self._fans_out and last.message is not None and last.matches(
                <Publish>message, self._level, qos, retain, topic, alias, subscription_identifiers, expiry
            ):
                header, payload = last.header_with(packet_id), last.payload
            else:
                header, payload = forward_publish(
                    <Publish>message,
                    self._level,
                    qos,
                    packet_id,
                    False,
                    retain,
                    topic,
                    alias,
                    subscription_identifiers,
                    expiry,
                )
                if self._fans_out:
                    last.remember(
                        <Publish>message, self._level, qos, retain, topic, alias, subscription_identifiers,
                        expiry, header, payload,
                    )
        else:  # encode_forward's error for what is not a Publish of this twin
            header, payload = encode_forward(
                message,
                self._version_value,
                granted_qos=qos,
                packet_id=packet_id,
                retained_delivery=retain,
                topic=topic,
                topic_alias=alias,
                subscription_identifiers=subscription_identifiers,
                message_expiry_interval=expiry,
            )
        if sent:
            header = bytes((header[0] | 0x08,)) + header[1:]  # DUP on a resend [MQTT-3.3.1-1]
        return header, payload

    cdef long _assign_alias(self, topic) except -1:
        cdef dict aliases = self._aliases_out
        cdef long alias
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
        self._alias_last = topic
        return alias

    cdef int _release_quota(self) except -1:
        if self._send_quota < self._peer_receive_maximum:
            self._send_quota += 1
        if self._waiting:
            self._send_waiting_c()
        return 0

    def _send_waiting(self):
        self._send_waiting_c()

    cdef int _send_waiting_c(self) except -1:
        cdef dict waiting = self._waiting
        cdef dict outbound = self._outbound
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
            if self._transmit_c(entry, packet_id):
                self._send_quota -= 1
            else:
                del outbound[packet_id]
        return 0

    cdef object _deliver_c(
        self, message, qos, retain_as_published, retained, subscription_identifiers, expires_at
    ):
        # ServerConnection.deliver (the server's class takes it as its method, at the bottom).
        if (
            self._state != CONNECTED
            or type(message) is not Publish
            or type(qos) is not int
            or type((<Publish>message).qos) is not int
        ):
            return ServerMixin.deliver(
                self,
                message,
                qos,
                retain_as_published=retain_as_published,
                retained=retained,
                subscription_identifiers=subscription_identifiers,
                expires_at=expires_at,
            )
        self._fans_out = True
        published = (<Publish>message).qos
        granted = published if published <= qos else qos  # min(published, qos)
        retain = True if retained or (retain_as_published and (<Publish>message).retain) else False  # bool(), no call
        if self._level != _MQTT_5:
            subscription_identifiers = None
        if expires_at is not None and self._now is not None and expires_at <= self._now:
            return None
        if granted == 0:  # sent now or never: no entry to keep
            self._transmit_message(message, 0, retain, subscription_identifiers, expires_at, False, 0, None)
            return None
        return self._queue_outgoing_c(_outgoing(message, granted, retain, subscription_identifiers, expires_at))

    cdef bint _closed_c(self):
        return self._state == CLOSED

    # ---- bytes out --------------------------------------------------------------------------

    def data_to_send(self):
        """Everything queued for the network since the last call, as one ``bytes`` (empty when nothing)."""
        cdef list out = self._out
        if not out:
            return b""
        self._sent = True
        self._out = []
        return b"".join(out)

    def buffers_to_send(self):
        """Everything queued since the last call as a list of buffers, for ``transport.writelines()``.

        Payloads are not copied: a buffer may be a view of a received packet.
        """
        return self._take_buffers()

    cdef list _take_buffers(self):
        cdef list out = self._out
        if out:
            self._sent = True
        self._out = self._spare_out if self._spare_out is not None else []
        self._spare_out = None
        return out

    cdef int _recycle_buffers(self, list buffers) except -1:
        # A list _take_buffers handed out, written and no longer held by the caller: emptied, the
        # next one it hands out (a list fewer made and freed per flush).
        buffers.clear()
        self._spare_out = buffers
        return 0

    def _send_packet(self, packet):
        """Encode a control packet at the connection's level, dropping what the peer's size allows.

        Reason String, then User Properties, are the only things a sender
        may drop to fit the peer's Maximum Packet Size [MQTT-3.1.2-25 and the
        packets' own rules]; a packet that still does not fit is not sent.
        """
        data = encode(packet, self._version_value)
        if len(data) > self._peer_max_packet_size and self._level == _MQTT_5:
            if getattr(packet, "reason_string", None) is not None:
                packet.reason_string = None
                data = encode(packet, self._version_value)
            if len(data) > self._peer_max_packet_size and getattr(
                packet, "user_properties", None
            ):
                packet.user_properties = []
                data = encode(packet, self._version_value)
            if len(data) > self._peer_max_packet_size:
                return
        self._out.append(data)

    # ---- hooks of the side (ClientMixin / ServerMixin) ----------------------------------------

    def _receive_packet(self, packet, events):
        raise NotImplementedError

    def _receive_early(self, packet, events):
        raise NotImplementedError

    def _violation(self, error, events):
        raise NotImplementedError

    def _queue_full(self, entry):
        raise NotImplementedError

    def _too_large(self, entry, packet_id):
        raise NotImplementedError

    def _close(self, reason_code, by_peer, events, error=None, packet=None):
        """Enter CLOSED and report it once."""
        if self._state == CLOSED:
            return
        self._state = CLOSED
        events.append(Disconnected(reason_code, by_peer, error, packet))


#: The packet classes and helpers of this twin, for the shared mixins.
_TWIN = SimpleNamespace(
    encoded_size=encoded_size,
    validate_topic_name=_topics_c.validate_topic_name,  # cimported above: a C function here
    validate_topic_filter=validate_topic_filter,
    **{name: getattr(_packets_c, name) for name in PACKET_NAMES},
)


# ---- the common case of publish() and deliver(), compiled ------------------------------------
#
# The mixins' methods are the definition; these do what they do for the common
# case (connected, plain arguments, no MQTT 5 properties but a request's or a
# response's) without their Python frames, and hand anything else to them
# unchanged, so every check and error stays theirs. The parity tests run both twins through the same calls.

cdef inline bint _request_properties_only(Connection self, dict properties):
    # Response Topic and Correlation Data alone (request/response sends both on every message):
    # fields of the packet the fast path can set as __init__ would. Anything else, or a level
    # without properties, goes to the mixin for its checks and errors.
    cdef Py_ssize_t known = 0
    if self._level != _MQTT_5:
        return False
    if "response_topic" in properties:
        known += 1
    if "correlation_data" in properties:
        known += 1
    return known == len(properties)


def _client_publish(Connection self, topic, payload=b"", qos=0, retain=False, **properties):
    return _publish_c(self, topic, payload, qos, retain, properties, self.maximum_qos)


cdef object _publish_c(Connection self, topic, payload, qos, retain, dict properties, maximum_qos):
    # publish() with its arguments parsed; ``properties`` None or a dict (empty: none), and
    # ``maximum_qos`` the mixin's attribute, read once by a caller publishing several.
    cdef Publish message
    cdef long level
    if (
        (properties and not _request_properties_only(self, properties))
        or self._state != CONNECTED
        or type(qos) is not int
        or not 0 <= qos <= 2
        or qos > maximum_qos
        or not (retain is False or (retain is True and self.retain_available))
    ):
        if properties:
            return ClientMixin.publish(self, topic, payload, qos, retain, **properties)
        return ClientMixin.publish(self, topic, payload, qos, retain)
    level = qos
    # Publish(topic=, payload=, qos=, retain=) field by field: every other field keeps
    # its default (the lazy property fields read None, the lists [] on first access).
    message = Publish.__new__(Publish)
    message.topic = topic
    message._payload = payload
    message.qos = qos
    message.retain = retain
    message.dup = False
    if properties:
        message._response_topic = properties.get("response_topic")
        message._correlation_data = properties.get("correlation_data")
    if topic is not self._valid_topic:
        validate_topic_name(topic)
        self._valid_topic = topic
    entry = _outgoing(message, qos, retain, None, None)
    if level and (self._send_quota <= 0 or self._waiting):
        self._check_size(message)  # it will go out later, where no exception can reach the caller
    return self._queue_outgoing_c(entry)


def _client_publish_held(Connection self, futures, held, dict awaited):
    if type(self).publish is not _client_publish:  # a subclass's own publish: the mixin calls it
        return ClientMixin._publish_held(self, futures, held, awaited)
    cdef dict waiting = self._waiting
    cdef dict properties  # None, or a dict of them
    popleft = futures.popleft
    take = held.popleft
    maximum_qos = self.maximum_qos
    while futures and not waiting:
        future = popleft()
        arguments = take()
        if future.done():  # cancelled by its caller
            continue
        topic, payload, qos, retain, properties = <tuple?>arguments
        try:
            packet_id = _publish_c(self, topic, payload, qos, retain, properties, maximum_qos)
        except QueueFull:
            futures.appendleft(future)  # still first in line
            held.appendleft(arguments)
            return
        except Exception as exc:
            future.set_exception(exc)
            continue
        awaited[packet_id] = future


def _server_deliver(
    Connection self,
    message,
    qos=2,
    *,
    retain_as_published=False,
    retained=False,
    subscription_identifiers=None,
    expires_at=None,
):
    return self._deliver_c(message, qos, retain_as_published, retained, subscription_identifiers, expires_at)


def _connection_closed(Connection self):
    return self._state == CLOSED


# The mixins' ``closed`` is a Python property: a broker asks it for every copy it routes, so this
# twin answers in C (same answer, same doc).
_closed = property(_connection_closed, doc=ServerMixin.closed.__doc__)


class ClientConnection(ClientMixin, Connection):
    __doc__ = ClientMixin.__doc__
    closed = _closed
    _packets = _TWIN
    publish = _client_publish
    publish.__doc__ = ClientMixin.publish.__doc__
    _publish_held = _client_publish_held
    _publish_held.__doc__ = ClientMixin._publish_held.__doc__


class ServerConnection(ServerMixin, Connection):
    __doc__ = ServerMixin.__doc__
    closed = _closed
    _packets = _TWIN
    deliver = _server_deliver
    deliver.__doc__ = ServerMixin.deliver.__doc__
