# The subscription trie, compiled twin of ``_trie_py``; included by ``_topics_c.pyx``.
#
# Same trie, same results in the same order as the Python twin. What differs
# is cost: nodes are C structs (one allocation holds a node and its
# children's entries, each with the first bytes of its level), so ``match``
# compares each level as bytes in place in the topic without building a str,
# hashes it only at a node with many children, and touches about one cache
# line per node; ``match`` walks the levels in a C loop over a frontier of node
# pointers, and accepts a plain ASCII topic name with one scan before falling
# back to ``validate_topic_name``.

# Filters repeat their levels ('sensors', 'temperature', ...): one str per
# distinct level instead of one per trie node saves memory and cache misses
# in match(). Not on 3.12.0 to 3.12.5, where interned strings are immortal and
# the levels of filters unsubscribed long ago would leak (CPython gh-113993).
_intern = str if (3, 12) <= sys.version_info[:3] < (3, 12, 6) else sys.intern


# The trie is made of C structs, not Python objects: match() follows plain
# pointers and compares levels as bytes, so a lookup touches about one cache
# line per node it visits (a node's header and its children are one
# allocation) instead of a node object, its children table and the str key of
# every child it compares. At a million subscriptions the trie is far larger
# than the caches, and these misses are what a lookup costs.
#
# A node's children are 16-byte entries (head, child): ``head`` packs the
# level's UTF-8 into one integer (see mqttfast_head), so a level of up to 7
# bytes is compared with one integer test and a longer one reads the child's
# key only when its first 7 bytes and length agree. Up to LINEAR_MAX children
# are a packed array scanned in order: no hash is computed at all. A node with more children
# keeps them in an open-addressing table (linear probing, capacity a power of
# two, at most 2/3 full) keyed by SipHash-1-3 of the level's UTF-8 under a
# random key drawn once per process (``_level_hash``; what CPython hashes str
# and bytes with), so a hostile choice of levels cannot make the probes long. The hash is computed once per level, from the topic's bytes
# in place, and only when a visited node has a table; entries do not keep it
# (a table recomputes it from the keys when it grows or shifts entries back).
#
# Memory is taken with PyMem_Malloc (Python's allocator, seen by tracemalloc).
# Every node owns strong references to its ``key`` (the interned str of its
# level; NULL for the roots and the wildcard nodes), its first subscriber
# ``value`` and the dict ``more`` of later ones; children are owned by their
# parent. A node that gains or loses many children is reallocated, and the one
# pointer to it (in its parent's entry, the parent's plus/hash, or the root) is
# updated in the same C step. None of this runs Python code, so a match (which
# runs no Python code either, under the GIL) sees the trie before or after a
# change, never in between. The cycle collector does not see the references
# nodes hold (millions of tracked nodes would make every full collection walk
# the whole trie): a subscribed value that refers back to its matcher forms a
# cycle that is never collected.

cdef enum:
    LINEAR_MAX = 8

cdef struct Node  # defined below; entries point to their children

cdef struct Entry:
    uint64_t head   # the level, or its first 7 bytes and its length (see mqttfast_head)
    Node* child     # NULL: a free slot (tables only)

cdef struct Node:
    uint32_t used      # children
    uint32_t capacity  # entries allocated after the header; > LINEAR_MAX means a table
    Node* plus         # the '+' child
    Node* hash         # the '#' child
    PyObject* value    # the first subscriber, NULL when none
    PyObject* more     # dict of later subscribers (insertion ordered), NULL when none
    PyObject* key      # the str of this node's level; NULL for roots and wildcard nodes
    # followed by capacity Entries


