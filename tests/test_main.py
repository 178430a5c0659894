"""``python -m mqttfast``: its help text and the checks on its arguments."""

import subprocess
import sys

import pytest
from mqttfast.__main__ import main, make_parser


def test_help_describes_the_job_in_whole_sentences():
    result = subprocess.run([sys.executable, "-m", "mqttfast", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    description = " ".join(result.stdout.split("\n\n")[1].split())
    assert description.startswith("Print which mqttfast implementation is active")
    assert "the compiled and pure-Python twins side by side on the same inputs" in description
    assert description.endswith(".")
    assert "--budget SECONDS" in result.stdout


@pytest.mark.parametrize("value", ["0", "0.0", "-1", "-0.5", "nan", "inf"])
def test_budget_must_be_above_zero(capsys, value):
    with pytest.raises(SystemExit) as exit_info:
        main(["--budget", value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --budget: '{value}' must be a number of seconds above 0" in err


def test_budget_must_be_a_number(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--budget", "fast"])
    assert exit_info.value.code == 2
    assert "argument --budget: 'fast' is not a number of seconds" in capsys.readouterr().err


def test_budget_takes_positive_seconds():
    assert make_parser().parse_args(["--budget", "0.05"]).budget == 0.05
    assert make_parser().parse_args([]).budget == 0.2
