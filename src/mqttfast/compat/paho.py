"""paho-mqtt 2.2 on mqttfast: whole socket reads, compiled PUBLISH parsing, compiled topic matching.

``install()`` patches the paho-mqtt that is imported (nothing is copied or
subclassed, existing code keeps calling ``paho.mqtt.client.Client``):

- ``Client._packet_read``: paho reads one byte for the packet type, one byte
  per remaining-length byte and then the body, three ``recv`` calls at least
  per packet, and handles one packet per ``loop()`` turn. The replacement reads
  up to 64 KiB at once, cuts every complete packet out of it and handles them
  all. PUBLISH packets of MQTT 3.1/3.1.1 are parsed by ``mqttfast.decode``;
  every other packet, every MQTT 5 PUBLISH and every PUBLISH mqttfast refuses
  goes to paho's own handler with the state paho's reader would have left, so
  paho keeps deciding what is malformed and how the connection ends.
- ``MQTTMatcher`` (behind ``message_callback_add``) and ``topic_matches_sub``:
  replaced by this module's exports, which answer through ``TopicMatcher``.

``uninstall()`` restores every replaced attribute. Clients created while
installed keep the ``MQTTMatcher`` they were created with, which stays correct.
"""

from __future__ import annotations

import threading
from typing import Any, Optional

from .. import Incomplete, MQTTError, decode, decode_varint
from ._paho_matcher import MQTTMatcher, topic_matches_sub
from ._patching import PatchSet, check_version

__all__ = ["MQTTMatcher", "topic_matches_sub", "install", "uninstall", "installed", "SUPPORTED_SERIES"]

SUPPORTED_SERIES = (2, 2)
"""The paho-mqtt ``major.minor`` series ``install()`` patches."""

_READ_SIZE = 65536
_PENDING = "mqttfast_pending"  # our key in Client._in_packet: read but unhandled bytes
_PUBLISH = 0x30
_MQTT_5 = 5

_patches = PatchSet()


def installed() -> bool:
    """Whether paho-mqtt is currently patched."""
    return _patches.active


def install() -> bool:
    """Make paho-mqtt use mqttfast; return whether it is (now) patched.

    Idempotent. On a paho-mqtt outside :data:`SUPPORTED_SERIES` it warns with
    :class:`~mqttfast.compat.CompatibilityWarning` and changes nothing.
    """
    if _patches.active:
        return True
    import paho.mqtt
    import paho.mqtt.client
    import paho.mqtt.matcher

    if not check_version("paho-mqtt", getattr(paho.mqtt, "__version__", None), SUPPORTED_SERIES):
        return False
    client_module = paho.mqtt.client
    _patches.replace(client_module.Client, "_packet_read", _make_packet_read(client_module))
    _patches.replace(client_module, "MQTTMatcher", MQTTMatcher)
    _patches.replace(client_module, "topic_matches_sub", topic_matches_sub)
    _patches.replace(paho.mqtt.matcher, "MQTTMatcher", MQTTMatcher)
    return True


def uninstall() -> None:
    """Restore paho-mqtt exactly as it was before :func:`install` (no-op when not installed)."""
    _patches.restore()


def _fresh_state() -> dict[str, Any]:
    # The values paho's own reader resets Client._in_packet to after each packet.
    return {
        "command": 0,
        "have_remaining": 0,
        "remaining_count": [],
        "remaining_mult": 1,
        "remaining_length": 0,
        "packet": bytearray(b""),
        "to_process": 0,
        "pos": 0,
    }


def _frame(data: bytes, pos: int) -> Optional[tuple[int, int]]:
    """(body start, packet end) of the packet at ``pos``, None while incomplete.

    Raises ``MQTTError`` for a remaining length longer than 4 bytes, which paho
    answers with MQTT_ERR_PROTOCOL, but only once the fifth byte has arrived,
    as paho only notices then.
    """
    if len(data) - pos < 2:
        return None
    try:
        length, size = decode_varint(data, pos + 1)
    except Incomplete:
        return None
    except MQTTError:
        if len(data) - pos - 1 < 5:
            return None
        raise
    start = pos + 1 + size
    stop = start + length
    return (start, stop) if stop <= len(data) else None


def _message_factory(client_module: Any) -> Any:
    """A function making the ``MQTTMessage`` paho's ``_handle_publish`` makes, without its constructor's cost.

    paho's constructor gives every message an ``MQTTMessageInfo`` with its own
    ``threading.Condition`` (an ``RLock`` and more: over a microsecond). A received
    message's info is never marked published, so its condition is never notified;
    waiting on it waits for the timeout, whichever condition it is. Here all
    received messages' infos share one; every field has paho's value.
    """
    message_class, info_class = client_module.MQTTMessage, client_module.MQTTMessageInfo
    invalid = client_module.mqtt_ms_invalid
    success = client_module.MQTTErrorCode.MQTT_ERR_SUCCESS
    shared_condition = threading.Condition()
    new = object.__new__

    def new_message(mid: int, topic: bytes, payload: bytes, qos: int, dup: bool, retain: bool) -> Any:
        info = new(info_class)
        info.mid = mid
        info._published = False
        info._condition = shared_condition
        info.rc = success
        info._iterpos = 0
        message = new(message_class)
        message.timestamp = 0.0
        message.state = invalid
        message.dup = dup
        message.mid = mid
        message._topic = topic
        message.payload = payload
        message.qos = qos
        message.retain = retain
        message.info = info
        message.properties = None
        return message

    return new_message