cdef extern from *:
    """
    /* A level as one integer: a level of up to 7 bytes is its bytes, zero
       padded, which tell it apart from every other (levels hold no NUL); a
       longer one keeps its first 7 bytes and, in the eighth, its length beyond
       7 (at most 255, never 0), so equal heads of long levels still need a
       comparison of the rest. `available` bytes may be read at p (>= size). */
    static CYTHON_INLINE uint64_t mqttfast_head(const unsigned char *p, Py_ssize_t size, Py_ssize_t available) {
        uint64_t head = 0;
        Py_ssize_t i, kept = size > 7 ? 7 : size;
        int loaded = 0;
    #if PY_LITTLE_ENDIAN
        if (available >= 8) {
            memcpy(&head, p, 8);
            head &= (((uint64_t)1) << (8 * kept)) - 1;
            loaded = 1;
        }
    #endif
        if (!loaded) {
            for (i = 0; i < kept; i++) head |= ((uint64_t)p[i]) << (8 * i);
        }
        if (size > 7) head |= ((uint64_t)(size - 7 > 255 ? 255 : size - 7)) << 56;
        return head;
    }

    /* SipHash-1-3 (Aumasson and Bernstein) of a level's bytes under a secret
       128-bit key: a keyed hash, so which levels collide in a table cannot be
       foreseen by a subscriber choosing them. The key is set once, at import. */
    static uint64_t mqttfast_level_k0, mqttfast_level_k1;

    static void mqttfast_set_level_key(uint64_t k0, uint64_t k1) {
        mqttfast_level_k0 = k0;
        mqttfast_level_k1 = k1;
    }

    #define MQTTFAST_ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))
    #define MQTTFAST_SIPROUND do { \
        v0 += v1; v1 = MQTTFAST_ROTL(v1, 13); v1 ^= v0; v0 = MQTTFAST_ROTL(v0, 32); \
        v2 += v3; v3 = MQTTFAST_ROTL(v3, 16); v3 ^= v2; \
        v0 += v3; v3 = MQTTFAST_ROTL(v3, 21); v3 ^= v0; \
        v2 += v1; v1 = MQTTFAST_ROTL(v1, 17); v1 ^= v2; v2 = MQTTFAST_ROTL(v2, 32); \
    } while (0)

    static CYTHON_INLINE uint64_t mqttfast_load64(const unsigned char *p, Py_ssize_t size) {
        /* The first `size` (<= 8) bytes at p as a little-endian integer. */
        uint64_t word = 0;
        Py_ssize_t i;
    #if PY_LITTLE_ENDIAN
        if (size == 8) {
            memcpy(&word, p, 8);
            return word;
        }
    #endif
        for (i = 0; i < size; i++) word |= ((uint64_t)p[i]) << (8 * i);
        return word;
    }

    static CYTHON_INLINE uint64_t mqttfast_level_hash(const unsigned char *p, Py_ssize_t size) {
        uint64_t v0 = mqttfast_level_k0 ^ 0x736f6d6570736575ULL;
        uint64_t v1 = mqttfast_level_k1 ^ 0x646f72616e646f6dULL;
        uint64_t v2 = mqttfast_level_k0 ^ 0x6c7967656e657261ULL;
        uint64_t v3 = mqttfast_level_k1 ^ 0x7465646279746573ULL;
        uint64_t m;
        Py_ssize_t rest = size;
        for (; rest >= 8; rest -= 8, p += 8) {
            m = mqttfast_load64(p, 8);
            v3 ^= m;
            MQTTFAST_SIPROUND;
            v0 ^= m;
        }
        m = mqttfast_load64(p, rest) | ((uint64_t)size << 56);
        v3 ^= m;
        MQTTFAST_SIPROUND;
        v0 ^= m;
        v2 ^= 0xff;
        MQTTFAST_SIPROUND;
        MQTTFAST_SIPROUND;
        MQTTFAST_SIPROUND;
        return v0 ^ v1 ^ v2 ^ v3;
    }

    /* Index of the first '/' at or after start, else length: eight bytes at a
       time (a byte equals '/' when its xor with '/' is zero; the lowest such
       byte of a word is found exactly). */
    static CYTHON_INLINE Py_ssize_t mqttfast_level_end(const unsigned char *data, Py_ssize_t start, Py_ssize_t length) {
    #if PY_LITTLE_ENDIAN && (defined(__GNUC__) || defined(__clang__))
        const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
        uint64_t word, zeros;
        for (; start + 8 <= length; start += 8) {
            memcpy(&word, data + start, 8);
            word ^= ones * 0x2F;
            zeros = (word - ones) & ~word & highs;
            if (zeros) return start + (__builtin_ctzll(zeros) >> 3);
        }
    #endif
        while (start < length && data[start] != 0x2F) start++;
        return start;
    }
    """
    uint64_t _head "mqttfast_head"(const unsigned char* p, Py_ssize_t size, Py_ssize_t available) nogil
    uint64_t _level_hash "mqttfast_level_hash"(const unsigned char* p, Py_ssize_t size) nogil
    void _set_level_key "mqttfast_set_level_key"(uint64_t k0, uint64_t k1) nogil
    Py_ssize_t _level_end "mqttfast_level_end"(const unsigned char* data, Py_ssize_t start, Py_ssize_t length) nogil


cdef inline Entry* _entries(Node* node) noexcept nogil:
    return <Entry*>(node + 1)


cdef inline bint _is_table(Node* node) noexcept nogil:
    return node.capacity > LINEAR_MAX


cdef inline const unsigned char* _key_bytes(PyObject* key, Py_ssize_t* size) noexcept:
    """The UTF-8 of a node's key: an ASCII str's own data, else the UTF-8 copy
    the str caches (made when the node was created, so this never fails)."""
    if PyUnicode_IS_COMPACT_ASCII(<object>key):
        size[0] = PyUnicode_GET_LENGTH(<object>key)
        return <const unsigned char*>PyUnicode_DATA(<object>key)
    return <const unsigned char*>PyUnicode_AsCachedUTF8AndSize(<object>key, size)


cdef inline bint _entry_is(Entry* entry, uint64_t head, const unsigned char* level, Py_ssize_t size) noexcept:
    cdef Py_ssize_t key_size
    cdef const unsigned char* key
    if entry.head != head:
        return False
    if size <= 7:
        return True
    key = _key_bytes(entry.child.key, &key_size)
    return key_size == size and memcmp(key + 7, level + 7, size - 7) == 0


cdef inline uint32_t _child_hash(Node* child) noexcept:
    """The table hash of a child: that of its level (recomputed: tables change rarely)."""
    cdef Py_ssize_t size
    cdef const unsigned char* key = _key_bytes(child.key, &size)
    return <uint32_t>_level_hash(key, size)


