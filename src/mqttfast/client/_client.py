"""``Client``: an asyncio MQTT client over ``mqttfast.ClientConnection``, shaped like aiomqtt 2.x.

The protocol (CONNECT, QoS flows, Receive Maximum, topic aliases, keep
alive, session resume) is the session layer's; this module only moves its
bytes, keeps its clock, and turns its events into awaited results:

- bytes in: the link calls ``_on_data`` for every read, which feeds
  ``receive_data`` and acts on the events at once;
- bytes out: any command or event schedules one ``_flush`` per loop pass,
  which hands ``buffers_to_send()`` to ``writelines``: a burst of publishes
  or acknowledgements costs one system call;
- time: one timer at ``next_deadline()`` calls ``handle_timeout(loop.time())``;
- received messages wait in a bounded queue; at ``max_queued_incoming_messages``
  the client stops reading the socket (TCP backpressure: the broker's
  send buffer fills, nothing is dropped here) and reads again once the
  application has taken half of them.
"""

from __future__ import annotations

import asyncio
import itertools
import operator
import random
import secrets
import ssl
import types
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from types import TracebackType
from typing import Any

from .. import (
    ClientConnection,
    ClientSession,
    Connected,
    ConnectionRefused,
    Disconnected,
    MessageReceived,
    PublishCompleted,
    Subscribed,
    Unsubscribed,
    AuthRequested,
    QueueFull,
    LocalProtocolError,
    topic_matches,
)
from .._connection_common import CONNECTED
from ._errors import ConnectError, DisconnectedError, MqttError, PublishError
from ._links import Link, open_tcp, open_websocket
from ._message import Message, PayloadType, ProtocolVersion, Will, encode_payload

__all__ = ["Client", "MessagesIterator"]

#: Reads closer together than this fraction of ``read_coalescing`` make a stream worth coalescing.
COALESCE_TRIGGER = 0.2
#: A read of this many bytes already amortises its wake-up: no pause after it.
COALESCE_BELOW = 64 * 1024

#: The event types of a read that only brought messages, and how to take the packet from each.
ONLY_MESSAGES = {MessageReceived}
MESSAGE_OF = operator.attrgetter("message")
#: makes a Message without running its __init__ (the queue hands out many; a Python frame each).
_new_message = object.__new__

#: CONNACK codes after which trying again cannot help: reconnection stops and the error surfaces.
PERMANENT_REFUSALS = frozenset({0x01, 0x02, 0x04, 0x05, 0x84, 0x85, 0x86, 0x87, 0x8A, 0x8C, 0x90, 0x9A})

Handler = Callable[[Message], Any]
Authenticator = Callable[[int, "bytes | None"], "bytes | None | Awaitable[bytes | None]"]


def _future_factory(loop: asyncio.AbstractEventLoop) -> Callable[[], asyncio.Future[Any]]:
    """``loop.create_future``, without its Python frame when it is asyncio's own (a future per publish)."""
    if type(loop).create_future is asyncio.BaseEventLoop.create_future:
        # What it does, for the running loop: the client makes its futures on the loop's own
        # thread only (as asyncio futures want; SyncClient calls through the loop), where
        # Future() finds that loop in C. A future made and kept (callgrind, 100,000 of them in a
        # running loop): 2,230 instructions, against 3,000 for Future(loop=loop), whose keyword is
        # parsed each time; a closure calling that, or the method, cost more still.
        return asyncio.Future
    return loop.create_future  # uvloop's and others' own: theirs is the one to call


def _will_properties(will: Any) -> dict[str, Any]:
    """The MQTT 5 properties set on a ``Will`` packet, by name."""
    names = ("will_delay_interval", "message_expiry_interval", "content_type", "response_topic",
             "correlation_data", "payload_format_indicator", "user_properties")
    return {name: getattr(will, name) for name in names if getattr(will, name, None)}


class MessagesIterator:
    """``client.messages``: the received messages, in order, as an async iterator (``len()`` is the queue size).

    Ends with the error that closed the connection (``DisconnectedError``)
    after the messages already queued; with reconnection on, it waits
    across reconnects instead.
    """

    def __init__(self, client: Client) -> None:
        self._client = client

    def __aiter__(self) -> AsyncIterator[Message]:
        return self

    @types.coroutine
    def __anext__(self) -> Generator[Any, None, Message]:
        # A generator-based coroutine: cheaper to make than an ``async def`` frame, and one
        # with a message already queued returns it at the first step, without suspending.
        client = self._client
        queue = client._queue
        while not queue:
            if client._fatal is not None:
                raise client._fatal
            waiter = client._waiter
            if waiter is None or waiter.done():
                waiter = client._waiter = asyncio.get_running_loop().create_future()
            yield from waiter
        packet = queue.popleft()
        if client._reading_paused and len(queue) <= client._resume_at:
            client._resume_reading()
        # Message(packet) without its __init__ frame: a tenth of a received message's cost here.
        message = _new_message(Message)
        message._packet = packet
        return message

    def __len__(self) -> int:
        return len(self._client._queue)


class _Subscription:
    """What the client remembers of a subscription: to route by identifier and to renew it after a lost session."""

    __slots__ = ("handler", "identifier", "options", "topic_filter")

    def __init__(self, topic_filter: str, options: Any, identifier: int | None, handler: Handler | None) -> None:
        self.topic_filter = topic_filter
        self.options = options
        self.identifier = identifier
        self.handler = handler


