"""The amqtt 0.12 broker's reader loop, with a fast path for an incoming PUBLISH.

amqtt's ``ProtocolHandler._reader_loop`` reads each fixed header under
``asyncio.wait_for`` (a task and a timer per packet on Python 3.11), handles
each packet in a new task, and an incoming PUBLISH then travels through the
session's delivery queue to the broker's per-client loop, which wakes from an
``asyncio.wait`` on four futures and starts a new waiter task per message:
four tasks and two waits per message before the broker looks at it.

The loop made here behaves as amqtt's and differs in two ways only:

- A fixed header already in the ``StreamReader``'s buffer is taken from there
  without ``wait_for`` (no read can time out when nothing is waited for); a
  PUBLISH whose whole body is there too is parsed from those bytes by mqttfast.
  Anything else is read exactly as amqtt reads it.
- A QoS 0 or 1 PUBLISH is handled in the loop itself, without the tasks, when
  that cannot change what happens: the broker's loop for this client is idle
  (its three queue waiters are waiting, every queue is empty, no packet of this
  client is still being handled) and the topic is one amqtt accepts. It then
  runs amqtt's own steps in amqtt's order: the PUBACK (QoS 1) as amqtt's
  handler sends it, then ``Broker._handle_message_delivery`` itself, which fires
  the plugin events, checks the topic and the ACLs, queues the broadcast and
  keeps retained messages. Every other packet takes amqtt's path.

While one client's publish is handled in the loop, the next packet of that
client waits; as under amqtt, other clients' loops run meanwhile. The loop
yields to the event loop every ``_YIELD_EVERY`` packets read from the buffer,
as amqtt's ``wait_for`` did at every packet, so one busy publisher cannot hold
the broadcast loop back.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import weakref
from datetime import UTC, datetime
from typing import Any

from .. import MQTTError, decode

_MQTT_3_1_1 = 4
_YIELD_EVERY = 64

# handler -> how many of the broker's client-loop waiters (subscription, unsubscription,
# delivery) are waiting on their queue: 3 when that loop is idle, waiting for this client.
_waiting: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
# handler -> the Broker that made it.
_broker_of: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def counted_waiter(original: Any) -> Any:
    """A BrokerProtocolHandler queue waiter counting, while it waits, in ``_waiting``."""

    async def waiter(self: Any) -> Any:
        _waiting[self] = _waiting.get(self, 0) + 1
        try:
            return await original(self)
        finally:
            _waiting[self] -= 1

    waiter.__wrapped__ = original  # type: ignore[attr-defined]
    waiter.__name__ = original.__name__
    return waiter


def recording_client_session(original: Any) -> Any:
    """Broker._handle_client_session remembering which broker the connection's handler belongs to."""

    async def _handle_client_session(
        self: Any, reader: Any, writer: Any, client_session: Any, handler: Any, *args: Any, **kwargs: Any
    ) -> Any:
        _broker_of[handler] = self
        return await original(self, reader, writer, client_session, handler, *args, **kwargs)

    _handle_client_session.__wrapped__ = original  # type: ignore[attr-defined]
    return _handle_client_session


def _buffered_header(buffer: bytearray) -> tuple[int, int] | None:
    """(header size, remaining length) of the fixed header at the start of ``buffer``, None unless whole and valid."""
    size = len(buffer)
    length = 0
    for index in range(1, min(size, 5)):
        byte = buffer[index]
        length |= (byte & 0x7F) << (7 * (index - 1))
        if byte < 0x80:
            return index + 1, length
    return None  # incomplete, or a fifth length byte: amqtt's reader says what that is


