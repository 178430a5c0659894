"""The byte pipes under a client connection: TCP (optionally TLS) and WebSocket.

A link moves bytes and nothing else; the MQTT rules live in
``ClientConnection``. Both kinds offer the same few calls to the client:
``writelines(buffers)``, ``pause_reading()``, ``resume_reading()``,
``drain()`` (wait while the kernel's send buffer is full), ``close()`` and
``bytes_waiting()`` (what the kernel holds for us, unread),
and report to two callbacks: ``on_data(view)`` for every read (the view is
only valid during the call: the connection copies what it keeps) and
``on_lost(exc)`` once at the end.
"""

from __future__ import annotations

import asyncio
import ssl
import sys
from collections.abc import Callable
from typing import Any

try:
    import fcntl
    import termios
except ImportError:  # pragma: no cover - not on POSIX: bytes_waiting() cannot tell
    fcntl = termios = None  # type: ignore[assignment]

__all__ = ["Link", "TcpLink", "open_tcp", "open_websocket"]

DataCallback = Callable[[Any], None]
LostCallback = Callable[[BaseException | None], None]

#: Bytes read from the socket in one call; a bigger buffer means fewer wake-ups under load.
READ_SIZE = 256 * 1024


class Link:
    """The calls a client makes on its pipe (see the module docstring)."""

    @property
    def must_drain(self) -> bool:
        """True when a QoS 0 publish must await ``drain()`` before it returns (the link cannot take more now)."""
        return True

    def writelines(self, buffers: list[Any]) -> None:
        raise NotImplementedError

    def pause_reading(self) -> None:
        raise NotImplementedError

    def resume_reading(self) -> None:
        raise NotImplementedError

    async def drain(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def bytes_waiting(self) -> int:
        """Bytes received by the kernel and not read yet; 0 when the link cannot tell."""
        return 0


class TcpLink(asyncio.BufferedProtocol, Link):
    """An ``asyncio.BufferedProtocol``: the loop reads straight into one reused buffer.

    The connection's decoder copies the bytes it needs out of the view
    during ``on_data``, so the same buffer serves every read.
    """

    def __init__(self, on_data: DataCallback, on_lost: LostCallback) -> None:
        self._on_data = on_data
        self._on_lost = on_lost
        self._view = memoryview(bytearray(READ_SIZE))
        self._transport: asyncio.Transport | None = None
        self._write_paused = False
        self._drained: asyncio.Future[None] | None = None
        self._lost = False
        self._fd = -1
        self._count = bytearray(4)  # FIONREAD's answer, a C int

    # ---- asyncio.BufferedProtocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            self._fd = sock.fileno()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        self._on_data(self._view[:nbytes])

    def eof_received(self) -> bool:
        return False  # let the transport close: MQTT has no half-closed state

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._wake_drain()
        self._on_lost(exc)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_drain()

    # ---- Link -------------------------------------------------------------------------------

    @property
    def must_drain(self) -> bool:
        return self._write_paused and not self._lost

    def writelines(self, buffers: list[Any]) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.writelines(buffers)

    def pause_reading(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()

    async def drain(self) -> None:
        if self._write_paused and not self._lost:
            if self._drained is None:
                self._drained = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._drained)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def bytes_waiting(self) -> int:
        # Over TLS this counts encrypted bytes: near enough to tell a batch from a trickle.
        if fcntl is None or self._fd < 0 or self._lost:
            return 0
        try:
            fcntl.ioctl(self._fd, termios.FIONREAD, self._count)
        except OSError:
            return 0
        return int.from_bytes(self._count, sys.byteorder)

    def _wake_drain(self) -> None:
        if self._drained is not None:
            if not self._drained.done():
                self._drained.set_result(None)
            self._drained = None


async def open_tcp(
    host: str,
    port: int,
    on_data: DataCallback,
    on_lost: LostCallback,
    tls_context: ssl.SSLContext | None,
) -> Link:
    """Connect over TCP (TLS when ``tls_context`` is given); the link, reading already."""
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(
        lambda: TcpLink(on_data, on_lost),
        host,
        port,
        ssl=tls_context,
        server_hostname=host if tls_context is not None else None,
    )
    return protocol


class WebSocketLink(Link):
    """MQTT over WebSocket (subprotocol ``mqtt``, binary frames), on the ``websockets`` package.

    One task reads frames into ``on_data`` (paused by waiting on an event:
    ``websockets`` then stops reading the socket once its own small queue is
    full); one task writes, so that frames leave in the order written.
    """

    def __init__(self, websocket: Any, on_data: DataCallback, on_lost: LostCallback) -> None:
        self._ws = websocket
        self._on_data = on_data
        self._on_lost = on_lost
        self._reading = asyncio.Event()
        self._reading.set()
        self._pending: list[Any] = []
        self._wake_writer = asyncio.Event()
        self._closed = False
        self._reader = asyncio.create_task(self._read())
        self._writer = asyncio.create_task(self._write())

    async def _read(self) -> None:
        error: BaseException | None = None
        try:
            async for frame in self._ws:
                if not self._reading.is_set():
                    await self._reading.wait()
                if isinstance(frame, str):
                    raise ValueError("MQTT over WebSocket needs binary frames, not text")
                self._on_data(frame)
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # the link reports every failure as a lost connection
            error = exc
        finally:
            self._closed = True
            self._writer.cancel()
            self._on_lost(error)

    async def _write(self) -> None:
        try:
            while True:
                await self._wake_writer.wait()
                self._wake_writer.clear()
                data = b"".join(self._pending)
                self._pending.clear()
                if data:
                    await self._ws.send(data)
        except asyncio.CancelledError:
            pass
        except Exception:
            await self._ws.close()  # the reader then reports the loss

    def writelines(self, buffers: list[Any]) -> None:
        if not self._closed:
            self._pending.extend(buffers)
            self._wake_writer.set()

    def pause_reading(self) -> None:
        self._reading.clear()

    def resume_reading(self) -> None:
        self._reading.set()

    async def drain(self) -> None:
        await asyncio.sleep(0)

    def close(self) -> None:
        if not self._closed:
            asyncio.create_task(self._close())

    async def _close(self) -> None:
        # Give the writer the bytes already queued (a DISCONNECT) before the close frame.
        for _ in range(3):
            if not self._pending:
                break
            await asyncio.sleep(0)
        await self._ws.close()


async def open_websocket(
    host: str,
    port: int,
    on_data: DataCallback,
    on_lost: LostCallback,
    tls_context: ssl.SSLContext | None,
    path: str,
    headers: dict[str, str] | None,
) -> Link:
    """Connect with a WebSocket (``ws://`` or ``wss://``); needs the ``websockets`` package (extra ``client-ws``)."""
    try:
        from websockets.asyncio.client import connect
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError(
            'transport="websockets" needs the websockets package: pip install "mqttfast[client-ws]"'
        ) from exc
    scheme = "wss" if tls_context is not None else "ws"
    if not path.startswith("/"):
        path = "/" + path
    websocket = await connect(
        f"{scheme}://{host}:{port}{path}",
        subprotocols=["mqtt"],  # type: ignore[list-item]
        ssl=tls_context,
        additional_headers=headers,
        compression=None,
        max_size=None,
    )
    return WebSocketLink(websocket, on_data, on_lost)
