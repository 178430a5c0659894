"""Subprocesses run the mqttfast under test: an installed copy in CI, this checkout's src/ in development."""

import os
from pathlib import Path

import mqttfast

#: The directory holding the mqttfast package this test run imported (compiled twins included).
MQTTFAST_ROOT = str(Path(mqttfast.__file__).resolve().parent.parent)


def subprocess_env(**extra):
    """``os.environ`` with ``MQTTFAST_ROOT`` first on PYTHONPATH, plus ``extra``."""
    path = os.pathsep.join(filter(None, [MQTTFAST_ROOT, os.environ.get("PYTHONPATH")]))
    return dict(os.environ, PYTHONPATH=path, **extra)