class Client:
    """An asyncio MQTT 5.0 / 3.1.1 / 3.1 client; use it as ``async with Client("host") as client:``.

    Parameters follow aiomqtt 2.x: ``hostname``, ``port``, ``identifier``
    (a random ``mqttfast-...`` one when None, kept across reconnects),
    ``username``, ``password``, ``protocol`` (``ProtocolVersion`` or 3/4/5),
    ``clean_start`` (True: a new session on the first connection, resumed on
    reconnects; False: resume even the first), ``keepalive`` (seconds),
    ``will`` (``Will``), ``tls_context`` (``ssl.SSLContext``), ``transport``
    (``"tcp"`` or ``"websockets"``), ``websocket_path``, ``websocket_headers``,
    ``timeout`` (seconds to wait for CONNACK, SUBACK, UNSUBACK),
    ``max_queued_incoming_messages`` (the queue bound: reading stops there;
    0 = unbounded), ``max_queued_outgoing_messages`` (QoS 1/2 publishes
    waiting in the session for the broker's Receive Maximum, resent after a
    reconnect; beyond it ``publish()`` waits in the client, in order; each
    acknowledgement costs time in proportion to this number: keep it small),
    ``max_inflight_messages`` (MQTT 3.x only, where the broker announces no
    Receive Maximum: QoS 1/2 publishes in flight at once; mosquitto's default is 20).

    mqttfast additions: ``session_expiry_interval`` (MQTT 5; give one to
    resume sessions across reconnects), ``receive_maximum``,
    ``topic_alias_maximum`` (aliases the broker may use toward us; outbound
    aliases are automatic when the broker allows them), ``fallback_to_v311``
    (reconnect at 3.1.1 when the broker refuses 5.0), ``reconnect`` (on a
    lost connection, connect again with exponential backoff between
    ``reconnect_delay`` = (first, largest) seconds; QoS 1/2 flows resume
    when the broker kept the session), ``authentication_method``,
    ``authentication_data`` and ``authenticator`` (MQTT 5 enhanced
    authentication: called with each AUTH challenge's reason code and data,
    returns the answer's data, may be async), ``properties`` (more CONNECT
    properties: ``user_properties``, ``request_response_information``...),
    ``read_coalescing`` (seconds, 0 = off: when reads come closer together
    than a fifth of it and nothing of ours awaits the broker, reading
    pauses this long so that the next read takes a batch: much less CPU
    under a stream of QoS 0 messages, at most this much more latency there).
    """

    def __init__(
        self,
        hostname: str,
        port: int = 1883,
        *,
        identifier: str | None = None,
        username: str | None = None,
        password: str | bytes | None = None,
        protocol: ProtocolVersion | int = ProtocolVersion.V5,
        clean_start: bool = True,
        keepalive: int = 60,
        will: Will | Any = None,
        tls_context: ssl.SSLContext | None = None,
        transport: str = "tcp",
        websocket_path: str = "/mqtt",
        websocket_headers: dict[str, str] | None = None,
        timeout: float = 10.0,
        max_queued_incoming_messages: int = 10_000,
        max_queued_outgoing_messages: int = 256,
        max_inflight_messages: int = 20,
        session_expiry_interval: int | None = None,
        receive_maximum: int = 0xFFFF,
        topic_alias_maximum: int = 64,
        fallback_to_v311: bool = False,
        reconnect: bool = False,
        reconnect_delay: tuple[float, float] = (0.1, 30.0),
        authentication_method: str | None = None,
        authentication_data: bytes | None = None,
        authenticator: Authenticator | None = None,
        properties: dict[str, Any] | None = None,
        read_coalescing: float = 0.001,
    ) -> None:
        if transport not in ("tcp", "websockets"):
            raise ValueError(f'transport must be "tcp" or "websockets", not {transport!r}')
        self._protocol = ProtocolVersion(protocol)
        self._hostname = hostname
        self._port = port
        self._identifier = identifier if identifier is not None else "mqttfast-" + secrets.token_hex(8)
        self._username = username
        self._password = password.encode() if isinstance(password, str) else password
        self._clean_start = clean_start
        self._keepalive = keepalive
        self._will = will
        self._tls_context = tls_context
        self._transport = transport
        self._websocket_path = websocket_path
        self._websocket_headers = websocket_headers
        self._timeout = timeout
        self._max_incoming = max_queued_incoming_messages
        self._resume_at = max_queued_incoming_messages // 2
        self._session_expiry_interval = session_expiry_interval
        self._receive_maximum = receive_maximum
        self._topic_alias_maximum = topic_alias_maximum
        self._fallback = fallback_to_v311
        self._reconnect = reconnect
        self._reconnect_delay = reconnect_delay
        self._auth_method = authentication_method
        self._auth_data = authentication_data
        self._authenticator = authenticator
        self._connect_properties = dict(properties or {})
        self._session = ClientSession(max_queued=max_queued_outgoing_messages)
        self._max_inflight_messages = max_inflight_messages
        self.messages = MessagesIterator(self)
        self._conn: Any = None
        #: The connection while publish() may queue on it at once (connected, a link, no fatal error), else None.
        self._open: Any = None
        self._link: Link | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._new_future: Callable[[], asyncio.Future[Any]] = asyncio.Future
        self._queue: deque[Any] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._read_coalescing = read_coalescing
        self._coalescing = False
        self._coalesce_timer: asyncio.TimerHandle | None = None
        self._last_read = float("-inf")
        self._flush_scheduled = False
        #: True while a read's events are handled: what they make is written at the end of the read.
        self._in_read = False
        self._timer: asyncio.TimerHandle | None = None
        self._connack: asyncio.Future[Any] | None = None
        self._connected = asyncio.Event()
        self._fatal: MqttError | None = None
        self._closing = False
        self._entered = False
        self._ever_connected = False
        self._reconnect_task: asyncio.Task[None] | None = None
        self._publishes: dict[int, asyncio.Future[int]] = {}
        self._requests: dict[int, asyncio.Future[Any]] = {}
        self._slot_waiters: deque[asyncio.Future[None]] = deque()
        #: QoS 1/2 publishes beyond max_queued_outgoing_messages: their futures, and beside them, in the
        #: same order, their (topic, payload, qos, retain, properties or None). Two deques rather than
        #: one of (future, ...) tuples: a tuple of plain values leaves the garbage collector's lists at
        #: its first collection, one holding a future stays there, and a full collection walks each of
        #: the held publishes (a burst of 100,000 is that many).
        self._backlog: deque[asyncio.Future[int]] = deque()
        self._held: deque[tuple[Any, ...]] = deque()
        self._subscriptions: dict[str, _Subscription] = {}
        self._by_identifier: dict[int, _Subscription] = {}
        self._topic_handlers: list[_Subscription] = []
        self._next_identifier = itertools.count(1)
        self._responses: dict[bytes, asyncio.Future[Message]] = {}
        #: Each awaited response's deadline, in the order set; one timer (_sweep) for all of them.
        self._deadlines: dict[asyncio.Future[Message], float] = {}
        self._sweep_timer: asyncio.TimerHandle | None = None
        self._sweep_at = float("inf")
        self._response_topic: str | None = None
        self._correlation = itertools.count(1)
        self._tasks: set[asyncio.Task[Any]] = set()
        #: The CONNACK of the current connection (broker capabilities), once connected.
        self.connack: Any = None

    # ---- public state --------------------------------------------------------------------------

    @property
    def identifier(self) -> str:
        """The client identifier (the one the broker assigned, if it did)."""
        return self._identifier

    @property
    def protocol(self) -> ProtocolVersion:
        """The protocol level in use (3.1.1 after a fallback)."""
        return self._protocol

    @property
    def session(self) -> ClientSession:
        """The ``ClientSession`` kept across reconnects (in-flight QoS 1/2 flows)."""
        return self._session

    @property
    def is_connected(self) -> bool:
        """True between a CONNACK and the end of that connection."""
        return self._connected.is_set()

    # ---- context manager ----------------------------------------------------------------------

    async def __aenter__(self) -> Client:
        if self._entered:
            raise MqttError("this Client is already connected: it is reusable but not reentrant")
        self._entered = True
        self._closing = False
        self._fatal = None
        self._loop = asyncio.get_running_loop()
        self._new_future = _future_factory(self._loop)
        try:
            await self._connect(first=True)
        except BaseException:
            self._entered = False
            self._teardown()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.disconnect()

    async def disconnect(self, reason_code: int = 0, **properties: Any) -> None:
        """Send DISCONNECT (with ``reason_code``: 0x04 asks the broker to publish the will) and close."""
        if not self._entered:
            return
        self._closing = True
        conn = self._conn
        if conn is not None and conn.state == "CONNECTED":
            conn.disconnect(reason_code, **properties)
            self._flush()
        link = self._link
        self._teardown()
        if link is not None:
            await link.drain()
            link.close()
        self._entered = False

    def _teardown(self) -> None:
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
            self._reconnect_task = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._sweep_timer is not None:
            self._sweep_timer.cancel()
            self._sweep_timer = None
            self._sweep_at = float("inf")
        self._cancel_coalescing()
        self._connected.clear()
        self._open = None
        self._link = None
        self._conn = None
        error = self._fatal or MqttError("the client disconnected")
        self._fatal = error
        self._fail_all(error)
        for task in list(self._tasks):
            task.cancel()

    # ---- connecting ---------------------------------------------------------------------------

    async def _connect(self, first: bool) -> None:
        while True:
            try:
                await asyncio.wait_for(self._connect_once(first), self._timeout)
                return
            except ConnectError as exc:
                if exc.unsupported_version and self._fallback and self._protocol == ProtocolVersion.V5:  # type: ignore[attr-defined]
                    self._protocol = ProtocolVersion.V311
                    continue
                raise
            except asyncio.TimeoutError:
                self._drop_link()
                raise ConnectError("no CONNACK within the timeout", 0x88) from None

    async def _connect_once(self, first: bool) -> None:
        loop = self._loop
        assert loop is not None
        version = int(self._protocol)
        # The session layer keeps in-flight flows in the session; a new connection adopts it.
        conn = ClientConnection(
            version,
            session=self._session,
            receive_maximum=self._receive_maximum,
            topic_alias_maximum=self._topic_alias_maximum if version == 5 else 0,
            # A 3.x broker announces no Receive Maximum, yet mosquitto refuses QoS 1 beyond its
            # max_inflight_messages with a PUBACK 3.1.1 cannot make an error of: bound it here.
            max_inflight=None if version == 5 else self._max_inflight_messages,
        )
        # Acknowledgements resolve our publishes' futures in the layer (a private hook of the
        # session layer's, for this client: not in the stubs); refusals still come as events.
        conn._futures = self._publishes  # type: ignore[attr-defined]
        self._conn = conn
        self._connack = loop.create_future()
        holder: list[Link] = []

        def on_data(data: Any) -> None:
            if holder and holder[0] is self._link:
                self._on_data(data)

        def on_lost(exc: BaseException | None) -> None:
            if holder and holder[0] is self._link:
                self._on_lost(exc)
            elif self._connack is not None and not self._connack.done() and not holder:
                self._connack.set_exception(ConnectError(f"connection lost before the CONNACK: {exc}", 0x80))

        if self._transport == "tcp":
            link = await open_tcp(self._hostname, self._port, on_data, on_lost, self._tls_context)
        else:
            link = await open_websocket(
                self._hostname,
                self._port,
                on_data,
                on_lost,
                self._tls_context,
                self._websocket_path,
                self._websocket_headers,
            )
        holder.append(link)
        self._link = link
        clean = self._clean_start and first
        properties = dict(self._connect_properties)
        if version == 5:
            if self._session_expiry_interval:
                properties["session_expiry_interval"] = self._session_expiry_interval
            if self._auth_method is not None:
                properties["authentication_method"] = self._auth_method
                properties["authentication_data"] = self._auth_data
        will = self._will
        if will is not None:
            if not isinstance(will, Will):
                will = Will(will.topic, will.payload, will.qos, will.retain, _will_properties(will))
            will = will.to_packet(version)
        conn.connect(
            self._identifier,
            clean_start=clean,
            keep_alive=self._keepalive,
            username=self._username,
            password=self._password,
            will=will,
            **properties,
        )
        self._flush()
        self._arm_timer()
        connected = await self._connack
        self._ever_connected = True
        self.connack = connected.packet
        assigned = connected.packet.assigned_client_identifier if version == 5 else None
        if assigned:
            self._identifier = assigned
        if not connected.session_present:
            self._session_lost()
        self._connected.set()
        self._open = conn
        if self._backlog:
            self._publish_backlog()
            self._schedule_flush()

    def _drop_link(self) -> None:
        link = self._link
        self._link = None
        self._open = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._cancel_coalescing()
        if link is not None:
            link.close()

    def _cancel_coalescing(self) -> None:
        if self._coalesce_timer is not None:
            self._coalesce_timer.cancel()
            self._coalesce_timer = None
        self._coalescing = False

    def _session_lost(self) -> None:
        # The layer cleared the session's flows: those publishes will never be acknowledged.
        error = MqttError("the broker did not keep the session: the message may not have been delivered")
        for future in self._publishes.values():
            if not future.done():
                future.set_exception(error)
        self._publishes.clear()
        if self._ever_connected and self._subscriptions and self._conn is not None:
            for subscription in self._subscriptions.values():  # renew what the broker forgot
                self._conn.subscribe(subscription.options, subscription_identifier=subscription.identifier)
            self._schedule_flush()

    # ---- bytes in, events ---------------------------------------------------------------------

    def _on_data(self, data: Any) -> None:
        conn = self._conn
        publishes = self._publishes
        awaited = len(publishes)
        events = conn.receive_data(data)
        # The layer resolved (and popped) the futures of the publishes this read acknowledged.
        resolved = awaited - len(publishes)
        if events:
            self._in_read = True
            only_messages = self._handle_events(events) and not resolved
            self._in_read = False
        else:
            only_messages = not resolved
        if resolved:
            if self._slot_waiters:
                self._wake_slot_waiters(resolved)
            if self._backlog:
                self._publish_backlog()  # held publishes into the freed places
        # What this read made (acknowledgements) leaves now: one write per read, no scheduled call.
        buffers = conn.buffers_to_send()
        if buffers:
            if self._link is not None:
                self._link.writelines(buffers)
        elif (
            self._read_coalescing
            and only_messages
            and len(data) < COALESCE_BELOW
            and not (self._publishes or self._requests or self._responses)
        ):
            self._coalesce()

    def _coalesce(self) -> None:
        # Under a one-way stream, a client faster than its broker wakes up for a few packets per
        # read, and the wake-up (system calls, a cold cache) costs far more than the packets. As
        # interrupt coalescing in a network card: when reads follow each other closely, stop
        # reading for a moment and take the next ones as one batch. Only while nothing of ours
        # waits for the broker (no acknowledgement to send, no publish, request or response
        # pending; a read that completed one of ours does not count), so that no round trip is
        # slowed; a command that will await the broker ends the pause at once (_stop_coalescing).
        now = self._loop.time()  # type: ignore[union-attr]
        if (
            now - self._last_read < self._read_coalescing * COALESCE_TRIGGER
            and self._link is not None
            # A batch already waits in the socket: the next read amortises its wake-up without a
            # pause, and a pause would only let the kernel's buffer fill and hold the broker back.
            and self._link.bytes_waiting() < COALESCE_BELOW
        ):
            self._coalescing = True
            self._link.pause_reading()
            self._coalesce_timer = self._loop.call_later(  # type: ignore[union-attr]
                self._read_coalescing, self._end_coalescing, self._link
            )
        self._last_read = now

    def _stop_coalescing(self) -> None:
        # We are about to await the broker: read its answer as soon as it comes.
        link = self._link
        self._cancel_coalescing()
        if link is not None and not self._reading_paused:
            link.resume_reading()

    def _end_coalescing(self, link: Link) -> None:
        self._coalescing = False
        self._coalesce_timer = None
        if link is self._link and not self._reading_paused:
            link.resume_reading()

    def _handle_events(self, events: list[Any]) -> bool:
        """Act on the events of one read; whether they were all received messages."""
        queue = self._queue
        routed = self._by_identifier or self._topic_handlers
        if not routed and set(map(type, events)) == ONLY_MESSAGES:
            # The common read, messages for client.messages and nothing else: two passes in C
            # (the types, the packets) instead of a loop in Python.
            queue.extend(map(MESSAGE_OF, events))
            self._received()
            return True
        received = completed = other = False
        open_conn = self._open
        if open_conn is not None and open_conn._state != CONNECTED:
            # The layer closed the connection in these events (a DISCONNECT, a violation): what
            # their handlers publish takes the slow path, as it will after them. Tested here,
            # once per list of events, rather than in every publish() (a state change always
            # comes with a Disconnected event, so a read of messages alone needs no test).
            self._open = None
        publishes = self._publishes
        for event in events:
            kind = type(event)
            if kind is MessageReceived:
                packet = event.message
                if routed and self._route(packet):
                    continue
                queue.append(packet)
                received = True
            elif kind is PublishCompleted:
                # The common acknowledgement inline: no method call per PUBACK.
                future = publishes.pop(event.packet_id, None)
                if (
                    future is None
                    or event.reason_code >= 0x80
                    or self._slot_waiters
                    or future.done()
                ):
                    self._publish_completed(event, future)
                else:
                    future.set_result(event.reason_code)
                completed = True
            else:
                self._handle_other(event)
                other = True
        if completed and self._backlog:
            self._publish_backlog()
        if received:
            self._received()
        return not (completed or other)

    def _wake_slot_waiters(self, count: int) -> None:
        # ``count`` flows of ours ended: as many places free in the session, for as many waiting
        # publishes, in arrival order.
        waiters = self._slot_waiters
        while waiters and count:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                count -= 1

    def _received(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self._max_incoming and len(self._queue) >= self._max_incoming and not self._reading_paused:
            # Backpressure: stop reading, let TCP hold the rest at the broker.
            self._reading_paused = True
            if self._link is not None:
                self._link.pause_reading()

    def _resume_reading(self) -> None:
        self._reading_paused = False
        if self._link is not None and not self._coalescing:
            self._link.resume_reading()

    def _publish_completed(self, event: Any, future: asyncio.Future[int] | None) -> None:
        if future is not None and not future.done():
            code = event.reason_code
            if code >= 0x80:
                future.set_exception(
                    PublishError("the broker refused the message", code, getattr(event.packet, "reason_string", None))
                )
            else:
                future.set_result(code)
        # One acknowledgement frees one place: wake one waiting publish, in arrival order (waking all
        # of them would make a burst of N publishes cost N squared retries).
        if self._slot_waiters:
            self._wake_slot_waiters(1)

    def _handle_other(self, event: Any) -> None:
        kind = type(event)
        if kind is Subscribed or kind is Unsubscribed:
            future = self._requests.pop(event.packet_id, None)
            if future is not None and not future.done():
                future.set_result(event)
        elif kind is Connected:
            if self._connack is not None and not self._connack.done():
                self._connack.set_result(event)
        elif kind is ConnectionRefused:
            packet = event.packet
            error = ConnectError(
                "the broker refused the connection", event.reason_code, getattr(packet, "reason_string", None)
            )
            error.unsupported_version = event.unsupported_version  # type: ignore[attr-defined]
            if self._connack is not None and not self._connack.done():
                self._connack.set_exception(error)
            self._drop_link()
        elif kind is AuthRequested:
            self._spawn(self._answer_auth(event))
        elif kind is Disconnected:
            self._disconnected(event)

    def _route(self, packet: Any) -> bool:
        """Hand ``packet`` to the handlers of the subscriptions it came through; False to queue it."""
        handled = False
        identifiers = packet.subscription_identifiers
        if identifiers:
            for identifier in identifiers:
                subscription = self._by_identifier.get(identifier)
                if subscription is not None and subscription.handler is not None:
                    self._call(subscription.handler, packet)
                    handled = True
        elif self._topic_handlers:
            # No identifiers (MQTT 3.x, or a broker without them): match the filters here.
            for subscription in self._topic_handlers:
                if topic_matches(subscription.topic_filter, packet.topic):
                    assert subscription.handler is not None
                    self._call(subscription.handler, packet)
                    handled = True
        return handled

    def _call(self, handler: Handler, packet: Any) -> None:
        result = handler(Message(packet))
        # None and futures (respond(), publish()) first: the coroutine test goes through an ABC.
        if result is not None and not isinstance(result, asyncio.Future) and asyncio.iscoroutine(result):
            self._spawn(result)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer_auth(self, event: Any) -> None:
        if self._authenticator is None:
            data = None
        else:
            answer = self._authenticator(event.reason_code, event.data)
            data = await answer if isinstance(answer, Awaitable) else answer
        conn = self._conn
        if conn is not None and not conn.closed:
            conn.auth(data)
            self._flush()

    def _disconnected(self, event: Any) -> None:
        packet = event.packet
        reason_string = getattr(packet, "reason_string", None) if packet is not None else None
        if event.error is not None:
            message = f"the connection was closed: {event.error}"
        elif event.by_peer and packet is not None:
            message = "the broker sent DISCONNECT"
        else:
            message = "the connection was lost"
        error = DisconnectedError(message, event.reason_code, reason_string, by_peer=event.by_peer)
        self._flush()  # our DISCONNECT, after a violation by the broker
        self._connected.clear()
        self._open = None
        if self._connack is not None and not self._connack.done():
            self._connack.set_exception(ConnectError(message, event.reason_code, reason_string))
        self._drop_link()
        if self._closing:
            return
        if self._reconnect and self._ever_connected:
            if self._reconnect_task is None or self._reconnect_task.done():
                self._reconnect_task = asyncio.ensure_future(self._reconnect_loop(error))
            return
        self._fatal = error
        self._fail_all(error)

    def _fail_all(self, error: MqttError) -> None:
        for futures in (self._publishes, self._requests, self._responses):
            for future in futures.values():
                if not future.done():
                    future.set_exception(error)
            futures.clear()
        for waiter in self._slot_waiters:
            if not waiter.done():
                waiter.set_exception(error)
        self._slot_waiters.clear()
        for future in self._backlog:
            if not future.done():
                future.set_exception(error)
        self._backlog.clear()
        self._held.clear()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _on_lost(self, exc: BaseException | None) -> None:
        conn = self._conn
        if conn is None:
            return
        events = conn.connection_lost()
        if events:
            self._handle_events(events)

    async def _reconnect_loop(self, error: MqttError) -> None:
        first, largest = self._reconnect_delay
        delay = first
        while not self._closing:
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # jitter: clients do not return in step
            try:
                await self._connect(first=False)
                return
            except ConnectError as exc:
                if exc.reason_code in PERMANENT_REFUSALS:
                    self._fatal = exc
                    self._fail_all(exc)
                    return
            except (OSError, MqttError):
                pass
            self._drop_link()
            delay = min(delay * 2, largest)

    # ---- bytes out, time ----------------------------------------------------------------------

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            assert self._loop is not None
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        conn = self._conn
        if conn is None:
            return
        buffers = conn.buffers_to_send()
        if buffers and self._link is not None:
            self._link.writelines(buffers)

    def _arm_timer(self) -> None:
        conn = self._conn
        loop = self._loop
        if conn is None or loop is None:
            return
        deadline = conn.next_deadline()
        if deadline is not None:
            self._timer = loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        conn = self._conn
        if conn is None or self._loop is None:
            return
        events = conn.handle_timeout(self._loop.time())
        if events:
            self._handle_events(events)
        self._flush()
        if conn is self._conn:
            self._arm_timer()

    async def _ready(self) -> Any:
        """The connection to send on, waiting through a reconnect."""
        while True:
            if self._fatal is not None:
                raise self._fatal
            conn = self._conn
            if conn is not None and self._connected.is_set() and conn.state == "CONNECTED":
                return conn
            if not self._entered:
                raise MqttError("the client is not connected: use `async with Client(...)`")
            await self._connected.wait()

    # ---- commands -----------------------------------------------------------------------------

    def publish(
        self,
        topic: str,
        payload: PayloadType = None,
        qos: int = 0,
        retain: bool = False,
        properties: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
        **more_properties: Any,
    ) -> asyncio.Future[int]:
        """Publish; awaited, for QoS 1 and 2 it returns once the broker acknowledged (its reason code, < 0x80).

        ``properties`` (a dict) and keyword arguments are MQTT 5 PUBLISH
        properties (``message_expiry_interval``, ``response_topic``,
        ``correlation_data``, ``user_properties``, ``content_type``...).
        Raises ``PublishError`` with the broker's reason code when it
        refuses the message, ``LocalProtocolError`` for what the broker's
        capabilities forbid (QoS above its Maximum QoS: 0x9B, retain: 0x9A,
        too large: 0x95), ``DisconnectedError`` when the connection ends
        before the acknowledgement and no reconnect can finish the flow.
        QoS 0 returns 0 once the bytes are queued for the socket.

        Returns an ``asyncio.Future`` rather than a coroutine: ``await`` it
        as any coroutine, hand it to ``asyncio.gather`` or ``ensure_future``
        (``create_task`` takes coroutines only). When connected, the message
        is queued at the call and no task is made; errors still surface
        where the result is awaited.
        """
        if type(payload) is bytes:
            data: Any = payload
        else:
            try:
                data = encode_payload(payload)
            except TypeError as exc:
                return self._failed(exc)
        if properties:
            more_properties.update(properties)
        conn = self._open
        # _open: connected, with a link, no fatal error, and the layer's state CONNECTED
        # (_handle_events clears it before the handlers of events that closed the connection).
        if conn is not None and timeout is None:
            if qos and self._backlog:
                # Behind the others, in order (_hold, inline: nearly every publish of a burst comes here).
                future = self._new_future()
                self._backlog.append(future)
                self._held.append((topic, data, qos, retain, more_properties or None))
                return future
            try:
                if more_properties:
                    packet_id = conn.publish(topic, data, qos, retain, **more_properties)
                else:
                    packet_id = conn.publish(topic, data, qos, retain)
            except QueueFull:
                return self._hold(topic, data, qos, retain, more_properties)
            except Exception as exc:  # the caller sees it where it awaits, as from a coroutine
                return self._failed(exc)
            if (
                packet_id is not None
                and not (self._flush_scheduled or self._in_read or self._publishes or self._responses)
            ):
                # Alone in flight (one publish awaited after another, as QoS 2 rounds go): out now,
                # which saves the loop pass of a scheduled flush. A burst batches behind it as before;
                # requests, many at a time, and what a read's handlers send wait for one write.
                self._flush()
            elif not self._flush_scheduled:
                self._schedule_flush()
            if packet_id is None:
                link = self._link
                if link is not None and link.must_drain:
                    return asyncio.ensure_future(self._drain(link))
                future = self._new_future()
                future.set_result(0)
                return future
            future = self._new_future()
            # Resolved by _publish_completed when the acknowledgement comes: a future per
            # message and no task, the cheapest awaitable asyncio offers.
            self._publishes[packet_id] = future
            if self._coalescing:
                self._stop_coalescing()
            return future
        return asyncio.ensure_future(self._publish(topic, data, qos, retain, timeout, more_properties))

    def _hold(
        self, topic: str, data: Any, qos: int, retain: bool, properties: dict[str, Any]
    ) -> asyncio.Future[int]:
        # max_queued_outgoing_messages wait in the session already (or others wait here before
        # it): this one waits here, as a future and its arguments (no task), until
        # acknowledgements make room (_publish_backlog).
        future: asyncio.Future[int] = self._new_future()
        self._backlog.append(future)
        self._held.append((topic, data, qos, retain, properties or None))
        return future

    def _publish_backlog(self) -> None:
        """Move held publishes into the session while it has room; the caller writes what they made."""
        conn = self._open
        if conn is not None:
            # Only while none waits in the session: then a message goes out at once when the
            # broker's Receive Maximum allows, and at most one per pass waits there (each one
            # that waits costs the layer a size check, and a place in a dict consumed from the
            # front). One call for all of them, in C with the compiled twin.
            conn._publish_held(self._backlog, self._held, self._publishes)

    def _failed(self, error: BaseException) -> asyncio.Future[int]:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        future.set_exception(error)
        return future

    @staticmethod
    async def _drain(link: Link) -> int:
        await link.drain()
        return 0

    async def _publish(
        self, topic: str, data: Any, qos: int, retain: bool, timeout: float | None, more_properties: dict[str, Any]
    ) -> int:
        while True:
            conn = await self._ready()
            try:
                packet_id = conn.publish(topic, data, qos, retain, **more_properties)
                break
            except QueueFull:
                # max_queued_outgoing_messages wait already: wait for an acknowledgement to free a place.
                waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                self._slot_waiters.append(waiter)
                await waiter
        self._schedule_flush()
        if packet_id is None:
            if self._link is not None:
                await self._link.drain()
            return 0
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._publishes[packet_id] = future
        if self._coalescing:
            self._stop_coalescing()
        if timeout is None:
            return await future
        return await asyncio.wait_for(future, timeout)

    async def subscribe(
        self,
        topic: str | Any | list[Any],
        qos: int = 0,
        options: Any = None,
        properties: dict[str, Any] | None = None,
        *,
        handler: Handler | None = None,
        timeout: float | None = None,
    ) -> list[int]:
        """Subscribe; the SUBACK's reason codes (the granted QoS, or a code >= 0x80 per filter).

        ``topic``: a filter, a ``(filter, qos)`` pair, an ``mqttfast.Subscription``
        (No Local, Retain As Published, Retain Handling) or a list of them.
        With ``handler`` (a function of one ``Message``; a coroutine function
        runs as a task), messages that came through this subscription go to it
        instead of ``client.messages``: MQTT 5 routes them by a Subscription
        Identifier the client assigns; otherwise by matching the filter here.
        ``properties`` may carry ``user_properties``.
        """
        conn = await self._ready()
        items = topic if isinstance(topic, list) else [topic]
        if options is not None:
            items = [self._with_options(item, qos, options) for item in items]
        identifier = None
        if handler is not None and self._protocol == ProtocolVersion.V5 and conn.subscription_identifier_available:
            identifier = next(self._next_identifier)
        user_properties = (properties or {}).get("user_properties")
        packet_id = conn.subscribe(
            items, qos, subscription_identifier=identifier, user_properties=user_properties
        )
        self._schedule_flush()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._requests[packet_id] = future
        if self._coalescing:
            self._stop_coalescing()
        event = await asyncio.wait_for(future, timeout or self._timeout)
        codes: list[int] = list(event.reason_codes)
        for item, code in zip(items, codes):
            if code >= 0x80:
                continue
            topic_filter = item if isinstance(item, str) else item[0] if isinstance(item, tuple) else item.topic_filter
            subscription = _Subscription(topic_filter, item if not isinstance(item, str) else (item, qos), identifier, handler)
            self._forget(topic_filter)
            self._subscriptions[topic_filter] = subscription
            if handler is not None:
                if identifier is not None:
                    self._by_identifier[identifier] = subscription
                else:
                    self._topic_handlers.append(subscription)
        return codes

    @staticmethod
    def _with_options(item: Any, qos: int, options: Any) -> Any:
        from .. import Subscription

        topic_filter = item if isinstance(item, str) else item[0]
        fields = {
            name: getattr(options, name)
            for name in ("no_local", "retain_as_published", "retain_handling")
            if hasattr(options, name)
        }
        return Subscription(topic_filter=topic_filter, qos=getattr(options, "qos", qos), **fields)

    def _forget(self, topic_filter: str) -> None:
        old = self._subscriptions.pop(topic_filter, None)
        if old is not None:
            if old.identifier is not None and self._by_identifier.get(old.identifier) is old:
                del self._by_identifier[old.identifier]
            if old in self._topic_handlers:
                self._topic_handlers.remove(old)

    async def unsubscribe(
        self,
        topic: str | list[str],
        properties: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> list[int]:
        """Unsubscribe; the UNSUBACK's reason codes (MQTT 5; an empty list at 3.x, which has none)."""
        conn = await self._ready()
        filters = [topic] if isinstance(topic, str) else list(topic)
        packet_id = conn.unsubscribe(filters, user_properties=(properties or {}).get("user_properties"))
        self._schedule_flush()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._requests[packet_id] = future
        if self._coalescing:
            self._stop_coalescing()
        event = await asyncio.wait_for(future, timeout or self._timeout)
        for topic_filter in filters:
            self._forget(topic_filter)
        return list(event.reason_codes or [])

    async def reauthenticate(self, data: bytes | None = None) -> None:
        """Start MQTT 5 re-authentication with the CONNECT's method; the broker's challenges go to ``authenticator``."""
        conn = await self._ready()
        conn.auth(data)
        self._schedule_flush()

    # ---- request / response (MQTT 5) ----------------------------------------------------------

    async def request(
        self,
        topic: str,
        payload: PayloadType = None,
        qos: int = 1,
        *,
        timeout: float | None = None,
        **properties: Any,
    ) -> Message:
        """Publish a request with a Response Topic and Correlation Data; the matching response.

        The client subscribes once to its own response topic
        (``mqttfast/responses/<identifier>``) at the first request. Needs MQTT 5.
        """
        if self._protocol != ProtocolVersion.V5:
            raise LocalProtocolError("request/response needs MQTT 5 (Response Topic, Correlation Data)", 0x82)
        if self._response_topic is None:
            response_topic = f"mqttfast/responses/{self._identifier}"
            await self.subscribe(response_topic, qos=max(qos, 1), handler=self._on_response)
            self._response_topic = response_topic
        correlation = next(self._correlation).to_bytes(8, "big")
        future: asyncio.Future[Message] = self._new_future()
        self._responses[correlation] = future
        try:
            await self.publish(
                topic, payload, qos, response_topic=self._response_topic, correlation_data=correlation, **properties
            )
            # A deadline rather than wait_for (an inner task) or a timer per request (a heap
            # entry made and cancelled each time): one timer sweeps them all (_sweep).
            deadline = self._loop.time() + (timeout or self._timeout)  # type: ignore[union-attr]
            self._deadlines[future] = deadline
            if deadline < self._sweep_at:
                self._arm_sweep(deadline)
            return await future
        finally:
            self._deadlines.pop(future, None)
            self._responses.pop(correlation, None)

    def _arm_sweep(self, when: float) -> None:
        if self._sweep_timer is not None:
            self._sweep_timer.cancel()
        self._sweep_at = when
        self._sweep_timer = self._loop.call_at(when, self._sweep)  # type: ignore[union-attr]

    def _sweep(self) -> None:
        """Time out the requests past their deadline; wake again at the earliest of the others."""
        self._sweep_timer = None
        self._sweep_at = float("inf")
        now = self._loop.time()  # type: ignore[union-attr]
        earliest = float("inf")
        # Answered requests leave the table as they finish: what is left here are the ones
        # still waiting, as many as are in flight.
        for future, deadline in list(self._deadlines.items()):
            if deadline <= now:
                del self._deadlines[future]
                if not future.done():
                    future.set_exception(asyncio.TimeoutError())
            elif deadline < earliest:
                earliest = deadline
        if earliest < float("inf"):
            self._arm_sweep(earliest)

    def _on_response(self, message: Message) -> None:
        future = self._responses.pop(message.correlation_data or b"", None)
        if future is not None and not future.done():
            future.set_result(message)

    def respond(
        self, request: Message, payload: PayloadType = None, qos: int | None = None, **properties: Any
    ) -> asyncio.Future[int]:
        """Publish the response to ``request``: to its Response Topic, with its Correlation Data.

        Like ``publish()``, returns a future: a handler may return it without
        a task being made for it.
        """
        response_topic = request.response_topic
        if not response_topic:
            return self._failed(MqttError("the request has no Response Topic to answer to"))
        if request.correlation_data is not None:
            properties.setdefault("correlation_data", request.correlation_data)
        return self.publish(response_topic, payload, request.qos if qos is None else qos, **properties)
