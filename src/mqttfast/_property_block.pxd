# Walking a property block that the reader has already validated (MQTT 5.0
# §2.2.2), written once for the compiled twins: the writer copying a decoded
# packet's user properties, the list of identifiers in wire order, and the
# packet classes building user properties and other properties on first access.
# No bounds are checked here: the reader checked every length before it kept
# the block.

from ._wire cimport K_BYTE, K_FOUR_BYTE_INT, K_STRING_PAIR, K_TWO_BYTE_INT, K_VARINT


cdef inline Py_ssize_t skip_property_value(const unsigned char* block, Py_ssize_t pos, int kind) noexcept nogil:
    """Position after the value of wire type ``kind`` that starts at ``pos``."""
    if kind == K_STRING_PAIR:
        pos += 2 + (block[pos] << 8 | block[pos + 1])
        return pos + 2 + (block[pos] << 8 | block[pos + 1])
    if kind == K_BYTE:
        return pos + 1
    if kind == K_TWO_BYTE_INT:
        return pos + 2
    if kind == K_FOUR_BYTE_INT:
        return pos + 4
    if kind == K_VARINT:
        while block[pos] & 0x80:
            pos += 1
        return pos + 1
    # UTF-8 string or binary data: a two-byte length, then the bytes.
    return pos + 2 + (block[pos] << 8 | block[pos + 1])
