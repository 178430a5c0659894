# The compiled twin of _outgoing_py: the same class.
from ._outgoing_py import Outgoing as Outgoing
