"""mosquitto's ``password_file`` and ``acl_file``, read as mosquitto 2 reads them, and their checks.

Password file: one ``user:hash`` a line, ``#`` starts a comment. The hash is
``$7$<iterations>$<salt, base64>$<hash, base64>`` (PBKDF2-HMAC-SHA512, as
``mosquitto_passwd`` of mosquitto 2 writes it) or ``$6$<salt>$<hash>`` (one
SHA-512 of the password followed by the salt, mosquitto 1.x). Users whose
line has no hash are refused.

ACL file: ``topic [read|write|readwrite|deny] <topic>`` lines before any
``user <name>`` line apply to anonymous clients, those after it to that
user; ``pattern [read|write|readwrite|deny] <topic>`` lines apply to
everyone, with ``%c`` replaced by the client id and ``%u`` by the user name.
For each check, the client's own rules are tried, then the patterns; in each
list the ``deny`` rules come first; the first rule that matches decides, and
no match means denied. ``read`` covers subscribing and receiving, ``write``
publishing. A subscription is allowed when its filter lies inside a rule's
topic (``a/#`` covers ``a/+/b``, ``a/+`` does not cover ``a/#``); a topic
starting with ``$`` needs a rule starting with ``$``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["READ", "WRITE", "AccessList", "FileAuth", "PasswordFile"]

#: Access bits of an ACL rule; a rule with no bit is a ``deny``.
READ = 1
WRITE = 2

_ACCESS = {"read": READ, "write": WRITE, "readwrite": READ | WRITE, "deny": 0}

#: mosquitto refuses a pattern check for a client id or user name with these in it:
#: substituted into a topic they would widen the rule.
_UNSAFE_IN_PATTERNS = ("+", "#")


class PasswordFile:
    """The users and password hashes of a mosquitto password file."""

    def __init__(self, hashes: dict[str, str]) -> None:
        self.hashes = hashes

    @classmethod
    def load(cls, path: str | Path) -> PasswordFile:
        """Read ``path``; a line without ``:`` is an error (``ValueError`` naming the line)."""
        hashes: dict[str, str] = {}
        text = Path(path).read_text(encoding="utf-8")
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.rstrip("\r\n")
            if not line.strip() or line.startswith("#"):
                continue
            user, colon, hashed = line.partition(":")
            if not colon or not user:
                raise ValueError(f"{path}:{number}: expected user:hash")
            hashes[user] = hashed.strip()
        return cls(hashes)

    def check(self, username: str, password: bytes | None) -> bool:
        """Whether ``password`` is ``username``'s."""
        hashed = self.hashes.get(username)
        if hashed is None or password is None:
            return False
        return verify(hashed, password)


def verify(hashed: str, password: bytes) -> bool:
    """Whether ``password`` matches a mosquitto ``$6$`` or ``$7$`` hash (constant-time compare)."""
    fields = hashed.split("$")
    try:
        if len(fields) == 5 and fields[1] == "7":
            iterations = int(fields[2])
            salt = base64.b64decode(fields[3], validate=True)
            expected = base64.b64decode(fields[4], validate=True)
            if iterations < 1:
                return False
            computed = hashlib.pbkdf2_hmac(
                "sha512", password, salt, iterations, len(expected) or None
            )
        elif len(fields) == 4 and fields[1] == "6":
            salt = base64.b64decode(fields[2], validate=True)
            expected = base64.b64decode(fields[3], validate=True)
            computed = hashlib.sha512(password + salt).digest()
        else:
            return False
    except (ValueError, binascii.Error):
        return False
    return bool(expected) and hmac.compare_digest(computed, expected)


class _Rule:
    __slots__ = ("access", "levels", "topic")

    def __init__(self, topic: str, access: int) -> None:
        self.topic = topic
        self.access = access
        self.levels = topic.split("/")


def _deny_first(rules: Iterable[_Rule]) -> list[_Rule]:
    return sorted(rules, key=lambda rule: rule.access != 0)


class AccessList:
    """The rules of a mosquitto ACL file: ``anonymous``, ``users`` (name -> rules), ``patterns``."""

    def __init__(
        self,
        anonymous: list[_Rule],
        users: dict[str, list[_Rule]],
        patterns: list[_Rule],
    ) -> None:
        self.anonymous = _deny_first(anonymous)
        self.users = {name: _deny_first(rules) for name, rules in users.items()}
        self.patterns = _deny_first(patterns)

    @classmethod
    def load(cls, path: str | Path) -> AccessList:
        """Read ``path``; an unknown keyword or access is a ``ValueError`` naming the line."""
        return cls.parse(Path(path).read_text(encoding="utf-8"), str(path))

    @classmethod
    def parse(cls, text: str, name: str = "<acl>") -> AccessList:
        anonymous: list[_Rule] = []
        users: dict[str, list[_Rule]] = {}
        patterns: list[_Rule] = []
        current = anonymous
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            keyword, _, rest = line.partition(" ")
            rest = rest.strip()
            if keyword == "user":
                if not rest:
                    raise ValueError(f"{name}:{number}: user needs a name")
                current = users.setdefault(rest, [])
            elif keyword in ("topic", "pattern"):
                access_word, _, topic = rest.partition(" ")
                if access_word in _ACCESS and topic.strip():
                    access = _ACCESS[access_word]
                    topic = topic.strip()
                else:  # no access word: read and write, the whole rest is the topic
                    access, topic = READ | WRITE, rest
                if not topic:
                    raise ValueError(f"{name}:{number}: {keyword} needs a topic")
                rule = _Rule(topic, access)
                (patterns if keyword == "pattern" else current).append(rule)
            else:
                raise ValueError(f"{name}:{number}: unknown keyword {keyword!r}")
        return cls(anonymous, users, patterns)

    def allowed(
        self,
        client_id: str,
        username: str | None,
        topic: str,
        access: int,
        *,
        subscription: bool = False,
    ) -> bool:
        """Whether the client may ``access`` (READ or WRITE) ``topic`` (a filter when ``subscription``)."""
        levels = topic.split("/")
        rules = self.anonymous if username is None else self.users.get(username, ())
        decided = _decide(rules, topic, levels, access, subscription)
        if decided is not None:
            return decided
        if not self.patterns:
            return False
        if any(c in client_id for c in _UNSAFE_IN_PATTERNS) or (
            username is not None and any(c in username for c in _UNSAFE_IN_PATTERNS)
        ):
            return False
        substituted = []
        for rule in self.patterns:
            if "%u" in rule.topic and username is None:
                continue
            text = rule.topic.replace("%c", client_id)
            if username is not None:
                text = text.replace("%u", username)
            substituted.append(_Rule(text, rule.access))
        return bool(_decide(substituted, topic, levels, access, subscription))


