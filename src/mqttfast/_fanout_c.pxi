# The last delivery's encoded PUBLISH header, kept for the next delivery of the
# same message. Included by _connection_c.pyx (compiled twin only: the pure twin
# encodes every delivery; both produce the same bytes).
#
# A broker delivers one received message to every matching subscriber in a row,
# each through its own connection: the headers differ at most by the packet id
# when the subscribers share the level, QoS, RETAIN, topic (or alias),
# Subscription Identifiers and expiry. So a delivery whose inputs all equal the
# last one's copies that header and writes only its own packet id, instead of
# encoding again. The inputs compared are everything forward_publish reads
# that can change the header: the message (by identity), each field of it that
# reaches the header (by identity: a field replaced is a miss), the payload's
# length, and the delivery options (by value). Fields that could change in
# place without a new identity (a user property list with items, a writable
# correlation data buffer) make the message uncacheable. Holding the last
# message keeps one message alive until the next delivery.

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE


cdef inline bint _same(a, b) except -1:
    # Equal values of one type (1 and True encode alike but are checked apart), most often
    # the very same object (small ints, None, the message's topic).
    return a is b or (type(a) is type(b) and a == b)


cdef class _LastForward:
    cdef object message, payload
    cdef int level
    cdef object qos, retain, topic, alias, subscription_identifiers, expiry
    cdef object sent_qos
    cdef Py_ssize_t payload_size
    # The message's fields that reach the header, as they were.
    cdef object payload_format_indicator, content_type, response_topic, correlation_data
    cdef object user_properties, raw_owner, wire_order
    cdef const unsigned char* raw_block
    cdef Py_ssize_t raw_size
    cdef bytes header
    cdef Py_ssize_t packet_id_at  # offset of the packet id in header, 0 at QoS 0

    cdef bint matches(self, Publish message, int level, qos, retain, topic, alias, subscription_identifiers, expiry) except -1:
        return (
            message is self.message
            and level == self.level
            and _same(qos, self.qos)
            and _same(retain, self.retain)
            and _same(topic, self.topic)
            and _same(alias, self.alias)
            and _same(subscription_identifiers, self.subscription_identifiers)
            and _same(expiry, self.expiry)
            and message.qos is self.sent_qos
            and message._payload is self.payload
            and message._payload_owner is None
            and len(self.payload) == self.payload_size
            and message._lazy_owner is None
            and message._payload_format_indicator is self.payload_format_indicator
            and message._content_type is self.content_type
            and message._response_topic is self.response_topic
            and message._correlation_data is self.correlation_data
            and message._user_properties is self.user_properties
            and (self.user_properties is None or not self.user_properties)
            and message._raw_owner is self.raw_owner
            and message._raw_block == self.raw_block
            and message._raw_size == self.raw_size
            and message._wire_order is self.wire_order
        )

    cdef bytes header_with(self, packet_id):
        cdef bytes header
        cdef unsigned char* data
        cdef long number
        if not self.packet_id_at:
            return self.header
        number = packet_id
        header = PyBytes_FromStringAndSize(PyBytes_AS_STRING(self.header), PyBytes_GET_SIZE(self.header))
        data = <unsigned char*>PyBytes_AS_STRING(header)
        data[self.packet_id_at] = (number >> 8) & 0xFF
        data[self.packet_id_at + 1] = number & 0xFF
        return header

    cdef int remember(
        self, Publish message, int level, qos, retain, topic, alias, subscription_identifiers, expiry,
        bytes header, payload,
    ) except -1:
        cdef const unsigned char* data = <const unsigned char*>PyBytes_AS_STRING(header)
        cdef Py_ssize_t at = 1
        correlation = message._correlation_data
        user_properties = message._user_properties
        if (
            (user_properties is not None and len(user_properties))
            or not (
                correlation is None
                or type(correlation) is bytes
                or (type(correlation) is memoryview and correlation.readonly)
            )
        ):
            self.message = None  # in-place changes would go unseen: encode this message each time
            return 0
        self.message = message
        self.level, self.qos, self.retain, self.topic, self.alias = level, qos, retain, topic, alias
        self.subscription_identifiers = (
            None if subscription_identifiers is None else list(subscription_identifiers)
        )
        self.expiry = expiry
        self.sent_qos = message.qos
        self.payload = payload
        self.payload_size = len(payload)
        self.payload_format_indicator = message._payload_format_indicator
        self.content_type = message._content_type
        self.response_topic = message._response_topic
        self.correlation_data = correlation
        self.user_properties = user_properties
        self.raw_owner = message._raw_owner
        self.raw_block = message._raw_block
        self.raw_size = message._raw_size
        self.wire_order = message._wire_order
        self.header = header
        if data[0] & 0x06:  # QoS 1 or 2: the packet id follows the topic
            while data[at] & 0x80:  # the Remaining Length, 1 to 4 bytes
                at += 1
            at += 1
            self.packet_id_at = at + 2 + (data[at] << 8 | data[at + 1])
        else:
            self.packet_id_at = 0
        return 0


cdef _LastForward _last_forward = _LastForward()
