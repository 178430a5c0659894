"""amqtt 0.12 on mqttfast: compiled PUBLISH parsing and encoding, publishes routed through TopicMatcher.

``install()`` patches the amqtt that is imported:

- ``Broker._run_broadcast``: amqtt tests every subscription filter against
  every published topic (and formats a debug line for each miss). The
  replacement asks a ``TopicMatcher`` index for the few filters that can
  match, confirms each with amqtt's own ``Broker._matches`` and then delivers
  exactly as amqtt does, in the same order. The index lives in a ``dict``
  subclass that ``Broker.__init__`` now puts in ``Broker._subscriptions``,
  kept in step with every insertion and deletion amqtt makes. Broadcasts
  already queued are handled in the same call (amqtt spends a task and an
  ``asyncio.wait`` on each). A QoS 0 delivery is encoded once per broadcast
  and, when amqtt's handler would write it without waiting on anything
  (nothing of its own under way to that client, no lock, no back-pressure, no
  ``PACKET_SENT`` listener), written without a task, joined with the others
  for that client into one write; otherwise it goes through amqtt's own
  ``mqtt_publish`` task as before.
- ``BrokerProtocolHandler.mqtt_publish``: counts, from the call on, the
  publications under way to each client, so that none is overtaken.
- ``BrokerProtocolHandler._reader_loop`` (see ``_amqtt_reader``): amqtt's loop,
  but a QoS 0/1 PUBLISH arriving while the broker is idle for that client is
  handled in the loop itself, through amqtt's own steps, without the four tasks
  amqtt spends on it.
- ``PublishPacket.from_stream``: amqtt awaits a read per field; the
  replacement reads the whole body with one read and parses it with
  ``mqttfast.decode``. A body mqttfast refuses is parsed again by amqtt's own
  code from the bytes read, so amqtt still decides what is an error.
- ``PublishPacket.to_bytes``: encoded by ``mqttfast.encode``, or by amqtt when
  mqttfast refuses the fields.

``uninstall()`` restores every replaced attribute; brokers created meanwhile
keep their index, which behaves as the plain ``dict`` it subclasses.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import weakref
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from .. import MQTTError, Publish, TopicMatcher, decode, decode_varint, encode, encode_varint
from . import _amqtt_reader
from ._patching import PatchSet, check_version

__all__ = ["install", "uninstall", "installed", "SUPPORTED_SERIES", "SubscriptionIndex"]

SUPPORTED_SERIES = (0, 12)
"""The amqtt ``major.minor`` series ``install()`` patches."""

_MQTT_3_1_1 = 4  # amqtt speaks MQTT 3.1.1 only
_PUBLISH_TYPE = 0x30
_BROADCASTS_PER_TASK = 256  # then amqtt's loop gets a turn to collect the finished delivery tasks

_patches = PatchSet()


def installed() -> bool:
    """Whether amqtt is currently patched."""
    return _patches.active


class SubscriptionIndex(dict[str, Any]):
    """A ``dict`` of topic filter -> subscribers that also indexes its filters in a ``TopicMatcher``.

    :meth:`candidates` returns, in the dict's own order, every filter that may
    match a topic: the indexed filters ``TopicMatcher`` finds, plus the filters
    it cannot index (invalid ones, ``$share/...``, which amqtt treats as plain
    strings). The caller confirms each candidate with its own matching rule.
    """

    def __init__(self, items: Iterable[tuple[str, Any]] = ()) -> None:
        super().__init__()
        self._matcher = TopicMatcher()
        self._order: dict[str, int] = {}  # filter -> insertion number: dict order without scanning the dict
        self._unindexed: dict[str, None] = {}
        self._counter = 0
        for key, value in items:
            self[key] = value

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in self:
            self._add(key)
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._remove(key)

    def _add(self, key: str) -> None:
        self._counter += 1
        self._order[key] = self._counter
        if key.startswith("$share/") or not self._index(key):
            self._unindexed[key] = None

    def _index(self, key: str) -> bool:
        try:
            self._matcher.subscribe(key, key)
        except (MQTTError, TypeError):
            return False
        return True

    def _remove(self, key: str) -> None:
        del self._order[key]
        if key in self._unindexed:
            del self._unindexed[key]
        else:
            self._matcher.unsubscribe(key, key)

    def pop(self, key: str, *default: Any) -> Any:
        """As ``dict.pop``, keeping the index in step."""
        if key in self:
            self._remove(key)
        return super().pop(key, *default)

    def popitem(self) -> tuple[str, Any]:
        """As ``dict.popitem``, keeping the index in step."""
        key, value = super().popitem()
        self._remove(key)
        return key, value

    def setdefault(self, key: str, default: Any = None) -> Any:
        """As ``dict.setdefault``, keeping the index in step."""
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *args: Any, **kwargs: Any) -> None:
        """As ``dict.update``, keeping the index in step."""
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def clear(self) -> None:
        """As ``dict.clear``, emptying the index too."""
        super().clear()
        self._matcher = TopicMatcher()
        self._order.clear()
        self._unindexed.clear()

    def __ior__(self, other: Any) -> SubscriptionIndex:  # type: ignore[override,misc]
        self.update(other)
        return self

    def candidates(self, topic: str) -> list[str]:
        """Filters that may match ``topic``, in insertion order (every filter for a topic TopicMatcher refuses)."""
        try:
            found = self._matcher.match(topic)
        except MQTTError:
            return list(self)
        if self._unindexed:
            found += self._unindexed
        if len(found) > 1:
            found.sort(key=self._order.__getitem__)
        return found


def install() -> bool:
    """Make amqtt use mqttfast; return whether it is (now) patched.

    Idempotent. On an amqtt outside :data:`SUPPORTED_SERIES` it warns with
    :class:`~mqttfast.compat.CompatibilityWarning` and changes nothing.
    """
    if _patches.active:
        return True
    import amqtt
    import amqtt.adapters
    import amqtt.broker
    import amqtt.mqtt.protocol.handler
    import amqtt.mqtt.publish
    import amqtt.session

    if not check_version("amqtt", getattr(amqtt, "__version__", None), SUPPORTED_SERIES):
        return False
    broker_class = amqtt.broker.Broker
    packet_class = amqtt.mqtt.publish.PublishPacket
    _patches.replace(broker_class, "__init__", _make_broker_init(broker_class.__init__))
    handler_class = amqtt.broker.BrokerProtocolHandler
    counted_publish = _make_counted_publish(handler_class.mqtt_publish)
    _patches.replace(broker_class, "_run_broadcast", _make_run_broadcast(amqtt.broker, counted_publish))
    _patches.replace(handler_class, "mqtt_publish", counted_publish)
    _patches.replace(
        broker_class, "_handle_client_session", _amqtt_reader.recording_client_session(broker_class._handle_client_session)
    )
    for waiter in ("get_next_pending_subscription", "get_next_pending_unsubscription", "mqtt_deliver_next_message"):
        _patches.replace(handler_class, waiter, _amqtt_reader.counted_waiter(getattr(handler_class, waiter)))
    _patches.replace(
        handler_class,
        "_reader_loop",
        _amqtt_reader.make_reader_loop(
            amqtt.mqtt.protocol.handler, amqtt.mqtt.publish, amqtt.session, amqtt.adapters, handler_class._reader_loop
        ),
    )
    _patches.replace(packet_class, "from_stream", _make_from_stream(amqtt, packet_class))
    _patches.replace(packet_class, "to_bytes", _make_to_bytes(packet_class.to_bytes))
    return True


def uninstall() -> None:
    """Restore amqtt exactly as it was before :func:`install` (no-op when not installed)."""
    _patches.restore()


def _make_broker_init(original: Any) -> Any:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self._subscriptions = SubscriptionIndex(self._subscriptions.items())

    __init__.__wrapped__ = original  # type: ignore[attr-defined]
    return __init__


def _make_run_broadcast(broker_module: Any, counted_publish: Any) -> Any:
    """Broker._run_broadcast delivering to the indexed candidates only, as amqtt delivers to its matches."""
    import amqtt.adapters
    import amqtt.events

    action_receive = broker_module.Action.RECEIVE
    qos_0 = broker_module.QOS_0
    persistent_qos = (broker_module.QOS_1, broker_module.QOS_2)
    describe = broker_module.format_client_message
    ensure_future = broker_module.asyncio.ensure_future
    stream_writer_adapter = amqtt.adapters.StreamWriterAdapter
    packet_sent = amqtt.events.MQTTEvents.PACKET_SENT
    debug = logging.DEBUG

    def can_write_at_once(handler: Any) -> bool:
        """Whether amqtt's handler would write a QoS 0 PUBLISH now and finish without waiting on anything."""
        writer = handler.writer
        if (
            type(handler).mqtt_publish is not counted_publish  # replaced meanwhile (a subclass, a mock): call it
            or type(writer) is not stream_writer_adapter
            or writer.is_closed
            or handler._write_lock.locked()
            or packet_sent in handler.plugins_manager._event_plugin_callbacks
        ):
            return False
        # While amqtt's own mqtt_publish has any message under way to this client (a task not yet
        # run, a QoS 1/2 flow, retained messages), writing at once could overtake it.
        if handler.session is None or _publishing.get(handler):
            return False
        stream = writer._writer
        # StreamWriter.drain() returns at once exactly when these hold; otherwise amqtt's path waits.
        return not (
            stream.transport.is_closing()
            or stream._protocol._paused
            or (stream._reader is not None and stream._reader.exception())
        )

    def write(handler: Any, data: bytes) -> None:
        """What amqtt's handler does to send a packet, as it does it, minus the waiting that cannot happen."""
        handler.writer._writer.write(data)
        keepalive = handler._keepalive_task
        if keepalive:
            keepalive.cancel()
            if handler.keepalive_timeout is not None:
                handler._keepalive_task = handler._loop.call_later(handler.keepalive_timeout, handler.handle_write_timeout)

    def flush(held: dict[Any, list[bytes]]) -> None:
        """Write what ``held`` holds, one write per client."""
        for handler, packets in held.items():
            write(handler, b"".join(packets))
        held.clear()

    async def broadcast_one(
        self: Any, broadcast: Any, running_tasks: Any, held: dict[Any, list[bytes]] | None, logger: Any, verbose: bool
    ) -> None:
        """amqtt's delivery of one broadcast; QoS 0 PUBLISH packets that can go at once are added to ``held``."""
        topic = broadcast["topic"]
        subscriptions = self._subscriptions
        filters = subscriptions.candidates(topic) if isinstance(subscriptions, SubscriptionIndex) else list(subscriptions)
        encoded: bytes | None = None  # the QoS 0 PUBLISH every QoS 0 subscriber gets, encoded once
        for topic_filter in filters:
            if not self._matches(topic, topic_filter):
                continue
            for session, subscribed_qos in subscriptions[topic_filter]:
                qos = broadcast.get("qos", subscribed_qos)
                if not await self._topic_filtering(session, topic=topic, action=action_receive):
                    logger.info(f"{session.client_id} not allowed to receive messages from TOPIC {topic}.")
                    continue
                connected = session.transitions.state == "connected"
                # [MQTT-3.1.2-4]: an offline persistent, non-anonymous session keeps QoS 1/2 messages for later.
                if not connected and not session.clean_session and qos in persistent_qos and not session.is_anonymous:
                    if verbose:
                        logger.debug(f"Session {session.client_id} is not connected, retaining message.")
                    if held:
                        flush(held)  # nothing held may wait behind an await
                    await self._retain_broadcast_message(broadcast, qos, session)
                    continue
                if not connected:
                    continue
                if verbose:
                    logger.debug(
                        f"Broadcasting message from {describe(session=broadcast['session'])}"
                        f" on topic '{topic}' to {describe(session=session)}"
                    )
                handler = self._get_handler(session)
                if not handler:
                    continue
                if qos == qos_0:
                    if encoded is None:
                        encoded = _encode_qos_0(topic, broadcast["data"])
                    if held is not None and handler in held:
                        held[handler].append(encoded)  # nothing ran since it was checked
                        continue
                    if encoded and can_write_at_once(handler):
                        if held is None:
                            write(handler, encoded)
                        else:
                            held[handler] = [encoded]
                        continue
                if held and handler in held:
                    write(handler, b"".join(held.pop(handler)))  # they come before this one
                running_tasks.append(ensure_future(handler.mqtt_publish(topic, broadcast["data"], qos, retain=False)))

    async def _run_broadcast(self: Any, running_tasks: Any) -> None:
        # Broadcasts already queued are handled in this same task: amqtt's loop spends a task and
        # an asyncio.wait per broadcast otherwise. Each is taken only once the previous one is done,
        # so a cancelled loop leaves the untaken ones queued, as amqtt does.
        # QoS 0 packets for one client are joined into one write per batch (one send() instead of
        # one per message), unless a topic filtering plugin is loaded: it may wait, and others write.
        queue = self._broadcast_queue
        broadcast = await queue.get()
        logger = self.logger
        verbose = logger.isEnabledFor(debug)
        manager = self.plugins_manager
        filtering_may_wait = manager.is_topic_filtering_enabled() and getattr(manager, "_topic_plugins", True)
        held: dict[Any, list[bytes]] | None = None if filtering_may_wait else {}
        try:
            for left in range(_BROADCASTS_PER_TASK - 1, -1, -1):
                if verbose:
                    logger.debug(f"Processing broadcast message: {broadcast}")
                await broadcast_one(self, broadcast, running_tasks, held, logger, verbose)
                if not left or queue.empty():
                    break
                broadcast = queue.get_nowait()
        finally:
            if held:
                flush(held)

    return _run_broadcast


