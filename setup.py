"""Builds the Cython twins of mqttfast.

No extension is built when MQTTFAST_NO_EXTENSIONS is on (any value but unset,
empty, 0, false, no, off) or the interpreter is not CPython: the pure-Python
twins then serve the whole API.
"""

import importlib.util
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


def _load_env_module():
    # The package's own reading of the flags, loaded by path: the package is not built yet.
    spec = importlib.util.spec_from_file_location("_mqttfast_env", Path(__file__).parent / "src/mqttfast/_env.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


NO_EXTENSIONS = _load_env_module().env_flag("MQTTFAST_NO_EXTENSIONS") or sys.implementation.name != "cpython"


def extensions():
    if NO_EXTENSIONS:
        return []
    from Cython.Build import cythonize

    # pip shows this only with -v; the README says the same for those who see nothing for a minute.
    print("mqttfast: compiling the Cython twins (about a minute)...", file=sys.stderr, flush=True)
    sources = sorted(Path("src/mqttfast").glob("*_c.pyx"))
    # Sources a .pyx includes: listed so that a change rebuilds and an sdist carries them.
    included = sorted(str(path) for path in Path("src/mqttfast").glob("*_c.pxi"))
    modules = [Extension(f"mqttfast.{path.stem}", [str(path)], depends=included) for path in sources]
    return cythonize(modules, compiler_directives=COMPILER_DIRECTIVES)


setup(ext_modules=extensions())
