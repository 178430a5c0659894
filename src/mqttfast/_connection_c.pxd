# The compiled connection core, declared so that the broker's compiled twin (``_broker_c``)
# reads a connection's state and calls its per-message methods as C, not through Python calls.

from ._packets_c cimport Publish, _Ack


cdef class Connection:
    cdef object _version_value
    # The protocol level as a C int, 0 while unknown (kept in step by the _version setter).
    cdef int _level
    cdef object _decoder
    cdef object _feed  # _decoder.feed, bound once
    cdef public object _max_packet_size
    cdef public list _out
    cdef public int _state
    cdef public object _session
    cdef public dict _outbound
    cdef public dict _waiting
    cdef public set _inbound_qos2
    cdef public long _receive_maximum
    cdef public long _peer_receive_maximum
    cdef public long _send_quota
    cdef public long _unacked_qos1
    cdef public long _unacked_qos1_earlier
    cdef public long long _peer_max_packet_size
    cdef public long _topic_alias_maximum
    cdef public dict _aliases_in
    cdef public long _peer_topic_alias_maximum
    cdef public dict _aliases_out
    cdef public long _next_alias
    cdef public list _free_aliases
    cdef public bint _auto_ack
    cdef public object _pending_acks
    cdef public object _now
    cdef public bint _received
    cdef public bint _sent
    cdef public object _last_received
    cdef public int _accepted_qos
    cdef public bint _accepted_retain
    # Whether this side delivers others' messages (set by the server's deliver()): only
    # then may the next PUBLISH reuse the header of the last one (_fanout_c.pxi).
    cdef bint _fans_out
    # The last topic name publish()'s fast path validated: a client publishing to one topic
    # checks the string once, not per message (a str cannot change, so the answer cannot).
    cdef object _valid_topic
    # The topic last put at the end of _aliases_out (the most recently used): publishing to it
    # again leaves the order as it is, without the dict's delete and insert.
    cdef object _alias_last
    # Packet id -> future of a QoS 1/2 publish of ours, or None (ClientMixin: "publishes held by an asyncio client").
    cdef public dict _futures
    # An emptied output list to reuse (_recycle_buffers), or None.
    cdef list _spare_out

    cdef list _receive_data_c(self, data, now)
    cdef bint _puback_received_c(self, long packet_id, now) except -1
    cdef list _take_buffers(self)
    cdef int _recycle_buffers(self, list buffers) except -1
    cdef bint _closed_c(self)
    cdef object _deliver_c(
        self, message, qos, retain_as_published, retained, subscription_identifiers, expires_at
    )
    cdef int _note_read(self, now) except -1
    cdef int _replay_c(self, packet, list events) except -1
    cdef int _receive_publish_c(self, Publish packet, list events) except -1
    cdef int _resolve_alias(self, Publish packet, alias) except -1
    cdef int _check_receive_maximum(self) except -1
    cdef bint _manual_ack_pending(self, long packet_id) except -1
    cdef int _receive_puback(self, _Ack packet, list events) except -1
    cdef bint _end_qos1_flow(self, packet_id) except -1
    cdef int _flow_ended(self, packet_id, _Ack packet, list events) except -1
    cdef int _receive_pubrec(self, _Ack packet, list events) except -1
    cdef int _receive_pubrel(self, _Ack packet, list events) except -1
    cdef int _receive_pubcomp(self, _Ack packet, list events) except -1
    cdef int _send_ack(self, type cls, long packet_id, long reason_code) except -1
    cdef object _queue_outgoing_c(self, entry)
    cdef object _allocate_packet_id(self, session)
    cdef bint _transmit_c(self, entry, packet_id) except -1
    cdef bint _transmit_message(
        self, message, qos, retain, subscription_identifiers, expires_at, sent, packet_id, entry
    ) except -1
    cdef tuple _encode_entry(
        self, message, qos, retain, subscription_identifiers, sent, packet_id, topic, alias, expiry
    )
    cdef long _assign_alias(self, topic) except -1
    cdef int _release_quota(self) except -1
    cdef int _send_waiting_c(self) except -1
