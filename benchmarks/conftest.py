"""Contenders of the benchmarks, as pytest params whose ids name them.

Run with ``python -m pytest benchmarks`` (the root ``testpaths`` is ``tests``,
so benchmarks are collected only when asked for); ``--benchmark-disable`` runs
each once as a smoke test. A contender whose package is not importable is
skipped with the reason, except ``mqttfast-compiled`` when
``MQTTFAST_REQUIRE_EXTENSIONS`` is set: then a missing extension fails.
"""

from __future__ import annotations

import importlib
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from peers import ADAPTERS, MqttfastAdapter  # noqa: E402

MQTTFAST = ["mqttfast-compiled", "mqttfast-fallback"]
CODEC_CONTENDERS = MQTTFAST + ["mqtt5", "amqtt", "mqttools", "paho"]
MATCHER_CONTENDERS = MQTTFAST + ["paho"]

_cache: dict = {}


def load_mqttfast(name: str):
    """The mqttfast module of contender ``name``; skip (or fail, when required) if missing."""
    if name == "mqttfast-fallback":
        return importlib.import_module("mqttfast.fallback")
    try:
        return importlib.import_module("mqttfast._compiled")
    except ImportError as exc:
        if os.environ.get("MQTTFAST_REQUIRE_EXTENSIONS"):
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


@pytest.fixture(params=CODEC_CONTENDERS)
def codec(request):
    """``(contender name, adapter)`` for every codec contender."""
    return request.param, adapter_for(request.param)


@pytest.fixture(params=MQTTFAST)
def mqttfast_impl(request):
    """``(contender name, module)`` for mqttfast compiled and fallback."""
    return request.param, load_mqttfast(request.param)


def record(benchmark, **info):
    benchmark.extra_info.update(info)


def pytest_collect_file(file_path, parent):
    """Collect ``bench_*.py`` (the root config only knows ``test_*.py``), once."""
    if file_path.suffix == ".py" and file_path.name.startswith("bench_") and not parent.session.isinitpath(file_path):
        return pytest.Module.from_parent(parent, path=file_path)
    return None
