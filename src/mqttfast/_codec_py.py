"""The codec's public functions, pure-Python twin of ``_codec_c``.

Sans-I/O: bytes in, packets out, bytes back. Each direction has a module of
its own, as in the compiled twin (whose ``_codec_c.pyx`` includes the same
parts in the same order):

- ``_rules_py``: the checks both directions share, so that the writer refuses
  to produce what the reader refuses to read, with the same exception;
- ``_readers_py``: ``decode`` and the per-packet readers;
- ``_writers_py``: ``encode``, ``encode_into``, ``encoded_size`` and the writers;
- ``_forward_py``: ``encode_forward``, re-sending a received PUBLISH;
- ``_decoder_py``: the streaming ``Decoder``.
"""

from ._decoder_py import Decoder
from ._forward_py import encode_forward
from ._readers_py import decode
from ._writers_py import encode, encode_into, encoded_size

__all__ = ["decode", "encode", "encode_into", "encoded_size", "encode_forward", "Decoder"]
