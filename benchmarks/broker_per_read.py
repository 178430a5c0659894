"""The broker's own work per message when each read holds one message, in process: no socket, no loop.

A publisher and a subscriber on a ``BrokerServer`` whose transports only
collect what is written; each PUBLISH is one ``data_received`` (and, at QoS
1, the subscriber's PUBACK another), as at a low rate. Meant for instruction
counts: run it under ``valgrind --tool=callgrind`` with N messages and with
0, and divide the difference by N; ``--null`` measures the loop alone (the same loop calling
a builtin that does nothing), to subtract too::

    valgrind --tool=callgrind --callgrind-out-file=cg.%p python benchmarks/broker_per_read.py --qos 1 2000

``--fan-out S --per-read K`` (QoS 0) gives it a saturated flow's shape instead: K messages a read,
each to S subscribers (then divide by reads, not messages).
"""

from __future__ import annotations

import argparse
import collections
import logging
from typing import Any

import mqttfast.fallback as m
from mqttfast.broker import Broker
from mqttfast.broker import _server
from mqttfast.broker._server import BrokerServer, _Protocol

VERSION = 4


class _Transport:
    """Keeps what is written; never closes. Its methods are builtins (no Python frame), so the count
    is the broker's own work, not the transport's."""

    def __init__(self) -> None:
        self.out: list[Any] = []
        self.write = self.out.append
        self.writelines = self.out.extend
        self.is_closing = bool  # bool() is False


    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 1) if name in ("peername", "sockname") else None


class _Loop:
    """What ``_Protocol`` asks of a loop here: callbacks run at once, no timers."""

    def call_soon(self, callback: Any, *args: Any) -> None:
        callback(*args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("messages", type=int)
    parser.add_argument("--qos", type=int, default=0, choices=[0, 1])
    parser.add_argument("--null", action="store_true", help="run the loop without the broker")
    parser.add_argument(
        "--loop",
        choices=["asyncio", "uvloop"],
        default="asyncio",
        help="the flush rule of asyncio's own loops (a read alone in its pass) or of uvloop (an idle loop)",
    )
    parser.add_argument("--fan-out", type=int, default=1, help="subscribers (QoS 0 only): a saturated flow's shape")
    parser.add_argument("--per-read", type=int, default=1, help="messages a read holds (QoS 0 only)")
    args = parser.parse_args()
    if args.qos and (args.fan_out != 1 or args.per_read != 1):
        parser.error("--fan-out and --per-read are for QoS 0")
    logging.disable(logging.CRITICAL)
    server = BrokerServer(Broker())
    # asyncio's own loop: an empty queue, a read alone in its pass flushes at once; uvloop: no queue,
    # a read flushes at once when the loop was idle for IDLE_FLUSH. At a fixed low rate it always was;
    # at valgrind's pace the reads here would look busy (closer than IDLE_FLUSH): hence 0.
    ready = collections.deque() if args.loop == "asyncio" else None
    _server.IDLE_FLUSH = 0.0
    if hasattr(server, "bind_loop"):
        server.bind_loop(_Loop(), ready)
    else:  # the server before the compiled twin (to measure "before" with this same script)
        server.loop, server._ready = _Loop(), ready

    def connect(client_id: str) -> tuple[_Protocol, _Transport]:
        protocol, transport = _Protocol(server), _Transport()
        protocol.connection_made(transport)
        protocol.data_received(m.encode(m.Connect(client_id=client_id, keep_alive=600, clean_start=True), VERSION))
        return protocol, transport

    subscription = m.Subscription(topic_filter="lat/t", qos=args.qos)
    subscribers = [connect(f"sub{j}" if j else "sub") for j in range(args.fan_out)]
    for subscriber, _ in subscribers:
        subscriber.data_received(m.encode(m.Subscribe(packet_id=1, subscriptions=[subscription]), VERSION))
    subscriber, sub_out = subscribers[0]
    outs = [out for _, out in subscribers]
    publisher, pub_out = connect("pub")
    template = m.encode(m.Publish(topic="lat/t", payload=bytes(64), qos=args.qos, packet_id=1 if args.qos else None), VERSION)
    at = len(template) - 64 - 2  # the packet id, before the payload
    ids = [(i % 65535 + 1).to_bytes(2, "big") for i in range(args.messages)]
    publishes = [template[:at] + ids[i] + template[at + 2 :] if args.qos else template * args.per_read for i in range(args.messages)]
    acks = [b"\x40\x02" + ids[i] for i in range(args.messages)]
    publish, ack = publisher.data_received, subscriber.data_received
    if args.null:
        publish = ack = len
    for i in range(args.messages):
        publish(publishes[i])
        if args.qos:
            ack(acks[i])
        for out in outs:
            out.out.clear()
        pub_out.out.clear()


if __name__ == "__main__":
    main()
