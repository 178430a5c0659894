"""Session benchmarks: one message's round through a broker, per contender (see ``helpers/rounds``).

Ids read ``test_round[<contender>-<version>-qos<n>]``; ``extra_info`` carries
``op``, ``case``, ``contender`` and ``ops_per_call`` for ``report.py``. The
``codec-*`` contenders are the floor: the same codec calls without session
state. Every benchmark first checks, untimed, that its round completes both
flows; ``test_round_completes`` does the same alone, so ``--benchmark-disable``
runs catch a broken contender.

``test_fanout[<contender>-<version>-qos<n>]`` delivers one received message
to 100 subscribers' server connections (``helpers/rounds.make_fanout``); its
``ops_per_call`` is 100, so the report reads per delivery.
"""

from __future__ import annotations

import pytest

from .helpers.contenders import load_mqttfast, record
from .helpers.rounds import CONTENDERS, FANOUT, make_fanout, make_round

CASES = [(version, qos) for version in (5, 4) for qos in (0, 1, 2)]


def _round(contender, version, qos):
    if contender.endswith(("compiled", "fallback")):
        load_mqttfast("mqttfast-" + contender.split("-")[1])  # skips (or fails) when not built
    if contender == "mqttproto" and version != 5:
        pytest.skip("mqttproto speaks MQTT 5 only")
    try:
        round_, check = make_round(contender, version, qos)
    except ImportError as exc:
        pytest.skip(f"{contender} not installed: {exc}")
    check(round_())
    return round_, check


@pytest.mark.parametrize("contender", CONTENDERS)
@pytest.mark.parametrize("version, qos", CASES, ids=[f"{v}-qos{q}" for v, q in CASES])
def test_round_completes(contender, version, qos):
    round_, check = _round(contender, version, qos)
    for _ in range(3):
        check(round_())


@pytest.mark.parametrize("contender", CONTENDERS)
@pytest.mark.parametrize("version, qos", CASES, ids=[f"{v}-qos{q}" for v, q in CASES])
def test_round(benchmark, contender, version, qos):
    round_, _ = _round(contender, version, qos)
    record(benchmark, op="session round", case=f"{version}-qos{qos}", contender=contender, ops_per_call=1)
    benchmark(round_)


FANOUT_CONTENDERS = [name for name in CONTENDERS if name.startswith(("mqttfast", "codec"))]
FANOUT_CASES = [(5, 0), (5, 1), (4, 1)]


@pytest.mark.parametrize("contender", FANOUT_CONTENDERS)
@pytest.mark.parametrize("version, qos", FANOUT_CASES, ids=[f"{v}-qos{q}" for v, q in FANOUT_CASES])
def test_fanout(benchmark, contender, version, qos):
    load_mqttfast("mqttfast-" + contender.split("-")[1])  # skips (or fails) when not built
    round_, check = make_fanout(contender, version, qos)
    check(round_())
    record(benchmark, op="session fan-out", case=f"{version}-qos{qos}", contender=contender, ops_per_call=FANOUT)
    benchmark(round_)