def _decide(
    rules: Iterable[_Rule],
    topic: str,
    levels: list[str],
    access: int,
    subscription: bool,
) -> bool | None:
    dollar = topic.startswith("$")
    match = _filter_within if subscription else _topic_matches
    for rule in rules:
        if dollar and not rule.topic.startswith("$"):
            continue
        if match(rule.levels, levels):
            if not rule.access:
                return False
            if rule.access & access:
                return True
    return None


def _topic_matches(pattern: list[str], topic: list[str]) -> bool:
    """Whether the filter ``pattern`` matches the topic name ``topic`` (both split on ``/``)."""
    for index, level in enumerate(pattern):
        if level == "#":
            return True
        if index >= len(topic):
            return False
        if level != "+" and level != topic[index]:
            return False
    return len(pattern) == len(topic)


def _filter_within(pattern: list[str], topic_filter: list[str]) -> bool:
    """Whether every topic ``topic_filter`` matches is matched by ``pattern``."""
    for index, level in enumerate(pattern):
        if level == "#":
            return True
        if index >= len(topic_filter):
            return False
        wanted = topic_filter[index]
        if wanted == "#":
            return False  # only a "#" covers a "#"
        if level == "+":
            continue
        if wanted == "+" or level != wanted:
            return False
    return len(pattern) == len(topic_filter)


class FileAuth:
    """Hooks for a ``Broker`` from a password file and an ACL, either optional.

    ``install(broker)`` puts ``authenticate``, ``authorize_publish``,
    ``authorize_subscribe`` and ``authorize_delivery`` on the broker. With an
    ACL, the broker must run with ``auto_ack=False`` so a refused QoS 1/2
    publish can be answered 0x87.
    """

    def __init__(
        self,
        passwords: PasswordFile | None = None,
        acl: AccessList | None = None,
        *,
        allow_anonymous: bool = True,
    ) -> None:
        self.passwords = passwords
        self.acl = acl
        self.allow_anonymous = allow_anonymous
        #: client id -> user name, for the deliveries to sessions whose client is away.
        self.usernames: dict[str, str | None] = {}

    def install(self, broker: Any) -> None:
        broker.authenticate = self.authenticate
        broker.allow_anonymous = self.allow_anonymous
        if self.acl is not None:
            broker.authorize_publish = self.authorize_publish
            broker.authorize_subscribe = self.authorize_subscribe
            broker.authorize_delivery = self.authorize_delivery
            broker.check_deliveries = True

    def authenticate(self, client: Any, connect: Any) -> int:
        username = connect.username
        if username is None:
            return 0 if self.allow_anonymous else 0x87
        if self.passwords is not None:
            password = connect.password
            if isinstance(password, str):
                password = password.encode()
            elif password is not None:
                password = bytes(password)
            if not self.passwords.check(username, password):
                return 0x86
        return 0

    def authorize_publish(self, client: Any, message: Any) -> bool:
        assert self.acl is not None
        return self.acl.allowed(client.client_id, client.username, message.topic, WRITE)

    def authorize_subscribe(self, client: Any, subscription: Any) -> int:
        assert self.acl is not None
        self.usernames[client.client_id] = client.username
        topic_filter = subscription.topic_filter
        if topic_filter.startswith("$share/"):
            # The filter proper is what the client reads: "$share/<group>/<filter>".
            topic_filter = topic_filter.split("/", 2)[2] if topic_filter.count("/") >= 2 else ""
        if self.acl.allowed(
            client.client_id, client.username, topic_filter, READ, subscription=True
        ):
            return int(subscription.qos)
        # 0x80 (Unspecified error) in both versions, not 5.0's 0x87 (Not authorized) as mosquitto 2
        # answers: the Eclipse interoperability suite, run with an ACL refusing test/nosubscribe,
        # accepts only 0x80. A broker subclass may return 0x87 from its own authorize_subscribe.
        return 0x80

    def authorize_delivery(self, client_id: str, message: Any) -> bool:
        """Whether the session ``client_id`` may receive ``message`` (``read`` on its topic)."""
        assert self.acl is not None
        if client_id not in self.usernames:
            return True  # subscribed before this ACL knew it (a restored session): granted then
        return self.acl.allowed(client_id, self.usernames[client_id], message.topic, READ)
