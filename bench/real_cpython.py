"""Rows of docs/performance.md for the real-CPython runtime (cpython/): the same
round trips as section 2, timed from Python with the module built by the bench preset.

    PYTHONPATH=build/bench/cpython/python python3 bench/real_cpython.py [--smoke]

Each measure runs a tight Python loop; the loop's own cost (the same loop doing the
same attribute reads with nothing behind them) is measured alike and subtracted, so a
row is the cost of what the design does, not of the interpreter's bytecode.  Best of
five runs of N iterations each.
"""
import contextlib
import gc
import sys
import time

import revive

SMOKE = "--smoke" in sys.argv
N = 2_000 if SMOKE else 200_000
RUNS = 1 if SMOKE else 5


def best_ns(loop):
    best = None
    for _ in range(RUNS):
        start = time.perf_counter_ns()
        loop(N)
        elapsed = (time.perf_counter_ns() - start) / N
        best = elapsed if best is None else min(best, elapsed)
    return best


class Holder:  # the loop overhead: an attribute read that returns an existing object
    def __init__(self, value):
        self.grad = value


def overhead(n):
    h = Holder(object())
    for _ in range(n):
        g = h.grad
        del g


def round_trip(n, hermetic):
    # y.grad wraps a tensor C++ keeps, then `del g` drops the last Python reference.
    # Preserved: T5 flips the zombie back, T3 resurrects it, the same object every time.
    # Hermetic: a brand-new wrapper every time, and a real death (dealloc, free) when it
    # goes, which is what preservation saves.
    y = revive.empty(1)
    y.grad = revive.empty(1)
    with revive.hermetic() if hermetic else contextlib.nullcontext():
        for _ in range(n):
            g = y.grad
            del g


def rewrap_and_resurrect(n):
    round_trip(n, hermetic=False)


def fresh_wrapper(n):
    round_trip(n, hermetic=True)


def inspect_cost(n):
    t = revive.empty(1)
    for _ in range(n):
        revive.inspect(t)


def call_overhead(n):  # a METH_O builtin that does almost nothing, for inspect's baseline
    t = revive.empty(1)
    f = id
    for _ in range(n):
        f(t)


def main():
    gc.disable()  # no collection in the middle of a timed loop
    base = best_ns(overhead)
    rewrap = best_ns(rewrap_and_resurrect) - base
    fresh = best_ns(fresh_wrapper) - base
    inspect = best_ns(inspect_cost) - best_ns(call_overhead)
    print("| measure (real CPython %d.%d, revive module, loop overhead subtracted) | design | alternative | ratio |"
          % sys.version_info[:2])
    print("|---|---:|---:|---:|")
    print("| T5 re-wrap + T3 resurrection vs a fresh hermetic wrapper + real death | %.1f ns | %.1f ns | %.2fx |"
          % (rewrap, fresh, fresh / rewrap if rewrap > 0 else float("nan")))
    print("| revive.inspect(t) (the call of a do-nothing builtin subtracted) | %.1f ns | - | - |" % inspect)


if __name__ == "__main__":
    main()