# BrokerProtocolHandler -> how many of its mqtt_publish calls have not finished yet.
_publishing: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


def _make_counted_publish(original: Any) -> Any:
    """BrokerProtocolHandler.mqtt_publish counting, from the call on, the publications not finished yet."""

    async def finish(handler: Any, publication: Any) -> Any:
        try:
            return await publication
        finally:
            _publishing[handler] -= 1

    def mqtt_publish(self: Any, *args: Any, **kwargs: Any) -> Any:
        # Counted at the call, not when the coroutine first runs: a task created but not yet
        # started must already keep the broadcast from writing past it.
        publication = original(self, *args, **kwargs)
        _publishing[self] = _publishing.get(self, 0) + 1
        return finish(self, publication)

    mqtt_publish.__wrapped__ = original  # type: ignore[attr-defined]
    return _as_coroutine_function(mqtt_publish)


def _as_coroutine_function(function: Any) -> Any:
    """Mark a function returning a coroutine as a coroutine function, as the method it replaces is.

    Introspection then answers as for amqtt's method: ``unittest.mock.patch.object``
    replaces it with an ``AsyncMock`` (amqtt's own tests rely on that).
    """
    mark = getattr(inspect, "markcoroutinefunction", None)  # Python 3.12+
    if mark is not None:
        return mark(function)
    function._is_coroutine = asyncio.coroutines._is_coroutine  # type: ignore[attr-defined]  # what 3.11 looks for
    return function


