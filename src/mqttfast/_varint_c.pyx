"""Variable byte integers (MQTT 5.0 §1.5.5), compiled twin of ``_varint_py``."""

import operator

from ._wire cimport MAX_VARINT
from ._errors import Incomplete, MalformedPacket

__all__ = ["encode_varint", "decode_varint", "varint_size"]


cdef long long _in_range(object value) except -1:
    """``value`` as an integer of the variable byte integer's range, else the twin's errors."""
    value = operator.index(value)
    if value < 0 or value > MAX_VARINT:
        raise MalformedPacket(f"variable byte integer {value} out of range 0..{MAX_VARINT}")
    return value


def varint_size(value):
    """Number of bytes the minimal encoding of ``value`` takes."""
    return varint_size_of(_in_range(value))


def encode_varint(value):
    """Encode ``value`` in the fewest bytes [MQTT-1.5.5-1]."""
    cdef unsigned char out[4]
    return out[:store_varint(out, _in_range(value)) - out]


def decode_varint(data, offset=0):
    """Decode the variable byte integer at ``offset`` of any buffer.

    Returns ``(value, nbytes)``. Raises ``Incomplete`` when the buffer ends
    inside the integer and ``MalformedPacket`` on a fifth byte.
    """
    cdef const unsigned char[::1] view = memoryview(data).cast("B")
    cdef Py_ssize_t value = 0
    cdef Py_ssize_t start, end
    offset = operator.index(offset)
    if offset < 0:
        raise ValueError("offset must not be negative")
    if offset >= view.shape[0]:
        raise Incomplete("buffer ends inside a variable byte integer", offset)
    start = offset
    end = load_varint(&view[0], start, view.shape[0], &value)
    if end == VARINT_TOO_LONG:
        raise MalformedPacket("variable byte integer longer than 4 bytes", offset)
    if end == VARINT_INCOMPLETE:
        raise Incomplete("buffer ends inside a variable byte integer", offset)
    return value, end - start
