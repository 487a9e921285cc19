"""`pip install --no-build-isolation .` in a virtual environment, as a Python user meets it.

    PYTHON check_pip_install.py SOURCE_DIR

Copies the project's sources (without build/ or .git/) into a temporary folder, makes
`PYTHON -m venv --system-site-packages v` there, and runs `v/bin/pip install
--no-build-isolation .` from the copy, offline (PIP_NO_INDEX).  Then, from another folder
and with no PYTHONPATH: `import revive` finds the venv's package, with its stubs, in
both eras; `python -m revive.tour` runs; the extension was built in Release without the
planted bug, for this Python.  Last, `pip uninstall -y revive` removes every file it put
there, and `import revive` fails again.

A venv made by a Python that ships no `wheel` (pyenv's), which setuptools needs to build
a wheel, gets Debian's (/usr/share/python-wheels, package python3-wheel-whl) first: the
README says so to its users.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap


def run(command, cwd, env, what):
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"FAIL: {what}: {' '.join(command)} exited with {done.returncode}\n"
                 f"--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}")
    return done.stdout


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: PYTHON check_pip_install.py SOURCE_DIR")
    source = os.path.abspath(sys.argv[1])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "REVIVE_ERA")}
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", "2")  # CTest gives 1: the suite runs beside it
    with tempfile.TemporaryDirectory(prefix="revive-pip-") as tmp:
        src = os.path.join(tmp, "src")
        shutil.copytree(source, src, ignore=lambda d, names: [n for n in names if d == source and n in ("build", ".git")])
        venv = os.path.join(tmp, "v")
        run([sys.executable, "-m", "venv", "--system-site-packages", venv], tmp, env, "making the venv")
        python, pip = os.path.join(venv, "bin", "python"), os.path.join(venv, "bin", "pip")

        if subprocess.run([python, "-c", "import wheel"], env=env, capture_output=True).returncode != 0:
            wheels = sorted(glob.glob("/usr/share/python-wheels/wheel-*.whl"))
            if not wheels:
                sys.exit(f"FAIL: {sys.executable}'s venv has no `wheel` and Debian's python3-wheel-whl is not "
                         "installed (scripts/dev test installs it)")
            run([pip, "install", wheels[-1]], tmp, env, "giving the venv Debian's wheel")
            print(f"the venv had no `wheel`: installed {os.path.basename(wheels[-1])}")

        run([pip, "install", "--no-build-isolation", "."], src, env, "pip install --no-build-isolation .")
        print(f"pip install --no-build-isolation . : installed with {sys.executable} ({sys.version.split()[0]})")

        # The build: Release, no planted bug, this Python.
        caches = glob.glob(os.path.join(src, "build", "pip", "**", "CMakeCache.txt"), recursive=True)
        if len(caches) != 1:
            sys.exit(f"FAIL: expected one CMake build under build/pip of the copy, found {caches}")
        with open(caches[0]) as f:
            cache = f.read()
        for entry in ("CMAKE_BUILD_TYPE:STRING=Release", "REVIVE_PLANTED_BUG:BOOL=OFF", "REVIVE_BUILD_TESTS:BOOL=OFF"):
            if entry not in cache:
                sys.exit(f"FAIL: the pip build's CMakeCache.txt has no {entry}")
        built_for = re.search(r"^Python3_EXECUTABLE:\w+=(.*)$", cache, re.M)
        if built_for is None or os.path.dirname(built_for.group(1)) != os.path.join(venv, "bin"):
            sys.exit(f"FAIL: the extension was built for {built_for and built_for.group(1)}, not the venv's Python")

        elsewhere = os.path.join(tmp, "elsewhere")
        os.mkdir(elsewhere)
        site = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['platlib'])"], elsewhere, env,
                   "asking the venv for its site-packages").strip()
        check = textwrap.dedent(f"""
            import os, sys, revive
            assert os.path.dirname(revive.__file__) == os.path.join({site!r}, "revive"), revive.__file__
            assert revive._C.__file__.startswith({site!r}), revive._C.__file__
            for name in ("_C.pyi", "py.typed"):
                assert os.path.isfile(os.path.join(os.path.dirname(revive.__file__), name)), name
            era = os.environ.get("REVIVE_ERA", "E2")
            assert revive.era() == era, (revive.era(), era)
            t = revive.empty(2)
            t.note = "kept"
            revive.hold("t", t)
            del t
            row = revive.inspect(revive.held("t"))
            assert revive.held("t").note == "kept"
            revive.release("t")
            assert revive.empty.__doc__ and revive.Tensor.__doc__ and era in revive.Tensor.__doc__
            print(era, "ok:", row["state"])
        """)
        for era in ("E2", "E4"):
            print("import revive from elsewhere:", run([python, "-c", check], elsewhere, dict(env, REVIVE_ERA=era),
                                                      f"import revive in era {era}").strip())
        tour = run([python, "-m", "revive.tour", "preserved"], elsewhere, env, "python -m revive.tour")
        if "Py: del p" not in tour:
            sys.exit(f"FAIL: python -m revive.tour printed no tour:\n{tour}")
        print("python -m revive.tour preserved: ran,", len(tour.splitlines()), "lines")

        run([pip, "uninstall", "-y", "revive"], elsewhere, env, "pip uninstall -y revive")
        left = glob.glob(os.path.join(site, "revive*"))
        if left:
            sys.exit(f"FAIL: pip uninstall left {left}")
        gone = subprocess.run([python, "-c", "import revive"], cwd=elsewhere, env=env, capture_output=True, text=True)
        if gone.returncode == 0 or "No module named 'revive'" not in gone.stderr:
            sys.exit(f"FAIL: import revive after pip uninstall: exit {gone.returncode}, {gone.stderr[-500:]}")
        print("pip uninstall -y revive: removed; import revive fails again")


if __name__ == "__main__":
    main()
