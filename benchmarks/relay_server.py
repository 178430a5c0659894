"""The floor of the fixed-rate run: an asyncio server that relays PUBLISH bytes and does nothing else.

``python benchmarks/relay_server.py PORT [--event-loop=uvloop]``; runs until terminated. It is no
broker: it answers a CONNECT with a CONNACK and a SUBSCRIBE with a SUBACK
(granting the QoS asked), then forwards every read of a connection that did
not subscribe, unparsed, to every connection that did, answers a QoS 1
PUBLISH with its PUBACK (so that it makes a broker's writes: one to the
subscriber, one to the publisher), and drops what subscribers send (their
PUBACKs). That is all ``loadgen.latency`` needs:
one publisher, one subscriber, one whole packet per read at 1,000
messages/s. Its CPU per message is what asyncio and the kernel cost per
wakeup on this machine, with no broker at all (``broker_compare.py
--brokers relay,mqttfast,mosquitto --skip-flows --skip-connections``).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

CONNACK = b"\x20\x02\x00\x00"


def _puback(publish: bytes) -> bytes:
    # The PUBACK of one whole QoS 1 PUBLISH: its packet id follows the remaining length and the topic.
    at = 1
    while publish[at] & 0x80:
        at += 1
    at += 1
    at += 2 + int.from_bytes(publish[at : at + 2], "big")
    return b"\x40\x02" + publish[at : at + 2]


class _Relay(asyncio.Protocol):
    subscribers: set[_Relay] = set()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        kind = data[0] & 0xF0
        if self in self.subscribers:
            return  # PUBACKs, PINGREQs: nothing to relay
        if kind == 0x30:
            for subscriber in self.subscribers:
                subscriber.transport.write(data)
            if data[0] & 0x06 == 0x02:
                self.transport.write(_puback(data))
        elif kind == 0x10:
            self.transport.write(CONNACK)
        elif kind == 0x80:
            # Packet id, then one filter (length-prefixed), then its options byte: the granted QoS.
            self.subscribers.add(self)
            self.transport.write(b"\x90\x03" + data[2:4] + data[-1:])
        elif kind == 0xE0:
            self.transport.close()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.subscribers.discard(self)


async def serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(_Relay, "127.0.0.1", port, reuse_address=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    # The same choice of loop as the broker's, so that the floor is measured on the loop it is compared with.
    if "--event-loop=uvloop" in sys.argv[2:]:
        import uvloop

        uvloop.run(serve(int(sys.argv[1])))
    else:
        asyncio.run(serve(int(sys.argv[1])))
