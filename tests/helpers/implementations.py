"""Loading the implementation under test: ``c-extension`` (the Cython twins) or ``pure-python``."""

import importlib
from pathlib import Path

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
    return import_compiled("mqttfast._compiled")


def import_compiled(module):
    """The compiled module ``module``; skips the test when it is not built, fails it when required."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if REQUIRE_EXTENSIONS:
            pytest.fail(f"compiled twins required but not importable: {exc}")
        pytest.skip(f"compiled twins not built: {exc}")


def stale_compiled_sources(package_dir):
    """The Cython sources in ``package_dir`` changed since the compiled modules there were built, by name.

    A module's own ``.pyx``/``.pxd`` must be older than its compiled module;
    a shared source (a ``.pxi``, a ``.pxd`` of no module) older than the newest
    one, as a build only recompiles what changed. Empty when nothing is
    compiled in place.
    """
    package_dir = Path(package_dir)
    built = {}
    for path in package_dir.iterdir():
        if path.suffix in (".so", ".pyd"):
            built[path.name.split(".", 1)[0]] = path.stat().st_mtime
    if not built:
        return []
    newest = max(built.values())
    stale = []
    for path in package_dir.iterdir():
        if path.suffix in (".pyx", ".pxd", ".pxi") and path.stat().st_mtime > built.get(path.stem, newest):
            stale.append(path.name)
    return sorted(stale)
