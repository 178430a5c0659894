"""Loading the implementation under test: ``c-extension`` (the Cython twins) or ``pure-python``."""

import importlib

import pytest
from mqttfast._env import env_flag

REQUIRE_EXTENSIONS = env_flag("MQTTFAST_REQUIRE_EXTENSIONS")

COMPILED, PURE = "c-extension", "pure-python"


def implementation_params(config):
    """The implementations this run tests: both, unless ``--no-c-extensions`` or ``MQTTFAST_NO_EXTENSIONS``."""
    params = []
    if not config.getoption("--no-c-extensions") and not env_flag("MQTTFAST_NO_EXTENSIONS"):
        params.append(COMPILED)
    params.append(PURE)
    return params


def load_implementation(name):
    """The public API of one implementation, as a module.

    A missing compiled module skips the test, or fails it when
    ``MQTTFAST_REQUIRE_EXTENSIONS`` is set, so a broken build can never pass
    as a green run of the pure-Python twin alone.
    """
    if name == PURE:
        return importlib.import_module("mqttfast.fallback")
    try:
        return importlib.import_module("mqttfast._compiled")
    except ImportError as exc:
        if REQUIRE_EXTENSIONS:
            pytest.fail(f"compiled twins required but not importable: {exc}")
        pytest.skip(f"compiled twins not built: {exc}")
