"""The broker's work per read and per flush, in pure Python: the readable twin of ``_broker_c.pyx``.

At a low rate (one message a read) the broker's own Python, not the session
layer, was most of its CPU per message: the frames and attribute lookups of
the protocol's read, ``Broker.data_received``, ``route`` and ``flush``. These
are the classes that path touches, twinned so the compiled one runs it in C:

- ``Client`` and ``Subscription``: the records routing reads for every copy
  (a connected client; one subscription, the value stored in the matcher).
- ``BrokerCore``: the base of ``mqttfast.broker.Broker``, holding what routing
  reads (the matcher, the connected clients, the connections to flush, the
  counters) and the per-message methods: a read's events (``data_received``),
  the plain copies of a message (``_deliver_each``) and the flush.
- ``ProtocolCore``: the base of the asyncio protocol: a read and a write.
- ``Flusher``: whether a read flushes at once or at the end of its loop pass.

Everything that is not the plain case (hooks replaced, retained or expiring
messages, shared or overlapping subscriptions, a client away or slow, any
event but a message or an ack) is left to ``Broker``'s own Python methods,
which both twins call by name: the rules live once, in ``_core.py``.
``mqttfast.broker`` picks the compiled twin as ``mqttfast`` picks its own.
"""

from __future__ import annotations

import sys
import time
from asyncio import selector_events
from typing import TYPE_CHECKING, Any

from ._connection_common import reads_lone_pubacks
from ._events import MessageReceived, PublishCompleted

if TYPE_CHECKING:
    from . import TopicMatcher

__all__ = ["BrokerCore", "Client", "Flusher", "ProtocolCore", "Subscription"]

#: The clock of every ``now`` given to the broker (asyncio's ``loop.time()`` is the same clock behind
#: a Python frame; uvloop's counts in milliseconds).
_monotonic = time.monotonic

#: asyncio's plain selector transport got its own writelines() in 3.12, without the flow-control
#: check (TLS and uvloop transports do theirs).
_WRITELINES_SKIPS_FLOW_CONTROL = sys.version_info >= (3, 12)
_SELECTOR_TRANSPORT = getattr(selector_events, "_SelectorSocketTransport", None)


class Subscription:
    """One client's subscription, the value stored in the matcher under its filter."""

    __slots__ = ("client_id", "identifier", "identifiers", "no_local", "options", "qos", "retain_as_published")

    def __init__(self, client_id: str, options: Any, identifier: int | None) -> None:
        self.client_id = client_id
        self.options = options
        self.identifier = identifier
        #: what a delivery for this subscription alone carries: built once, not per message (read only).
        self.identifiers = [identifier] if identifier else None
        # The options routing reads for every message, as plain attributes of the record.
        self.no_local = bool(options.no_local)
        self.qos = int(options.qos)
        self.retain_as_published = bool(options.retain_as_published)


class Client:
    """A connected client: its connection, the way to write to it, and what it is to the broker.

    ``write`` is the transport's ``writelines`` (or anything that takes a
    list of buffers); ``close`` ends the network connection.
    """

    __slots__ = (
        "address",
        "client_id",
        "close",
        "closing",
        "connection",
        "logged_out",
        "paused",
        "username",
        "write",
    )

    def __init__(self, connection: Any, write: Any, close: Any, address: Any = None) -> None:
        self.connection = connection
        self.write = write
        self.close = close
        self.address = address
        self.client_id = ""
        self.username: str | None = None
        self.closing = False
        #: the line saying why this client went is logged (once, mosquitto's style).
        self.logged_out = False
        #: the transport's buffer is above its high-water mark: the client reads slower than we write.
        self.paused = False


