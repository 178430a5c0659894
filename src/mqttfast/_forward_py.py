"""Forwarding a received PUBLISH, pure-Python twin of ``_forward_c.pxi``.

A server delivering an application message to one subscription decides three
fields from the subscription rather than from the incoming packet:

- QoS: the minimum of the published QoS and the QoS granted to the
  subscription [MQTT-3.8.4-6 in 3.1.1, MQTT-3.8.4-8 in 5.0];
- packet identifier: one of the subscriber's session, only when that QoS is
  above 0 [MQTT-2.2.1-2];
- RETAIN: 1 when the message is a retained one sent because the subscription
  was just made [MQTT-3.3.1-8 in 3.1.1; §3.3.1.3 in 5.0]; otherwise 0
  [MQTT-3.3.1-9 in 3.1.1], except that a 5.0 subscription with Retain As
  Published keeps the published flag [MQTT-3.3.1-12, MQTT-3.3.1-13].

The compiled twin applies the same rules inline, as the call is made once per
subscriber of every message.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Union

from ._constants import MQTT_5
from ._typing import Publish
from ._writers_py import (
    _resolve_version,
    _write,
)

_KEEP: Any = object()


def encode_forward(
    packet: Any,
    version: Optional[int] = None,
    *,
    granted_qos: int,
    packet_id: Union[int, Callable[[], int], None] = None,
    retain_as_published: bool = False,
    retained_delivery: bool = False,
    topic: Optional[str] = None,
    topic_alias: Optional[int] = None,
    subscription_identifiers: Optional[list[int]] = None,
    message_expiry_interval: Optional[int] = _KEEP,
) -> tuple[bytes, Any]:
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
    incoming: Any = packet
    level = _resolve_version(packet, version)
    qos = _delivery_qos(incoming.qos, granted_qos)
    outgoing: Any = Publish(
        topic=incoming.topic if topic is None else topic,
        payload=incoming.payload,
        qos=qos,
        retain=bool(
            retained_delivery
            or (retain_as_published and level == MQTT_5 and incoming.retain)
        ),
        packet_id=(packet_id() if callable(packet_id) else packet_id) if qos else None,
        payload_format_indicator=incoming.payload_format_indicator,
        message_expiry_interval=(
            incoming.message_expiry_interval if message_expiry_interval is _KEEP else message_expiry_interval
        ),
        content_type=incoming.content_type,
        response_topic=incoming.response_topic,
        correlation_data=incoming.correlation_data,
        subscription_identifiers=list(subscription_identifiers or ()),
        topic_alias=topic_alias,
        user_properties=incoming.user_properties,
    )
    outgoing._wire_order = incoming._wire_order
    header, body, _ = _write(outgoing, level)
    return bytes(header + body), incoming.payload


def _delivery_qos(published: object, granted: object) -> object:
    """The QoS of a delivery: the lower of the message's and the subscription's."""
    if type(granted) is not int:
        raise TypeError(f"granted_qos must be an int, not {type(granted).__name__}")
    if not 0 <= granted <= 2:
        raise ValueError(f"granted_qos must be 0, 1 or 2, not {granted}")
    if type(published) is int and granted < published <= 2:
        return granted
    return published  # a QoS that is not 0, 1 or 2 is the encoder's to refuse
