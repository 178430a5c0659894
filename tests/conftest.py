"""Every test that takes ``api`` runs once per implementation.

``c-extension`` is ``mqttfast._compiled`` (the Cython twins), ``pure-python`` is
``mqttfast.fallback``. When ``MQTTFAST_REQUIRE_EXTENSIONS=1`` (as in CI) a
missing compiled module fails the tests instead of skipping them, so a broken
build can never pass as a green run of the pure-Python twin alone.
"""

import pytest

from .helpers.implementations import implementation_params, load_implementation


def pytest_addoption(parser):
    parser.addoption(
        "--no-c-extensions",
        action="store_true",
        default=False,
        help="run only against the pure-Python implementation",
    )


def pytest_generate_tests(metafunc):
    if "api" in metafunc.fixturenames:
        params = implementation_params(metafunc.config)
        metafunc.parametrize("api", params, indirect=True, ids=params, scope="session")


@pytest.fixture(scope="session")
def api(request):
    """The public API of the implementation under test (``c-extension`` or ``pure-python``)."""
    return load_implementation(request.param)
