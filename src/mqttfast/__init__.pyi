from ._types import *
from ._types import IMPLEMENTATION as IMPLEMENTATION

__version__: str
