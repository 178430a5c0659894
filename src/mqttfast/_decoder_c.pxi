# The streaming Decoder, compiled twin of ``_decoder_py`` (whose header states
# the buffering plan and the copy policy).
# Included by _codec_c.pyx, whose cimports and imports it uses.

cdef extern from "Python.h":
    # Declared here for a NULL exception type: out-of-range values are clipped, as the
    # pure-Python twin's comparisons do with any int.
    Py_ssize_t PyNumber_AsSsize_t(object o, PyObject* exc) except? -1

#: Size of a buffer renewed to hold an unfinished packet (a larger packet gets one of its own
#: size), and the largest fresh buffer.
cdef enum:
    CHUNK = 64 * 1024
#: The smallest fresh buffer, and the largest one kept once everything in it is decoded.
cdef enum:
    SMALL = 1024

# What a decoder holds between reads once it dropped its buffer: nothing is ever written into
# it, since _make_room() renews a full buffer before any byte is written.
cdef bytearray _NO_BUFFER = bytearray()
cdef object _NO_VIEW = memoryview(_NO_BUFFER)


cdef class Decoder:
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

    cdef readonly object version
    cdef readonly object max_packet_size
    cdef Py_ssize_t _packet_limit
    cdef readonly object max_properties
    cdef Py_ssize_t _max_properties
    cdef readonly object copy_threshold
    cdef Py_ssize_t _copy_threshold
    cdef bint _copy
    cdef bint _connected
    cdef int _level
    cdef bytearray _buffer
    cdef object _view
    cdef unsigned char* _data
    cdef Py_ssize_t _capacity, _start, _end, _body_start, _packet_end
    cdef object _error

    def __init__(
        self,
        version=None,
        *,
        max_packet_size=DEFAULT_MAX_PACKET_SIZE,
        max_properties=DEFAULT_MAX_PROPERTIES,
        bint copy=False,
        copy_threshold=DEFAULT_COPY_THRESHOLD,
    ):
        self._level = _version_argument(version)
        if max_packet_size < 2:
            raise ValueError("max_packet_size must be at least 2")
        copy_threshold = operator.index(copy_threshold)
        if copy_threshold < 0:
            raise ValueError("copy_threshold must be 0 or more")
        max_properties = operator.index(max_properties)
        self.version = version
        self.max_packet_size = max_packet_size
        self._packet_limit = _size_limit(max_packet_size)
        # Python ints of any size, as in the pure-Python twin; beyond Py_ssize_t they mean "no limit".
        self.max_properties = max_properties
        self._max_properties = max(-1, min(max_properties, PY_SSIZE_T_MAX))
        self.copy_threshold = copy_threshold
        self._copy_threshold = min(copy_threshold, PY_SSIZE_T_MAX)
        self._copy = copy
        self._connected = False  # a connection carries one CONNECT [MQTT-3.1.0-2]
        self._buffer = _NO_BUFFER
        self._view = _NO_VIEW
        self._data = <unsigned char*>PyByteArray_AS_STRING(self._buffer)
        self._capacity = 0
        self._start = 0  # first byte of the unfinished packet
        self._end = 0  # end of the received bytes
        self._body_start = 0
        self._packet_end = -1  # end of the unfinished packet once its header is read
        self._error = None

    @property
    def pending(self):
        """Bytes received of a packet not yet complete."""
        return self._end - self._start

    def feed(self, data):
        """Take the next bytes of the stream; the packets they complete, in order."""
        cdef Py_buffer incoming
        cdef Py_ssize_t pos = 0, n
        cdef list packets = []
        if self._error is not None:
            raise self._error
        PyObject_GetBuffer(data, &incoming, PyBUF_SIMPLE)
        try:
            while pos < incoming.len:
                self._make_room(incoming.len - pos)
                n = min(self._capacity - self._end, incoming.len - pos)
                memcpy(self._data + self._end, <const char*>incoming.buf + pos, n)
                pos += n
                self._end += n
                self._drain_into(packets)
                self._release_if_idle()
        finally:
            PyBuffer_Release(&incoming)
        return packets

    def get_buffer(self, sizehint=-1):
        """A writable view for the next bytes (``asyncio.BufferedProtocol``).

        ``sizehint``, the bytes about to arrive (0 or less: unknown), sizes a
        fresh buffer when nothing is pending; the view may be shorter or longer.
        """
        if self._error is not None:
            raise self._error
        self._make_room(PyNumber_AsSsize_t(sizehint, NULL))
        return self._view[self._end:]

    cdef int _make_room(self, Py_ssize_t hint) except -1:
        cdef Py_ssize_t needed = self._packet_end - self._start if self._packet_end >= 0 else 0
        if self._end == self._capacity or self._capacity - self._start < needed:
            if self._start == self._end:
                self._renew(CHUNK if hint <= 0 else min(max(hint, SMALL), CHUNK))
            else:
                self._renew(max(CHUNK, needed))
        return 0

    cdef inline void _release_if_idle(self):
        if self._start == self._end and self._capacity > SMALL:
            # All decoded: an idle connection should not hold 64 KiB. Dropped, not reused,
            # since packets handed out may still view it (they keep it alive themselves).
            self._buffer = _NO_BUFFER
            self._view = _NO_VIEW
            self._data = <unsigned char*>PyByteArray_AS_STRING(_NO_BUFFER)
            self._capacity = 0
            self._start = self._end = 0

    cdef int _renew(self, Py_ssize_t capacity) except -1:
        # Never compact in place: returned packets may hold views of the old buffer.
        cdef Py_ssize_t pending = self._end - self._start
        # Not zero-filled: only bytes written by the caller or copied here are ever read.
        cdef bytearray buffer = PyByteArray_FromStringAndSize(NULL, capacity)
        memcpy(PyByteArray_AS_STRING(buffer), self._data + self._start, pending)
        if self._packet_end >= 0:
            self._packet_end -= self._start
            self._body_start -= self._start
        self._buffer = buffer
        self._view = memoryview(buffer)
        self._data = <unsigned char*>PyByteArray_AS_STRING(buffer)
        self._capacity = capacity
        self._start = 0
        self._end = pending
        return 0

    def buffer_updated(self, Py_ssize_t nbytes):
        """``nbytes`` were written into the last ``get_buffer()``; the packets they complete."""
        cdef list packets = []
        if self._error is not None:
            raise self._error
        if not 0 <= nbytes <= self._capacity - self._end:
            raise ValueError("nbytes exceeds the buffer handed out by get_buffer()")
        self._end += nbytes
        self._drain_into(packets)
        self._release_if_idle()
        return packets

    cdef int _drain_into(self, list packets) except -1:
        try:
            self._drain(packets)
        except Exception as exc:
            self._error = exc
            exc.packets = packets
            raise
        return 0

    cdef int _drain(self, list packets) except -1:
        cdef Py_ssize_t start
        cdef const unsigned char* base = self._data
        cdef Py_ssize_t end = self._end
        cdef int packet_type
        cdef Publish publish
        while self._start < end:
            start = self._start
            if self._packet_end < 0:
                if read_fixed_header(
                    base, start, end, self._packet_limit, &self._body_start, &self._packet_end
                ):
                    return 0
            if self._packet_end > end:
                return 0
            packet_type = base[start] >> 4
            # The decoder never overwrites received bytes and never hands out its own
            # view, so unread property values may stay in its buffer.
            packet = read_packet(
                self._view, base, start, self._body_start, self._packet_end, self._level,
                self._copy or (packet_type != T_PUBLISH and self._packet_end - start < self._copy_threshold),
                False, self._view, self._max_properties,
            )
            if packet_type == T_PUBLISH:
                publish = <Publish>packet
                # Still a pointer into this buffer (the lazy payload): a small one is
                # copied now, or a kept packet would pin the whole buffer.
                if publish._payload_owner is not None and publish._payload_size < self._copy_threshold:
                    publish._payload = PyBytes_FromStringAndSize(
                        <const char*>publish._payload_data, publish._payload_size
                    )
                    publish._payload_owner = None
            elif packet_type == T_CONNECT:
                if self._connected:
                    raise ProtocolError("a second CONNECT on the connection [MQTT-3.1.0-2]", start)
                self._connected = True
                self._level = (<Connect>packet).protocol_version
                self.version = self._level
            packets.append(packet)
            self._start = self._packet_end
            self._packet_end = -1
        return 0
