"""Uniform adapters over every contender's codec.

Each adapter answers, for a case of ``workloads.CASES``:

* ``decode_call(name, wire) -> (func, args)``: the cheapest honest call that turns
  the wire bytes into the library's packet object; the benchmark times
  ``func(*args)`` directly (no lambda in between where the library offers a
  single call).
* ``encode_call(name) -> (func, args)``: the call that turns the library's own
  packet object (built once, outside the timing, from the case's fields) into
  wire bytes.
* ``summary(name, decoded)``: what the decoded object says (topic/payload,
  client id/username, filters), compared with mqttfast's in the correctness
  tests, so a benchmark never times something that silently fails.

Both return ``None`` when the library cannot represent the case (the test is then
skipped with the reason in ``unsupported(name)``).

How each peer is driven:

* ``mqtt5`` (Rust, MQTT 5 only): ``mqtt5.read(memoryview(wire))`` and ``packet.write()``.
* ``amqtt`` (MQTT 3.1.1 only): its packet classes (``PublishPacket``,
  ``ConnectPacket``, ``SubscribePacket``) with ``from_stream(reader)`` /
  ``to_bytes()``. ``from_stream`` is a coroutine, but over amqtt's own in-memory
  ``BufferReader`` (a ``BytesIO`` whose async ``read`` never suspends) the
  coroutine never yields to an event loop: the adapter drives it with one
  ``coro.send(None)`` and takes the result from ``StopIteration`` (it raises
  if the coroutine ever does suspend). That is amqtt's parsing cost without any
  event-loop overhead, i.e. the most favourable honest measurement for amqtt.
  The ``BufferReader`` is created per decode (part of the timed call), as amqtt
  needs a fresh reader per packet.
* ``mqttools`` (MQTT 5 only, QoS 0 only, user properties not representable):
  ``mqttools.common.pack_*`` for encode; for decode, the fixed-header parse of
  ``MqttClient._read_packet`` (done synchronously here over the bytes) followed
  by ``PayloadReader(body)`` and ``unpack_publish/unpack_connect/unpack_subscribe``,
  exactly what its client runs per packet minus the socket reads. ``pack_subscribe``
  takes a single filter, so SUBSCRIBE encode (five filters) is unsupported.
* ``paho`` (paho-mqtt 2.2): no public packet codec. Decoding lives in
  ``Client._handle_*`` working on the socket state: not extractable, not measured.
  PUBLISH encoding is extracted from ``Client._send_publish``: a ``Client`` subclass
  whose ``_packet_queue`` returns the built packet instead of queueing it (and a
  placeholder ``_sock`` so it does not bail out as disconnected). The timed call is
  ``client._send_publish(mid, topic_bytes, payload, qos, retain, dup, None, props)``:
  paho's header building plus its debug-log check; properties are a prebuilt
  ``paho.mqtt.properties.Properties`` (packed inside the call, as paho does).
  CONNECT/SUBSCRIBE encoding writes straight to the socket machinery: not measured.
"""

from __future__ import annotations

import importlib

from .workloads import CASES, PAYLOAD_SIZE_CASES, SUB_FILTERS, TOPIC, build_packet, version_of

# ---------------------------------------------------------------------------
# mqttfast (compiled and fallback share one adapter over the module)
# ---------------------------------------------------------------------------


def _bytes(x):
    return None if x is None else bytes(x)


class Adapter:
    """Base: ``unsupported(name)`` covers both directions unless overridden."""

    def unsupported(self, name):
        return None

    def unsupported_decode(self, name):
        return self.unsupported(name)

    def unsupported_encode(self, name):
        return self.unsupported(name)


class MqttfastAdapter(Adapter):
    def __init__(self, module):
        self.m = module

    def decode_call(self, name, wire):
        return self.m.decode, (wire, version_of(name))

    def decode_result(self, name, wire):
        return self.m.decode(wire, version_of(name))[0]

    def encode_call(self, name):
        return self.m.encode, (build_packet(self.m, name), version_of(name))

    def summary(self, name, p):
        kind = CASES[name][0]
        if kind == "Publish":
            return (p.topic, _bytes(p.payload))
        if kind == "Connect":
            return (p.client_id, p.username, _bytes(p.password), p.keep_alive)
        return (p.packet_id, [(s.topic_filter, s.qos) for s in p.subscriptions])


# ---------------------------------------------------------------------------
# mqtt5 (Rust)
# ---------------------------------------------------------------------------


