"""A mosquitto broker on a free 127.0.0.1 port, for the tests that talk to a real broker.

The binaries come from Debian's mosquitto and mosquitto-clients packages:
without them the tests are skipped, or fail when MQTTFAST_REQUIRE_PEERS is set
(as .ci/run does).
"""

import contextlib
import shutil
import socket
import subprocess
import time

import pytest
from mqttfast._env import env_flag

from .peers import TIMEOUT

BINARIES = {name: shutil.which(name) or shutil.which(name, path="/usr/sbin") for name in ("mosquitto", "mosquitto_pub", "mosquitto_sub")}


def wait_until_listening(port, process, name):
    """Wait until ``process`` (a server just started) accepts connections on ``port``; fail if it does not."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail(f"{name} did not start")
            time.sleep(0.05)


def require_binaries(*names):
    """Skip (or fail, when peers are required) unless every named binary is installed."""
    missing = [name for name in names or BINARIES if BINARIES[name] is None]
    if missing:
        message = f"missing {', '.join(missing)} (apt-get install -y mosquitto mosquitto-clients)"
        if env_flag("MQTTFAST_REQUIRE_PEERS"):
            pytest.fail(message)
        pytest.skip(message)


def free_port():
    """A TCP port nobody listens on at 127.0.0.1 right now."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_mosquitto(directory, extra_config="", port=None):
    """Start mosquitto with its config (plus ``extra_config`` lines) in ``directory``; yield its port; always terminate it.

    ``port`` reuses a port (a restarted broker); a free one is picked otherwise.
    """
    require_binaries("mosquitto")
    if port is None:
        port = free_port()
    config = directory / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n{extra_config}")
    process = subprocess.Popen(
        [BINARIES["mosquitto"], "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_until_listening(port, process, "mosquitto")
        yield port
    finally:
        process.terminate()
        try:
            process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
