"""Reading mqttfast's on/off environment variables, the same way everywhere.

``MQTTFAST_NO_EXTENSIONS``, ``MQTTFAST_REQUIRE_EXTENSIONS`` and
``MQTTFAST_REQUIRE_PEERS`` are read by the package at import, by ``setup.py``
at build time and by the test suite; all of them through ``env_flag``, so that
``MQTTFAST_NO_EXTENSIONS=0`` means the same thing to each of them.

This module imports nothing from mqttfast: ``setup.py`` loads it by path,
before the package is built.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType

#: Values that turn a flag off (compared without case or surrounding blanks).
OFF_VALUES = frozenset({"", "0", "false", "no", "off"})


def env_flag(name: str) -> bool:
    """Whether the environment variable ``name`` is on.

    Unset, empty, ``0``, ``false``, ``no`` and ``off`` (in any case) are off;
    any other value is on.
    """
    return os.environ.get(name, "").strip().lower() not in OFF_VALUES


def compiled_twins_wanted() -> bool:
    """Whether mqttfast should use its compiled twins: on CPython, unless ``MQTTFAST_NO_EXTENSIONS`` is on."""
    return not env_flag("MQTTFAST_NO_EXTENSIONS") and sys.implementation.name == "cpython"


def load_twin(compiled: str, pure: str) -> ModuleType:
    """The module ``compiled`` (an absolute name) when ``compiled_twins_wanted()`` and it imports, else ``pure``.

    ``MQTTFAST_REQUIRE_EXTENSIONS`` on turns a failed import of ``compiled``
    into the ImportError, so a broken build never hides behind the slower twin.
    """
    if compiled_twins_wanted():
        try:
            return importlib.import_module(compiled)
        except ImportError:
            if env_flag("MQTTFAST_REQUIRE_EXTENSIONS"):
                raise
    return importlib.import_module(pure)
