"""The whole public API of mqttfast in pure Python.

Importable beside the compiled implementation (as ``msgpack.fallback`` is), so
both can be compared in one process. ``mqttfast`` itself re-exports this
module when the compiled twins are unavailable or ``MQTTFAST_NO_EXTENSIONS``
is set. The names are listed once, in ``_api``; ``fallback.pyi`` types them.
"""

from . import _codec_py, _connection_py, _packets_py, _topics_py, _varint_py
from ._api import PUBLIC_NAMES, implementation_namespace

globals().update(implementation_namespace(_codec_py, _packets_py, _topics_py, _varint_py, _connection_py))

IMPLEMENTATION = "python"

__all__ = list(PUBLIC_NAMES)
