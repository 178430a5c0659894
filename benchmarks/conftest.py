"""Fixtures of the benchmarks: contenders as pytest params whose ids name them.

Run with ``python -m pytest benchmarks`` (the root ``testpaths`` is ``tests``,
so benchmarks are collected only when asked for); ``--benchmark-disable`` runs
each once as a smoke test.
"""

from __future__ import annotations

import pytest

from .helpers.contenders import CODEC_CONTENDERS, MQTTFAST, adapter_for, load_mqttfast


@pytest.fixture(params=CODEC_CONTENDERS)
def codec(request):
    """``(contender name, adapter)`` for every codec contender."""
    return request.param, adapter_for(request.param)


@pytest.fixture(params=MQTTFAST)
def mqttfast_impl(request):
    """``(contender name, module)`` for mqttfast compiled and fallback."""
    return request.param, load_mqttfast(request.param)
