# Forwarding a received PUBLISH, compiled twin of ``_forward_py``.
# Included by _codec_c.pyx, whose cimports and imports it uses.

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
