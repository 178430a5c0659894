# Topic names and topic filters, compiled twin of ``_topic_rules_py``; included by ``_topics_c.pyx``.
#
# Same rules, results, exceptions and messages as the Python twin, function by
# function. What is added is a quick test per kind of string: a plain ASCII
# name or filter is accepted with one scan of its characters, eight at a time;
# anything else goes through the full rules. These run for every PUBLISH
# matched and every SUBSCRIBE decoded (``_codec_c`` cimports
# ``validate_topic_filter``, see ``_topics_c.pxd``).

#: Strings are limited by their 2-byte length prefix (MQTT 5.0 §1.5.4).
MAX_TOPIC_BYTES = 65_535

cdef enum:
    _MAX_TOPIC_BYTES = 65535


cdef int _check_text(object text, object error, str what) except -1:
    cdef Py_ssize_t index, size
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a str, not {type(text).__name__}")
    if not text:
        raise error(f"{what} must not be empty [MQTT-4.7.3-1]")
    index = (<str>text).find("\x00")
    if index >= 0:
        raise error(f"{what} contains U+0000 at index {index} [MQTT-1.5.4-2]")
    # A str of at most 16,383 characters cannot exceed 65,535 bytes; ASCII cannot hold a surrogate.
    if PyUnicode_IS_COMPACT_ASCII(text):
        size = PyUnicode_GET_LENGTH(text)
    else:
        try:
            size = len((<str>text).encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise error(f"{what} contains a surrogate at index {exc.start} [MQTT-1.5.4-1]") from None
    if size > _MAX_TOPIC_BYTES:
        raise error(f"{what} is {size} bytes, more than 65,535")
    return 0


cpdef validate_topic_name(name):
    """Raise ``InvalidTopicName`` unless ``name`` may be published to."""
    cdef Py_ssize_t index
    _check_text(name, InvalidTopicName, "topic name")
    for wildcard in "+#":
        index = (<str>name).find(wildcard)
        if index >= 0:
            raise InvalidTopicName(f"topic name {name!r} has wildcard {wildcard!r} at index {index} [MQTT-3.3.2-2]")


cdef extern from *:
    """
    /* Whether any of the 8 bytes at p is NUL, '+' or '#': the bytes the quick
       tests of names and filters look for. A byte b equals c when b ^ c has a zero byte,
       which (x - 0x01..) & ~x & 0x80.. detects (exactly, as a whole word). */
    static CYTHON_INLINE int mqttfast_word_has_filter_special(const unsigned char *p) {
        const unsigned long long ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
        unsigned long long word, plus, hash;
        memcpy(&word, p, 8);
        plus = word ^ (ones * 0x2B);
        hash = word ^ (ones * 0x23);
        return (((word - ones) & ~word) | ((plus - ones) & ~plus) | ((hash - ones) & ~hash)) & highs ? 1 : 0;
    }
    """
    bint mqttfast_word_has_filter_special(const unsigned char* p)


cdef inline const unsigned char* _short_ascii(object text, Py_ssize_t* size) noexcept:
    """The characters of an exact str of 1..65,535 ASCII characters, else NULL."""
    if type(text) is not str or not PyUnicode_IS_COMPACT_ASCII(text):
        return NULL
    size[0] = PyUnicode_GET_LENGTH(text)
    if size[0] == 0 or size[0] > _MAX_TOPIC_BYTES:
        return NULL
    return <const unsigned char*>PyUnicode_DATA(text)


cdef inline bint _plain_ascii_name(object topic):
    """The quick test of the matcher: an exact str of 1..65,535 ASCII characters
    without NUL, '+' or '#' is a valid topic name. Anything else goes through
    ``validate_topic_name``, which accepts or raises exactly as the Python twin.
    """
    cdef Py_ssize_t size, index = 0
    cdef const unsigned char* data = _short_ascii(topic, &size)
    cdef unsigned char c
    if data == NULL:
        return False
    while index + 8 <= size:
        if mqttfast_word_has_filter_special(data + index):
            return False
        index += 8
    while index < size:
        c = data[index]
        if c == 0 or c == 0x2B or c == 0x23:  # NUL, '+', '#'
            return False
        index += 1
    return True


cdef inline bint _plain_ascii_filter(object topic_filter):
    """The quick test of the codec and the matcher: one scan of an ASCII filter.

    True only for a filter that is certainly valid (no NUL, wildcards in
    whole levels, '#' last, not a shared subscription); everything else goes
    through the full rules, which accept or raise exactly as the Python twin.
    """
    cdef Py_ssize_t size, index
    cdef const unsigned char* data = _short_ascii(topic_filter, &size)
    cdef unsigned char c
    if data == NULL:
        return False
    if data[0] == 0x24:  # '$': maybe $share/, leave it to the full rules
        return False
    index = 0
    while index < size:
        if index + 8 <= size and not mqttfast_word_has_filter_special(data + index):
            index += 8  # eight ordinary characters: nothing to check
            continue
        c = data[index]
        if c == 0:
            return False
        if c == 0x2B:  # '+' must stand alone between separators
            if (index > 0 and data[index - 1] != 0x2F) or (index + 1 < size and data[index + 1] != 0x2F):
                return False
        elif c == 0x23:  # '#' must be the whole last level
            if index + 1 != size or (index > 0 and data[index - 1] != 0x2F):
                return False
        index += 1
    return True


cpdef validate_topic_filter(topic_filter):
    """Raise ``InvalidTopicFilter`` unless ``topic_filter`` may be subscribed to.

    ``$share/{ShareName}/{filter}`` is a shared subscription: ShareName is at
    least one character without ``/``, ``+`` or ``#`` and the filter after it
    is validated as usual [MQTT-4.8.2-1, MQTT-4.8.2-2].
    """
    cdef Py_ssize_t index, last, start
    cdef str level
    if _plain_ascii_filter(topic_filter):
        return
    _check_text(topic_filter, InvalidTopicFilter, "topic filter")
    inner = topic_filter
    shared = split_shared(topic_filter)
    if shared is not None:
        share_name, inner = shared
        if not share_name:
            raise InvalidTopicFilter(
                f"shared subscription {topic_filter!r} has an empty share name at index 7 [MQTT-4.8.2-1]"
            )
        for wildcard in "+#":
            index = (<str>share_name).find(wildcard)
            if index >= 0:
                raise InvalidTopicFilter(
                    f"shared subscription {topic_filter!r} has {wildcard!r} in its share name "
                    f"at index {7 + index} [MQTT-4.8.2-2]"
                )
        if not inner:
            raise InvalidTopicFilter(
                f"shared subscription {topic_filter!r} has no topic filter after index {len(topic_filter) - 1} "
                "[MQTT-4.7.3-1]"
            )
    start = len(topic_filter) - len(inner)  # index of the current level in topic_filter
    levels = (<str>inner).split("/")
    last = len(levels) - 1
    for index, level in enumerate(levels):
        if "+" in level and level != "+":
            raise InvalidTopicFilter(
                f"topic filter {topic_filter!r} has '+' at index {start + level.index('+')} "
                "not occupying a whole level [MQTT-4.7.1-2]"
            )
        if "#" in level and (level != "#" or index != last):
            raise InvalidTopicFilter(
                f"topic filter {topic_filter!r} has '#' at index {start + level.index('#')} "
                "not alone in the last level [MQTT-4.7.1-1]"
            )
        start += len(level) + 1


def topic_matches(topic_filter, topic):
    """Whether ``topic_filter`` (a shared one matches as its inner filter) matches the topic name ``topic``."""
    cdef list filter_levels, topic_levels
    cdef Py_ssize_t index
    validate_topic_filter(topic_filter)
    validate_topic_name(topic)
    shared = split_shared(topic_filter)
    filter_levels = (shared[1] if shared is not None else topic_filter).split("/")
    topic_levels = topic.split("/")
    # Wildcards in the first level never match '$' topics such as $SYS [MQTT-4.7.2-1].
    if topic.startswith("$") and filter_levels[0] in ("+", "#"):
        return False
    for index, level in enumerate(filter_levels):
        if level == "#":
            return True  # also the parent level: 'sport/#' matches 'sport'
        if index >= len(topic_levels) or (level != "+" and level != topic_levels[index]):
            return False
    return len(filter_levels) == len(topic_levels)
