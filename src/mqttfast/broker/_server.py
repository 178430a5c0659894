"""The asyncio server that runs a ``Broker``: sockets in, one write per connection per loop pass.

What makes it fast is what the prototype showed: read whatever the socket
has (one ``receive_data`` per read, many packets each), and write once per
touched connection per pass of the event loop, with payloads passed to
``writelines`` uncopied. The flush runs at the end of a read when no other
read can join it (at a low rate, the common case: one message wakes the
loop), else it is scheduled with ``call_soon`` once per pass so the reads of
one pass share it; scheduling it when nothing else is waiting would cost a
second loop pass (an ``epoll_wait``, the loop's bookkeeping) per message.
"No other read can join it" is exact on asyncio's own loops (the read is the
last callback of the pass); uvloop hides its queue and calls reads straight
from its poll, so there a read flushes at once when the loop has been idle
since the last flush (``IDLE_FLUSH``): a busy broker's reads follow each
flush within microseconds and keep batching.

Slow consumers: when a client's transport buffer passes its high-water mark
(asyncio calls ``pause_writing``), QoS 0 messages to it are dropped and QoS
1/2 messages wait in its session (bounded by ``max_queued``); when that
queue is full too the client is disconnected (0x97 Quota exceeded, MQTT 5).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._core import TWIN, Broker, Client, _address

if TYPE_CHECKING:  # typed as the pure twin, whichever is loaded
    from .._broker_py import Flusher, ProtocolCore
else:
    Flusher = TWIN.Flusher
    ProtocolCore = TWIN.ProtocolCore

__all__ = ["BrokerServer"]

log = logging.getLogger("mqttfast.broker")

#: The clock of every ``now`` given to the broker, whatever the loop: asyncio's ``loop.time()``
#: returns it too, through a Python frame per read (uvloop's counts in milliseconds).
_monotonic = time.monotonic

#: Seconds without a flush after which a read on a loop that hides its queue (uvloop) flushes at
#: once: the loop slept, so this read is most likely alone in its pass. A busy loop reads again a
#: few microseconds after its last flush and schedules it; a peer's answer to what was just
#: written (a PUBACK) takes tens of microseconds to arrive.
IDLE_FLUSH = 25e-6

#: Seconds between two runs of the keep-alive, will-delay and session-expiry deadlines.
TICK = 0.5

#: Seconds a closing connection has to take what is still buffered for it before it is aborted.
CLOSE_TIMEOUT = 5.0


class _Protocol(ProtocolCore, asyncio.Protocol):
    # The read and the write (``data_received``, ``write``) are the twin's ``ProtocolCore``.
    __slots__ = ()

    def __init__(self, server: BrokerServer) -> None:
        self.server = server
        self.loop = server.loop
        self.broker = server.broker
        self.flusher = server._flusher
        self.client: Client | None = None
        self.abort_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        self.attach(transport)
        peer = transport.get_extra_info("peername")
        self.client = self.server.broker.new_connection(self.write, self.close, peer)
        self.server.protocols.add(self)
        log.info(
            "New connection from %s on port %s.",
            _address(peer),
            self.server.port_of(transport),
        )

    def close(self) -> None:
        # A socket closed while its peer still sends (a PUBREL for the PUBREC just before our
        # DISCONNECT, say) answers with a reset, and the peer's next send fails before it has read
        # our reason code. So where the transport can, our side ends with a FIN after what is
        # buffered, and what still comes is read and ignored (the connection is closed) until the
        # peer's own EOF closes the transport. Either way, a peer that stops reading or never
        # closes would keep it forever (a slow consumer told 0x97): abort it after a while.
        transport = self.transport
        try:
            if not transport.can_write_eof():
                raise OSError("no half-close on this transport")
            transport.write_eof()
        except OSError:  # or the peer is gone already (ENOTCONN)
            transport.close()
        if self.abort_timer is None:
            self.abort_timer = self.loop.call_later(CLOSE_TIMEOUT, self.transport.abort)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self.abort_timer is not None:
            self.abort_timer.cancel()
        self.server.protocols.discard(self)
        client = self.client
        if client is None:
            return
        client.closing = True  # nothing more can be written to it
        if exc is not None and not client.logged_out:
            client.logged_out = True
            log.info(
                "Socket error on client %s, disconnecting.",
                client.client_id or "<unknown>",
            )
        elif client.connection.closed and not client.logged_out:
            client.logged_out = True  # closed by us without an event (shutdown, slow consumer)
            log.info("Client %s disconnected.", client.client_id or "<unknown>")
        self.server.broker.connection_lost(client, _monotonic())
        self.server.schedule_flush()

    def pause_writing(self) -> None:
        if self.client is not None:
            self.client.paused = True

    def resume_writing(self) -> None:
        if self.client is not None:
            self.client.paused = False
            self.server.broker.resumed(self.client)
            self.server.schedule_flush()


class BrokerServer:
    """Listens on TCP (and optionally TLS and WebSocket) and runs ``broker``'s connections.

    ``await start()`` binds, ``await serve_forever()`` runs until ``close()``.
    ``ws_port`` needs the ``websockets`` library (``mqttfast[broker-ws]``).
    """

    def __init__(
        self,
        broker: Broker | None = None,
        host: str = "127.0.0.1",
        port: int = 1883,
        *,
        tls_port: int | None = None,
        ssl_context: ssl.SSLContext | None = None,
        ws_port: int | None = None,
    ) -> None:
        self.broker = broker if broker is not None else Broker()
        self.host = host
        self.port = port
        self.tls_port = tls_port
        self.ssl_context = ssl_context
        self.servers: list[asyncio.base_events.Server] = []
        self.ws_port = ws_port
        self.ws_server: Any = None
        #: every open connection (TCP, TLS or WebSocket), each with its broker ``client``.
        self.protocols: set[Any] = set()
        #: when a read's writes go out (set by ``bind_loop``).
        self._flusher: Flusher
        self._ticker: asyncio.TimerHandle | None = None
        #: set to stop the ticker thread (asyncio's own loops, ``start``).
        self._tick_stop = threading.Event()
        self._closed: asyncio.Event | None = None
        self.loop: Any = None
        #: the clock of every ``now`` the broker is given (keep alive, expiry, will delay).
        self.clock = _monotonic
        #: called with ``now`` after each tick of the broker (every ``TICK`` seconds), then flushed.
        self.on_tick: Callable[[float], None] | None = None

    async def start(self) -> None:
        """Bind the listeners (port 0 picks a free port: see ``ports``)."""
        self.bind_loop(asyncio.get_running_loop())
        self._closed = asyncio.Event()
        store = self.broker.store
        if store is not None:
            # Deadlines are kept on the broker's clock: the store converts them from and to wall time.
            store.clock = self.clock
            store.restore(self.broker, _monotonic())
        server = await self.loop.create_server(
            lambda: _Protocol(self), self.host, self.port, reuse_address=True
        )
        self.servers.append(server)
        if self.tls_port is not None and self.ssl_context is not None:
            self.servers.append(
                await self.loop.create_server(
                    lambda: _Protocol(self),
                    self.host,
                    self.tls_port,
                    ssl=self.ssl_context,
                    reuse_address=True,
                )
            )
        if self.ws_port is not None:
            from ._websocket import serve_websocket

            self.ws_server = await serve_websocket(self, self.host, self.ws_port)
        for port in self.ports:
            log.info("Opening ipv4 listen socket on port %s.", port)
        if self._flusher.ready is None:
            self._ticker = self.loop.call_later(TICK, self._tick)
        else:
            # asyncio's own loops compute a select timeout with min() and max() in Python on every
            # pass while a timer is scheduled (a few thousand instructions a message at a low
            # rate): the tick comes from a thread instead, which leaves them no timer at all.
            self._tick_stop = threading.Event()
            threading.Thread(target=self._ticking, name="mqttfast-broker-tick", daemon=True).start()

    @property
    def ports(self) -> list[int]:
        """The bound ports, in the order of the listeners (TCP, then TLS, then WebSocket)."""
        ports = [
            sock.getsockname()[1] for server in self.servers for sock in server.sockets
        ]
        if self.ws_server is not None:
            ports.append(self.ws_port_bound)
        return ports

    @property
    def ws_port_bound(self) -> int | None:
        """The WebSocket listener's port (None without one)."""
        if self.ws_server is None:
            return None
        return self.ws_server.sockets[0].getsockname()[1]  # type: ignore[no-any-return]

    def port_of(self, transport: Any) -> Any:
        sockname = transport.get_extra_info("sockname")
        return sockname[1] if sockname else "?"

    def bind_loop(self, loop: Any, ready: Any = None) -> None:
        """Run on ``loop`` (``start`` does it): its queue of callbacks due this pass, where visible
        (asyncio's own loops' ``_ready``, or ``ready``), tells when a read flushes (``flush_soon``)."""
        self.loop = loop
        if ready is None:
            ready = getattr(loop, "_ready", None)
        self._flusher = Flusher(
            self.broker, loop, ready if isinstance(ready, collections.deque) else None, IDLE_FLUSH
        )

    def flush_soon(self, now: float) -> None:
        """Flush now if no other read of this loop pass can join the writes, else once at its end.

        asyncio runs the callbacks of a pass by popping them from the loop's
        ``_ready`` queue: empty means no other read of this pass can join the
        writes (a flush already scheduled is in it too, so it is not empty then).
        Where that queue is hidden (uvloop), a read ``now`` more than
        ``IDLE_FLUSH`` after the last flush flushes at once.
        """
        self._flusher.flush_soon(now)

    def schedule_flush(self) -> None:
        """Flush once at the end of this loop pass."""
        self._flusher.schedule()

    def _tick(self) -> None:
        self._run_tick()
        self._ticker = self.loop.call_later(TICK, self._tick)

    def _run_tick(self) -> None:
        now = _monotonic()
        self.broker.tick(now)
        if self.on_tick is not None:
            self.on_tick(now)
        self.broker.flush()

    def _ticking(self) -> None:
        # The ticker thread: it only asks the loop to run the tick (the broker is the loop's alone).
        stop = self._tick_stop
        while not stop.wait(TICK):
            try:
                self.loop.call_soon_threadsafe(self._run_tick)
            except RuntimeError:
                return  # the loop is closed

    async def serve_forever(self) -> None:
        """Run until ``close()``."""
        assert self._closed is not None, "start() first"
        await self._closed.wait()

    async def close(self) -> None:
        """Stop listening, say goodbye to every client (0x8B Server shutting down in 5.0), close."""
        if self._ticker is not None:
            self._ticker.cancel()
        self._tick_stop.set()
        for server in self.servers:
            server.close()
        if self.ws_server is not None:
            # Our DISCONNECT goes first; each WebSocket closes once it is written.
            self.ws_server.close(close_connections=False)
        for protocol in list(self.protocols):
            client = protocol.client
            if client is not None:
                client.connection.disconnect(0x8B)
                self.broker.dirty[client] = None
        self.broker.flush()
        for protocol in list(self.protocols):
            if isinstance(protocol, _Protocol):  # shutting down: no waiting for the peers' EOF
                protocol.transport.close()
        for server in self.servers:
            await server.wait_closed()
        if self.ws_server is not None:
            await self.ws_server.wait_closed()
        store = self.broker.store
        if store is not None:
            # A last full save; the connections closing after it are detached again at the next start.
            self.broker.store = None
            store.save_all(self.broker)
            store.close()
        if self._closed is not None:
            self._closed.set()
