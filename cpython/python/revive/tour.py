"""The ownership tour on the real CPython: the C++ tour's scenarios (examples/tour/),
step for step, with the `revive` module instead of the fake interpreter.  It is part of
the package (python3 -m revive.tour, wherever revive is installed); from the source
tree, examples/cpython/tour.py runs it too.

    python3 -m revive.tour [SCENARIO...]          the tables (every scenario if none named)
    python3 -m revive.tour --against REVIVE_TOUR [...]   also run the same scenarios on the fake
                                                  interpreter (revive-tour --rows) and
                                                  compare the two rows of every step
    python3 -m revive.tour --pictures DIR [...]   who owns whom after each step, as
                                                  DIR/<scenario>/step-NN.dot (and .svg
                                                  when Graphviz's dot is installed)
    python3 -m revive.tour --rows [...]           one line per step instead of the tables,
                                                  scenario<TAB>step<TAB>row<TAB>action, as
                                                  revive-tour --rows prints (without via;
                                                  an E4 module, REVIVE_ERA=E4, names them
                                                  <scenario>-e4 as revive-tour --era e4 does);
                                                  the explorer shows them (revive-tour --html
                                                  DIR --real-rows FILE)
    python3 -m revive.tour --list

Each row is read off the watched C++ object by revive.watched(), without taking a
reference to anything: its state as its tagger sees it, n (C++ strong count), r (the
recorded wrapper's refcount), tag, owns, cdata, and fin (finalizers that ran during the
step).  The fake tour's rows also say which transitions a step took ("via"), read from
its event trace; CPython has no such trace, so the comparison leaves "via" out.  The
interpreter that tags is called I0 in both tours.

Exit status: 0, 1 when a row differs from the fake's (both are printed), 2 on bad
arguments.
"""
import argparse
import contextlib
import gc
import io
import os
import shutil
import subprocess
import sys
import warnings
import weakref
from typing import Any

import revive as torch

FINALIZED = [0]  # __del__ runs of the tour's classes, over the whole run


def count_finalizer(self):
    FINALIZED[0] += 1


class Tracker:
    __del__ = count_finalizer


class Scenario:
    """One table: steps, each a Python action and the row it leaves."""

    def __init__(self, slug, title, pictures):
        self.slug, self.title, self.pictures = slug, title, pictures
        self.rows = []
        self.names = {}  # what the pictures name: variable name -> object (weakly)
        print(f"\n== {title} ==\n")
        print(f"{'step':<4} {'action':<46} {'state':<5} {'n':>3} {'r':>3} {'tag':<14} {'owns':<4} "
              f"{'cdata':<9} {'fin':<3} notes")

    def step(self, action, run):
        before = FINALIZED[0]
        notes = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                said = run()
                # A step says something (a string) or nothing; whatever else it returned
                # (the object a `pop` removed) must go now, before the row is read.
                if not isinstance(said, str):
                    said = None
                if said:
                    notes.append(said)
            except RuntimeError as e:
                notes.append(f"RuntimeError: {e}")
        notes += [f"warning: {w.message}" for w in caught]
        w = torch.watched()
        fin = FINALIZED[0] - before
        row = row_of(w, fin)
        self.rows.append((action, row))
        cells = [w.get("state", "-"), w.get("n", "-"), w.get("r", "-"), w.get("tag", "-"),
                 ("1" if w["owns"] else "0") if "owns" in w else "-", w.get("cdata", "-")]
        shown = action if len(action) <= 46 else action[:44] + ".."
        print(f"{len(self.rows):<4} {shown:<46} {cells[0]:<5} {cells[1]:>3} {cells[2]:>3} "
              f"{cells[3][:14]:<14} {cells[4]:<4} {cells[5]:<9} {fin:<3} {'; '.join(notes)}")
        if self.pictures:
            self.draw(action, w)

    def draw(self, action, w):
        """Who owns whom after this step, as DIR/<scenario>/step-NN.dot (and .svg)."""
        folder = os.path.join(self.pictures, self.slug)
        os.makedirs(folder, exist_ok=True)
        dot_file = os.path.join(folder, f"step-{len(self.rows):02d}.dot")
        with open(dot_file, "w") as f:
            f.write(dot_source(self.slug, f"{self.slug}, step {len(self.rows)}: {action} (real CPython)", w))
        if shutil.which("dot"):
            subprocess.run(["dot", "-Tsvg", "-O", dot_file], check=False)


