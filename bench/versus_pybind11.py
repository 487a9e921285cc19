"""revive's module against pybind11, in one Python process, at every population size
(docs/performance.md §11).

    PYTHONPATH=build/bench/cpython/python:build/bench/bench/python python3 bench/versus_pybind11.py [--smoke]

Three bindings of the same C++ tensor (tensor/'s TensorImpl): the `revive` module in era
E2 and in era E4, each in a subinterpreter that imported it in that era (an interpreter
reads REVIVE_ERA once; a subinterpreter costs a method call about 2 ns more than the main
one, so both eras run in one, alike), and pybind11_peer in this interpreter
(bench/pybind11_peer.cpp: the tensor bound the way a pybind11 user binds an intrusively
counted type; pybind11 modules do not load into subinterpreters).  Rounds are interleaved
(each round times every row of every binding), and each figure is the median over the
rounds, in ns per operation, with the loop's own overhead subtracted
(bench/binding_loops.py); a ratio is the median of the rounds' ratios, which a machine's
slow drift moves much less than the figures themselves.  Each population size keeps that
many wrapped objects alive in every binding first.

The "design" columns subtract the binding's call overhead for the same kind of access (a
getter returning None, or a method that only reads the tensor) from a row: what is left
is what the design does (wrap, flip, resurrect, allocate), apart from how each binding
reaches its C++ code.  The functional table says what each binding keeps across a drop of
Python's last reference while C++ holds the tensor.

Targets: revive's re-wrap and round trip at most 0.25x pybind11's, at every population
size, in both eras; and E4 against E2 (issue: E4's costs from Python): a method on a tensor
only Python holds within 10 % of E2's, the round trip no slower than E2's, a fresh object
within 10 % of E2's.
"""
import json
import os
import statistics
import sys
import textwrap

import _xxsubinterpreters as interpreters

import binding_loops
import pybind11_peer

SMOKE = "--smoke" in sys.argv
N = 2_000 if SMOKE else 100_000
ROUNDS = 1 if SMOKE else 15
POPULATIONS = [10**3] if SMOKE else [10**3, 10**4, 10**5, 10**6]
HERE = os.path.dirname(os.path.abspath(__file__))


class SubinterpreterBinding:
    """The revive module in a subinterpreter that imported it in `era` (E4 here; E2 too,
    to tell the subinterpreter's own cost from the era's): the same Loops, driven from
    here; results come back over a channel as JSON."""

    def __init__(self, era="E4"):
        self.channel = interpreters.channel_create()
        self.sub = interpreters.create()
        saved = os.environ.get("REVIVE_ERA")
        os.environ["REVIVE_ERA"] = era
        try:
            self._run(f"""
                import json, sys
                import _xxsubinterpreters as _interpreters
                sys.path.insert(0, {HERE!r})
                import binding_loops, revive
                assert revive.era() == {era!r}, revive.era()
                loops = binding_loops.Loops(revive)
                def send(value):
                    _interpreters.channel_send(_CHANNEL, json.dumps(value).encode())
            """, _CHANNEL=int(self.channel))
        finally:
            if saved is None:
                del os.environ["REVIVE_ERA"]
            else:
                os.environ["REVIVE_ERA"] = saved

    def _run(self, code, **shared):
        interpreters.run_string(self.sub, textwrap.dedent(code), shared=shared or None)

    def _call(self, expression):
        self._run(f"send({expression})")
        return json.loads(interpreters.channel_recv(self.channel))

    def set_population(self, count):
        self._call(f"loops.set_population({count}) or 0")

    def round(self, n):
        return self._call(f"loops.round({n})")

    def functional(self):
        return self._call("loops.functional()")

    def close(self):
        self._run("loops.set_population(0)")
        interpreters.destroy(self.sub)


def main():
    bindings = {"E2": SubinterpreterBinding("E2"), "E4": SubinterpreterBinding("E4"),
                "pybind11": binding_loops.Loops(pybind11_peer)}
    print(f"revive against pybind11 {pybind11_peer.PYBIND11_VERSION} on CPython {sys.version.split()[0]}: "
          f"median of {ROUNDS} interleaved rounds of {N:,} operations, ns per operation, loop overhead "
          "subtracted; ratios are medians of the rounds' ratios")
    met, total = 0, 0
    misses = []
    for population in POPULATIONS:
        for b in bindings.values():
            b.set_population(population)
        rounds = []  # one {binding: {row: ns}} per round
        for _ in range(ROUNDS):
            rounds.append({name: b.round(N) for name, b in bindings.items()})

        def median(name, key):
            return statistics.median(r[name][key] for r in rounds)

        def ratio(a, b, key):
            return statistics.median(r[a][key] / r[b][key] for r in rounds)

        def design(name, key, baseline):
            return statistics.median(r[name][key] - r[name][baseline] for r in rounds)

        print(f"\n| {population:,} live wrapped objects per binding | E2 | E4 | pybind11 | E2 / pybind11 | "
              "E4 / pybind11 | design: E2 | design: E4 | design: pybind11 | target | met |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
        for key, label, baseline in binding_loops.ROWS:
            e2_pb, e4_pb = ratio("E2", "pybind11", key), ratio("E4", "pybind11", key)
            cells = [f"{median(n, key):.1f}" for n in ("E2", "E4", "pybind11")] + [f"{e2_pb:.2f}", f"{e4_pb:.2f}"]
            if baseline:
                cells += [f"{design(n, key, baseline):.1f}" for n in ("E2", "E4", "pybind11")]
            else:
                cells += ["-", "-", "-"]
            target, ok = "-", "-"
            if key in ("rewrap", "round_trip"):
                target = "both <= 0.25x"
                hit = e2_pb <= 0.25 and e4_pb <= 0.25
                ok = "yes" if hit else "NO"
                total += 1
                met += hit
                if not hit:
                    misses.append(f"{population:,}: {label}: E2 {e2_pb:.2f}x, E4 {e4_pb:.2f}x pybind11's")
            print(f"| {label} | " + " | ".join(cells) + f" | {target} | {ok} |")
        # E4 against E2, from Python.
        print(f"\n| E4 against E2, {population:,} live | E2 | E4 | E4 / E2 | target | met |")
        print("|---|---:|---:|---:|---|---|")
        for key, label, limit in (("method", "a method on a tensor only Python holds (t.numel())", 1.10),
                                  ("round_trip", "round trip with C++ holding", 1.00),
                                  ("fresh", "fresh object", 1.10)):
            e4_e2 = ratio("E4", "E2", key)
            hit = e4_e2 <= limit
            total += 1
            met += hit
            if not hit:
                misses.append(f"{population:,}: E4 {label}: {e4_e2:.2f}x E2's")
            print(f"| {label} | {median('E2', key):.1f} | {median('E4', key):.1f} | {e4_e2:.2f} | "
                  f"<= {limit:.2f}x | {'yes' if hit else 'NO'} |")

    print("\n| across a Python drop, C++ holding the tensor | E2 | E4 | pybind11 |")
    print("|---|---|---|---|")
    functional = {name: b.functional() for name, b in bindings.items()}
    for check in functional["E2"]:
        print(f"| {check} | " + " | ".join("yes" if functional[n][check] else "no" for n in bindings) + " |")
    for b in bindings.values():
        if isinstance(b, SubinterpreterBinding):
            b.close()

    print(f"\ntargets met: {met} of {total}" + ("" if not misses else " (not met: " + "; ".join(misses) + ")"))
    if SMOKE:
        print("(--smoke: one round, one population; the figures mean nothing)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
