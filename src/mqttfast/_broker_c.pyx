"""The broker's work per read and per flush, compiled: the twin of ``_broker_py.py`` (its specification).

Same classes, same attributes, same calls back into ``Broker`` by name; what
changes is that the records are C structs (``Client``, ``Subscription``: a
field read, not an attribute lookup), and that a read with one plain message
goes from the protocol through the connection, the matcher and the
deliveries to the flush without a Python frame: ``ProtocolCore`` calls
``BrokerCore`` and ``Flusher`` as C when they are this module's own (not
overridden by a subclass), and ``BrokerCore`` runs ``route``'s plain case
(not retained, no expiry, no shared or overlapping subscription) itself.
"""

import sys
from asyncio import selector_events

from cpython.bytes cimport PyBytes_AS_STRING
from cpython.unicode cimport PyUnicode_Tailmatch


cdef extern from "Python.h":
    object PyObject_GenericGetDict(object o, void* context)


cdef extern from *:
    """
    /* time.monotonic()'s value, read from CPython's own clock as a C double: no call of the builtin
       and no float object, twice a read. */
    static double mqttfast_monotonic(void) {
    #if PY_VERSION_HEX >= 0x030D0000
        PyTime_t t;
        if (PyTime_Monotonic(&t) < 0) return -1.0;
        return PyTime_AsSecondsDouble(t);
    #else
        return _PyTime_AsSecondsDouble(_PyTime_GetMonotonicClock());
    #endif
    }
    """
    double mqttfast_monotonic() except? -1.0

from ._events import MessageReceived, PublishCompleted
from ._connection_c cimport Connection
from ._connection_c import ServerConnection as _ServerConnection
from ._connection_common import reads_lone_pubacks
from ._packets_c cimport Publish

__all__ = ["BrokerCore", "Client", "Flusher", "ProtocolCore", "Subscription"]

# C statics, not module-dict lookups, on the path of every message.
cdef object _MessageReceived = MessageReceived
cdef object _PublishCompleted = PublishCompleted
cdef bint _WRITELINES_SKIPS_FLOW_CONTROL = sys.version_info >= (3, 12)
cdef object _SELECTOR_TRANSPORT = getattr(selector_events, "_SelectorSocketTransport", None)


cdef inline bint _is_sys(topic) except -1:
    # topic.startswith("$SYS") without the method lookup (topics are str on both session twins).
    if type(topic) is str:
        return PyUnicode_Tailmatch(topic, "$SYS", 0, len(<str>topic), -1) == 1
    return topic.startswith("$SYS")


cdef class ProtocolCore  # (below) what a Client's write may belong to


cdef class Subscription:
    """One client's subscription, the value stored in the matcher under its filter."""

    cdef public object client_id, options, identifier
    #: what a delivery for this subscription alone carries: built once, not per message (read only).
    cdef public object identifiers
    cdef public bint no_local, retain_as_published
    cdef public long qos

    def __init__(self, client_id, options, identifier):
        self.client_id = client_id
        self.options = options
        self.identifier = identifier
        self.identifiers = [identifier] if identifier else None
        self.no_local = bool(options.no_local)
        self.qos = int(options.qos)
        self.retain_as_published = bool(options.retain_as_published)