cdef inline Py_ssize_t _find(Node* node, uint64_t hash, uint64_t head, const unsigned char* level, Py_ssize_t size) noexcept:
    """Index of the entry of the child for ``level``, or -1 (``hash`` is read only for a table)."""
    cdef Entry* entries = _entries(node)
    cdef Py_ssize_t index, mask
    if not _is_table(node):
        for index in range(node.used):
            if _entry_is(&entries[index], head, level, size):
                return index
        return -1
    mask = node.capacity - 1
    index = <uint32_t>hash & mask
    while entries[index].child != NULL:
        if _entry_is(&entries[index], head, level, size):
            return index
        index = (index + 1) & mask
    return -1


cdef inline Py_ssize_t _put(Node* node, Entry* entry) noexcept:
    """Store a copy of ``entry`` in a node with room for it; its index."""
    cdef Entry* entries = _entries(node)
    cdef Py_ssize_t index, mask
    if not _is_table(node):
        index = node.used
    else:
        mask = node.capacity - 1
        index = _child_hash(entry.child) & mask
        while entries[index].child != NULL:
            index = (index + 1) & mask
    entries[index] = entry[0]
    node.used += 1
    return index


cdef inline Py_ssize_t _fit(Py_ssize_t used) noexcept:
    """The capacity a node with ``used`` children is given when it is resized."""
    cdef Py_ssize_t capacity = 0 if used == 0 else 1
    while capacity < used:
        capacity *= 2
    if capacity <= LINEAR_MAX:
        return capacity
    while used * 3 > capacity * 2:
        capacity *= 2
    return capacity


# Nodes of up to LINEAR_MAX children come from a pool owned by their trie:
# chunks taken with PyMem_Malloc (so tracemalloc counts them, slack included),
# cut into blocks of the five node sizes, with a free list per size. A big
# trie's nodes so sit together in few, large chunks instead of among every
# other object of the process: at a million subscriptions the pages a lookup
# touches are what it waits for (each TLB miss is a page-table walk), and on
# Linux the large chunks are advised to become huge pages (2 MiB). Chunks grow
# with the pool (an eighth of it, 4 KiB to 8 MiB), so a small matcher stays
# small. Freed nodes are reused by the same trie; the chunks go back to Python
# when the trie becomes empty or goes away. Tables (nodes with more children)
# are allocated one by one.

cdef enum:
    CHUNK_MIN = 4096
    CHUNK_MAX = 8388608
    HUGE_ADVICE_MIN = 4194304

cdef extern from *:
    """
    #if defined(__linux__)
    #include <sys/mman.h>
    #endif
    /* Ask for huge pages over the 2 MiB-aligned part of [start, start + size). */
    static void mqttfast_advise_huge_pages(void *start, size_t size) {
    #if defined(__linux__) && defined(MADV_HUGEPAGE)
        const uintptr_t huge = (uintptr_t)2 << 20;
        uintptr_t first = ((uintptr_t)start + huge - 1) & ~(huge - 1);
        uintptr_t last = ((uintptr_t)start + size) & ~(huge - 1);
        if (last > first) (void)madvise((void *)first, last - first, MADV_HUGEPAGE);  /* advice only */
    #else
        (void)start; (void)size;
    #endif
    }
    """
    void _advise_huge_pages "mqttfast_advise_huge_pages"(void* start, size_t size) nogil


cdef struct Chunk:
    Chunk* next
    size_t size
    # followed by blocks


cdef struct Pool:
    Chunk* chunks
    char* bump  # the unused rest of the newest chunk: bump..end
    char* end
    size_t total  # bytes of all chunks
    void* free[5]  # free blocks of nodes of capacity 0, 1, 2, 4, 8 (the first word links them)


cdef inline size_t _block_size(Py_ssize_t capacity) noexcept nogil:
    return sizeof(Node) + capacity * sizeof(Entry)


cdef inline int _size_class(Py_ssize_t capacity) noexcept nogil:
    # Pool nodes have capacity 0 or a power of two up to LINEAR_MAX (see _fit).
    return 0 if capacity == 0 else 1 if capacity == 1 else 2 if capacity == 2 else 3 if capacity == 4 else 4


cdef int _pool_grow(Pool* pool) except -1:
    cdef size_t size = pool.total // 8
    cdef Chunk* chunk
    size = CHUNK_MIN if size < CHUNK_MIN else CHUNK_MAX if size > CHUNK_MAX else size
    chunk = <Chunk*>PyMem_Malloc(size)
    if chunk == NULL:
        raise MemoryError()
    if size >= HUGE_ADVICE_MIN:
        _advise_huge_pages(chunk, size)
    chunk.next = pool.chunks
    chunk.size = size
    pool.chunks = chunk
    pool.bump = <char*>(chunk + 1)
    pool.end = <char*>chunk + size
    pool.total += size
    return 0


cdef void* _pool_alloc(Pool* pool, Py_ssize_t capacity) except NULL:
    cdef size_t size = _block_size(capacity)
    cdef void* block
    cdef int size_class
    if capacity > LINEAR_MAX:
        block = PyMem_Malloc(size)
        if block == NULL:
            raise MemoryError()
        return block
    size_class = _size_class(capacity)
    block = pool.free[size_class]
    if block != NULL:
        pool.free[size_class] = (<void**>block)[0]
        return block
    if <size_t>(pool.end - pool.bump) < size:
        _pool_grow(pool)
    block = pool.bump
    pool.bump += size
    return block