class BrokerCore:
    """What ``Broker`` does for every read and every flush; its attributes are set by ``Broker.__init__``.

    Calls back into ``Broker`` (by name) for the rest: ``_handle``,
    ``route``, ``_deliver``, ``_internal_error``.
    """

    __slots__ = (
        "_default_hooks",
        "_own_route",
        "_received",
        "_sent",
        "_shared_count",
        "_stats",
        "auto_ack",
        "check_deliveries",
        "clients",
        "dirty",
        "matcher",
        "store",
    )

    _default_hooks: bool
    _own_route: bool
    _shared_count: int
    auto_ack: bool
    check_deliveries: bool
    clients: dict[str, Client]
    dirty: dict[Client, None]
    matcher: TopicMatcher
    store: Any
    _stats: dict[str, int]
    _received: int
    _sent: int

    #: the records this twin's routing reads: ``Broker`` makes its clients and subscriptions of them.
    client_class = Client
    subscription_class = Subscription

    @property
    def stats(self) -> dict[str, int]:
        """The counters (``$SYS``): read them here each time, as the ones of this twin's own path are
        added to the dict only when it is read (a dict update per message costs more than the rest
        of the counting, in the compiled twin)."""
        stats = self._stats
        if self._received:
            stats["messages_received"] += self._received
            self._received = 0
        if self._sent:
            stats["messages_sent"] += self._sent
            self._sent = 0
        return stats

    @stats.setter
    def stats(self, value: dict[str, int]) -> None:
        self._stats = value
        self._received = self._sent = 0

    def _plain_publish(self) -> bool:
        """Neither ``authorize_publish`` nor ``on_message`` replaced (by a subclass or on the instance,
        as ``FileAuth.install`` does) and acks automatic: messages are then routed without the calls
        that would only say yes."""
        hooks = self.__dict__
        return (
            self._default_hooks
            and self.auto_ack
            and "authorize_publish" not in hooks
            and "on_message" not in hooks
        )

    def data_received(self, client: Client, data: Any, now: float) -> None:
        """Bytes from ``client``'s socket: run its connection and act on the events."""
        connection = client.connection
        if type(data) is bytes and len(data) == 4 and data[0] == 0x40 and data[1] == 2:
            # A subscriber's acknowledgement alone in its read (a low rate): acted on without the
            # events nobody here reads (``receive_data`` would report a ``PublishCompleted``).
            if reads_lone_pubacks(type(connection)) and connection.puback_received(data[2] << 8 | data[3], now):
                if connection._out:  # the messages that waited for the room this ack made
                    self.dirty[client] = None
                return
        events = connection.receive_data(data, now)
        if len(events) == 1:
            # One event a read (a low rate): an ack of a delivery needs nothing, a plain message
            # is routed here, without ``_handle``'s frame and its plans. Neither can close the
            # connection (a close comes as a ``Disconnected``; routing marks what it touches), so
            # it is flushed only if it has something to write (``_out``, the queue of buffers of
            # both twins that ``buffers_to_send`` hands over): a QoS 0 publisher has nothing.
            event = events[0]
            kind = type(event)
            if kind is PublishCompleted:
                if connection._out:  # the messages that waited for the room this ack made
                    self.dirty[client] = None
                return
            if kind is MessageReceived and self._plain_publish():
                try:
                    self._received += 1
                    message = event.message
                    if not message.topic.startswith("$SYS"):
                        self.route(message, client.client_id, now)  # type: ignore[attr-defined]
                except Exception:
                    self._internal_error(client)  # type: ignore[attr-defined]
                    self.dirty[client] = None
                    return
                if connection._out:  # its PUBACK
                    self.dirty[client] = None
                return
        if events:
            try:
                self._handle(client, events, now)  # type: ignore[attr-defined]
            except Exception:
                self._internal_error(client)  # type: ignore[attr-defined]
        self.dirty[client] = None

    def _deliver_each(
        self, records: list[Any], message: Any, publisher: str | None, expires_at: float | None, now: float
    ) -> int:
        """``route``'s common case: no client has two of ``records`` and none is shared, so each record
        is one copy; a connected client that keeps up is delivered to in place, anything else takes
        ``_deliver``. The copies made (counted in ``messages_sent``)."""
        copies = 0
        clients = self.clients
        dirty = self.dirty
        check = self.check_deliveries
        plain = expires_at is None
        for record in records:
            client_id = record.client_id
            if record.no_local and client_id == publisher:
                continue
            client = clients.get(client_id)
            if client is None or check or client.paused or client.connection.closed:
                if self._deliver(client_id, (record,), message, expires_at, now):  # type: ignore[attr-defined]
                    copies += 1
                continue
            if plain and record.identifiers is None and not record.retain_as_published:
                client.connection.deliver(message, record.qos)  # the keywords' defaults: no keyword parsing
            else:
                client.connection.deliver(
                    message,
                    record.qos,
                    retain_as_published=record.retain_as_published,
                    subscription_identifiers=record.identifiers,
                    expires_at=expires_at,
                )
            dirty[client] = None
            copies += 1
        self._sent += copies
        return copies

    def flush(self) -> None:
        """Write what every touched connection has queued: one ``write`` per connection per pass.

        With a ``store``, the state of this pass is committed first, so no
        PUBACK/PUBREC leaves before its message is persisted.
        """
        if self.store is not None:
            self.store.save(self)
        dirty = self.dirty
        if not dirty:
            return
        self.dirty = {}
        for client in dirty:
            connection = client.connection
            buffers = connection.buffers_to_send()
            if client.closing:
                continue  # its transport is closed already: writing is pointless (and raises on 3.12.1)
            if buffers:
                client.write(buffers)
            if connection.closed and not client.closing:  # write() may have closed it
                client.closing = True
                client.close()


