"""The codec's public functions, compiled twin of ``_codec_py``.

One extension built from one file per job, included here in the order of the
pure-Python twin's modules, with the same function names (msgpack builds
``_cmsgpack`` the same way): the checks both directions share, reading,
writing, forwarding, and the streaming decoder. The code works on raw
buffers: decoding reads the input through one ``Py_buffer`` and creates only
the objects it returns (a PUBLISH's properties and payload view only when
first read); encoding validates and writes a packet in one pass into a stack
buffer, or measures it first when it does not fit, then fills one allocation.
PUBLISH, the packet a broker sees millions of times, gets direct field access;
the other packets share the generic, table-driven paths.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_XDECREF
from cpython.unicode cimport PyUnicode_CheckExact
from cpython.list cimport PyList_CheckExact, PyList_GET_SIZE
from cpython.object cimport PyObject_IsTrue
from cpython.tuple cimport PyTuple_CheckExact
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_FromStringAndSize
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.string cimport memchr, memcmp, memcpy, memmove

import operator

from cpython.pyport cimport PY_SSIZE_T_MAX

from ._constants import (
    ALLOWED_PROPERTIES,
    ALLOWED_REASON_CODES,
    DEFAULT_COPY_THRESHOLD,
    DEFAULT_MAX_PACKET_SIZE,
    DEFAULT_MAX_PROPERTIES,
    PROPERTY_NAMES,
    PROPERTY_TYPES,
    V3_SUBACK_CODES,
    PacketType,
    ReasonCode,
)
from ._errors import (
    MQTTError,
    ClientIdentifierNotValid,
    Incomplete,
    InvalidTopicName,
    MalformedPacket,
    PacketTooLarge,
    ProtocolError,
    TopicAliasInvalid,
    UnsupportedProtocolVersion,
)
from ._topics_c cimport validate_topic_filter

from ._packets_c cimport (
    Auth,
    Connack,
    Connect,
    Disconnect,
    Pingreq,
    Pingresp,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    Suback,
    Subscribe,
    Subscription,
    Unsuback,
    Unsubscribe,
    Will,
    _Ack,
    _Packet,
    _WithUserProperties,
)
from ._cpython cimport *
from ._property_block cimport skip_property_value
from ._varint_c cimport VARINT_INCOMPLETE, VARINT_TOO_LONG, load_varint, store_varint, varint_size_of
from ._wire cimport *

__all__ = ["decode", "encode", "encode_into", "encoded_size", "encode_forward", "Decoder"]

include "_rules_c.pxi"
include "_readers_c.pxi"
include "_writers_c.pxi"
include "_forward_c.pxi"
include "_decoder_c.pxi"