class Mqtt5Adapter(Adapter):
    def __init__(self):
        self.m = importlib.import_module("mqtt5")

    def unsupported(self, name):
        return "mqtt5 speaks MQTT 5.0 only" if version_of(name) != 5 else None

    def decode_call(self, name, wire):
        return self.m.read, (memoryview(wire),)

    def decode_result(self, name, wire):
        return self.m.read(memoryview(wire))[0]

    def native(self, name):
        m = self.m
        kind, _, f = CASES[name]
        if kind == "Publish":
            qos = m.QoS.AT_LEAST_ONCE if f.get("qos") == 1 else m.QoS.AT_MOST_ONCE
            return m.PublishPacket(
                f["topic"],
                f["payload"],
                qos=qos,
                packet_id=f.get("packet_id"),
                payload_format_indicator=f.get("payload_format_indicator", 0),
                message_expiry_interval=f.get("message_expiry_interval"),
                content_type=f.get("content_type"),
                topic_alias=f.get("topic_alias"),
                user_properties=f.get("user_properties"),
            )
        if kind == "Connect":
            return m.ConnectPacket(
                f["client_id"],
                username=f["username"],
                password=f["password"],
                clean_start=f["clean_start"],
                keep_alive=f["keep_alive"],
                session_expiry_interval=f["session_expiry_interval"],
                receive_max=f["receive_maximum"],
                topic_alias_max=f["topic_alias_maximum"],
                max_packet_size=f["maximum_packet_size"],
            )
        qos = {0: m.QoS.AT_MOST_ONCE, 1: m.QoS.AT_LEAST_ONCE, 2: m.QoS.EXACTLY_ONCE}
        return m.SubscribePacket(
            f["packet_id"],
            [m.TopicFilter(t, max_qos=qos[q], retain_as_published=False) for t, q in f["filters"]],
        )

    def encode_call(self, name):
        return self.native(name).write, ()

    def summary(self, name, p):
        kind = CASES[name][0]
        if kind == "Publish":
            return (p.topic, _bytes(p.payload))
        if kind == "Connect":
            return (p.client_id, p.username, _bytes(p.password), p.keep_alive)
        return (p.packet_id, [(t.pattern, int(t.max_qos)) for t in p.topic_filters])


# ---------------------------------------------------------------------------
# amqtt
# ---------------------------------------------------------------------------


def drive(coro):
    """Run a coroutine that never suspends to completion, without an event loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("coroutine suspended: it needs a real event loop")


class AmqttAdapter(Adapter):
    def __init__(self):
        importlib.import_module("amqtt")
        from amqtt.adapters import BufferReader
        from amqtt.mqtt.connect import ConnectPacket, ConnectPayload, ConnectVariableHeader
        from amqtt.mqtt.publish import PublishPacket
        from amqtt.mqtt.subscribe import SubscribePacket

        self.BufferReader = BufferReader
        self.classes = {"Publish": PublishPacket, "Connect": ConnectPacket, "Subscribe": SubscribePacket}
        self.ConnectPayload = ConnectPayload
        self.ConnectVariableHeader = ConnectVariableHeader

    def unsupported(self, name):
        return "amqtt speaks MQTT 3.1.1 only" if version_of(name) != 4 else None

    def _decode(self, cls, wire):
        return drive(cls.from_stream(self.BufferReader(wire)))

    def decode_call(self, name, wire):
        return self._decode, (self.classes[CASES[name][0]], wire)

    def decode_result(self, name, wire):
        return self._decode(self.classes[CASES[name][0]], wire)

    def native(self, name):
        kind, _, f = CASES[name]
        if kind == "Publish":
            return self.classes["Publish"].build(f["topic"], f["payload"], f.get("packet_id"), False, f.get("qos", 0), False)
        if kind == "Connect":
            vh = self.ConnectVariableHeader(0, f["keep_alive"], "MQTT", 4)
            vh.clean_session_flag = f["clean_start"]
            vh.username_flag = True
            vh.password_flag = True
            payload = self.ConnectPayload(f["client_id"], None, None, f["username"], f["password"].decode())
            return self.classes["Connect"](variable_header=vh, payload=payload)
        return self.classes["Subscribe"].build(list(f["filters"]), f["packet_id"])

    def encode_call(self, name):
        return self.native(name).to_bytes, ()

    def summary(self, name, p):
        kind = CASES[name][0]
        if kind == "Publish":
            return (p.variable_header.topic_name, _bytes(p.payload.data))
        if kind == "Connect":
            pw = p.payload.password
            return (p.payload.client_id, p.payload.username, pw.encode() if isinstance(pw, str) else _bytes(pw), p.variable_header.keep_alive)
        return (p.variable_header.packet_id, [tuple(t) for t in p.payload.topics])


# ---------------------------------------------------------------------------
# mqttools
# ---------------------------------------------------------------------------


class MqttoolsAdapter(Adapter):
    def __init__(self):
        self.c = importlib.import_module("mqttools.common")

    def unsupported(self, name):
        kind, version, f = CASES[name]
        if version != 5:
            return "mqttools speaks MQTT 5.0 only"
        if kind == "Publish" and f.get("qos", 0):
            return "mqttools supports QoS 0 PUBLISH only"
        if kind == "Publish" and f.get("user_properties"):
            return "mqttools encodes a user property as one string, not a name/value pair"
        return None

    def _decode(self, unpack, wire):
        # MqttClient._read_packet, synchronously: type/flags byte, remaining length, body.
        c = self.c
        packet_type, flags = c.CF_FIXED_HEADER.unpack(wire[:1])
        size = 0
        multiplier = 1
        pos = 1
        byte = 0x80
        while byte & 0x80:
            byte = wire[pos]
            pos += 1
            size += (byte & 0x7F) * multiplier
            multiplier <<= 7
        payload = c.PayloadReader(wire[pos : pos + size])
        if unpack is c.unpack_publish:
            return unpack(payload, (flags >> 1) & 3)
        return unpack(payload)

    def _unpack_for(self, name):
        return {"Publish": self.c.unpack_publish, "Connect": self.c.unpack_connect, "Subscribe": self.c.unpack_subscribe}[CASES[name][0]]

    def decode_call(self, name, wire):
        return self._decode, (self._unpack_for(name), wire)

    def decode_result(self, name, wire):
        return self._decode(self._unpack_for(name), wire)

    def _props(self, f, names):
        P = self.c.PropertyIds
        return {getattr(P, pname): f[key] for key, pname in names if f.get(key) is not None}

    def encode_call(self, name):
        c = self.c
        kind, _, f = CASES[name]
        if kind == "Publish":
            props = self._props(
                f,
                [
                    ("payload_format_indicator", "PAYLOAD_FORMAT_INDICATOR"),
                    ("message_expiry_interval", "MESSAGE_EXPIRY_INTERVAL"),
                    ("content_type", "CONTENT_TYPE"),
                    ("topic_alias", "TOPIC_ALIAS"),
                ],
            )
            return c.pack_publish, (f["topic"], f["payload"], False, props)
        if kind == "Connect":
            props = self._props(
                f,
                [
                    ("session_expiry_interval", "SESSION_EXPIRY_INTERVAL"),
                    ("receive_maximum", "RECEIVE_MAXIMUM"),
                    ("topic_alias_maximum", "TOPIC_ALIAS_MAXIMUM"),
                    ("maximum_packet_size", "MAXIMUM_PACKET_SIZE"),
                ],
            )
            return c.pack_connect, (
                f["client_id"], f["clean_start"], None, None, False, 0, f["username"], f["password"], f["keep_alive"], props,
            )
        return None  # pack_subscribe takes one filter only

    def unsupported_encode(self, name):
        if CASES[name][0] == "Subscribe":
            return "mqttools.common.pack_subscribe takes a single filter"
        return self.unsupported(name)

    def summary(self, name, p):
        kind = CASES[name][0]
        if kind == "Publish":
            topic, message, _props = p
            return (topic, _bytes(message))
        if kind == "Connect":
            client_id, _clean, _wt, _wm, _wr, keep_alive, _props, username, password = p
            return (client_id, username, _bytes(password), keep_alive)
        packet_id, _props, subs = p
        return (packet_id, [(t, opts & 3) for t, opts in subs])


# ---------------------------------------------------------------------------
# paho-mqtt (PUBLISH encode only)
# ---------------------------------------------------------------------------


class _NoSocket:
    """Stands in for paho's socket: never written to, only closed when the client goes away."""

    def close(self):
        pass


