# The reading side (bytes to packets), compiled twin of ``_readers_py``.
# Included by _codec_c.pyx, whose cimports and imports it uses.

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


cdef long _varint(Reader* r, str field) except -1:
    cdef Py_ssize_t value
    cdef Py_ssize_t pos = load_varint(r.base, r.pos, r.end, &value)
    if pos == VARINT_INCOMPLETE:
        raise MalformedPacket(f"{field} runs past the end of the packet", r.end)
    if pos == VARINT_TOO_LONG:
        raise MalformedPacket(f"{field}: variable byte integer longer than 4 bytes", r.pos)
    r.pos = pos
    return value


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
                if r.pos - value_start != varint_size_of(number):
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
    packet.protocol_version = None
    packet.client_id = ""
    packet.clean_start = True
    packet.keep_alive = 0
    packet.bridge = False
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
    cdef str name
    cdef long level
    if mqtt or mqisdp:
        name = "MQTT" if mqtt else "MQIsdp"
    else:
        r.pos = start
        name = _string(r, "protocol name")  # any other name is read (and refused) as a string
    level = _u8(r, "protocol level")
    # mosquitto bridges set the level's top bit ("try_private"); the level is the rest.
    cdef bint bridge = level & BRIDGE_BIT
    level &= ~BRIDGE_BIT
    try:
        return _read_connect_rest(r, view, name, level, bridge, start)
    except MQTTError as exc:
        # The server answers in the form of the level it read [MQTT-3.1.4-2, MQTT-3.2.2-4/5].
        exc.protocol_name = name
        exc.protocol_level = level
        raise


cdef object _read_connect_rest(Reader* r, object view, str name, long level, bint bridge, Py_ssize_t start):
    cdef Py_ssize_t pos
    cdef long connect_flags, will_qos
    cdef bint has_will, will_retain, has_password, has_username
    cdef Connect packet
    cdef Will will
    # The name must be the one of the level: "MQIsdp" for 3.1, "MQTT" after.
    if not ((level == MQTT_3_1 and name == "MQIsdp") or ((level == MQTT_3_1_1 or level == MQTT_5) and name == "MQTT")):
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
    packet.bridge = bridge
    packet.clean_start = bool(connect_flags & 0x02)
    packet.keep_alive = _u16(r, "keep alive")
    if level == MQTT_5:
        _properties(r, view, T_CONNECT, packet)
    pos = r.pos
    packet.client_id = _string(r, "client identifier")
    _check_client_id(packet, level, pos)
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
    if r.pos != r.end:
        # Checked here too, so that the error carries the level like the others.
        raise MalformedPacket(f"{r.end - r.pos} bytes left over after the last field", r.pos)
    return packet


cdef object _UNSUPPORTED_PROTOCOL_VERSION = int(ReasonCode.UNSUPPORTED_PROTOCOL_VERSION)


cdef object _read_connack(Reader* r, object view, int flags, int version):
    cdef Py_ssize_t pos = r.pos
    cdef long ack_flags = _u8(r, "acknowledge flags")
    cdef long code
    cdef Connack packet
    if ack_flags & 0xFE:
        raise MalformedPacket("reserved acknowledge flags are set [MQTT-3.2.2-1]", pos)
    pos = r.pos
    code = _u8(r, "reason code")
    if version == MQTT_5 and code == V3_UNACCEPTABLE_PROTOCOL_VERSION and r.pos == r.end and not ack_flags:
        # A 3.1.1-only server refusing a 5.0 client answers in its own form, 20 02 00 01, with
        # no property length. Read as the 5.0 refusal it means, so the client can fall back.
        packet = Connack.__new__(Connack)
        packet.session_present = False
        packet.reason_code = _UNSUPPORTED_PROTOCOL_VERSION
        return packet
    _check_connack_code(code, version, pos)
    if ack_flags and code:
        raise ProtocolError("session present with a failure reason code [MQTT-3.2.2-6]", pos)
    packet = Connack.__new__(Connack)
    packet.session_present = bool(ack_flags)
    packet.reason_code = code
    if version == MQTT_5:
        _properties(r, view, T_CONNACK, packet)
    return packet


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
    cdef long options
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
            raise ProtocolError("retain handling is 3 (MQTT 5.0 §3.8.3.1)", pos)
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


cdef int read_fixed_header(
    const unsigned char* base, Py_ssize_t start, Py_ssize_t end, Py_ssize_t max_packet_size,
    Py_ssize_t* body_start, Py_ssize_t* packet_end,
) except -1:
    """Set ``body_start`` and ``packet_end`` of the packet at ``start``; 1 if the header is cut short.

    Checks the first byte and the size before anything else, so a hostile
    length costs nothing. Unlike the pure-Python twin it reports a short
    header by its return value: the stream decoder meets that case constantly.
    """
    cdef unsigned char byte0
    cdef int packet_type
    cdef Py_ssize_t pos, remaining = 0
    if start >= end:
        return 1
    byte0 = base[start]
    packet_type = byte0 >> 4
    if packet_type == 0:
        raise MalformedPacket("reserved packet type 0", start)
    if packet_type != T_PUBLISH and byte0 & 0x0F != _required_flags[packet_type]:
        raise MalformedPacket(f"invalid fixed header flags for {_names_by_type[packet_type]}", start)
    pos = load_varint(base, start + 1, end, &remaining)
    if pos == VARINT_INCOMPLETE:
        return 1
    if pos == VARINT_TOO_LONG:
        raise MalformedPacket("remaining length longer than 4 bytes", start + 1)
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
