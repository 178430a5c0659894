"""Variable byte integers (MQTT 5.0 §1.5.5), compiled twin of ``_varint_py``."""

from ._wire cimport MAX_VARINT
from ._errors import Incomplete, MalformedPacket

__all__ = ["encode_varint", "decode_varint", "varint_size"]


cpdef int varint_size(long long value) except -1:
    """Number of bytes the minimal encoding of ``value`` takes."""
    if value < 0 or value > MAX_VARINT:
        raise MalformedPacket(f"variable byte integer {value} out of range 0..{MAX_VARINT}")
    return varint_size_of(value)


cpdef bytes encode_varint(long long value):
    """Encode ``value`` in the fewest bytes [MQTT-1.5.5-1]."""
    cdef unsigned char out[4]
    if value < 0 or value > MAX_VARINT:
        raise MalformedPacket(f"variable byte integer {value} out of range 0..{MAX_VARINT}")
    return out[:store_varint(out, value) - out]


def decode_varint(data, Py_ssize_t offset=0):
    """Decode the variable byte integer at ``offset`` of any buffer.

    Returns ``(value, nbytes)``. Raises ``Incomplete`` when the buffer ends
    inside the integer and ``MalformedPacket`` on a fifth byte.
    """
    cdef const unsigned char[::1] view = memoryview(data).cast("B")
    cdef Py_ssize_t value = 0
    cdef Py_ssize_t end
    if offset < 0:
        raise ValueError("offset must not be negative")
    end = load_varint(&view[0] if view.shape[0] else NULL, offset, view.shape[0], &value)
    if end == VARINT_TOO_LONG:
        raise MalformedPacket("variable byte integer longer than 4 bytes", offset)
    if end == VARINT_INCOMPLETE:
        raise Incomplete("buffer ends inside a variable byte integer", offset)
    return value, end - offset
