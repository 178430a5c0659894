# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Packet encoding and decoding, compiled twin of ``_codec_py``.

A function-by-function translation of the pure-Python twin, working on raw
buffers: decoding reads the input through one ``Py_buffer`` and creates only
the objects it returns (a PUBLISH's properties only when first read);
encoding validates and writes a packet in one pass into a stack buffer, or
measures it first when it does not fit, then fills one allocation. PUBLISH,
the packet a broker sees millions of times, gets direct field access; the
other packets share the generic, table-driven paths.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_XDECREF
from cpython.unicode cimport PyUnicode_CheckExact
from cpython.list cimport PyList_CheckExact, PyList_GET_SIZE
from cpython.object cimport PyObject_IsTrue
from cpython.tuple cimport PyTuple_CheckExact
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.bytearray cimport PyByteArray_AS_STRING
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.string cimport memchr, memcmp, memcpy, memmove

from ._constants import (
    ALLOWED_PROPERTIES,
    ALLOWED_REASON_CODES,
    DEFAULT_MAX_PACKET_SIZE,
    DEFAULT_MAX_PROPERTIES,
    PROPERTY_NAMES,
    PROPERTY_TYPES,
    V3_SUBACK_CODES,
    PacketType,
)
from ._errors import (
    ClientIdentifierNotValid,
    Incomplete,
    InvalidTopicName,
    MalformedPacket,
    PacketTooLarge,
    ProtocolError,
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

cdef extern from "Python.h":
    bint PyLong_Check(object value)
    long PyLong_AsLongAndOverflow(object value, int* overflow) except? -1
    long long PyLong_AsLongLongAndOverflow(object value, int* overflow) except? -1
    const char* PyUnicode_AsUTF8AndSize(object text, Py_ssize_t* size) except NULL
    Py_buffer* PyMemoryView_GET_BUFFER(object view)
    bint PyUnicode_IS_COMPACT_ASCII(object text)
    void* PyUnicode_DATA(object text)
    Py_ssize_t PyUnicode_GET_LENGTH(object text)
    object PyMemoryView_FromObject(object obj)

cdef extern from *:
    """
    /* The value of an exact int that fits one internal digit (30 bits), read in
       place: the numbers of MQTT fields nearly always do, and the public
       conversion functions cost several times more. Returns 0 when the caller
       must take the general path. */
    /* Nonzero when some byte of data[0:size] is U+0000 or not ASCII: the strings
       that need the full UTF-8 decoder. Eight bytes at a time: a byte is 0 when
       subtracting 1 borrows into its high bit, non-ASCII when its high bit is set
       (a borrow can only add false hits next to a true one). */
    static CYTHON_INLINE int mqttfast_needs_utf8_decoder(const unsigned char *data, Py_ssize_t size) {
        const unsigned long long ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
        unsigned long long word;
        Py_ssize_t i = 0;
        for (; i + 8 <= size; i += 8) {
            memcpy(&word, data + i, 8);
            if (((word - ones) | word) & highs) return 1;
        }
        for (; i < size; i++) {
            if (data[i] == 0 || data[i] >= 0x80) return 1;
        }
        return 0;
    }

    /* Index of the lowest set bit of a nonzero mask. */
    static CYTHON_INLINE int mqttfast_lowest_bit(unsigned long long mask) {
    #if defined(__GNUC__) || defined(__clang__)
        return __builtin_ctzll(mask);
    #else
        int index = 0;
        while (!(mask & 1)) { mask >>= 1; index++; }
        return index;
    #endif
    }

    /* The part of a Py_buffer the encoder reads (obj, buf, len), for an exact
       bytes object: a reference and its storage; bytes have no release hook. */
    static CYTHON_INLINE void mqttfast_bytes_buffer(Py_buffer *view, PyObject *bytes) {
        Py_INCREF(bytes);
        view->obj = bytes;
        view->buf = PyBytes_AS_STRING(bytes);
        view->len = PyBytes_GET_SIZE(bytes);
    }

    /* A Py_buffer holding nothing yet: PyBuffer_Release on it does nothing. */
    static CYTHON_INLINE void mqttfast_no_buffer(Py_buffer *view) {
        view->obj = NULL;
    }

    static CYTHON_INLINE int mqttfast_small_int(PyObject *value, long long *out) {
    #if PY_VERSION_HEX >= 0x030C0000
        if (PyLong_CheckExact(value) && _PyLong_IsCompact((PyLongObject *)value)) {
            *out = (long long)_PyLong_CompactValue((PyLongObject *)value);
            return 1;
        }
    #else
        if (PyLong_CheckExact(value)) {
            Py_ssize_t size = Py_SIZE(value);
            if (size == 0 || size == 1) {
                *out = size ? (long long)((PyLongObject *)value)->ob_digit[0] : 0;
                return 1;
            }
        }
    #endif
        return 0;
    }
    """
    bint mqttfast_small_int(object value, long long* out)
    void mqttfast_bytes_buffer(Py_buffer* view, object data)
    void mqttfast_no_buffer(Py_buffer* view)
    int mqttfast_lowest_bit(unsigned long long mask)
    bint mqttfast_needs_utf8_decoder(const unsigned char* data, Py_ssize_t size)
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)

__all__ = ["decode", "encode", "encode_into", "encoded_size", "encode_forward", "Decoder"]

# Protocol levels, packet types and wire types as C constants (values from _constants).
DEF MQTT_3_1 = 3
DEF MQTT_3_1_1 = 4
DEF MQTT_5 = 5
DEF NO_VERSION = 0
DEF WILL = 0
DEF MAX_VARINT = 268435455

DEF T_CONNECT = 1
DEF T_CONNACK = 2
DEF T_PUBLISH = 3
DEF T_PUBACK = 4
DEF T_PUBREC = 5
DEF T_PUBREL = 6
DEF T_PUBCOMP = 7
DEF T_SUBSCRIBE = 8
DEF T_SUBACK = 9
DEF T_UNSUBSCRIBE = 10
DEF T_UNSUBACK = 11
DEF T_PINGREQ = 12
DEF T_PINGRESP = 13
DEF T_DISCONNECT = 14
DEF T_AUTH = 15

DEF K_BYTE = 1
DEF K_TWO_BYTE_INT = 2
DEF K_FOUR_BYTE_INT = 3
DEF K_VARINT = 4
DEF K_UTF8_STRING = 5
DEF K_BINARY = 6
DEF K_STRING_PAIR = 7

DEF P_PAYLOAD_FORMAT_INDICATOR = 0x01
DEF P_MESSAGE_EXPIRY_INTERVAL = 0x02
DEF P_CONTENT_TYPE = 0x03
DEF P_RESPONSE_TOPIC = 0x08
DEF P_CORRELATION_DATA = 0x09
DEF P_SUBSCRIPTION_IDENTIFIER = 0x0B
DEF P_RECEIVE_MAXIMUM = 0x21
DEF P_TOPIC_ALIAS = 0x23
DEF P_USER_PROPERTY = 0x26
DEF P_MAXIMUM_PACKET_SIZE = 0x27

# Lookup tables filled once from the shared Python tables, so the twins cannot drift.
cdef unsigned char _property_kind[64]
cdef unsigned long long _allowed_properties[16]
cdef unsigned long long _allowed_reason_codes[16][4]
cdef unsigned char _required_flags[16]
cdef object _names_by_type = {}
cdef list _property_names = [None] * 64  # pid -> attribute name, for direct indexing
# Properties whose value 0 is a Protocol Error (MQTT 5.0 §3.1.2.11, §3.3.2.3).
cdef unsigned long long NONZERO_PROPERTIES = (
    (1ULL << P_RECEIVE_MAXIMUM) | (1ULL << P_TOPIC_ALIAS) | (1ULL << P_MAXIMUM_PACKET_SIZE)
    | (1ULL << P_SUBSCRIPTION_IDENTIFIER)
)


cdef void _fill_tables():
    cdef int i
    for i in range(64):
        _property_kind[i] = 0
    for pid, kind in PROPERTY_TYPES.items():
        _property_kind[<int>pid] = <int>kind
        _property_names[<int>pid] = PROPERTY_NAMES[pid]
    for i in range(16):
        _allowed_properties[i] = 0
        _allowed_reason_codes[i][0] = _allowed_reason_codes[i][1] = 0
        _allowed_reason_codes[i][2] = _allowed_reason_codes[i][3] = 0
        _required_flags[i] = 0
    for packet_type, pids in ALLOWED_PROPERTIES.items():
        for pid in pids:
            _allowed_properties[<int>packet_type] |= 1ULL << <int>pid
    for packet_type, codes in ALLOWED_REASON_CODES.items():
        for code in codes:
            _allowed_reason_codes[<int>packet_type][<int>code >> 6] |= 1ULL << (<int>code & 63)
    _required_flags[T_PUBREL] = _required_flags[T_SUBSCRIBE] = _required_flags[T_UNSUBSCRIBE] = 2
    for packet_type in PacketType:
        _names_by_type[int(packet_type)] = packet_type.name
    _names_by_type[WILL] = "Will"


_fill_tables()


cdef inline bint _reason_code_allowed(int packet_type, int code):
    return (_allowed_reason_codes[packet_type][code >> 6] >> (code & 63)) & 1


cdef inline bint _has_wildcard(const char* text, Py_ssize_t size):
    # In UTF-8 the bytes 0x23 and 0x2B only ever encode '#' and '+'.
    return memchr(text, 0x2B, size) != NULL or memchr(text, 0x23, size) != NULL


cdef int _check_topic_name(object topic, str field, object offset) except -1:
    cdef Py_ssize_t size
    cdef const char* data = PyUnicode_AsUTF8AndSize(topic, &size)
    if _has_wildcard(data, size):
        raise InvalidTopicName(f"{field} {topic!r} contains a wildcard [MQTT-3.3.2-2]", offset)
    return 0


cdef inline int _check_int_property(int pid, long long value, object offset) except -1:
    """The rules of integer properties beyond their wire type, shared by reader and writer."""
    if _property_kind[pid] == K_BYTE and value > 1:
        raise ProtocolError(f"{_property_names[pid]} must be 0 or 1, not {value}", offset)
    if value == 0 and (NONZERO_PROPERTIES >> pid) & 1:
        raise ProtocolError(f"{_property_names[pid]} must not be 0", offset)
    return 0


cdef int _check_string_property(int pid, object value, object offset) except -1:
    if pid == P_RESPONSE_TOPIC:
        if not value:
            raise InvalidTopicName("response_topic must not be empty [MQTT-4.7.3-1]", offset)
        _check_topic_name(value, "response_topic", offset)
    return 0


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


cdef struct Reader:
    const unsigned char* base
    Py_ssize_t pos
    Py_ssize_t end
    bint copy
    # decode() owns its memoryview of the input: the last slice it hands out
    # (a PUBLISH payload) can be that view itself, narrowed, saving an object.
    bint own_view
    # The input cannot change or go away while ``owner`` (borrowed) is referenced
    # (immutable bytes, or a Decoder's own buffer), so property values may be
    # built from it on first access.
    bint lazy
    PyObject* owner
    Py_ssize_t max_properties


cdef inline Py_ssize_t _take(Reader* r, Py_ssize_t n, str field) except -1:
    cdef Py_ssize_t pos = r.pos
    if n > r.end - pos:
        raise MalformedPacket(f"{field} runs past the end of the packet", pos)
    r.pos = pos + n
    return pos


cdef inline long _u8(Reader* r, str field) except -1:
    return r.base[_take(r, 1, field)]


cdef inline long _u16(Reader* r, str field) except -1:
    cdef Py_ssize_t pos = _take(r, 2, field)
    return r.base[pos] << 8 | r.base[pos + 1]


cdef inline long long _u32(Reader* r, str field) except -1:
    cdef Py_ssize_t pos = _take(r, 4, field)
    return (
        (<long long>r.base[pos] << 24) | (r.base[pos + 1] << 16) | (r.base[pos + 2] << 8) | r.base[pos + 3]
    )


cdef long _varint(Reader* r, str field) except -1:
    cdef Py_ssize_t pos = r.pos
    cdef long value = 0
    cdef int shift = 0
    cdef int count
    cdef unsigned char byte
    for count in range(4):
        if pos >= r.end:
            raise MalformedPacket(f"{field} runs past the end of the packet", pos)
        byte = r.base[pos]
        pos += 1
        value |= <long>(byte & 0x7F) << shift
        if not byte & 0x80:
            r.pos = pos
            return value
        shift += 7
    raise MalformedPacket(f"{field}: variable byte integer longer than 4 bytes", r.pos)


cdef str _string(Reader* r, str field):
    cdef Py_ssize_t start = r.pos
    cdef Py_ssize_t length = _u16(r, field)
    cdef Py_ssize_t pos = _take(r, length, field)
    cdef const char* data = <const char*>(r.base + pos)
    if not mqttfast_needs_utf8_decoder(r.base + pos, length):
        # Plain ASCII, the usual case: its bytes are the string's own storage.
        text = PyUnicode_New(length, 127)
        memcpy(PyUnicode_DATA(text), data, length)
        return text
    try:
        # CPython's strict codec also refuses encoded surrogates [MQTT-1.5.4-1].
        text = PyUnicode_DecodeUTF8(data, length, NULL)
    except UnicodeDecodeError as exc:
        raise MalformedPacket(f"{field} is not well-formed UTF-8: {exc.reason}", start) from None
    if memchr(data, 0, length) != NULL:
        raise MalformedPacket(f"{field} contains U+0000 [MQTT-1.5.4-2]", start)
    return text


cdef object _view_slice(object view, Py_ssize_t pos, Py_ssize_t end):
    # view[pos:end] without building a slice object and two ints: a new memoryview
    # on the same managed buffer, narrowed exactly as CPython narrows a slice of a
    # 1-D view of itemsize 1 (_as_view guarantees that shape).
    cdef object sliced = PyMemoryView_FromObject(view)
    cdef Py_buffer* buffer = PyMemoryView_GET_BUFFER(sliced)
    buffer.buf = <char*>buffer.buf + pos
    buffer.len = end - pos
    buffer.shape[0] = end - pos
    return sliced


cdef int _skip_string(Reader* r, str field) except -1:
    """Validate a string without building it: ASCII without U+0000 is checked here."""
    cdef Py_ssize_t start = r.pos
    cdef Py_ssize_t length = _u16(r, field)
    cdef const unsigned char* data = r.base + _take(r, length, field)
    if mqttfast_needs_utf8_decoder(data, length):
        # Let the full path judge it, with the same error the eager decoder raises.
        r.pos = start
        _string(r, field)
    return 0


cdef object _slice(Reader* r, object view, Py_ssize_t pos, Py_ssize_t end):
    if r.copy:
        return PyBytes_FromStringAndSize(<const char*>(r.base + pos), end - pos)
    return _view_slice(view, pos, end)


cdef object _binary(Reader* r, object view, str field):
    cdef Py_ssize_t length = _u16(r, field)
    cdef Py_ssize_t pos = _take(r, length, field)
    return _slice(r, view, pos, pos + length)


cdef object _rest(Reader* r, object view):
    cdef Py_ssize_t pos = r.pos
    cdef Py_buffer* buffer
    r.pos = r.end
    if r.own_view and not r.copy:
        buffer = PyMemoryView_GET_BUFFER(view)
        buffer.buf = <char*>buffer.buf + pos
        buffer.len = r.end - pos
        buffer.shape[0] = r.end - pos
        return view
    return _slice(r, view, pos, r.end)


cdef long _packet_id(Reader* r) except -1:
    cdef Py_ssize_t pos = r.pos
    cdef long packet_id = _u16(r, "packet identifier")
    if not packet_id:
        raise ProtocolError("packet identifier must not be 0 [MQTT-2.2.1-3]", pos)
    return packet_id


cdef int _set_connect_property(Connect connect, int pid, object value) except -1:
    if pid == 0x11:
        connect.session_expiry_interval = value
    elif pid == 0x15:
        connect.authentication_method = value
    elif pid == 0x16:
        connect.authentication_data = value
    elif pid == 0x17:
        connect.request_problem_information = value
    elif pid == 0x19:
        connect.request_response_information = value
    elif pid == P_RECEIVE_MAXIMUM:
        connect.receive_maximum = value
    elif pid == 0x22:
        connect.topic_alias_maximum = value
    elif pid == P_MAXIMUM_PACKET_SIZE:
        connect.maximum_packet_size = value
    return 0


cdef int _set_property(object target, int packet_type, int pid, object value) except -1:
    # PUBLISH and CONNECT, the packets a broker reads most, get direct stores; the rest go by name.
    cdef Publish publish
    if packet_type == T_CONNECT:
        return _set_connect_property(<Connect>target, pid, value)
    if packet_type != T_PUBLISH:
        setattr(target, <str>_property_names[pid], value)
        return 0
    publish = <Publish>target
    if pid == P_PAYLOAD_FORMAT_INDICATOR:
        publish._payload_format_indicator = value
    elif pid == P_MESSAGE_EXPIRY_INTERVAL:
        publish._message_expiry_interval = value
    elif pid == P_CONTENT_TYPE:
        publish._content_type = value
    elif pid == P_RESPONSE_TOPIC:
        publish._response_topic = value
    elif pid == P_CORRELATION_DATA:
        publish._correlation_data = value
    elif pid == P_TOPIC_ALIAS:
        publish._topic_alias = value
    return 0


# Bytes taken by the value of each fixed-width integer kind (0: not one).
cdef int _FIXED_WIDTH[8]
_FIXED_WIDTH[:] = [0, 1, 2, 4, 0, 0, 0, 0]


cdef int _properties(Reader* r, object view, int packet_type, _WithUserProperties target) except -1:
    """Read a property block into the fields of ``target``."""
    cdef Py_ssize_t length = _varint(r, "property length")
    cdef Py_ssize_t stop = r.pos + length
    cdef Py_ssize_t outer_end, start
    cdef unsigned long long allowed = _allowed_properties[packet_type]
    cdef unsigned long long seen = 0
    cdef long pid
    cdef long long number
    cdef int kind
    cdef str name
    cdef Publish publish
    cdef bint lazy_pairs = False
    cdef bint in_order = True
    cdef long last_pid = 0
    cdef Py_ssize_t count = 0
    cdef Py_ssize_t block_start
    cdef int width
    cdef const unsigned char* data
    # A PUBLISH from an input that stays put keeps its properties in the block until
    # one is read (Publish._load): a broker forwarding it rarely reads any.
    cdef bint defer = r.lazy and packet_type == T_PUBLISH
    cdef bint canonical = True
    cdef Py_ssize_t value_start
    if stop > r.end:
        raise MalformedPacket("property length runs past the end of the packet", r.pos)
    outer_end = r.end
    r.end = stop
    block_start = r.pos
    while r.pos < stop:
        start = r.pos
        if count == r.max_properties:
            raise PacketTooLarge(f"more than max_properties={r.max_properties} properties", start)
        count += 1
        pid = r.base[start]
        if pid & 0x80:
            # Every identifier is one byte (MQTT 5.0 §2.2.2.2); a longer form is not minimal
            # [MQTT-1.5.5-1]. The walkers of validated blocks (_skip_property) rely on it.
            # (The varint reader first reports a form that runs off the block or past 4 bytes.)
            _varint(r, "property identifier")
            raise MalformedPacket("property identifier longer than one byte", start)
        r.pos = start + 1
        if pid < last_pid:
            in_order = False
        last_pid = pid
        kind = _property_kind[pid] if pid < 64 else 0
        if kind == 0:
            raise MalformedPacket(f"unknown property identifier 0x{pid:02X}", start)
        if not (allowed >> pid) & 1:
            where = _names_by_type[packet_type]
            raise ProtocolError(f"property {_property_names[pid]} is not allowed in {where}", start)
        if kind == K_STRING_PAIR and r.lazy:
            _skip_string(r, "user property name")
            _skip_string(r, "user property value")
            lazy_pairs = True
            continue
        if kind == K_STRING_PAIR:
            name = _string(r, "user property name")
            pair = (name, _string(r, "user property value"))
            if target._user_properties is None:
                target._user_properties = [pair]
            else:
                target._user_properties.append(pair)
            continue
        if pid == P_SUBSCRIPTION_IDENTIFIER and packet_type == T_PUBLISH:
            value_start = r.pos
            number = _varint(r, "subscription_identifier")
            _check_int_property(pid, number, start)
            if defer:
                if r.pos - value_start != _varint_size(number):
                    canonical = False
                continue
            publish = <Publish>target
            if publish._subscription_identifiers is None:
                publish._subscription_identifiers = [number]
            else:
                publish._subscription_identifiers.append(number)
            continue
        if (seen >> pid) & 1:
            raise ProtocolError(f"property {_property_names[pid]} appears twice", start)
        seen |= 1ULL << pid
        if kind == K_UTF8_STRING:
            name = <str>_property_names[pid]
            if defer:
                value_start = r.pos
                _skip_string(r, name)
                if pid == P_RESPONSE_TOPIC and (
                    r.pos - value_start == 2
                    or _has_wildcard(<const char*>r.base + value_start + 2, r.pos - value_start - 2)
                ):
                    # Broken: build it, for the very error the eager path raises.
                    r.pos = value_start
                    _check_string_property(pid, _string(r, name), start)
                continue
            value = _string(r, name)
            if pid == P_RESPONSE_TOPIC:
                _check_string_property(pid, value, start)
        elif kind == K_BINARY:
            if defer:
                name = <str>_property_names[pid]
                _take(r, _u16(r, name), name)
                continue
            value = _binary(r, view, <str>_property_names[pid])
        else:
            width = _FIXED_WIDTH[kind]
            if width:
                # Fixed-width integers: one bounds check, then the big-endian bytes.
                if r.end - r.pos < width:
                    raise MalformedPacket(f"{_property_names[pid]} runs past the end of the packet", r.pos)
                data = r.base + r.pos
                r.pos += width
                if width == 1:
                    number = data[0]
                elif width == 2:
                    number = data[0] << 8 | data[1]
                else:
                    number = (<long long>data[0] << 24) | (data[1] << 16) | (data[2] << 8) | data[3]
            else:
                number = _varint(r, <str>_property_names[pid])
            if (kind == K_BYTE and number > 1) or (number == 0 and (NONZERO_PROPERTIES >> pid) & 1):
                _check_int_property(pid, number, start)
            if defer:
                continue
            value = number
        _set_property(target, packet_type, pid, value)
    r.end = outer_end
    if not in_order:
        # Kept so that re-encoding gives the peer's bytes back (the specification fixes no order).
        target._wire_order = _property_ids(r.base + block_start, length)
    if lazy_pairs or (defer and length):
        owner = <object>r.owner
        if not PyBytes_CheckExact(owner):
            # A Decoder's buffer stays put but is writable (a payload view's ``obj``),
            # and the walkers of a validated block trust its lengths: they get a copy.
            owner = PyBytes_FromStringAndSize(<const char*>r.base + block_start, length)
            target._raw_block = <const unsigned char*>PyBytes_AS_STRING(owner)
        else:
            target._raw_block = r.base + block_start
        target._raw_size = length
        if lazy_pairs:
            target._raw_owner = owner
        if defer and length:
            publish = <Publish>target
            publish._lazy_owner = owner
            publish._raw_canonical = canonical
    return 0


# Fresh packets with their defaults set directly (the constructors go through **kwargs).

cdef Connect _new_connect():
    cdef Connect packet = Connect.__new__(Connect)
    packet.protocol_version = MQTT_5
    packet.client_id = ""
    packet.clean_start = True
    packet.keep_alive = 0
    return packet


cdef Will _new_will():
    cdef Will will = Will.__new__(Will)
    will.topic = ""
    will.payload = b""
    will.qos = 0
    will.retain = False
    return will


cdef Subscription _new_subscription(str topic_filter, int qos):
    cdef Subscription subscription = Subscription.__new__(Subscription)
    subscription.topic_filter = topic_filter
    subscription.qos = qos
    subscription.no_local = False
    subscription.retain_as_published = False
    subscription.retain_handling = 0
    return subscription


cdef object _read_connect(Reader* r, object view, int flags, int version):
    cdef Py_ssize_t start = r.pos
    cdef Py_ssize_t name_size = _u16(r, "protocol name")
    cdef const char* name_data = <const char*>(r.base + _take(r, name_size, "protocol name"))
    cdef bint mqtt = name_size == 4 and memcmp(name_data, b"MQTT", 4) == 0
    cdef bint mqisdp = name_size == 6 and memcmp(name_data, b"MQIsdp", 6) == 0
    cdef str name = None
    cdef long level
    if not (mqtt or mqisdp):
        r.pos = start
        name = _string(r, "protocol name")  # any other name is read (and refused) as a string
    level = _u8(r, "protocol level")
    cdef Py_ssize_t pos
    cdef long connect_flags, will_qos
    cdef bint has_will, will_retain, has_password, has_username
    cdef Connect packet
    cdef Will will
    # The name must be the one of the level: "MQIsdp" for 3.1, "MQTT" after.
    if not ((level == MQTT_3_1 and mqisdp) or ((level == MQTT_3_1_1 or level == MQTT_5) and mqtt)):
        if name is None:
            name = "MQTT" if mqtt else "MQIsdp"
        raise UnsupportedProtocolVersion(f"unsupported protocol {name!r} level {level} [MQTT-3.1.2-2]", start)
    pos = r.pos
    connect_flags = _u8(r, "connect flags")
    if connect_flags & 0x01:
        raise MalformedPacket("reserved connect flag is set [MQTT-3.1.2-3]", pos)
    has_will = connect_flags & 0x04
    will_qos = connect_flags >> 3 & 3
    will_retain = connect_flags & 0x20
    if will_qos == 3:
        raise MalformedPacket("will QoS is 3 [MQTT-3.1.2-12]", pos)
    if not has_will and (will_qos or will_retain):
        raise MalformedPacket("will QoS or retain set without a will [MQTT-3.1.2-11]", pos)
    has_password = connect_flags & 0x40
    has_username = connect_flags & 0x80
    if has_password and not has_username and level < MQTT_5:
        raise ProtocolError("password flag set without user name flag [MQTT-3.1.2-22]", pos)
    packet = _new_connect()
    packet.protocol_version = level
    packet.clean_start = bool(connect_flags & 0x02)
    packet.keep_alive = _u16(r, "keep alive")
    if level == MQTT_5:
        _properties(r, view, T_CONNECT, packet)
    pos = r.pos
    packet.client_id = _string(r, "client identifier")
    _check_client_id(packet, pos)
    if has_will:
        will = _new_will()
        will.qos = will_qos
        will.retain = will_retain
        if level == MQTT_5:
            _properties(r, view, WILL, will)
        pos = r.pos
        will.topic = _string(r, "will topic")
        _check_will_topic(will.topic, pos)
        will.payload = _binary(r, view, "will payload")
        packet.will = will
    if has_username:
        packet.username = _string(r, "user name")
    if has_password:
        packet.password = _binary(r, view, "password")
    return packet


cdef int _check_client_id(Connect packet, object offset) except -1:
    client_id = packet.client_id
    if packet.protocol_version == MQTT_5:
        return 0
    if packet.protocol_version == MQTT_3_1:
        if not 1 <= len(client_id.encode("utf-8")) <= 23:
            raise ClientIdentifierNotValid("MQTT 3.1 client identifier must be 1 to 23 bytes", offset)
    elif packet.protocol_version == MQTT_3_1_1 and not client_id and not packet.clean_start:
        raise ClientIdentifierNotValid("empty client identifier requires clean session [MQTT-3.1.3-7]", offset)
    return 0


cdef int _check_will_topic(str topic, object offset) except -1:
    if not topic:
        raise InvalidTopicName("will topic must not be empty [MQTT-4.7.3-1]", offset)
    _check_topic_name(topic, "will topic", offset)
    return 0


cdef object _read_connack(Reader* r, object view, int flags, int version):
    cdef Py_ssize_t pos = r.pos
    cdef long ack_flags = _u8(r, "acknowledge flags")
    cdef long code
    cdef Connack packet
    if ack_flags & 0xFE:
        raise MalformedPacket("reserved acknowledge flags are set [MQTT-3.2.2-1]", pos)
    pos = r.pos
    code = _u8(r, "reason code")
    _check_connack_code(code, version, pos)
    if ack_flags and code:
        raise ProtocolError("session present with a failure reason code [MQTT-3.2.2-6]", pos)
    packet = Connack.__new__(Connack)
    packet.session_present = bool(ack_flags)
    packet.reason_code = code
    if version == MQTT_5:
        _properties(r, view, T_CONNACK, packet)
    return packet


cdef int _check_connack_code(long code, int version, object offset) except -1:
    if version == MQTT_5:
        _check_reason_code(T_CONNACK, code, offset)
    elif not 0 <= code <= 5:
        raise ProtocolError(f"CONNACK return code {code} is not one of 0..5", offset)
    return 0


cdef int _check_reason_code(int packet_type, long code, object offset) except -1:
    if not 0 <= code <= 255 or not _reason_code_allowed(packet_type, code):
        raise ProtocolError(f"reason code 0x{code:02X} is not allowed in {_names_by_type[packet_type]}", offset)
    return 0


cdef object _read_publish(Reader* r, object view, int flags, int version):
    cdef int qos = flags >> 1 & 3
    cdef Py_ssize_t pos, topic_size
    cdef Publish packet
    if qos == 3:
        raise MalformedPacket("PUBLISH QoS is 3 [MQTT-3.3.1-4]", r.pos - 1)
    if flags & 0x08 and not qos:
        raise MalformedPacket("PUBLISH DUP set with QoS 0 [MQTT-3.3.1-2]", r.pos - 1)
    pos = r.pos
    packet = Publish.__new__(Publish)
    packet.topic = _string(r, "topic name")
    packet.qos = qos
    packet.retain = bool(flags & 1)
    packet.dup = bool(flags & 8)
    topic_size = r.pos - pos - 2
    if _has_wildcard(<const char*>(r.base + pos + 2), topic_size):
        _check_topic_name(packet.topic, "topic name", pos)
    if qos:
        packet.packet_id = _packet_id(r)
    if version == MQTT_5:
        _properties(r, view, T_PUBLISH, packet)
    if not topic_size:
        _check_publish_topic_present(packet, version, pos)
    if r.lazy:
        # The input stays put: the payload view is made on first access (Publish.payload).
        packet._payload_owner = <object>r.owner
        packet._payload_data = r.base + r.pos
        packet._payload_size = r.end - r.pos
        r.pos = r.end
    else:
        packet._payload = _rest(r, view)
    return packet


cdef int _check_publish_topic_present(Publish packet, int version, object offset) except -1:
    if packet.topic:
        return 0
    if version < MQTT_5:
        raise InvalidTopicName("topic name must not be empty [MQTT-4.7.3-1]", offset)
    if packet.topic_alias is None:
        raise ProtocolError("empty topic name without a topic alias [MQTT-3.3.2-8]", offset)
    return 0


cdef object _read_ack(Reader* r, object view, int version, int packet_type):
    cdef _Ack packet
    if packet_type == T_PUBACK:
        packet = Puback.__new__(Puback)
    elif packet_type == T_PUBREC:
        packet = Pubrec.__new__(Pubrec)
    elif packet_type == T_PUBREL:
        packet = Pubrel.__new__(Pubrel)
    else:
        packet = Pubcomp.__new__(Pubcomp)
    packet.packet_id = _packet_id(r)
    packet.reason_code = 0
    if version == MQTT_5:
        _read_reason_and_properties(r, view, packet_type, packet)
    return packet


cdef int _read_reason_and_properties(Reader* r, object view, int packet_type, _WithUserProperties packet) except -1:
    # Short forms: the reason code, then the properties, may be left out (MQTT 5.0 §3.4.2.1).
    cdef Py_ssize_t pos
    cdef long code
    if r.pos < r.end:
        pos = r.pos
        code = _u8(r, "reason code")
        if isinstance(packet, _Ack):
            (<_Ack>packet).reason_code = code
        else:
            setattr(packet, "reason_code", code)
        _check_reason_code(packet_type, code, pos)
        if r.pos < r.end:
            _properties(r, view, packet_type, packet)
    return 0


cdef object _read_subscribe(Reader* r, object view, int flags, int version):
    cdef Subscribe packet = Subscribe.__new__(Subscribe)
    cdef list subscriptions = []
    cdef Py_ssize_t pos
    cdef long options, reserved
    cdef str topic_filter
    cdef Subscription subscription
    packet.packet_id = _packet_id(r)
    packet.subscriptions = subscriptions
    if version == MQTT_5:
        _properties(r, view, T_SUBSCRIBE, packet)
    while r.pos < r.end:
        pos = r.pos
        topic_filter = _string(r, "topic filter")
        validate_topic_filter(topic_filter)
        pos = r.pos
        options = _u8(r, "subscription options")
        if options & (0xC0 if version == MQTT_5 else 0xFC):
            raise MalformedPacket("reserved subscription option bits are set [MQTT-3.8.3-5]", pos)
        # The checks of _check_subscription, on the option bits themselves.
        if options & 3 == 3:
            raise MalformedPacket("subscription QoS is 3", pos)
        if options >> 4 & 3 == 3:
            raise MalformedPacket("retain handling is 3", pos)
        if options & 0x04 and topic_filter.startswith("$share/"):
            raise ProtocolError("No Local on a shared subscription [MQTT-3.8.3-4]", pos)
        subscription = _new_subscription(topic_filter, options & 3)
        if version == MQTT_5:
            subscription.no_local = bool(options & 0x04)
            subscription.retain_as_published = bool(options & 0x08)
            subscription.retain_handling = options >> 4 & 3
        subscriptions.append(subscription)
    if not subscriptions:
        raise ProtocolError("SUBSCRIBE without a topic filter [MQTT-3.8.3-3]", r.pos)
    return packet


cdef int _check_subscription(Subscription subscription, object offset) except -1:
    if subscription.qos == 3:
        raise MalformedPacket("subscription QoS is 3", offset)
    if subscription.retain_handling == 3:
        raise MalformedPacket("retain handling is 3", offset)
    if subscription.no_local and subscription.topic_filter.startswith("$share/"):
        raise ProtocolError("No Local on a shared subscription [MQTT-3.8.3-4]", offset)
    return 0


cdef list _codes(Reader* r):
    cdef Py_ssize_t pos
    cdef list codes = []
    for pos in range(r.pos, r.end):
        codes.append(r.base[pos])
    r.pos = r.end
    return codes


cdef object _read_suback(Reader* r, object view, int flags, int version):
    cdef Suback packet = Suback.__new__(Suback)
    cdef Py_ssize_t pos
    packet.packet_id = _packet_id(r)
    if version == MQTT_5:
        _properties(r, view, T_SUBACK, packet)
    pos = r.pos
    packet.reason_codes = _codes(r)
    _check_suback_codes(packet.reason_codes, version, pos)
    return packet


cdef int _check_suback_codes(list codes, int version, object offset) except -1:
    if not codes:
        raise ProtocolError("SUBACK without a reason code", offset)
    allowed = ALLOWED_REASON_CODES[T_SUBACK] if version == MQTT_5 else V3_SUBACK_CODES[version]
    for index, code in enumerate(codes):
        if code not in allowed:
            at = None if offset is None else offset + index
            raise ProtocolError(f"SUBACK reason code 0x{code:02X} is not allowed", at)
    return 0


cdef object _read_unsubscribe(Reader* r, object view, int flags, int version):
    cdef Unsubscribe packet = Unsubscribe.__new__(Unsubscribe)
    cdef list topic_filters = []
    cdef str topic_filter
    packet.packet_id = _packet_id(r)
    packet.topic_filters = topic_filters
    if version == MQTT_5:
        _properties(r, view, T_UNSUBSCRIBE, packet)
    while r.pos < r.end:
        topic_filter = _string(r, "topic filter")
        validate_topic_filter(topic_filter)
        topic_filters.append(topic_filter)
    if not topic_filters:
        raise ProtocolError("UNSUBSCRIBE without a topic filter [MQTT-3.10.3-2]", r.pos)
    return packet


cdef object _read_unsuback(Reader* r, object view, int flags, int version):
    cdef Unsuback packet = Unsuback.__new__(Unsuback)
    cdef Py_ssize_t pos
    packet.packet_id = _packet_id(r)
    packet.reason_codes = []
    if version == MQTT_5:
        _properties(r, view, T_UNSUBACK, packet)
        pos = r.pos
        packet.reason_codes = _codes(r)
        _check_unsuback_codes(packet.reason_codes, pos)
    return packet


cdef int _check_unsuback_codes(list codes, object offset) except -1:
    if not codes:
        raise ProtocolError("UNSUBACK without a reason code", offset)
    for index, code in enumerate(codes):
        _check_reason_code(T_UNSUBACK, code, None if offset is None else offset + index)
    return 0


cdef object _read_disconnect(Reader* r, object view, int flags, int version):
    cdef Disconnect packet = Disconnect.__new__(Disconnect)
    packet.reason_code = 0
    if version == MQTT_5:
        _read_reason_and_properties(r, view, T_DISCONNECT, packet)
    return packet


cdef object _read_auth(Reader* r, object view, int flags, int version):
    cdef Auth packet = Auth.__new__(Auth)
    packet.reason_code = 0
    _read_reason_and_properties(r, view, T_AUTH, packet)
    return packet


cdef object _as_view(object data):
    cdef object view = PyMemoryView_FromObject(data)
    cdef Py_buffer* buffer = PyMemoryView_GET_BUFFER(view)
    if buffer.ndim != 1 or buffer.format == NULL or buffer.format[0] != b"B" or buffer.format[1] != 0:
        view = view.cast("B")
    return view


cdef inline int _version_argument(object version) except -1:
    cdef int overflow = 0
    cdef long level
    cdef long long small
    if version is None:
        return NO_VERSION
    if mqttfast_small_int(version, &small) and MQTT_3_1 <= small <= MQTT_5:
        return <int>small
    if PyLong_Check(version):
        level = PyLong_AsLongAndOverflow(version, &overflow)
        if not overflow and MQTT_3_1 <= level <= MQTT_5:
            return level
    raise ValueError(f"version must be 3, 4, 5 or None, not {version!r}")


cdef int read_fixed_header(
    const unsigned char* base, Py_ssize_t start, Py_ssize_t end, Py_ssize_t max_packet_size,
    Py_ssize_t* body_start, Py_ssize_t* packet_end,
) except -1:
    """Set ``body_start`` and ``packet_end`` of the packet at ``start``; 1 if the header is cut short.

    Checks the first byte and the size before anything else, so a hostile
    length costs nothing. Unlike the pure-Python twin it reports a short
    header by its return value: the stream decoder meets that case constantly.
    """
    cdef unsigned char byte0, byte
    cdef int packet_type
    cdef Py_ssize_t pos, remaining = 0
    cdef int shift = 0
    if start >= end:
        return 1
    byte0 = base[start]
    packet_type = byte0 >> 4
    if packet_type == 0:
        raise MalformedPacket("reserved packet type 0", start)
    if packet_type != T_PUBLISH and byte0 & 0x0F != _required_flags[packet_type]:
        raise MalformedPacket(f"invalid fixed header flags for {_names_by_type[packet_type]}", start)
    pos = start + 1
    while True:
        if pos >= end:
            return 1
        byte = base[pos]
        pos += 1
        remaining |= <Py_ssize_t>(byte & 0x7F) << shift
        if not byte & 0x80:
            break
        if pos - start == 5:
            raise MalformedPacket("remaining length longer than 4 bytes", start + 1)
        shift += 7
    if pos + remaining - start > max_packet_size:
        raise PacketTooLarge(
            f"packet of {pos + remaining - start} bytes exceeds the maximum packet size {max_packet_size}", start
        )
    body_start[0] = pos
    packet_end[0] = pos + remaining
    return 0


cdef object read_packet(
    object view, const unsigned char* base, Py_ssize_t start, Py_ssize_t body_start, Py_ssize_t end,
    int version, bint copy, bint own_view=False, object lazy_owner=None,
    Py_ssize_t max_properties=DEFAULT_MAX_PROPERTIES,
):
    """The packet whose fixed header starts at ``start`` and whose body is ``body_start:end``."""
    cdef unsigned char byte0 = base[start]
    cdef int packet_type = byte0 >> 4
    cdef int flags = byte0 & 0x0F
    cdef Reader reader
    if version == NO_VERSION:
        if packet_type != T_CONNECT:
            raise ProtocolError("the first packet of a connection must be CONNECT [MQTT-3.1.0-1]", start)
    elif packet_type == T_AUTH and version < MQTT_5:
        raise MalformedPacket("AUTH exists only in MQTT 5", start)
    reader.base = base
    reader.pos = body_start
    reader.end = end
    reader.copy = copy
    reader.own_view = own_view
    reader.lazy = lazy_owner is not None and not copy
    reader.owner = <PyObject*>lazy_owner
    reader.max_properties = max_properties
    if packet_type == T_PUBLISH:
        packet = _read_publish(&reader, view, flags, version)
    elif packet_type == T_CONNECT:
        packet = _read_connect(&reader, view, flags, version)
    elif packet_type == T_CONNACK:
        packet = _read_connack(&reader, view, flags, version)
    elif T_PUBACK <= packet_type <= T_PUBCOMP:
        packet = _read_ack(&reader, view, version, packet_type)
    elif packet_type == T_SUBSCRIBE:
        packet = _read_subscribe(&reader, view, flags, version)
    elif packet_type == T_SUBACK:
        packet = _read_suback(&reader, view, flags, version)
    elif packet_type == T_UNSUBSCRIBE:
        packet = _read_unsubscribe(&reader, view, flags, version)
    elif packet_type == T_UNSUBACK:
        packet = _read_unsuback(&reader, view, flags, version)
    elif packet_type == T_PINGREQ:
        packet = Pingreq.__new__(Pingreq)
    elif packet_type == T_PINGRESP:
        packet = Pingresp.__new__(Pingresp)
    elif packet_type == T_DISCONNECT:
        packet = _read_disconnect(&reader, view, flags, version)
    else:
        packet = _read_auth(&reader, view, flags, version)
    if reader.pos != end:
        raise MalformedPacket(f"{end - reader.pos} bytes left over after the last field", reader.pos)
    return packet


cdef Py_ssize_t _size_limit(object max_packet_size) except? -1:
    # No packet can exceed 5 + MAX_VARINT bytes, so larger limits are all the same.
    if type(max_packet_size) is int and -1 < <long long>max_packet_size < MAX_VARINT + 5:
        return max_packet_size
    if max_packet_size >= MAX_VARINT + 5:
        return MAX_VARINT + 5
    return max_packet_size


def decode(
    data,
    version=None,
    *,
    max_packet_size=DEFAULT_MAX_PACKET_SIZE,
    Py_ssize_t max_properties=DEFAULT_MAX_PROPERTIES,
    bint copy=False,
):
    """Decode the first packet of ``data`` (any buffer): ``(packet, nbytes)``.

    ``version`` is the protocol level of the connection (3, 4 or 5); ``None``
    is allowed only for a CONNECT, which carries its own. Binary fields are
    zero-copy ``memoryview`` slices of ``data`` unless ``copy`` is true.
    Raises ``Incomplete`` when ``data`` ends before the packet does, and
    ``PacketTooLarge`` beyond ``max_packet_size`` bytes or ``max_properties``
    properties in one property block.
    """
    cdef int level = _version_argument(version)
    cdef object view = None
    cdef Py_buffer* buffer
    cdef const unsigned char* base
    cdef Py_ssize_t end
    cdef Py_ssize_t body_start, packet_end
    # Only immutable bytes may be kept as the owner of unread fields: any view handed
    # out can be released by its holder, and other exporters (mmap) can be closed or
    # resized once no view of them remains.
    cdef bint immutable = PyBytes_CheckExact(data)
    if immutable:
        base = <const unsigned char*>PyBytes_AS_STRING(data)
        end = PyBytes_GET_SIZE(data)
    else:
        view = _as_view(data)
        buffer = PyMemoryView_GET_BUFFER(view)
        base = <const unsigned char*>buffer.buf
        end = buffer.len
    if read_fixed_header(base, 0, end, _size_limit(max_packet_size), &body_start, &packet_end):
        if end == 0:
            raise Incomplete("no bytes to decode", 0)
        raise Incomplete("buffer ends inside the fixed header", 0)
    if packet_end > end:
        raise Incomplete(f"packet needs {packet_end} bytes, buffer has {end}", 0, needed=packet_end)
    if view is None and (copy or base[0] >> 4 != T_PUBLISH):
        # A PUBLISH read lazily from bytes slices nothing (payload and binary
        # properties wait for first access); anything else may need a view to slice.
        view = _as_view(data)
    return (
        read_packet(
            view, base, 0, body_start, packet_end, level, copy, True,
            data if immutable else None, max_properties,
        ),
        packet_end,
    )


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


cdef struct Writer:
    unsigned char* out  # NULL while measuring
    Py_ssize_t pos
    Py_ssize_t capacity
    # Writing into a scratch buffer in one pass: running out of room turns the
    # writer into a measurer (out = NULL) instead of failing.
    bint scratch
    # Off only in the second pass over an exactly sized buffer: the first one checked everything.
    bint validate


cdef inline int _reserve(Writer* w, Py_ssize_t n) except -1:
    if w.out != NULL and w.pos + n > w.capacity:
        if w.scratch:
            w.out = NULL
            return 0
        # The measuring pass fixed the size; a packet mutated since then must not overflow it.
        raise RuntimeError("packet changed while it was being encoded")
    return 0


cdef inline long long _int(object value, str field, long long limit) except -1:
    cdef long long number
    if mqttfast_small_int(value, &number) and 0 <= number <= limit:
        return number
    return _int_slow(value, field, limit)


cdef long long _int_slow(object value, str field, long long limit) except -1:
    cdef int overflow = 0
    cdef long long number
    if not PyLong_Check(value):
        raise TypeError(f"{field} must be an int, not {type(value).__name__}")
    number = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow or number < 0 or number > limit:
        raise MalformedPacket(f"{field} {value} out of range 0..{limit}")
    return number


cdef inline int _put_byte(Writer* w, unsigned char byte) except -1:
    _reserve(w, 1)
    if w.out != NULL:
        w.out[w.pos] = byte
    w.pos += 1
    return 0


cdef inline int _put_raw_u16(Writer* w, long value) except -1:
    _reserve(w, 2)
    if w.out != NULL:
        w.out[w.pos] = value >> 8
        w.out[w.pos + 1] = value & 0xFF
    w.pos += 2
    return 0


cdef inline int _put_raw_varint(Writer* w, long value) except -1:
    while True:
        if value < 0x80:
            return _put_byte(w, value)
        _put_byte(w, (value & 0x7F) | 0x80)
        value >>= 7


cdef inline int _put_bytes(Writer* w, const char* data, Py_ssize_t size) except -1:
    _reserve(w, size)
    if w.out != NULL and size:
        memcpy(w.out + w.pos, data, size)
    w.pos += size
    return 0


cdef int _put_u8(Writer* w, object value, str field) except -1:
    return _put_byte(w, _int(value, field, 0xFF))


cdef int _put_u16(Writer* w, object value, str field) except -1:
    return _put_raw_u16(w, _int(value, field, 0xFFFF))


cdef int _put_u32(Writer* w, object value, str field) except -1:
    cdef long long number = _int(value, field, 0xFFFFFFFF)
    _put_raw_u16(w, number >> 16)
    return _put_raw_u16(w, number & 0xFFFF)


cdef inline const char* _utf8(object text, str field, Py_ssize_t* size, bint check=True) except NULL:
    """The UTF-8 form of ``text``, cached by CPython; ``check`` is off in the writing pass."""
    cdef const char* data
    if PyUnicode_CheckExact(text) and PyUnicode_IS_COMPACT_ASCII(text):
        # Topics and property strings are nearly always ASCII: their bytes are the UTF-8.
        data = <const char*>PyUnicode_DATA(text)
        size[0] = PyUnicode_GET_LENGTH(text)
        if not check or (size[0] <= 0xFFFF and memchr(data, 0, size[0]) == NULL):
            return data
    return _utf8_general(text, field, size, check)


cdef const char* _utf8_general(object text, str field, Py_ssize_t* size, bint check) except NULL:
    cdef const char* data
    if not isinstance(text, str):
        raise TypeError(f"{field} must be a str, not {type(text).__name__}")
    if PyUnicode_IS_COMPACT_ASCII(text):
        data = <const char*>PyUnicode_DATA(text)
        size[0] = PyUnicode_GET_LENGTH(text)
    else:
        try:
            data = PyUnicode_AsUTF8AndSize(text, size)
        except UnicodeEncodeError:
            raise MalformedPacket(f"{field} contains a surrogate [MQTT-1.5.4-1]") from None
    if not check:
        return data
    if memchr(data, 0, size[0]) != NULL:
        raise MalformedPacket(f"{field} contains U+0000 [MQTT-1.5.4-2]")
    if size[0] > 0xFFFF:
        raise MalformedPacket(f"{field} is {size[0]} bytes, more than 65,535")
    return data


cdef int _put_string(Writer* w, object text, str field) except -1:
    cdef Py_ssize_t size
    cdef const char* data = _utf8(text, field, &size, w.validate)
    _put_raw_u16(w, size)
    return _put_bytes(w, data, size)


cdef int _put_buffer(Writer* w, object data, str field, bint prefixed) except -1:
    cdef Py_buffer buffer
    if isinstance(data, str):
        raise TypeError(f"{field} must be bytes-like, not str")
    try:
        PyObject_GetBuffer(data, &buffer, PyBUF_SIMPLE)
    except (TypeError, BufferError):
        raise TypeError(f"{field} must be bytes-like, not {type(data).__name__}") from None
    try:
        if prefixed:
            if buffer.len > 0xFFFF:
                raise MalformedPacket(f"{field} is {buffer.len} bytes, more than 65,535")
            _put_raw_u16(w, buffer.len)
        _put_bytes(w, <const char*>buffer.buf, buffer.len)
    finally:
        PyBuffer_Release(&buffer)
    return 0


cdef int _put_binary(Writer* w, object data, str field) except -1:
    return _put_buffer(w, data, field, True)


cdef long _packet_id_value(object value) except -1:
    cdef int overflow = 0
    cdef long long number
    if PyLong_Check(value):
        number = PyLong_AsLongLongAndOverflow(value, &overflow)
        if 0 < number <= 0xFFFF and not overflow:
            return number
    if value is None or value == 0:
        raise ProtocolError("packet identifier must be set and non-zero [MQTT-2.2.1-3]")
    return _int(value, "packet_id", 0xFFFF)


cdef int _put_property(Writer* w, int pid, object value, str name) except -1:
    """One property of a scalar kind, when present."""
    cdef int kind = _property_kind[pid]
    cdef long long number
    if value is None:
        return 0
    _put_byte(w, pid)
    if kind == K_UTF8_STRING:
        _put_string(w, value, name)
        if w.validate:
            _check_string_property(pid, value, None)
        return 0
    if kind == K_BINARY:
        return _put_binary(w, value, name)
    if kind == K_BYTE:
        number = _int(value, name, 0xFF)
        _put_byte(w, number)
    elif kind == K_TWO_BYTE_INT:
        number = _int(value, name, 0xFFFF)
        _put_raw_u16(w, number)
    elif kind == K_FOUR_BYTE_INT:
        number = _int(value, name, 0xFFFFFFFF)
        _put_raw_u16(w, number >> 16)
        _put_raw_u16(w, number & 0xFFFF)
    else:
        number = _int(value, name, MAX_VARINT)
        _put_raw_varint(w, number)
    if w.validate:
        _check_int_property(pid, number, None)
    return 0


# Typed forms of _put_property for the writers that know each field's wire type
# (PUBLISH, CONNECT): no dispatch on the kind, one room check per property.

cdef inline int _put_int_property(Writer* w, int pid, object value, str name, int width) except -1:
    """A byte (``width`` 1), two- or four-byte integer property, when present."""
    cdef long long number
    cdef unsigned char* out
    if value is None:
        return 0
    number = _int(value, name, 0xFF if width == 1 else 0xFFFF if width == 2 else 0xFFFFFFFF)
    if w.validate and ((width == 1 and number > 1) or (number == 0 and (NONZERO_PROPERTIES >> pid) & 1)):
        _check_int_property(pid, number, None)
    _reserve(w, 1 + width)
    if w.out != NULL:
        out = w.out + w.pos
        out[0] = pid
        if width == 1:
            out[1] = <unsigned char>number
        elif width == 2:
            out[1] = <unsigned char>(number >> 8)
            out[2] = <unsigned char>number
        else:
            out[1] = <unsigned char>(number >> 24)
            out[2] = <unsigned char>(number >> 16)
            out[3] = <unsigned char>(number >> 8)
            out[4] = <unsigned char>number
    w.pos += 1 + width
    return 0


cdef inline int _put_string_property(Writer* w, int pid, object value, str name) except -1:
    """A UTF-8 string property, when present."""
    cdef Py_ssize_t size
    cdef const char* data
    cdef unsigned char* out
    if value is None:
        return 0
    data = _utf8(value, name, &size, w.validate)
    if w.validate and pid == P_RESPONSE_TOPIC:
        _check_string_property(pid, value, None)
    _reserve(w, 3 + size)
    if w.out != NULL:
        out = w.out + w.pos
        out[0] = pid
        out[1] = <unsigned char>(size >> 8)
        out[2] = <unsigned char>size
        memcpy(out + 3, data, size)
    w.pos += 3 + size
    return 0


cdef Py_ssize_t _skip_property(const unsigned char* block, Py_ssize_t pos, int kind):
    """Position after the value of kind ``kind`` at ``pos`` of a validated block."""
    if kind == K_STRING_PAIR:
        pos += 2 + (block[pos] << 8 | block[pos + 1])
        return pos + 2 + (block[pos] << 8 | block[pos + 1])
    if kind == K_BYTE:
        return pos + 1
    if kind == K_TWO_BYTE_INT:
        return pos + 2
    if kind == K_FOUR_BYTE_INT:
        return pos + 4
    if kind == K_VARINT:
        while block[pos] & 0x80:
            pos += 1
        return pos + 1
    return pos + 2 + (block[pos] << 8 | block[pos + 1])


cdef tuple _property_ids(const unsigned char* block, Py_ssize_t size):
    """The identifiers of a validated property block, in wire order."""
    cdef list ids = []
    cdef Py_ssize_t pos = 0
    cdef int pid
    while pos < size:
        pid = block[pos]
        ids.append(pid)
        pos = _skip_property(block, pos + 1, _property_kind[pid & 63])
    return tuple(ids)


cdef int _put_raw_user_properties(Writer* w, const unsigned char* block, Py_ssize_t size) except -1:
    # Forwarding a decoded packet: its user properties are copied as they came.
    cdef Py_ssize_t pos = 0, start
    cdef int kind
    while pos < size:
        start = pos
        kind = _property_kind[block[pos] & 63]
        pos = _skip_property(block, pos + 1, kind)
        if kind == K_STRING_PAIR:
            _put_bytes(w, <const char*>block + start, pos - start)
    return 0


cdef int _put_user_properties(Writer* w, _WithUserProperties packet) except -1:
    if packet._user_properties is None:
        if packet._raw_owner is not None:
            _put_raw_user_properties(w, packet._raw_block, packet._raw_size)
        return 0
    if not _nonempty(packet._user_properties):  # what the pure twin skips too: [], (), 0, False
        return 0
    for pair in packet._user_properties:
        if w.validate and (not isinstance(pair, tuple) or len(pair) != 2):
            raise TypeError(f"user_properties must hold (name, value) pairs, not {pair!r}")
        _put_byte(w, P_USER_PROPERTY)
        _put_string(w, pair[0], "user property name")
        _put_string(w, pair[1], "user property value")
    return 0


cdef int _put_publish_properties(Writer* w, Publish packet) except -1:
    # Identifier order, user properties at 0x26 among them: the order paho-mqtt writes.
    if packet._lazy_owner is not None:
        packet._load()
    _put_int_property(w, P_PAYLOAD_FORMAT_INDICATOR, packet._payload_format_indicator, "payload_format_indicator", 1)
    _put_int_property(w, P_MESSAGE_EXPIRY_INTERVAL, packet._message_expiry_interval, "message_expiry_interval", 4)
    _put_string_property(w, P_CONTENT_TYPE, packet._content_type, "content_type")
    _put_string_property(w, P_RESPONSE_TOPIC, packet._response_topic, "response_topic")
    if packet._correlation_data is not None:
        _put_property(w, P_CORRELATION_DATA, packet._correlation_data, "correlation_data")
    if packet._subscription_identifiers is not None and _nonempty(packet._subscription_identifiers):
        for identifier in packet._subscription_identifiers:
            if identifier is None:  # an item, unlike a field, is never "absent"
                _int(identifier, "subscription_identifiers", MAX_VARINT)
            _put_property(w, P_SUBSCRIPTION_IDENTIFIER, identifier, "subscription_identifiers")
    _put_int_property(w, P_TOPIC_ALIAS, packet._topic_alias, "topic_alias", 2)
    return _put_user_properties(w, packet)


cdef int _put_generic_properties(Writer* w, _WithUserProperties packet, int packet_type) except -1:
    cdef int pid
    cdef str name
    cdef unsigned long long allowed = _allowed_properties[packet_type]
    while allowed:
        # The allowed identifiers in increasing order, lowest set bit first.
        pid = mqttfast_lowest_bit(allowed)
        allowed &= allowed - 1
        if pid == P_USER_PROPERTY:
            _put_user_properties(w, packet)
        else:
            name = <str>_property_names[pid]
            _put_property(w, pid, getattr(packet, name), name)
    return 0


cdef int _put_ordered_properties(Writer* w, _WithUserProperties packet, int packet_type) except -1:
    """Properties in the peer's order, then any added since in identifier order (rare path)."""
    cdef list entries = []
    cdef list remaining
    cdef int pid
    cdef Py_ssize_t index
    for pid in range(1, 64):
        if not (_allowed_properties[packet_type] >> pid) & 1:
            continue
        if pid == P_USER_PROPERTY:
            entries.extend((pid, pair) for pair in packet.user_properties)
        elif pid == P_SUBSCRIPTION_IDENTIFIER and packet_type == T_PUBLISH:
            entries.extend((pid, identifier) for identifier in (<Publish>packet).subscription_identifiers)
        else:
            value = getattr(packet, <str>_property_names[pid])
            if value is not None:
                entries.append((pid, value))
    remaining, entries = entries, []
    for wire_pid in packet._wire_order:
        for index in range(len(remaining)):
            if remaining[index][0] == wire_pid:
                entries.append(remaining.pop(index))
                break
    entries += remaining
    for pid, value in entries:
        if pid == P_USER_PROPERTY:
            if w.validate and (not isinstance(value, tuple) or len(value) != 2):
                raise TypeError(f"user_properties must hold (name, value) pairs, not {value!r}")
            _put_byte(w, P_USER_PROPERTY)
            _put_string(w, value[0], "user property name")
            _put_string(w, value[1], "user property value")
        elif pid == P_SUBSCRIPTION_IDENTIFIER and packet_type == T_PUBLISH:
            if value is None:  # an item, unlike a field, is never "absent"
                _int(value, "subscription_identifiers", MAX_VARINT)
            _put_property(w, pid, value, "subscription_identifiers")
        else:
            _put_property(w, pid, value, <str>_property_names[pid])
    return 0


cdef int _put_connect_properties(Writer* w, Connect packet) except -1:
    # Identifier order, user properties at 0x26 among them, as _put_generic_properties writes.
    _put_int_property(w, 0x11, packet.session_expiry_interval, "session_expiry_interval", 4)
    _put_string_property(w, 0x15, packet.authentication_method, "authentication_method")
    _put_property(w, 0x16, packet.authentication_data, "authentication_data")
    _put_int_property(w, 0x17, packet.request_problem_information, "request_problem_information", 1)
    _put_int_property(w, 0x19, packet.request_response_information, "request_response_information", 1)
    _put_int_property(w, P_RECEIVE_MAXIMUM, packet.receive_maximum, "receive_maximum", 2)
    _put_int_property(w, 0x22, packet.topic_alias_maximum, "topic_alias_maximum", 2)
    _put_user_properties(w, packet)
    return _put_int_property(w, P_MAXIMUM_PACKET_SIZE, packet.maximum_packet_size, "maximum_packet_size", 4)


cdef inline bint _nonempty(object value) except -1:
    """The truth of a list attribute, as the pure-Python twin tests it; lists without a call."""
    if PyList_CheckExact(value):
        return PyList_GET_SIZE(value) != 0
    return PyObject_IsTrue(value)


cdef inline int _check_iterable(object value) except -1:
    if value is None or PyList_CheckExact(value) or PyTuple_CheckExact(value):
        return 0
    if PyObject_IsTrue(value):
        iter(value)
    return 0


cdef int _put_any_properties(Writer* w, _WithUserProperties packet, int packet_type) except -1:
    cdef Publish publish
    if packet_type == T_PUBLISH and (<Publish>packet)._lazy_owner is not None:
        publish = <Publish>packet
        if publish._raw_canonical and publish._user_properties is None:
            # Untouched since decoding: the validated block is exactly what the fields give.
            return _put_bytes(w, <const char*>publish._raw_block, publish._raw_size)
        publish._load()
    if w.validate:
        # The pure-Python twin gathers every property before it checks one, so a list
        # attribute that cannot be iterated is the first error it reports: here too.
        if packet_type == T_PUBLISH:
            _check_iterable((<Publish>packet)._subscription_identifiers)
        _check_iterable(packet._user_properties)
    if packet._wire_order is not None:
        return _put_ordered_properties(w, packet, packet_type)
    if packet_type == T_PUBLISH:
        return _put_publish_properties(w, <Publish>packet)
    if packet_type == T_CONNECT:
        return _put_connect_properties(w, <Connect>packet)
    if packet_type == T_SUBSCRIBE:
        # Identifier order: the subscription identifier (0x0B), then user properties (0x26).
        _put_property(w, P_SUBSCRIPTION_IDENTIFIER, (<Subscribe>packet).subscription_identifier, "subscription_identifier")
        return _put_user_properties(w, packet)
    return _put_generic_properties(w, packet, packet_type)


cdef int _put_properties(Writer* w, _WithUserProperties packet, int packet_type) except -1:
    """A property block: its length (a variable byte integer), then the properties."""
    cdef Writer measure
    cdef Py_ssize_t start, size, length_size
    if w.out != NULL and not w.scratch:
        # An exactly sized buffer: measure the block, then write it.
        measure.out = NULL
        measure.pos = 0
        measure.capacity = 0
        measure.scratch = False
        measure.validate = False
        _put_any_properties(&measure, packet, packet_type)
        _put_raw_varint(w, measure.pos)
        return _put_any_properties(w, packet, packet_type)
    # One pass: leave room for the longest length, write the block, then close the gap.
    start = w.pos
    _reserve(w, 4)
    w.pos += 4
    _put_any_properties(w, packet, packet_type)
    size = w.pos - start - 4
    length_size = _varint_size(size)
    if w.out != NULL:
        memmove(w.out + start + length_size, w.out + start + 4, size)
        w.pos = start
        _put_raw_varint(w, size)
    w.pos = start + length_size + size
    return 0


cdef bint _has_properties(_WithUserProperties packet, int packet_type) except -1:
    cdef int pid
    if packet._user_properties or packet._raw_owner is not None:
        return True
    for pid in range(1, 64):
        if (_allowed_properties[packet_type] >> pid) & 1 and pid != P_USER_PROPERTY:
            if getattr(packet, <str>_property_names[pid]) is not None:
                return True
    return False


cdef int _write_connect(Writer* w, Connect packet, int version) except -1:
    cdef long flags = 0x02 if packet.clean_start else 0
    cdef long long qos
    will = packet.will
    if will is not None and not isinstance(will, Will):
        raise TypeError(f"will must be a Will, not {type(will).__name__}")
    if will is not None:
        qos = _int((<Will>will).qos, "will qos", 3)
        if qos == 3:
            raise MalformedPacket("will QoS is 3 [MQTT-3.1.2-12]")
        flags |= 0x04 | qos << 3 | (0x20 if (<Will>will).retain else 0)
    if packet.password is not None:
        if packet.username is None and version < MQTT_5:
            raise ProtocolError("a password requires a user name before MQTT 5 [MQTT-3.1.2-22]")
        flags |= 0x40
    if packet.username is not None:
        flags |= 0x80
    if version == MQTT_3_1:
        _put_bytes(w, b"\x00\x06MQIsdp", 8)
    else:
        _put_bytes(w, b"\x00\x04MQTT", 6)
    _put_byte(w, version)
    _put_byte(w, flags)
    _put_u16(w, packet.keep_alive, "keep_alive")
    if version == MQTT_5:
        _put_properties(w, packet, T_CONNECT)
    _put_string(w, packet.client_id, "client_id")
    _check_client_id(packet, None)
    if will is not None:
        if version == MQTT_5:
            _put_properties(w, <Will>will, WILL)
        _put_string(w, (<Will>will).topic, "will topic")
        _check_will_topic((<Will>will).topic, None)
        _put_binary(w, (<Will>will).payload, "will payload")
    if packet.username is not None:
        _put_string(w, packet.username, "username")
    if packet.password is not None:
        _put_binary(w, packet.password, "password")
    return 0x10


cdef int _write_connack(Writer* w, Connack packet, int version) except -1:
    cdef long code = _int(packet.reason_code, "reason_code", 0xFF)
    _check_connack_code(code, version, None)
    if packet.session_present and code:
        raise ProtocolError("session present with a failure reason code [MQTT-3.2.2-6]")
    _put_byte(w, 1 if packet.session_present else 0)
    _put_byte(w, code)
    if version == MQTT_5:
        _put_properties(w, packet, T_CONNACK)
    return 0x20


#: Room for a PUBLISH's property block on the stack: validated and written in one
#: pass there, then copied; a larger block is measured first and written in place.
DEF PUBLISH_PROPERTIES_SCRATCH = 256


cdef struct PublishPlan:
    # Everything a PUBLISH encoding needs, gathered (and validated) once.
    const char* topic
    # The topic object ``topic`` points into, referenced: encoding can run user code
    # (a __bool__, a list subclass) that replaces the packet's topic.
    PyObject* topic_ref
    Py_ssize_t topic_size
    long packet_id
    unsigned char first
    Py_ssize_t properties_size  # -1 when the version has no properties
    bint properties_ready  # the block is in ``properties``
    Py_ssize_t body_size
    Py_buffer payload
    unsigned char properties[PUBLISH_PROPERTIES_SCRATCH]


cdef void _release_plan(PublishPlan* plan):
    PyBuffer_Release(&plan.payload)
    Py_XDECREF(plan.topic_ref)
    plan.topic_ref = NULL


cdef int _plan_publish(PublishPlan* plan, Publish packet, int version) except -1:
    """Validate ``packet`` and fill ``plan``; the caller calls ``_release_plan`` afterwards, raised or not."""
    cdef long long qos
    cdef Writer measure
    cdef object topic
    plan.topic_ref = NULL
    mqttfast_no_buffer(&plan.payload)
    qos = _int(packet.qos, "qos", 3)
    if qos == 3:
        raise MalformedPacket("PUBLISH QoS is 3 [MQTT-3.3.1-4]")
    if packet.dup and not qos:
        raise MalformedPacket("PUBLISH DUP set with QoS 0 [MQTT-3.3.1-2]")
    topic = packet.topic
    plan.topic = _utf8(topic, "topic", &plan.topic_size)
    Py_INCREF(topic)
    plan.topic_ref = <PyObject*>topic
    if _has_wildcard(plan.topic, plan.topic_size):
        _check_topic_name(topic, "topic", None)
    plan.packet_id = 0
    if qos:
        plan.packet_id = _packet_id_value(packet.packet_id)
    elif packet.packet_id is not None:
        raise ProtocolError("a QoS 0 PUBLISH must not carry a packet identifier [MQTT-2.2.1-2]")
    plan.properties_size = -1
    if version == MQTT_5:
        measure.out = plan.properties
        measure.pos = 0
        measure.capacity = PUBLISH_PROPERTIES_SCRATCH
        measure.scratch = True
        measure.validate = True
        _put_any_properties(&measure, packet, T_PUBLISH)
        plan.properties_size = measure.pos
        plan.properties_ready = measure.out != NULL
    if not plan.topic_size:
        _check_publish_topic_present(packet, version, None)
    plan.first = 0x30 | qos << 1 | (0x08 if packet.dup else 0) | (0x01 if packet.retain else 0)
    payload = packet._payload
    if packet._payload_owner is not None:
        # Still a pointer into the decoded input: a real export of its owner (so it
        # stays alive and exported whatever the encoding runs into), narrowed to
        # the payload; no view is made.
        PyObject_GetBuffer(packet._payload_owner, &plan.payload, PyBUF_SIMPLE)
        plan.payload.buf = <void*>packet._payload_data
        plan.payload.len = packet._payload_size
    elif PyBytes_CheckExact(payload):
        # What bytes' own getbuffer does (bytes have no release hook), without the
        # dispatch and the flag checks: the most common payload.
        mqttfast_bytes_buffer(&plan.payload, payload)
    elif isinstance(payload, str):
        raise TypeError("payload must be bytes-like, not str")
    else:
        try:
            PyObject_GetBuffer(payload, &plan.payload, PyBUF_SIMPLE)
        except (TypeError, BufferError):
            raise TypeError(f"payload must be bytes-like, not {type(payload).__name__}") from None
    plan.body_size = 2 + plan.topic_size + (2 if qos else 0) + plan.payload.len
    if plan.properties_size >= 0:
        plan.body_size += _varint_size(plan.properties_size) + plan.properties_size
    if plan.body_size > MAX_VARINT:
        raise PacketTooLarge(f"packet body of {plan.body_size} bytes exceeds the protocol's {MAX_VARINT}")
    return 0


cdef int _write_publish(PublishPlan* plan, Publish packet, unsigned char* out, bint with_payload) except -1:
    """Write the planned PUBLISH (without its payload unless ``with_payload``) at ``out``."""
    # Every size is known from the plan, so the fixed parts are stored directly.
    cdef Writer w
    cdef unsigned char* p = out
    cdef Py_ssize_t end = _total_size(plan.body_size) - (0 if with_payload else plan.payload.len)
    p[0] = plan.first
    p = _store_varint(p + 1, plan.body_size)
    p[0] = <unsigned char>(plan.topic_size >> 8)
    p[1] = <unsigned char>plan.topic_size
    memcpy(p + 2, plan.topic, plan.topic_size)
    p += 2 + plan.topic_size
    if plan.packet_id:
        p[0] = <unsigned char>(plan.packet_id >> 8)
        p[1] = <unsigned char>plan.packet_id
        p += 2
    if plan.properties_size >= 0:
        p = _store_varint(p, plan.properties_size)
        if plan.properties_ready:
            memcpy(p, plan.properties, plan.properties_size)
        else:
            w.out = p
            w.pos = 0
            w.capacity = plan.properties_size
            w.scratch = False
            w.validate = False
            _put_any_properties(&w, packet, T_PUBLISH)
            if w.pos != plan.properties_size:
                raise RuntimeError("packet changed while it was being encoded")
        p += plan.properties_size
    if with_payload:
        memcpy(p, plan.payload.buf, plan.payload.len)
        p += plan.payload.len
    if p - out != end:
        raise RuntimeError("packet changed while it was being encoded")
    return 0


cdef int _write_reason_and_properties(Writer* w, _WithUserProperties packet, long code, int packet_type) except -1:
    # The shortest form that carries the fields (MQTT 5.0 §3.4.2.1, §3.14.2.1, §3.15.2.1).
    _check_reason_code(packet_type, code, None)
    if _has_properties(packet, packet_type):
        _put_byte(w, code)
        _put_properties(w, packet, packet_type)
    elif code:
        _put_byte(w, code)
    return 0


cdef int _write_ack(Writer* w, _Ack packet, int packet_type, int version) except -1:
    _put_raw_u16(w, _packet_id_value(packet.packet_id))
    if version == MQTT_5:
        _write_reason_and_properties(w, packet, _int(packet.reason_code, "reason_code", 0xFF), packet_type)
    return packet_type << 4 | _required_flags[packet_type]


cdef int _write_subscribe(Writer* w, Subscribe packet, int version) except -1:
    cdef long long options, retain_handling
    cdef Subscription subscription
    _put_raw_u16(w, _packet_id_value(packet.packet_id))
    if version == MQTT_5:
        _put_properties(w, packet, T_SUBSCRIBE)
    if not packet.subscriptions:
        raise ProtocolError("SUBSCRIBE without a topic filter [MQTT-3.8.3-3]")
    for item in packet.subscriptions:
        if not isinstance(item, Subscription):
            raise TypeError(f"subscriptions must hold Subscription objects, not {type(item).__name__}")
        subscription = <Subscription>item
        _put_string(w, subscription.topic_filter, "topic_filter")
        if w.validate:
            validate_topic_filter(subscription.topic_filter)
        options = _int(subscription.qos, "qos", 3)
        if version == MQTT_5:
            retain_handling = _int(subscription.retain_handling, "retain_handling", 3)
            options |= (
                (0x04 if subscription.no_local else 0)
                | (0x08 if subscription.retain_as_published else 0)
                | retain_handling << 4
            )
            _check_subscription(subscription, None)
        elif options == 3:
            raise MalformedPacket("subscription QoS is 3")
        _put_byte(w, options)
    return 0x82


cdef int _write_suback(Writer* w, Suback packet, int version) except -1:
    _put_raw_u16(w, _packet_id_value(packet.packet_id))
    if version == MQTT_5:
        _put_properties(w, packet, T_SUBACK)
    for code in packet.reason_codes:
        _put_u8(w, code, "reason code")
    _check_suback_codes(packet.reason_codes, version, None)
    return 0x90


cdef int _write_unsubscribe(Writer* w, Unsubscribe packet, int version) except -1:
    _put_raw_u16(w, _packet_id_value(packet.packet_id))
    if version == MQTT_5:
        _put_properties(w, packet, T_UNSUBSCRIBE)
    if not packet.topic_filters:
        raise ProtocolError("UNSUBSCRIBE without a topic filter [MQTT-3.10.3-2]")
    for topic_filter in packet.topic_filters:
        _put_string(w, topic_filter, "topic filter")
        if w.validate:
            validate_topic_filter(topic_filter)
    return 0xA2


cdef int _write_unsuback(Writer* w, Unsuback packet, int version) except -1:
    _put_raw_u16(w, _packet_id_value(packet.packet_id))
    if version == MQTT_5:
        _put_properties(w, packet, T_UNSUBACK)
        for code in packet.reason_codes:
            _put_u8(w, code, "reason code")
        _check_unsuback_codes(packet.reason_codes, None)
    return 0xB0


cdef int _write_disconnect(Writer* w, Disconnect packet, int version) except -1:
    if version == MQTT_5:
        _write_reason_and_properties(w, packet, _int(packet.reason_code, "reason_code", 0xFF), T_DISCONNECT)
    return 0xE0


cdef int _write_auth(Writer* w, Auth packet, int version) except -1:
    if version < MQTT_5:
        raise MalformedPacket("AUTH exists only in MQTT 5")
    _write_reason_and_properties(w, packet, _int(packet.reason_code, "reason_code", 0xFF), T_AUTH)
    return 0xF0


cdef int _write_body(Writer* w, object packet, int version) except -1:
    """Write (or measure) the body of ``packet``; returns its first fixed-header byte."""
    cdef type cls = type(packet)
    if cls is Puback:
        return _write_ack(w, <_Ack>packet, T_PUBACK, version)
    if cls is Pubrec:
        return _write_ack(w, <_Ack>packet, T_PUBREC, version)
    if cls is Pubrel:
        return _write_ack(w, <_Ack>packet, T_PUBREL, version)
    if cls is Pubcomp:
        return _write_ack(w, <_Ack>packet, T_PUBCOMP, version)
    if cls is Connect:
        return _write_connect(w, <Connect>packet, version)
    if cls is Connack:
        return _write_connack(w, <Connack>packet, version)
    if cls is Subscribe:
        return _write_subscribe(w, <Subscribe>packet, version)
    if cls is Suback:
        return _write_suback(w, <Suback>packet, version)
    if cls is Unsubscribe:
        return _write_unsubscribe(w, <Unsubscribe>packet, version)
    if cls is Unsuback:
        return _write_unsuback(w, <Unsuback>packet, version)
    if cls is Pingreq:
        return 0xC0
    if cls is Pingresp:
        return 0xD0
    if cls is Disconnect:
        return _write_disconnect(w, <Disconnect>packet, version)
    return _write_auth(w, <Auth>packet, version)


cdef bint _is_packet(object packet):
    cdef type cls = type(packet)
    return (
        cls is Publish or cls is Puback or cls is Pubrec or cls is Pubrel or cls is Pubcomp or cls is Connect
        or cls is Connack or cls is Subscribe or cls is Suback or cls is Unsubscribe or cls is Unsuback
        or cls is Pingreq or cls is Pingresp or cls is Disconnect or cls is Auth
    )


cdef int _resolve_version(object packet, object version) except -1:
    cdef int level
    if not _is_packet(packet):
        raise TypeError(f"cannot encode {type(packet).__name__}: not an mqttfast packet")
    level = _version_argument(version)
    if type(packet) is Connect:
        own = (<Connect>packet).protocol_version
        if level == NO_VERSION:
            if own not in (MQTT_3_1, MQTT_3_1_1, MQTT_5) or not isinstance(own, int):
                raise UnsupportedProtocolVersion(f"unsupported protocol level {own!r}")
            return own
        if level != own:
            raise ValueError(f"Connect.protocol_version is {own}, encode() was given {version}")
        return level
    return MQTT_5 if level == NO_VERSION else level


cdef inline Py_ssize_t _varint_size(Py_ssize_t value):
    if value < 0x80:
        return 1
    if value < 0x4000:
        return 2
    if value < 0x200000:
        return 3
    return 4


cdef inline unsigned char* _store_varint(unsigned char* p, Py_ssize_t value):
    """Store ``value`` as a minimal variable byte integer at ``p``; returns the byte after it."""
    while value >= 0x80:
        p[0] = <unsigned char>((value & 0x7F) | 0x80)
        value >>= 7
        p += 1
    p[0] = <unsigned char>value
    return p + 1


cdef Py_ssize_t _measure_body(object packet, int version) except -1:
    """The size of the packet's body; validates everything the writing pass will write."""
    cdef Writer w
    w.out = NULL
    w.pos = 0
    w.capacity = 0
    w.scratch = False
    w.validate = True
    _write_body(&w, packet, version)
    if w.pos > MAX_VARINT:
        raise PacketTooLarge(f"packet body of {w.pos} bytes exceeds the protocol's {MAX_VARINT}")
    return w.pos


#: Size of the stack buffer encode() writes small packets into.
DEF SCRATCH = 1024


cdef inline Py_ssize_t _total_size(Py_ssize_t body_size):
    return 1 + _varint_size(body_size) + body_size


cdef int _write(object packet, int version, unsigned char* out, Py_ssize_t body_size) except -1:
    cdef Writer w
    w.out = out
    w.pos = 1
    w.capacity = _total_size(body_size)
    w.scratch = False
    w.validate = False
    _put_raw_varint(&w, body_size)
    out[0] = _write_body(&w, packet, version)
    if w.pos != w.capacity:
        raise RuntimeError("packet changed while it was being encoded")
    return 0


def encode(packet, version=None):
    """The wire bytes of ``packet`` for protocol level ``version``.

    ``version=None`` means the packet's own level for a CONNECT and MQTT 5 for
    everything else. Fields only MQTT 5 knows (properties, reason codes of
    acknowledgements) are left out when encoding for 3.x.
    """
    cdef int level
    cdef Py_ssize_t body_size
    cdef bytes out
    cdef PublishPlan plan
    cdef Writer w
    cdef unsigned char scratch[SCRATCH]
    cdef unsigned char* header
    cdef int first
    if type(packet) is Publish:
        # _resolve_version's answer for a PUBLISH, without its type checks.
        level = _version_argument(version)
        try:
            _plan_publish(&plan, <Publish>packet, MQTT_5 if level == NO_VERSION else level)
            out = PyBytes_FromStringAndSize(NULL, _total_size(plan.body_size))
            _write_publish(&plan, <Publish>packet, <unsigned char*>PyBytes_AS_STRING(out), True)
        finally:
            _release_plan(&plan)
        return out
    level = _resolve_version(packet, version)
    # Most packets fit the scratch buffer: validated and written in one pass, then copied once.
    w.out = scratch + 5
    w.pos = 0
    w.capacity = SCRATCH - 5
    w.scratch = True
    w.validate = True
    first = _write_body(&w, packet, level)
    body_size = w.pos
    if body_size > MAX_VARINT:
        raise PacketTooLarge(f"packet body of {body_size} bytes exceeds the protocol's {MAX_VARINT}")
    if w.out != NULL:
        header = scratch + 5 - 1 - _varint_size(body_size)
        w.out = header
        w.pos = 0
        w.capacity = 5
        w.scratch = False
        _put_byte(&w, first)
        _put_raw_varint(&w, body_size)
        return PyBytes_FromStringAndSize(<const char*>header, _total_size(body_size))
    out = PyBytes_FromStringAndSize(NULL, _total_size(body_size))
    _write(packet, level, <unsigned char*>PyBytes_AS_STRING(out), body_size)
    return out


def encoded_size(packet, version=None):
    """How many bytes ``encode(packet, version)`` returns, with the same checks."""
    cdef int level = _resolve_version(packet, version)
    cdef PublishPlan plan
    if type(packet) is Publish:
        try:
            _plan_publish(&plan, <Publish>packet, level)
        finally:
            _release_plan(&plan)
        return _total_size(plan.body_size)
    return _total_size(_measure_body(packet, level))


def encode_into(packet, buffer, Py_ssize_t offset=0, version=None):
    """Encode ``packet`` into the writable ``buffer`` at ``offset``; the number of bytes written.

    Raises ``ValueError`` (writing nothing) when the packet does not fit.
    """
    cdef Py_buffer target
    cdef int level
    cdef Py_ssize_t size, body_size
    cdef PublishPlan plan
    try:
        PyObject_GetBuffer(buffer, &target, PyBUF_SIMPLE | PyBUF_WRITABLE)
    except BufferError:
        raise TypeError("encode_into() needs a writable buffer") from None
    try:
        level = _resolve_version(packet, version)
        if type(packet) is Publish:
            try:
                _plan_publish(&plan, <Publish>packet, level)
                size = _total_size(plan.body_size)
                if offset < 0 or offset + size > target.len:
                    raise ValueError(
                        f"packet of {size} bytes does not fit in buffer of {target.len} at offset {offset}"
                    )
                _write_publish(&plan, <Publish>packet, <unsigned char*>target.buf + offset, True)
            finally:
                _release_plan(&plan)
            return size
        body_size = _measure_body(packet, level)
        size = _total_size(body_size)
        if offset < 0 or offset + size > target.len:
            raise ValueError(f"packet of {size} bytes does not fit in buffer of {target.len} at offset {offset}")
        _write(packet, level, <unsigned char*>target.buf + offset, body_size)
    finally:
        PyBuffer_Release(&target)
    return size


# ---------------------------------------------------------------------------
# Forwarding
# ---------------------------------------------------------------------------

cdef object _KEEP = object()


def encode_forward(
    packet,
    version=None,
    *,
    qos=None,
    packet_id=None,
    retain=None,
    topic=None,
    topic_alias=None,
    subscription_identifiers=None,
    message_expiry_interval=_KEEP,
):
    """``(header, payload)`` of ``packet`` re-addressed to one subscriber, for ``transport.writelines()``.

    ``header`` is a small new ``bytes`` (fixed header, topic, packet id,
    properties) and ``payload`` is ``packet.payload`` itself, never copied, so
    fanning one message out to many subscribers costs one header each.
    ``qos``, ``retain`` and ``topic`` default to the packet's own; ``packet_id``
    is the subscriber's (required when the QoS is above 0); DUP is always
    cleared [MQTT-3.3.1-3]; ``topic_alias`` and ``subscription_identifiers``
    are the subscriber's connection's own and never copied from the incoming
    packet [MQTT-3.3.2-10, MQTT-3.3.4-6]; ``message_expiry_interval`` lets a
    broker send the remaining lifetime. Every other MQTT 5 property is
    forwarded unchanged, as the server must [MQTT-3.3.2-4]. The same checks as
    ``encode()`` apply.
    """
    cdef Publish incoming, outgoing
    cdef PublishPlan plan
    cdef bytes header
    cdef int level
    if type(packet) is not Publish:
        raise TypeError(f"encode_forward() needs a Publish, not {type(packet).__name__}")
    incoming = <Publish>packet
    level = _resolve_version(packet, version)
    incoming._load()
    outgoing = Publish.__new__(Publish)
    outgoing.topic = incoming.topic if topic is None else topic
    payload = incoming._get_payload()
    outgoing._payload = payload
    outgoing.qos = incoming.qos if qos is None else qos
    outgoing.retain = incoming.retain if retain is None else retain
    outgoing.dup = False
    outgoing.packet_id = packet_id
    outgoing._payload_format_indicator = incoming._payload_format_indicator
    outgoing._message_expiry_interval = (
        incoming._message_expiry_interval if message_expiry_interval is _KEEP else message_expiry_interval
    )
    outgoing._content_type = incoming._content_type
    outgoing._response_topic = incoming._response_topic
    outgoing._correlation_data = incoming._correlation_data
    if subscription_identifiers:
        outgoing._subscription_identifiers = list(subscription_identifiers)
    outgoing._topic_alias = topic_alias
    # User properties travel as they are, still unparsed when the packet came from our decoder.
    outgoing._user_properties = incoming._user_properties
    outgoing._raw_owner = incoming._raw_owner
    outgoing._raw_block = incoming._raw_block
    outgoing._raw_size = incoming._raw_size
    outgoing._wire_order = incoming._wire_order
    try:
        _plan_publish(&plan, outgoing, level)
        header = PyBytes_FromStringAndSize(NULL, _total_size(plan.body_size) - plan.payload.len)
        _write_publish(&plan, outgoing, <unsigned char*>PyBytes_AS_STRING(header), False)
    finally:
        _release_plan(&plan)
    return header, payload


# ---------------------------------------------------------------------------
# Streaming
# ---------------------------------------------------------------------------

#: Size of each buffer a Decoder reads into; a larger packet gets a buffer of its own size.
DEF CHUNK = 64 * 1024


cdef class Decoder:
    """Streaming decoder for one connection: bytes in, packets out.

    ``feed(data)`` takes chunks cut anywhere; for ``asyncio.BufferedProtocol``
    use ``get_buffer(sizehint)`` and ``buffer_updated(nbytes)``, which let the
    transport read straight into the decoder's buffer. The version is learned
    from CONNECT when not given.

    Buffer ownership: the decoder never writes over bytes it has already
    received. When its buffer fills up it starts a fresh one and moves only the
    unfinished packet there, so the payload views of returned packets stay
    valid for as long as they are referenced (pass ``copy=True`` for ``bytes``).
    A header announcing more than ``max_packet_size`` bytes raises
    ``PacketTooLarge`` before any of the body is buffered, so the bytes held
    never exceed the larger of 64 KiB and ``max_packet_size``; so does a
    property block of more than ``max_properties`` properties. After an error the
    decoder is poisoned: every later call raises the same error, since MQTT
    requires the connection to be closed. Packets decoded in the same call
    before the error are attached to the exception as ``packets``.

    Not thread-safe: one decoder belongs to one connection and one reader.
    """

    cdef public object version
    cdef readonly object max_packet_size
    cdef Py_ssize_t _packet_limit
    cdef readonly Py_ssize_t max_properties
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
        Py_ssize_t max_properties=DEFAULT_MAX_PROPERTIES,
        bint copy=False,
    ):
        self._level = _version_argument(version)
        if max_packet_size < 2:
            raise ValueError("max_packet_size must be at least 2")
        self.version = version
        self.max_packet_size = max_packet_size
        self._packet_limit = _size_limit(max_packet_size)
        self.max_properties = max_properties
        self._copy = copy
        self._connected = False  # a connection carries one CONNECT [MQTT-3.1.0-2]
        self._buffer = bytearray(0)
        self._view = memoryview(self._buffer)
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
                self._make_room()
                n = min(self._capacity - self._end, incoming.len - pos)
                memcpy(self._data + self._end, <const char*>incoming.buf + pos, n)
                pos += n
                self._end += n
                self._drain_into(packets)
        finally:
            PyBuffer_Release(&incoming)
        return packets

    def get_buffer(self, sizehint=-1):
        """A writable view for the next bytes (``asyncio.BufferedProtocol``)."""
        if self._error is not None:
            raise self._error
        self._make_room()
        return self._view[self._end:]

    cdef int _make_room(self) except -1:
        cdef Py_ssize_t needed = self._packet_end - self._start if self._packet_end >= 0 else 0
        if self._end == self._capacity or self._capacity - self._start < needed:
            self._renew(max(CHUNK, needed))
        return 0

    cdef int _renew(self, Py_ssize_t capacity) except -1:
        # Never compact in place: returned packets may hold views of the old buffer.
        cdef Py_ssize_t pending = self._end - self._start
        cdef bytearray buffer = bytearray(capacity)
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
        while self._start < end:
            start = self._start
            if self._packet_end < 0:
                if read_fixed_header(
                    base, start, end, self._packet_limit, &self._body_start, &self._packet_end
                ):
                    return 0
            if self._packet_end > end:
                return 0
            # The decoder never overwrites received bytes and never hands out its own
            # view, so unread property values may stay in its buffer.
            packet = read_packet(
                self._view, base, start, self._body_start, self._packet_end, self._level, self._copy, False,
                self._view, self.max_properties,
            )
            if type(packet) is Connect:
                if self._connected:
                    raise ProtocolError("a second CONNECT on the connection [MQTT-3.1.0-2]", start)
                self._connected = True
                self._level = (<Connect>packet).protocol_version
                self.version = self._level
            packets.append(packet)
            self._start = self._packet_end
            self._packet_end = -1
        return 0