class Flusher:
    """Flushes ``broker`` now if no other read of this loop pass can join the writes, else once at its end.

    asyncio runs the callbacks of a pass by popping them from the loop's
    ``_ready`` queue (``ready``): empty means no other read of this pass can
    join the writes (a flush already scheduled is in it too, so it is not
    empty then). Where that queue is hidden (uvloop, ``ready`` None), a read
    ``now`` more than ``idle`` seconds after the last flush flushes at once.
    """

    __slots__ = ("broker", "flushed_at", "idle", "loop", "ready", "scheduled")

    def __init__(self, broker: Any, loop: Any, ready: Any, idle: float) -> None:
        self.broker = broker
        self.loop = loop
        self.ready = ready
        self.idle = idle
        self.scheduled = False
        #: when the last flush ended (``_monotonic``), for loops that hide their queue.
        self.flushed_at = 0.0

    def flush_soon(self, now: float) -> None:
        """Flush now if this read is alone in its pass, else once at the end of the pass."""
        if self.scheduled:
            return
        ready = self.ready
        if ready is None:
            if now - self.flushed_at > self.idle:
                self.broker.flush()
                self.flushed_at = _monotonic()
                return
        elif not ready:
            self.broker.flush()
            return
        self.scheduled = True
        self.loop.call_soon(self.run)

    def schedule(self) -> None:
        """Flush once at the end of this loop pass."""
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self.run)

    def run(self) -> None:
        """The scheduled flush."""
        self.scheduled = False
        self.broker.flush()
        self.flushed_at = _monotonic()


class ProtocolCore:
    """The asyncio protocol's work per read and per write; the server's ``_Protocol`` adds the rest.

    ``broker``, ``flusher`` and ``client`` are set by the subclass (``client``
    once the connection is made).
    """

    __slots__ = ("abort_timer", "broker", "client", "flusher", "joins", "loop", "server", "transport")

    abort_timer: Any
    broker: Any
    client: Client | None
    flusher: Flusher
    #: a batch goes out as one write() of the joined bytes (any transport but asyncio's socket one).
    joins: bool
    loop: Any
    server: Any
    transport: Any

    def __init__(self) -> None:
        self.joins = False  # as a new compiled one

    def attach(self, transport: Any) -> None:
        """Write to ``transport`` from now on (``connection_made``)."""
        self.transport = transport
        # asyncio's own socket transport sends a list at once (3.12+: sendmsg, no copy). uvloop's
        # writelines() only queues it until the end of the loop pass, and counts it against the
        # high-water mark meanwhile: a fan-in batch bigger than 64 KiB would pause a subscriber
        # that keeps up and have its QoS 0 messages dropped. Its write() tries the socket first,
        # so others get the batch joined (the copy asyncio's 3.11 and TLS writelines() make too).
        self.joins = type(transport) is not _SELECTOR_TRANSPORT

    def data_received(self, data: bytes) -> None:
        """A read: to the broker, then flushed (``Flusher.flush_soon``)."""
        now = _monotonic()
        self.broker.data_received(self.client, data, now)
        self.flusher.flush_soon(now)

    def write(self, buffers: list[Any]) -> None:
        """Write ``buffers`` (a flush's, never empty) to the transport."""
        # A transport closes (EOF, close()) a loop pass before connection_lost() tells us; writing
        # to it then is pointless, and on CPython 3.12/3.13 writelines() raises TypeError.
        transport = self.transport
        if transport.is_closing():
            return
        if len(buffers) == 1:
            # One packet (the PUBACK to a publisher, say): write() sends it as it is, where
            # writelines() would join a list (3.11) or build views for sendmsg (3.12+).
            transport.write(buffers[0])
        elif self.joins:
            transport.write(b"".join(buffers))
        else:
            transport.writelines(buffers)
            if _WRITELINES_SKIPS_FLOW_CONTROL and type(transport) is _SELECTOR_TRANSPORT:
                # CPython 3.12's selector writelines() never checks the high-water mark, so
                # pause_writing() (the slow-consumer policy) would never come: ask for the check.
                transport._maybe_pause_protocol()
