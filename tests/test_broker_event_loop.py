"""``--event-loop``: asyncio's by default, uvloop on request (the mqttfast[broker-uvloop] extra)."""

import importlib.util

import pytest

from mqttfast.broker.__main__ import loop_factory, parse_args

HAVE_UVLOOP = importlib.util.find_spec("uvloop") is not None


def test_asyncio_is_the_default_and_runs_without_a_factory():
    assert parse_args([]).event_loop == "asyncio"
    assert loop_factory("asyncio") is None


def test_uvloop_when_asked_for_and_installed_else_an_error_that_names_the_extra():
    if HAVE_UVLOOP:
        import uvloop

        assert loop_factory("uvloop") is uvloop.new_event_loop
        assert loop_factory("auto") is uvloop.new_event_loop
    else:
        with pytest.raises(RuntimeError, match="broker-uvloop"):
            loop_factory("uvloop")
        assert loop_factory("auto") is None


def test_the_config_file_takes_only_the_listed_loops(tmp_path, capsys):
    config = tmp_path / "broker.toml"
    config.write_text('event-loop = "uvloop"\n')
    assert parse_args(["--config", str(config)]).event_loop == "uvloop"
    config.write_text('event-loop = "fastest"\n')
    with pytest.raises(SystemExit) as exited:
        parse_args(["--config", str(config)])
    assert exited.value.code == 2
    assert "not one of" in capsys.readouterr().err
