"""The loops bench/versus_pybind11.py times, for one binding module: the `revive` module
(era E2 in the main interpreter, E4 in a subinterpreter) or pybind11_peer.  Imported by
the interpreter that runs them; each binding keeps its own live population.

Every row is a tight Python loop, timed with time.perf_counter_ns, minus the same loop
doing the same kind of Python step with nothing of the binding behind it (an attribute
read of a plain object, or a call of a do-nothing builtin method), so a row is what the
binding does, not the bytecode around it.
"""
import contextlib
import gc
import random
import time

# What each row measures, in the order the table prints them.  The "baseline" row is the
# binding's own call overhead for that kind of access: subtracted from a row, it leaves
# what the design adds (bench/versus_pybind11.py's "design" columns).
ROWS = [
    ("method", "t.numel(): a method that only reads the tensor (the binding's call overhead)", None),
    ("getter", "t.grad returning None (reaching the getter)", None),
    ("rewrap", "re-wrap of a live wrapper (holder.grad, its wrapper alive)", "getter"),
    ("round_trip", "round trip with C++ holding (g = holder.grad; del g)", "getter"),
    ("fresh", "fresh object (t = empty(2); del t)", "method"),
    ("fresh_wrapper", "fresh wrapper of a C++-held tensor (hermetic; pybind11: its round trip)", "getter"),
    ("cold_rewrap", "re-wrap across the population, in random order (h.grad for each holder, wrappers alive)",
     "getter"),
]


class _Plain:
    def __init__(self, value):
        self.grad = value


class Loops:
    def __init__(self, lib):
        self.lib = lib
        self.hermetic = getattr(lib, "hermetic", None)  # pybind11_peer has none
        self.live = []
        self.holders = []
        self.plain = []

    def set_population(self, count):
        """Keep `count` wrapped objects alive (pybind11's registered-instances map grows
        with them; revive's slots do not): count / 2 holders, each with a grad whose
        wrapper is alive too.  The cold row visits the holders in a random order, so each
        step meets objects the caches no longer hold once the population outgrows them:
        where the map's lookup and the slot's load part ways (§1 of
        docs/performance.md measures the same question in C++)."""
        self.live, self.holders, self.plain = [], [], []  # the last population goes first
        holders = []
        for _ in range(count // 2):
            h = self.lib.empty(1)
            g = self.lib.empty(1)
            h.grad = g
            self.live += [h, g]
            holders.append(h)
        random.Random(count).shuffle(holders)
        self.holders = holders
        self.plain = [_Plain(object()) for _ in range(len(holders))]

    # ---- the loops -------------------------------------------------------------------

    def _attribute_overhead(self, n):
        p = _Plain(object())
        for _ in range(n):
            g = p.grad
            del g

    def _call_overhead(self, n):
        s = ""
        for _ in range(n):
            s.isascii()

    def _method(self, n):
        t = self.lib.empty(2)
        for _ in range(n):
            t.numel()

    def _getter(self, n):
        t = self.lib.empty(2)
        for _ in range(n):
            g = t.grad
            del g

    def _rewrap(self, n):
        holder = self.lib.empty(1)
        t = self.lib.empty(2)
        holder.grad = t
        for _ in range(n):
            g = holder.grad
            del g
        del t

    def _round_trip(self, n):
        holder = self.lib.empty(1)
        holder.grad = self.lib.empty(2)  # only C++ holds it between the steps
        for _ in range(n):
            g = holder.grad
            del g

    def _fresh(self, n):
        empty = self.lib.empty
        for _ in range(n):
            t = empty(2)
            del t

    def _fresh_wrapper(self, n):
        if self.hermetic is None:
            self._round_trip(n)  # pybind11's round trip is a fresh wrapper every time
            return
        holder = self.lib.empty(1)
        holder.grad = self.lib.empty(2)
        with self.hermetic():
            for _ in range(n):
                g = holder.grad
                del g

    @staticmethod
    def _grad_passes(objects, n):
        """Whole passes reading .grad of each object until n reads are done (the same
        bytecode for the cold row and its overhead, only the objects differ)."""
        done = 0
        while done < n:
            for o in objects:
                g = o.grad
                del g
            done += len(objects)
        return done

    def _cold_overhead(self, n):
        return self._grad_passes(self.plain, n)

    def _cold_rewrap(self, n):
        return self._grad_passes(self.holders, n)

    def _ns(self, loop, n):
        start = time.perf_counter_ns()
        done = loop(n) or n  # the cold loops do whole passes over the population
        return (time.perf_counter_ns() - start) / done

    def round(self, n):
        """One round: every row once, each minus its loop's overhead (ns per operation)."""
        was_enabled = gc.isenabled()
        gc.disable()  # no collection in the middle of a timed loop
        try:
            attribute = self._ns(self._attribute_overhead, n)
            call = self._ns(self._call_overhead, n)
            out = {}
            cold = self._ns(self._cold_overhead, n) if self.holders else 0.0
            for key, _, _ in ROWS:
                if key == "cold_rewrap":
                    out[key] = self._ns(self._cold_rewrap, n) - cold if self.holders else float("nan")
                    continue
                overhead = call if key in ("method", "fresh") else attribute
                out[key] = self._ns(getattr(self, "_" + key), n) - overhead
            return out
        finally:
            if was_enabled:
                gc.enable()

    # ---- what each binding keeps across a Python drop --------------------------------

    def functional(self):
        """Across a drop of Python's last reference while C++ holds the tensor: is the
        wrapper that comes back the same object, with its __dict__, its class, and has
        its finalizer waited for the real death (and run once)?"""
        lib = self.lib
        out = {}
        holder = lib.empty(1)
        t = lib.empty(2)
        t.foo = "kept"
        marker = id(t)
        holder.grad = t
        del t
        decoys = [lib.empty(2) for _ in range(8)]  # so that a freed address is not simply reused
        g = holder.grad
        out["identity"] = id(g) == marker
        out["__dict__"] = getattr(g, "foo", None) == "kept"
        del g, decoys

        class Sub(type(lib.empty(1))):
            pass

        holder.grad = Sub(2)
        out["subclass"] = type(holder.grad) is Sub

        runs = [0]

        class Fin(type(lib.empty(1))):
            def __del__(self):
                runs[0] += 1

        holder.grad = Fin(2)
        with contextlib.suppress(Exception):
            gc.collect()
        before_death = runs[0]
        holder.grad = None  # C++ lets go: the real death
        gc.collect()
        out["finalizer once, at the real death"] = before_death == 0 and runs[0] == 1
        return out
