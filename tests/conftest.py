"""Every test that takes ``api`` runs once per implementation.

``c-extension`` is ``mqttfast._compiled`` (the Cython twins), ``pure-python`` is
``mqttfast.fallback``. When ``MQTTFAST_REQUIRE_EXTENSIONS=1`` (as in CI) a
missing compiled module fails the tests instead of skipping them, so a broken
build can never pass as a green run of the pure-Python twin alone.
"""

from pathlib import Path

import pytest

from .helpers.implementations import implementation_params, load_implementation, stale_compiled_sources


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


CHECKOUT_PACKAGE = Path(__file__).resolve().parent.parent / "src" / "mqttfast"


def _tested_package():
    import mqttfast

    return Path(mqttfast.__file__).resolve().parent


def pytest_sessionstart(session):
    """Refuse to test compiled twins built in this checkout from older sources than its own."""
    # Only in place: an installed copy's files carry their unpacking times, not their build times.
    if _tested_package() != CHECKOUT_PACKAGE:
        return
    stale = stale_compiled_sources(CHECKOUT_PACKAGE)
    if stale:
        raise pytest.UsageError(
            f"{', '.join(stale)} changed after the compiled twins in {CHECKOUT_PACKAGE} were built: "
            "rebuild them (python setup.py build_ext --inplace -j 2, see CONTRIBUTING.md) before testing"
        )


def pytest_report_header(config):
    """Say which mqttfast is under test: edits to ``src/`` reach the tests only through an editable install."""
    import mqttfast

    where = _tested_package()
    lines = [f"mqttfast {mqttfast.__version__} from {where} (IMPLEMENTATION = {mqttfast.IMPLEMENTATION!r})"]
    if CHECKOUT_PACKAGE.is_dir() and where != CHECKOUT_PACKAGE:
        lines.append(
            "  an installed copy, not this checkout's src/: edits to src/ are not tested until you reinstall "
            "(pip install -e . keeps them in step; see CONTRIBUTING.md)"
        )
    return lines
