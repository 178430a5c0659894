"""An mqttfast broker on a free 127.0.0.1 port, in a thread with its own event loop.

Everything that goes wrong inside the broker is kept for the test to assert on:
records of the "mqttfast.broker" logger at ERROR or with a traceback, and
whatever the event loop's exception handler sees (an exception escaping a
protocol callback or a scheduled flush).
"""

import asyncio
import contextlib
import logging
import socket
import threading
import time

from mqttfast.broker import Broker, BrokerServer

from .peers import TIMEOUT


class _Keep(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


class RunningBroker:
    """``broker`` served by a ``BrokerServer`` on ``port``; ``problems()`` lists what went wrong inside."""

    def __init__(self, broker, loop_factory=None, **server_options):
        self.broker = broker
        self.loop = (loop_factory or asyncio.new_event_loop)()
        self.loop.set_exception_handler(self._loop_exception)
        self.loop_errors = []
        self.server = BrokerServer(broker, "127.0.0.1", 0, **server_options)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self._started = threading.Event()
        self._start_error = None
        self.port = None

    def _loop_exception(self, loop, context):
        self.loop_errors.append(context)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.server.start())
            self.port = self.server.ports[0]
            self.ports = self.server.ports
        except BaseException as exc:  # reported by start()
            self._start_error = exc
            self._started.set()
            return
        self._started.set()
        self.loop.run_until_complete(self.server.serve_forever())
        self.loop.close()

    def start(self):
        self.thread.start()
        if not self._started.wait(TIMEOUT) or self._start_error is not None:
            raise RuntimeError(f"the broker did not start: {self._start_error!r}")
        return self

    def call(self, function, *args):
        """Run ``function(*args)`` on the broker's loop (where its state may be read safely); its result."""
        done = threading.Event()
        result = []

        def run():
            try:
                result.append((True, function(*args)))
            except BaseException as exc:
                result.append((False, exc))
            done.set()

        self.loop.call_soon_threadsafe(run)
        if not done.wait(TIMEOUT):
            raise TimeoutError("the broker's loop did not answer")
        ok, value = result[0]
        if not ok:
            raise value
        return value

    def stop(self):
        if self.thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(TIMEOUT)
            self.thread.join(TIMEOUT)

    def wait_for(self, predicate, timeout=TIMEOUT):
        """Poll ``predicate()`` on the broker's loop until it is true; whether it became true."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.call(predicate):
                return True
            time.sleep(0.02)
        return False


@contextlib.contextmanager
def running_broker(broker=None, server_options=None, loop_factory=None, **options):
    """Yield a started ``RunningBroker`` (a ``Broker(**options)`` unless ``broker`` is given); stop it after.

    ``server_options`` go to ``BrokerServer`` (``tls_port``, ``ssl_context``);
    ``loop_factory`` makes its event loop (asyncio's when None; ``uvloop.new_event_loop``...).

    On the way out, fail if the broker logged an error or a traceback, or an
    exception escaped into its event loop.
    """
    keep = _Keep()
    logger = logging.getLogger("mqttfast.broker")
    logger.addHandler(keep)
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    running = RunningBroker(
        broker if broker is not None else Broker(**options), loop_factory, **(server_options or {})
    ).start()
    running.log = keep.records
    try:
        yield running
    finally:
        running.stop()
        logger.removeHandler(keep)
        logger.setLevel(old_level)
    problems = [
        f"{record.levelname}: {record.getMessage()}"
        for record in keep.records
        if record.levelno >= logging.ERROR or record.exc_info
    ] + [f"loop: {context.get('message')} {context.get('exception')!r}" for context in running.loop_errors]
    assert not problems, "the broker went wrong:\n" + "\n".join(problems)


def connect_raw(port, timeout=TIMEOUT):
    """A plain TCP socket to the broker, with a timeout."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.settimeout(timeout)
    return sock


def read_until_closed(sock, timeout=TIMEOUT):
    """Every byte the peer sends until it closes (b"" if it closed at once); TimeoutError if it stays open."""
    sock.settimeout(timeout)
    chunks = []
    deadline = time.monotonic() + timeout
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError("the broker kept the connection open")
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            break
        except socket.timeout:
            raise TimeoutError("the broker kept the connection open") from None
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)
