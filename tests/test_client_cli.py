"""``python -m mqttfast.client pub|sub`` against mosquitto, with mosquitto_pub/sub's flags."""

import subprocess
import sys
import time

import pytest

from .helpers.mosquitto import running_mosquitto
from .helpers.subprocesses import subprocess_env

pytestmark = pytest.mark.peer

def command(*args):
    return [sys.executable, "-m", "mqttfast.client", *args], subprocess_env()


@pytest.mark.parametrize("version", ["mqttv5", "mqttv311"])
def test_sub_prints_what_pub_sends(tmp_path, version):
    with running_mosquitto(tmp_path) as port:
        common = ["-h", "127.0.0.1", "-p", str(port), "-V", version]
        argv, env = command("sub", *common, "-t", "cli/#", "-v", "-C", "2", "-q", "1", "-i", "cli-sub")
        subscriber = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            time.sleep(0.5)  # the SUBSCRIBE must be in before the messages
            for text in ("one", "two"):
                argv, env = command("pub", *common, "-t", "cli/x", "-m", text, "-q", "1", "-u", "u", "-P", "p")
                subprocess.run(argv, env=env, check=True, timeout=10)
            out, err = subscriber.communicate(timeout=10)
        finally:
            subscriber.kill()
            subscriber.wait()
    assert out == b"cli/x one\ncli/x two\n", err


def test_retained_and_an_unreachable_broker(tmp_path):
    with running_mosquitto(tmp_path) as port:
        argv, env = command("pub", "-h", "127.0.0.1", "-p", str(port), "-t", "cli/r", "-m", "kept", "-r")
        subprocess.run(argv, env=env, check=True, timeout=10)
        argv, env = command("sub", "-h", "127.0.0.1", "-p", str(port), "-t", "cli/r", "-C", "1")
        assert subprocess.run(argv, env=env, capture_output=True, timeout=10).stdout == b"kept\n"
    argv, env = command("pub", "-h", "127.0.0.1", "-p", str(port), "-t", "x", "-m", "y")
    failed = subprocess.run(argv, env=env, capture_output=True, timeout=10)
    assert failed.returncode == 1 and failed.stderr.startswith(b"Error: ")