def _encode_qos_0(topic: str, data: Any) -> bytes:
    """The QoS 0 PUBLISH amqtt sends for a broadcast (retain and dup clear); b"" where amqtt must encode it."""
    try:
        return encode(Publish(topic=topic, payload=bytes(data)), _MQTT_3_1_1)
    except (MQTTError, TypeError, ValueError):
        return b""


def _make_from_stream(amqtt_module: Any, packet_class: Any) -> Any:
    """PublishPacket.from_stream reading the body at once and parsing it with mqttfast."""
    import amqtt.adapters
    import amqtt.codecs_amqtt
    import amqtt.mqtt.publish

    original = packet_class.from_stream.__func__
    buffer_reader = amqtt.adapters.BufferReader
    read_or_raise = amqtt.codecs_amqtt.read_or_raise
    publish_module = amqtt.mqtt.publish
    variable_header_class, payload_class = publish_module.PublishVariableHeader, publish_module.PublishPayload

    async def from_stream(cls: Any, reader: Any, fixed_header: Any = None, variable_header: Any = None) -> Any:
        if fixed_header is None or variable_header is not None or cls is not packet_class:
            return await original(cls, reader, fixed_header, variable_header)
        body = await read_or_raise(reader, fixed_header.remaining_length) if fixed_header.remaining_length else b""
        header = bytes([_PUBLISH_TYPE | fixed_header.flags]) + encode_varint(len(body))
        try:
            packet, _ = decode(header + body, _MQTT_3_1_1)
        except MQTTError:
            # amqtt's own parser decides what is wrong with it, from the bytes it would have read.
            return await original(cls, buffer_reader(body), fixed_header, None)
        instance = cls(
            fixed_header,
            variable_header_class(packet.topic, packet.packet_id),  # type: ignore[union-attr]
            payload_class(bytes(packet.payload)),  # type: ignore[union-attr]
        )
        instance.protocol_ts = datetime.now(UTC)
        return instance

    return classmethod(from_stream)


def _make_to_bytes(original: Any) -> Any:
    """PublishPacket.to_bytes through mqttfast.encode, amqtt's own encoder for what mqttfast refuses."""

    def to_bytes(self: Any) -> bytes:
        header, variable, payload = self.fixed_header, self.variable_header, self.payload
        if header is None or variable is None or payload is None or type(payload.data) is not bytes:
            return original(self)  # type: ignore[no-any-return]
        flags = header.flags
        try:
            data = encode(
                Publish(
                    topic=variable.topic_name,
                    payload=payload.data,
                    qos=(flags >> 1) & 3,
                    retain=bool(flags & 1),
                    dup=bool(flags & 8),
                    packet_id=variable.packet_id,
                ),
                _MQTT_3_1_1,
            )
        except (MQTTError, TypeError, ValueError):
            return original(self)  # type: ignore[no-any-return]
        # amqtt's encoder records the length it wrote in the fixed header; keep doing so.
        header.remaining_length = decode_varint(data, 1)[0]
        return data

    return to_bytes