cdef inline void _pool_free(Pool* pool, Node* node) noexcept:
    cdef int size_class
    if node.capacity > LINEAR_MAX:
        PyMem_Free(node)
        return
    size_class = _size_class(node.capacity)
    (<void**>node)[0] = pool.free[size_class]
    pool.free[size_class] = node


cdef void _pool_clear(Pool* pool) noexcept:
    """Give every chunk back (no node of the pool may be in use)."""
    cdef Chunk* chunk = pool.chunks
    cdef Chunk* following
    while chunk != NULL:
        following = chunk.next
        PyMem_Free(chunk)
        chunk = following
    memset(pool, 0, sizeof(Pool))


cdef Node* _node_new(Pool* pool, PyObject* key, Py_ssize_t capacity) except NULL:
    cdef size_t size = _block_size(capacity)
    cdef Node* node = <Node*>_pool_alloc(pool, capacity)
    memset(node, 0, size)
    node.capacity = <uint32_t>capacity
    node.key = key
    Py_XINCREF(key)
    return node


cdef Node* _resized(Pool* pool, Node* node, Py_ssize_t capacity) except NULL:
    """A copy of ``node`` with room for ``capacity`` children; ``node`` is freed (its references move)."""
    cdef Node* resized = <Node*>_pool_alloc(pool, capacity)
    cdef Entry* entries = _entries(node)
    cdef Py_ssize_t index
    resized[0] = node[0]
    resized.used = 0
    resized.capacity = <uint32_t>capacity
    memset(_entries(resized), 0, capacity * sizeof(Entry))
    for index in range(node.capacity):
        if entries[index].child != NULL:
            _put(resized, &entries[index])
    _pool_free(pool, node)
    return resized


cdef void _delete(Node* node, Py_ssize_t index) noexcept:
    """Empty entry ``index`` (its child passes to the caller)."""
    cdef Entry* entries = _entries(node)
    cdef Py_ssize_t mask, probe, home
    node.used -= 1
    if not _is_table(node):
        # Packed: the last entry fills the hole (order among siblings does not matter).
        entries[index] = entries[node.used]
        entries[node.used].child = NULL
        return
    # Table: shift back the entries probed past the hole.
    mask = node.capacity - 1
    probe = index
    entries[index].child = NULL
    while True:
        probe = (probe + 1) & mask
        if entries[probe].child == NULL:
            return
        home = _child_hash(entries[probe].child) & mask
        # The entry stays if its home lies cyclically in (index, probe].
        if (index < probe and index < home <= probe) or (index > probe and (home > index or home <= probe)):
            continue
        entries[index] = entries[probe]
        entries[probe].child = NULL
        index = probe


cdef inline const unsigned char* _level_bytes(str level, Py_ssize_t* size) except NULL:
    """The UTF-8 of ``level``: an ASCII str's own data, else the copy the str caches."""
    if PyUnicode_IS_COMPACT_ASCII(level):
        size[0] = PyUnicode_GET_LENGTH(level)
        return <const unsigned char*>PyUnicode_DATA(level)
    return <const unsigned char*>PyUnicode_AsUTF8AndSize(level, size)


cdef Py_ssize_t _child_index(Node* node, str level) except -2:
    """Index of the entry of the child for the str ``level``, or -1."""
    cdef Py_ssize_t size
    cdef const unsigned char* data
    if node.used == 0:
        return -1
    data = _level_bytes(level, &size)
    return _find(node, _level_hash(data, size) if _is_table(node) else 0, _head(data, size, size), data, size)


cdef Node* _child(Node* node, str level) except? NULL:
    cdef Py_ssize_t index = _child_index(node, level)
    return _entries(node)[index].child if index >= 0 else NULL


cdef Node** _add_child(Pool* pool, Node** link, str level) except NULL:
    """The link to the child of ``link[0]`` for ``level``, created if missing
    (the parent may be reallocated: ``link`` is updated)."""
    cdef Node* node = link[0]
    cdef Node* child
    cdef Node* grown
    cdef Entry entry
    cdef Py_ssize_t index = _child_index(node, level)
    cdef Py_ssize_t size
    cdef const unsigned char* data
    cdef object key
    if index >= 0:
        return &_entries(node)[index].child
    key = _intern(level)
    data = _level_bytes(key, &size)  # also caches the UTF-8 of a non-ASCII key, which match() reads
    entry.head = _head(data, size, size)
    child = _node_new(pool, <PyObject*>key, 0)
    if node.used == node.capacity or (_is_table(node) and (node.used + 1) * 3 > node.capacity * 2):
        try:
            grown = _resized(pool, node, _fit(node.used + 1))
        except MemoryError:
            _free_node(pool, child)
            raise
        link[0] = grown
        node = grown
    entry.child = child
    index = _put(node, &entry)
    return &_entries(node)[index].child


