"""``python -m mqttfast.broker``: run the broker."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from ._core import Broker
from ._server import BrokerServer


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mqttfast.broker",
        description="An MQTT 3.1, 3.1.1 and 5.0 broker.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=1883, help="TCP port (default 1883)"
    )
    parser.add_argument(
        "--receive-maximum",
        type=int,
        default=0xFFFF,
        help="QoS 1/2 messages a client may have in flight to us",
    )
    parser.add_argument(
        "--topic-alias-maximum",
        type=int,
        default=10,
        help="topic aliases a client may use toward us",
    )
    parser.add_argument(
        "--maximum-packet-size",
        type=int,
        default=None,
        help="largest packet accepted, in bytes",
    )
    parser.add_argument(
        "--server-keep-alive",
        type=int,
        default=None,
        help="largest keep alive for MQTT 5 clients: one asking for more, or 0, is told this (seconds)",
    )
    parser.add_argument(
        "--max-queued",
        type=int,
        default=1000,
        help="QoS 1/2 messages queued per session",
    )
    parser.add_argument(
        "--no-anonymous", action="store_true", help="refuse clients without a user name"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log every connection (default: on)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="log errors only")
    return parser


def build(args: argparse.Namespace) -> BrokerServer:
    broker = Broker(
        allow_anonymous=not args.no_anonymous,
        max_queued=args.max_queued,
        receive_maximum=args.receive_maximum,
        topic_alias_maximum=args.topic_alias_maximum,
        max_packet_size=args.maximum_packet_size,
        server_keep_alive=args.server_keep_alive,
    )
    return BrokerServer(broker, args.host, args.port)


async def serve(server: BrokerServer) -> None:
    await server.start()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, lambda: asyncio.ensure_future(server.close()))
    logging.getLogger("mqttfast.broker").info("mqttfast broker running.")
    await server.serve_forever()
    logging.getLogger("mqttfast.broker").info("mqttfast broker terminating.")


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.ERROR if args.quiet else logging.INFO,
        format="%(created)d: %(message)s",
        stream=sys.stderr,
    )
    asyncio.run(serve(build(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
