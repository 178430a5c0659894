"""The on/off environment variables: one reading (``mqttfast._env.env_flag``) for the package,
``setup.py`` and this suite, so that ``MQTTFAST_NO_EXTENSIONS=0`` keeps the extensions on."""

import os
import subprocess
import sys
from pathlib import Path

import mqttfast
import pytest
from mqttfast._env import env_flag

from .helpers.implementations import COMPILED, PURE, implementation_params, load_implementation

OFF = ["", "0", "false", "FALSE", "No", "off", " 0 "]
ON = ["1", "true", "Yes", "ON", "2", "anything"]

# Makes every compiled module of mqttfast unimportable, as on a machine where the build failed.
BLOCK_COMPILED = """
import sys

class BlockCompiled:
    def find_spec(self, name, path=None, target=None):
        if name.startswith("mqttfast.") and name.endswith("_c"):
            raise ModuleNotFoundError(f"no module named {name!r} (blocked by the test)")
        return None

sys.meta_path.insert(0, BlockCompiled())
"""
PRINT_IMPLEMENTATION = "import mqttfast; print(mqttfast.IMPLEMENTATION)"


def run_python(code, **variables):
    """Run ``code`` in a fresh interpreter that imports this mqttfast, with only ``variables`` of ours set."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MQTTFAST_")}
    env.update(variables)
    # The mqttfast under test, wherever it is (a checkout's src/ or site-packages).
    env["PYTHONPATH"] = os.pathsep.join([str(Path(mqttfast.__file__).parent.parent), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("value", OFF)
def test_off_values(monkeypatch, value):
    monkeypatch.setenv("MQTTFAST_TEST_FLAG", value)
    assert env_flag("MQTTFAST_TEST_FLAG") is False


@pytest.mark.parametrize("value", ON)
def test_on_values(monkeypatch, value):
    monkeypatch.setenv("MQTTFAST_TEST_FLAG", value)
    assert env_flag("MQTTFAST_TEST_FLAG") is True


def test_unset_is_off(monkeypatch):
    monkeypatch.delenv("MQTTFAST_TEST_FLAG", raising=False)
    assert env_flag("MQTTFAST_TEST_FLAG") is False


@pytest.mark.parametrize("value", ["0", "false", "no", "off", ""])
def test_no_extensions_off_keeps_the_compiled_twins(value):
    load_implementation(COMPILED)  # skips (or fails when required) without a build
    result = run_python(PRINT_IMPLEMENTATION, MQTTFAST_NO_EXTENSIONS=value)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "cython"


@pytest.mark.parametrize("value", ["1", "yes", "TRUE"])
def test_no_extensions_on_selects_pure_python(value):
    result = run_python(PRINT_IMPLEMENTATION, MQTTFAST_NO_EXTENSIONS=value)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "python"


@pytest.mark.parametrize("value", ["1", "true", "on"])
def test_require_extensions_on_refuses_the_fallback(value):
    result = run_python(BLOCK_COMPILED + PRINT_IMPLEMENTATION, MQTTFAST_REQUIRE_EXTENSIONS=value)
    assert result.returncode != 0
    assert "blocked by the test" in result.stderr


@pytest.mark.parametrize("value", ["0", "false", "off", ""])
def test_require_extensions_off_falls_back(value):
    result = run_python(BLOCK_COMPILED + PRINT_IMPLEMENTATION, MQTTFAST_REQUIRE_EXTENSIONS=value)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "python"


PRINT_BROKER_TWIN = "from mqttfast.broker import _core; print(_core.TWIN.__name__)"


def test_the_broker_picks_its_compiled_twin_as_mqttfast_does():
    load_implementation(COMPILED)  # skips (or fails when required) without a build
    assert run_python(PRINT_BROKER_TWIN).stdout.strip() == "mqttfast._broker_c"
    result = run_python(PRINT_BROKER_TWIN, MQTTFAST_NO_EXTENSIONS="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "mqttfast._broker_py"


def test_the_broker_falls_back_to_its_pure_twin_unless_extensions_are_required():
    result = run_python(BLOCK_COMPILED + PRINT_BROKER_TWIN)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "mqttfast._broker_py"
    refused = run_python(BLOCK_COMPILED + PRINT_BROKER_TWIN, MQTTFAST_REQUIRE_EXTENSIONS="1")
    assert refused.returncode != 0 and "blocked by the test" in refused.stderr


def test_the_suite_reads_no_extensions_the_same_way(request, monkeypatch):
    both = [PURE] if request.config.getoption("--no-c-extensions") else [COMPILED, PURE]
    monkeypatch.setenv("MQTTFAST_NO_EXTENSIONS", "0")
    assert implementation_params(request.config) == both
    monkeypatch.setenv("MQTTFAST_NO_EXTENSIONS", "off")
    assert implementation_params(request.config) == both
    monkeypatch.setenv("MQTTFAST_NO_EXTENSIONS", "1")
    assert implementation_params(request.config) == [PURE]
