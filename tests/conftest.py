"""Every test that takes ``api`` runs once per implementation.

``c-extension`` is ``mqttfast._compiled`` (the Cython twins), ``pure-python`` is
``mqttfast.fallback``. When ``MQTTFAST_REQUIRE_EXTENSIONS=1`` (as in CI) a
missing compiled module fails the tests instead of skipping them, so a broken
build can never pass as a green run of the pure-Python twin alone.
"""

import importlib
import os

import pytest

REQUIRE_EXTENSIONS = bool(os.environ.get("MQTTFAST_REQUIRE_EXTENSIONS"))


def pytest_addoption(parser):
    parser.addoption(
        "--no-c-extensions",
        action="store_true",
        default=False,
        help="run only against the pure-Python implementation",
    )


def _implementation_params(config):
    params = []
    if not config.getoption("--no-c-extensions") and not os.environ.get("MQTTFAST_NO_EXTENSIONS"):
        params.append("c-extension")
    params.append("pure-python")
    return params


def pytest_generate_tests(metafunc):
    if "api" in metafunc.fixturenames:
        params = _implementation_params(metafunc.config)
        metafunc.parametrize("api", params, indirect=True, ids=params, scope="session")


def load_implementation(name):
    """The public API of one implementation, as a module."""
    if name == "pure-python":
        return importlib.import_module("mqttfast.fallback")
    try:
        return importlib.import_module("mqttfast._compiled")
    except ImportError as exc:
        if REQUIRE_EXTENSIONS:
            pytest.fail(f"compiled twins required but not importable: {exc}")
        pytest.skip(f"compiled twins not built: {exc}")


@pytest.fixture(scope="session")
def api(request):
    """The public API of the implementation under test (``c-extension`` or ``pure-python``)."""
    return load_implementation(request.param)
