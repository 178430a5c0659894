"""The streaming ``Decoder``, pure-Python twin of ``_decoder_c.pxi``.

Buffering plan. Bytes arrive into buffers the decoder owns. Operations: append
at the end, read a complete packet at the start, and, when a buffer is full,
move the one unfinished packet to a fresh buffer. Received bytes are never
written over, so nothing handed out can go stale; the cost is that whatever
still references a buffer keeps all of it alive.

Sizes. With nothing pending, a fresh buffer is sized to the read (the bytes
given to ``feed``, or ``get_buffer``'s size hint; 64 KiB without one), at
least ``_SMALL`` (1 KiB) and at most 64 KiB. A buffer renewed to hold an
unfinished packet is 64 KiB, or exactly the packet's size when larger. Once
every received byte is decoded, a buffer larger than ``_SMALL`` is dropped
(the packets that still view it keep it alive), and a smaller one is kept for
the next small reads: an idle connection holds at most ``_SMALL`` bytes, not
64 KiB (10,000 idle connections: about 10 MB, not 640 MB). Cost: a read that
completes all its packets gets a buffer of its own, one allocation per read
where a 64 KiB buffer used to serve many, but the compiled twin does not
zero-fill it (what ``get_buffer`` returns holds unspecified bytes until
written), which is what a 64 KiB buffer cost most; beyond that, each renewal
copies one unfinished packet.

Copy policy: a PUBLISH payload shorter than ``copy_threshold`` is copied out
as ``bytes`` (as is every binary field of any other packet shorter than that),
and only longer payloads stay views. With the default threshold, 64 KiB, such
a payload's packet is alone in its buffer, so a kept packet never holds more
memory than its own bytes.
"""

from __future__ import annotations

import operator
from typing import Any, cast

from ._constants import (
    DEFAULT_COPY_THRESHOLD,
    DEFAULT_MAX_PACKET_SIZE,
    DEFAULT_MAX_PROPERTIES,
    PacketType,
)
from ._errors import (
    Incomplete,
    ProtocolError,
)
from ._readers_py import (
    read_fixed_header,
    read_packet,
)
from ._rules_py import (
    _as_view,
    _check_version,
)
from ._typing import Connect

#: Size of a buffer renewed to hold an unfinished packet (a larger packet gets one of its own
#: size), and the largest fresh buffer.
_CHUNK = 64 * 1024
#: The smallest fresh buffer, and the largest one kept once everything in it is decoded.
_SMALL = 1024

# What a decoder holds between reads once it dropped its buffer: nothing is ever written into
# it, since get_buffer() renews a full buffer before handing out a view.
_NO_BUFFER = bytearray()
_NO_VIEW = memoryview(_NO_BUFFER)


