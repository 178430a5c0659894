"""``python -m mqttfast.broker``: run the broker.

Every long option can also come from ``--config FILE``, a TOML file whose keys
are the option names without the dashes in front (``receive-maximum = 2`` or
``receive_maximum = 2``); what the command line says wins over the file.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import ssl
import sys
import tomllib
from collections.abc import Callable
from typing import Any

from ._auth import AccessList, FileAuth, PasswordFile
from ._core import Broker
from ._server import BrokerServer
from ._sys import SysTopics
from ._store import SQLiteStore


#: allocations between two young-generation collections (CPython's default is 700).
GC_THRESHOLD = 20_000


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
        "--persistence",
        metavar="PATH",
        default=None,
        help="keep sessions and retained messages in this SQLite database",
    )
    parser.add_argument(
        "--no-anonymous", action="store_true", help="refuse clients without a user name"
    )
    parser.add_argument(
        "--password-file",
        metavar="FILE",
        help="mosquitto password file (user:$7$... lines, as mosquitto_passwd writes)",
    )
    parser.add_argument(
        "--acl-file", metavar="FILE", help="mosquitto ACL file (topic/user/pattern lines)"
    )
    parser.add_argument(
        "--tls-port", type=int, metavar="P", help="TLS port (needs --certfile and --keyfile)"
    )
    parser.add_argument("--certfile", metavar="F", help="PEM certificate chain for TLS")
    parser.add_argument("--keyfile", metavar="F", help="PEM private key for TLS")
    parser.add_argument(
        "--ws-port",
        type=int,
        metavar="P",
        help="MQTT over WebSocket port (needs mqttfast[broker-ws])",
    )
    parser.add_argument(
        "--sys-interval",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds between $SYS/broker/... updates, run by the 0.5 s tick (default 10, 0 = none)",
    )
    parser.add_argument(
        "--config", metavar="FILE", help="TOML file with any of these options as keys"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log every connection (default: on)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="log errors only")
    parser.add_argument(
        "--event-loop",
        choices=("asyncio", "uvloop", "auto"),
        default="auto",
        help="auto (the default): uvloop when installed (mqttfast[broker-uvloop]), else asyncio's;"
        " uvloop costs less per message at low rates (docs/broker.md, Performance)",
    )
    return parser


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop to run on: uvloop's, or None for asyncio's.

    ``auto`` (the default) takes uvloop when it is installed: it costs less
    per message at low rates, where asyncio's loop alone costs more than
    mosquitto's whole wakeup, and keeps the saturated flows above their
    targets (docs/broker.md, Performance).
    """
    if choice == "asyncio":
        return None
    try:
        import uvloop  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        if choice == "uvloop":
            raise RuntimeError("--event-loop uvloop: pip install mqttfast[broker-uvloop]") from None
        return None
    return uvloop.new_event_loop  # type: ignore[no-any-return, unused-ignore]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The options: the defaults, then the ``--config`` file's keys, then the command line."""
    parser = make_parser()
    args = parser.parse_args(argv)
    if args.config is not None:
        parser.set_defaults(**read_config(parser, args.config))
        args = parser.parse_args(argv)
    if args.tls_port is not None and not (args.certfile and args.keyfile):
        parser.error("--tls-port needs --certfile and --keyfile")
    return args


def read_config(parser: argparse.ArgumentParser, path: str) -> dict[str, Any]:
    """The keys of the TOML file ``path`` as option destinations; unknown keys are an error."""
    known = {
        action.dest: action
        for action in parser._actions
        if action.option_strings and action.dest not in ("help", "config")
    }
    try:
        with open(path, "rb") as file:
            table = tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        parser.error(f"--config {path}: {exc}")
    values: dict[str, Any] = {}
    for key, value in table.items():
        dest = key.replace("-", "_")
        action = known.get(dest)
        if action is None:
            parser.error(f"--config {path}: unknown key {key!r}")
        if action.type is not None and not isinstance(value, bool):
            try:
                value = action.type(value)  # type: ignore[operator]
            except (TypeError, ValueError):
                parser.error(f"--config {path}: {key} = {value!r} is not valid")
        if action.choices is not None and value not in action.choices:
            parser.error(f"--config {path}: {key} = {value!r} is not one of {', '.join(map(str, action.choices))}")
        values[dest] = value
    return values


def build(args: argparse.Namespace) -> BrokerServer:
    acl = AccessList.load(args.acl_file) if args.acl_file else None
    passwords = PasswordFile.load(args.password_file) if args.password_file else None
    options: dict[str, Any] = {}
    if acl is not None:
        # Refused QoS 1/2 publishes are answered 0x87: acks go out by hand, only when an ACL may refuse.
        options["auto_ack"] = False
    store = SQLiteStore(args.persistence) if args.persistence else None
    broker = Broker(
        store=store,
        allow_anonymous=not args.no_anonymous,
        max_queued=args.max_queued,
        receive_maximum=args.receive_maximum,
        topic_alias_maximum=args.topic_alias_maximum,
        max_packet_size=args.maximum_packet_size,
        server_keep_alive=args.server_keep_alive,
        **options,
    )
    if acl is not None or passwords is not None:
        FileAuth(passwords, acl, allow_anonymous=not args.no_anonymous).install(broker)
    context = None
    if args.tls_port is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.certfile, args.keyfile)
    return BrokerServer(
        broker,
        args.host,
        args.port,
        tls_port=args.tls_port,
        ssl_context=context,
        ws_port=args.ws_port,
    )


async def serve(server: BrokerServer, sys_interval: float = 0.0) -> None:
    await server.start()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, lambda: asyncio.ensure_future(server.close()))
    if sys_interval > 0:
        # Run by the server's tick, not a timer of its own: a scheduled timer costs asyncio's loop
        # a timeout computation on every pass (``BrokerServer.start``).
        sys_topics = SysTopics(server.broker, server.clock())
        due = server.clock()

        def publish_sys(now: float) -> None:
            nonlocal due
            if now >= due:
                due = now + sys_interval
                sys_topics.publish(now)

        publish_sys(due)
        server.broker.flush()
        server.on_tick = publish_sys
    logging.getLogger("mqttfast.broker").info("mqttfast broker running.")
    await server.serve_forever()
    logging.getLogger("mqttfast.broker").info("mqttfast broker terminating.")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # A few lines per connection: the record fields our format never shows (caller frame, thread,
    # process) cost more than the line itself (the logging HOWTO's "Optimization" section).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging.basicConfig(
        level=logging.ERROR if args.quiet else logging.INFO,
        format="%(created)d: %(message)s",
        stream=sys.stderr,
    )
    # websockets logs each listener and handshake at INFO: our own lines say enough.
    logging.getLogger("websockets").setLevel(logging.WARNING)
    try:
        server = build(args)
    except (OSError, ValueError, ssl.SSLError) as exc:
        logging.getLogger("mqttfast.broker").error("Error: %s", exc)
        return 1
    # Each connection allocates a few dozen container objects: at the default thresholds the cyclic
    # collector runs every few connections, and its older generations walk every session. Fewer,
    # larger young collections, with the objects of startup frozen out of them: about 7% less CPU
    # per connection (median of five alternated runs, docs/broker.md, Performance).
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 50, 100)
    try:
        with asyncio.Runner(loop_factory=loop_factory(args.event_loop)) as runner:
            runner.run(serve(server, args.sys_interval))
    except (OSError, RuntimeError) as exc:  # a port taken, the websockets library missing
        logging.getLogger("mqttfast.broker").error("Error: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
