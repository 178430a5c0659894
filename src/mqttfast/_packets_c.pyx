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

from ._cpython cimport PyMemoryView_FromObject, PyMemoryView_GET_BUFFER
from ._property_block cimport skip_property_value
from ._varint_c cimport load_varint
from . cimport _wire
from ._wire cimport (
    K_BINARY,
    K_BYTE,
    K_FOUR_BYTE_INT,
    K_STRING_PAIR,
    K_TWO_BYTE_INT,
    K_UTF8_STRING,
    K_VARINT,
    P_CONTENT_TYPE,
    P_CORRELATION_DATA,
    P_RESPONSE_TOPIC,
)

from ._constants import PROPERTY_TYPES, PacketType
from ._fields import (
    FIELDS,
    FRESH_LIST,
    PACKET_NAMES,
    packet_copy,
    packet_reduce,
    packet_repr,
    will_to_publish,
)

__all__ = list(PACKET_NAMES)

#: The constants of ``_wire.pxd`` as the compiled code sees them, by name, so
#: that a test can prove each equals its ``_constants`` counterpart.
_WIRE_CONSTANTS = {
    "NO_VERSION": _wire.NO_VERSION,
    "MQTT_3_1": _wire.MQTT_3_1,
    "MQTT_3_1_1": _wire.MQTT_3_1_1,
    "MQTT_5": _wire.MQTT_5,
    "BRIDGE_BIT": _wire.BRIDGE_BIT,
    "V3_UNACCEPTABLE_PROTOCOL_VERSION": _wire.V3_UNACCEPTABLE_PROTOCOL_VERSION,
    "MAX_VARINT": _wire.MAX_VARINT,
    "WILL": _wire.WILL,
    "T_CONNECT": _wire.T_CONNECT,
    "T_CONNACK": _wire.T_CONNACK,
    "T_PUBLISH": _wire.T_PUBLISH,
    "T_PUBACK": _wire.T_PUBACK,
    "T_PUBREC": _wire.T_PUBREC,
    "T_PUBREL": _wire.T_PUBREL,
    "T_PUBCOMP": _wire.T_PUBCOMP,
    "T_SUBSCRIBE": _wire.T_SUBSCRIBE,
    "T_SUBACK": _wire.T_SUBACK,
    "T_UNSUBSCRIBE": _wire.T_UNSUBSCRIBE,
    "T_UNSUBACK": _wire.T_UNSUBACK,
    "T_PINGREQ": _wire.T_PINGREQ,
    "T_PINGRESP": _wire.T_PINGRESP,
    "T_DISCONNECT": _wire.T_DISCONNECT,
    "T_AUTH": _wire.T_AUTH,
    "K_BYTE": _wire.K_BYTE,
    "K_TWO_BYTE_INT": _wire.K_TWO_BYTE_INT,
    "K_FOUR_BYTE_INT": _wire.K_FOUR_BYTE_INT,
    "K_VARINT": _wire.K_VARINT,
    "K_UTF8_STRING": _wire.K_UTF8_STRING,
    "K_BINARY": _wire.K_BINARY,
    "K_STRING_PAIR": _wire.K_STRING_PAIR,
    "P_PAYLOAD_FORMAT_INDICATOR": _wire.P_PAYLOAD_FORMAT_INDICATOR,
    "P_MESSAGE_EXPIRY_INTERVAL": _wire.P_MESSAGE_EXPIRY_INTERVAL,
    "P_CONTENT_TYPE": _wire.P_CONTENT_TYPE,
    "P_RESPONSE_TOPIC": _wire.P_RESPONSE_TOPIC,
    "P_CORRELATION_DATA": _wire.P_CORRELATION_DATA,
    "P_SUBSCRIPTION_IDENTIFIER": _wire.P_SUBSCRIPTION_IDENTIFIER,
    "P_RECEIVE_MAXIMUM": _wire.P_RECEIVE_MAXIMUM,
    "P_TOPIC_ALIAS": _wire.P_TOPIC_ALIAS,
    "P_USER_PROPERTY": _wire.P_USER_PROPERTY,
    "P_MAXIMUM_PACKET_SIZE": _wire.P_MAXIMUM_PACKET_SIZE,
}

# Property id -> wire type (_constants.PropertyType values), for walking raw property blocks.
cdef unsigned char _property_kind[64]
for _pid in range(64):
    _property_kind[_pid] = PROPERTY_TYPES.get(_pid, 0)


