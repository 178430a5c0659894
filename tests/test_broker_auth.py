"""mosquitto's password and ACL files: the checks alone, then through a running broker and paho."""

import base64
import hashlib
import subprocess

import pytest

from mqttfast.broker._auth import READ, WRITE, AccessList, PasswordFile, verify

from .helpers.broker_process import TIMEOUT, BrokerProcess, close_client, paho_client

ACL = """\
# anonymous clients
topic read public/#
topic readwrite test/#
topic deny test/secret

user alice
topic readwrite #
topic deny private/bob/#

user bob
topic write private/bob/#

pattern readwrite clients/%c/#
pattern read users/%u/inbox
"""


def pbkdf2_line(user, password, salt=b"0123456789ab", iterations=101):
    digest = hashlib.pbkdf2_hmac("sha512", password, salt, iterations)
    return f"{user}:$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}\n"


def sha512_line(user, password, salt=b"saltsaltsalt"):
    digest = hashlib.sha512(password + salt).digest()
    return f"{user}:$6${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}\n"


# ---- the files alone -----------------------------------------------------------------------------


def test_both_hash_formats_accept_the_password_and_refuse_others(tmp_path):
    path = tmp_path / "passwords"
    path.write_text("# comment\n" + pbkdf2_line("alice", b"s3cret") + sha512_line("bob", b"hunter2") + "eve:\n")
    passwords = PasswordFile.load(path)
    assert passwords.check("alice", b"s3cret")
    assert not passwords.check("alice", b"s3cret ")
    assert passwords.check("bob", b"hunter2")
    assert not passwords.check("bob", b"s3cret")
    assert not passwords.check("eve", b"")  # a user without a hash never gets in
    assert not passwords.check("mallory", b"s3cret")
    assert not passwords.check("alice", None)


@pytest.mark.parametrize(
    "hashed",
    ["$7$0$AAAA$AAAA", "$7$x$AAAA$AAAA", "$7$10$!!$AAAA", "$6$AAAA", "$5$AAAA$AAAA", "plain", "$7$10$AAAA$"],
)
def test_malformed_hashes_refuse_everything(hashed):
    assert not verify(hashed, b"")
    assert not verify(hashed, b"AAAA")


def test_a_password_file_line_without_a_colon_names_the_line(tmp_path):
    path = tmp_path / "passwords"
    path.write_text(pbkdf2_line("alice", b"x") + "nocolon\n")
    with pytest.raises(ValueError, match=":2:"):
        PasswordFile.load(path)


def test_anonymous_rules_come_before_the_first_user_line():
    acl = AccessList.parse(ACL)
    assert acl.allowed("c", None, "public/news", READ)
    assert not acl.allowed("c", None, "public/news", WRITE)
    assert acl.allowed("c", None, "test/a", WRITE)
    assert not acl.allowed("c", None, "other", READ)
    # A user's rules are not the anonymous ones.
    assert not acl.allowed("c", "bob", "public/news", READ)


def test_deny_rules_win_whatever_their_place_in_the_file():
    acl = AccessList.parse(ACL)
    assert not acl.allowed("c", None, "test/secret", WRITE)
    assert not acl.allowed("c", None, "test/secret", READ)
    assert acl.allowed("c", "alice", "private/alice/x", WRITE)
    assert not acl.allowed("c", "alice", "private/bob/x", READ)


def test_read_and_write_are_separate():
    acl = AccessList.parse(ACL)
    assert acl.allowed("c", "bob", "private/bob/x", WRITE)
    assert not acl.allowed("c", "bob", "private/bob/x", READ)


def test_patterns_substitute_client_id_and_user_name_for_everyone():
    acl = AccessList.parse(ACL)
    assert acl.allowed("dev1", None, "clients/dev1/state", WRITE)
    assert not acl.allowed("dev1", None, "clients/dev2/state", WRITE)
    assert acl.allowed("dev1", "bob", "users/bob/inbox", READ)
    assert not acl.allowed("dev1", "bob", "users/alice/inbox", READ)
    assert not acl.allowed("dev1", None, "users/%u/inbox", READ)  # %u never matches anonymous clients
    # A client id with a wildcard would widen the rule: mosquitto refuses it.
    assert not acl.allowed("+", None, "clients/x/state", WRITE)


def test_a_subscription_must_lie_inside_a_rule():
    acl = AccessList.parse(ACL)
    assert acl.allowed("c", None, "public/+/x", READ, subscription=True)
    assert acl.allowed("c", None, "public/#", READ, subscription=True)
    assert not acl.allowed("c", None, "#", READ, subscription=True)
    narrow = AccessList.parse("topic read a/+\n")
    assert narrow.allowed("c", None, "a/b", READ, subscription=True)
    assert narrow.allowed("c", None, "a/+", READ, subscription=True)
    assert not narrow.allowed("c", None, "a/#", READ, subscription=True)
    assert not narrow.allowed("c", None, "a/b/c", READ, subscription=True)


def test_dollar_topics_need_a_rule_that_starts_with_dollar():
    acl = AccessList.parse("topic read #\ntopic read $SYS/broker/#\n")
    assert acl.allowed("c", None, "anything", READ)
    assert not acl.allowed("c", None, "$other/x", READ)
    assert acl.allowed("c", None, "$SYS/broker/uptime", READ)


def test_no_access_word_means_read_and_write_and_a_bad_keyword_is_an_error():
    acl = AccessList.parse("topic a/b\n")
    assert acl.allowed("c", None, "a/b", READ) and acl.allowed("c", None, "a/b", WRITE)
    with pytest.raises(ValueError, match="<acl>:2"):
        AccessList.parse("topic a\ntopik b\n")


