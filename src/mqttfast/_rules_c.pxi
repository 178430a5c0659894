# The protocol rules that both directions enforce, compiled twin of ``_rules_py``.
# Included by _codec_c.pyx, whose cimports and imports it uses.

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
        if pid == P_TOPIC_ALIAS:
            # Its own reason code, so a receiver answers DISCONNECT 0x94 [MQTT-3.3.2-8, §3.3.2.3.4].
            raise TopicAliasInvalid("topic_alias must not be 0 [MQTT-3.3.2-8]", offset)
        raise ProtocolError(f"{_property_names[pid]} must not be 0", offset)
    return 0


cdef int _check_string_property(int pid, object value, object offset) except -1:
    if pid == P_RESPONSE_TOPIC:
        if not value:
            raise InvalidTopicName("response_topic must not be empty [MQTT-4.7.3-1]", offset)
        _check_topic_name(value, "response_topic", offset)
    return 0


cdef int _check_client_id(Connect packet, int version, object offset) except -1:
    client_id = packet.client_id
    if version == MQTT_5:
        return 0
    if version == MQTT_3_1:
        if not 1 <= len(client_id.encode("utf-8")) <= 23:
            raise ClientIdentifierNotValid("MQTT 3.1 client identifier must be 1 to 23 bytes", offset)
    elif version == MQTT_3_1_1 and not client_id and not packet.clean_start:
        raise ClientIdentifierNotValid("empty client identifier requires clean session [MQTT-3.1.3-7]", offset)
    return 0


cdef int _check_will_topic(str topic, object offset) except -1:
    if not topic:
        raise InvalidTopicName("will topic must not be empty [MQTT-4.7.3-1]", offset)
    _check_topic_name(topic, "will topic", offset)
    return 0


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


cdef int _check_publish_topic_present(Publish packet, int version, object offset) except -1:
    return _check_topic_present(packet.topic, packet.topic_alias, version, offset)


cdef int _check_topic_present(object topic, object topic_alias, int version, object offset) except -1:
    if topic:
        return 0
    if version < MQTT_5:
        raise InvalidTopicName("topic name must not be empty [MQTT-4.7.3-1]", offset)
    if topic_alias is None:
        raise ProtocolError("empty topic name without a topic alias [MQTT-3.3.2-8]", offset)
    return 0


cdef int _check_subscription(Subscription subscription, object offset) except -1:
    if subscription.qos == 3:
        raise MalformedPacket("subscription QoS is 3", offset)
    if subscription.retain_handling == 3:
        # A Protocol Error, not a malformed packet: MQTT 5.0 §3.8.3.1 names it so.
        raise ProtocolError("retain handling is 3 (MQTT 5.0 §3.8.3.1)", offset)
    if subscription.no_local and subscription.topic_filter.startswith("$share/"):
        raise ProtocolError("No Local on a shared subscription [MQTT-3.8.3-4]", offset)
    return 0


cdef int _check_suback_codes(list codes, int version, object offset) except -1:
    if not codes:
        raise ProtocolError("SUBACK without a reason code", offset)
    allowed = ALLOWED_REASON_CODES[T_SUBACK] if version == MQTT_5 else V3_SUBACK_CODES[version]
    for index, code in enumerate(codes):
        if code not in allowed:
            at = None if offset is None else offset + index
            raise ProtocolError(f"SUBACK reason code 0x{code:02X} is not allowed", at)
    return 0


cdef int _check_unsuback_codes(list codes, object offset) except -1:
    if not codes:
        raise ProtocolError("UNSUBACK without a reason code", offset)
    for index, code in enumerate(codes):
        _check_reason_code(T_UNSUBACK, code, None if offset is None else offset + index)
    return 0


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
