# The writing side (packets to bytes), compiled twin of ``_writers_py``.
# Included by _codec_c.pyx, whose cimports and imports it uses.

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
    cdef int size = varint_size_of(value)
    _reserve(w, size)
    if w.out != NULL:
        store_varint(w.out + w.pos, value)
    w.pos += size
    return 0


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


cdef tuple _property_ids(const unsigned char* block, Py_ssize_t size):
    """The identifiers of a validated property block, in wire order."""
    cdef list ids = []
    cdef Py_ssize_t pos = 0
    cdef int pid
    while pos < size:
        pid = block[pos]
        ids.append(pid)
        pos = skip_property_value(block, pos + 1, _property_kind[pid & 63])
    return tuple(ids)


cdef int _put_raw_user_properties(Writer* w, const unsigned char* block, Py_ssize_t size) except -1:
    # Forwarding a decoded packet: its user properties are copied as they came.
    cdef Py_ssize_t pos = 0, start
    cdef int kind
    while pos < size:
        start = pos
        kind = _property_kind[block[pos] & 63]
        pos = skip_property_value(block, pos + 1, kind)
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
    length_size = varint_size_of(size)
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
    _put_byte(w, version | BRIDGE_BIT if PyObject_IsTrue(packet.bridge) else version)
    _put_byte(w, flags)
    _put_u16(w, packet.keep_alive, "keep_alive")
    if version == MQTT_5:
        _put_properties(w, packet, T_CONNECT)
    _put_string(w, packet.client_id, "client_id")
    _check_client_id(packet, version, None)
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
cdef enum:
    PUBLISH_PROPERTIES_SCRATCH = 256


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
    cdef Writer measure
    _plan_head(plan, packet.qos, packet.dup, packet.topic, packet.packet_id)
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
    if packet.retain:
        plan.first |= 0x01
    _plan_payload(plan, packet)
    return 0


cdef int _plan_head(PublishPlan* plan, object qos_value, object dup, object topic, object packet_id) except -1:
    # The flags but RETAIN, the topic and the packet id, validated: what the properties do not change.
    # First of all, the plan's references are made empty (the caller releases the plan, raised or not).
    cdef long long qos
    plan.topic_ref = NULL
    mqttfast_no_buffer(&plan.payload)
    qos = _int(qos_value, "qos", 3)
    if qos == 3:
        raise MalformedPacket("PUBLISH QoS is 3 [MQTT-3.3.1-4]")
    plan.first = 0x30 | qos << 1
    if dup:
        if not qos:
            raise MalformedPacket("PUBLISH DUP set with QoS 0 [MQTT-3.3.1-2]")
        plan.first |= 0x08
    plan.topic = _utf8(topic, "topic", &plan.topic_size)
    Py_INCREF(topic)
    plan.topic_ref = <PyObject*>topic
    if _has_wildcard(plan.topic, plan.topic_size):
        _check_topic_name(topic, "topic", None)
    plan.packet_id = 0
    if qos:
        plan.packet_id = _packet_id_value(packet_id)
    elif packet_id is not None:
        raise ProtocolError("a QoS 0 PUBLISH must not carry a packet identifier [MQTT-2.2.1-2]")
    return 0


cdef int _plan_payload(PublishPlan* plan, Publish packet) except -1:
    # ``packet``'s payload, exported, and the body's size (the head and the properties planned).
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
    plan.body_size = 2 + plan.topic_size + (2 if plan.first & 0x06 else 0) + plan.payload.len
    if plan.properties_size >= 0:
        plan.body_size += varint_size_of(plan.properties_size) + plan.properties_size
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
    p = store_varint(p + 1, plan.body_size)
    p[0] = <unsigned char>(plan.topic_size >> 8)
    p[1] = <unsigned char>plan.topic_size
    memcpy(p + 2, plan.topic, plan.topic_size)
    p += 2 + plan.topic_size
    if plan.packet_id:
        p[0] = <unsigned char>(plan.packet_id >> 8)
        p[1] = <unsigned char>plan.packet_id
        p += 2
    if plan.properties_size >= 0:
        p = store_varint(p, plan.properties_size)
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
    """The protocol level to encode ``packet`` at: ``version``, or where it cannot be wrong, the packet's."""
    cdef int level
    cdef long long own_level
    if not _is_packet(packet):
        raise TypeError(f"cannot encode {type(packet).__name__}: not an mqttfast packet")
    level = _version_argument(version)
    if type(packet) is Connect:
        own = (<Connect>packet).protocol_version
        if own is None:
            if level == NO_VERSION:
                raise TypeError("encode() needs version= (3, 4 or 5) for a Connect without protocol_version")
            return level
        if not (mqttfast_small_int(own, &own_level) and MQTT_3_1 <= own_level <= MQTT_5):
            # Not an exact small int: an int subclass may still name a level.
            if not isinstance(own, int) or own not in (MQTT_3_1, MQTT_3_1_1, MQTT_5):
                raise UnsupportedProtocolVersion(f"unsupported protocol level {own!r}")
            own_level = own
        if level != NO_VERSION and level != own_level:
            raise ValueError(f"Connect.protocol_version is {own}, encode() was given {version}")
        return <int>own_level
    if level == NO_VERSION:
        if type(packet) is Pingreq or type(packet) is Pingresp or type(packet) is Auth:
            return MQTT_5
        _version_required(packet)
    return level


cdef int _version_required(object packet) except -1:
    raise TypeError(
        f"encode() needs version= (3, 4 or 5) for a {type(packet).__name__}: its bytes differ between levels"
    )


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
cdef enum:
    SCRATCH = 1024


cdef inline Py_ssize_t _total_size(Py_ssize_t body_size):
    return 1 + varint_size_of(body_size) + body_size


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

    ``version`` may be left out only where it cannot be wrong: a CONNECT
    whose ``protocol_version`` is set, PINGREQ and PINGRESP (the same bytes at
    every level) and AUTH (MQTT 5 only); for any other packet that is a
    TypeError. Fields only MQTT 5 knows (properties, reason codes of
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
        if level == NO_VERSION:
            _version_required(packet)
        try:
            _plan_publish(&plan, <Publish>packet, level)
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
        header = scratch + 5 - 1 - varint_size_of(body_size)
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
