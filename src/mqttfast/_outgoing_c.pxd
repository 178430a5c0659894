# The compiled Outgoing, declared so that the connection core reads and writes its fields as C members.

cdef class Outgoing:
    cdef public object message, qos, retain, subscription_identifiers, expires_at, sent