class Decoder:
    """Streaming decoder for one connection: bytes in, packets out.

    ``feed(data)`` takes chunks cut anywhere; for ``asyncio.BufferedProtocol``
    use ``get_buffer(sizehint)`` and ``buffer_updated(nbytes)``, which let the
    transport read straight into the decoder's buffer. The version is learned
    from CONNECT when not given.

    Memory: the decoder reads into buffers of its own (sized to the read
    when nothing is pending, up to 64 KiB; 64 KiB, or one packet's size when
    larger, to finish a packet) and never writes over bytes it has received,
    so nothing it hands out goes stale. Once it has decoded every byte
    received it keeps at most 1 KiB of buffer, so an idle connection is
    cheap. What a packet keeps is decided by
    ``copy_threshold`` (default 64 KiB): a PUBLISH payload shorter than that
    is a ``bytes`` copy, and so is every binary field of any other packet
    shorter than that, so keeping packets (retained messages, queues, QoS 1
    and 2 in flight) costs their own size and never a whole buffer. Longer
    payloads are zero-copy ``memoryview`` slices of the decoder's buffer
    (``payload.obj``) and keep that buffer alive as long as they are
    referenced; with the default threshold that buffer holds their packet
    alone. A lower threshold copies less but lets a view pin up to 64 KiB;
    ``copy_threshold=0`` hands out views only; ``copy=True`` copies
    everything. A PUBLISH's correlation data never refers to the buffer.

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
        version: int | None = None,
        *,
        max_packet_size: int = DEFAULT_MAX_PACKET_SIZE,
        max_properties: int = DEFAULT_MAX_PROPERTIES,
        copy: bool = False,
        copy_threshold: int = DEFAULT_COPY_THRESHOLD,
    ) -> None:
        _check_version(version)
        if max_packet_size < 2:
            raise ValueError("max_packet_size must be at least 2")
        copy_threshold = operator.index(copy_threshold)
        if copy_threshold < 0:
            raise ValueError("copy_threshold must be 0 or more")
        self._version = version
        self._max_packet_size = max_packet_size
        self._max_properties = operator.index(max_properties)
        self._copy_threshold = copy_threshold
        self._copy = copy
        self._connected = False  # a connection carries one CONNECT [MQTT-3.1.0-2]
        self._buffer = _NO_BUFFER
        self._view = _NO_VIEW
        self._start = 0  # first byte of the unfinished packet
        self._end = 0  # end of the received bytes
        self._body_start = 0
        self._packet_end = -1  # end of the unfinished packet once its header is read
        self._error: Exception | None = None

    # Read-only, as in the compiled twin: the limits are fixed for the connection, and the
    # level is the one given or the one the CONNECT announced.
    @property
    def version(self) -> int | None:
        """The protocol level the stream is read at (None until the CONNECT, when not given)."""
        return self._version

    @property
    def max_packet_size(self) -> int:
        """The largest packet accepted, fixed header included."""
        return self._max_packet_size

    @property
    def max_properties(self) -> int:
        """The most properties one property block may hold."""
        return self._max_properties

    @property
    def copy_threshold(self) -> int:
        """Payloads (and packets other than PUBLISH) shorter than this are copied out of the buffer."""
        return self._copy_threshold

    @property
    def pending(self) -> int:
        """Bytes received of a packet not yet complete."""
        return self._end - self._start

    def feed(self, data: Any) -> list[Any]:
        """Take the next bytes of the stream; the packets they complete, in order."""
        if self._error is not None:
            raise self._error
        incoming = _as_view(data)
        packets: list[Any] = []
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
        """A writable view for the next bytes (``asyncio.BufferedProtocol``).

        ``sizehint``, the bytes about to arrive (0 or less: unknown), sizes a
        fresh buffer when nothing is pending; the view may be shorter or longer.
        """
        if self._error is not None:
            raise self._error
        hint = operator.index(sizehint)
        needed = self._packet_end - self._start if self._packet_end >= 0 else 0
        if self._end == len(self._buffer) or len(self._buffer) - self._start < needed:
            if self._start == self._end:
                self._renew(_CHUNK if hint <= 0 else min(max(hint, _SMALL), _CHUNK))
            else:
                self._renew(max(_CHUNK, needed))
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

    def buffer_updated(self, nbytes: int) -> list[Any]:
        """``nbytes`` were written into the last ``get_buffer()``; the packets they complete."""
        if self._error is not None:
            raise self._error
        if not 0 <= nbytes <= len(self._buffer) - self._end:
            raise ValueError("nbytes exceeds the buffer handed out by get_buffer()")
        self._end += nbytes
        packets: list[Any] = []
        try:
            self._drain(packets)
        except Exception as exc:
            self._error = exc
            exc.packets = packets  # type: ignore[attr-defined]
            raise
        self._release_if_idle()
        return packets

    def _release_if_idle(self) -> None:
        if self._start == self._end and len(self._buffer) > _SMALL:
            # All decoded: an idle connection should not hold 64 KiB. Dropped, not reused,
            # since packets handed out may still view it (they keep it alive themselves).
            self._buffer, self._view = _NO_BUFFER, _NO_VIEW
            self._start = self._end = 0

    def _drain(self, packets: list[Any]) -> None:
        view, end = self._view, self._end
        while self._start < end:
            start = self._start
            if self._packet_end < 0:
                try:
                    self._body_start, self._packet_end = read_fixed_header(view, start, end, self._max_packet_size)
                except Incomplete:
                    return
            if self._packet_end > end:
                return
            packet_type = view[start] >> 4
            is_publish = packet_type == PacketType.PUBLISH
            packet = read_packet(
                view,
                start,
                self._body_start,
                self._packet_end,
                self._version,
                self._copy or (not is_publish and self._packet_end - start < self._copy_threshold),
                self._max_properties,
            )
            if is_publish:
                if not self._copy:
                    _detach_small_publish(packet, self._copy_threshold)
            elif packet_type == PacketType.CONNECT:
                if self._connected:
                    raise ProtocolError("a second CONNECT on the connection [MQTT-3.1.0-2]", start)
                self._connected = True
                self._version = cast(Connect, packet).protocol_version
            packets.append(packet)
            self._start = self._packet_end
            self._packet_end = -1


def _detach_small_publish(packet: Any, copy_threshold: int) -> None:
    """Copy out of the decoder's buffer what a kept PUBLISH must not pin there."""
    if len(packet.payload) < copy_threshold:
        packet.payload = bytes(packet.payload)
    if packet.correlation_data is not None:
        # The compiled twin keeps a copy of the property block and views into it.
        packet.correlation_data = memoryview(bytes(packet.correlation_data))
