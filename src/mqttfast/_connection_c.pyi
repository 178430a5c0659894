# The compiled twin of _connection_py.py; the connections are described once, in _types.pyi.
from typing import Any

from ._types import ClientConnection as ClientConnection
from ._types import ServerConnection as ServerConnection

Connection = Any  # the per-message core both final classes extend (not public)