cdef class Client:
    """A connected client: its connection, the way to write to it, and what it is to the broker.

    ``write`` is the transport's ``writelines`` (or anything that takes a
    list of buffers); ``close`` ends the network connection.
    """

    cdef public object address, client_id, close, username
    cdef public bint closing, logged_out, paused
    cdef object _write
    # The protocol whose ``write`` ``write`` is, when it is this module's own: called as C.
    cdef ProtocolCore _protocol
    cdef object _connection
    # The connection when it is the compiled twin's own ServerConnection (its methods not replaced
    # by a subclass): its state is then read, and its methods called, as C.
    cdef Connection _own
    # Else its methods of every message, bound once (when ``connection`` is set), and the getter
    # of its ``closed`` property (a property of the class: nothing on the instance hides it).
    cdef object _receive_data, _puback_received, _deliver, _buffers_to_send, _closed

    @property
    def connection(self):
        return self._connection

    @connection.setter
    def connection(self, value):
        self._connection = value
        self._own = _own_connection(value)
        self._receive_data = getattr(value, "receive_data", None)
        self._puback_received = value.puback_received if reads_lone_pubacks(type(value)) else None
        self._deliver = getattr(value, "deliver", None)
        self._buffers_to_send = getattr(value, "buffers_to_send", None)
        closed = getattr(type(value), "closed", None)
        self._closed = closed.fget if type(closed) is property else None

    @property
    def write(self):
        return self._write

    @write.setter
    def write(self, value):
        self._write = value
        protocol = getattr(value, "__self__", None)
        if (
            isinstance(protocol, ProtocolCore)
            and getattr(type(protocol), "write", None) is ProtocolCore.write
            and value == protocol.write  # that method, not another of the protocol's
        ):
            self._protocol = <ProtocolCore>protocol
        else:
            self._protocol = None

    cdef inline int _send(self, buffers) except -1:
        if self._protocol is not None:
            self._protocol._write_c(buffers)
        else:
            self._write(buffers)
        return 0

    cdef inline bint _connection_closed(self) except -1:
        if self._own is not None:
            return self._own._closed_c()
        if self._closed is not None:
            return self._closed(self._connection)
        return self._connection.closed

    cdef inline list _receive(self, data, now):
        if self._own is not None:
            return self._own._receive_data_c(data, now)
        return self._receive_data(data, now)

    cdef inline bint _lone_puback(self, long packet_id, now) except -1:
        # Whether the connection took a read of one PUBACK for ``packet_id`` (``puback_received``,
        # bound only where ``reads_lone_pubacks`` allows it, the pure twin's rule).
        if self._puback_received is None:
            return False
        if self._own is not None:
            return self._own._puback_received_c(packet_id, now)
        return self._puback_received(packet_id, now)

    cdef inline bint _has_output(self) except -1:
        if self._own is not None:
            return len(self._own._out) != 0
        return bool(self._connection._out)

    cdef inline object _deliver_to(self, message, qos, retain_as_published, identifiers, expires_at):
        if self._own is not None:
            return self._own._deliver_c(message, qos, retain_as_published, False, identifiers, expires_at)
        if identifiers is None and expires_at is None and not retain_as_published:
            return self._deliver(message, qos)  # the keywords' defaults: no keyword parsing
        return self._deliver(
            message,
            qos,
            retain_as_published=retain_as_published,
            subscription_identifiers=identifiers,
            expires_at=expires_at,
        )

    cdef inline object _take_buffers(self):
        if self._own is not None:
            return self._own._take_buffers()
        return self._buffers_to_send()

    cdef inline int _recycle(self, buffers) except -1:
        # ``buffers`` written by this module's own protocol, which hands the transport the list's
        # items, never the list (a WebSocket's write, or TLS's writelines, may keep it): given back
        # to be the connection's next output list.
        if self._own is not None and self._protocol is not None:
            self._own._recycle_buffers(buffers)
        return 0

    def __init__(self, connection, write, close, address=None):
        self.connection = connection
        self.write = write
        self.close = close
        self.address = address
        self.client_id = ""
        self.username = None
        self.closing = False
        self.logged_out = False
        self.paused = False


