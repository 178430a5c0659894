# The variable byte integer (MQTT 5.0 §1.5.5) as inline C kernels, written once:
# _varint_c's public functions and the codec's readers and writers all use
# these, so the encoding exists in one place in the compiled twin.

cdef enum:
    # What load_varint returns instead of a position.
    VARINT_INCOMPLETE = -1  # the data ends inside the integer
    VARINT_TOO_LONG = -2  # a fifth byte would be needed [MQTT-1.5.5-1]


cdef inline int varint_size_of(Py_ssize_t value) noexcept nogil:
    """Bytes of the minimal encoding of ``value`` (0 <= value <= MAX_VARINT)."""
    if value < 0x80:
        return 1
    if value < 0x4000:
        return 2
    if value < 0x200000:
        return 3
    return 4


cdef inline unsigned char* store_varint(unsigned char* p, Py_ssize_t value) noexcept nogil:
    """Store the minimal encoding of ``value`` at ``p``; returns the byte after it."""
    while value >= 0x80:
        p[0] = <unsigned char>((value & 0x7F) | 0x80)
        value >>= 7
        p += 1
    p[0] = <unsigned char>value
    return p + 1


cdef inline Py_ssize_t load_varint(
    const unsigned char* data, Py_ssize_t pos, Py_ssize_t end, Py_ssize_t* value
) noexcept nogil:
    """Read the integer at ``data[pos]``, reading no byte at or past ``end``.

    Returns the position after it and sets ``value``, or VARINT_INCOMPLETE or
    VARINT_TOO_LONG. Overlong encodings (0x80 0x00) are accepted, as the spec
    asks only writers for the minimum.
    """
    cdef Py_ssize_t result = 0
    cdef int shift = 0
    cdef unsigned char byte
    cdef Py_ssize_t stop = pos + 4
    while pos < end:
        byte = data[pos]
        pos += 1
        result |= <Py_ssize_t>(byte & 0x7F) << shift
        if not byte & 0x80:
            value[0] = result
            return pos
        if pos == stop:
            return VARINT_TOO_LONG
        shift += 7
    return VARINT_INCOMPLETE