cdef int _remove_child(Pool* pool, Node** link, str level) except -1:
    """Unlink the child for ``level`` from the entries of ``link[0]`` (shrinking the parent when it got sparse)."""
    cdef Node* node = link[0]
    cdef Py_ssize_t index = _child_index(node, level)
    cdef Node* shrunk
    if index < 0:
        return 0
    _delete(node, index)
    if node.used * 4 <= node.capacity:
        try:
            shrunk = _resized(pool, node, _fit(node.used))
        except MemoryError:
            return 0  # keep the roomy node: still correct
        link[0] = shrunk
    return 0


cdef void _drop(Node* node) noexcept:
    """Drop the references a node holds."""
    Py_XDECREF(node.value)
    Py_XDECREF(node.more)
    Py_XDECREF(node.key)


cdef void _free_node(Pool* pool, Node* node) noexcept:
    """Free one node whose children are gone, dropping its references."""
    _drop(node)
    _pool_free(pool, node)


cdef void _free_tree(Pool* pool, Node* root) noexcept:
    """Free a whole trie and its pool, without recursion (a stack of nodes still to visit)."""
    cdef Node** stack
    cdef Node** grown
    cdef Py_ssize_t size = 1, capacity = 64, index
    cdef Node* node
    cdef Entry* entries
    if root == NULL:
        return
    stack = <Node**>PyMem_Malloc(capacity * sizeof(Node*))
    if stack == NULL:
        return  # leak rather than crash
    stack[0] = root
    while size:
        size -= 1
        node = stack[size]
        entries = _entries(node)
        # At most capacity + 2 children to push.
        if size + node.capacity + 2 > capacity:
            grown = <Node**>PyMem_Realloc(stack, 2 * (size + node.capacity + 2) * sizeof(Node*))
            if grown == NULL:
                PyMem_Free(stack)
                return  # leak rather than crash
            stack = grown
            capacity = 2 * (size + node.capacity + 2)
        for index in range(node.capacity):
            if entries[index].child != NULL:
                stack[size] = entries[index].child
                size += 1
        if node.plus != NULL:
            stack[size] = node.plus
            size += 1
        if node.hash != NULL:
            stack[size] = node.hash
            size += 1
        _drop(node)
        if _is_table(node):
            PyMem_Free(node)
    PyMem_Free(stack)
    _pool_clear(pool)


cdef bint _add_value(Node* node, object value) except -1:
    """As ``_Node.add`` of the Python twin (comparisons may run Python code: the trie is whole meanwhile)."""
    cdef dict more
    if node.more == NULL:
        if node.value == NULL:
            Py_INCREF_ptr(<PyObject*>value)
            node.value = <PyObject*>value
            return True
        if <object>node.value is value or <object>node.value == value:  # as a dict compares keys
            return False
        more = {value: None}
        Py_INCREF_ptr(<PyObject*>more)
        node.more = <PyObject*>more
        return True
    more = <dict>node.more
    if (node.value != NULL and (<object>node.value is value or <object>node.value == value)) or value in more:
        return False
    more[value] = None
    return True


cdef bint _discard_value(Node* node, object value) except -1:
    """As ``_Node.discard`` of the Python twin."""
    cdef PyObject* old
    if node.value != NULL and (<object>node.value is value or <object>node.value == value):
        old = node.value
        node.value = NULL
        Py_DECREF_ptr(old)
    elif node.more != NULL and value in <dict>node.more:
        del (<dict>node.more)[value]
    else:
        return False
    if node.more != NULL and not <dict>node.more:
        old = node.more
        node.more = NULL
        Py_DECREF_ptr(old)
    return True


cdef inline int _collect(Node* node, list out) except -1:
    if node.value != NULL:
        out.append(<object>node.value)
    if node.more != NULL and <dict>node.more:
        out.extend(<dict>node.more)
    return 0


cdef inline bint _empty(Node* node) noexcept:
    return node.value == NULL and node.more == NULL and node.used == 0 and node.plus == NULL and node.hash == NULL


cdef list _branches(Node* node):
    """``(level, child)`` of every child, wildcards included (children as addresses, for the iterations)."""
    cdef list branches = []
    cdef Entry* entries = _entries(node)
    cdef Py_ssize_t index
    for index in range(node.capacity):
        if entries[index].child != NULL:
            branches.append((<object>entries[index].child.key, <size_t>entries[index].child))
    if node.plus != NULL:
        branches.append(("+", <size_t>node.plus))
    if node.hash != NULL:
        branches.append(("#", <size_t>node.hash))
    return branches


cdef enum:
    INLINE_FRONTIER = 32


cdef struct Frontier:
    # Pointers to trie nodes: match() runs no Python code, so under the GIL no
    # other thread can free a node while it is listed here. Starts in
    # ``inline``, moves to the heap if it grows.
    Node** nodes
    Py_ssize_t size
    Py_ssize_t capacity
    Node* inline[INLINE_FRONTIER]


cdef inline void _init(Frontier* frontier) noexcept:
    frontier.nodes = frontier.inline
    frontier.size = 0
    frontier.capacity = INLINE_FRONTIER


cdef inline void _release(Frontier* frontier) noexcept:
    if frontier.nodes != frontier.inline:
        PyMem_Free(frontier.nodes)