cdef class BrokerCore:
    """What ``Broker`` does for every read and every flush; its attributes are set by ``Broker.__init__``.

    Calls back into ``Broker`` (by name) for the rest: ``_handle``,
    ``route``, ``_deliver``, ``_internal_error``.
    """

    cdef public object matcher, store
    cdef public dict clients, dirty
    cdef dict _stats
    # The dict of the last flush, emptied, to be the next pass's ``dirty``: one dict fewer made and
    # freed per flush.
    cdef dict _spare_dirty
    # Counted here, added to ``stats`` whenever it is read (a dict update per message costs more
    # than the rest of the counting path).
    cdef Py_ssize_t _received, _sent
    cdef public bint _default_hooks, _own_route, auto_ack, check_deliveries
    cdef public Py_ssize_t _shared_count
    # The instance's ``__dict__`` (``Broker``'s subclass gives it one), where hooks set on the
    # instance are: looked up once.
    cdef dict _instance_dict

    #: the records this twin's routing reads: ``Broker`` makes its clients and subscriptions of them.
    client_class = Client
    subscription_class = Subscription

    cdef inline bint _plain(self) except -1:
        if not (self._default_hooks and self.auto_ack):
            return False
        if self._instance_dict is None:
            self._instance_dict = PyObject_GenericGetDict(self, NULL)
        hooks = self._instance_dict
        return "authorize_publish" not in hooks and "on_message" not in hooks

    def _plain_publish(self):
        """Neither ``authorize_publish`` nor ``on_message`` replaced (by a subclass or on the instance,
        as ``FileAuth.install`` does) and acks automatic: messages are then routed without the calls
        that would only say yes."""
        return self._plain()

    def data_received(self, Client client not None, data, now):
        """Bytes from ``client``'s socket: run its connection and act on the events."""
        self._data_received(client, data, now)

    cdef int _data_received(self, Client client, data, now) except -1:
        cdef Py_ssize_t count
        cdef const unsigned char* ack
        if type(data) is bytes and len(<bytes>data) == 4:
            # A subscriber's acknowledgement alone in its read: see the pure twin.
            ack = <const unsigned char*>PyBytes_AS_STRING(data)
            if ack[0] == 0x40 and ack[1] == 2 and client._lone_puback(ack[2] << 8 | ack[3], now):
                if client._has_output():
                    self.dirty[client] = None
                return 0
        events = client._receive(data, now)
        count = len(events)
        if count == 1:
            event = events[0]
            kind = type(event)
            if kind is _PublishCompleted:
                if client._has_output():
                    self.dirty[client] = None
                return 0
            if kind is _MessageReceived and self._plain():
                try:
                    self._received += 1
                    message = event.message
                    topic = (<Publish>message).topic if type(message) is Publish else message.topic
                    if not _is_sys(topic):
                        self._route_plain(message, topic, client.client_id, now)
                except Exception:
                    self._internal_error(client)
                    self.dirty[client] = None
                    return 0
                if client._has_output():
                    self.dirty[client] = None
                return 0
        if count:
            try:
                self._handle(client, events, now)
            except Exception:
                self._internal_error(client)
        self.dirty[client] = None
        return 0

    @property
    def stats(self):
        """The counters (``$SYS``): read them here each time, as the ones of this twin's own path are
        added to the dict only when it is read."""
        cdef dict stats = self._stats
        if self._received:
            stats["messages_received"] += self._received
            self._received = 0
        if self._sent:
            stats["messages_sent"] += self._sent
            self._sent = 0
        return stats

    @stats.setter
    def stats(self, dict value):
        self._stats = value
        self._received = self._sent = 0

    cdef int _route_plain(self, message, topic, publisher, now) except -1:
        # ``route`` without its frame for what it does most: a message neither retained nor
        # expiring, while no subscription is shared, to clients with one matching record each.
        # Anything else goes to ``route`` itself (which matches again: overlaps are rare).
        cdef Publish packet
        cdef bint plain
        if type(message) is Publish:  # the compiled session's: its fields read as C
            packet = <Publish>message
            packet._load()  # the MQTT 5 properties, still in their block until read
            plain = not packet.retain and packet._message_expiry_interval is None
        else:
            plain = not message.retain and message.message_expiry_interval is None
        if not plain or not self._own_route or self._shared_count:
            self.route(message, publisher, now)
            return 0
        records = self.matcher.match(topic)
        if type(records) is not list or (len(<list>records) > 1 and not _distinct(<list>records)):
            self.route(message, publisher, now)
            return 0
        self._deliver_each_c(<list>records, message, publisher, None, now)
        return 0

    def _deliver_each(self, records, message, publisher, expires_at, now):
        """``route``'s common case: no client has two of ``records`` and none is shared, so each record
        is one copy; a connected client that keeps up is delivered to in place, anything else takes
        ``_deliver``. The copies made (counted in ``messages_sent``)."""
        return self._deliver_each_c(records if type(records) is list else list(records), message, publisher, expires_at, now)

    cdef Py_ssize_t _deliver_each_c(self, list records, message, publisher, expires_at, now) except -1:
        cdef Subscription record
        cdef Client client
        cdef Py_ssize_t copies = 0
        cdef dict clients = self.clients
        cdef dict dirty = self.dirty
        cdef bint check = self.check_deliveries
        for value in records:
            record = <Subscription?>value
            client_id = record.client_id
            if record.no_local and client_id == publisher:
                continue
            found = clients.get(client_id)
            if found is not None:
                client = <Client?>found
            if found is None or check or client.paused or client._connection_closed():
                if self._deliver(client_id, (record,), message, expires_at, now):
                    copies += 1
                continue
            client._deliver_to(message, record.qos, record.retain_as_published, record.identifiers, expires_at)
            dirty[client] = None
            copies += 1
        self._sent += copies
        return copies

    def flush(self):
        """Write what every touched connection has queued: one ``write`` per connection per pass.

        With a ``store``, the state of this pass is committed first, so no
        PUBACK/PUBREC leaves before its message is persisted.
        """
        self._flush()

    cdef int _flush(self) except -1:
        cdef Client client
        if self.store is not None:
            self.store.save(self)
        cdef dict dirty = self.dirty
        if not dirty:
            return 0
        spare = self._spare_dirty
        self._spare_dirty = None  # a flush from within this one makes its own
        self.dirty = spare if spare is not None else {}
        for value in dirty:
            client = <Client?>value
            buffers = client._take_buffers()
            if client.closing:
                continue  # its transport is closed already: writing is pointless (and raises on 3.12.1)
            if buffers:
                client._send(buffers)
                client._recycle(buffers)
            if client._connection_closed() and not client.closing:  # write() may have closed it
                client.closing = True
                client.close()
        dirty.clear()
        self._spare_dirty = dirty
        return 0


