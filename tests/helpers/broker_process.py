"""``python -m mqttfast.broker`` as a subprocess on 127.0.0.1 ports it picks itself, and paho clients for it.

The broker is started with ``--port 0`` (and 0 for the other listeners asked
for); the ports it bound are read from its log, in the order TCP, TLS,
WebSocket. Every wait is bounded; ``stop()`` kills what is still running.
"""

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

TIMEOUT = 5.0

from .subprocesses import MQTTFAST_ROOT as SRC

_LISTENING = re.compile(r"Opening ipv4 listen socket on port (\d+)\.")


class BrokerProcess:
    """A running broker; ``ports`` as bound, ``lines`` its log so far (read by a thread)."""

    def __init__(self, *args, cwd=None):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mqttfast.broker", "--host", "127.0.0.1", *args],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=cwd,
        )
        self.lines = []
        self._queue = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.ports = []
        line = self.wait_for_line("mqttfast broker running.")
        if line is None:
            self.stop()
            raise RuntimeError("the broker did not start:\n" + "".join(self.lines))

    def _read(self):
        for line in self.process.stderr:
            self.lines.append(line)
            self._queue.put(line)
            found = _LISTENING.search(line)
            if found:
                self.ports.append(int(found.group(1)))
        self._queue.put(None)

    @property
    def port(self):
        return self.ports[0]

    def wait_for_line(self, text, timeout=TIMEOUT):
        """The first log line from now on containing ``text`` (None at EOF or after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                return None
            if line is None:
                return None
            if text in line:
                return line

    def log(self):
        return "".join(self.lines)

    def terminate(self, timeout=TIMEOUT):
        """SIGTERM, then the exit status (None if it did not exit within ``timeout``)."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(TIMEOUT)
        self._reader.join(TIMEOUT)
        self.process.stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def paho_client(port, client_id, protocol=None, transport="tcp", **connect):
    """A paho client connected (or refused) to ``127.0.0.1:port``, its network loop running.

    Returns ``(client, result)``: ``result`` holds the CONNACK's reason code as ``result["rc"]``
    and the SUBACK / PUBACK / DISCONNECT reason codes and messages as they come.
    """
    from paho.mqtt import client as mqtt

    protocol = mqtt.MQTTv5 if protocol is None else protocol
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol, transport=transport
    )
    result = {
        "messages": queue.Queue(),
        "suback": queue.Queue(),
        "puback": queue.Queue(),
        "disconnect": queue.Queue(),
    }
    connected = threading.Event()

    def on_connect(c, userdata, flags, reason_code, properties):
        result["rc"] = reason_code.value
        result["connack"] = properties
        connected.set()

    def on_subscribe(c, userdata, mid, reason_codes, properties):
        result["suback"].put([code.value for code in reason_codes])

    def on_disconnect(c, userdata, flags, reason_code, properties):
        result["disconnect"].put(reason_code.value)
        connected.set()

    def on_publish(c, userdata, mid, reason_code, properties):
        result["puback"].put(reason_code.value)

    client.on_connect = on_connect
    client.on_publish = on_publish
    client.on_subscribe = on_subscribe
    client.on_disconnect = on_disconnect
    client.on_message = lambda c, u, message: result["messages"].put(message)
    if "username" in connect:
        client.username_pw_set(connect.pop("username"), connect.pop("password", None))
    if "tls_context" in connect:
        client.tls_set_context(connect.pop("tls_context"))
    client.connect("127.0.0.1", port, keepalive=connect.pop("keepalive", 30), **connect)
    client.loop_start()
    connected.wait(TIMEOUT)
    return client, result


def close_client(client):
    try:
        client.disconnect()
    finally:
        client.loop_stop()
