"""The compiled and pure-Python twins give the same answer for the same bytes, valid or not."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import load_implementation
from strategies import packets

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def twins():
    return load_implementation("c-extension"), load_implementation("pure-python")


def outcome(api, wire, version):
    """What decoding ``wire`` gives: the packet re-encoded (comparable across twins), or the error."""
    try:
        packet, nbytes = api.decode(wire, version)
    except api.MQTTError as exc:
        return ("error", type(exc).__name__, exc.reason_code, str(exc))
    return ("packet", type(packet).__name__, nbytes, repr(packet), api.encode(packet, packet_version(packet, version)))


def packet_version(packet, version):
    return packet.protocol_version if version is None else version


@st.composite
def mutated_wire(draw, api, version):
    packet = draw(packets(api, version))
    wire = bytearray(api.encode(packet, version))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete", "length"]))
        if not wire:
            break
        index = draw(st.integers(0, len(wire) - 1))
        if kind == "flip":
            wire[index] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            wire[index] = draw(st.sampled_from([0x00, 0x01, 0x23, 0x2B, 0x7F, 0x80, 0xC0, 0xED, 0xFF]))
        elif kind == "truncate":
            del wire[index:]
        elif kind == "insert":
            wire[index:index] = draw(st.binary(min_size=1, max_size=4))
        elif kind == "delete":
            del wire[index]
        else:
            wire[1 if len(wire) > 1 else 0] = draw(st.integers(0, 255))
    return bytes(wire), None if type(packet).__name__ == "Connect" else version


@pytest.mark.parametrize("version", [3, 4, 5])
def test_mutated_packets_decode_identically(twins, version):
    compiled, python = twins

    @SETTINGS
    @given(mutated_wire(python, version))
    def check(case):
        wire, decode_version = case
        assert outcome(compiled, wire, decode_version) == outcome(python, wire, decode_version)

    check()


@pytest.mark.parametrize("version", [None, 3, 4, 5])
def test_random_bytes_decode_identically(twins, version):
    compiled, python = twins

    @SETTINGS
    @given(st.binary(max_size=64))
    def check(wire):
        assert outcome(compiled, wire, version) == outcome(python, wire, version)

    check()


@pytest.mark.parametrize("version", [3, 4, 5])
def test_valid_packets_encode_identically(twins, version):
    compiled, python = twins

    @SETTINGS
    @given(packets(python, version))
    def check(packet):
        wire = python.encode(packet, version)
        twin = compiled.decode(wire, None if type(packet).__name__ == "Connect" else version)[0]
        assert compiled.encode(twin, version) == wire
        assert repr(twin) == repr(packet)

    check()
