"""The sans-I/O example of README.md runs, on both implementations, as printed."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def _session_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Sessions: the protocol between the packets, sans-I/O", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_session_example_runs(api, monkeypatch):
    import mqttfast

    # The example imports mqttfast; point its names at the implementation under test.
    for name in ("ClientConnection", "ServerConnection", "Connected", "ConnectRequested", "Disconnected"):
        monkeypatch.setattr(mqttfast, name, getattr(api, name))
    namespace: dict = {}
    exec(compile(_session_example(), str(README), "exec"), namespace)
    assert namespace["server"].session.client_id == "sensor-1"
    assert namespace["server"].session.expires_at == 3601.0
