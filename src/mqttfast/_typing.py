"""Types of the pure-Python codec, and the packet classes as mypy should see them.

The packet classes are those of ``_packets_py`` at run time. For mypy they are
those of the public stubs (``_types.pyi``), which declare every field:
``_packets_py`` builds its classes from the ``_fields`` table, which mypy
cannot read. The codec modules import the classes from here, so that this
switch is made once (and goes once ``_packets_py`` declares its fields).

The type aliases exist for mypy only (under ``TYPE_CHECKING``): they cost
nothing at run time and need no ``typing_extensions`` installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Optional, Union

    # collections.abc.Buffer from Python 3.12 on; mypy knows this one at every version.
    from typing_extensions import Buffer as Buffer
    from typing_extensions import TypeAlias

    from ._types import (
        Auth as Auth,
        Connack as Connack,
        Connect as Connect,
        Disconnect as Disconnect,
        Pingreq as Pingreq,
        Pingresp as Pingresp,
        Puback as Puback,
        Pubcomp as Pubcomp,
        Publish as Publish,
        Pubrec as Pubrec,
        Pubrel as Pubrel,
        Suback as Suback,
        Subscribe as Subscribe,
        Subscription as Subscription,
        Unsuback as Unsuback,
        Unsubscribe as Unsubscribe,
        Will as Will,
    )
    from ._types import Binary as Binary
    from ._types import Packet as Packet

    #: PUBACK, PUBREC, PUBREL and PUBCOMP: one layout, one reader and one writer.
    Ack: TypeAlias = Union[Puback, Pubrec, Pubrel, Pubcomp]

    #: The packets whose MQTT 5 form may end in a reason code and properties, both optional.
    ReasonCoded: TypeAlias = Union[Ack, Disconnect, Auth]

    #: Everything that carries a property block: the packets that have one, and the will of a CONNECT.
    WithProperties: TypeAlias = Union[
        Will, Connect, Connack, Publish, Ack, Subscribe, Suback, Unsubscribe, Unsuback, Disconnect, Auth
    ]

    #: One property's value as read from or written to the wire (user properties aside).
    PropertyValue: TypeAlias = Union[int, str, Binary]

    #: A writer's result: the fixed header's first byte, the body, and the payload to send after it.
    Written: TypeAlias = tuple[int, bytearray, Optional[Binary]]
else:
    from ._packets_py import (
        Auth,
        Connack,
        Connect,
        Disconnect,
        Pingreq,
        Pingresp,
        Puback,
        Pubcomp,
        Publish,
        Pubrec,
        Pubrel,
        Suback,
        Subscribe,
        Subscription,
        Unsuback,
        Unsubscribe,
        Will,
    )
