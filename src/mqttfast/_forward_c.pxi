# Forwarding a received PUBLISH, compiled twin of ``_forward_py`` (whose header
# states the delivery rules, applied here inline: the call is made once per
# subscriber of every message).
# Included by _codec_c.pyx, whose cimports and imports it uses.

cdef object _KEEP = object()


def encode_forward(
    packet,
    version=None,
    *,
    granted_qos,
    packet_id=None,
    bint retain_as_published=False,
    bint retained_delivery=False,
    topic=None,
    topic_alias=None,
    subscription_identifiers=None,
    message_expiry_interval=_KEEP,
):
    """``(header, payload)`` of ``packet`` delivered to one subscription, for ``transport.writelines()``.

    ``header`` is a small new ``bytes`` (fixed header, topic, packet id,
    properties) and ``payload`` is ``packet.payload`` itself, never copied, so
    fanning one message out to many subscribers costs one header each.

    The delivery rules of the specification are applied here, from the
    subscription's side: the QoS sent is the minimum of ``packet.qos`` and
    ``granted_qos`` (the QoS the server granted in its SUBACK);
    ``packet_id``, the subscriber's, is used only when that QoS is above 0,
    and may be a callable (``session.next_id``), called only then; a value
    given for a QoS 0 delivery is ignored. The callable runs before the
    packet is checked, so an error of the checks (an invalid topic, say)
    leaves the id it gave unused. RETAIN is set when
    ``retained_delivery`` (a retained message sent because the subscription
    was just made), or, in MQTT 5.0, copied from ``packet`` when the
    subscription has ``retain_as_published``; otherwise it is cleared. No
    Local is a routing decision and is left to the caller. DUP is always
    cleared [MQTT-3.3.1-3].

    ``topic`` replaces the packet's topic (an empty one with ``topic_alias``);
    ``topic_alias`` and ``subscription_identifiers`` are the subscriber's
    connection's own and never copied from the incoming packet
    [MQTT-3.3.2-10, MQTT-3.3.4-6]; ``message_expiry_interval`` lets a broker
    send the remaining lifetime. Every other MQTT 5 property is forwarded
    unchanged, as the server must [MQTT-3.3.2-4]. The same checks as
    ``encode()`` apply: a missing packet id for QoS 1 or 2 raises
    ``ProtocolError``.
    """
    if type(packet) is not Publish:
        raise TypeError(f"encode_forward() needs a Publish, not {type(packet).__name__}")
    return forward_publish(
        <Publish>packet,
        _resolve_version(packet, version),
        granted_qos,
        packet_id,
        retain_as_published,
        retained_delivery,
        topic,
        topic_alias,
        subscription_identifiers,
        message_expiry_interval,
    )


cdef tuple forward_publish(
    Publish incoming,
    int level,
    object granted_qos,
    object packet_id,
    bint retain_as_published,
    bint retained_delivery,
    object topic,
    object topic_alias,
    object subscription_identifiers,
    object message_expiry_interval,
):
    # encode_forward() once the packet's type and the level are known: the session
    # layer calls it here, as a C function, once per delivery (cimported via _codec_c.pxd).
    cdef Publish outgoing
    cdef PublishPlan plan
    cdef bytes header
    cdef bint retain
    qos = _delivery_qos(incoming.qos, granted_qos)
    incoming._load()
    if level != MQTT_5:
        # No properties at this level: the header is planned from ``incoming`` itself, with the
        # delivery's own flags, topic and packet id, and no copy of the packet is made.
        if subscription_identifiers:
            list(subscription_identifiers)  # what the copy made of them: the same error for a non-list
        return _forward_without_properties(
            incoming,
            qos,
            retained_delivery,
            incoming.topic if topic is None else topic,
            topic_alias,
            (packet_id() if callable(packet_id) else packet_id) if qos else None,
            level,
        )
    outgoing = Publish.__new__(Publish)
    outgoing.topic = incoming.topic if topic is None else topic
    payload = incoming._get_payload()
    outgoing._payload = payload
    outgoing.qos = qos
    retain = retained_delivery or (retain_as_published and level == MQTT_5 and PyObject_IsTrue(incoming.retain))
    outgoing.retain = retain
    outgoing.dup = False
    if qos:
        outgoing.packet_id = packet_id() if callable(packet_id) else packet_id
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


cdef tuple _forward_without_properties(
    Publish incoming, object qos, bint retain, object topic, object topic_alias, object packet_id, int level
):
    cdef PublishPlan plan
    cdef bytes header
    try:
        _plan_head(&plan, qos, False, topic, packet_id)
        plan.properties_size = -1
        if not plan.topic_size:
            _check_topic_present(topic, topic_alias, level, None)
        if retain:
            plan.first |= 0x01
        _plan_payload(&plan, incoming)
        header = PyBytes_FromStringAndSize(NULL, _total_size(plan.body_size) - plan.payload.len)
        _write_publish(&plan, incoming, <unsigned char*>PyBytes_AS_STRING(header), False)  # (no properties to write)
    finally:
        _release_plan(&plan)
    return header, incoming._get_payload()


cdef object _delivery_qos(object published, object granted):
    """The QoS of a delivery: the lower of the message's and the subscription's."""
    if type(granted) is not int:
        raise TypeError(f"granted_qos must be an int, not {type(granted).__name__}")
    if not 0 <= granted <= 2:
        raise ValueError(f"granted_qos must be 0, 1 or 2, not {granted}")
    if type(published) is int and granted < published <= 2:
        return granted
    return published  # a QoS that is not 0, 1 or 2 is the encoder's to refuse