def dot_source(name: str, label: str, w: dict[str, Any]) -> str:
    """Who owns whom, in Graphviz's language, from a row of revive.watched(): the C++
    object (n, tag), its recorded wrapper (r), the wrapper's cdata edge (solid when it
    owns the object, dashed when it borrows it) and the slot's edge back (solid when the
    slot owns the wrapper: E2's zombie; dotted when it only records it).  The
    walkthrough notebook (docs/walkthrough.ipynb) draws its pictures with it too."""
    state = w["state"]
    quoted = label.replace("\\", "\\\\").replace('"', '\\"')
    lines = [f'digraph "{name}" {{', "  rankdir=LR; node [fontname=Helvetica];",
             f'  label="{quoted}"; labelloc=t;']
    if state == "D":
        lines.append('  target [shape=box, style=dashed, label="C++ object\\ndestroyed"];')
    else:
        lines.append(f'  target [shape=box, label="C++ object\\nn = {w["n"]}\\ntag = {w.get("tag", "-")}"];')
    if "r" in w:
        lines.append(f'  wrapper [shape=ellipse, label="Python wrapper\\nr = {w["r"]}"];')
        owned = w["cdata"] == "owned"
        lines.append(f'  wrapper -> target [label="cdata ({w["cdata"]})", '
                     f'style={"solid" if owned else "dashed"}];')
        lines.append(f'  target -> wrapper [label="{"slot owns" if w["owns"] else "slot records"}", '
                     f'style={"solid" if w["owns"] else "dotted"}];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def row_of(w, fin):
    """The row in the fake tour's form: "Z n=1 r=1 tag=I0 owns=1 cdata=borrowed fin=0"."""
    parts = [w["state"]]
    for key in ("n", "r", "tag", "owns", "cdata"):
        if key in w:
            value = w[key]
            if key == "tag":
                value = "I0" if value == "CPython main" else value
            if key == "owns":
                value = "1" if value else "0"
            parts.append(f"{key}={value}")
    parts.append(f"fin={fin}")
    return " ".join(parts)


# ---- the scenarios, in the order and with the actions of examples/tour/ ----------------

def preserved(s):
    class MyTensor(torch.Tensor):
        __del__ = count_finalizer

    v: dict[str, Any] = {}

    def made():
        torch.cpp_empty("t", 2)
        torch.watch("t")
    s.step("C++: t = at::empty({2})", made)
    s.step("Py: p = MyTensor wrapper of t", lambda: v.update(p=torch.held("t", MyTensor)))
    s.step("Py: p.foo = 2", lambda: setattr(v["p"], "foo", 2))
    s.step("Py: q = wrap(t)", lambda: v.update(q=torch.held("t")))
    s.step("Py: del q", lambda: v.pop("q"))
    s.step("Py: del p", lambda: v.pop("p"))
    s.step("Py: p = wrap(t)", lambda: v.update(p=torch.held("t")))
    s.step("Py: p.foo, type(p)", lambda: f"p.foo == {v['p'].foo}, type(p) is {type(v['p']).__name__}")
    s.step("Py: del p", lambda: v.pop("p"))
    s.step("C++: t.reset()", lambda: torch.release("t"))


def subclass_preserved(s):
    class MyTensor(torch.Tensor):
        pass

    v: dict[str, Any] = {}

    def made():
        v["x"] = MyTensor(torch.empty(2))
        v["x"].foo = 2
        torch.watch(v["x"])
    s.step("Py: x = MyTensor(torch.empty(2)); x.foo = 2", made)

    def grad():
        v["y"] = torch.empty(2)
        v["y"].grad = v["x"]
    s.step("Py: y = torch.empty(2); y.grad = x", grad)
    s.step("Py: del x", lambda: v.pop("x"))
    s.step("Py: type(y.grad), y.grad.foo",
           lambda: f"type(y.grad) is {type(v['y'].grad).__name__}, y.grad.foo == {v['y'].grad.foo}")
    s.step("Py: del y", lambda: v.pop("y"))


def plain_death(s):
    v: dict[str, Any] = {}

    def made():
        v["x"] = torch.empty(2)
        torch.watch(v["x"])
    s.step("Py: x = torch.empty(2)", made)
    s.step("Py: w = weakref.ref(x, cb)", lambda: v.update(w=weakref.ref(v["x"], lambda _: None)))
    s.step("Py: del x", lambda: v.pop("x"))
    s.step("Py: w()", lambda: "w() is None" if v["w"]() is None else "w() is alive")


def dict_dealloc(s):
    v: dict[str, Any] = {}

    def made():
        v["x"] = torch.empty(2)
        torch.watch(v["x"])
        v["x"].arf = Tracker()
    s.step("Py: x = torch.empty(2); x.arf = Tracker()", made)
    s.step("Py: del x", lambda: v.pop("x"))


def slot_dealloc(s):
    class SlotTensor1(torch.Tensor):
        __slots__ = ["slot1"]

    class SlotTensor2(SlotTensor1):
        __slots__ = ["slot2"]

    v: dict[str, Any] = {}

    def made():
        v["s"] = SlotTensor2(torch.empty(2))
        torch.watch(v["s"])
    s.step("Py: s = SlotTensor2(torch.empty(2))", made)

    def slots():
        v["s"].slot1 = Tracker()
        v["s"].slot2 = Tracker()
    s.step("Py: s.slot1 = t1; s.slot2 = t2; del t1, t2", slots)
    s.step("Py: del s", lambda: v.pop("s"))


def finalizer_dealloc(s):
    class FinalizerTensor(torch.Tensor):
        __del__ = count_finalizer

    v: dict[str, Any] = {}

    def made():
        v["f"] = FinalizerTensor(torch.empty(2))
        torch.watch(v["f"])
    s.step("Py: f = FinalizerTensor(torch.empty(2))", made)
    s.step("Py: del f", lambda: v.pop("f"))


def weakref_hole(s):
    v: dict[str, Any] = {}
    torch.cpp_empty("t", 2)
    torch.watch("t")

    def made():
        v["p"] = torch.held("t")
        v["w"] = weakref.ref(v["p"])
    s.step("Py: p = wrap(t); w = weakref.ref(p)", made)
    s.step("Py: del p", lambda: v.pop("p"))
    s.step("Py: x = w()", lambda: v.update(x=v["w"]()))
    s.step("C++: t.reset()", lambda: torch.release("t"))
    s.step("Py: x.sigmoid()", lambda: v["x"].sigmoid())
    s.step("Py: del x", lambda: v.pop("x"))


def fix_weakref(s):
    v: dict[str, Any] = {}

    def made():
        v["x"] = torch.empty(2)
        torch.watch(v["x"])
        v["w"] = weakref.ref(v["x"], lambda _: None)
    s.step("Py: x = empty(2); w = weakref.ref(x, cb)", made)

    def zombie():
        v["y"] = torch.empty(2)
        v["y"].grad = v.pop("x")
    s.step("Py: y = torch.empty(2); y.grad = x; del x", zombie)
    s.step("Py: x = w()", lambda: v.update(x=v["w"]()))
    s.step("Py: x._fix_weakref()", lambda: v["x"]._fix_weakref())
    s.step("Py: del y", lambda: v.pop("y"))
    s.step("Py: x.sigmoid()", lambda: v["x"].sigmoid() and None)
    s.step("Py: del x", lambda: v.pop("x"))


def storage(s):
    class MyStorage(torch.UntypedStorage):
        __del__ = count_finalizer

    v: dict[str, Any] = {}

    def made():
        v["s"] = MyStorage(16)
        v["s"]._tracker = Tracker()
        torch.watch(v["s"])
    s.step("Py: s = MyStorage(16); s._tracker = Tracker()", made)
    s.step("Py: a = torch.tensor(s)", lambda: v.update(a=torch.tensor(v["s"])))
    s.step("Py: del s", lambda: v.pop("s"))

    def back():
        v["s"] = v["a"].untyped_storage()
        return f"type(s) is {type(v['s']).__name__}, s._tracker is a {type(v['s']._tracker).__name__}"
    s.step("Py: s = a.untyped_storage(); type(s)", back)
    s.step("Py: del s", lambda: v.pop("s"))
    s.step("Py: del a", lambda: v.pop("a"))


def hermetic_storage(s):
    v: dict[str, Any] = {}

    def made():
        v["a"] = torch.empty(4)
        v["s"] = v["a"].untyped_storage()
        v["s"].foo = 1
        torch.watch(v["s"])
    s.step("Py: a = torch.empty(4); s = a.untyped_storage()", made)

    def die_hermetic():
        with torch.hermetic():
            del v["s"]
    s.step("hermetic: del s", die_hermetic)

    def wrap_hermetic():
        with torch.hermetic():
            v["h"] = v["a"].untyped_storage()
    s.step("hermetic: h = a.untyped_storage()", wrap_hermetic)
    s.step("Py: del h", lambda: v.pop("h"))

    def back():
        v["s"] = v["a"].untyped_storage()
        return f"s.foo == {v['s'].foo}"
    s.step("Py: s = a.untyped_storage(); s.foo", back)

    def both():
        del v["s"]
        del v["a"]
    s.step("Py: del s, a", both)


def gc_cycle(s):
    class SlotTensor(torch.Tensor):
        __slots__ = ["_loop"]

    v: dict[str, Any] = {}
    enabled = gc.isenabled()
    gc.disable()  # collections only when the tour asks
    try:
        def made():
            v["x"] = torch.empty(2)
            v["y"] = SlotTensor(torch.empty(2))
            torch.watch(v["x"])
        s.step("Py: x = torch.empty(2); y = SlotTensor(...)", made)

        def cycle():
            v["x"]._loop = v["y"]
            v["y"]._loop = v["x"]
        s.step("Py: x._loop = y; y._loop = x", cycle)

        def grad():
            v["z"] = torch.empty(2)
            v["z"].grad = v["x"]
        s.step("Py: z = torch.empty(2); z.grad = x", grad)

        def drop():
            del v["x"]
            del v["y"]
        s.step("Py: del x, y", drop)
        s.step("Py: gc.collect()", lambda: gc.collect() and None)
        s.step("Py: del z", lambda: v.pop("z"))
        s.step("Py: gc.collect()", lambda: gc.collect() and None)
    finally:
        if enabled:
            gc.enable()


SCENARIOS = {
    "preserved": (preserved, "preserved: C++ keeps the tensor, Python keeps coming back (U L Z L Z D)"),
    "subclass-preserved": (subclass_preserved, "a subclass survives a trip through C++ (test_subclass_preserved)"),
    "plain-death": (plain_death, "plain death: Python alone owns the tensor (U L D, test_tensor_weakref_dealloc)"),
    "dict-dealloc": (dict_dealloc, "a __dict__ is released at real death (test_tensor_dict_dealloc)"),
    "slot-dealloc": (slot_dealloc, "__slots__ of every class level are released (test_tensor_slot_dealloc)"),
    "finalizer-dealloc": (finalizer_dealloc, "__del__ runs at real death, not before (test_tensor_finalizer_dealloc)"),
    "weakref-hole": (weakref_hole, "the weakref hole: a zombie revived through a weakref (T8)"),
    "fix-weakref": (fix_weakref, "T8 then T5: _fix_weakref() flips the revived zombie back"),
    "storage": (storage, "storages are preserved too (test_storage_dealloc_subclass_zombie, _resurrected)"),
    "hermetic-storage": (hermetic_storage, "a storage made outside hermetic mode dies inside it"),
    "gc-cycle": (gc_cycle, "a cycle through a preserved wrapper (T7, test_tensor_cycle_via_dict)"),
}


class BadArgument(Exception):
    """An argument that cannot be used: exit 2 with this reason."""


def fake_rows(revive_tour, names):
    """The fake tour's rows of the same scenarios: {(scenario, step): (row, action)}."""
    if not os.path.isfile(revive_tour) or not os.access(revive_tour, os.X_OK):
        raise BadArgument(f"--against {revive_tour}: not an executable file (build/dev/examples/revive-tour)")
    try:
        done = subprocess.run([revive_tour, "--rows", *names], capture_output=True, text=True)
    except OSError as e:
        raise BadArgument(f"--against {revive_tour}: cannot run it ({e.strerror})")
    if done.returncode != 0:
        raise BadArgument(f"--against {revive_tour}: it exited with {done.returncode} "
                          f"({(done.stderr.strip().splitlines() or ['no message'])[-1]}); is it revive-tour?")
    rows = {}
    for line in done.stdout.splitlines():
        fields = line.split("\t")
        if len(fields) != 4 or not fields[1].isdigit():
            raise BadArgument(f"--against {revive_tour}: its --rows output is not revive-tour's: {line[:60]!r}")
        slug, step, row, action = fields
        rows[(slug, int(step))] = (" ".join(p for p in row.split() if not p.startswith("via=")), action)
    if not rows:
        raise BadArgument(f"--against {revive_tour}: it printed no rows; is it revive-tour?")
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO")
    parser.add_argument("--against", metavar="REVIVE_TOUR", help="the fake tour's program, to compare rows with")
    parser.add_argument("--pictures", metavar="DIR", help="write step-NN.dot per scenario into DIR")
    parser.add_argument("--list", action="store_true", help="list the scenarios")
    parser.add_argument("--rows", action="store_true", help="one line per step instead of the tables")
    args = parser.parse_args()
    if args.rows and (args.against or args.pictures or args.list):
        parser.error("--rows prints the rows only: it takes scenario names")
    if args.rows:
        names = args.scenarios or list(SCENARIOS)
        unknown = [n for n in names if n not in SCENARIOS]
        if unknown:
            parser.error(f"no scenario named {unknown[0]!r}; --list names them")
        for name in names:
            run, title = SCENARIOS[name]
            with contextlib.redirect_stdout(io.StringIO()):  # the table, not wanted here
                scenario = Scenario(name, title, None)
                run(scenario)
            slug = name if torch.era() == "E2" else f"{name}-e4"
            for i, (action, row) in enumerate(scenario.rows, start=1):
                print(f"{slug}\t{i}\t{row}\t{action}")
        return 0
    if args.list:
        for name, (_, title) in SCENARIOS.items():
            print(f"{name:<19} {title}")
        return 0
    unknown = [n for n in args.scenarios if n not in SCENARIOS]
    if unknown:
        parser.error(f"no scenario named {unknown[0]!r}; --list names them")
    names = args.scenarios or list(SCENARIOS)
    if args.against and torch.era() != "E2":
        # The fake tour's rows are E2's; an E4 module tells other rows (no zombies).
        parser.error(f"--against compares with the fake tour's rows in era E2, but this module runs era "
                     f"{torch.era()} (REVIVE_ERA={os.environ.get('REVIVE_ERA', '')}): unset REVIVE_ERA to compare")
    if args.pictures is not None:
        if os.path.exists(args.pictures) and not os.path.isdir(args.pictures):
            parser.error(f"--pictures {args.pictures}: exists and is not a directory")
        try:
            os.makedirs(args.pictures, exist_ok=True)
        except OSError as e:
            parser.error(f"--pictures {args.pictures}: cannot make the directory ({e.strerror})")
    print("revive tour on the real CPython " + sys.version.split()[0] +
          ": n = C++ strong count, r = wrapper refcount, owns = slot owns the wrapper, "
          "cdata = the wrapper's reference to the C++ object, fin = finalizers run in the step")
    differences = []
    try:
        expected = fake_rows(args.against, names) if args.against else None
    except BadArgument as e:
        parser.error(str(e))
    for name in names:
        run, title = SCENARIOS[name]
        scenario = Scenario(name, title, args.pictures)
        run(scenario)
        if expected is None:
            continue
        steps = sorted(k[1] for k in expected if k[0] == name)
        if len(steps) != len(scenario.rows):
            differences.append(f"{name}: the fake tour has {len(steps)} steps, the real one {len(scenario.rows)}")
        for i, (action, row) in enumerate(scenario.rows, start=1):
            fake = expected.get((name, i))
            if fake is None:
                continue
            if fake[1] != action:
                differences.append(f"{name}, step {i}: the actions differ: fake {fake[1]!r}, real {action!r}")
            elif fake[0] != row:
                differences.append(f"{name}, step {i} ({action}): fake \"{fake[0]}\", real CPython \"{row}\"")
    if expected is not None:
        compared = sum(1 for k in expected if k[0] in names)
        if differences:
            print(f"\nthe real CPython and the fake interpreter differ ({len(differences)}):")
            for d in differences:
                print("  " + d)
            return 1
        print(f"\n{len(names)} scenarios, {compared} steps: every row of the real CPython equals the fake "
              "interpreter's (\"via\" aside)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
