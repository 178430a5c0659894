"""mqttfast.client: an asyncio MQTT client on the sans-I/O session layer, shaped like aiomqtt 2.x.

::

    from mqttfast.client import Client

    async with Client("localhost") as client:
        await client.subscribe("sensors/#", qos=1)
        await client.publish("sensors/temp", "21.5", qos=1)   # returns once acknowledged
        async for message in client.messages:
            print(message.topic, message.payload)

``SyncClient`` is the same client for code that is not async (a thread
runs the event loop). ``python -m mqttfast.client pub|sub`` is a command
line in the manner of mosquitto_pub / mosquitto_sub. See docs/client.md.
"""

from ._client import Client, MessagesIterator
from ._errors import ConnectError, DisconnectedError, MqttCodeError, MqttError, PublishError
from ._message import Message, ProtocolVersion, Topic, Will
from ._sync import SyncClient

__all__ = [
    "Client",
    "ConnectError",
    "DisconnectedError",
    "Message",
    "MessagesIterator",
    "MqttCodeError",
    "MqttError",
    "ProtocolVersion",
    "PublishError",
    "SyncClient",
    "Topic",
    "Will",
]
