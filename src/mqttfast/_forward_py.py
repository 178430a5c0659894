"""Forwarding a received PUBLISH, pure-Python twin of ``_forward_c.pxi``."""

from __future__ import annotations

from ._packets_py import (
    Publish,
)
from ._writers_py import (
    _write,
)

_KEEP = object()


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
    if type(packet) is not Publish:
        raise TypeError(f"encode_forward() needs a Publish, not {type(packet).__name__}")
    outgoing = Publish(
        topic=packet.topic if topic is None else topic,
        payload=packet.payload,
        qos=packet.qos if qos is None else qos,
        retain=packet.retain if retain is None else retain,
        packet_id=packet_id,
        payload_format_indicator=packet.payload_format_indicator,
        message_expiry_interval=(
            packet.message_expiry_interval if message_expiry_interval is _KEEP else message_expiry_interval
        ),
        content_type=packet.content_type,
        response_topic=packet.response_topic,
        correlation_data=packet.correlation_data,
        subscription_identifiers=list(subscription_identifiers or ()),
        topic_alias=topic_alias,
        user_properties=packet.user_properties,
    )
    outgoing._wire_order = packet._wire_order
    header, body, payload = _write(outgoing, version)
    return bytes(header + body), packet.payload
