"""``python -m mqttfast.client pub|sub``: mosquitto_pub and mosquitto_sub's common flags, on ``Client``.

::

    python -m mqttfast.client sub -h localhost -t 'sensors/#' -v -C 10
    python -m mqttfast.client pub -h localhost -t sensors/temp -m 21.5 -q 1 -r
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
from typing import Any

from ._client import Client
from ._errors import MqttError
from ._message import ProtocolVersion

VERSIONS = {"mqttv5": 5, "5": 5, "mqttv311": 4, "311": 4, "mqttv31": 3, "31": 3}


def _parser() -> argparse.ArgumentParser:
    # add_help=False: -h is the host, as in mosquitto_pub/sub; --help prints the usage.
    parser = argparse.ArgumentParser(prog="python -m mqttfast.client", add_help=False)
    parser.add_argument("--help", action="help", help="show this help and exit")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, summary in (("pub", "publish one message"), ("sub", "print received messages")):
        command = commands.add_parser(name, add_help=False, help=summary)
        command.add_argument("--help", action="help", help="show this help and exit")
        command.add_argument("-h", "--host", default="localhost", help="broker host (default localhost)")
        command.add_argument("-p", "--port", type=int, default=None, help="broker port (default 1883, 8883 with TLS)")
        command.add_argument("-q", "--qos", type=int, choices=(0, 1, 2), default=0, help="quality of service")
        command.add_argument(
            "-V", "--protocol-version", choices=sorted(VERSIONS), default="mqttv5", help="MQTT version (default mqttv5)"
        )
        command.add_argument("-i", "--id", default=None, help="client identifier (default: a random one)")
        command.add_argument("-u", "--username", default=None)
        command.add_argument("-P", "--pw", default=None, help="password")
        command.add_argument("-k", "--keepalive", type=int, default=60, help="keep alive in seconds (default 60)")
        command.add_argument("--cafile", default=None, help="connect with TLS, trusting this CA certificate")
        command.add_argument("--insecure", action="store_true", help="with TLS, do not check the host name")
        if name == "pub":
            command.add_argument("-t", "--topic", required=True, help="topic to publish to")
            payload = command.add_mutually_exclusive_group(required=True)
            payload.add_argument("-m", "--message", help="the payload")
            payload.add_argument("-n", "--null-message", action="store_true", help="an empty payload")
            payload.add_argument("-l", "--stdin-line", action="store_true", help="one message per line of stdin")
            payload.add_argument("-s", "--stdin-file", action="store_true", help="the whole of stdin as one message")
            command.add_argument("-r", "--retain", action="store_true", help="retain the message")
        else:
            command.add_argument("-t", "--topic", action="append", required=True, help="topic filter (repeatable)")
            command.add_argument("-v", "--verbose", action="store_true", help="print the topic before the payload")
            command.add_argument("-C", "--count", type=int, default=0, help="exit after this many messages")
            command.add_argument("-N", "--no-newline", action="store_true", help="no newline after each payload")
    return parser


def _client(args: argparse.Namespace) -> Client:
    tls = None
    if args.cafile:
        tls = ssl.create_default_context(cafile=args.cafile)
        if args.insecure:
            tls.check_hostname = False
    return Client(
        args.host,
        args.port or (8883 if tls else 1883),
        identifier=args.id,
        username=args.username,
        password=args.pw,
        protocol=ProtocolVersion(VERSIONS[args.protocol_version]),
        keepalive=args.keepalive,
        tls_context=tls,
    )


async def _pub(args: argparse.Namespace) -> None:
    async with _client(args) as client:
        if args.stdin_line:
            for line in sys.stdin.buffer:
                await client.publish(args.topic, line.rstrip(b"\r\n"), args.qos, args.retain)
            return
        payload: Any = b"" if args.null_message else args.message
        if args.stdin_file:
            payload = sys.stdin.buffer.read()
        await client.publish(args.topic, payload, args.qos, args.retain)


async def _sub(args: argparse.Namespace) -> None:
    out = sys.stdout.buffer
    end = b"" if args.no_newline else b"\n"
    async with _client(args) as client:
        await client.subscribe([(topic, args.qos) for topic in args.topic])
        received = 0
        async for message in client.messages:
            if args.verbose:
                out.write(message.topic.encode() + b" ")
            out.write(message.payload + end)
            out.flush()
            received += 1
            if args.count and received >= args.count:
                return


def main(argv: list[str] | None = None) -> int:
    """Run the command line; the exit status (0, or 1 with the error on stderr)."""
    args = _parser().parse_args(argv)
    try:
        asyncio.run(_pub(args) if args.command == "pub" else _sub(args))
    except KeyboardInterrupt:
        return 0
    except (MqttError, OSError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
