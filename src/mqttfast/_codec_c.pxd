# The codec's C entry points for the other compiled modules (the session layer's core).

from ._packets_c cimport Publish

# encode_forward() of a Publish at a known level (3, 4 or 5), without the Python call.
cdef tuple forward_publish(
    Publish incoming,
    int level,
    object granted_qos,
    object packet_id,
    bint retain_as_published,
    bint retained_delivery,
    object topic,
    object topic_alias,
    object subscription_identifiers,
    object message_expiry_interval,
)
