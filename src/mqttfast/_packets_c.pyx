# cython: language_level=3
"""The packet classes, compiled twin of ``_packets_py``.

``cdef class`` versions of the same classes with the same fields (the table in
``_fields``), so the compiled codec reads and writes fields as struct members.
``user_properties`` (and a PUBLISH's ``subscription_identifiers``) are
created on first access: a broker forwarding a message rarely reads them, and
building a list of tuples of strings per decoded packet is measurable. The
decoder validates them eagerly, so errors are raised exactly where the
pure-Python twin raises them; only the objects are built late.

Packets are not tracked by the cycle collector (``no_gc``): a decoder makes
millions of them, each would count towards every collection, and what they
hold (strings, numbers, buffers, lists of pairs) cannot refer back to them.
A packet made to contain itself, directly or not, is therefore never freed.
"""

cimport cython
from cpython.unicode cimport PyUnicode_DecodeUTF8

cdef extern from "Python.h":
    Py_buffer* PyMemoryView_GET_BUFFER(object view)
    object PyMemoryView_FromObject(object obj)

from ._constants import PROPERTY_TYPES, PacketType
from ._fields import FIELDS, FRESH_LIST

# Property id -> wire type (_constants.PropertyType values), for walking raw property blocks.
cdef unsigned char _property_kind[64]
for _pid in range(64):
    _property_kind[_pid] = PROPERTY_TYPES.get(_pid, 0)

__all__ = [
    "Will",
    "Connect",
    "Connack",
    "Publish",
    "Puback",
    "Pubrec",
    "Pubrel",
    "Pubcomp",
    "Subscription",
    "Subscribe",
    "Suback",
    "Unsubscribe",
    "Unsuback",
    "Pingreq",
    "Pingresp",
    "Disconnect",
    "Auth",
]


cdef object _as_bytes_if_binary(object value):
    # A memoryview's repr says nothing about its content; show it as bytes.
    return bytes(value) if isinstance(value, memoryview) else value