cdef bint _distinct(list records) except -1:
    # No client with two of ``records`` (route's test for its common case).
    cdef set seen = set()
    for record in records:
        seen.add(record.client_id)
    return len(seen) == len(records)


cdef Connection _own_connection(connection):
    # ``connection`` when it is the compiled twin's ServerConnection, or a subclass that replaces none
    # of the methods this module calls as C; else None, and they are called by name.
    if not isinstance(connection, Connection):
        return None
    kind = type(connection)
    if kind is not _ServerConnection:
        for name in ("receive_data", "puback_received", "deliver", "buffers_to_send", "closed"):
            if getattr(kind, name, None) is not getattr(_ServerConnection, name):
                return None
    return <Connection>connection


cdef inline BrokerCore _own_core(broker, str method):
    # ``broker`` when ``method`` is this module's own (not overridden by a subclass): then it is
    # called as C; else None, and it is called by name.
    if isinstance(broker, BrokerCore) and getattr(type(broker), method) is getattr(BrokerCore, method):
        return <BrokerCore>broker
    return None


cdef class Flusher:
    """Flushes ``broker`` now if no other read of this loop pass can join the writes, else once at its end.

    asyncio runs the callbacks of a pass by popping them from the loop's
    ``_ready`` queue (``ready``): empty means no other read of this pass can
    join the writes (a flush already scheduled is in it too, so it is not
    empty then). Where that queue is hidden (uvloop, ``ready`` None), a read
    ``now`` more than ``idle`` seconds after the last flush flushes at once.
    """

    cdef readonly object broker
    cdef public object loop, ready
    cdef public double idle, flushed_at
    cdef public bint scheduled
    cdef BrokerCore _core

    def __init__(self, broker, loop, ready, double idle):
        self.broker = broker
        self._core = _own_core(broker, "flush")
        self.loop = loop
        self.ready = ready
        self.idle = idle
        self.scheduled = False
        self.flushed_at = 0.0

    cdef inline int _flush_broker(self) except -1:
        if self._core is not None:
            self._core._flush()
        else:
            self.broker.flush()
        return 0

    def flush_soon(self, now):
        """Flush now if this read is alone in its pass, else once at the end of the pass."""
        self._flush_soon(now)

    cdef int _flush_soon(self, double now) except -1:
        if self.scheduled:
            return 0
        ready = self.ready
        if ready is None:
            if now - self.flushed_at > self.idle:
                self._flush_broker()
                self.flushed_at = mqttfast_monotonic()
                return 0
        elif not ready:
            self._flush_broker()
            return 0
        self.scheduled = True
        self.loop.call_soon(self.run)
        return 0

    def schedule(self):
        """Flush once at the end of this loop pass."""
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self.run)

    def run(self):
        """The scheduled flush."""
        self.scheduled = False
        self._flush_broker()
        self.flushed_at = mqttfast_monotonic()