def make_reader_loop(handler_module: Any, publish_module: Any, session_module: Any, adapters_module: Any, original: Any) -> Any:
    """BrokerProtocolHandler._reader_loop for these amqtt modules (names bound once)."""
    h = handler_module
    stream_reader_adapter = adapters_module.StreamReaderAdapter
    buffer_reader = adapters_module.BufferReader
    fixed_header_class = h.MQTTFixedHeader
    packet_class = h.packet_class
    publish_class = publish_module.PublishPacket
    variable_header_class, payload_class = publish_module.PublishVariableHeader, publish_module.PublishPayload
    amqtt_from_stream = publish_class.from_stream
    incoming_message = session_module.IncomingApplicationMessage
    puback_class = h.PubackPacket
    packet_received = h.MQTTEvents.PACKET_RECEIVED
    mqtt_error, no_data_error = h.MQTTError, h.NoDataError
    reserved = (h.RESERVED_0, h.RESERVED_15)
    publish_type, connect_type = h.PUBLISH, h.CONNECT
    # packet type -> (its class, the handler method amqtt runs in a task for it)
    dispatch = {
        h.CONNACK: (h.ConnackPacket, "handle_connack"),
        h.SUBSCRIBE: (h.SubscribePacket, "handle_subscribe"),
        h.UNSUBSCRIBE: (h.UnsubscribePacket, "handle_unsubscribe"),
        h.SUBACK: (h.SubackPacket, "handle_suback"),
        h.UNSUBACK: (h.UnsubackPacket, "handle_unsuback"),
        h.PUBACK: (h.PubackPacket, "handle_puback"),
        h.PUBREC: (h.PubrecPacket, "handle_pubrec"),
        h.PUBREL: (h.PubrelPacket, "handle_pubrel"),
        h.PUBCOMP: (h.PubcompPacket, "handle_pubcomp"),
        h.PINGREQ: (h.PingReqPacket, "handle_pingreq"),
        h.PINGRESP: (h.PingRespPacket, "handle_pingresp"),
        h.PUBLISH: (publish_class, "handle_publish"),
        h.DISCONNECT: (h.DisconnectPacket, "handle_disconnect"),
        h.CONNECT: (h.ConnectPacket, "handle_connect"),
    }
    debug = logging.DEBUG

    async def publish_from(fixed_header: Any, data: bytes, header_size: int) -> Any:
        """The PublishPacket amqtt's from_stream makes of these bytes (mqttfast parses; amqtt what it refuses)."""
        try:
            parsed, _ = decode(data, _MQTT_3_1_1)
        except MQTTError:
            return await amqtt_from_stream(buffer_reader(data[header_size:]), fixed_header=fixed_header)
        packet = publish_class(
            fixed_header,
            variable_header_class(parsed.topic, parsed.packet_id),  # type: ignore[union-attr]
            payload_class(bytes(parsed.payload)),  # type: ignore[union-attr]
        )
        packet.protocol_ts = datetime.now(UTC)  # as amqtt's from_stream stamps it
        return packet

    def can_handle_inline(handler: Any, packet: Any, running_tasks: Any) -> bool:
        """Whether handling this PUBLISH in the reader loop does exactly what amqtt's tasks would do."""
        if _waiting.get(handler) != 3 or handler not in _broker_of:
            return False
        qos = packet.qos
        if qos == 0:
            if packet.dup_flag:
                return False  # amqtt logs and drops it: its path
        elif qos != 1 or not packet.packet_id:
            return False
        topic = packet.topic_name
        if not topic or packet.data is None or "#" in topic or "+" in topic or topic[0] == "$":
            return False  # amqtt drops it or closes the connection: its path
        session = handler.session
        disconnect = handler._disconnect_waiter
        if disconnect is None or disconnect.done():
            return False
        if not (
            handler._pending_subscriptions.empty()
            and handler._pending_unsubscriptions.empty()
            and session.delivered_message_queue.empty()
        ):
            return False
        return all(task.done() for task in running_tasks)

    async def handle_inline(handler: Any, packet: Any) -> None:
        """amqtt's handle_publish, then its broker's handling of the delivered message, without tasks or queues."""
        session = handler.session
        packet_id = packet.packet_id
        message = incoming_message(packet_id, packet.topic_name, packet.qos, packet.data, packet.retain_flag)
        message.publish_packet = packet
        if packet.qos == 1:
            # amqtt's handler acknowledges once the message is queued, before the broker's loop sees it.
            puback = puback_class.build(packet_id)
            await handler._send_packet(puback)
            message.puback_packet = puback
        delivered = handler._loop.create_future()
        delivered.set_result(message)
        await _broker_of[handler]._handle_message_delivery(session, handler, delivered)

    async def _reader_loop(self: Any) -> None:
        reader = self.reader
        if type(reader) is not stream_reader_adapter or self.session is None or not self._reader_ready:
            return await original(self)  # type: ignore[no-any-return]
        logger = self.logger
        logger.debug(f"{self.session.client_id} Starting reader coro")
        running_tasks: collections.deque[asyncio.Task[None]] = collections.deque()
        keepalive_timeout = self.session.keep_alive
        if keepalive_timeout is not None and keepalive_timeout <= 0:
            keepalive_timeout = None
        stream = reader._reader
        from_buffer = 0
        while True:
            try:
                self._reader_ready.set()
                while running_tasks and running_tasks[0].done():
                    running_tasks.popleft()
                if len(running_tasks) > 1 and logger.isEnabledFor(debug):
                    logger.debug(f"Handler running tasks: {len(running_tasks)}")
                if self.reader is None:
                    logger.warning("Reader is not initialized!")
                    break
                packet = None
                buffer = stream._buffer
                header = _buffered_header(buffer) if stream._exception is None else None
                if header is None:
                    fixed_header = await asyncio.wait_for(fixed_header_class.from_stream(self.reader), timeout=keepalive_timeout)
                    if not fixed_header:
                        logger.debug(f"{self.session.client_id} No more data (EOF received), stopping reader coro")
                        break
                else:
                    from_buffer += 1
                    if from_buffer % _YIELD_EVERY == 0:
                        await asyncio.sleep(0)
                        continue  # the buffer may have changed meanwhile: look again
                    header_size, length = header
                    first = buffer[0]
                    fixed_header = fixed_header_class(first >> 4, first & 0x0F, length)
                    if first >> 4 == publish_type and len(buffer) >= header_size + length:
                        packet = await publish_from(fixed_header, await stream.readexactly(header_size + length), header_size)
                    else:
                        await stream.readexactly(header_size)
                if fixed_header.packet_type in reserved:
                    logger.warning(
                        f"{self.session.client_id} Received reserved packet, which is forbidden: closing connection",
                    )
                    await self.handle_connection_closed()
                    continue
                if packet is None:
                    packet = await packet_class(fixed_header).from_stream(self.reader, fixed_header=fixed_header)
                await self.plugins_manager.fire_event(packet_received, packet=packet, session=self.session)
                kind = None if packet.fixed_header is None else packet.fixed_header.packet_type
                if kind not in dispatch:
                    logger.warning(f"{self.session.client_id} Unhandled packet type: {packet.fixed_header.packet_type}")
                    continue
                expected_class, method = dispatch[kind]
                if not isinstance(packet, expected_class):
                    continue
                if kind == connect_type:
                    # As amqtt: the connection is made before any other packet of the session is handled.
                    await self.handle_connect(packet)
                elif kind == publish_type and can_handle_inline(self, packet, running_tasks):
                    await handle_inline(self, packet)
                else:
                    running_tasks.append(asyncio.create_task(getattr(self, method)(packet)))
            except mqtt_error:
                logger.debug("Message discarded")
            except asyncio.CancelledError:
                logger.debug("Task cancelled, reader loop ending")
                break
            except asyncio.TimeoutError:
                logger.debug(f"{self.session.client_id} Input stream read timeout")
                self.handle_read_timeout()
            except no_data_error:
                logger.debug(f"{self.session.client_id} No data available")
            except Exception as e:  # noqa: BLE001 - as amqtt: any other error ends the reader
                logger.warning(f"{type(self).__name__} Unhandled exception in reader coro: {e!r}")
                break
        while running_tasks:
            running_tasks.popleft().cancel()
        await self.handle_connection_closed()
        self._reader_stopped.set()
        logger.debug("Reader coro stopped")
        await self.stop()

    _reader_loop.__wrapped__ = original  # type: ignore[attr-defined]
    return _reader_loop
