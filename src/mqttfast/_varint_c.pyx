# cython: language_level=3, boundscheck=False, wraparound=False
"""Variable byte integers (MQTT 5.0 §1.5.5), compiled twin of ``_varint_py``."""

from ._constants import MAX_VARINT
from ._errors import Incomplete, MalformedPacket

__all__ = ["encode_varint", "decode_varint", "varint_size"]


cpdef int varint_size(long long value) except -1:
    """Number of bytes the minimal encoding of ``value`` takes."""
    if value < 0 or value > 268435455:
        raise MalformedPacket(f"variable byte integer {value} out of range 0..{MAX_VARINT}")
    if value < 0x80:
        return 1
    if value < 0x4000:
        return 2
    if value < 0x200000:
        return 3
    return 4


cpdef bytes encode_varint(long long value):
    """Encode ``value`` in the fewest bytes [MQTT-1.5.5-1]."""
    cdef unsigned char out[4]
    cdef int n = 0
    cdef unsigned char byte
    if value < 0 or value > 268435455:
        raise MalformedPacket(f"variable byte integer {value} out of range 0..{MAX_VARINT}")
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out[n] = byte | 0x80
            n += 1
        else:
            out[n] = byte
            n += 1
            return out[:n]


def decode_varint(data, Py_ssize_t offset=0):
    """Decode the variable byte integer at ``offset`` of any buffer.

    Returns ``(value, nbytes)``. Raises ``Incomplete`` when the buffer ends
    inside the integer and ``MalformedPacket`` on a fifth byte.
    """
    cdef const unsigned char[::1] view = memoryview(data).cast("B")
    cdef Py_ssize_t end = view.shape[0]
    cdef Py_ssize_t pos = offset
    cdef unsigned int value = 0
    cdef int shift = 0
    cdef unsigned char byte
    if offset < 0:
        raise ValueError("offset must not be negative")
    while pos < end:
        byte = view[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return value, pos - offset
        if pos - offset == 4:
            raise MalformedPacket("variable byte integer longer than 4 bytes", offset)
        shift += 7
    raise Incomplete("buffer ends inside a variable byte integer", offset)
