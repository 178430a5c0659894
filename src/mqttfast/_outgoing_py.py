"""``Outgoing``, one outbound message of a session: the pure-Python twin of ``_outgoing_c``.

``_session`` hands out one of the twins as ``Outgoing``: the compiled one
whenever the compiled modules are in use, since the compiled connection core
reads and writes its fields as C struct members on every message.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Outgoing"]


class Outgoing:
    """One outbound application message of a session, with the delivery options it goes out with.

    ``message`` is the ``Publish`` (for a server session, the message as
    received from its publisher); ``qos`` and ``retain`` are those sent;
    ``subscription_identifiers`` those of the matching subscriptions (server
    side); ``expires_at`` the absolute time after which a copy not yet sent
    is dropped [MQTT-3.3.2-5], or None. ``sent`` is true once it went out at
    least once (a resend then carries DUP [MQTT-3.3.1-1]).
    """

    __slots__ = (
        "expires_at",
        "message",
        "qos",
        "retain",
        "sent",
        "subscription_identifiers",
    )

    def __init__(
        self,
        message: Any,
        qos: int,
        retain: bool,
        subscription_identifiers: list[int] | None = None,
        expires_at: float | None = None,
    ) -> None:
        self.message = message
        self.qos = qos
        self.retain = retain
        self.subscription_identifiers = subscription_identifiers
        self.expires_at = expires_at
        self.sent = False

    def __repr__(self) -> str:
        return (
            f"Outgoing(topic={self.message.topic!r}, qos={self.qos}, retain={self.retain}, "
            f"sent={self.sent}, expires_at={self.expires_at!r})"
        )
