"""An amqtt broker on 127.0.0.1:PORT for the benchmarks, patched by mqttfast.compat.amqtt with --patched.

``python benchmarks/amqtt_server.py PORT [--patched]``; runs until terminated.
"""

import asyncio
import sys


async def serve(port: int) -> None:
    from amqtt.broker import Broker

    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}", "max_connections": 0}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }
    broker = Broker(config)
    await broker.start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    if "--patched" in sys.argv:
        from mqttfast.compat import amqtt

        assert amqtt.install()
    asyncio.run(serve(int(sys.argv[1])))
