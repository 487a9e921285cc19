"""The ownership tour on the real CPython, from the source tree: the same program as
`python3 -m revive.tour` (cpython/python/revive/tour.py, part of the package), for the
revive package on PYTHONPATH.  `python3 examples/cpython/tour.py --help` for its usage.
"""
import sys

from revive.tour import main

if __name__ == "__main__":
    sys.exit(main())
