"""Persistence: the broker's sessions and retained messages in SQLite, so a restart loses nothing acknowledged.

The durability rule: before the broker acknowledges a QoS 1/2 PUBLISH, the
state that makes the message survive is committed. The broker writes once
per loop pass (``Broker.flush``), and calls ``save`` first: one transaction
holds every session touched in that pass (the clients it read from or
delivered to, the offline sessions it queued for, the ones that ended) and
every retained message set or cleared, so the PUBACK/PUBREC of that pass go
out only after their messages are on disk. One commit per pass, not one per
message: the more a pass carries, the less each message costs.

What is kept: sessions that outlive their connection (Session Expiry
Interval > 0, or 3.x CleanSession 0); a session that ends with its
connection has nothing to resume after a restart and is never written.
Retained messages are kept whatever their publisher's session.

Layout (``PRAGMA user_version`` = ``SCHEMA_VERSION``, WAL journal)::

    sessions(client_id TEXT PRIMARY KEY, state BLOB)
    retained(topic TEXT PRIMARY KEY, message BLOB, expires_at REAL)

``state`` is the plain data of ``ServerSession.dump()`` (see
``dump_session``) as JSON, its bytes (the messages, as MQTT 5 PUBLISH
packets) in base64. JSON rather than pickle: loading a pickle
runs whatever code the file names, and a database file should not be able
to do that; JSON is also readable with ``sqlite3`` and any language. It
costs a third more bytes for the messages and a few microseconds per
session, which the per-pass commit dwarfs. ``message`` is the retained
message as an MQTT 5 PUBLISH (which carries every property).

Time: deadlines in memory (will, session expiry, message expiry) are
absolute times on the event loop's clock, which restarts with the process.
They are stored as wall-clock times (``time.time()``) and converted back on
the new loop's clock at load; the time the broker was down counts, as it
would have had it been up.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import mqttfast

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

log = logging.getLogger("mqttfast.broker")

#: The layout version written in ``PRAGMA user_version``; a database of another version is refused.
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (client_id TEXT PRIMARY KEY, state BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS retained (
    topic TEXT PRIMARY KEY, message BLOB NOT NULL, expires_at REAL
);
"""

#: The JSON key that marks bytes (base64); no key of a session dump starts with a NUL.
_BYTES = "\x00b"


