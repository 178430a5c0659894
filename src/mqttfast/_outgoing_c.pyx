# ``Outgoing``, compiled twin of ``_outgoing_py``: the same fields, constructor
# and repr, held as C struct members because the compiled connection core
# creates and reads one for every QoS 1/2 message and every delivery.

__all__ = ["Outgoing"]


cdef class Outgoing:
    """One outbound application message of a session, with the delivery options it goes out with.

    The compiled twin of ``_outgoing_py.Outgoing``, whose docstring describes the fields.
    """

    def __init__(self, message, qos, retain, subscription_identifiers=None, expires_at=None):
        self.message = message
        self.qos = qos
        self.retain = retain
        self.subscription_identifiers = subscription_identifiers
        self.expires_at = expires_at
        self.sent = False

    def __repr__(self):
        return (
            f"Outgoing(topic={self.message.topic!r}, qos={self.qos}, retain={self.retain}, "
            f"sent={self.sent}, expires_at={self.expires_at!r})"
        )
