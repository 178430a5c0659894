"""Loopback helpers for the real-peer tests: a scripted server and a raw client built on mqttfast.

Everything listens on or connects to 127.0.0.1 only, every socket has a
timeout, and every loop ends by itself.
"""

import socket
import threading
import time

TIMEOUT = 5.0


def split_packets(api, stream, version):
    """Cut ``stream`` into (raw bytes, packet) pairs; the version is learned from CONNECT."""
    out = []
    while stream:
        packet, nbytes = api.decode(stream, version)
        raw = bytes(stream[:nbytes])
        out.append((raw, api.decode(raw, version)[0]))
        if type(packet) is api.Connect:
            version = packet.protocol_version
        stream = stream[nbytes:]
    return out, version


class ScriptedServer(threading.Thread):
    """Accepts one client and answers like a broker would, recording every packet it receives.

    ``received`` holds (raw bytes, packet, version) in arrival order. ``to_send``
    packets are written after the CONNACK. The thread ends when the client
    disconnects or after ``TIMEOUT`` seconds of silence.
    """

    def __init__(self, api, connack=None, to_send=()):
        super().__init__(daemon=True)
        self.api = api
        self.connack = connack
        self.to_send = list(to_send)
        self.received = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(TIMEOUT)
        self.port = self.listener.getsockname()[1]
        self.error = None
        self.version = None

    def run(self):
        try:
            conn, _ = self.listener.accept()
        except OSError as exc:
            self.error = exc
            return
        with conn:
            conn.settimeout(TIMEOUT)
            buffer = b""
            deadline = time.monotonic() + 3 * TIMEOUT
            while time.monotonic() < deadline:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    break
                if not chunk:
                    break
                buffer += chunk
                while buffer:
                    try:
                        _, nbytes = self.api.decode(buffer, self.version)
                    except self.api.Incomplete:
                        break
                    raw, buffer = buffer[:nbytes], buffer[nbytes:]
                    packet, _ = self.api.decode(raw, self.version)
                    if type(packet) is self.api.Connect:
                        self.version = packet.protocol_version
                    self.received.append((raw, packet, self.version))
                    if self._answer(conn, packet):
                        return

    def _send(self, conn, packet):
        conn.sendall(self.api.encode(packet, self.version))

    def _answer(self, conn, packet):
        api = self.api
        kind = type(packet)
        if kind is api.Connect:
            self._send(conn, self.connack or api.Connack())
            for extra in self.to_send:
                self._send(conn, extra)
        elif kind is api.Subscribe:
            self._send(conn, api.Suback(packet_id=packet.packet_id, reason_codes=[s.qos for s in packet.subscriptions]))
        elif kind is api.Unsubscribe:
            codes = [0] * len(packet.topic_filters) if self.version == 5 else []
            self._send(conn, api.Unsuback(packet_id=packet.packet_id, reason_codes=codes))
        elif kind is api.Publish and packet.qos == 1:
            self._send(conn, api.Puback(packet_id=packet.packet_id))
        elif kind is api.Publish and packet.qos == 2:
            self._send(conn, api.Pubrec(packet_id=packet.packet_id))
        elif kind is api.Pubrel:
            self._send(conn, api.Pubcomp(packet_id=packet.packet_id))
        elif kind is api.Pubrec:
            self._send(conn, api.Pubrel(packet_id=packet.packet_id))
        elif kind is api.Pingreq:
            self._send(conn, api.Pingresp())
        elif kind is api.Disconnect:
            return True
        return False

    def close(self):
        self.listener.close()
        self.join(3 * TIMEOUT)


class RawClient:
    """An MQTT client made of a socket, mqttfast.encode and a mqttfast.Decoder."""

    def __init__(self, api, port, version):
        self.api = api
        self.version = version
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.decoder = api.Decoder(version)
        self.raw = b""  # every byte received, for byte-exact comparisons
        self.pending = []

    def send(self, packet):
        self.sock.sendall(self.api.encode(packet, self.version))

    def receive(self, kind=None):
        """The next packet (of ``kind``, skipping none), waiting at most TIMEOUT."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            if self.pending:
                packet = self.pending.pop(0)
                assert kind is None or type(packet) is kind, f"expected {kind.__name__}, got {packet!r}"
                return packet
            if time.monotonic() > deadline:
                raise TimeoutError("no packet from the peer")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("peer closed the connection")
            self.raw += chunk
            self.pending += self.decoder.feed(chunk)

    def close(self):
        try:
            self.send(self.api.Disconnect())
        except OSError:
            pass
        self.sock.close()
