"""The floor of the client benchmark's QoS 1 publish scenario: its futures and ``gather`` alone, no MQTT.

``python benchmarks/client_futures_floor.py N`` makes N futures as the client
does (``asyncio.Future()`` on the running loop), gathers them as the
benchmark does, and resolves 20 per loop pass (mosquitto's Receive Maximum
lets about that many acknowledgements arrive per read). Run it under
``valgrind --tool=callgrind`` at two counts: the difference of the
instruction totals divided by the difference of the counts is what any
client returning asyncio futures pays per publish in that scenario.
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque


async def main(count: int) -> None:
    loop = asyncio.get_running_loop()
    pending: deque[asyncio.Future[int]] = deque()

    def publish() -> asyncio.Future[int]:
        future: asyncio.Future[int] = asyncio.Future()
        pending.append(future)
        return future

    def acknowledge() -> None:
        for _ in range(min(20, len(pending))):
            pending.popleft().set_result(0)
        if pending:
            loop.call_soon(acknowledge)

    loop.call_soon(acknowledge)
    await asyncio.gather(*(publish() for _ in range(count)))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