class SQLiteStore:
    """Sessions and retained messages of a ``Broker`` in the SQLite database at ``path``.

    ``synchronous`` is SQLite's setting: ``"NORMAL"`` (the default) makes a
    commit survive the broker's crash (kill -9); ``"FULL"`` also a power
    loss, at the cost of an fsync per commit. ``clock`` is the clock of the
    ``now`` values the broker is given (``BrokerServer`` sets it to its
    loop's ``time``).
    """

    def __init__(
        self,
        path: str,
        *,
        synchronous: str = "NORMAL",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"unknown synchronous setting {synchronous!r}")
        self.path = path
        self.clock = clock
        self._db = sqlite3.connect(path, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            self._migrate()
        except BaseException:
            self._db.close()  # a database refused (another schema) is not left open
            raise
        #: client ids with a row in ``sessions``: a session that needs none is deleted only if it has one.
        self._stored: set[str] = {
            row[0] for row in self._db.execute("SELECT client_id FROM sessions")
        }
        #: client ids whose session changed this pass outside the clients the broker writes to.
        self._changed: dict[str, None] = {}
        #: topic -> (message, expires_at), or None for a cleared one, set this pass.
        self._retained: dict[str, tuple[Any, float | None] | None] = {}
        #: id(message) -> (message, its encoding), for the messages of the sessions saved last pass.
        self._encoded: dict[int, tuple[Any, bytes]] = {}
        self.closed = False

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version != 0:
            raise RuntimeError(
                f"{self.path}: persistence schema {version}, this broker reads {SCHEMA_VERSION}"
            )
        self._db.executescript(
            f"BEGIN; {_SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;"
        )

    # ---- what the broker reports during a pass --------------------------------------------------

    def session_changed(self, client_id: str) -> None:
        """``client_id``'s session changed (queued to, detached, ended) without its client being written to."""
        self._changed[client_id] = None

    def retained_changed(self, message: Any, expires_at: float | None) -> None:
        """``message`` was kept as its topic's retained message, or cleared it (empty payload)."""
        self._retained[message.topic] = (
            (message, expires_at) if len(message.payload) else None
        )

    # ---- saving -----------------------------------------------------------------------------------

    def save(self, broker: Any) -> None:
        """Commit what changed in this pass: the sessions of ``broker.dirty`` clients and those reported."""
        changed = self._changed
        for client in broker.dirty:
            if client.client_id:
                changed[client.client_id] = None
        if not changed and not self._retained:
            return
        self._changed = {}
        retained, self._retained = self._retained, {}
        try:
            self._write(broker.sessions, changed, retained)
        except sqlite3.Error:
            # Acks go out regardless: stopping the broker would lose more than this pass.
            log.exception("Error: persistence write to %s failed.", self.path)

    def save_all(self, broker: Any) -> None:
        """Commit every session of ``broker`` (and what changed in the retained store): at shutdown."""
        self._changed.update(dict.fromkeys(broker.sessions))
        self._changed.update(dict.fromkeys(self._stored))
        self.save(broker)

    def _write(
        self,
        sessions: dict[str, Any],
        changed: dict[str, None],
        retained: dict[str, tuple[Any, float | None] | None],
    ) -> None:
        offset = time.time() - self.clock()
        rows: list[tuple[str, bytes]] = []
        gone: list[tuple[str]] = []
        stored = self._stored
        # A session is written whole each pass it changes: its messages in flight are encoded
        # once, not once per pass (a cache that keeps only what this pass used).
        encoded = _EncodingCache(self._encoded)
        for client_id in changed:
            session = sessions.get(client_id)
            if session is None or session.ended or not session.expiry_interval:
                if client_id in stored:
                    gone.append((client_id,))
            else:
                rows.append((client_id, encode_session(session, offset, encoded)))
        self._encoded = encoded.used
        kept: list[tuple[str, bytes, float | None]] = []
        twin = _twin()
        cleared: list[tuple[str]] = []
        for topic, entry in retained.items():
            if entry is None:
                cleared.append((topic,))
            else:
                message, expires_at = entry
                kept.append(
                    (
                        topic,
                        _encode_message(message, twin),
                        None if expires_at is None else expires_at + offset,
                    )
                )
        if not (rows or gone or kept or cleared):
            return
        db = self._db
        db.execute("BEGIN")
        try:
            if rows:
                db.executemany(
                    "INSERT OR REPLACE INTO sessions (client_id, state) VALUES (?, ?)",
                    rows,
                )
            if gone:
                db.executemany("DELETE FROM sessions WHERE client_id = ?", gone)
            if kept:
                db.executemany(
                    "INSERT OR REPLACE INTO retained (topic, message, expires_at) VALUES (?, ?, ?)",
                    kept,
                )
            if cleared:
                db.executemany("DELETE FROM retained WHERE topic = ?", cleared)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        stored.update(client_id for client_id, _ in rows)
        stored.difference_update(client_id for (client_id,) in gone)

    # ---- loading ----------------------------------------------------------------------------------

    def load_sessions(self, now: float) -> dict[str, tuple[Any, bool]]:
        """client id -> (``ServerSession``, whether it was connected when saved), deadlines on the clock of ``now``."""
        offset = time.time() - now
        found: dict[str, tuple[Any, bool]] = {}
        for client_id, blob in self._db.execute("SELECT client_id, state FROM sessions"):
            found[client_id] = decode_session(blob, offset)
        return found

    def load_retained(self, now: float) -> list[tuple[Any, float | None]]:
        """Every retained message not expired at ``now``, with its expiry on the clock of ``now``."""
        offset = time.time() - now
        twin = _twin()
        found: list[tuple[Any, float | None]] = []
        expired: list[tuple[str]] = []
        for topic, blob, wall in self._db.execute(
            "SELECT topic, message, expires_at FROM retained"
        ):
            expires_at = None if wall is None else wall - offset
            if expires_at is not None and expires_at <= now:
                expired.append((topic,))
                continue
            message = _decode_message(blob, twin)
            found.append((message, expires_at))
        if expired:
            with self._db:
                self._db.executemany("DELETE FROM retained WHERE topic = ?", expired)
        return found

    def restore(self, broker: Any, now: float) -> None:
        """Put the stored retained messages and sessions into ``broker`` (before any client connects).

        Each session's subscriptions go back into the matcher; a session
        that was connected when the broker stopped is detached at ``now``
        (the restart is its disconnection: its expiry starts, its will fires
        after its delay), an offline one keeps its deadlines, and what fell
        due while the broker was down happens now.
        """
        for message, expires_at in self.load_retained(now):
            broker.retained.set(message, expires_at)
        events: list[Any] = []
        for client_id, (session, connected) in self.load_sessions(now).items():
            session.max_queued = broker.max_queued
            broker.sessions[client_id] = session
            for options, identifier in session.subscriptions.values():
                broker._add_subscription(client_id, options, identifier)
            if connected:
                events += session.detach(now)
                self._changed[client_id] = None
        broker._session_events(events, now)
        broker.tick(now)  # what came due while the broker was down (expiry, will delay) goes now
        log.info(
            "Restored %d sessions and %d retained messages from %s.",
            len(broker.sessions),
            len(broker.retained),
            self.path,
        )

    def close(self) -> None:
        """Close the database (what was committed stays)."""
        if not self.closed:
            self.closed = True
            self._db.close()


# ---- serialisation ------------------------------------------------------------------------------
#
# The plain data of ``ServerSession.dump()``, same keys and layout, but written here:
# workaround for two bugs of the session layer (reported to the lead), after which
# ``dump()``/``load()`` can take over again:
# - dump()/load() encode and decode with ``mqttfast.encode``/``decode`` (the compiled twin)
#   while ``ServerConnection`` may run on the other twin's packets (today the compiled
#   build pairs the Cython codec with the pure-Python connection): the codec then refuses
#   the session's messages ("not an mqttfast packet"), and loaded messages could not be
#   resent by the connection. Here both go through the twin of the connection in use.
# - dump() cannot encode a QoS 1/2 message without packet id (a will, or a will routed to a
#   session): such a message is written with a placeholder id, which load ignores.


def _twin() -> Any:
    """The implementation whose packets ``ServerConnection`` makes and sends: its codec serialises them."""
    packets = getattr(mqttfast.ServerConnection, "_packets", None)
    if packets is not None and packets.Publish is not mqttfast.Publish:
        from mqttfast import fallback

        if packets.Publish is fallback.Publish:
            return fallback
    return mqttfast


class _EncodingCache:
    """Encodings of messages by identity: ``previous`` (last pass's) read, ``used`` (this pass's) kept."""

    __slots__ = ("previous", "used")

    def __init__(self, previous: dict[int, tuple[Any, bytes]]) -> None:
        self.previous = previous
        self.used: dict[int, tuple[Any, bytes]] = {}

    def encode(self, message: Any, twin: Any, packet_id: int) -> bytes:
        key = id(message)
        # The message itself is kept beside its encoding, so its id cannot be reused meanwhile.
        found = self.used.get(key) or self.previous.get(key)
        if found is None or found[0] is not message:
            found = (message, _encode_message(message, twin, packet_id))
        self.used[key] = found
        return found[1]


def encode_session(session: Any, offset: float, cache: _EncodingCache | None = None) -> bytes:
    """``session`` as stored: its plain data in JSON, deadlines moved by ``offset`` to wall-clock time."""
    return json.dumps(
        dump_session(session, offset, cache),
        separators=(",", ":"),
        default=_bytes_to_json,
    ).encode()


def decode_session(blob: bytes, offset: float) -> tuple[Any, bool]:
    """The ``ServerSession`` ``encode_session`` stored, deadlines moved back by ``offset``; and whether it was connected."""
    return load_session(json.loads(blob, object_hook=_json_to_bytes), offset)


def dump_session(
    session: Any, offset: float = 0.0, cache: _EncodingCache | None = None
) -> dict[str, Any]:
    """``session.dump()``'s plain data (plus ``connected``), its deadlines moved by ``offset``."""
    twin = _twin()
    encode = _encode_message if cache is None else cache.encode
    outbound: list[tuple[int, Any]] = []
    for packet_id, entry in session.outbound.items():
        if entry is None:
            outbound.append((packet_id, None))
            continue
        outbound.append(
            (
                packet_id,
                {
                    "message": encode(entry.message, twin, packet_id),
                    "qos": entry.qos,
                    "retain": entry.retain,
                    "subscription_identifiers": entry.subscription_identifiers,
                    "expires_at": _shift(entry.expires_at, offset),
                    "sent": entry.sent,
                },
            )
        )
    will = session.will
    return {
        "twin": twin.IMPLEMENTATION,
        "client_id": session.client_id,
        "outbound": outbound,
        "waiting": list(session.waiting),
        "inbound_qos2": sorted(session.inbound_qos2),
        "last_packet_id": session._last_packet_id,
        "max_queued": session.max_queued,
        "subscriptions": [
            (
                topic_filter,
                {
                    "qos": options.qos,
                    "no_local": options.no_local,
                    "retain_as_published": options.retain_as_published,
                    "retain_handling": options.retain_handling,
                },
                identifier,
            )
            for topic_filter, (options, identifier) in session.subscriptions.items()
        ],
        "will": None
        if will is None
        else {
            "message": _encode_message(will.to_publish(), twin),
            "delay": will.will_delay_interval,
        },
        "will_on_close": session.will_on_close,
        "will_at": _shift(session.will_at, offset),
        "expiry_interval": session.expiry_interval,
        "expires_at": _shift(session.expires_at, offset),
        "dropped": session.dropped,
        "connected": session.connected,
    }


def load_session(state: dict[str, Any], offset: float = 0.0) -> tuple[Any, bool]:
    """The ``ServerSession`` ``dump_session`` described, deadlines moved back by ``offset``; whether it was connected."""
    twin = _twin()
    session = mqttfast.ServerSession(state["client_id"], max_queued=state["max_queued"])
    session._last_packet_id = state["last_packet_id"]
    for packet_id, stored in state["outbound"]:
        if stored is None:
            session.outbound[packet_id] = None
            continue
        entry = mqttfast.Outgoing(
            _decode_message(stored["message"], twin),
            stored["qos"],
            stored["retain"],
            stored["subscription_identifiers"],
            _shift(stored["expires_at"], -offset),
        )
        entry.sent = stored["sent"]
        session.outbound[packet_id] = entry
    session.waiting = dict.fromkeys(state["waiting"])
    session.inbound_qos2 = set(state["inbound_qos2"])
    for topic_filter, options, identifier in state["subscriptions"]:
        session.subscriptions[topic_filter] = (
            twin.Subscription(topic_filter=topic_filter, **options),
            identifier,
        )
    if state["will"] is not None:
        message = _decode_message(state["will"]["message"], twin)
        # A will is a PUBLISH's fields plus its delay.
        fields = {
            name: getattr(message, name)
            for name, _ in twin.Will._fields
            if name != "will_delay_interval"
        }
        session.will = twin.Will(will_delay_interval=state["will"]["delay"], **fields)
    session.will_on_close = state["will_on_close"]
    session.will_at = _shift(state["will_at"], -offset)
    session.expiry_interval = state["expiry_interval"]
    session.expires_at = _shift(state["expires_at"], -offset)
    session.dropped = state["dropped"]
    return session, bool(state.get("connected", False))


def _shift(moment: float | None, offset: float) -> float | None:
    return None if moment is None else moment + offset


def _encode_message(message: Any, twin: Any, packet_id: int = 1) -> bytes:
    if message.qos and not message.packet_id:
        message = copy.copy(message)  # a packet id only so that it encodes; ignored at load
        message.packet_id = packet_id
    return twin.encode(message, mqttfast.MQTT_5)  # type: ignore[no-any-return]


def _decode_message(data: bytes, twin: Any) -> Any:
    return twin.decode(data, mqttfast.MQTT_5, copy=True)[0]


def _bytes_to_json(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {_BYTES: base64.b64encode(value).decode("ascii")}
    raise TypeError(f"cannot store {type(value).__name__}")


def _json_to_bytes(value: dict[str, Any]) -> Any:
    encoded = value.get(_BYTES)
    if encoded is not None and len(value) == 1:
        return base64.b64decode(encoded)
    return value
