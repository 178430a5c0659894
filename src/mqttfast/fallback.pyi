from ._types import *
from ._types import IMPLEMENTATION as IMPLEMENTATION
