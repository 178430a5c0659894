"""The topic functions and ``TopicMatcher`` of the compiled implementation.

One extension built from two included sources, twins of the pure-Python
kernels: ``_topic_rules_c.pxi`` (topic name and filter validation, twin of
``_topic_rules_py``) and ``_trie_c.pxi`` (the trie, twin of ``_trie_py``).
The rest of the matcher is the shared facade of ``_topics``, the same class
body for both implementations; ``TopicMatcher`` below is that facade on the
compiled trie, whose ``match`` it inherits, so a lookup runs C from the call on.
"""

import os
import sys

cimport cython

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.ref cimport PyObject, Py_XDECREF, Py_XINCREF
from cpython.unicode cimport PyUnicode_AsUTF8String, PyUnicode_FromObject
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memcmp, memcpy, memset

from ._cpython cimport (
    Py_DECREF_ptr,
    Py_INCREF_ptr,
    PyUnicode_AsCachedUTF8AndSize,
    PyUnicode_AsUTF8AndSize,
    PyUnicode_DATA,
    PyUnicode_GET_LENGTH,
    PyUnicode_IS_COMPACT_ASCII,
)

from ._errors import InvalidTopicFilter, InvalidTopicName, MQTTError
from ._topics import DEFAULT_MAX_LEVELS, IMPLEMENTATION_NAMES, MATCHER_SLOTS, SHARE_PREFIX, MatcherFacade, split_shared

cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define mqttfast_prefetch(address) __builtin_prefetch(address)
    #else
    #define mqttfast_prefetch(address) ((void)0)
    #endif
    """
    void _prefetch "mqttfast_prefetch"(const void* address) nogil

__all__ = list(IMPLEMENTATION_NAMES)

include "_topic_rules_c.pxi"
include "_trie_c.pxi"

# The key of the trie's level hash, drawn once per process.
_set_level_key(int.from_bytes(os.urandom(8), "little"), int.from_bytes(os.urandom(8), "little"))


class TopicMatcher(MatcherFacade, Trie):
    __doc__ = MatcherFacade.__doc__
    __slots__ = MATCHER_SLOTS
    _validate_filter = staticmethod(validate_topic_filter)
    _trie_class = Trie
