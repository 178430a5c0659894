"""An amqtt broker on 127.0.0.1:PORT for the benchmarks, patched by mqttfast.compat.amqtt with --patched.

``python benchmarks/amqtt_server.py PORT [--patched] [--profile FILE]``; runs until
terminated (SIGTERM or SIGINT). With ``--profile``, cProfile runs from "ready" on
and its stats are written to FILE when the broker is stopped.
"""

import asyncio
import cProfile
import signal
import sys


async def serve(port: int, profile_to: str = "") -> None:
    from amqtt.broker import Broker

    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}", "max_connections": 0}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }
    broker = Broker(config)
    await broker.start()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    profiler = cProfile.Profile() if profile_to else None
    print("ready", flush=True)
    if profiler:
        profiler.enable()
    await stop.wait()
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile_to)
    await broker.shutdown()


if __name__ == "__main__":
    if "--patched" in sys.argv:
        from mqttfast.compat import amqtt

        assert amqtt.install()
    profile_to = sys.argv[sys.argv.index("--profile") + 1] if "--profile" in sys.argv else ""
    asyncio.run(serve(int(sys.argv[1]), profile_to))