cdef int _grow(Frontier* frontier) except -1:
    cdef Node** grown
    if frontier.nodes == frontier.inline:
        grown = <Node**>PyMem_Malloc(2 * frontier.capacity * sizeof(Node*))
        if grown != NULL:
            memcpy(grown, frontier.inline, frontier.size * sizeof(Node*))
    else:
        grown = <Node**>PyMem_Realloc(frontier.nodes, 2 * frontier.capacity * sizeof(Node*))
    if grown == NULL:
        raise MemoryError()
    frontier.nodes = grown
    frontier.capacity *= 2
    return 0


cdef inline int _push(Frontier* frontier, Node* node) except -1:
    if frontier.size == frontier.capacity:
        _grow(frontier)
    frontier.nodes[frontier.size] = node
    frontier.size += 1
    # The walk of the next level reads this node's header and first entries:
    # start fetching them now, so the cache misses of a level's nodes overlap
    # instead of adding up.
    _prefetch(<void*>node)
    _prefetch(<void*>(<char*>node + 64))
    return 0


cdef inline object _exact_str(object text):
    # A str subclass is a string like any other; the walk takes exact str.
    return text if type(text) is str else PyUnicode_FromObject(text)


cdef int _walk(Node* root, str topic, list out) except -1:
    """Append the values of every filter matching ``topic`` to ``out``.

    Breadth-first over the levels, so a topic of thousands of levels needs
    no recursion; the '$' rule applies to wildcards at the first level.
    """
    cdef object encoded = None
    cdef const unsigned char* data
    cdef Py_ssize_t length
    cdef Py_ssize_t start = 0, end, size, found
    cdef bint wildcards_allowed
    cdef uint64_t head
    cdef uint64_t level_hash = 0
    cdef bint hashed
    cdef Frontier frontiers[2]
    cdef Frontier* current = &frontiers[0]
    cdef Frontier* following = &frontiers[1]
    cdef Frontier* swap
    cdef Py_ssize_t index
    cdef Node* node
    # Levels are compared as UTF-8: an ASCII str is its own, others are encoded once.
    if PyUnicode_IS_COMPACT_ASCII(topic):
        data = <const unsigned char*>PyUnicode_DATA(topic)
        length = PyUnicode_GET_LENGTH(topic)
    else:
        encoded = PyUnicode_AsUTF8String(topic)
        data = <const unsigned char*>PyBytes_AS_STRING(encoded)
        length = PyBytes_GET_SIZE(encoded)
    wildcards_allowed = length == 0 or data[0] != 0x24  # '$'
    _init(current)
    _init(following)
    try:
        _push(current, root)
        while start <= length:
            end = _level_end(data, start, length)
            size = end - start
            head = _head(data + start, size, length - start)
            hashed = False
            following.size = 0
            for index in range(current.size):
                node = current.nodes[index]
                if wildcards_allowed:
                    if node.hash != NULL:
                        _collect(node.hash, out)
                    if node.plus != NULL:
                        _push(following, node.plus)
                if node.used:
                    if _is_table(node) and not hashed:
                        level_hash = _level_hash(data + start, size)
                        hashed = True
                    found = _find(node, level_hash, head, data + start, size)
                    if found >= 0:
                        _push(following, _entries(node)[found].child)
            start = end + 1
            swap = current
            current = following
            following = swap
            if current.size == 0:
                return 0
            wildcards_allowed = True
        for index in range(current.size):
            node = current.nodes[index]
            _collect(node, out)
            if node.hash != NULL:
                _collect(node.hash, out)  # '#' matches the parent level too
    finally:
        _release(current)
        _release(following)
    return 0


cdef struct Level:
    # A level of the topic, measured once for every node the depth-first walk looks it up in.
    const unsigned char* data
    Py_ssize_t size
    uint64_t head
    uint64_t hash  # valid once ``hashed``: computed at the first table that needs it
    bint hashed


cdef struct Pending:
    Node* node
    Py_ssize_t depth  # levels matched; -1: a '#' node whose values are due


cdef enum:
    INLINE_LEVELS = 16


