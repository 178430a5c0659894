"""The public API of mqttfast served by the compiled (Cython) twins.

Importing it raises ImportError when a compiled module is missing, which is
how ``mqttfast`` decides to fall back to pure Python. The names are listed
once, in ``_api``; the stubs type them.
"""

from . import _codec_c, _connection_c, _packets_c, _topics_c, _varint_c
from ._api import PUBLIC_NAMES, implementation_namespace

globals().update(implementation_namespace(_codec_c, _packets_c, _topics_c, _varint_c, _connection_c))

IMPLEMENTATION = "cython"

__all__ = list(PUBLIC_NAMES)
