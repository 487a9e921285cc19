"""pip install --no-build-isolation . : the Python package `revive` (cpython/python/revive/),
with its extension module revive._C built by the project's CMake (cpython/), in Release and
without the planted bug, for the Python that runs pip.

The C++ is built in setuptools' build folder (build/pip/...); the package's metadata (its
name, version and description) comes from CMakeLists.txt's project(), so it has one
source.  Nothing is downloaded: CMake, a C++20 compiler, Boost and the Python headers
must be installed (scripts/dev installs them on Debian 12; README, "The Python package").
"""
import os
import re
import shutil
import subprocess
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))


def project():
    """CMakeLists.txt's project(revive VERSION ... DESCRIPTION ...)."""
    with open(os.path.join(HERE, "CMakeLists.txt"), encoding="utf-8") as f:
        text = f.read()
    found = re.search(r'project\(revive\s+VERSION\s+(\S+)\s+DESCRIPTION\s+"([^"]*)"', text)
    if found is None:
        sys.exit("setup.py: CMakeLists.txt's project(revive VERSION ... DESCRIPTION ...) was not found")
    return found.group(1), found.group(2)


class CMakeExtension(Extension):
    """An extension that CMake's target `target` builds (no sources for setuptools)."""

    def __init__(self, name, target):
        super().__init__(name, sources=[])
        self.target = target


class BuildWithCMake(build_ext):
    def build_extension(self, ext):
        if shutil.which("cmake") is None:
            raise SystemExit("setup.py: cmake is needed to build revive._C (Debian: apt-get install cmake "
                             "ninja-build g++ libboost-dev python3-dev)")
        work = os.path.join(os.path.abspath(self.build_temp), "cmake")
        configure = ["cmake", "-S", HERE, "-B", work,
                     "-DCMAKE_BUILD_TYPE=Release",
                     # The Python running pip (a venv's, pyenv's or Debian's), not whichever
                     # python3 comes first on PATH.
                     f"-DPython3_EXECUTABLE={sys.executable}",
                     "-DREVIVE_BUILD_TESTS=OFF", "-DREVIVE_BUILD_EXAMPLES=OFF", "-DREVIVE_PLANTED_BUG=OFF"]
        if shutil.which("ninja") is not None and not os.path.exists(os.path.join(work, "CMakeCache.txt")):
            configure += ["-G", "Ninja"]
        subprocess.run(configure, check=True)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") or str(os.cpu_count() or 1)
        subprocess.run(["cmake", "--build", work, "--target", ext.target, "--parallel", jobs], check=True)
        built = os.path.join(work, "cpython", "python", "revive", "_C" + sysconfig.get_config_var("EXT_SUFFIX"))
        if not os.path.isfile(built):
            raise SystemExit(f"setup.py: CMake built no {built}")
        destination = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        shutil.copyfile(built, destination)


version, description = project()
os.makedirs(os.path.join(HERE, "build", "pip"), exist_ok=True)  # setup.cfg's egg_base
setup(
    name="revive",
    version=version,
    description=description,
    python_requires="==3.11.*",
    packages=["revive"],
    package_dir={"revive": "cpython/python/revive"},
    package_data={"revive": ["py.typed", "*.pyi"]},
    ext_modules=[CMakeExtension("revive._C", target="revive_cpython")],
    cmdclass={"build_ext": BuildWithCMake},
    zip_safe=False,
)