cdef int _walk_depth_first(Node* root, str topic, list out) except -1:
    """Append the values of every filter matching ``topic`` to ``out``, depth first.

    As ``Trie.match_depth_first`` of the Python twin: an explicit stack, so
    no recursion. A node at depth d leaves at most two entries below the
    child taken next ('#' and '+'), so the stack never holds more than
    2 * levels + 1 entries and is allocated once.
    """
    cdef object encoded = None
    cdef const unsigned char* data
    cdef Py_ssize_t length, start, end, count, index, depth, top, found
    cdef bint wildcards_at_top
    cdef Level inline_levels[INLINE_LEVELS]
    cdef Pending inline_pending[2 * INLINE_LEVELS + 2]
    cdef Level* levels = inline_levels
    cdef Pending* pending = inline_pending
    cdef Level* level
    cdef Node* node
    cdef Node* child
    if PyUnicode_IS_COMPACT_ASCII(topic):
        data = <const unsigned char*>PyUnicode_DATA(topic)
        length = PyUnicode_GET_LENGTH(topic)
    else:
        encoded = PyUnicode_AsUTF8String(topic)
        data = <const unsigned char*>PyBytes_AS_STRING(encoded)
        length = PyBytes_GET_SIZE(encoded)
    wildcards_at_top = length == 0 or data[0] != 0x24  # '$'
    count = 1
    end = _level_end(data, 0, length)
    while end < length:
        count += 1
        end = _level_end(data, end + 1, length)
    if count > INLINE_LEVELS:
        levels = <Level*>PyMem_Malloc(count * sizeof(Level))
        pending = <Pending*>PyMem_Malloc((2 * count + 2) * sizeof(Pending))
        if levels == NULL or pending == NULL:
            PyMem_Free(levels)
            PyMem_Free(pending)
            raise MemoryError()
    try:
        start = 0
        for index in range(count):
            end = _level_end(data, start, length)
            levels[index].data = data + start
            levels[index].size = end - start
            levels[index].head = _head(data + start, end - start, length - start)
            levels[index].hashed = False
            start = end + 1
        pending[0].node = root
        pending[0].depth = 0
        top = 1
        while top:
            top -= 1
            node = pending[top].node
            depth = pending[top].depth
            if depth < 0:
                _collect(node, out)
                continue
            if depth == count:
                _collect(node, out)
                if node.hash != NULL:
                    _collect(node.hash, out)  # '#' matches the parent level too
                continue
            # Pushed in reverse of the order they are taken: exact level, '+', '#'.
            if depth or wildcards_at_top:
                if node.hash != NULL:
                    pending[top].node = node.hash
                    pending[top].depth = -1
                    top += 1
                    _prefetch(<void*>node.hash)
                if node.plus != NULL:
                    pending[top].node = node.plus
                    pending[top].depth = depth + 1
                    top += 1
                    _prefetch(<void*>node.plus)
                    _prefetch(<void*>(<char*>node.plus + 64))
            if node.used:
                level = &levels[depth]
                if _is_table(node) and not level.hashed:
                    level.hash = _level_hash(level.data, level.size)
                    level.hashed = True
                found = _find(node, level.hash, level.head, level.data, level.size)
                if found >= 0:
                    child = _entries(node)[found].child
                    pending[top].node = child
                    pending[top].depth = depth + 1
                    top += 1
                    _prefetch(<void*>child)
                    _prefetch(<void*>(<char*>child + 64))
    finally:
        if levels != inline_levels:
            PyMem_Free(levels)
            PyMem_Free(pending)
    return 0


