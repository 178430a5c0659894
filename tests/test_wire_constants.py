"""The C constants of ``_wire.pxd`` are the facts of ``_constants``, restated for the compiler only.

``_packets_c._WIRE_CONSTANTS`` holds each enum member as the compiled code sees
it; every name the ``.pxd`` declares must be there and equal its counterpart.
"""

import os
import re
from pathlib import Path

import pytest

from mqttfast import _constants
from mqttfast._constants import PacketType, PropertyId, PropertyType

WIRE_PXD = Path(__file__).resolve().parent.parent / "src" / "mqttfast" / "_wire.pxd"


def _declared_names():
    return re.findall(r"^\s+([A-Z][A-Z0-9_]*)\s*=", WIRE_PXD.read_text(), re.MULTILINE)


def _counterpart(name):
    """The ``_constants`` value a ``_wire.pxd`` name stands for."""
    prefix, _, rest = name.partition("_")
    if prefix == "T":
        return PacketType[rest]
    if prefix == "K":
        return PropertyType[rest]
    if prefix == "P":
        return PropertyId[rest]
    return getattr(_constants, name)


@pytest.fixture(scope="module")
def wire():
    try:
        from mqttfast import _packets_c
    except ImportError as exc:
        # As for every compiled test: a required build that is missing fails.
        if os.environ.get("MQTTFAST_REQUIRE_EXTENSIONS"):
            pytest.fail(f"compiled twins required but not importable: {exc}")
        pytest.skip(f"compiled twins not built: {exc}")
    return _packets_c._WIRE_CONSTANTS


def test_every_declared_constant_is_exposed(wire):
    names = _declared_names()
    assert len(names) == len(set(names)) > 0
    assert sorted(wire) == sorted(names)


@pytest.mark.parametrize("name", [n for n in _declared_names() if n != "NO_VERSION"])
def test_constant_equals_its_counterpart(wire, name):
    assert wire[name] == _counterpart(name)


def test_every_packet_type_and_property_kind_is_declared(wire):
    assert {f"T_{t.name}" for t in PacketType} <= set(wire)
    assert {f"K_{k.name}" for k in PropertyType} <= set(wire)


def test_no_version_is_no_protocol_level(wire):
    # The compiled code's "version not known yet": it must not collide with a level.
    assert wire["NO_VERSION"] not in _constants.PROTOCOL_NAMES


def test_bridge_bit_is_one_bit_above_every_protocol_level(wire):
    bit = wire["BRIDGE_BIT"]
    assert bit & (bit - 1) == 0
    assert all(level < bit for level in _constants.PROTOCOL_NAMES)
    assert bit < 0x100  # the level is one byte on the wire