cdef class ProtocolCore:
    """The asyncio protocol's work per read and per write; the server's ``_Protocol`` adds the rest.

    ``broker``, ``flusher`` and ``client`` are set by the subclass (``client``
    once the connection is made).
    """

    cdef public object abort_timer, client, loop, server, transport
    # A batch goes out as one write() of the joined bytes (any transport but asyncio's socket one).
    cdef public bint joins
    cdef object _broker, _flusher
    # The two above when they are this module's own: called as C.
    cdef BrokerCore _core
    cdef Flusher _own_flusher

    @property
    def broker(self):
        return self._broker

    @broker.setter
    def broker(self, value):
        self._broker = value
        self._core = _own_core(value, "data_received")

    @property
    def flusher(self):
        return self._flusher

    @flusher.setter
    def flusher(self, value):
        self._flusher = value
        self._own_flusher = value if type(value) is Flusher else None

    def attach(self, transport):
        """Write to ``transport`` from now on (``connection_made``)."""
        self.transport = transport
        # Joined for any transport but asyncio's socket one (uvloop's writelines() queues until
        # the end of the pass, counted against the high-water mark): see the pure twin.
        self.joins = type(transport) is not _SELECTOR_TRANSPORT

    def data_received(self, data):
        """A read: to the broker, then flushed (``Flusher.flush_soon``)."""
        cdef double clock = mqttfast_monotonic()
        now = clock
        client = self.client
        if self._core is not None and type(client) is Client:
            self._core._data_received(<Client>client, data, now)
        else:
            self._broker.data_received(client, data, now)
        if self._own_flusher is not None:
            self._own_flusher._flush_soon(clock)
        else:
            self._flusher.flush_soon(now)

    def write(self, buffers):
        """Write ``buffers`` (a flush's, never empty) to the transport."""
        self._write_c(buffers)

    cdef int _write_c(self, buffers) except -1:
        transport = self.transport
        if transport.is_closing():
            return 0
        if len(buffers) == 1:
            transport.write(buffers[0])
        elif self.joins:
            transport.write(b"".join(buffers))
        else:
            transport.writelines(buffers)
            if _WRITELINES_SKIPS_FLOW_CONTROL and type(transport) is _SELECTOR_TRANSPORT:
                transport._maybe_pause_protocol()
        return 0
