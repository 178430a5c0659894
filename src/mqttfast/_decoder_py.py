"""The streaming ``Decoder``, pure-Python twin of ``_decoder_c.pxi``."""

from __future__ import annotations

from ._constants import (
    DEFAULT_MAX_PACKET_SIZE,
    DEFAULT_MAX_PROPERTIES,
)
from ._errors import (
    Incomplete,
    ProtocolError,
)
from ._packets_py import (
    Connect,
)
from ._readers_py import (
    read_fixed_header,
    read_packet,
)
from ._rules_py import (
    _as_view,
    _check_version,
)

#: Size of each buffer a Decoder reads into; a larger packet gets a buffer of its own size.
_CHUNK = 64 * 1024


class Decoder:
    """Streaming decoder for one connection: bytes in, packets out.

    ``feed(data)`` takes chunks cut anywhere; for ``asyncio.BufferedProtocol``
    use ``get_buffer(sizehint)`` and ``buffer_updated(nbytes)``, which let the
    transport read straight into the decoder's buffer. The version is learned
    from CONNECT when not given.

    Buffer ownership: the decoder never writes over bytes it has already
    received. When its buffer fills up it starts a fresh one and moves only the
    unfinished packet there, so the payload views of returned packets stay
    valid for as long as they are referenced (pass ``copy=True`` for ``bytes``).
    A header announcing more than ``max_packet_size`` bytes raises
    ``PacketTooLarge`` before any of the body is buffered, so the bytes held
    never exceed the larger of 64 KiB and ``max_packet_size``; so does a
    property block of more than ``max_properties`` properties. After an error the
    decoder is poisoned: every later call raises the same error, since MQTT
    requires the connection to be closed. Packets decoded in the same call
    before the error are attached to the exception as ``packets``.

    Not thread-safe: one decoder belongs to one connection and one reader.
    """

    def __init__(
        self,
        version=None,
        *,
        max_packet_size: int = DEFAULT_MAX_PACKET_SIZE,
        max_properties: int = DEFAULT_MAX_PROPERTIES,
        copy: bool = False,
    ):
        _check_version(version)
        if max_packet_size < 2:
            raise ValueError("max_packet_size must be at least 2")
        self.version = version
        self.max_packet_size = max_packet_size
        self.max_properties = max_properties
        self._copy = copy
        self._connected = False  # a connection carries one CONNECT [MQTT-3.1.0-2]
        self._buffer = bytearray(0)
        self._view = memoryview(self._buffer)
        self._start = 0  # first byte of the unfinished packet
        self._end = 0  # end of the received bytes
        self._body_start = 0
        self._packet_end = -1  # end of the unfinished packet once its header is read
        self._error = None

    @property
    def pending(self) -> int:
        """Bytes received of a packet not yet complete."""
        return self._end - self._start

    def feed(self, data) -> list:
        """Take the next bytes of the stream; the packets they complete, in order."""
        if self._error is not None:
            raise self._error
        incoming = _as_view(data)
        packets: list = []
        pos = 0
        total = len(incoming)
        while pos < total:
            target = self.get_buffer(total - pos)
            n = min(len(target), total - pos)
            target[:n] = incoming[pos : pos + n]
            pos += n
            packets += self.buffer_updated(n)
        return packets

    def get_buffer(self, sizehint: int = -1) -> memoryview:
        """A writable view for the next bytes (``asyncio.BufferedProtocol``)."""
        if self._error is not None:
            raise self._error
        free = len(self._buffer) - self._end
        needed = self._packet_end - self._start if self._packet_end >= 0 else 0
        if free == 0 or len(self._buffer) - self._start < needed:
            self._renew(max(_CHUNK, needed))
            free = len(self._buffer) - self._end
        return self._view[self._end :]

    def _renew(self, capacity: int) -> None:
        # Never compact in place: returned packets may hold views of the old buffer.
        pending = self._end - self._start
        buffer = bytearray(capacity)
        buffer[:pending] = self._view[self._start : self._end]
        if self._packet_end >= 0:
            self._packet_end -= self._start
            self._body_start -= self._start
        self._buffer = buffer
        self._view = memoryview(buffer)
        self._start, self._end = 0, pending

    def buffer_updated(self, nbytes: int) -> list:
        """``nbytes`` were written into the last ``get_buffer()``; the packets they complete."""
        if self._error is not None:
            raise self._error
        if not 0 <= nbytes <= len(self._buffer) - self._end:
            raise ValueError("nbytes exceeds the buffer handed out by get_buffer()")
        self._end += nbytes
        packets: list = []
        try:
            self._drain(packets)
        except Exception as exc:
            self._error = exc
            exc.packets = packets  # type: ignore[attr-defined]
            raise
        return packets

    def _drain(self, packets: list) -> None:
        view, end = self._view, self._end
        while self._start < end:
            start = self._start
            if self._packet_end < 0:
                try:
                    self._body_start, self._packet_end = read_fixed_header(view, start, end, self.max_packet_size)
                except Incomplete:
                    return
            if self._packet_end > end:
                return
            packet = read_packet(
                view, start, self._body_start, self._packet_end, self.version, self._copy, self.max_properties
            )
            if type(packet) is Connect:
                if self._connected:
                    raise ProtocolError("a second CONNECT on the connection [MQTT-3.1.0-2]", start)
                self._connected = True
                self.version = packet.protocol_version
            packets.append(packet)
            self._start = self._packet_end
            self._packet_end = -1
