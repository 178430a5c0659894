"""Session state: what outlives one network connection (MQTT 5.0 §4.1), shared by both twins.

A session object is handed to a connection (``ClientConnection(session=...)``,
``ServerConnection.accept(session=...)``) and mutated by it in place; keep it
to resume after a reconnect, or ``dump()`` it to store and ``load()`` it back.

Outbound QoS 1 and 2 messages live in ``outbound``, keyed by packet id, in
the order they were first sent (the order of redelivery [MQTT-4.6.0-1]).
An entry is an ``Outgoing`` while its PUBLISH waits for PUBACK or PUBREC,
and ``None`` once our PUBREL waits for PUBCOMP. Ids in ``waiting`` are
entries not yet sent because the peer's Receive Maximum was reached (or
the session was offline); they go out, in order, as the quota frees up.
``inbound_qos2`` holds the ids of QoS 2 messages received and acknowledged
with PUBREC, until the PUBREL: a retransmission of one of them is not
delivered again [MQTT-4.3.3-10].

The server session adds subscriptions, the will, the session expiry, and
the deadlines of both once the client is gone: ``detach(now)`` when the
network connection ends, then ``next_deadline()`` / ``handle_timeout(now)``
as for a connection, which report ``WillPublished`` and ``SessionExpired``.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from ._constants import MQTT_5
from ._env import compiled_twins_wanted, env_flag
from ._errors import QueueFull
from ._events import Event, SessionExpired, WillPublished
from ._outgoing_py import Outgoing

if not TYPE_CHECKING and compiled_twins_wanted():
    try:
        # The same class, compiled: the compiled connection core reads its fields as C members.
        from ._outgoing_c import Outgoing
    except ImportError:
        if env_flag("MQTTFAST_REQUIRE_EXTENSIONS"):
            raise

__all__ = ["NEVER_EXPIRES", "ClientSession", "Outgoing", "ServerSession"]

#: Session Expiry Interval meaning "never" [MQTT-3.1.2-23]; what a 3.x CleanSession 0 maps to.
NEVER_EXPIRES = 0xFFFFFFFF


class _Session:
    """The state both sides keep: outbound flows, inbound QoS 2 ids, the packet id counter."""

    def __init__(self, client_id: str = "", *, max_queued: int = 1000) -> None:
        if max_queued < 0:
            raise ValueError("max_queued must be 0 or more")
        self.client_id = client_id
        #: packet id -> Outgoing awaiting PUBACK/PUBREC, or None awaiting PUBCOMP; first-sent order.
        self.outbound: dict[int, Outgoing | None] = {}
        #: packet ids of ``outbound`` not sent yet, in order (an ordered set).
        self.waiting: dict[int, None] = {}
        #: ids of inbound QoS 2 messages acknowledged with PUBREC and not yet released.
        self.inbound_qos2: set[int] = set()
        #: the most QoS 1/2 messages ``waiting`` may hold (the ones in flight are bounded by the peer).
        self.max_queued = max_queued
        self._last_packet_id = 0

    def allocate_packet_id(self) -> int:
        """A packet id not in use by an outbound flow of this session [MQTT-2.2.1-3]."""
        outbound = self.outbound
        if len(outbound) >= 0xFFFF:
            raise QueueFull("all 65,535 packet identifiers are in use")
        packet_id = self._last_packet_id
        while True:
            packet_id = packet_id + 1 if packet_id < 0xFFFF else 1
            if packet_id not in outbound:
                self._last_packet_id = packet_id
                return packet_id

    def clear(self) -> None:
        """Forget every flow: Clean Start 1, or a session the peer no longer has [MQTT-3.1.2-4]."""
        self.outbound.clear()
        self.waiting.clear()
        self.inbound_qos2.clear()

    def _messages(self) -> list[Any]:
        return [entry.message for entry in self.outbound.values() if entry is not None]

    @property
    def in_flight(self) -> int:
        """Outbound QoS 1/2 flows sent and not complete."""
        return len(self.outbound) - len(self.waiting)

    def _dump_flows(self, twin: Any) -> dict[str, Any]:
        encode = twin.encode
        outbound: list[tuple[int, Any]] = []
        for packet_id, entry in self.outbound.items():
            if entry is None:
                outbound.append((packet_id, None))
            else:
                outbound.append(
                    (
                        packet_id,
                        {
                            "message": encode(_with_id(entry.message, packet_id), MQTT_5),
                            "qos": entry.qos,
                            "retain": entry.retain,
                            "subscription_identifiers": entry.subscription_identifiers,
                            "expires_at": entry.expires_at,
                            "sent": entry.sent,
                        },
                    )
                )
        return {
            "client_id": self.client_id,
            "outbound": outbound,
            "waiting": list(self.waiting),
            "inbound_qos2": sorted(self.inbound_qos2),
            "last_packet_id": self._last_packet_id,
            "max_queued": self.max_queued,
        }

    def _load_flows(self, state: dict[str, Any], twin: Any) -> None:
        decode = twin.decode
        self.client_id = state["client_id"]
        self.max_queued = state["max_queued"]
        self._last_packet_id = state["last_packet_id"]
        for packet_id, stored in state["outbound"]:
            if stored is None:
                self.outbound[packet_id] = None
                continue
            message: Any = decode(stored["message"], MQTT_5, copy=True)[0]
            entry = Outgoing(
                message,
                stored["qos"],
                stored["retain"],
                stored["subscription_identifiers"],
                stored["expires_at"],
            )
            entry.sent = stored["sent"]
            self.outbound[packet_id] = entry
        self.waiting = dict.fromkeys(state["waiting"])
        self.inbound_qos2 = set(state["inbound_qos2"])


class ClientSession(_Session):
    """A client's session state: keep it across reconnects to resume with Clean Start 0.

    ``max_queued`` bounds the messages ``publish()`` may queue beyond the
    server's Receive Maximum; past it ``publish()`` raises ``QueueFull``.
    """

    def dump(self) -> dict[str, Any]:
        """The state as plain data (str, int, bytes, lists, dicts) for any store; ``load()`` reverses it."""
        name = _twin_name(self._messages())
        state = self._dump_flows(_twin(name))
        state["twin"] = name
        return state

    @classmethod
    def load(cls, state: dict[str, Any]) -> ClientSession:
        """The session ``dump()`` described."""
        session = cls()
        session._load_flows(state, _twin(state.get("twin")))
        return session


class ServerSession(_Session):
    """A server's session for one client identifier: flows, subscriptions, will, expiry.

    ``subscriptions`` maps each topic filter to ``(Subscription,
    subscription identifier or None)``, as granted by ``suback()``. While
    the client is away, ``enqueue()`` queues QoS 1/2 messages for it, at most
    ``max_queued``: past that a new message is dropped and counted in
    ``dropped`` (mosquitto's policy: what is already queued keeps its order).
    """

    def __init__(self, client_id: str = "", *, max_queued: int = 1000) -> None:
        super().__init__(client_id, max_queued=max_queued)
        self.subscriptions: dict[str, tuple[Any, int | None]] = {}
        #: the will of the current or last connection, while it may still fire.
        self.will: Any = None
        #: seconds the session lasts after the connection ends (0: ends with it).
        self.expiry_interval = 0
        self.connected = False
        #: whether the will fires when the connection ends (cleared by DISCONNECT 0x00).
        self.will_on_close = False
        self.will_at: float | None = None
        self.expires_at: float | None = None
        self.dropped = 0
        self.ended = False

    def enqueue(
        self,
        message: Any,
        qos: int,
        retain: bool = False,
        subscription_identifiers: list[int] | None = None,
        expires_at: float | None = None,
    ) -> int | None:
        """Queue a QoS 1/2 message for a client that is away; its packet id, or None when dropped.

        QoS 0 messages are not kept for an absent client (the spec allows it,
        §4.1) and return None. A connected session's messages go through its
        connection's ``deliver()`` instead.
        """
        if qos == 0:
            return None
        if len(self.waiting) >= self.max_queued:
            self.dropped += 1
            return None
        packet_id = self.allocate_packet_id()
        self.outbound[packet_id] = Outgoing(
            message, qos, retain, subscription_identifiers, expires_at
        )
        self.waiting[packet_id] = None
        return packet_id

    # ---- life after the connection --------------------------------------------------------

    def detach(self, now: float) -> list[Event]:
        """The network connection ended at ``now``: arm the will and expiry deadlines.

        Returns what is due at once: the will when it has no delay, and
        ``SessionExpired`` when the session ends with the connection.
        """
        self.connected = False
        self.expires_at = (
            None
            if self.expiry_interval == NEVER_EXPIRES
            else now + self.expiry_interval
        )
        if self.will is not None and self.will_on_close:
            delay = self.will.will_delay_interval or 0
            self.will_at = now + delay
        else:
            self.will = None
            self.will_at = None
        return self.handle_timeout(now)

    def attach(self) -> None:
        """A connection resumed the session: a will still waiting for its delay is cancelled [MQTT-3.1.3-9]."""
        self.connected = True
        self.will = None
        self.will_at = None
        self.expires_at = None

    def end(self) -> list[Event]:
        """End the session now (Clean Start 1 on its client id, or an administrator): the will fires if pending."""
        events: list[Event] = []
        if self.will is not None and not self.connected and self.will_at is not None:
            events.append(WillPublished(self.client_id, self.will.to_publish()))
        self.will = None
        self.will_at = None
        if not self.ended:
            self.ended = True
            events.append(SessionExpired(self.client_id))
        self.clear()
        self.subscriptions.clear()
        return events

    def next_deadline(self) -> float | None:
        """When ``handle_timeout`` has work: the will's delay or the session's end, or None."""
        if self.connected or self.ended:
            return None
        deadlines = [t for t in (self.will_at, self.expires_at) if t is not None]
        return min(deadlines) if deadlines else None

    def handle_timeout(self, now: float) -> list[Event]:
        """Fire what is due at ``now``: the will (delay passed or session ended), then the session's end."""
        if self.connected or self.ended:
            return []
        events: list[Event] = []
        session_ends = self.expires_at is not None and now >= self.expires_at
        if (
            self.will is not None
            and self.will_at is not None
            and (now >= self.will_at or session_ends)
        ):
            # The will goes at the delay or when the session ends, whichever first [MQTT-3.1.2-8].
            events.append(WillPublished(self.client_id, self.will.to_publish()))
            self.will = None
            self.will_at = None
        if session_ends:
            events += self.end()
        return events

    # ---- storage ----------------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        """The state as plain data for any store (SQLite, a file); ``load()`` reverses it."""
        messages = self._messages()
        if self.will is not None:
            messages.append(self.will)
        name = _twin_name(messages)
        twin = _twin(name)
        encode = twin.encode
        state = self._dump_flows(twin)
        state["twin"] = name
        state["subscriptions"] = [
            (
                topic_filter,
                {
                    "qos": subscription.qos,
                    "no_local": subscription.no_local,
                    "retain_as_published": subscription.retain_as_published,
                    "retain_handling": subscription.retain_handling,
                },
                identifier,
            )
            for topic_filter, (subscription, identifier) in self.subscriptions.items()
        ]
        will = None
        if self.will is not None:
            will = {
                "message": encode(_with_id(self.will.to_publish(), 1), MQTT_5),
                "delay": self.will.will_delay_interval,
            }
        state.update(
            will=will,
            will_on_close=self.will_on_close,
            will_at=self.will_at,
            expiry_interval=self.expiry_interval,
            expires_at=self.expires_at,
            dropped=self.dropped,
        )
        return state

    @classmethod
    def load(cls, state: dict[str, Any]) -> ServerSession:
        """The session ``dump()`` described (offline: a connection resumes it with ``accept``)."""
        twin = _twin(state.get("twin"))
        Subscription, Will, decode = twin.Subscription, twin.Will, twin.decode
        session = cls()
        session._load_flows(state, twin)
        for topic_filter, options, identifier in state["subscriptions"]:
            session.subscriptions[topic_filter] = (
                Subscription(topic_filter=topic_filter, **options),
                identifier,
            )
        if state["will"] is not None:
            message: Any = decode(state["will"]["message"], MQTT_5, copy=True)[0]
            session.will = Will(
                topic=message.topic,
                payload=message.payload,
                qos=message.qos,
                retain=message.retain,
                payload_format_indicator=message.payload_format_indicator,
                message_expiry_interval=message.message_expiry_interval,
                content_type=message.content_type,
                response_topic=message.response_topic,
                correlation_data=message.correlation_data,
                user_properties=message.user_properties,
                will_delay_interval=state["will"]["delay"],
            )
        session.will_on_close = state["will_on_close"]
        session.will_at = state["will_at"]
        session.expiry_interval = state["expiry_interval"]
        session.expires_at = state["expires_at"]
        session.dropped = state["dropped"]
        return session


def _twin_name(packets: list[Any]) -> str | None:
    """Which implementation made ``packets`` ("python" or "cython"), None when there are none.

    A session's messages come from the connection's twin, which need not be
    the one ``mqttfast`` picked: stored sessions keep their twin, so that
    each codec reads only its own packets.
    """
    for packet in packets:
        return "python" if type(packet).__module__.endswith("_py") else "cython"
    return None


def _twin(name: str | None) -> Any:
    """The public API of the implementation ``name`` (the package's own for None)."""
    if name == "python":
        from . import fallback

        return fallback
    if name == "cython":
        from . import _compiled

        return _compiled
    import mqttfast

    return mqttfast


def _with_id(message: Any, packet_id: int) -> Any:
    """``message`` with a packet id to encode it by (a client's own messages get theirs only on the wire)."""
    if message.qos and not message.packet_id:
        message = copy.copy(message)
        message.packet_id = packet_id
    return message
