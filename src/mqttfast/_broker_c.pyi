# The compiled twin of _broker_py.py: the same classes, typed once, there.
from ._broker_py import BrokerCore as BrokerCore
from ._broker_py import Client as Client
from ._broker_py import Flusher as Flusher
from ._broker_py import ProtocolCore as ProtocolCore
from ._broker_py import Subscription as Subscription

__all__ = ["BrokerCore", "Client", "Flusher", "ProtocolCore", "Subscription"]
