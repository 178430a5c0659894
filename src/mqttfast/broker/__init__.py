"""mqttfast.broker: an embeddable asyncio MQTT broker on mqttfast's session layer.

Run it with ``python -m mqttfast.broker``; embed it with::

    import asyncio
    from mqttfast.broker import Broker, BrokerServer

    class MyBroker(Broker):
        def authorize_publish(self, client, message):
            return not message.topic.startswith("secret/")

    async def main():
        server = BrokerServer(MyBroker(), "127.0.0.1", 1883)
        await server.start()
        await server.serve_forever()

    asyncio.run(main())

``Broker`` is the sans-I/O core (sessions, routing, retained messages,
wills, hooks); ``BrokerServer`` runs it on asyncio sockets;
``Broker(store=SQLiteStore(path))`` keeps sessions and retained messages
across restarts.
"""

from ._core import Broker, Client
from ._retained import RetainedStore
from ._server import BrokerServer
from ._store import SQLiteStore

__all__ = ["Broker", "BrokerServer", "Client", "RetainedStore", "SQLiteStore"]
