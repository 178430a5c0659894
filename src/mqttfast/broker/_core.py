"""The broker's decisions, sans-I/O: sessions, routing, retained messages, wills, hooks.

``Broker`` owns the sessions and the subscriptions of every client, and acts
on the events of each client's ``ServerConnection``: it answers CONNECT (with
takeover of a client id already connected), SUBSCRIBE and UNSUBSCRIBE, routes
every application message through one ``TopicMatcher`` to the matching
sessions, keeps retained messages, and publishes wills when their sessions
say so. It never touches a socket or a clock: the asyncio server in
``_server`` feeds it, and ``now`` comes from the caller.

Routing rules applied here (the connection applies the per-delivery ones):
one copy per client at the highest QoS of its matching subscriptions, with
all their subscription identifiers [MQTT-3.3.4-2, -3]; No Local skips the
publisher [MQTT-3.8.3-3]; Retain As Published from any matching
subscription; shared subscriptions get one member per group and message,
a connected one first, in turn [MQTT-4.8.2]; retained messages on subscribe
per Retain Handling, never for shared ones [MQTT-3.3.1-9..11].

What runs for every message (a read's events, the plain copies, the flush)
is ``BrokerCore``, Broker's base, of the twin ``mqttfast._broker_c`` (compiled)
or ``mqttfast._broker_py``; the rules here are plain Python, shared by both.

Hooks for the people who embed it: subclass ``Broker`` and override
``authenticate``, ``authorize_publish``, ``authorize_subscribe`` and
``on_message`` (observe or rewrite each message before it is routed).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import mqttfast

from .._env import load_twin
from ._retained import RetainedStore

__all__ = ["Broker", "Client"]

log = logging.getLogger("mqttfast.broker")

# Looked up once per event in ``_handle``: module globals, not attributes of the package.
_MessageReceived = mqttfast.MessageReceived
_PublishCompleted = mqttfast.PublishCompleted
#: a topic not yet planned in ``_handle`` (None there means "no plan: route it").
_UNPLANNED: Any = object()


if TYPE_CHECKING:  # typed as the pure twin, whichever is loaded
    from .._broker_py import BrokerCore, Client
    from .._broker_py import Subscription as _Subscription

    TWIN: Any
    _RulesBase = BrokerCore
else:
    #: ``mqttfast._broker_c`` or ``mqttfast._broker_py``: the per-message half of ``Broker``.
    TWIN = load_twin("mqttfast._broker_c", "mqttfast._broker_py")  # as ``mqttfast`` picks its own
    BrokerCore = TWIN.BrokerCore
    Client = TWIN.Client
    _Subscription = TWIN.Subscription
    _RulesBase = object


class BrokerRules(_RulesBase):
    """The broker core. ``connection_options`` are passed to every ``ServerConnection``.

    ``allow_anonymous`` lets clients without a user name in (the default
    ``authenticate`` checks nothing else); ``max_queued`` bounds each
    session's queue of QoS 1/2 messages while it cannot take them;
    ``max_retained`` the retained store. ``store`` (a ``SQLiteStore``, or
    None to keep everything in memory) persists sessions and retained
    messages: it is saved before the writes of every loop pass (``flush``).
    """

    def __init__(
        self,
        *,
        allow_anonymous: bool = True,
        max_queued: int = 1000,
        max_retained: int = 1_000_000,
        max_session_expiry: int | None = None,
        store: Any = None,
        **connection_options: Any,
    ) -> None:
        self.allow_anonymous = allow_anonymous
        self.max_queued = max_queued
        self.max_session_expiry = max_session_expiry
        if "auto_ack" not in connection_options and type(self).authorize_publish is not BrokerRules.authorize_publish:
            # A subclass that may refuse a publish must answer 0x87 in its PUBACK/PUBREC: acks then
            # leave by hand, after the hook; the default path keeps the automatic ones.
            connection_options["auto_ack"] = False
        self.connection_options = dict(connection_options, max_queued=max_queued)
        self.auto_ack: bool = connection_options.get("auto_ack", True)
        #: neither publish hook is overridden by the class (``_plain_publish`` checks the instance).
        self._default_hooks = (
            type(self).authorize_publish is BrokerRules.authorize_publish
            and type(self).on_message is BrokerRules.on_message
        )
        #: ``route`` is not overridden: the compiled twin may run its plain case without calling it.
        self._own_route = type(self).route is BrokerRules.route
        self.matcher = mqttfast.TopicMatcher()
        self.sessions: dict[str, mqttfast.ServerSession] = {}
        self.clients: dict[str, Client] = {}
        #: connections not yet accepted (their CONNECT is awaited): ``tick`` closes them at their timeout.
        self.connecting: dict[Client, None] = {}
        self.retained = RetainedStore(max_retained)
        #: where sessions and retained messages persist (``_store.SQLiteStore``), or None.
        self.store = store
        #: connections with bytes to write at the end of this loop pass.
        self.dirty: dict[Client, None] = {}
        #: client id -> topic filter -> its record in the matcher.
        self._subscriptions: dict[str, dict[str, _Subscription]] = {}
        self._share_turn = itertools.count()
        #: shared subscriptions held: while 0, routing skips ``match_shared``.
        self._shared_count = 0
        #: call ``authorize_delivery`` for every copy (an ACL with read rules turns it on).
        self.check_deliveries = False
        self.stats = {
            "messages_received": 0,
            "messages_sent": 0,
            "messages_dropped": 0,
            "clients_connected": 0,
            "clients_total": 0,
        }

    # ---- hooks ---------------------------------------------------------------------------------

    def authenticate(self, client: Client, connect: Any) -> int:
        """0 to let ``connect`` in, else the CONNACK reason code (0x86 bad user name or password, 0x87...).

        This broker knows no enhanced authentication: a CONNECT naming an
        authentication method (MQTT 5) is refused with 0x8C [MQTT-4.12.0-1].
        """
        if connect.authentication_method is not None:
            return 0x8C
        if connect.username is None and not self.allow_anonymous:
            return 0x87
        return 0

    def authorize_publish(self, client: Client, message: Any) -> bool:
        """Whether ``client`` may publish ``message`` (refused: 5.0 acks 0x87, 3.x drops it)."""
        return True

    def authorize_subscribe(self, client: Client, subscription: Any) -> int:
        """The QoS granted to ``subscription`` (at most the one asked), or a reason code >= 0x80."""
        return int(subscription.qos)

    def authorize_delivery(self, client_id: str, message: Any) -> bool:
        """Whether the session ``client_id`` may receive ``message``; asked only when ``check_deliveries``."""
        return True

    def on_message(self, client: Client | None, message: Any) -> Any:
        """Observe or rewrite a message before it is routed; None drops it. ``client`` is None for wills."""
        return message

    # ---- connections -----------------------------------------------------------------------------

    def new_connection(
        self,
        write: Callable[[list[Any]], None],
        close: Callable[[], None],
        address: Any = None,
    ) -> Client:
        """A ``Client`` with a fresh ``ServerConnection`` for a network connection just accepted."""
        self.stats["clients_total"] += 1
        client = self.client_class(
            mqttfast.ServerConnection(**self.connection_options), write, close, address
        )
        self.connecting[client] = None
        return client

    def _internal_error(self, client: Client) -> None:
        # A bug of ours (a hook that raised, say) must cost this client its connection, not the
        # broker its loop: log it once, say 0x83 in 5.0, close.
        log.exception("Internal error on client %s, disconnecting.", client.client_id or "<unknown>")
        client.connection.disconnect(0x83)

    def connection_lost(self, client: Client, now: float) -> None:
        """``client``'s socket closed."""
        self.connecting.pop(client, None)
        events = client.connection.connection_lost()
        self._handle(client, events, now)
        self._forget(client, now)

    def tick(self, now: float) -> None:
        """Run every due deadline: keep alive of the connections, wills and expiry of the sessions."""
        for client in list(self.clients.values()):
            self._tick_connection(client, now)
        for client in list(self.connecting):
            self._tick_connection(client, now)
            if client.connection.closed:
                del self.connecting[client]
        for session in list(self.sessions.values()):
            deadline = session.next_deadline()
            if deadline is not None and deadline <= now:
                self._session_events(session.handle_timeout(now), now)

    def _tick_connection(self, client: Client, now: float) -> None:
        connection = client.connection
        deadline = connection.next_deadline()
        if deadline is not None and deadline <= now:
            events = connection.handle_timeout(now)
            if events:
                self._handle(client, events, now)
            self.dirty[client] = None

    # ---- events ----------------------------------------------------------------------------------

    def _handle(self, client: Client, events: list[Any], now: float) -> None:
        plain = self._plain_publish()  # once per read, not per message
        # The copies of each topic routed in this read (``_plan``): a read carries many messages
        # to a few topics, and until another kind of event comes (a SUBSCRIBE, a DISCONNECT...)
        # nothing that decides where they go can change.
        plans: dict[str, list[Any] | None] = {}
        # A read of one message (a low rate) would use its plan once: routing it is cheaper.
        single = len(events) == 1
        received = sent = 0
        try:
            for event in events:
                kind = type(event)
                # The two kinds that come once per message first: an ack of a delivery needs nothing.
                if kind is _PublishCompleted:
                    continue
                if kind is _MessageReceived:
                    if not plain:
                        self._publish(client, event, now)
                        continue
                    # _publish without the hooks that would say yes (its rules, inline).
                    received += 1
                    message = event.message
                    topic = message.topic
                    plan = plans.get(topic, _UNPLANNED)
                    if plan is _UNPLANNED:
                        if topic.startswith("$SYS"):
                            continue
                        if single:
                            self.route(message, client.client_id, now)
                            continue
                        plan = plans[topic] = self._plan(topic, client.client_id)
                    if plan is None or message.retain or message.message_expiry_interval is not None:
                        self.route(message, client.client_id, now)
                        continue
                    for deliver, qos in plan:
                        deliver(message, qos)
                    sent += len(plan)
                    continue
                if plans:
                    plans = {}
                if kind is mqttfast.ConnectRequested:
                    self._connect(client, event, now)
                elif kind is mqttfast.SubscribeRequested:
                    self._subscribe(client, event, now)
                elif kind is mqttfast.UnsubscribeRequested:
                    self._unsubscribe(client, event)
                elif kind is mqttfast.Disconnected:
                    _log_disconnect(client, event)
                    self._forget(client, now)
        finally:
            stats = self.stats
            stats["messages_received"] += received
            stats["messages_sent"] += sent

    def _plan(self, topic: str, publisher: str) -> list[Any] | None:
        """The copies ``route`` would make of a plain message to ``topic``: (deliver, QoS) each, or
        None when one needs more than that (a shared or overlapping subscription, a client away or
        slow, a subscription identifier, Retain As Published, deliveries checked one by one).

        The clients of the plan are marked for this pass's flush here, once.
        """
        if self._shared_count or self.check_deliveries:
            return None
        records = self.matcher.match(topic)
        if len(records) > 1 and len({r.client_id for r in records}) != len(records):
            return None
        clients = self.clients
        dirty = self.dirty
        plan = []
        for record in records:
            client_id = record.client_id
            if record.no_local and client_id == publisher:
                continue
            client = clients.get(client_id)
            if (
                client is None
                or client.paused
                or client.connection.closed
                or record.identifiers is not None
                or record.retain_as_published
            ):
                return None
            plan.append((client.connection.deliver, record.qos))
            dirty[client] = None
        return plan

    def _connect(self, client: Client, event: Any, now: float) -> None:
        connection = client.connection
        if connection.closed:
            # A violation read in the same buffer as the CONNECT closed the connection before
            # this event reached us (session layer): there is nothing left to accept or refuse.
            return
        code = self.authenticate(client, event.packet)
        if code:
            connection.reject(code)
            client.logged_out = True
            log.info(
                "Client %s disconnected, not authorised.",
                event.client_id or "<unknown>",
            )
            return
        client_id = event.client_id
        client.client_id = client_id
        client.username = event.packet.username
        existing = self.clients.get(client_id)
        if existing is not None and existing is not client:
            # Takeover [MQTT-3.1.4-3]: the old connection gets 0x8E and goes; its will may fire.
            log.info("Client %s already connected, closing old connection.", client_id)
            existing.logged_out = True
            existing.connection.disconnect(0x8E)
            self.dirty[existing] = None
            self._forget(existing, now)
        session = self.sessions.get(client_id)
        if session is not None and event.clean_start:
            self._end_session(session, now)
            session = None
        expiry = None
        if (
            self.max_session_expiry is not None
            and connection.version == mqttfast.MQTT_5
        ):
            requested = event.packet.session_expiry_interval or 0
            if requested > self.max_session_expiry:
                expiry = self.max_session_expiry
        self._cap_keep_alive(connection, event.packet)
        pipelined = connection.accept(session, session_expiry_interval=expiry)
        connect = event.packet
        log.info(
            "New client connected from %s as %s (p%d, c%d, k%d%s).",
            _address(client.address),
            client_id,
            connection.version or 0,
            int(connect.clean_start),
            connect.keep_alive,
            f", u'{connect.username}'" if connect.username is not None else "",
        )
        self.sessions[client_id] = connection.session
        self.clients[client_id] = client
        self.connecting.pop(client, None)
        self.stats["clients_connected"] += 1
        if pipelined:
            self._handle(client, pipelined, now)

    def _cap_keep_alive(self, connection: Any, connect: Any) -> None:
        # ``server_keep_alive`` is a ceiling, as mosquitto's max_keepalive (and the interoperability
        # suites) read it: an MQTT 5 client asking for 0 or more is told the ceiling, one asking for
        # less keeps its own. 3.x has no Server Keep Alive: its client's value stands. The connection
        # would impose the option on every client of every version, so it is set per connection.
        ceiling = self.connection_options.get("server_keep_alive")
        if ceiling is None:
            return
        five = connection.version == mqttfast.MQTT_5
        asked = connect.keep_alive
        connection.server_keep_alive = (
            ceiling if five and (asked == 0 or asked > ceiling) else None
        )

    def _forget(self, client: Client, now: float) -> None:
        client_id = client.client_id
        if not client_id or self.clients.get(client_id) is not client:
            return
        del self.clients[client_id]
        self.stats["clients_connected"] -= 1
        session = self.sessions.get(client_id)
        if session is not None and session is client.connection.session:
            if self.store is not None:
                self.store.session_changed(client_id)
            self._session_events(session.detach(now), now)

    def _end_session(self, session: Any, now: float) -> None:
        self._session_events(session.end(), now)

    def _session_events(self, events: list[Any], now: float) -> None:
        for event in events:
            if self.store is not None:
                self.store.session_changed(event.client_id)
            if type(event) is mqttfast.WillPublished:
                message = self.on_message(None, event.message)
                if message is not None:
                    self.route(message, event.client_id, now)
            elif type(event) is mqttfast.SessionExpired:
                self._drop_session(event.client_id)

    def _drop_session(self, client_id: str) -> None:
        session = self.sessions.pop(client_id, None)
        if session is None:
            return
        for topic_filter, record in self._subscriptions.pop(client_id, {}).items():
            self._unsubscribe_record(topic_filter, record)

    # ---- messages --------------------------------------------------------------------------------

    def _publish(self, client: Client, event: Any, now: float) -> None:
        message = event.message
        self.stats["messages_received"] += 1
        # $SYS/ is the broker's own (§4.7.2): no client writes there, whatever the hooks say.
        if message.topic.startswith("$SYS") or not self.authorize_publish(
            client, message
        ):
            self._refuse_ack(client, event)
            return
        if not self.auto_ack:
            client.connection.ack(event)
        message = self.on_message(client, message)
        if message is None:
            return
        self.route(message, client.client_id, now)

    def _refuse_ack(self, client: Client, event: Any) -> None:
        # With automatic acks the PUBACK is already queued; a refusing broker runs with auto_ack=False
        # (3.x has no refusal code: the connection sends a plain ack [MQTT-3.3.5-2 of 3.1.1]).
        if not self.auto_ack:
            client.connection.ack(event, 0x87)

    def route(self, message: Any, publisher: str | None, now: float) -> int:
        """Deliver ``message`` to every matching session (and keep it if retained); the copies made."""
        topic = message.topic
        expires_at = None
        if message.message_expiry_interval is not None:
            expires_at = now + message.message_expiry_interval
        if message.retain:
            kept = self.retained.set(message, expires_at)
            if kept and self.store is not None:
                self.store.retained_changed(message, expires_at)
        records = self.matcher.match(topic)
        if not self._shared_count and (
            len(records) < 2 or len({r.client_id for r in records}) == len(records)
        ):
            # The common case (``BrokerCore._deliver_each``): each record is one copy.
            return self._deliver_each(records, message, publisher, expires_at, now)
        targets: dict[str, list[Any]] = {}
        for record in records:
            if record.no_local and record.client_id == publisher:
                continue
            found = targets.get(record.client_id)
            if found is None:
                targets[record.client_id] = [record]
            else:
                found.append(record)
        for group_members in self.matcher.match_shared(topic).values():
            member = self._pick_member(group_members)
            if member is not None:
                found = targets.get(member.client_id)
                if found is None:
                    targets[member.client_id] = [member]
                else:
                    found.append(member)
        copies = 0
        for client_id, records in targets.items():
            if self._deliver(client_id, records, message, expires_at, now):
                copies += 1
        self.stats["messages_sent"] += copies
        return copies

    def _pick_member(self, members: list[Any]) -> _Subscription | None:
        connected = [member for member in members if member.client_id in self.clients]
        pool = connected or members
        if not pool:
            return None
        return pool[next(self._share_turn) % len(pool)]  # type: ignore[no-any-return]

    def _deliver(
        self,
        client_id: str,
        records: Sequence[Any],
        message: Any,
        expires_at: float | None,
        now: float,
    ) -> bool:
        if self.check_deliveries and not self.authorize_delivery(client_id, message):
            return False
        if len(records) == 1:
            record = records[0]
            qos = record.qos
            rap = record.retain_as_published
            identifiers = record.identifiers
        else:
            qos = max(record.qos for record in records)
            rap = any(record.retain_as_published for record in records)
            identifiers = [
                record.identifier for record in records if record.identifier
            ] or None
        client = self.clients.get(client_id)
        if client is not None and client.paused:
            return self._deliver_to_slow_consumer(
                client, qos, rap, identifiers, message, expires_at, now
            )
        if client is not None and not client.connection.closed:
            client.connection.deliver(
                message,
                qos,
                retain_as_published=rap,
                subscription_identifiers=identifiers,
                expires_at=expires_at,
            )
            self.dirty[client] = None
            return True
        session = self.sessions.get(client_id)
        if session is None:
            return False
        granted: int = min(qos, message.qos)
        before = session.dropped
        session.enqueue(
            message, granted, bool(rap and message.retain), identifiers, expires_at
        )
        if granted and self.store is not None:
            self.store.session_changed(client_id)
        if session.dropped != before:
            self.stats["messages_dropped"] += 1
            return False
        return granted > 0

    def _deliver_to_slow_consumer(
        self,
        client: Client,
        qos: int,
        rap: bool,
        identifiers: Any,
        message: Any,
        expires_at: float | None,
        now: float,
    ) -> bool:
        # A client that reads slower than it is sent to: QoS 0 is dropped first, QoS 1/2 waits in
        # its session, and when that queue is full too the client goes (0x97 Quota exceeded).
        granted = min(qos, message.qos)
        if not granted:
            self.stats["messages_dropped"] += 1
            return False
        session = client.connection.session
        before = session.dropped
        session.enqueue(
            message, granted, bool(rap and message.retain), identifiers, expires_at
        )
        if self.store is not None:
            self.store.session_changed(client.client_id)
        if session.dropped != before:
            self.stats["messages_dropped"] += 1
            log.warning(
                "Client %s is too slow: disconnecting (quota exceeded).",
                client.client_id,
            )
            client.connection.disconnect(0x97)
            self.dirty[client] = None
            # Gone for routing now, not when its socket finally closes (it may never drain): the
            # session detaches, its will may fire, and further messages wait in the session.
            self._forget(client, now)
            return False
        return True

    def resumed(self, client: Client) -> None:
        """``client``'s transport drained below its low-water mark: send what waited in its session."""
        if not client.connection.closed:
            client.connection._send_waiting()
            self.dirty[client] = None

    # ---- subscriptions ---------------------------------------------------------------------------

    def _subscribe(self, client: Client, event: Any, now: float) -> None:
        connection = client.connection
        codes = [
            0x8F
            if self._too_deep(subscription.topic_filter)
            else self.authorize_subscribe(client, subscription)
            for subscription in event.subscriptions
        ]
        session = connection.session
        new = [
            subscription.topic_filter not in session.subscriptions
            for subscription in event.subscriptions
        ]
        connection.suback(event, codes)
        for subscription, is_new in zip(event.subscriptions, new):
            granted = session.subscriptions.get(subscription.topic_filter)
            if granted is None:
                continue
            options, identifier = granted
            self._add_subscription(client.client_id, options, identifier)
            self._send_retained(client, options, identifier, is_new, now)

    def _too_deep(self, topic_filter: str) -> bool:
        # The matcher refuses a filter of more levels than its max_levels (each level is a node):
        # refused in the SUBACK (0x8F Topic Filter invalid) rather than raised after granting it.
        levels = topic_filter.count("/") + 1
        if topic_filter.startswith("$share/"):
            levels -= 2
        return levels > self.matcher.max_levels

    def _add_subscription(
        self, client_id: str, options: Any, identifier: int | None
    ) -> None:
        records = self._subscriptions.setdefault(client_id, {})
        old = records.get(options.topic_filter)
        if old is not None:
            self._unsubscribe_record(options.topic_filter, old)
        record = self.subscription_class(client_id, options, identifier)
        records[options.topic_filter] = record
        self.matcher.subscribe(options.topic_filter, record)
        if options.topic_filter.startswith("$share/"):
            self._shared_count += 1

    def _unsubscribe_record(self, topic_filter: str, record: _Subscription) -> None:
        if self.matcher.unsubscribe(topic_filter, record) and topic_filter.startswith("$share/"):
            self._shared_count -= 1

    def _remove_subscription(self, client_id: str, topic_filter: str) -> None:
        record = self._subscriptions.get(client_id, {}).pop(topic_filter, None)
        if record is not None:
            self._unsubscribe_record(topic_filter, record)

    def _send_retained(
        self,
        client: Client,
        options: Any,
        identifier: int | None,
        is_new: bool,
        now: float,
    ) -> None:
        if options.retain_handling == 2 or (
            options.retain_handling == 1 and not is_new
        ):
            return
        if options.topic_filter.startswith("$share/"):
            return  # never on a shared subscription (§4.8.2)
        identifiers = [identifier] if identifier else None
        for message, expires_at in self.retained.match(options.topic_filter, now):
            if self.check_deliveries and not self.authorize_delivery(
                client.client_id, message
            ):
                continue
            client.connection.deliver(
                message,
                options.qos,
                retained=True,
                subscription_identifiers=identifiers,
                expires_at=expires_at,
            )

    def _unsubscribe(self, client: Client, event: Any) -> None:
        connection = client.connection
        connection.unsuback(event)
        session = connection.session
        for topic_filter in event.topic_filters:
            if topic_filter not in session.subscriptions:
                self._remove_subscription(client.client_id, topic_filter)


def _log_disconnect(client: Client, event: Any) -> None:
    """One line on why ``client`` went, in mosquitto's words."""
    if client.logged_out:
        return
    client.logged_out = True
    name = client.client_id or "<unknown>"
    if event.by_peer:
        if event.packet is not None:
            log.info("Client %s disconnected.", name)
        else:
            log.info("Client %s closed its connection.", name)
    elif isinstance(event.error, mqttfast.KeepAliveTimeout):
        log.info("Client %s has exceeded timeout, disconnecting.", name)
    else:
        log.info("Client %s disconnected due to protocol error.", name)


def _address(peer: Any) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)


class Broker(BrokerRules, BrokerCore):
    # The rules above, on the twin's core: ``data_received``, ``flush`` and the plain case of
    # ``route`` (``_deliver_each``) are ``BrokerCore``'s (``mqttfast/_broker_py.py`` reads as their
    # specification). Tests build a ``Broker`` on each twin the same way (tests/test_broker_twins.py).
    __doc__ = BrokerRules.__doc__
