"""Builds the Cython twins of mqttfast.

No extension is built when MQTTFAST_NO_EXTENSIONS is set or the interpreter is
not CPython: the pure-Python twins then serve the whole API.
"""

import os
import sys
from pathlib import Path

from setuptools import Extension, setup

#: The Cython directives of every compiled module, stated here only (no ``# cython:``
#: header lines in the sources). Bounds and wraparound checks are off because the
#: code checks every length against the packet itself before it reads.
COMPILER_DIRECTIVES = {
    "language_level": 3,
    "boundscheck": False,
    "wraparound": False,
    "initializedcheck": False,
    "cdivision": True,
    "embedsignature": True,
}

NO_EXTENSIONS = bool(os.environ.get("MQTTFAST_NO_EXTENSIONS")) or sys.implementation.name != "cpython"


def extensions():
    if NO_EXTENSIONS:
        return []
    from Cython.Build import cythonize

    sources = sorted(Path("src/mqttfast").glob("*_c.pyx"))
    # Sources a .pyx includes: listed so that a change rebuilds and an sdist carries them.
    included = sorted(str(path) for path in Path("src/mqttfast").glob("*_c.pxi"))
    modules = [Extension(f"mqttfast.{path.stem}", [str(path)], depends=included) for path in sources]
    return cythonize(modules, compiler_directives=COMPILER_DIRECTIVES)


setup(ext_modules=extensions())
