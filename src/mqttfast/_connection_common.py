"""What the client and server sides share beyond the per-message core: state, closing, accessors."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from ._constants import MQTT_5
from ._errors import LocalProtocolError, ProtocolError
from ._events import AuthRequested

# The states of ``_connection_py`` (and of the compiled twin), repeated for the mixins' eyes.
NEW = 0
CONNECTING = 1
CONNECTED = 2
CLOSED = 3

STATE_NAMES = ("NEW", "CONNECTING", "CONNECTED", "CLOSED")


class CommonMixin:
    """Accessors and closing, for ``ClientMixin`` and ``ServerMixin``.

    The attributes below belong to the core (``_connection_py.Connection`` or
    its compiled twin); they are declared here for the type checker.
    """

    _version: int | None
    _state: int
    _session: Any
    _out: list[Any]
    _now: float | None
    _received: bool
    _sent: bool
    _last_received: float | None
    _outbound: dict[int, Any]
    _waiting: dict[int, None]
    _inbound_qos2: set[int]
    _send_quota: int
    _peer_receive_maximum: int
    _peer_max_packet_size: int
    _peer_topic_alias_maximum: int
    _packets: Any

    if TYPE_CHECKING:  # the core's methods; defined here they would shadow the core's

        def _send_packet(self, packet: Any) -> None: ...
        def _transmit(self, entry: Any, packet_id: int) -> bool: ...
        def _send_waiting(self) -> None: ...
        def _close(
            self,
            reason_code: int,
            by_peer: bool,
            events: list[Any],
            error: Any = None,
            packet: Any = None,
        ) -> None: ...

    @property
    def state(self) -> str:
        """``"NEW"``, ``"CONNECTING"``, ``"CONNECTED"`` or ``"CLOSED"``."""
        return STATE_NAMES[self._state]

    @property
    def version(self) -> int | None:
        """The protocol level in use (a server learns it from the CONNECT)."""
        return self._version

    @property
    def session(self) -> Any:
        """The session state this connection works on (None before it has one)."""
        return self._session

    @property
    def closed(self) -> bool:
        """True once the connection is over: nothing more will be sent or reported."""
        return self._state == CLOSED

    def connection_lost(self) -> list[Any]:
        """The network connection ended (EOF or an error): the events that follow (a ``Disconnected``)."""
        events: list[Any] = []
        self._lost(events)
        return events

    def _lost(self, events: list[Any]) -> None:
        self._close(0x80, True, events)

    def _require_connected(self, action: str) -> None:
        if self._state != CONNECTED:
            raise LocalProtocolError(
                f"cannot {action}: the connection is {STATE_NAMES[self._state]}, not CONNECTED"
            )

    def _resend_session(self) -> None:
        """After a CONNACK that resumed the session: unacked PUBLISH (DUP) and PUBREL, in order [MQTT-4.4.0-1].

        Resent PUBLISHes and PUBRELs use the new connection's send quota [MQTT-4.9.0-1]
        (a PUBREL always goes, even below zero); PUBLISHes beyond it wait, ahead of what
        was already waiting.
        """
        outbound = self._outbound
        behind: list[int] = []
        for packet_id, entry in list(outbound.items()):
            if packet_id in self._waiting:
                continue
            if entry is None:
                self._out.append(bytes((0x62, 2, packet_id >> 8, packet_id & 0xFF)))
                # Its PUBCOMP gives a unit of quota back: take it now, or the quota would
                # end above the peer's Receive Maximum once that PUBCOMP comes [MQTT-4.9.0-2].
                self._send_quota -= 1
            elif behind or self._send_quota <= 0:
                behind.append(packet_id)
            elif self._transmit(entry, packet_id):
                self._send_quota -= 1
            else:
                del outbound[packet_id]
        if behind:
            waiting = dict.fromkeys(behind)
            waiting.update(self._waiting)
            self._waiting.clear()
            self._waiting.update(waiting)
        self._send_waiting()

    def _disconnect_packet(self, reason_code: int, properties: dict[str, Any]) -> Any:
        if self._version == MQTT_5:
            return self._packets.Disconnect(reason_code=reason_code, **properties)
        return self._packets.Disconnect()

    _auth_method: str | None

    def _auth_step(self, packet: Any, events: list[Any], allowed: tuple[int, ...]) -> None:
        """An AUTH from the peer: same method as the CONNECT's, a reason code in ``allowed``."""
        if self._auth_method is None:
            raise ProtocolError("AUTH without an authentication method in CONNECT [MQTT-4.12.0-6]")
        if packet.authentication_method != self._auth_method:
            raise ProtocolError("AUTH with another authentication method [MQTT-4.12.0-5]")
        if packet.reason_code not in allowed:
            raise ProtocolError(f"AUTH reason code 0x{packet.reason_code:02X} is out of place [MQTT-4.12.0-2]")
        events.append(
            AuthRequested(packet.reason_code, packet.authentication_method, packet.authentication_data, packet)
        )

    def _adopt_session(self, session: Any) -> None:
        self._session = session
        self._outbound = session.outbound
        self._waiting = session.waiting
        self._inbound_qos2 = session.inbound_qos2


def unsupported_publish(packet: Any, accepted_qos: int) -> ProtocolError:
    """The error for a PUBLISH beyond the Maximum QoS (0x9B) or Retain Available (0x9A) we announced."""
    if packet.qos > accepted_qos:
        error = ProtocolError(
            f"a QoS {packet.qos} PUBLISH above the Maximum QoS {accepted_qos} announced"
            " [MQTT-3.2.2-11, §3.3.1.2]"
        )
        error.reason_code = 0x9B
    else:
        error = ProtocolError(
            "a retained PUBLISH after Retain Available 0 [MQTT-3.2.2-14, §3.3.1.3]"
        )
        error.reason_code = 0x9A
    return error


#: class -> (its receive_data when answered, the answer); weak, so that classes made on the fly go.
_READS_LONE_PUBACKS: weakref.WeakKeyDictionary[type, tuple[Any, bool]] = weakref.WeakKeyDictionary()

#: What ``receive_data`` runs for a PUBACK that ``puback_received`` stands for: a class that
#: replaces any of them below the class of ``puback_received`` gets every read.
_PUBACK_PATH = ("receive_data", "_replay", "_receive_puback", "_end_qos1_flow", "_flow_ended", "_release_quota")


def reads_lone_pubacks(kind: type) -> bool:
    """Whether connections of class ``kind`` take a read of one PUBACK through ``puback_received``:
    their class has it, and what ``receive_data`` runs for a PUBACK is the code beside it (not a
    subclass's, which a lone PUBACK read must reach too)."""
    receive_data = getattr(kind, "receive_data", None)
    cached = _READS_LONE_PUBACKS.get(kind)
    if cached is not None and cached[0] is receive_data:
        return cached[1]
    owner = next((base for base in kind.__mro__ if "puback_received" in vars(base)), None)
    answer = owner is not None and all(
        getattr(kind, name, None) is getattr(owner, name, None) for name in _PUBACK_PATH
    )
    _READS_LONE_PUBACKS[kind] = (receive_data, answer)
    return answer
