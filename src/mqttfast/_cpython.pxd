# C declarations the compiled twins share, written once and cimported: the
# parts of the CPython API that Cython's own ``cpython`` package does not
# declare, and a few small C helpers built on them.

from cpython.ref cimport PyObject

cdef extern from "Python.h":
    bint PyLong_Check(object value)
    long PyLong_AsLongAndOverflow(object value, int* overflow) except? -1
    long long PyLong_AsLongLongAndOverflow(object value, int* overflow) except? -1
    const char* PyUnicode_AsUTF8AndSize(object text, Py_ssize_t* size) except NULL
    Py_buffer* PyMemoryView_GET_BUFFER(object view)
    bint PyUnicode_IS_COMPACT_ASCII(object text)
    void* PyUnicode_DATA(object text)
    Py_ssize_t PyUnicode_GET_LENGTH(object text)
    object PyMemoryView_FromObject(object obj)
    # The same call declared without an exception value, for a caller that
    # knows the string's UTF-8 form is already cached (it cannot fail then).
    const char* PyUnicode_AsCachedUTF8AndSize "PyUnicode_AsUTF8AndSize"(object text, Py_ssize_t* size)
    # Reference counting on borrowed pointers the matcher's trie stores.
    void Py_INCREF_ptr "Py_INCREF"(PyObject* obj)
    void Py_DECREF_ptr "Py_DECREF"(PyObject* obj)


cdef extern from *:
    """
    /* Nonzero when some byte of data[0:size] is U+0000 or not ASCII: the strings
       that need the full UTF-8 decoder. Eight bytes at a time: a byte is 0 when
       subtracting 1 borrows into its high bit, non-ASCII when its high bit is set
       (a borrow can only add false hits next to a true one). */
    static CYTHON_INLINE int mqttfast_needs_utf8_decoder(const unsigned char *data, Py_ssize_t size) {
        const unsigned long long ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
        unsigned long long word;
        Py_ssize_t i = 0;
        for (; i + 8 <= size; i += 8) {
            memcpy(&word, data + i, 8);
            if (((word - ones) | word) & highs) return 1;
        }
        for (; i < size; i++) {
            if (data[i] == 0 || data[i] >= 0x80) return 1;
        }
        return 0;
    }

    /* Index of the lowest set bit of a nonzero mask. */
    static CYTHON_INLINE int mqttfast_lowest_bit(unsigned long long mask) {
    #if defined(__GNUC__) || defined(__clang__)
        return __builtin_ctzll(mask);
    #else
        int index = 0;
        while (!(mask & 1)) { mask >>= 1; index++; }
        return index;
    #endif
    }

    /* The part of a Py_buffer the encoder reads (obj, buf, len), for an exact
       bytes object: a reference and its storage; bytes have no release hook. */
    static CYTHON_INLINE void mqttfast_bytes_buffer(Py_buffer *view, PyObject *bytes) {
        Py_INCREF(bytes);
        view->obj = bytes;
        view->buf = PyBytes_AS_STRING(bytes);
        view->len = PyBytes_GET_SIZE(bytes);
    }

    /* A Py_buffer holding nothing yet: PyBuffer_Release on it does nothing. */
    static CYTHON_INLINE void mqttfast_no_buffer(Py_buffer *view) {
        view->obj = NULL;
    }

    /* The value of an exact int, when it fits a long long; returns 0 when the
       caller must take the general path (other types, subclasses, big numbers).
       MQTT's numbers are small and read in place: on 3.12 and later through the
       public (unstable tier) compact-value API. 3.11 has no public equivalent;
       its int layout is frozen (3.11 gets security fixes only), so its one
       internal digit is read directly: PyLong_AsLongLongAndOverflow instead
       cost +37 instructions per 3.1.1 PUBLISH encode and +58 per 5.0 one
       (callgrind, 2% of the call). */
    static CYTHON_INLINE int mqttfast_small_int(PyObject *value, long long *out) {
        if (!PyLong_CheckExact(value)) {
            return 0;
        }
    #if PY_VERSION_HEX >= 0x030C0000
        if (PyUnstable_Long_IsCompact((PyLongObject *)value)) {
            *out = (long long)PyUnstable_Long_CompactValue((PyLongObject *)value);
            return 1;
        }
    #else
        Py_ssize_t size = Py_SIZE(value);
        if (size == 0 || size == 1) {
            *out = size ? (long long)((PyLongObject *)value)->ob_digit[0] : 0;
            return 1;
        }
    #endif
        return 0;
    }
    """
    bint mqttfast_small_int(object value, long long* out)
    void mqttfast_bytes_buffer(Py_buffer* view, object data)
    void mqttfast_no_buffer(Py_buffer* view)
    int mqttfast_lowest_bit(unsigned long long mask)
    bint mqttfast_needs_utf8_decoder(const unsigned char* data, Py_ssize_t size)
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
