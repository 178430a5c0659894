"""``$SYS/broker/...``: the broker's counters, published as retained messages at an interval.

The topics follow mosquitto's names where it has them, so dashboards built
for it read ours. Each round publishes only the values that changed since
the last one (all of them the first time), QoS 0, retained, through
``Broker.route`` like any message; clients cannot publish under ``$SYS``
(``Broker`` refuses it). Subscribers see them only through filters that
start with ``$SYS`` [MQTT-4.7.2-1].
"""

from __future__ import annotations

from typing import Any

import mqttfast

__all__ = ["SysTopics"]

# The connection encodes only its own twin's packets: while ServerConnection is the pure-Python
# twin, a message it forwards must be that twin's Publish, which ``mqttfast.Publish`` (compiled)
# is not. Take the class the connection uses, whichever it is.
_Publish: Any = getattr(
    getattr(mqttfast.ServerConnection, "_packets", None), "Publish", mqttfast.Publish
)


class SysTopics:
    """Publishes ``broker``'s counters under ``$SYS/broker/``; call ``publish(now)`` every interval."""

    def __init__(self, broker: Any, started: float) -> None:
        self.broker = broker
        self.started = started
        self._last: dict[str, str] = {}

    def values(self, now: float) -> dict[str, str]:
        """Every topic with its current value, as text."""
        broker = self.broker
        stats = broker.stats
        subscriptions = sum(len(records) for records in broker._subscriptions.values())
        return {
            "$SYS/broker/version": f"mqttfast version {mqttfast.__version__}",
            "$SYS/broker/uptime": f"{int(now - self.started)} seconds",
            "$SYS/broker/clients/connected": str(len(broker.clients)),
            # mosquitto's "total": connected clients and the sessions kept for absent ones.
            "$SYS/broker/clients/total": str(len(broker.sessions)),
            "$SYS/broker/messages/received": str(stats["messages_received"]),
            "$SYS/broker/messages/sent": str(stats["messages_sent"]),
            "$SYS/broker/messages/dropped": str(stats["messages_dropped"]),
            "$SYS/broker/subscriptions/count": str(subscriptions),
            "$SYS/broker/retained messages/count": str(len(broker.retained)),
        }

    def publish(self, now: float) -> int:
        """Publish the values that changed; the number of topics published."""
        published = 0
        for topic, value in self.values(now).items():
            if self._last.get(topic) == value:
                continue
            self._last[topic] = value
            message = _Publish(topic=topic, payload=value.encode(), qos=0, retain=True)
            self.broker.route(message, None, now)
            published += 1
        return published
