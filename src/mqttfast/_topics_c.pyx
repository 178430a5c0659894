# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Topic names, topic filters and the subscription matcher, compiled twin of ``_topics_py``.

Same rules, same trie, same results in the same order, same exceptions and
messages. What differs is cost: nodes are ``cdef class`` objects with typed
fields; a node's children live in an open-addressing table of (hash, node)
slots instead of a dict, so ``match`` compares and hashes each level in place
in the topic without building a str; ``match`` walks the levels in a C loop
over a frontier of borrowed node pointers, and accepts a plain ASCII topic
name with one scan before falling back to ``validate_topic_name``.
"""

import sys
import threading

cimport cython

from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.ref cimport PyObject
from libc.string cimport memcmp, memcpy

from ._errors import InvalidTopicFilter, InvalidTopicName

cdef extern from *:
    void __builtin_prefetch(const void* address)

cdef extern from "Python.h":
    bint PyUnicode_IS_COMPACT_ASCII(object text)
    Py_ssize_t PyUnicode_GET_LENGTH(object text)
    int PyUnicode_KIND(object text)
    void* PyUnicode_DATA(object text)
    Py_UCS4 PyUnicode_READ(int kind, void* data, Py_ssize_t index)
    Py_ssize_t PyUnicode_FindChar(object text, Py_UCS4 ch, Py_ssize_t start, Py_ssize_t end, int direction) except -2
    object PyUnicode_Substring(object text, Py_ssize_t start, Py_ssize_t end)
    Py_hash_t _Py_HashBytes(const void* data, Py_ssize_t size)
    void* PyMem_Calloc(size_t nelem, size_t elsize)
    void _incref "Py_INCREF"(PyObject* obj)
    void _decref "Py_DECREF"(PyObject* obj)

__all__ = [
    "validate_topic_name",
    "validate_topic_filter",
    "topic_matches",
    "split_shared",
    "TopicMatcher",
]

#: Strings are limited by their 2-byte length prefix (MQTT 5.0 §1.5.4).
MAX_TOPIC_BYTES = 65_535

#: Default limit on the levels of a subscribed filter: far above any real hierarchy,
#: low enough that one hostile SUBSCRIBE cannot make the trie grow by megabytes.
DEFAULT_MAX_LEVELS = 128
DEF _MAX_TOPIC_BYTES = 65535

cdef str _SHARE_PREFIX = "$share/"

# Filters repeat their levels ('sensors', 'temperature', ...): one str per
# distinct level instead of one per trie node saves memory and cache misses
# in match(). Not on 3.12.0 to 3.12.5, where interned strings are immortal and
# the levels of filters unsubscribed long ago would leak (CPython gh-113993).
_intern = str if (3, 12) <= sys.version_info[:3] < (3, 12, 6) else sys.intern


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
    if size > MAX_TOPIC_BYTES:
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


cdef inline bint _plain_ascii_name(object topic):
    """The quick test of the matcher: an exact str of 1..65,535 ASCII characters
    without NUL, '+' or '#' is a valid topic name. Anything else goes through
    ``validate_topic_name``, which accepts or raises exactly as the Python twin.
    """
    cdef Py_ssize_t size, index
    cdef const unsigned char* data
    cdef unsigned char c
    if type(topic) is not str or not PyUnicode_IS_COMPACT_ASCII(topic):
        return False
    size = PyUnicode_GET_LENGTH(topic)
    if size == 0 or size > _MAX_TOPIC_BYTES:
        return False
    data = <const unsigned char*>PyUnicode_DATA(topic)
    for index in range(size):
        c = data[index]
        if c == 0 or c == 0x2B or c == 0x23:  # NUL, '+', '#'
            return False
    return True


cpdef split_shared(str topic_filter):
    """``(share_name, inner_filter)`` of a shared subscription filter, else None (no validation)."""
    if not topic_filter.startswith(_SHARE_PREFIX):
        return None
    share_name, _, inner = topic_filter[len(_SHARE_PREFIX):].partition("/")
    return share_name, inner


cdef extern from *:
    """
    /* Whether any of the 8 bytes at p is NUL, '+' or '#': the bytes a filter's
       quick test must look at. A byte b equals c when b ^ c has a zero byte,
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


cdef inline bint _plain_ascii_filter(object topic_filter):
    """The quick test of the codec and the matcher: one scan of an ASCII filter.

    True only for a filter that is certainly valid (no NUL, wildcards in
    whole levels, '#' last, not a shared subscription); everything else goes
    through the full rules, which accept or raise exactly as the Python twin.
    """
    cdef Py_ssize_t size, index
    cdef const unsigned char* data
    cdef unsigned char c
    if type(topic_filter) is not str or not PyUnicode_IS_COMPACT_ASCII(topic_filter):
        return False
    size = PyUnicode_GET_LENGTH(topic_filter)
    if size == 0 or size > _MAX_TOPIC_BYTES:
        return False
    data = <const unsigned char*>PyUnicode_DATA(topic_filter)
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


cdef inline bint _equals_slice(object key, object text, Py_ssize_t start, Py_ssize_t end):
    """``key == text[start:end]`` without building the slice."""
    cdef Py_ssize_t size = end - start
    cdef Py_ssize_t index
    cdef int kind = PyUnicode_KIND(key)
    cdef int text_kind = PyUnicode_KIND(text)
    cdef void* key_data
    cdef void* text_data
    if PyUnicode_GET_LENGTH(key) != size:
        return False
    key_data = PyUnicode_DATA(key)
    text_data = PyUnicode_DATA(text)
    if kind == text_kind:
        if kind == 1:  # levels are short: a loop beats a call to memcmp
            for index in range(size):
                if (<const char*>key_data)[index] != (<const char*>text_data)[start + index]:
                    return False
            return True
        return memcmp(key_data, <char*>text_data + start * kind, size * kind) == 0
    # A slice of a wide string can hold only narrow characters: compare code points.
    for index in range(size):
        if PyUnicode_READ(kind, key_data, index) != PyUnicode_READ(text_kind, text_data, start + index):
            return False
    return True



# The children of a node with several are an open-addressing table (linear
# probing) of (hash, node) slots rather than a dict: match() finds a level by
# hashing and comparing it in place in the topic, without building a str, and
# reads one array instead of a dict, its keys table and its entries. The hash
# is the str hash of the level, so it is randomised as a dict's is.

ctypedef struct Slot:
    Py_hash_t hash
    PyObject* node  # a strong reference; NULL when the slot is free

ctypedef struct Table:
    Py_ssize_t mask  # capacity - 1, the capacity a power of two
    Py_ssize_t used
    # followed by capacity Slots


cdef inline Slot* _slots(Table* table):
    return <Slot*>(table + 1)


cdef Table* _table_new(Py_ssize_t capacity) except NULL:
    cdef Table* table = <Table*>PyMem_Calloc(1, sizeof(Table) + capacity * sizeof(Slot))
    if table == NULL:
        raise MemoryError()
    table.mask = capacity - 1
    return table


cdef inline void _table_put(Table* table, Py_hash_t hash, PyObject* node):
    """Store ``node`` (a reference the table takes over) in a table with room for it."""
    cdef Slot* slots = _slots(table)
    cdef Py_ssize_t index = <size_t>hash & <size_t>table.mask
    while slots[index].node != NULL:
        index = (index + 1) & table.mask
    slots[index].hash = hash
    slots[index].node = node
    table.used += 1


cdef inline Py_ssize_t _table_index(Table* table, Py_hash_t hash, object text, Py_ssize_t start, Py_ssize_t end):
    """Slot of the child whose key is ``text[start:end]``, or -1."""
    cdef Slot* slots = _slots(table)
    cdef Py_ssize_t index = <size_t>hash & <size_t>table.mask
    cdef PyObject* node
    while True:
        node = slots[index].node
        if node == NULL:
            return -1
        if slots[index].hash == hash and _equals_slice((<_Node>node).key, text, start, end):
            return index
        index = (index + 1) & table.mask


cdef Table* _table_grown(Table* table) except NULL:
    """A table of twice the capacity holding the same slots; ``table`` is freed."""
    cdef Table* grown = _table_new(2 * (table.mask + 1))
    cdef Slot* slots = _slots(table)
    cdef Py_ssize_t index
    for index in range(table.mask + 1):
        if slots[index].node != NULL:
            _table_put(grown, slots[index].hash, slots[index].node)
    PyMem_Free(table)
    return grown


cdef void _table_delete(Table* table, Py_ssize_t index):
    """Empty slot ``index`` (its reference passes to the caller), shifting back the slots probed past it."""
    cdef Slot* slots = _slots(table)
    cdef Py_ssize_t mask = table.mask
    cdef Py_ssize_t probe = index
    cdef Py_ssize_t home
    slots[index].node = NULL
    table.used -= 1
    while True:
        probe = (probe + 1) & mask
        if slots[probe].node == NULL:
            return
        home = <size_t>slots[probe].hash & <size_t>mask
        # The slot stays if its home lies cyclically in (index, probe].
        if (index < probe and index < home <= probe) or (index > probe and (home > index or home <= probe)):
            continue
        slots[index] = slots[probe]
        slots[probe].node = NULL
        index = probe


# The str hash of an ASCII str is that of its bytes (CPython's unicode_hash);
# checked here so that another hashing scheme only costs the fast path.
cdef const char* _PROBE = b"sensor/level"
cdef bint _HASH_SLICES = _Py_HashBytes(_PROBE + 7, 5) == hash("level") and _Py_HashBytes(_PROBE, 0) == hash("")

cdef object _NO_VALUE = object()


@cython.no_gc
cdef class _Node:
    """One level of the trie. Small on purpose: a broker holds millions of them.

    ``children`` is None or the only child (most nodes of a real trie have
    one; its ``key`` says which level it stands for); once there are several
    they move to ``table`` (where the Python twin uses a dict) and back to
    ``children`` when one is left. ``plus`` and ``hash`` are the '+'
    and '#' children, kept apart so matching never hashes a wildcard. A node's
    subscribers are ``value`` (the first) and ``more`` (later ones, an
    insertion-ordered dict), so the common single-subscriber leaf allocates
    no container.

    Changes run in C under the GIL and a match calls no Python code, so a
    concurrent match sees a change either whole or not at all.

    Nodes are not tracked by the cycle collector (``no_gc``): they only point
    down the trie, and millions of them would make every full collection walk
    the whole trie. The cost: a subscribed value that refers back to its
    matcher forms a cycle that is never collected.
    """

    cdef object key
    cdef _Node children  # the only child, when there is one
    cdef Table* table  # the children, when there are several
    cdef _Node plus
    cdef _Node hash
    cdef object value
    cdef dict more

    def __cinit__(self, key=""):
        self.key = key
        self.value = _NO_VALUE

    def __dealloc__(self):
        cdef Table* table = self.table
        cdef Slot* slots
        cdef Py_ssize_t index
        if table != NULL:
            self.table = NULL
            slots = _slots(table)
            for index in range(table.mask + 1):
                if slots[index].node != NULL:
                    _decref(slots[index].node)
            PyMem_Free(table)

    cdef inline _Node child(self, str level):
        cdef Py_ssize_t index
        if self.table != NULL:
            index = _table_index(self.table, hash(level), level, 0, PyUnicode_GET_LENGTH(level))
            return <_Node>_slots(self.table)[index].node if index >= 0 else None
        if self.children is not None and self.children.key == level:
            return self.children
        return None

    cdef _Node add_child(self, str level):
        cdef _Node child = self.child(level)
        cdef Table* table
        if child is not None:
            return child
        level = _intern(level)
        child = _Node(level)
        if self.table != NULL:
            if (self.table.used + 1) * 3 > (self.table.mask + 1) * 2:
                self.table = _table_grown(self.table)
            _incref(<PyObject*>child)
            _table_put(self.table, hash(level), <PyObject*>child)
        elif self.children is None:
            self.children = child
        else:
            table = _table_new(4)
            _incref(<PyObject*>self.children)
            _table_put(table, hash(self.children.key), <PyObject*>self.children)
            _incref(<PyObject*>child)
            _table_put(table, hash(level), <PyObject*>child)
            self.table = table
            self.children = None
        return child

    cdef int remove_child(self, str level) except -1:
        cdef Table* table = self.table
        cdef Slot* slots
        cdef PyObject* removed
        cdef Py_ssize_t index
        if table == NULL:
            self.children = None
            return 0
        slots = _slots(table)
        index = _table_index(table, hash(level), level, 0, PyUnicode_GET_LENGTH(level))
        if index < 0:
            return 0
        removed = slots[index].node
        _table_delete(table, index)
        if table.used == 1:
            # Back to a single child, as a dict of one would be.
            for index in range(table.mask + 1):
                if slots[index].node != NULL:
                    self.children = <_Node>slots[index].node
                    self.table = NULL
                    _decref(slots[index].node)
                    PyMem_Free(table)
                    break
        _decref(removed)
        return 0

    cdef bint add(self, object value) except -1:
        cdef dict more = self.more
        if more is None:
            if self.value is _NO_VALUE:
                self.value = value
                return True
            if self.value is value or self.value == value:  # as a dict compares keys
                return False
            self.more = {value: None}
            return True
        if (self.value is not _NO_VALUE and (self.value is value or self.value == value)) or value in more:
            return False
        more[value] = None
        return True

    cdef bint discard(self, object value) except -1:
        if self.value is not _NO_VALUE and (self.value is value or self.value == value):
            self.value = _NO_VALUE
        elif self.more is not None and value in self.more:
            del self.more[value]
        else:
            return False
        if not self.more:
            self.more = None
        return True

    cdef inline int collect(self, list out) except -1:
        cdef object value = self.value
        cdef dict more = self.more
        if value is not _NO_VALUE:
            out.append(value)
        if more:
            out.extend(more)
        return 0

    cdef list branches(self):
        """``(level, child)`` of every child, wildcards included."""
        cdef list branches = []
        cdef Slot* slots
        cdef Py_ssize_t index
        if self.table != NULL:
            slots = _slots(self.table)
            for index in range(self.table.mask + 1):
                if slots[index].node != NULL:
                    branches.append(((<_Node>slots[index].node).key, <_Node>slots[index].node))
        elif self.children is not None:
            branches.append((self.children.key, self.children))
        if self.plus is not None:
            branches.append(("+", self.plus))
        if self.hash is not None:
            branches.append(("#", self.hash))
        return branches

    cdef bint empty(self):
        return (
            self.value is _NO_VALUE
            and not self.more
            and self.children is None
            and self.table == NULL
            and self.plus is None
            and self.hash is None
        )


DEF INLINE_FRONTIER = 32


cdef struct Frontier:
    # Borrowed pointers to trie nodes: match() runs no Python code (str keys
    # hash and compare in C), so under the GIL no other thread can free a node
    # while it is listed here. Starts in ``inline``, moves to the heap if it grows.
    PyObject** nodes
    Py_ssize_t size
    Py_ssize_t capacity
    PyObject* inline[INLINE_FRONTIER]


cdef inline void _init(Frontier* frontier):
    frontier.nodes = frontier.inline
    frontier.size = 0
    frontier.capacity = INLINE_FRONTIER


cdef inline void _release(Frontier* frontier):
    if frontier.nodes != frontier.inline:
        PyMem_Free(frontier.nodes)


cdef int _grow(Frontier* frontier) except -1:
    cdef PyObject** grown
    if frontier.nodes == frontier.inline:
        grown = <PyObject**>PyMem_Malloc(2 * frontier.capacity * sizeof(PyObject*))
        if grown != NULL:
            memcpy(grown, frontier.inline, frontier.size * sizeof(PyObject*))
    else:
        grown = <PyObject**>PyMem_Realloc(frontier.nodes, 2 * frontier.capacity * sizeof(PyObject*))
    if grown == NULL:
        raise MemoryError()
    frontier.nodes = grown
    frontier.capacity *= 2
    return 0


cdef inline int _push(Frontier* frontier, _Node node) except -1:
    if frontier.size == frontier.capacity:
        _grow(frontier)
    frontier.nodes[frontier.size] = <PyObject*>node
    frontier.size += 1
    # The walk of the next level reads this node: start fetching it now, so the
    # cache misses of a level's nodes overlap instead of adding up.
    __builtin_prefetch(<void*>node)
    return 0


cdef class _Trie:
    """Filters as paths of levels; values stored at the filter's last node."""

    cdef _Node root

    def __cinit__(self):
        self.root = _Node()

    cdef bint add(self, list levels, object value) except -1:
        cdef _Node node = self.root
        cdef str level
        for level in levels:
            if level == "+":
                if node.plus is None:
                    node.plus = _Node()
                node = node.plus
            elif level == "#":
                if node.hash is None:
                    node.hash = _Node()
                node = node.hash
            else:
                node = node.add_child(level)
        return node.add(value)

    cdef _Node find(self, list levels):
        """The node of the filter made of ``levels``, or None."""
        cdef _Node node = self.root
        cdef str level
        for level in levels:
            if level == "+":
                node = node.plus
            elif level == "#":
                node = node.hash
            else:
                node = node.child(level)
            if node is None:
                return None
        return node

    cdef bint discard(self, list levels, object value) except -1:
        cdef list path = []
        cdef _Node node = self.root
        cdef _Node child, parent
        cdef str level
        for level in levels:
            if level == "+":
                child = node.plus
            elif level == "#":
                child = node.hash
            else:
                child = node.child(level)
            if child is None:
                return False
            path.append((node, level))
            node = child
        if not node.discard(value):
            return False
        # Prune the nodes left empty, deepest first, so memory comes back.
        while path and node.empty():
            parent, level = path.pop()
            if level == "+":
                parent.plus = None
            elif level == "#":
                parent.hash = None
            else:
                parent.remove_child(level)
            node = parent
        return True

    cdef int items(self, list out) except -1:
        """Append ``(filter, value)`` of every stored pair to ``out`` (depth first, no recursion)."""
        cdef list stack = [(self.root, None)]
        cdef list values
        cdef _Node node
        while stack:
            node, prefix = stack.pop()
            if prefix is not None:
                values = []
                node.collect(values)
                out.extend([(prefix, value) for value in values])
            for level, child in node.branches():
                stack.append((child, level if prefix is None else prefix + "/" + level))
        return 0

    cdef Py_ssize_t node_count(self) except -1:
        """Number of nodes, the root included."""
        cdef Py_ssize_t count = 0
        cdef list stack = [self.root]
        cdef _Node node
        while stack:
            node = stack.pop()
            count += 1
            stack.extend([child for _, child in node.branches()])
        return count

    cdef int match(self, str topic, list out) except -1:
        """Append the values of every filter matching ``topic`` to ``out``.

        Breadth-first over the levels, so a topic of thousands of levels needs
        no recursion; the '$' rule applies to wildcards at the first level.
        """
        cdef Py_ssize_t length = PyUnicode_GET_LENGTH(topic)
        cdef Py_ssize_t start = 0, end
        cdef bint wildcards_allowed = not topic.startswith("$")
        # An ASCII topic's level hashes in place, as the str of the level would.
        cdef bint hash_in_place = _HASH_SLICES and PyUnicode_IS_COMPACT_ASCII(topic)
        cdef const char* data = <const char*>PyUnicode_DATA(topic)
        cdef Py_hash_t level_hash = 0
        cdef bint hashed
        cdef Py_ssize_t slot
        cdef Frontier frontiers[2]
        cdef Frontier* current = &frontiers[0]
        cdef Frontier* following = &frontiers[1]
        cdef Frontier* swap
        cdef Py_ssize_t index
        cdef _Node node
        _init(current)
        _init(following)
        try:
            _push(current, self.root)
            while start <= length:
                # The level is topic[start:end], compared in place; hashed once, if a table needs it.
                end = PyUnicode_FindChar(topic, 0x2F, start, length, 1)
                if end < 0:
                    end = length
                hashed = False
                following.size = 0
                for index in range(current.size):
                    node = <_Node>current.nodes[index]
                    if wildcards_allowed:
                        if node.hash is not None:
                            node.hash.collect(out)
                        if node.plus is not None:
                            _push(following, node.plus)
                    if node.table != NULL:
                        if not hashed:
                            if hash_in_place:
                                level_hash = _Py_HashBytes(data + start, end - start)
                            else:
                                level_hash = hash(PyUnicode_Substring(topic, start, end))
                            hashed = True
                        slot = _table_index(node.table, level_hash, topic, start, end)
                        if slot >= 0:
                            _push(following, <_Node>_slots(node.table)[slot].node)
                    elif node.children is not None and _equals_slice(node.children.key, topic, start, end):
                        _push(following, node.children)
                start = end + 1
                swap = current
                current = following
                following = swap
                if current.size == 0:
                    return 0
                wildcards_allowed = True
            for index in range(current.size):
                node = <_Node>current.nodes[index]
                node.collect(out)
                if node.hash is not None:
                    node.hash.collect(out)  # '#' matches the parent level too
        finally:
            _release(current)
            _release(following)
        return 0


cdef class TopicMatcher:
    """Subscriptions by topic filter, matched against topic names through a trie.

    ``subscribe(filter, value)`` stores the pair once (values must be
    hashable; a broker typically uses a client id or session object).
    ``match(topic)`` returns the values of every non-shared filter matching
    the topic, once per matching filter: a client subscribed through two
    overlapping filters appears twice, which lets a broker deliver once per
    subscription or pick the highest QoS (3.1.1 §3.3.5) and collect every
    subscription identifier (5.0 §3.3.4). Values of one filter come in
    subscription order; filters in a fixed order of the trie walk (level by
    level; at each level '#' before '+' before the exact level), the same for
    both twins.

    Shared subscriptions ``$share/{group}/{filter}`` are kept per group and
    never appear in ``match``; ``match_shared(topic)`` returns
    ``{(group, filter): [members in subscription order]}`` for every group
    whose filter matches, and the broker delivers to one member of each.

    ``len()`` counts the (filter, value) pairs, shared ones included;
    ``(filter, value) in matcher`` tests one; iterating yields every pair
    (shared ones as ``$share/{group}/{filter}``) from a snapshot, in no
    promised order.

    ``max_levels`` (default 128) bounds the levels of a subscribed filter
    (``InvalidTopicFilter`` beyond it); topics of any depth can be matched.

    Thread safety: ``subscribe``, ``unsubscribe`` and the snapshot taken by
    iteration are serialised by an internal lock; ``match`` and
    ``match_shared`` take no lock and may run in any number of threads
    alongside them. Every change to the trie is a single store or dict
    operation, and a match never iterates a live dict except through one C
    call (``list.extend``, ``list(d.items())``), all atomic under the GIL,
    so a concurrent match sees each subscription either before or after a
    change, never a broken trie nor "dictionary changed size during
    iteration". Here the walk of ``match`` runs in C and calls no Python
    code, so under the GIL no change can even interleave with it (a
    free-threaded build would need a lock).
    """

    cdef _Trie _trie
    cdef _Trie _shared_trie
    cdef dict _shared
    cdef Py_ssize_t _count
    cdef object _lock
    cdef readonly Py_ssize_t max_levels

    def __init__(self, *, Py_ssize_t max_levels=DEFAULT_MAX_LEVELS):
        if max_levels < 1:
            raise ValueError("max_levels must be at least 1")
        self.max_levels = max_levels
        self._trie = _Trie()
        self._shared_trie = _Trie()  # inner filters of shared subscriptions; values are the inner filters
        self._shared = {}  # inner filter -> {group: {member: None}}
        self._count = 0
        self._lock = threading.Lock()

    def subscribe(self, topic_filter, value):
        """Add ``value`` under ``topic_filter``; False if that pair was already there."""
        cdef bint added
        cdef dict groups, members
        validate_topic_filter(topic_filter)
        # Each level is a node: a 65,535-byte filter of slashes would otherwise cost megabytes.
        levels = topic_filter.count("/") + 1 - (2 if topic_filter.startswith("$share/") else 0)
        if levels > self.max_levels:
            raise InvalidTopicFilter(f"topic filter has {levels} levels, more than max_levels={self.max_levels}")
        hash(value)  # refuse an unhashable value before touching the trie
        with self._lock:
            shared = split_shared(topic_filter)
            if shared is None:
                added = self._trie.add(topic_filter.split("/"), value)
            else:
                group, inner = shared
                groups = self._shared.get(inner)
                if groups is None:
                    groups = self._shared[inner] = {}
                    self._shared_trie.add(inner.split("/"), inner)
                members = groups.setdefault(group, {})
                added = value not in members
                members[value] = None
            if added:
                self._count += 1
            return added

    def unsubscribe(self, topic_filter, value):
        """Remove ``value`` from ``topic_filter``; False if it was not subscribed."""
        cdef bint removed
        cdef dict groups, members
        validate_topic_filter(topic_filter)
        with self._lock:
            shared = split_shared(topic_filter)
            if shared is None:
                removed = self._trie.discard(topic_filter.split("/"), value)
            else:
                group, inner = shared
                groups = self._shared.get(inner)
                members = groups.get(group) if groups is not None else None
                removed = members is not None and value in members
                if removed:
                    del members[value]
                    if not members:
                        del groups[group]
                        if not groups:
                            del self._shared[inner]
                            self._shared_trie.discard(inner.split("/"), inner)
            if removed:
                self._count -= 1
            return removed

    def match(self, topic):
        """Values of the non-shared subscriptions matching the topic name ``topic``."""
        cdef list out = []
        if not _plain_ascii_name(topic):
            validate_topic_name(topic)
        self._trie.match(topic, out)
        return out

    def match_shared(self, topic):
        """``{(group, filter): [members]}`` of the shared subscriptions matching ``topic``."""
        cdef list inners = []
        cdef dict result = {}
        if not _plain_ascii_name(topic):
            validate_topic_name(topic)
        self._shared_trie.match(topic, inners)
        for inner in inners:
            groups = self._shared.get(inner)
            if groups is not None:
                for group, members in list(groups.items()):
                    result[(group, inner)] = list(members)
        return result

    def __len__(self):
        """Number of (filter, value) pairs, shared subscriptions included."""
        return self._count

    def __iter__(self):
        """Every stored ``(filter, value)`` pair, from a snapshot taken under the lock."""
        cdef list pairs = []
        with self._lock:
            self._trie.items(pairs)
            for inner, groups in self._shared.items():
                for group, members in groups.items():
                    prefix = f"{_SHARE_PREFIX}{group}/{inner}"
                    pairs.extend([(prefix, member) for member in members])
        return iter(pairs)

    def _node_count(self):
        """Trie nodes in use, both roots included (2 when empty); for tests of pruning."""
        return self._trie.node_count() + self._shared_trie.node_count()

    def __contains__(self, item):
        """Whether the ``(filter, value)`` pair is stored."""
        cdef _Node node
        topic_filter, value = item
        shared = split_shared(topic_filter)
        if shared is not None:
            groups = self._shared.get(shared[1])
            return groups is not None and value in groups.get(shared[0], ())
        node = self._trie.find(topic_filter.split("/"))
        if node is None:
            return False
        found = []
        node.collect(found)
        return value in found