cdef class Trie:
    """Filters as paths of levels; values stored at the filter's last node.

    Subclassed by ``TopicMatcher`` (which is its own trie of non-shared
    subscriptions), so not final; the methods it calls are ``def`` methods,
    and ``match``, the hot one, calls C functions only.
    """

    cdef Node* root
    cdef Pool pool
    # A TopicMatcher's (None in other tries): the trie of its shared subscriptions'
    # inner filters and {inner filter: {group: {member: None}}}, C fields so that
    # match_shared reads them without an attribute lookup.
    cdef public object _shared_trie
    cdef public object _shared

    def __cinit__(self):
        self.root = _node_new(&self.pool, NULL, 0)

    def __dealloc__(self):
        cdef Node* root = self.root
        self.root = NULL
        _free_tree(&self.pool, root)

    def match(self, topic):
        """Values of the non-shared subscriptions matching the topic name ``topic``."""
        cdef list out = []
        if not _plain_ascii_name(topic):
            validate_topic_name(topic)
        _walk(self.root, _exact_str(topic), out)
        return out

    def match_depth_first(self, topic):
        """The values of ``match(topic)``, in the order of a depth-first walk (see the Python twin)."""
        cdef list out = []
        if not _plain_ascii_name(topic):
            validate_topic_name(topic)
        _walk_depth_first(self.root, _exact_str(topic), out)
        return out

    def match_shared(self, topic):
        """``{(group, filter): [members]}`` of the shared subscriptions matching the topic name ``topic``.

        A ``TopicMatcher`` method, defined on its trie as ``match`` is: it is
        called once per PUBLISH, and here runs without a Python frame.
        """
        # Strong references for the call: validating a str subclass runs Python
        # code, which could replace the matcher's fields and free the old ones.
        cdef Trie shared_trie = <Trie?>self._shared_trie
        cdef dict groups = <dict?>self._shared
        return shared_trie._match_groups(topic, groups)

    cdef dict _match_groups(self, topic, dict groups_by_filter):
        """``{(group, filter): [members]}`` for the filters (this trie's values) matching ``topic``."""
        cdef dict result = {}
        cdef list inners = []
        if not _plain_ascii_name(topic):
            validate_topic_name(topic)
        _walk(self.root, _exact_str(topic), inners)
        for inner in inners:
            groups = groups_by_filter.get(inner)
            if groups is not None:
                for group, members in list((<dict>groups).items()):
                    result[(group, inner)] = list(members)
        return result

    def _add(self, list levels, object value):
        """Store ``value`` under the filter made of ``levels``; False if it was there."""
        cdef Node** link = &self.root
        cdef Node* node = self.root
        cdef str level
        for level in levels:
            if level == "+":
                if node.plus == NULL:
                    node.plus = _node_new(&self.pool, NULL, 0)
                link = &node.plus
            elif level == "#":
                if node.hash == NULL:
                    node.hash = _node_new(&self.pool, NULL, 0)
                link = &node.hash
            else:
                link = _add_child(&self.pool, link, level)
            node = link[0]
        return _add_value(node, value)

    cdef Node* _find(self, list levels) except? NULL:
        """The node of the filter made of ``levels``, or NULL."""
        cdef Node* node = self.root
        cdef str level
        for level in levels:
            if level == "+":
                node = node.plus
            elif level == "#":
                node = node.hash
            else:
                node = _child(node, level)
            if node == NULL:
                return NULL
        return node

    def _values(self, list levels):
        """The values stored under the filter made of ``levels``."""
        cdef list found = []
        cdef Node* node = self._find(levels)
        if node != NULL:
            _collect(node, found)
        return found

    def _discard(self, list levels, object value):
        """Remove ``value`` from the filter made of ``levels``; False if it was not there."""
        cdef Py_ssize_t depth = len(levels)
        # links[i] is where the node of levels[:i] is referenced; entries move
        # only when their node is resized, which pruning does deepest first.
        cdef Node*** links = <Node***>PyMem_Malloc((depth + 1) * sizeof(Node**))
        cdef Node* node = self.root
        cdef Node* parent
        cdef Py_ssize_t index, found
        cdef str level
        if links == NULL:
            raise MemoryError()
        try:
            links[0] = &self.root
            for index in range(depth):
                level = levels[index]
                if level == "+":
                    links[index + 1] = &node.plus
                elif level == "#":
                    links[index + 1] = &node.hash
                else:
                    found = _child_index(node, level)
                    if found < 0:
                        return False
                    links[index + 1] = &_entries(node)[found].child
                node = links[index + 1][0]
                if node == NULL:
                    return False
            if not _discard_value(node, value):
                return False
            # Prune the nodes left empty, deepest first, so memory comes back.
            while depth > 0 and _empty(node):
                parent = links[depth - 1][0]
                level = levels[depth - 1]
                if level == "+":
                    parent.plus = NULL
                elif level == "#":
                    parent.hash = NULL
                else:
                    _remove_child(&self.pool, links[depth - 1], level)
                _free_node(&self.pool, node)
                node = links[depth - 1][0]
                depth -= 1
            if depth == 0 and _empty(node) and self.pool.total > CHUNK_MIN:
                self._restart()
            return True
        finally:
            PyMem_Free(links)

    cdef int _restart(self) except -1:
        """Nothing is left but the empty root: give the pool back, with a fresh root in a new one."""
        cdef Pool fresh
        cdef Node* root
        memset(&fresh, 0, sizeof(Pool))
        root = _node_new(&fresh, NULL, 0)
        _free_tree(&self.pool, self.root)
        self.pool = fresh
        self.root = root
        return 0

    def _items(self, list out):
        """Append ``(filter, value)`` of every stored pair to ``out`` (depth first, no recursion)."""
        cdef list stack = [(<size_t>self.root, None)]
        cdef list values
        cdef Node* node
        cdef size_t address
        while stack:
            address, prefix = stack.pop()
            node = <Node*>address
            if prefix is not None:
                values = []
                _collect(node, values)
                out.extend([(prefix, value) for value in values])
            for level, child in _branches(node):
                stack.append((child, level if prefix is None else prefix + "/" + level))

    def _nodes(self):
        """Number of nodes, the root included."""
        cdef Py_ssize_t count = 0
        cdef list stack = [<size_t>self.root]
        cdef size_t address
        while stack:
            address = stack.pop()
            count += 1
            stack.extend([child for _, child in _branches(<Node*>address)])
        return count


cdef class RememberedMatches:
    """A base class whose ``iter_match(topic)`` iterates over ``lookup(topic)``, some answers remembered.

    Compiled twin of ``_trie_py.RememberedMatches`` (see there): a remembered
    answer is one dict read inside a C method, with no Python frame.
    """

    cdef public dict _answers
    cdef public object _lookup
    cdef public object _fallback
    cdef public Py_ssize_t _every
    cdef public Py_ssize_t _countdown
    cdef public Py_ssize_t _limit

    def __init__(self, lookup, fallback, Py_ssize_t every, Py_ssize_t limit):
        if every < 1 or limit < 1:
            raise ValueError("every and limit must be at least 1")
        self._answers = {}
        self._lookup = lookup
        self._fallback = fallback
        self._every = every
        self._countdown = 1
        self._limit = limit

    def iter_match(self, topic):
        """An iterator over the values of every filter matching ``topic`` (``lookup``'s order)."""
        cdef dict answers = self._answers
        values = answers.get(topic)
        if values is not None:
            return iter(values)
        try:
            found = self._lookup(topic)
        except MQTTError:
            found = self._fallback(topic)
        self._countdown -= 1
        if self._countdown <= 0:
            self._countdown = self._every
            if len(answers) >= self._limit:
                answers.clear()
            answers[topic] = tuple(found)
        return iter(found)

    def _forget(self):
        """Drop every remembered answer (the filters changed)."""
        self._answers = {}