class PahoAdapter(Adapter):
    def __init__(self):
        from paho.mqtt import client as pc
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        self.pc = pc
        self.Properties = Properties
        self.PacketTypes = PacketTypes

        class _CapturingClient(pc.Client):
            def _packet_queue(self, command, packet, mid, qos, info=None):
                return packet

        self._clients = {}
        self._cls = _CapturingClient

    def _client(self, version):
        if version not in self._clients:
            pc = self.pc
            proto = pc.MQTTv5 if version == 5 else pc.MQTTv311
            client = self._cls(pc.CallbackAPIVersion.VERSION2, protocol=proto)
            client._sock = _NoSocket()  # "connected": _send_publish only checks it is not None
            self._clients[version] = client
        return self._clients[version]

    def unsupported_decode(self, name):
        return "paho-mqtt has no packet decoder outside Client's socket handling"

    def unsupported_encode(self, name):
        if CASES[name][0] != "Publish":
            return "paho-mqtt builds CONNECT/SUBSCRIBE straight into its socket machinery"
        return None

    def encode_call(self, name):
        kind, version, f = CASES[name]
        if kind != "Publish":
            return None
        props = None
        if version == 5:
            props = self.Properties(self.PacketTypes.PUBLISH)
            if f.get("payload_format_indicator") is not None:
                props.PayloadFormatIndicator = f["payload_format_indicator"]
            if f.get("message_expiry_interval") is not None:
                props.MessageExpiryInterval = f["message_expiry_interval"]
            if f.get("content_type") is not None:
                props.ContentType = f["content_type"]
            if f.get("topic_alias") is not None:
                props.TopicAlias = f["topic_alias"]
            if f.get("user_properties"):
                props.UserProperty = list(f["user_properties"])
        client = self._client(version)
        return client._send_publish, (
            f.get("packet_id") or 0, f["topic"].encode(), f["payload"], f.get("qos", 0), False, False, None, props,
        )


ADAPTERS = {
    "mqtt5": Mqtt5Adapter,
    "amqtt": AmqttAdapter,
    "mqttools": MqttoolsAdapter,
    "paho": PahoAdapter,
}
