# The compiled twin of _varint_py.py; its API is described once, in _types.pyi.
from ._types import decode_varint as decode_varint
from ._types import encode_varint as encode_varint
from ._types import varint_size as varint_size