# ---- through the broker ---------------------------------------------------------------------------


@pytest.fixture
def secured(tmp_path):
    (tmp_path / "acl").write_text(ACL)
    (tmp_path / "passwords").write_text(pbkdf2_line("alice", b"s3cret") + sha512_line("bob", b"hunter2"))
    args = ["--port", "0", "--sys-interval", "0", "--acl-file", "acl", "--password-file", "passwords"]
    with BrokerProcess(*args, cwd=tmp_path) as broker:
        yield broker


@pytest.mark.peer
def test_a_wrong_password_gets_0x86_and_a_right_one_gets_in(secured):
    client, result = paho_client(secured.port, "alice-wrong", username="alice", password="nope")
    close_client(client)
    assert result["rc"] == 0x86
    client, result = paho_client(secured.port, "alice-right", username="alice", password="s3cret")
    close_client(client)
    assert result["rc"] == 0
    assert secured.wait_for_line("alice-wrong disconnected, not authorised.") is not None


@pytest.mark.peer
def test_no_anonymous_refuses_clients_without_a_user_name_with_0x87():
    with BrokerProcess("--port", "0", "--sys-interval", "0", "--no-anonymous") as broker:
        client, result = paho_client(broker.port, "anonymous")
        close_client(client)
        assert result["rc"] == 0x87
        client, result = paho_client(broker.port, "named", username="someone")
        close_client(client)
        assert result["rc"] == 0


@pytest.mark.peer
def test_acl_refusals_in_suback_and_puback_and_on_delivery(secured):
    from paho.mqtt import client as mqtt

    subscriber, sub = paho_client(secured.port, "reader")
    publisher, pub = paho_client(secured.port, "writer", username="alice", password="s3cret")
    old, old_result = paho_client(secured.port, "old-reader", protocol=mqtt.MQTTv311)
    try:
        subscriber.subscribe([("test/#", 1), ("other/#", 1)])
        assert sub["suback"].get(timeout=TIMEOUT) == [1, 0x80]
        old.subscribe("other/#", 1)
        assert old_result["suback"].get(timeout=TIMEOUT) == [0x80]
        # Anonymous publishers write test/# but not test/secret nor other/.
        anonymous, anonymous_result = paho_client(secured.port, "anonymous-writer")
        anonymous.publish("other/x", b"no", qos=1)
        assert anonymous_result["puback"].get(timeout=TIMEOUT) == 0x87
        anonymous.publish("test/secret", b"no", qos=1)
        assert anonymous_result["puback"].get(timeout=TIMEOUT) == 0x87
        anonymous.publish("test/ok", b"yes", qos=1)
        assert anonymous_result["puback"].get(timeout=TIMEOUT) == 0
        close_client(anonymous)
        # alice may write test/secret, but the anonymous reader may not read it though test/# is granted.
        publisher.publish("test/secret", b"hidden", qos=1)
        assert pub["puback"].get(timeout=TIMEOUT) == 0
        publisher.publish("test/after", b"seen", qos=1)
        assert pub["puback"].get(timeout=TIMEOUT) == 0
        got = [sub["messages"].get(timeout=TIMEOUT) for _ in range(2)]
        assert [(m.topic, m.payload) for m in got] == [("test/ok", b"yes"), ("test/after", b"seen")]
        # Nobody publishes under $SYS/, not even a user allowed everything.
        publisher.publish("$SYS/broker/uptime", b"0", qos=1)
        assert pub["puback"].get(timeout=TIMEOUT) == 0x87
    finally:
        for client in (subscriber, publisher, old):
            close_client(client)


@pytest.mark.peer
def test_a_file_written_by_mosquitto_passwd_is_read(tmp_path):
    path = tmp_path / "passwords"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(path), "carol", "pa ss:word"], check=True, timeout=TIMEOUT)
    subprocess.run(
        ["mosquitto_passwd", "-H", "sha512", "-b", str(path), "dave", "older"], check=True, timeout=TIMEOUT
    )
    text = path.read_text()
    assert "carol:$7$" in text and "dave:$6$" in text
    passwords = PasswordFile.load(path)
    assert passwords.check("carol", b"pa ss:word")
    assert not passwords.check("carol", b"pa ss:wore")
    assert passwords.check("dave", b"older")
    assert not passwords.check("dave", b"Older")


def read_packet(sock):
    """One whole packet from ``sock``: (first byte, body)."""
    first = sock.recv(1)
    length, shift = 0, 0
    while True:
        byte = sock.recv(1)[0]
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    body = b""
    while len(body) < length:
        body += sock.recv(length - len(body))
    return first[0], body


@pytest.mark.peer
def test_a_refused_qos_2_publish_gets_pubrec_0x87_and_the_flow_ends(secured):
    import socket

    with socket.create_connection(("127.0.0.1", secured.port), timeout=TIMEOUT) as sock:
        sock.sendall(b"\x10\x10\x00\x04MQTT\x05\x02\x00\x1e\x00\x00\x03raw")  # 5.0, clean start
        kind, body = read_packet(sock)
        assert (kind, body[:2]) == (0x20, b"\x00\x00")
        sock.sendall(b"\x34\x0a\x00\x04nope\x00\x01\x00x")  # QoS 2 on a topic no rule allows
        kind, body = read_packet(sock)
        assert (kind, body[:3]) == (0x50, b"\x00\x01\x87")
        sock.sendall(b"\x34\x0b\x00\x05test/\x00\x02\x00y")  # QoS 2 allowed: a plain PUBREC
        kind, body = read_packet(sock)
        assert (kind, body[:2]) == (0x50, b"\x00\x02") and body[2:3] in (b"", b"\x00")
