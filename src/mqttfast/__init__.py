"""mqttfast: a fast MQTT 3.1, 3.1.1 and 5.0 wire library.

The implementation is chosen once, at import: the compiled (Cython) twins
unless ``MQTTFAST_NO_EXTENSIONS`` is on or the interpreter is not CPython,
with a fall back to pure Python when they cannot be imported.
``MQTTFAST_REQUIRE_EXTENSIONS=1`` turns that fall back into an ImportError, so
a broken build can never hide behind the slower twin. ``IMPLEMENTATION`` says
which one is in use; ``mqttfast.fallback`` is always the pure-Python one.
Both variables are off when unset, empty, ``0``, ``false``, ``no`` or ``off``
(see ``_env.py``), on otherwise.
"""

from types import ModuleType as _ModuleType

from ._api import PUBLIC_NAMES as _PUBLIC_NAMES
from ._env import load_twin as _load_twin

__version__ = "0.1.0"

_implementation = _load_twin("mqttfast._compiled", "mqttfast.fallback")
globals().update({name: getattr(_implementation, name) for name in _PUBLIC_NAMES})
IMPLEMENTATION = _implementation.IMPLEMENTATION
del _load_twin, _implementation

__all__ = ["IMPLEMENTATION", "__version__", *_PUBLIC_NAMES]


def __getattr__(name: str) -> _ModuleType:
    # ``mqttfast.fallback`` without an explicit import, loaded only when asked for.
    if name == "fallback":
        import importlib

        return importlib.import_module(".fallback", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
