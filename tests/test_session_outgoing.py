"""``Outgoing``, the session entry: its two twins behave alike, and the session hands out the compiled one."""

import collections
import copy
import pickle

import pytest
from mqttfast import _outgoing_py, _session
from mqttfast._env import compiled_twins_wanted

from .helpers.implementations import COMPILED, load_implementation

FIELDS = ("message", "qos", "retain", "subscription_identifiers", "expires_at", "sent")


@pytest.fixture(params=["compiled", "pure"])
def outgoing_class(request):
    if request.param == "pure":
        return _outgoing_py.Outgoing
    load_implementation(COMPILED)  # skips, or fails when required, without the compiled twins
    from mqttfast import _outgoing_c

    return _outgoing_c.Outgoing


def test_fields_and_defaults(api, outgoing_class):
    message = api.Publish(topic="a/b", payload=b"x", qos=1)
    entry = outgoing_class(message, 1, True)
    assert [getattr(entry, name) for name in FIELDS] == [message, 1, True, None, None, False]
    entry = outgoing_class(message, 2, False, [4, 5], 12.5)
    assert (entry.subscription_identifiers, entry.expires_at) == ([4, 5], 12.5)
    entry.sent = True
    assert entry.sent is True


def test_repr(api, outgoing_class):
    entry = outgoing_class(api.Publish(topic="a/b", qos=1), 1, False, None, 3.0)
    assert repr(entry) == "Outgoing(topic='a/b', qos=1, retain=False, sent=False, expires_at=3.0)"


def test_same_fields_in_both_twins(outgoing_class):
    # The pure twin's __slots__ is the one list of fields; the compiled twin has each, and no more.
    assert sorted(_outgoing_py.Outgoing.__slots__) == sorted(FIELDS)
    entry = outgoing_class(None, 0, False)
    for name in FIELDS:
        assert hasattr(entry, name)
    with pytest.raises(AttributeError):
        entry.other = 1


def test_pickle_and_copy_keep_every_field(api, outgoing_class):
    entry = outgoing_class(api.Publish(topic="t", payload=b"p", qos=2), 2, True, [9], 40.0)
    entry.sent = True
    for clone in (pickle.loads(pickle.dumps(entry)), copy.deepcopy(entry)):
        assert type(clone) is outgoing_class
        assert [getattr(clone, name) for name in FIELDS[1:]] == [2, True, [9], 40.0, True]
        assert clone.message == entry.message


def test_session_hands_out_the_compiled_twin_when_in_use():
    try:
        from mqttfast import _outgoing_c
    except ImportError:
        expected = _outgoing_py.Outgoing
    else:
        expected = _outgoing_c.Outgoing if compiled_twins_wanted() else _outgoing_py.Outgoing
    assert _session.Outgoing is expected


def test_held_publishes_go_through_a_subclass_publish(api):
    # The compiled twin's _publish_held publishes in C unless the class has its own publish().
    topics = []

    class Counted(api.ClientConnection):
        def publish(self, topic, *args, **kwargs):
            topics.append(topic)
            return super().publish(topic, *args, **kwargs)

    class Pending:
        def done(self):
            return False

        def set_exception(self, error):
            raise AssertionError(error)

    client = Counted(5)
    client.connect("c1", keep_alive=0)
    client.data_to_send()
    client.receive_data(api.encode(api.Connack(), 5))
    awaited = {}
    client._publish_held(collections.deque([Pending()]), collections.deque([("t/a", b"x", 1, False, None)]), awaited)
    assert topics == ["t/a"] and list(awaited) == [1]
