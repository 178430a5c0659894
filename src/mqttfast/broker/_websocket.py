"""MQTT over WebSocket (§6): a listener built on the ``websockets`` library, feeding the same ``Broker``.

Optional: install ``mqttfast[broker-ws]``. The library is imported only when
a WebSocket port is asked for, so the broker runs without it otherwise.

Each WebSocket connection is one broker ``Client``: binary frames in go to
``Broker.data_received`` whole (a frame may hold part of a packet or several
[MQTT-6.0.0-2]), and each ``write`` of the broker becomes one binary frame,
sent in order by one writer task per connection. A text frame closes the
connection [MQTT-6.0.0-1]. The subprotocol is ``mqtt`` [MQTT-6.0.0-3].
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ._core import Client, _address

__all__ = ["serve_websocket"]

log = logging.getLogger("mqttfast.broker")

#: Frames queued to one client before it counts as a slow consumer (see ``Broker.resumed``).
HIGH_WATER = 64
LOW_WATER = 16


def _websockets() -> Any:
    try:
        from websockets.asyncio.server import serve
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "--ws-port needs the websockets library: pip install 'mqttfast[broker-ws]'"
        ) from exc
    return serve


class _WebSocketConnection:
    """One WebSocket client: reads frames into the broker, writes the broker's bytes as frames."""

    def __init__(self, server: Any, websocket: Any) -> None:
        self.server = server
        self.websocket = websocket
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.client: Client = server.broker.new_connection(
            self.write, self.close, websocket.remote_address
        )

    def write(self, buffers: list[Any]) -> None:
        self.queue.put_nowait(b"".join(buffers))
        if self.queue.qsize() > HIGH_WATER:
            self.client.paused = True

    def close(self) -> None:
        self.queue.put_nowait(None)

    async def _send_all(self) -> None:
        queue = self.queue
        websocket = self.websocket
        while True:
            data = await queue.get()
            if data is None:
                await websocket.close()
                return
            await websocket.send(data)
            if self.client.paused and queue.qsize() < LOW_WATER:
                self.client.paused = False
                self.server.broker.resumed(self.client)
                self.server.schedule_flush()

    async def run(self) -> None:
        server = self.server
        broker = server.broker
        clock = server.clock
        server.protocols.add(self)
        log.info(
            "New connection from %s on port %s (websocket).",
            _address(self.websocket.remote_address),
            server.ws_port_bound,
        )
        writer = asyncio.ensure_future(self._send_all())
        error: BaseException | None = None
        try:
            async for frame in self.websocket:
                if isinstance(frame, str):
                    self.client.connection.disconnect(0x81)  # not a binary frame [MQTT-6.0.0-1]
                    broker.dirty[self.client] = None
                    server.schedule_flush()
                    break
                broker.data_received(self.client, frame, clock())
                server.schedule_flush()
        except Exception as exc:  # a broken WebSocket: the client is gone like a socket error
            error = exc
        finally:
            server.protocols.discard(self)
            client = self.client
            if error is not None and not client.logged_out:
                client.logged_out = True
                log.info(
                    "Socket error on client %s, disconnecting.",
                    client.client_id or "<unknown>",
                )
            broker.connection_lost(client, clock())
            server.schedule_flush()
            if not writer.done():
                self.close()
                try:
                    await asyncio.wait_for(writer, 1.0)
                except (asyncio.TimeoutError, Exception):
                    writer.cancel()


async def serve_websocket(server: Any, host: str, port: int, ssl_context: Any = None) -> Any:
    """Listen for MQTT over WebSocket on ``host:port`` for ``server`` (a ``BrokerServer``)."""
    serve = _websockets()
    max_packet = server.broker.connection_options.get("max_packet_size")

    async def handler(websocket: Any) -> None:
        await _WebSocketConnection(server, websocket).run()

    return await serve(
        handler,
        host,
        port,
        subprotocols=["mqtt"],
        compression=None,
        max_size=(max_packet or 268_435_455) + 5,
        ssl=ssl_context,
    )