def _make_packet_read(client_module: Any) -> Any:
    """Client._packet_read for this paho module (its constants and classes bound once)."""
    codes = client_module.MQTTErrorCode
    success, again, conn_lost, protocol_error = (
        codes.MQTT_ERR_SUCCESS,
        codes.MQTT_ERR_AGAIN,
        codes.MQTT_ERR_CONN_LOST,
        codes.MQTT_ERR_PROTOCOL,
    )
    log_debug, log_err = client_module.MQTT_LOG_DEBUG, client_module.MQTT_LOG_ERR
    malformed_packet = client_module.MalformedPacket
    new_message = _message_factory(client_module)
    wait_for_pubrel = client_module.mqtt_ms_wait_for_pubrel
    time_func = client_module.time_func
    paho_handle_on_message = client_module.Client._handle_on_message

    def handle_with_paho(client: Any, state: dict[str, Any], data: bytes, pos: int, start: int, stop: int) -> Any:
        """Hand one packet to paho's dispatcher exactly as paho's reader would."""
        state.update(
            command=data[pos],
            have_remaining=1,
            remaining_count=list(data[pos + 1 : start]),
            remaining_mult=128 ** (start - pos - 1),
            remaining_length=stop - start,
            packet=bytearray(data[start:stop]),
            to_process=0,
            pos=0,
        )
        try:
            rc = client._packet_handle()
        except malformed_packet as exc:
            client._easy_log(log_debug, "Received malformed packet: %s", exc)
            rc = protocol_error
        state.update(_fresh_state())
        return rc

    def handle_publish(client: Any, view: memoryview, pos: int, stop: int) -> Any:
        """Deliver a MQTT 3.1/3.1.1 PUBLISH as paho's _handle_publish does; None to let paho judge it."""
        try:
            packet, _ = decode(view[pos:stop], client._protocol, copy=True)
        except MQTTError:
            return None
        topic = packet.topic  # type: ignore[union-attr]
        payload = packet.payload  # type: ignore[union-attr]
        qos = packet.qos  # type: ignore[union-attr]
        mid = packet.packet_id or 0  # type: ignore[union-attr]
        message = new_message(mid, topic.encode(), payload, qos, packet.dup, packet.retain)  # type: ignore[union-attr]
        if client._on_log is not None or client._logger is not None:
            client._easy_log(
                log_debug,
                "Received PUBLISH (d%d, q%d, r%d, m%d), '%s', ...  (%d bytes)",
                message.dup, qos, message.retain, mid, topic, len(payload),
            )
        message.timestamp = time_func()
        if qos == 2:
            rc = client._send_pubrec(mid)
            message.state = wait_for_pubrel
            with client._in_message_mutex:
                client._in_messages[mid] = message
            return rc
        if type(client)._handle_on_message is paho_handle_on_message:
            deliver(client, message, topic)
        else:  # a subclass of its own: its method decides
            client._handle_on_message(message)
        if qos == 0 or client._manual_ack:
            return success
        return client._send_puback(mid)

    def deliver(client: Any, message: Any, topic: str) -> None:
        """paho's Client._handle_on_message, given the topic already decoded (mqttfast checked its UTF-8)."""
        with client._callback_mutex:
            callbacks = list(client._on_message_filtered.iter_match(topic))
            on_message = None if callbacks else client.on_message
        userdata = client._userdata
        for callback in callbacks:
            with client._in_callback_mutex:
                try:
                    callback(client, userdata, message)
                except Exception as err:
                    client._easy_log(
                        log_err, "Caught exception in user defined callback function %s: %s", callback.__name__, err
                    )
                    if not client.suppress_exceptions:
                        raise
        if on_message:
            with client._in_callback_mutex:
                try:
                    on_message(client, userdata, message)
                except Exception as err:
                    client._easy_log(log_err, "Caught exception in on_message: %s", err)
                    if not client.suppress_exceptions:
                        raise

    def packet_read(self: Any) -> Any:
        """Read what the socket has and handle every complete packet in it (paho's return codes)."""
        state = self._in_packet
        data: bytes = state.pop(_PENDING, b"")
        try:
            ready = _frame(data, 0) is not None
        except MQTTError:
            return protocol_error
        if not ready:
            # paho handles a packet left over by a raising callback before reading more.
            try:
                chunk = self._sock_recv(_READ_SIZE)
            except BlockingIOError:
                if data:
                    state[_PENDING] = data
                return again
            except OSError as err:  # TimeoutError included, as paho logs both alike
                self._easy_log(log_err, "failed to receive on socket: %s", err)
                return conn_lost
            if not chunk:
                return conn_lost
            data = data + chunk if data else chunk
            with self._msgtime_mutex:
                self._last_bytes_received = time_func()
        rc = success
        pos = 0
        size = len(data)
        view = memoryview(data)
        ours = self._protocol != _MQTT_5
        try:
            while True:
                if size - pos > 1 and data[pos + 1] < 0x80:  # a one-byte remaining length: most packets
                    start = pos + 2
                    stop = start + data[pos + 1]
                    if stop > size:
                        break
                else:
                    try:
                        frame = _frame(data, pos)
                    except MQTTError:
                        return protocol_error
                    if frame is None:
                        break
                    start, stop = frame
                rc = None
                if ours and data[pos] & 0xF0 == _PUBLISH:
                    rc = handle_publish(self, view, pos, stop)
                if rc is None:
                    rc = handle_with_paho(self, state, data, pos, start, stop)
                pos = stop
                if rc or self._sock is None or self._in_packet is not state:
                    break
        finally:
            if pos < len(data) and self._in_packet is state:
                state[_PENDING] = data[pos:]
        with self._msgtime_mutex:
            self._last_bytes_received = time_func()
        return rc

    packet_read.__name__ = "_packet_read"
    packet_read.__qualname__ = "Client._packet_read"
    return packet_read
