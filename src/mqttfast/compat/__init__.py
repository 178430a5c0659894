"""Speed up the MQTT libraries people already run, without changing their code.

``mqttfast.compat.paho`` and ``mqttfast.compat.amqtt`` each offer ``install()``
and ``uninstall()``: install swaps a few internal functions of the third-party
library for ones built on mqttfast's codec and ``TopicMatcher``; uninstall puts
the originals back. Neither library is imported until ``install()`` is called,
so ``import mqttfast`` still needs no third-party package.

On a library version the patch was not written for, ``install()`` emits a
:class:`CompatibilityWarning` and changes nothing.
"""

from ._patching import CompatibilityWarning

__all__ = ["CompatibilityWarning"]