cdef class _Packet:
    """Keyword construction, equality and repr, driven by the ``_fields`` table."""

    _fields = ()

    def __init__(self, **fields):
        cdef str name
        for name, default in self._fields:
            value = fields.pop(name, default) if fields else default
            if default is FRESH_LIST and (value is FRESH_LIST or value is None):
                value = []
            setattr(self, name, value)
        if fields:
            name = next(iter(fields))
            raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {name!r}")

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name, _ in self._fields)

    __hash__ = None  # mutable, like a list

    def __repr__(self):
        parts = []
        for name, default in self._fields:
            value = getattr(self, name)
            if default is FRESH_LIST:
                if not value:
                    continue
            elif value is default or value == default:
                continue
            parts.append(f"{name}={_as_bytes_if_binary(value)!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def __reduce__(self):
        return _rebuild, (type(self), {name: getattr(self, name) for name, _ in self._fields})


def _rebuild(cls, fields):
    return cls(**fields)


cdef list _user_properties_from(const unsigned char* block, Py_ssize_t size):
    """The (name, value) pairs of a property block the decoder has already validated."""
    cdef list pairs = []
    cdef Py_ssize_t pos = 0, length
    cdef int pid, kind, shift
    cdef long skip
    cdef str name
    while pos < size:
        pid = block[pos]  # every identifier of MQTT 5.0 is one byte
        pos += 1
        kind = _property_kind[pid & 63]
        if kind == 7:
            length = block[pos] << 8 | block[pos + 1]
            name = PyUnicode_DecodeUTF8(<const char*>block + pos + 2, length, NULL)
            pos += 2 + length
            length = block[pos] << 8 | block[pos + 1]
            pairs.append((name, PyUnicode_DecodeUTF8(<const char*>block + pos + 2, length, NULL)))
            pos += 2 + length
        elif kind == 1:
            pos += 1
        elif kind == 2:
            pos += 2
        elif kind == 3:
            pos += 4
        elif kind == 4:
            while block[pos] & 0x80:
                pos += 1
            pos += 1
        else:
            pos += 2 + (block[pos] << 8 | block[pos + 1])
    return pairs


cdef object _view_of(object owner, const unsigned char* data, Py_ssize_t size):
    """A memoryview of ``data[:size]``, which lies inside the memory ``owner`` exposes.

    ``owner`` is a 1-D memoryview of bytes (a new view on its managed buffer)
    or a ``bytes`` object (a new managed buffer of its own).
    """
    cdef object view = PyMemoryView_FromObject(owner)
    cdef Py_buffer* buffer = PyMemoryView_GET_BUFFER(view)
    buffer.buf = <void*>data
    buffer.len = size
    buffer.shape[0] = size
    return view


@cython.no_gc
cdef class _WithUserProperties(_Packet):
    @property
    def user_properties(self):
        """MQTT 5 User Properties: a list of (name, value) str pairs, in wire order."""
        if self._user_properties is None:
            if self._raw_owner is not None:
                self._user_properties = _user_properties_from(self._raw_block, self._raw_size)
                self._raw_owner = None
            else:
                self._user_properties = []
        return self._user_properties

    @user_properties.setter
    def user_properties(self, value):
        self._user_properties = [] if value is None else value
        self._raw_owner = None


@cython.no_gc
cdef class Will(_WithUserProperties):
    """The will message of a CONNECT: published by the server if the client vanishes."""

    _fields = FIELDS["Will"]


@cython.no_gc
cdef class Connect(_WithUserProperties):
    """CONNECT (MQTT 5.0 §3.1). ``protocol_version`` is 3 (3.1), 4 (3.1.1) or 5 (5.0)."""

    packet_type = PacketType.CONNECT
    _fields = FIELDS["Connect"]


@cython.no_gc
cdef class Connack(_WithUserProperties):
    """CONNACK (MQTT 5.0 §3.2). Under 3.x ``reason_code`` is the return code 0..5."""

    packet_type = PacketType.CONNACK
    _fields = FIELDS["Connack"]


@cython.no_gc
cdef class Publish(_WithUserProperties):
    """PUBLISH (MQTT 5.0 §3.3). ``packet_id`` is None for QoS 0 and required otherwise."""

    packet_type = PacketType.PUBLISH
    _fields = FIELDS["Publish"]

    cdef int _load(self) except -1:
        """Build the MQTT 5 property fields from the block the decoder validated."""
        cdef const unsigned char* block = self._raw_block
        cdef Py_ssize_t size = self._raw_size, pos = 0, length
        cdef int pid, kind
        cdef long long number
        cdef int shift
        if self._lazy_owner is None:
            return 0
        while pos < size:
            pid = block[pos]  # every identifier of MQTT 5.0 is one byte
            pos += 1
            kind = _property_kind[pid & 63]
            if kind == 5 or kind == 6 or kind == 7:
                length = block[pos] << 8 | block[pos + 1]
                pos += 2
                if pid == 0x03:
                    self._content_type = PyUnicode_DecodeUTF8(<const char*>block + pos, length, NULL)
                elif pid == 0x08:
                    self._response_topic = PyUnicode_DecodeUTF8(<const char*>block + pos, length, NULL)
                elif pid == 0x09:
                    self._correlation_data = _view_of(self._lazy_owner, block + pos, length)
                elif kind == 7:  # a user property's name; its value follows
                    pos += length
                    length = block[pos] << 8 | block[pos + 1]
                    pos += 2
                pos += length
            elif kind == 1:
                self._payload_format_indicator = block[pos]
                pos += 1
            elif kind == 2:
                self._topic_alias = block[pos] << 8 | block[pos + 1]
                pos += 2
            elif kind == 3:
                self._message_expiry_interval = (
                    (<long long>block[pos] << 24) | (block[pos + 1] << 16) | (block[pos + 2] << 8) | block[pos + 3]
                )
                pos += 4
            else:  # the subscription identifiers, variable byte integers
                number = 0
                shift = 0
                while block[pos] & 0x80:
                    number |= <long long>(block[pos] & 0x7F) << shift
                    shift += 7
                    pos += 1
                number |= <long long>block[pos] << shift
                pos += 1
                if self._subscription_identifiers is None:
                    self._subscription_identifiers = [number]
                else:
                    self._subscription_identifiers.append(number)
        self._lazy_owner = None
        return 0

    cdef object _get_payload(self):
        if self._payload_owner is not None:
            self._payload = _view_of(self._payload_owner, self._payload_data, self._payload_size)
            self._payload_owner = None
        return self._payload

    @property
    def payload(self):
        """The application message: bytes-like (a ``memoryview`` of the input when decoded)."""
        return self._get_payload()

    @payload.setter
    def payload(self, value):
        self._payload = value
        self._payload_owner = None

    @payload.deleter
    def payload(self):
        # What deleting a ``cdef public`` field does: None is left behind.
        self._payload = None
        self._payload_owner = None

    @property
    def payload_format_indicator(self):
        self._load()
        return self._payload_format_indicator

    @payload_format_indicator.setter
    def payload_format_indicator(self, value):
        self._load()
        self._payload_format_indicator = value

    @property
    def message_expiry_interval(self):
        self._load()
        return self._message_expiry_interval

    @message_expiry_interval.setter
    def message_expiry_interval(self, value):
        self._load()
        self._message_expiry_interval = value

    @property
    def content_type(self):
        self._load()
        return self._content_type

    @content_type.setter
    def content_type(self, value):
        self._load()
        self._content_type = value

    @property
    def response_topic(self):
        self._load()
        return self._response_topic

    @response_topic.setter
    def response_topic(self, value):
        self._load()
        self._response_topic = value

    @property
    def correlation_data(self):
        self._load()
        return self._correlation_data

    @correlation_data.setter
    def correlation_data(self, value):
        self._load()
        self._correlation_data = value

    @property
    def topic_alias(self):
        self._load()
        return self._topic_alias

    @topic_alias.setter
    def topic_alias(self, value):
        self._load()
        self._topic_alias = value

    @property
    def subscription_identifiers(self):
        """MQTT 5 Subscription Identifiers: one int per matching subscription."""
        self._load()
        if self._subscription_identifiers is None:
            self._subscription_identifiers = []
        return self._subscription_identifiers

    @subscription_identifiers.setter
    def subscription_identifiers(self, value):
        self._load()
        self._subscription_identifiers = [] if value is None else value


@cython.no_gc
cdef class _Ack(_WithUserProperties):
    pass


@cython.no_gc
cdef class Puback(_Ack):
    """PUBACK (MQTT 5.0 §3.4): QoS 1 acknowledgement."""

    packet_type = PacketType.PUBACK
    _fields = FIELDS["Puback"]


@cython.no_gc
cdef class Pubrec(_Ack):
    """PUBREC (MQTT 5.0 §3.5): QoS 2 delivery, part 1."""

    packet_type = PacketType.PUBREC
    _fields = FIELDS["Pubrec"]


@cython.no_gc
cdef class Pubrel(_Ack):
    """PUBREL (MQTT 5.0 §3.6): QoS 2 delivery, part 2."""

    packet_type = PacketType.PUBREL
    _fields = FIELDS["Pubrel"]


@cython.no_gc
cdef class Pubcomp(_Ack):
    """PUBCOMP (MQTT 5.0 §3.7): QoS 2 delivery, part 3."""

    packet_type = PacketType.PUBCOMP
    _fields = FIELDS["Pubcomp"]


@cython.no_gc
cdef class Subscription(_Packet):
    """One topic filter of a SUBSCRIBE with its options (MQTT 5.0 §3.8.3.1)."""

    _fields = FIELDS["Subscription"]


@cython.no_gc
cdef class Subscribe(_WithUserProperties):
    """SUBSCRIBE (MQTT 5.0 §3.8): ``subscriptions`` is a list of ``Subscription``."""

    packet_type = PacketType.SUBSCRIBE
    _fields = FIELDS["Subscribe"]


@cython.no_gc
cdef class Suback(_WithUserProperties):
    """SUBACK (MQTT 5.0 §3.9): one reason code per requested filter."""

    packet_type = PacketType.SUBACK
    _fields = FIELDS["Suback"]


@cython.no_gc
cdef class Unsubscribe(_WithUserProperties):
    """UNSUBSCRIBE (MQTT 5.0 §3.10): ``topic_filters`` is a list of str."""

    packet_type = PacketType.UNSUBSCRIBE
    _fields = FIELDS["Unsubscribe"]


@cython.no_gc
cdef class Unsuback(_WithUserProperties):
    """UNSUBACK (MQTT 5.0 §3.11): reason codes exist in MQTT 5 only (empty under 3.x)."""

    packet_type = PacketType.UNSUBACK
    _fields = FIELDS["Unsuback"]


@cython.no_gc
cdef class Pingreq(_Packet):
    """PINGREQ (MQTT 5.0 §3.12)."""

    packet_type = PacketType.PINGREQ
    _fields = FIELDS["Pingreq"]


@cython.no_gc
cdef class Pingresp(_Packet):
    """PINGRESP (MQTT 5.0 §3.13)."""

    packet_type = PacketType.PINGRESP
    _fields = FIELDS["Pingresp"]


@cython.no_gc
cdef class Disconnect(_WithUserProperties):
    """DISCONNECT (MQTT 5.0 §3.14). The reason code and properties exist in MQTT 5 only."""

    packet_type = PacketType.DISCONNECT
    _fields = FIELDS["Disconnect"]


@cython.no_gc
cdef class Auth(_WithUserProperties):
    """AUTH (MQTT 5.0 §3.15), MQTT 5 only: extended authentication exchange."""

    packet_type = PacketType.AUTH
    _fields = FIELDS["Auth"]
