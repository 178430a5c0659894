# The compiled twin of _connection_py.py. _types.pyi does not describe the
# connections yet; until it does, the pure twin's annotated source is their
# description, for both twins.
from ._connection_py import ClientConnection as ClientConnection
from ._connection_py import Connection as Connection
from ._connection_py import ServerConnection as ServerConnection
