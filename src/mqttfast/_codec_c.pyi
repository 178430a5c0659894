# The compiled twin of _codec_py.py; its API is described once, in _types.pyi.
from ._types import Decoder as Decoder
from ._types import decode as decode
from ._types import encode as encode
from ._types import encode_forward as encode_forward
from ._types import encode_into as encode_into
from ._types import encoded_size as encoded_size
