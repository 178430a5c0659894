"""The client's exceptions: every one is an ``mqttfast.MQTTError`` and carries an MQTT 5 reason code.

Names follow aiomqtt (``MqttError``, ``MqttCodeError`` with ``rc``) so that
``except aiomqtt.MqttError`` becomes ``except mqttfast.client.MqttError``.
"""

from __future__ import annotations

from .._errors import MQTTError

__all__ = [
    "ConnectError",
    "DisconnectedError",
    "MqttCodeError",
    "MqttError",
    "PublishError",
]


class MqttError(MQTTError):
    """Base class of the client's errors; ``reason_code`` says why (0x80 when nothing better is known)."""

    def __init__(self, message: str, reason_code: int | None = None) -> None:
        super().__init__(message)
        if reason_code is not None:
            self.reason_code = reason_code

    @property
    def rc(self) -> int:
        """The reason code, under aiomqtt's name."""
        return self.reason_code


class MqttCodeError(MqttError):
    """An error the broker (or the protocol) gave a reason code for."""

    def __init__(self, message: str, reason_code: int, reason_string: str | None = None) -> None:
        text = f"{message} (reason code 0x{reason_code:02X}"
        text += f": {reason_string})" if reason_string else ")"
        super().__init__(text, reason_code)
        #: The Reason String the broker sent with the code (MQTT 5), if any.
        self.reason_string = reason_string


class ConnectError(MqttCodeError):
    """The broker refused the CONNECT (CONNACK code), or did not answer in time (0x88)."""


class DisconnectedError(MqttCodeError):
    """The connection ended: the broker's DISCONNECT code, 0x80 for a lost socket, or the violation we found.

    ``by_peer`` is True when the broker (or the network) ended it.
    """

    def __init__(
        self, message: str, reason_code: int, reason_string: str | None = None, *, by_peer: bool = True
    ) -> None:
        super().__init__(message, reason_code, reason_string)
        self.by_peer = by_peer


class PublishError(MqttCodeError):
    """The broker refused a QoS 1 or 2 PUBLISH (PUBACK or PUBREC code >= 0x80)."""
