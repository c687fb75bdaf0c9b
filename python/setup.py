"""Builds the ipcq package with libipcq inside it.

The package is pure Python over ctypes (no compiler involved at import time
and no CPython ABI tie); libipcq.so.1 is built from this same source tree
with CMake while the wheel is built, and shipped in ipcq/_lib/, so that the
ctypes declarations and the loaded library always come from one commit and
no install of libipcq, ldconfig run or LD_LIBRARY_PATH is needed.

Environment, at build time:
  IPCQ_LIBIPCQ=/path/to/libipcq.so.1   copy this library instead of building
  IPCQ_CMAKE_BUILD_DIR=DIR             where CMake builds (default: build/cmake here)
  CMAKE_BUILD_PARALLEL_LEVEL=N         parallel jobs (default 2)
"""

import os
import shutil
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_py import build_py as _build_py

try:
    from wheel.bdist_wheel import bdist_wheel as _bdist_wheel
except ImportError:  # no wheel: setup.py install still works
    _bdist_wheel = None

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SONAME = "libipcq.so.1"


def _build_libipcq():
    prebuilt = os.environ.get("IPCQ_LIBIPCQ")
    if prebuilt:
        return prebuilt
    if not os.path.exists(os.path.join(REPO, "libclient", "include", "ipcq.h")):
        sys.exit("ipcq: build from the ipcq repository (python/ inside it), "
                 "or set IPCQ_LIBIPCQ to a built libipcq.so.1")
    build = os.environ.get("IPCQ_CMAKE_BUILD_DIR") or os.path.join(HERE, "build", "cmake")
    env = dict(os.environ)
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", "2")
    subprocess.check_call(["cmake", "-S", REPO, "-B", build, "-DCMAKE_BUILD_TYPE=Release",
                           "-DIPCQ_BUILD_TESTS=OFF"], env=env)
    subprocess.check_call(["cmake", "--build", build, "--target", "ipcq"], env=env)
    return os.path.join(build, "libclient", SONAME)


class build_py(_build_py):
    def run(self):
        super().run()
        lib = _build_libipcq()
        dest = os.path.join(self.build_lib, "ipcq", "_lib")
        os.makedirs(dest, exist_ok=True)
        shutil.copyfile(os.path.realpath(lib), os.path.join(dest, SONAME))


cmdclass = {"build_py": build_py}

if _bdist_wheel is not None:
    class bdist_wheel(_bdist_wheel):
        """A platform wheel (it holds a .so) for any Python 3: py3-none-PLATFORM."""

        def finalize_options(self):
            super().finalize_options()
            self.root_is_pure = False

        def get_tag(self):
            _, _, plat = super().get_tag()
            return "py3", "none", plat

    cmdclass["bdist_wheel"] = bdist_wheel

setup(cmdclass=cmdclass)
