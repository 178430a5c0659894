"""The public API of mqttfast served by the compiled (Cython) twins.

Importing it raises ImportError when a compiled module is missing, which is
how ``mqttfast`` decides to fall back to pure Python.
"""

from ._api import PUBLIC_NAMES, shared_namespace
from ._varint_c import decode_varint, encode_varint, varint_size

globals().update(shared_namespace())

IMPLEMENTATION = "cython"

__all__ = list(PUBLIC_NAMES)
