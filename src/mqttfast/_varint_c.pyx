"""Variable byte integers (MQTT 5.0 §1.5.5), compiled twin of ``_varint_py``."""

from cpython.number cimport PyNumber_Index

from ._cpython cimport PyLong_AsLongLongAndOverflow
from ._wire cimport MAX_VARINT
from ._errors import Incomplete, MalformedPacket

__all__ = ["encode_varint", "decode_varint", "varint_size"]


cdef long long _in_range(object value) except -1:
    """``value`` as an integer of the variable byte integer's range, else the twin's errors."""
    cdef int overflow = 0
    cdef long long number
    if type(value) is not int:
        value = PyNumber_Index(value)  # TypeError for what is no integer, as operator.index
    number = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow or number < 0 or number > MAX_VARINT:
        raise MalformedPacket(f"variable byte integer {value} out of range 0..{MAX_VARINT}")
    return number


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
    cdef Py_ssize_t end
    cdef long long start
    cdef int overflow = 0
    if type(offset) is not int:
        offset = PyNumber_Index(offset)
    start = PyLong_AsLongLongAndOverflow(offset, &overflow)
    if overflow < 0 or (overflow == 0 and start < 0):
        raise ValueError("offset must not be negative")
    if overflow > 0 or start >= view.shape[0]:
        raise Incomplete("buffer ends inside a variable byte integer", offset)
    end = load_varint(&view[0], start, view.shape[0], &value)
    if end == VARINT_TOO_LONG:
        raise MalformedPacket("variable byte integer longer than 4 bytes", offset)
    if end == VARINT_INCOMPLETE:
        raise Incomplete("buffer ends inside a variable byte integer", offset)
    return value, end - start
