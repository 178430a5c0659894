"""Variable byte integers (MQTT 5.0 §1.5.5), pure-Python twin of ``_varint_c``.

Seven bits a byte, least significant group first, the high bit saying "more
follows"; at most four bytes, so at most 268,435,455.
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING

from ._constants import MAX_VARINT
from ._errors import Incomplete, MalformedPacket

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = ["encode_varint", "decode_varint", "varint_size"]


def varint_size(value: int) -> int:
    """Number of bytes the minimal encoding of ``value`` takes."""
    value = operator.index(value)  # an int (or a bool, or what __index__ makes one), as in the compiled twin
    if value < 0 or value > MAX_VARINT:
        raise MalformedPacket(f"variable byte integer {value} out of range 0..{MAX_VARINT}")
    if value < 0x80:
        return 1
    if value < 0x4000:
        return 2
    if value < 0x200000:
        return 3
    return 4


def encode_varint(value: int) -> bytes:
    """Encode ``value`` in the fewest bytes [MQTT-1.5.5-1]."""
    value = operator.index(value)
    if value < 0 or value > MAX_VARINT:
        raise MalformedPacket(f"variable byte integer {value} out of range 0..{MAX_VARINT}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(data: Buffer, offset: int = 0) -> tuple[int, int]:
    """Decode the variable byte integer at ``offset`` of any buffer.

    Returns ``(value, nbytes)``. Raises ``Incomplete`` when the buffer ends
    inside the integer and ``MalformedPacket`` on a fifth byte. Non-minimal
    encodings (``0x80 0x00``) are accepted, as the specification only binds
    the encoder.
    """
    view = memoryview(data).cast("B") if not isinstance(data, (bytes, bytearray)) else data
    end = len(view)
    offset = operator.index(offset)
    if offset < 0:
        raise ValueError("offset must not be negative")
    value = 0
    shift = 0
    pos = offset
    while pos < end:
        byte = view[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return value, pos - offset
        if pos - offset == 4:
            raise MalformedPacket("variable byte integer longer than 4 bytes", offset)
        shift += 7
    raise Incomplete("buffer ends inside a variable byte integer", offset)