cdef class _Packet:
    """Keyword construction, equality, repr, copy and pickle, driven by the ``_fields`` table.

    Construction and equality are compiled; repr, copy and pickle are shared
    with the pure-Python twin (``_fields``). ``repr`` shows the fields that
    differ from their defaults; a binary field shows as ``b'...'`` when it is
    ``bytes`` and as ``memoryview(b'...')`` when it is a view of a decoder's
    input, and beyond 64 bytes only the first 64 followed by ``... (N bytes)``.
    Pickling and ``copy.deepcopy`` turn views into ``bytes`` (a copy must not
    keep the decoder's buffer alive); ``copy.copy`` keeps the same field objects.
    """

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

    # Compiled, unlike the rest: sharing packet_eq costs a third more.
    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        for name, _ in self._fields:
            if not getattr(self, name) == getattr(other, name):
                return False
        return True

    __hash__ = None  # mutable, like a list

    def __repr__(self):
        return packet_repr(self)

    def __copy__(self):
        return packet_copy(self)

    def __reduce__(self):
        return packet_reduce(self)


cdef list _user_properties_from(const unsigned char* block, Py_ssize_t size):
    """The (name, value) pairs of a property block the decoder has already validated."""
    cdef list pairs = []
    cdef Py_ssize_t pos = 0, length
    cdef int pid, kind
    cdef str name
    while pos < size:
        pid = block[pos]  # every identifier of MQTT 5.0 is one byte
        pos += 1
        kind = _property_kind[pid & 63]
        if kind == K_STRING_PAIR:
            length = block[pos] << 8 | block[pos + 1]
            name = PyUnicode_DecodeUTF8(<const char*>block + pos + 2, length, NULL)
            pos += 2 + length
            length = block[pos] << 8 | block[pos + 1]
            pairs.append((name, PyUnicode_DecodeUTF8(<const char*>block + pos + 2, length, NULL)))
            pos += 2 + length
        else:
            pos = skip_property_value(block, pos, kind)
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

    def to_publish(self):
        """The PUBLISH a server sends for this will: its topic, payload (the same object), QoS, retain and properties.

        ``user_properties`` is a new list of the same pairs; ``packet_id`` is
        None (assign one for QoS 1 and 2). ``will_delay_interval`` is no
        PUBLISH property: the server applies it, waiting that long before it
        publishes the will.
        """
        return will_to_publish(self, Publish)


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
        cdef Py_ssize_t number = 0
        if self._lazy_owner is None:
            return 0
        while pos < size:
            pid = block[pos]  # every identifier of MQTT 5.0 is one byte
            pos += 1
            kind = _property_kind[pid & 63]
            if kind == K_UTF8_STRING or kind == K_BINARY or kind == K_STRING_PAIR:
                length = block[pos] << 8 | block[pos + 1]
                pos += 2
                if pid == P_CONTENT_TYPE:
                    self._content_type = PyUnicode_DecodeUTF8(<const char*>block + pos, length, NULL)
                elif pid == P_RESPONSE_TOPIC:
                    self._response_topic = PyUnicode_DecodeUTF8(<const char*>block + pos, length, NULL)
                elif pid == P_CORRELATION_DATA:
                    self._correlation_data = _view_of(self._lazy_owner, block + pos, length)
                elif kind == K_STRING_PAIR:  # a user property's name; its value follows
                    pos += length
                    length = block[pos] << 8 | block[pos + 1]
                    pos += 2
                pos += length
            # The other kinds each have one PUBLISH property, so the kind names it.
            elif kind == K_BYTE:  # P_PAYLOAD_FORMAT_INDICATOR
                self._payload_format_indicator = block[pos]
                pos += 1
            elif kind == K_TWO_BYTE_INT:  # P_TOPIC_ALIAS
                self._topic_alias = block[pos] << 8 | block[pos + 1]
                pos += 2
            elif kind == K_FOUR_BYTE_INT:  # P_MESSAGE_EXPIRY_INTERVAL
                self._message_expiry_interval = (
                    (<long long>block[pos] << 24) | (block[pos + 1] << 16) | (block[pos + 2] << 8) | block[pos + 3]
                )
                pos += 4
            else:  # K_VARINT: P_SUBSCRIPTION_IDENTIFIER, one per matching subscription
                # Validated: the integer ends inside the block.
                pos = load_varint(block, pos, size, &number)
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
