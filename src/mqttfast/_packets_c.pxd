# Declarations of the compiled packet classes, so that _codec_c reads and writes
# their fields as C struct members.

cdef class _Packet:
    pass

cdef class _WithUserProperties(_Packet):
    # None until first read or set: most decoded packets never have any.
    cdef object _user_properties
    # Set by the compiled decoder instead of _user_properties: the validated
    # property block to build them from on first access, and its owner.
    cdef object _raw_owner
    cdef const unsigned char* _raw_block
    cdef Py_ssize_t _raw_size
    # The order the peer sent the properties in, when it was not identifier order.
    cdef public object _wire_order

cdef class Will(_WithUserProperties):
    cdef public object topic, payload, qos, retain
    cdef public object payload_format_indicator, message_expiry_interval, content_type, response_topic
    cdef public object correlation_data, will_delay_interval

cdef class Connect(_WithUserProperties):
    cdef public object protocol_version, client_id, clean_start, keep_alive, bridge
    cdef public object username, password, will, session_expiry_interval
    cdef public object authentication_method, authentication_data, request_problem_information, request_response_information
    cdef public object receive_maximum, topic_alias_maximum, maximum_packet_size

cdef class Connack(_WithUserProperties):
    cdef public object session_present, reason_code, session_expiry_interval, assigned_client_identifier
    cdef public object server_keep_alive, authentication_method, authentication_data, response_information
    cdef public object server_reference, reason_string, receive_maximum, topic_alias_maximum
    cdef public object maximum_qos, retain_available, maximum_packet_size, wildcard_subscription_available
    cdef public object subscription_identifier_available, shared_subscription_available

cdef class Publish(_WithUserProperties):
    cdef public object topic, qos, retain, dup, packet_id
    # The payload, behind a Python property: a packet from the compiled decoder
    # leaves it as a pointer into its input (_payload_owner keeps that alive)
    # and makes the memoryview on first access. Most of the cost of decoding a
    # small PUBLISH is that view, and a broker that only routes by topic never
    # needs it; re-encoding writes straight from the pointer.
    cdef object _payload
    cdef object _payload_owner
    cdef const unsigned char* _payload_data
    cdef Py_ssize_t _payload_size
    # The MQTT 5 properties, behind Python properties: a packet from the compiled
    # decoder leaves them in its validated block (_raw_block) until one is used.
    cdef object _payload_format_indicator, _message_expiry_interval, _content_type
    cdef object _response_topic, _correlation_data, _topic_alias
    cdef object _subscription_identifiers
    # The view keeping _raw_block alive while the fields above are still unread.
    cdef object _lazy_owner
    # The block is exactly what encoding the fields gives back (minimal varints),
    # so re-encoding an untouched packet may copy it.
    cdef bint _raw_canonical
    cdef int _load(self) except -1
    cdef object _get_payload(self)

cdef class _Ack(_WithUserProperties):
    # PUBACK, PUBREC, PUBREL and PUBCOMP share one layout.
    cdef public object packet_id, reason_code, reason_string

cdef class Puback(_Ack):
    pass

cdef class Pubrec(_Ack):
    pass

cdef class Pubrel(_Ack):
    pass

cdef class Pubcomp(_Ack):
    pass

cdef class Subscription(_Packet):
    cdef public object topic_filter, qos, no_local, retain_as_published
    cdef public object retain_handling

cdef class Subscribe(_WithUserProperties):
    cdef public object packet_id, subscriptions, subscription_identifier

cdef class Suback(_WithUserProperties):
    cdef public object packet_id, reason_codes, reason_string

cdef class Unsubscribe(_WithUserProperties):
    cdef public object packet_id, topic_filters

cdef class Unsuback(_WithUserProperties):
    cdef public object packet_id, reason_codes, reason_string

cdef class Pingreq(_Packet):
    pass

cdef class Pingresp(_Packet):
    pass

cdef class Disconnect(_WithUserProperties):
    cdef public object reason_code, session_expiry_interval, server_reference, reason_string

cdef class Auth(_WithUserProperties):
    cdef public object reason_code, authentication_method, authentication_data, reason_string
