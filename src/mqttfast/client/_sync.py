"""``SyncClient``: the asyncio ``Client`` for code that is not async, its event loop on a thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from types import TracebackType
from typing import Any, TypeVar

from ._client import Client
from ._message import Message

__all__ = ["SyncClient"]

T = TypeVar("T")


class SyncClient:
    """``with SyncClient("host", ...) as client:``, then ``publish``, ``subscribe``, ``messages()``.

    Takes the ``Client`` parameters. Each call runs the async method on a
    private event loop in a daemon thread and blocks until it returns.
    """

    def __init__(self, hostname: str, port: int = 1883, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mqttfast-client", daemon=True)
        self._thread.start()
        self._client = self._run(self._make(hostname, port, options))

    @staticmethod
    async def _make(hostname: str, port: int, options: dict[str, Any]) -> Client:
        return Client(hostname, port, **options)  # built on the loop's thread: its Event belongs there

    def _run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    @property
    def client(self) -> Client:
        """The asyncio ``Client`` underneath (use it only from the loop's thread)."""
        return self._client

    def __enter__(self) -> SyncClient:
        self.connect()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def connect(self) -> None:
        """Connect (CONNECT and CONNACK)."""
        self._run(self._client.__aenter__())

    def publish(self, topic: str, payload: Any = None, qos: int = 0, retain: bool = False, **properties: Any) -> int:
        """``Client.publish``: blocks until acknowledged for QoS 1 and 2."""
        return self._run(self._publish(topic, payload, qos, retain, properties))

    async def _publish(self, topic: str, payload: Any, qos: int, retain: bool, properties: dict[str, Any]) -> int:
        # Client.publish acts at the call: it must be called on the loop's thread, hence this coroutine.
        return await self._client.publish(topic, payload, qos, retain, **properties)

    def subscribe(self, topic: Any, qos: int = 0, **options: Any) -> list[int]:
        """``Client.subscribe``; the SUBACK's reason codes."""
        return self._run(self._client.subscribe(topic, qos, **options))

    def unsubscribe(self, topic: str | list[str]) -> list[int]:
        """``Client.unsubscribe``."""
        return self._run(self._client.unsubscribe(topic))

    def messages(self, timeout: float | None = None) -> Iterator[Message]:
        """The received messages; stops after ``timeout`` seconds without one (None: never)."""
        iterator = self._client.messages
        while True:
            try:
                yield self._run(asyncio.wait_for(iterator.__anext__(), timeout))
            except (TimeoutError, asyncio.TimeoutError):
                return

    def close(self) -> None:
        """Disconnect and stop the thread."""
        if self._loop.is_closed():
            return
        try:
            self._run(self._client.disconnect())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()
