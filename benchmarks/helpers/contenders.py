"""Loading the contenders of the benchmarks by name (the ids of the benchmark params).

A contender whose package is not importable is skipped with the reason, except
``mqttfast-compiled`` when ``MQTTFAST_REQUIRE_EXTENSIONS`` is set: then a
missing extension fails.
"""

from __future__ import annotations

import importlib

import pytest
from mqttfast._env import env_flag

from .adapters import ADAPTERS, MqttfastAdapter

MQTTFAST = ["mqttfast-compiled", "mqttfast-fallback"]
CODEC_CONTENDERS = MQTTFAST + ["mqtt5", "amqtt", "mqttools", "paho"]

_cache: dict = {}


def load_mqttfast(name: str):
    """The mqttfast module of contender ``name``; skip (or fail, when required) if missing."""
    if name == "mqttfast-fallback":
        return importlib.import_module("mqttfast.fallback")
    try:
        return importlib.import_module("mqttfast._compiled")
    except ImportError as exc:
        if env_flag("MQTTFAST_REQUIRE_EXTENSIONS"):
            pytest.fail(f"mqttfast-compiled required (MQTTFAST_REQUIRE_EXTENSIONS) but not importable: {exc}")
        pytest.skip(f"mqttfast-compiled not importable: {exc}")


def adapter_for(name: str):
    """The codec adapter of contender ``name`` (cached); skipped when its package is missing."""
    if name not in _cache:
        if name in MQTTFAST:
            _cache[name] = MqttfastAdapter(load_mqttfast(name))
        else:
            try:
                _cache[name] = ADAPTERS[name]()
            except ImportError as exc:
                _cache[name] = exc
    value = _cache[name]
    if isinstance(value, ImportError):
        pytest.skip(f"{name} not installed: {value}")
    return value


def record(benchmark, **info):
    """Attach ``info`` to the benchmark's ``extra_info`` (read back by ``report.py``)."""
    benchmark.extra_info.update(info)
