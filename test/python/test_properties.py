"""Random programs against the `revive` module, checked after every step: a Hypothesis
stateful test (hypothesis.stateful.RuleBasedStateMachine) that makes tensors and
storages (plain, and subclasses with a __dict__, with __slots__, with a __del__), drops
Python references, sets and clears grads (held in C++), stores attributes, takes weak
references with callbacks and dereferences them, calls _fix_weakref, enters and leaves
hermetic contexts (in a `with`, or by __enter__/__exit__ in any order), lets C++ hold
tensors and storages by name (hold/held/release/cpp_empty), collects, and calls the API
with hostile arguments; one rule (trip_through_cpp) does the module's whole job at once:
C++ takes an object, Python drops its wrapper, and takes it back.  Then it checks what a
user can see:

  - identity and attributes while C++ holds the object: a wrapper dropped while C++
    holds its tensor or storage comes back (t.grad, held(name), t.untyped_storage()) as
    the same object, same revive.inspect(x)["serial"], same class, attributes intact.
    The one exception, modelled rather than ignored: in E2 a tensor wrapper whose last
    reference goes while this thread is hermetic dies for real (isResurrectable: the
    slot answers "no object"; Note [A recorded wrapper that really dies]); the next wrap
    is a new wrapper.  A wrapper made in hermetic mode is never recorded, so never
    comes back; in hermetic mode every wrap is a new hermetic wrapper;
  - a drop that takes a wrapper's last reference kills it or preserves it exactly as
    the era says (E2: preserved iff C++ shares the object and, for a tensor, the thread
    is not hermetic; E4: C++ holds the wrapper while it shares the object, so our
    reference is never the last then);
  - every __del__ runs at most once per object, never on a wrapper the program holds
    (except, in E2, by the collector on a preserved wrapper reachable only from
    garbage: PEP 442 finalizes it, then the wrapper is resurrected; PyTorch the same),
    and, at the end of a program without wrapper-to-wrapper attributes, exactly once
    (nothing outlives the program);
  - revive.inspect(x) of every wrapper held is consistent: state in the documented set,
    n >= 1, owns iff Z, cdata borrowed iff the recorded wrapper is a zombie (E2 only,
    reached through a weak reference: Note [The weakref hole]), a non-hermetic wrapper
    is the one its slot records, a hermetic one never is, and a wrapper is stubbed only
    in E2, only after a weak reference revived it, only once its C++ object is gone;
  - weak references: the callback runs at most once, exactly when the reference dies,
    and the reference dies with its wrapper (in E2 the collector may also clear the
    reference of a wrapper it then leaves to resurrect: PyTorch the same);
  - revive.is_hermetic() is on exactly while a context this program entered is not
    exited; hostile arguments raise an ordinary exception (TypeError, ValueError,
    RuntimeError, OverflowError, KeyError, each the one expected), never crash; no
    unraisable exception.

How a wrapper's real death is seen without changing it: every wrapper the program sees
gets a Probe in its __dict__ (in a slot, for SlotTensor), whose __del__ records the
serial when the wrapper's contents are cleared, with the hermetic mode at that moment.

Runs in both eras (REVIVE_ERA=E4: no resurrection; C++ holds the wrapper instead) and
under any 3.11 with Hypothesis (Debian's python3-hypothesis):

  cd test/python
  PYTHONPATH=<build>/cpython/python:/usr/lib/python3/dist-packages python3 -m unittest -v test_properties
  REVIVE_ERA=E4 PYTHONPATH=... python3 -m unittest -v test_properties

The default run is short (REVIVE_HYPOTHESIS_EXAMPLES=60 programs of at most
REVIVE_HYPOTHESIS_STEPS=40 steps).  A longer run, e.g.:

  REVIVE_HYPOTHESIS_EXAMPLES=2000 PYTHONPATH=... python3 -m unittest test_properties

Automatic collection is off during each program (Hypothesis must replay a failing
program exactly to shrink it), and what existed before it is frozen (gc.freeze: a
collection costs what the program made, not Hypothesis's heap); the rules collect.  No
example database is written (database=None): a failure prints its shrunk program and a
blob for @reproduce_failure."""
import contextlib
import gc
import os
import sys
import unittest
import warnings
import weakref
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import revive

# The era this run tests (REVIVE_ERA, read when revive was imported).
E4 = revive.era() == "E4"
EXAMPLES = int(os.environ.get("REVIVE_HYPOTHESIS_EXAMPLES", "60"))
STEPS = int(os.environ.get("REVIVE_HYPOTHESIS_STEPS", "40"))

STATES = {"U", "V", "L", "Z", "X", "stubbed"}  # inspect_wrapper's states (module.cpp)
MAIN = "CPython main"
NAMES = ("hp-a", "hp-b", "hp-c")  # what C++ holds for a program; all released at its end
NOBODY = "hp-nobody"  # never held
HOLE = "Deallocating"  # the start of both weakref hole warnings (wrapper_texts.h)
# An index into a list, counted from its end, modulo its length: mostly one of the last
# few, so that steps meet the same object (made, handed to C++, dropped, revived) often.
IDX = st.one_of(st.integers(min_value=0, max_value=2), st.integers(min_value=0, max_value=255))


def at(lst, i):
    return lst[len(lst) - 1 - i % len(lst)]


# ---- the wrappers' classes -------------------------------------------------------------

def _finalized(obj):
    """__del__ of the finalizer classes: one run more for the wrapper's serial."""
    probe = getattr(obj, "_hp_probe", None)
    if probe is not None:
        probe.ledger.finalized_once_more(probe.serial)


class DictTensor(revive.Tensor):
    """A subclass whose attributes live in the __dict__."""


class SlotTensor(revive.Tensor):
    """A subclass with __slots__ (the probe lives in one, so its clearing shows)."""
    __slots__ = ("a", "_hp_probe")


class DelTensor(revive.Tensor):
    def __del__(self):
        _finalized(self)


class SlotDelTensor(SlotTensor):
    __slots__ = ("b",)

    def __del__(self):
        _finalized(self)


class DelStorage(revive.UntypedStorage):
    def __del__(self):
        _finalized(self)


TENSOR_CLASSES = (revive.Tensor, DictTensor, SlotTensor, DelTensor, SlotDelTensor)
STORAGE_CLASSES = (revive.UntypedStorage, DelStorage)
FINALIZING = (DelTensor, SlotDelTensor, DelStorage)


class Box:
    """A plain container: a garbage cycle that references a wrapper (PyTorch #75932)."""

    x: object
    self: "Box"


def leave_in_garbage(obj):
    """Leaves a reference to obj in a garbage cycle (a Box that holds itself), which only
    the collector will let go of: PyTorch #75932's way of reaching a preserved wrapper."""
    box = Box()
    box.x = obj
    box.self = box


class Bad:
    """A truth value that raises."""
    def __bool__(self):
        raise ValueError("no truth value")


# ---- what the program has seen ------------------------------------------------------------

class Death:
    __slots__ = ("hermetic", "in_gc")

    def __init__(self, hermetic, in_gc):
        self.hermetic = hermetic  # revive.is_hermetic() when the wrapper's dict was cleared
        self.in_gc = in_gc        # inside a collection


class Meta:
    """What a wrapper the program saw was: its kind, C++ object, class, mode."""
    __slots__ = ("kind", "cobj", "cls", "hermetic")

    def __init__(self, kind, cobj, cls, hermetic):
        self.kind, self.cobj, self.cls, self.hermetic = kind, cobj, cls, hermetic


class Link:
    """An attribute's value that is another wrapper, named by its serial."""
    __slots__ = ("serial",)

    def __init__(self, serial):
        self.serial = serial

    def __repr__(self):
        return f"Link({self.serial})"


class Ledger:
    """What finalizers, probes and weakref callbacks record; read by the invariants.  It
    holds no wrapper (it would change what it observes)."""

    def __init__(self):
        self.meta = {}          # serial -> Meta, every wrapper seen
        self.attrs = {}         # serial -> {name: value} the program stored on it
        self.probe_deaths = {}  # serial -> Death: the wrapper's __dict__/__slots__ were cleared
        self.finalized = {}     # serial -> [runs of __del__, whether the first was in a collection]
        self.holed = set()      # serials a weak reference revived as zombies (E2's hole)
        self.errors = []        # failures inside callbacks (raising there would be unraisable)
        self.unraisable = []
        self.gc_depth = 0

    def gc_phase(self, phase, info):
        self.gc_depth += 1 if phase == "start" else -1

    def probe_died(self, serial):
        try:
            if serial in self.probe_deaths:
                self.errors.append(f"the probe of wrapper {serial} died twice")
            self.probe_deaths[serial] = Death(revive.is_hermetic(), self.gc_depth > 0)
        except BaseException as e:  # noqa: B902 - recorded, then failed by an invariant
            self.errors.append(f"probe of {serial}: {e!r}")

    def finalized_once_more(self, serial):
        runs = self.finalized.setdefault(serial, [0, self.gc_depth > 0])
        runs[0] += 1

    def unraisable_hook(self, u):
        self.unraisable.append(f"{u.exc_type.__name__}: {u.exc_value} ({u.err_msg}, {u.object!r:.60})")


class Probe:
    """Put on every wrapper the program sees (in its __dict__, or a slot): it dies when
    the wrapper's contents are cleared, i.e. when the wrapper really dies."""
    __slots__ = ("ledger", "serial")

    def __init__(self, ledger, serial):
        self.ledger, self.serial = ledger, serial

    def __del__(self):
        self.ledger.probe_died(self.serial)


class CObj:
    """A C++ tensor or storage, as far as the program made it: its storage (a tensor's),
    its grad, and the serial of the wrapper its slot last recorded, as seen."""
    __slots__ = ("kind", "storage", "grad", "recorded", "maybe_unseen")

    def __init__(self, kind, storage=None):
        self.kind = kind
        self.storage = storage
        self.grad = None
        self.recorded = None       # None: no non-hermetic wrapper seen yet
        self.maybe_unseen = False  # _fix_weakref may have made a wrapper the program never saw


class Entry:
    """A strong reference the program holds."""
    __slots__ = ("obj", "serial", "kind", "cobj")

    def __init__(self, obj, serial, kind, cobj):
        self.obj, self.serial, self.kind, self.cobj = obj, serial, kind, cobj


class WRef:
    __slots__ = ("ref", "serial", "kind", "cobj", "calls", "cleared_in_gc")
    ref: "weakref.ref[Any]"
    serial: int
    kind: str
    cobj: Any
    calls: int
    cleared_in_gc: bool


def check(cond, msg, *details):
    if not cond:
        raise AssertionError(msg + ("" if not details else ": " + " ".join(repr(d) for d in details)))


# ---- the machine --------------------------------------------------------------------------

class PreservationMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.ledger = Ledger()
        self.cobjs = []
        self.tensors = []     # Entry: the references the program holds
        self.storages = []
        self.held = {}        # name -> C++ object id
        self.weakrefs = []
        self.contexts = []    # hermetic contexts entered, not exited
        self.linked = False   # a wrapper stored on a wrapper: a cycle through C++ may leak by design
        self.watched = None   # the C++ object revive.watch follows, if this program chose one
        self._gc_was_enabled = gc.isenabled()
        gc.disable()
        gc.freeze()  # what exists already (Hypothesis's heap) is not ours: collections skip it
        gc.callbacks.append(self.ledger.gc_phase)
        self._old_hook = sys.unraisablehook
        sys.unraisablehook = self.ledger.unraisable_hook
        self._warnings = warnings.catch_warnings(record=True)
        self.caught = self._warnings.__enter__()
        warnings.simplefilter("always")

    # ---- the model ----

    def new_cobj(self, kind, storage=None):
        self.cobjs.append(CObj(kind, storage))
        return len(self.cobjs) - 1

    def new_tensor_cobj(self, storage=None):
        return self.new_cobj("tensor", self.new_cobj("storage") if storage is None else storage)

    def entries(self):
        return self.tensors + self.storages

    def pick(self, tensor, i):
        """An entry: from the tensors (or the storages), or the other list if empty."""
        return at(self.tensors if (tensor and self.tensors) or not self.storages else self.storages, i)

    def pick_name(self, k):
        names = sorted(self.held)
        return names[k % len(names)]

    @staticmethod
    def stubbed(obj):
        return revive.inspect(obj)["state"] == "stubbed"

    def keep(self, entry, keep):
        """Keeps the reference, or drops it at once (checked as any drop).  The caller
        holds no other reference to the wrapper."""
        if keep:
            (self.tensors if entry.kind == "tensor" else self.storages).append(entry)
        else:
            self.forget(entry)

    def register(self, obj, serial, kind, cobj, hermetic):
        check(serial not in self.ledger.meta, "a serial was reused", serial)
        self.ledger.meta[serial] = Meta(kind, cobj, type(obj), hermetic)
        self.ledger.attrs[serial] = {}
        obj._hp_probe = Probe(self.ledger, serial)
        if not hermetic:
            self.cobjs[cobj].recorded = serial
            self.cobjs[cobj].maybe_unseen = False  # the slot records this one now
        return Entry(obj, serial, kind, cobj)

    def created(self, obj, kind, cobj, cls, fresh=True):
        """A new wrapper, made by this very call (empty, Tensor(...), held(name, cls)...):
        of class cls, of a fresh C++ object unless `fresh` is false; made in hermetic
        mode, it neither tags nor records."""
        info = revive.inspect(obj)
        hermetic = revive.is_hermetic()
        check(type(obj) is cls, "a new wrapper has the class asked for", type(obj), cls)
        check(info["serial"] not in self.ledger.meta, "a new wrapper has a new serial", info)
        check(info["cdata"] == "owned" and info["hermetic"] == hermetic and info["recorded"] == (not hermetic),
              "a new wrapper owns its object, and is recorded unless made in hermetic mode", info)
        if fresh:
            check(info["n"] == 1 and not info["owns"], "a new object has one owner", info)
            check(info["state"] == ("U" if hermetic else "L") and info["tag"] == ("-" if hermetic else MAIN),
                  "a new object is tagged and recorded (L), unless made in hermetic mode (U)", info)
        return self.register(obj, info["serial"], kind, cobj, hermetic)

    def identity_lost(self, rec, kind, info):
        """The C++ object of `kind` came back with a new wrapper though the last one its
        slot recorded was `rec`: only if rec really died while the object lived on, and
        only as the era allows."""
        death = self.ledger.probe_deaths.get(rec)
        check(death is not None, f"identity lost: a C++ {kind} came back with a new wrapper while the one it "
              f"recorded (serial {rec}) is alive", info)
        check(not E4, f"E4: the wrapper (serial {rec}) of a live C++ {kind} died (C++ holds it while it "
              "shares the object)", info)
        check(kind == "tensor" and death.hermetic,
              f"identity lost: the wrapper (serial {rec}) of a C++ {kind} that C++ still held died for real "
              "outside hermetic mode (it should have been preserved)", info)

    def obtained(self, obj, kind, cobj):
        """A wrapper a wrap path (t.grad, held(name), t.untyped_storage()) just returned
        for the live C++ object `cobj`: the same wrapper as before, same class, its
        attributes intact, unless that one really died as allowed; in hermetic mode, a new
        hermetic wrapper every time."""
        info = revive.inspect(obj)
        hermetic = revive.is_hermetic()
        c = self.cobjs[cobj]
        check(info["state"] != "stubbed", "a wrap returned a stubbed wrapper", info)
        serial = info["serial"]
        meta = self.ledger.meta.get(serial)
        check(info["n"] >= 1 and info["cdata"] == "owned", "a wrap returns an owning wrapper", info)
        if hermetic:
            check(meta is None, "in hermetic mode every wrap makes a new wrapper", info)
            check(info["hermetic"] and not info["recorded"], "a hermetic wrap is never recorded", info)
            check(type(obj) in (revive.Tensor, revive.UntypedStorage), "a wrap makes the base class", type(obj))
            return self.register(obj, serial, kind, cobj, True)
        check(not info["hermetic"] and info["recorded"] and info["state"] == "L" and not info["owns"],
              "outside hermetic mode a wrap returns the recorded wrapper, live (L)", info)
        if meta is None:  # a wrapper the program never saw
            if c.recorded is not None:
                self.identity_lost(c.recorded, kind, info)
            check(type(obj) in (revive.Tensor, revive.UntypedStorage), "a wrap makes the base class", type(obj))
            return self.register(obj, serial, kind, cobj, False)
        check(meta.cobj == cobj, "a wrap returned the wrapper of another C++ object", info, meta.cobj, cobj)
        check(c.recorded == serial, f"a wrap returned wrapper {serial}, not the last recorded {c.recorded}", info)
        check(type(obj) is meta.cls, "a preserved wrapper keeps its class", type(obj), meta.cls)
        check(serial not in self.ledger.probe_deaths, "a wrapper came back after its contents were cleared", info)
        runs = self.ledger.finalized.get(serial)
        check(runs is None or (not E4 and runs[1]),
              "a wrapper came back after its __del__ ran outside a collection", info, runs)
        self.check_attrs(obj, serial)
        return Entry(obj, serial, kind, cobj)

    def check_attrs(self, obj, serial):
        probe = getattr(obj, "_hp_probe", None)
        check(probe is not None and probe.serial == serial, "a wrapper lost its probe", serial)
        for name, value in self.ledger.attrs[serial].items():
            check(hasattr(obj, name), f"wrapper {serial} lost its attribute {name!r}")
            got = getattr(obj, name)
            if isinstance(value, Link):
                info = revive.inspect(got)
                if info["state"] == "stubbed":
                    check(not E4 and value.serial in self.ledger.holed,
                          "a linked wrapper is stubbed, never revived through a weak reference", value)
                else:
                    check(info["serial"] == value.serial, f"wrapper {serial}'s {name!r} is another wrapper",
                          info, value)
            else:
                check(got == value, f"wrapper {serial}'s {name!r} changed", got, value)

    def known_alive(self):
        """C++ objects certainly alive: held by name or by a held wrapper's owned cdata,
        and what they hold (grad, storage).  Fewer than are alive (links, boxes)."""
        roots = set(self.held.values())
        for e in self.entries():
            if revive.inspect(e.obj)["cdata"] == "owned":
                roots.add(e.cobj)
        alive, stack = set(), list(roots)
        while stack:
            c = stack.pop()
            if c not in alive:
                alive.add(c)
                o = self.cobjs[c]
                stack.extend(x for x in (o.storage, o.grad) if x is not None)
        return alive

    def grad_reaches(self, start, goal):
        c = start
        while c is not None:
            if c == goal:
                return True
            c = self.cobjs[c].grad
        return False

    @staticmethod
    def expect_raise(exc, f, what):
        try:
            f()
        except exc:
            return
        except Exception as e:  # noqa: B902 - reported
            raise AssertionError(f"{what}: raised {type(e).__name__} ({e}), expected {exc.__name__}") from None
        raise AssertionError(f"{what}: raised nothing, expected {exc.__name__}")

    def forget(self, e, every=False, hermetic=False):
        """Drops the reference `e` (already out of the lists), or every reference the
        program holds to its wrapper; in a `with revive.hermetic()` if asked.  When ours
        was the last, the wrapper dies or is preserved exactly as the era says."""
        obj, e.obj = e.obj, None
        if every:
            for entries in (self.tensors, self.storages):
                entries[:] = [x for x in entries if x.obj is not obj]
        meta = self.ledger.meta[e.serial]
        runs_before = self.ledger.finalized.get(e.serial, [0])[0]
        mode: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
        if hermetic:
            mode = revive.hermetic()
        with mode:
            info = revive.inspect(obj)
            sole = sys.getrefcount(obj) == 2  # `obj` and the argument: ours is the last reference
            hermetic = revive.is_hermetic()
            del obj
        if not sole:
            return
        if info["state"] == "stubbed" or not info["recorded"]:
            dies = True  # stubbed, or hermetic: never recorded, never preserved
        else:
            check(info["state"] == "L", "a wrapper with one reference, ours, is live (L)", info)
            if E4:
                check(info["n"] == 1, "E4: a wrapper whose object C++ shares has C++'s reference too", info)
            # E2, isResurrectable: C++ shares the object and (a tensor) the thread is not hermetic.
            dies = info["n"] <= 1 or (not E4 and e.kind == "tensor" and hermetic)
        dead = e.serial in self.ledger.probe_deaths
        if dies:
            check(dead, "the last reference to a wrapper C++ does not preserve went, and it lives on", info,
                  "in hermetic mode" if hermetic else "")
        else:
            check(not dead, f"a {e.kind} wrapper C++ still shares died for real when its last Python "
                  "reference went (it should be preserved)", info, "in hermetic mode" if hermetic else "")
        runs = self.ledger.finalized.get(e.serial, [0])[0]
        if meta.cls in FINALIZING:
            check(runs == (1 if dies else runs_before), "__del__ runs once, when the wrapper really dies",
                  runs_before, runs, dies)

    # ---- making wrappers ----

    def do_new(self, how, size, keep):
        if how == "empty":
            e = self.created(revive.empty(size), "tensor", self.new_tensor_cobj(), revive.Tensor)
        elif how == "randn":
            e = self.created(revive.randn(size), "tensor", self.new_tensor_cobj(), revive.Tensor)
        elif how in TENSOR_CLASSES:
            e = self.created(how(size), "tensor", self.new_tensor_cobj(), how)
        else:
            e = self.created(how(size * 4), "storage", self.new_cobj("storage"), how)
            check(e.obj.nbytes() == size * 4, "a storage has the size asked for")
        self.keep(e, keep)

    @rule(how=st.sampled_from(("empty", "randn") + TENSOR_CLASSES + STORAGE_CLASSES), size=st.integers(0, 4),
          keep=st.booleans())
    def new(self, how, size, keep):
        self.do_new(how, size, keep)

    def do_derive(self, op, tensor, i, cls, keep):
        """What an existing wrapper gives: its grad, its storage (both wrapped again), a
        view (a new tensor on its storage), sigmoid (a new tensor)."""
        x = self.pick(tensor, i)
        if x.kind == "storage" and op != "view":
            return
        if self.stubbed(x.obj):  # a stubbed wrapper has no C++ object to use
            what = {"grad": lambda: x.obj.grad, "untyped_storage": lambda: x.obj.untyped_storage(),
                    "sigmoid": lambda: x.obj.sigmoid(), "view": lambda: cls(x.obj)}[op]
            self.expect_raise(RuntimeError, what, f"{op} of a stubbed wrapper")
            if x.kind == "storage":
                self.expect_raise(RuntimeError, lambda: revive.tensor(x.obj), "revive.tensor(a stubbed storage)")
            return
        c = self.cobjs[x.cobj]
        if op == "grad":
            if c.grad is None:
                check(x.obj.grad is None, "a tensor without a grad has grad None")
                return
            e = self.obtained(x.obj.grad, "tensor", c.grad)
        elif op == "untyped_storage":
            e = self.obtained(x.obj.untyped_storage(), "storage", c.storage)
        elif op == "sigmoid":
            e = self.created(x.obj.sigmoid(), "tensor", self.new_tensor_cobj(), revive.Tensor)
        else:
            storage = c.storage if x.kind == "tensor" else x.cobj
            if x.kind == "storage" and cls is revive.Tensor and i % 2:
                e = self.created(revive.tensor(x.obj), "tensor", self.new_tensor_cobj(storage), cls)
            else:
                e = self.created(cls(x.obj), "tensor", self.new_tensor_cobj(storage), cls)
        self.keep(e, keep)

    @precondition(lambda self: self.entries())
    @rule(op=st.sampled_from(["grad", "grad", "untyped_storage", "untyped_storage", "view", "sigmoid"]),
          tensor=st.booleans(), i=IDX,
          cls=st.sampled_from(TENSOR_CLASSES), keep=st.booleans())
    def derive(self, op, tensor, i, cls, keep):
        self.do_derive(op, tensor, i, cls, keep)

    def do_held(self, k, cls_i, keep):
        # held(name): the object's wrapper here; held(name, cls): a new wrapper of class
        # cls, refused while one is recorded here.
        name = self.pick_name(k)
        cobj = self.held[name]
        c = self.cobjs[cobj]
        if cls_i is None:
            self.keep(self.obtained(revive.held(name), c.kind, cobj), keep)
            return
        classes = TENSOR_CLASSES if c.kind == "tensor" else STORAGE_CLASSES
        cls = classes[cls_i % len(classes)]
        hermetic = revive.is_hermetic()
        free = c.recorded is None or c.recorded in self.ledger.probe_deaths
        try:
            e = self.created(revive.held(name, cls), c.kind, cobj, cls, fresh=False)
        except RuntimeError as err:
            check(not hermetic and not (free and not c.maybe_unseen),
                  "held(name, cls) refused an object with no wrapper here", str(err), c.recorded)
            return
        check(hermetic or free, "held(name, cls) made a second wrapper for an object that has one", c.recorded)
        self.keep(e, keep)

    @precondition(lambda self: self.held)
    @rule(k=IDX, cls_i=st.one_of(st.none(), st.integers(0, 4)), keep=st.booleans())
    def held_by_name(self, k, cls_i, keep):
        self.do_held(k, cls_i, keep)

    # ---- dropping ----

    @precondition(lambda self: self.entries())
    @rule(tensor=st.booleans(), i=IDX, how=st.sampled_from(["one", "every", "every", "weak", "box"]),
          hermetic=st.booleans())
    def drop(self, tensor, i, how, hermetic):
        # Drops one reference, or every reference the program holds to that wrapper:
        # first taking a weak reference to it (which may revive it later: Note [The
        # weakref hole]), or leaving it in a garbage cycle (which the collector finds
        # before C++ lets go: PyTorch #75932).
        lst = self.tensors if (tensor and self.tensors) or not self.storages else self.storages
        e = lst.pop(len(lst) - 1 - i % len(lst))
        if how == "weak":
            self.take_weakref(e)
        elif how == "box":
            leave_in_garbage(e.obj)
        self.forget(e, how != "one", hermetic)

    @precondition(lambda self: self.entries())
    @rule(tensor=st.booleans(), i=IDX, via=st.sampled_from(["grad", "hold", "view"]), name=st.sampled_from(NAMES),
          how=st.sampled_from(["every", "weak", "box"]), hermetic=st.booleans(), collect=st.booleans(),
          back=st.sampled_from(["no", "fetch", "deref", "deref, then C++ lets go"]))
    def trip_through_cpp(self, tensor, i, via, name, how, hermetic, collect, back):
        # The module's one job, in one step: C++ takes a wrapper's object (as a grad, by
        # name, or a storage under a tensor viewing it), the program drops every
        # reference to the wrapper (maybe keeping a weak one, or leaving it to garbage,
        # maybe in hermetic mode), maybe collects, and maybe takes the object back: as C++
        # gives it, or through the weak reference (E2: the weakref hole), maybe with C++
        # letting go of it then (E2: the wrapper is stubbed, unless another owner remains).
        x = self.pick(tensor, i)
        if self.stubbed(x.obj):
            return
        if via == "hold":
            revive.hold(name, x.obj)
            self.held[name] = x.cobj
            fetch = lambda: self.do_held(sorted(self.held).index(name), None, True)
            holder = None
        elif x.kind == "storage" or via == "view":
            holder = self.created(revive.Tensor(x.obj), "tensor",
                                  self.new_tensor_cobj(x.cobj if x.kind == "storage" else self.cobjs[x.cobj].storage),
                                  revive.Tensor)
            self.tensors.append(holder)
            if x.kind == "tensor":  # a view holds only the storage: its grad holds the tensor
                self.set_grad_of(holder, x)
            fetch = lambda: self.do_derive("untyped_storage" if x.kind == "storage" else "grad", True, 0, None, True)
        else:
            holder = self.created(revive.empty(1), "tensor", self.new_tensor_cobj(), revive.Tensor)
            self.tensors.append(holder)
            self.set_grad_of(holder, x)
            fetch = lambda: self.do_derive("grad", True, 0, None, True)
        if how == "weak":
            self.take_weakref(x)
        elif how == "box":
            leave_in_garbage(x.obj)
        (self.tensors if x.kind == "tensor" else self.storages).remove(x)
        self.forget(x, True, hermetic)
        if collect:
            gc.collect()
        if back == "fetch":
            fetch()  # the holder is the newest tensor
        elif back.startswith("deref") and how == "weak":
            self.deref(0, True)  # the newest weak reference
            if back != "deref":  # C++ lets go
                if holder is None:
                    if self.held.get(name) == x.cobj:
                        revive.release(name)
                        del self.held[name]
                elif holder in self.tensors and not self.stubbed(holder.obj):
                    if self.cobjs[holder.cobj].grad == x.cobj:
                        self.set_grad_of(holder, None)
                    else:  # the view holding the storage
                        self.tensors.remove(holder)
                        self.forget(holder, True)

    def set_grad_of(self, x, y):
        x.obj.grad = None if y is None else y.obj
        self.cobjs[x.cobj].grad = None if y is None else y.cobj

    # ---- grads (held in C++) ----

    @precondition(lambda self: self.tensors)
    @rule(i=IDX, j=IDX, how=st.sampled_from(["tensor", "tensor", "None", "del"]))
    def set_grad(self, i, j, how):
        x = at(self.tensors, i)
        y = at(self.tensors, i + 1 + j) if how == "tensor" else None  # x itself only when j says so
        if self.stubbed(x.obj):
            self.expect_raise(RuntimeError, lambda: setattr(x.obj, "grad", None), "grad = of a stubbed tensor")
            return
        if y is not None and self.stubbed(y.obj):
            self.expect_raise(RuntimeError, lambda: setattr(x.obj, "grad", y.obj), "grad = a stubbed tensor")
            return
        if y is not None and y.cobj == x.cobj:
            self.expect_raise(RuntimeError, lambda: setattr(x.obj, "grad", y.obj), "a tensor as its own grad")
            return
        if y is not None and self.grad_reaches(y.cobj, x.cobj):
            return  # a cycle of grads: a tensor owning itself is leaked by design
        if how == "del":
            del x.obj.grad
        else:
            x.obj.grad = None if y is None else y.obj
        self.cobjs[x.cobj].grad = None if y is None else y.cobj

    # ---- attributes ----

    @precondition(lambda self: self.entries())
    @rule(op=st.sampled_from(["set", "set", "delete", "check", "link", "box"]), tensor=st.booleans(), i=IDX,
          name=st.sampled_from(["foo", "bar", "a"]), value=st.one_of(st.integers(-3, 3), st.just("kept"), st.none()),
          to_tensor=st.booleans(), j=IDX)
    def attribute(self, op, tensor, i, name, value, to_tensor, j):
        e = self.pick(tensor, i)
        attrs = self.ledger.attrs[e.serial]
        if op == "check":
            self.check_attrs(e.obj, e.serial)
        elif op == "delete" and name in attrs:
            delattr(e.obj, name)
            del attrs[name]
        elif op == "link":
            # A wrapper on a wrapper (a.link = b, or a.link = a): cycles through __dict__s,
            # and, through a zombie's __dict__, maybe through C++.
            b = self.pick(to_tensor, j)
            e.obj.link = b.obj
            attrs["link"] = Link(b.serial)
            self.linked = True
        elif op == "box":
            # Garbage that references the wrapper: a collection must not clear a wrapper
            # C++ still needs (PyTorch #75932).
            box = Box()
            box.x = e.obj
            box.self = box
        else:
            setattr(e.obj, name, value)
            attrs[name] = value

    # ---- weak references ----

    def take_weakref(self, e):
        w = WRef()
        w.serial, w.kind, w.cobj, w.calls, w.cleared_in_gc = e.serial, e.kind, e.cobj, 0, False
        ledger = self.ledger

        def callback(_, w=w):
            w.calls += 1
            w.cleared_in_gc = ledger.gc_depth > 0

        w.ref = weakref.ref(e.obj, callback)
        self.weakrefs.append(w)

    @precondition(lambda self: self.entries())
    @rule(tensor=st.booleans(), i=IDX)
    def make_weakref(self, tensor, i):
        self.take_weakref(self.pick(tensor, i))

    @precondition(lambda self: self.weakrefs)
    @rule(k=IDX, keep=st.booleans())
    def deref(self, k, keep):
        w = at(self.weakrefs, k)
        x = w.ref()
        if x is None:
            return  # the invariants say whether it may be dead
        info = revive.inspect(x)
        meta = self.ledger.meta[w.serial]
        check(type(x) is meta.cls, "a weak reference gives its wrapper", type(x), meta.cls)
        if info["state"] == "stubbed":
            check(not E4 and w.serial in self.ledger.holed, "a weak reference gives a stubbed wrapper", w.serial)
        else:
            check(info["serial"] == w.serial, "a weak reference gives another wrapper", info, w.serial)
            if info["state"] == "Z" and info["recorded"]:
                # Note [The weakref hole]: a zombie revived without the flip back.
                check(not E4, "E4 has no zombies", info)
                self.ledger.holed.add(w.serial)
        e = Entry(x, w.serial, w.kind, w.cobj)
        del x
        self.keep(e, keep)

    @precondition(lambda self: self.entries())
    @rule(tensor=st.booleans(), i=IDX)
    def fix_weakref(self, tensor, i):
        e = self.pick(tensor, i)
        before = revive.inspect(e.obj)
        check(e.obj._fix_weakref() is None, "_fix_weakref() returns None")
        if before["state"] == "stubbed" or revive.is_hermetic():
            return  # wrapped a None, or made a hermetic wrapper, and dropped it
        if before["hermetic"]:
            # Wrapped outside hermetic mode, then dropped: the recorded wrapper, maybe
            # one made just now, which the program never saw.
            c = self.cobjs[e.cobj]
            if c.recorded is None or c.recorded in self.ledger.probe_deaths:
                c.maybe_unseen = True
            return
        after = revive.inspect(e.obj)
        check(after["state"] == "L" and after["cdata"] == "owned" and not after["owns"],
              "_fix_weakref leaves its wrapper live and owning (the hole closed)", before, after)

    # ---- hermetic mode ----

    @rule(action=st.sampled_from(["new", "grad", "untyped_storage", "view", "sigmoid", "held", "held_as", "collect"]),
          tensor=st.booleans(), i=IDX, keep=st.booleans())
    def hermetic_wrap(self, action, tensor, i, keep):
        # One step inside `with revive.hermetic()`: every wrap makes a new hermetic wrapper.
        with revive.hermetic():
            check(revive.is_hermetic(), "inside `with revive.hermetic()` the mode is on")
            if action == "collect":
                gc.collect()  # a tensor's wrapper is not preservable here
            elif action == "new":
                self.do_new((TENSOR_CLASSES + STORAGE_CLASSES)[i % 7], 1, keep)
            elif action in ("held", "held_as"):
                if self.held:
                    self.do_held(i, None if action == "held" else i, keep)
            elif self.entries():
                self.do_derive(action, tensor, i, TENSOR_CLASSES[i % len(TENSOR_CLASSES)], keep)
        check(revive.is_hermetic() == bool(self.contexts), "leaving a `with` restores the mode")

    @rule(op=st.sampled_from(["enter", "enter", "exit", "exit", "abandon"]), k=IDX)
    def context(self, op, k):
        # Contexts entered and exited in any order (they are counted, not nested), or
        # dropped while entered (which warns and leaves them).
        if op == "enter":
            if len(self.contexts) < 4:
                h = revive.hermetic()
                check(h.__enter__() is None, "__enter__ returns None")  # type: ignore[func-returns-value]
                self.contexts.append(h)
            return
        if not self.contexts:
            return
        h = self.contexts.pop(len(self.contexts) - 1 - k % len(self.contexts))
        self.expect_raise(RuntimeError, h.__enter__, "entering a context already entered")
        if op == "exit":
            check(h.__exit__(None, None, None) is False, "__exit__ lets exceptions propagate")
            self.expect_raise(RuntimeError, lambda: h.__exit__(None, None, None), "a second __exit__")
        else:
            before = len(self.caught)
            del h
            check(any(issubclass(w.category, ResourceWarning) for w in self.caught[before:]),
                  "a context dropped while entered says so (ResourceWarning)")

    # ---- what C++ holds by name ----

    @rule(name=st.sampled_from(NAMES), tensor=st.booleans(), i=IDX, cpp_empty=st.booleans(), numel=st.integers(0, 3))
    def hold(self, name, tensor, i, cpp_empty, numel):
        # hold(name, x): C++ takes x's object; cpp_empty(name): one that never crossed into
        # Python.  What was held under the name goes.
        if cpp_empty or not self.entries():
            revive.cpp_empty(name, numel)
            self.held[name] = self.new_tensor_cobj()
            return
        e = self.pick(tensor, i)
        if self.stubbed(e.obj):
            self.expect_raise(RuntimeError, lambda: revive.hold(name, e.obj), "hold() of a stubbed wrapper")
            return
        revive.hold(name, e.obj)
        self.held[name] = e.cobj

    @precondition(lambda self: self.held)
    @rule(k=IDX, on_thread=st.booleans())
    def release(self, k, on_thread):
        # From this thread, or from a C++ thread without the GIL (a zombie's __del__ then
        # runs in its interpreter all the same).
        name = self.pick_name(k)
        (revive.release_on_thread if on_thread else revive.release)(name)
        del self.held[name]
        self.expect_raise(KeyError, lambda: revive.held(name), "held() of a released name")

    @precondition(lambda self: self.entries() or self.held)
    @rule(by_name=st.booleans(), k=IDX, tensor=st.booleans(), i=IDX)
    def watch(self, by_name, k, tensor, i):
        if by_name and self.held:
            name = self.pick_name(k)
            revive.watch(name)
            self.watched = self.held[name]
            return
        if not self.entries():
            return
        e = self.pick(tensor, i)
        if self.stubbed(e.obj):
            self.expect_raise(RuntimeError, lambda: revive.watch(e.obj), "watch() of a stubbed wrapper")
            return
        revive.watch(e.obj)
        self.watched = e.cobj
        row, info = revive.watched(), revive.inspect(e.obj)
        check(row["state"] == info["state"] and row["n"] == info["n"], "watched() and inspect() agree", row, info)

    # ---- the collector ----

    @rule()
    def collect(self):
        gc.collect()

    # ---- hostile arguments ----

    def hostile_cases(self, t, s):
        name = min(self.held, default=None)  # a name C++ holds, if any
        h = revive.hermetic()
        return {
            "empty(2**70)": (OverflowError, lambda: revive.empty(2**70)),
            "empty(-1)": (RuntimeError, lambda: revive.empty(-1)),
            "empty('2')": (TypeError, lambda: revive.empty("2")),  # type: ignore[arg-type]
            "empty(None)": (TypeError, lambda: revive.empty(None)),  # type: ignore[arg-type]
            "empty(1, 2)": (TypeError, lambda: revive.empty(1, 2)),  # type: ignore[misc,arg-type]
            "randn(2**62)": (RuntimeError, lambda: revive.randn(2**62)),
            "UntypedStorage(-1)": (ValueError, lambda: revive.UntypedStorage(-1)),
            "UntypedStorage(2**70)": (OverflowError, lambda: revive.UntypedStorage(2**70)),
            "UntypedStorage(2**62)": (RuntimeError, lambda: revive.UntypedStorage(2**62)),
            "UntypedStorage(None)": (TypeError, lambda: revive.UntypedStorage(None)),  # type: ignore[arg-type]
            "DelStorage(-5)": (ValueError, lambda: DelStorage(-5)),
            "Tensor('2')": (TypeError, lambda: revive.Tensor("2")),  # type: ignore[arg-type]
            "Tensor(None)": (TypeError, lambda: revive.Tensor(None)),  # type: ignore[arg-type]
            "Tensor(-1)": (RuntimeError, lambda: revive.Tensor(-1)),
            "SlotTensor(2**70)": (OverflowError, lambda: SlotTensor(2**70)),
            "Tensor(t, 3)": (TypeError, lambda: revive.Tensor(t, 3)),  # type: ignore[call-arg]
            "tensor(3)": (TypeError, lambda: revive.tensor(3)),  # type: ignore[arg-type]
            "tensor(None)": (TypeError, lambda: revive.tensor(None)),  # type: ignore[arg-type]
            "tensor(t)": (TypeError, lambda: revive.tensor(t)),
            "inspect(3)": (TypeError, lambda: revive.inspect(3)),  # type: ignore[arg-type]
            "inspect(None)": (TypeError, lambda: revive.inspect(None)),  # type: ignore[arg-type]
            "inspect(hermetic())": (TypeError, lambda: revive.inspect(h)),  # type: ignore[arg-type]
            "t.grad = 3": (TypeError, lambda: setattr(t, "grad", 3)),
            "t.grad = s": (TypeError, lambda: setattr(t, "grad", s)),
            "t.grad = t": (RuntimeError, lambda: setattr(t, "grad", t)),
            "hold(NUL, t)": (ValueError, lambda: revive.hold("hp-a\0b", t)),
            "hold(None, t)": (TypeError, lambda: revive.hold(None, t)),  # type: ignore[arg-type]
            "hold(bytes, t)": (TypeError, lambda: revive.hold(b"hp-a", t)),  # type: ignore[arg-type]
            "hold(name, 3)": (TypeError, lambda: revive.hold(NOBODY, 3)),  # type: ignore[arg-type]
            "hold(name, None)": (TypeError, lambda: revive.hold(NOBODY, None)),  # type: ignore[arg-type]
            "held(NUL)": (ValueError, lambda: revive.held("hp-a\0b")),
            "held(3)": (TypeError, lambda: revive.held(3)),  # type: ignore[call-overload]
            "held(None)": (TypeError, lambda: revive.held(None)),  # type: ignore[call-overload]
            "held(nobody)": (KeyError, lambda: revive.held(NOBODY)),
            # The name is looked up before the class is judged.
            "held(name, int)": (TypeError if name else KeyError, lambda: revive.held(name or NOBODY, int)),  # type: ignore[type-var]
            "held(name, hermetic)": (TypeError if name else KeyError,
                                     lambda: revive.held(name or NOBODY, revive.hermetic)),  # type: ignore[type-var]
            "held(name, 3)": (TypeError, lambda: revive.held(name or NOBODY, 3)),  # type: ignore[call-overload]
            "release(3)": (TypeError, lambda: revive.release(3)),  # type: ignore[arg-type]
            "release(None)": (TypeError, lambda: revive.release(None)),  # type: ignore[arg-type]
            "release(nobody)": (KeyError, lambda: revive.release(NOBODY)),
            "release(NUL)": (ValueError, lambda: revive.release((name or "hp-a") + "\0")),
            "release_on_thread(nobody)": (KeyError, lambda: revive.release_on_thread(NOBODY)),
            "cpp_empty(name, -1)": (ValueError, lambda: revive.cpp_empty(NOBODY, -1)),
            "cpp_empty(name, 2**70)": (OverflowError, lambda: revive.cpp_empty(NOBODY, 2**70)),
            "cpp_empty(name, 2**62)": (RuntimeError, lambda: revive.cpp_empty(NOBODY, 2**62)),
            "cpp_empty(None)": (TypeError, lambda: revive.cpp_empty(None)),  # type: ignore[arg-type]
            "cpp_empty(NUL)": (ValueError, lambda: revive.cpp_empty("hp-a\0b")),
            "watch(3)": (TypeError, lambda: revive.watch(3)),  # type: ignore[arg-type]
            "watch(nobody)": (KeyError, lambda: revive.watch(NOBODY)),
            "watch(NUL)": (ValueError, lambda: revive.watch("hp-a\0b")),
            "hermetic(1)": (TypeError, lambda: revive.hermetic(1)),  # type: ignore[call-arg]
            "hermetic(x=1)": (TypeError, lambda: revive.hermetic(x=1)),  # type: ignore[call-arg]
            "hermetic().__exit__()": (TypeError, lambda: h.__exit__()),  # type: ignore[call-arg]
            "hermetic().__exit__ unentered": (RuntimeError, lambda: h.__exit__(None, None, None)),
            "class keywords": (TypeError, lambda: type("S", (revive.Tensor,), {}, foo=1)),
            "storage class keywords": (TypeError, lambda: type("S", (revive.UntypedStorage,), {}, foo=1)),
            "t.untyped_storage(1)": (TypeError, lambda: t.untyped_storage(1)),
            "t._fix_weakref(1)": (TypeError, lambda: t._fix_weakref(1)),
            "t.sigmoid(None)": (TypeError, lambda: t.sigmoid(None)),
            "s.nbytes(1)": (TypeError, lambda: s.nbytes(1)),
            "_gc_bugs(a truth value that raises)": (ValueError, lambda: revive._gc_bugs(issue_75932=Bad())),  # type: ignore[arg-type]
            "_gc_bugs(1, 2, 3)": (TypeError, lambda: revive._gc_bugs(1, 2, 3)),  # type: ignore[arg-type,call-arg]
            "era(1)": (TypeError, lambda: revive.era(1)),  # type: ignore[call-arg]
            "is_hermetic(1)": (TypeError, lambda: revive.is_hermetic(1)),  # type: ignore[call-arg]
        }

    HOSTILE = 64  # how many cases hostile_cases has (checked in the rule)

    @rule(case=st.integers(0, HOSTILE - 1), tensor_i=IDX, storage_i=IDX)
    def hostile(self, case, tensor_i, storage_i):
        # On the program's own wrappers when it has some (none stubbed: their misuse is
        # each rule's), else on new ones.
        live = [e for e in self.entries() if not self.stubbed(e.obj)]
        ts = [e.obj for e in live if e.kind == "tensor"] or [revive.empty(1)]
        ss = [e.obj for e in live if e.kind == "storage"] or [revive.UntypedStorage(4)]
        del live
        cases = self.hostile_cases(at(ts, tensor_i), at(ss, storage_i))
        check(len(cases) == self.HOSTILE, "HOSTILE counts the cases", len(cases))
        label = sorted(cases)[case]
        exc, f = cases[label]
        self.expect_raise(exc, f, label)
        # A refused call changed nothing: no bug switched on, nothing held under NOBODY.
        check(revive._gc_bugs() == {"issue_75932": False, "issue_136358": False}, "a refused call switched a bug on")
        self.expect_raise(KeyError, lambda: revive.release(NOBODY), "a refused call held something")

    # ---- invariants ----

    @invariant()
    def hermetic_mode_is_the_contexts_entered(self):
        check(revive.is_hermetic() == bool(self.contexts), "is_hermetic() is on iff a context is entered",
              revive.is_hermetic(), len(self.contexts))

    @invariant()
    def wrappers_held_are_consistent(self):
        alive = None
        for e in self.entries():
            info = revive.inspect(e.obj)
            state = info["state"]
            check(state in STATES and state != "X", "inspect's state", info)
            meta = self.ledger.meta[e.serial]
            check(type(e.obj) is meta.cls, "a wrapper keeps its class", type(e.obj), meta.cls)
            check(e.serial not in self.ledger.probe_deaths, "a held wrapper's contents were cleared", e.serial)
            runs = self.ledger.finalized.get(e.serial)
            check(runs is None or (not E4 and runs[1]), "__del__ ran on a wrapper the program holds", e.serial, runs)
            if state == "stubbed":
                check(not E4, "E4 has no weakref hole: no wrapper is stubbed", info)
                check(info["cdata"] == "undefined" and info.get("serial") == e.serial, "a stubbed wrapper's row",
                      info, e.serial)
                check(e.serial in self.ledger.holed, "a wrapper never revived through a weak reference is stubbed",
                      e.serial)
                if alive is None:
                    alive = self.known_alive()
                check(e.cobj not in alive, "a wrapper whose C++ object is alive is stubbed", e.serial)
                continue
            check(info["serial"] == e.serial, "a wrapper's serial changed", info, e.serial)
            check(info["n"] >= 1 and info["r"] >= 1, "a held wrapper has owners", info)
            check(info["owns"] == (state == "Z"), "owns iff Z", info)
            check(info["tag"] == ("-" if state == "U" else MAIN), "the tag", info)
            check(info["hermetic"] == meta.hermetic, "a wrapper remembers its mode", info)
            check(info["cdata"] in ("owned", "borrowed"), "cdata", info)
            check((info["cdata"] == "borrowed") == (info["recorded"] and state == "Z"),
                  "cdata is borrowed iff its wrapper is a zombie", info)
            if info["hermetic"]:
                check(not info["recorded"], "a hermetic wrapper is never recorded", info)
            else:
                check(info["recorded"], "a live non-hermetic wrapper is the one its slot records", info)
                check(self.cobjs[e.cobj].recorded == e.serial, "the slot records the wrapper last seen", info)
            if state == "Z" and info["recorded"]:
                check(not E4, "E4 never makes a zombie", info)
                check(e.serial in self.ledger.holed and info["r"] >= 2,
                      "a zombie the program holds was revived through a weak reference", info)
            if E4 and info["recorded"] and info["n"] >= 2:
                check(info["r"] >= 2, "E4: C++ holds the wrapper while it shares the object", info)

    @invariant()
    def finalizers_run_at_most_once(self):
        for serial, (runs, _) in self.ledger.finalized.items():
            check(runs <= 1, "__del__ ran more than once", serial, runs)

    @invariant()
    def weak_references(self):
        for w in self.weakrefs:
            check(w.calls <= 1, "a weakref callback ran twice", w.serial)
            alive = w.ref() is not None
            check(alive == (w.calls == 0), "the callback runs exactly when the reference dies", w.serial, w.calls)
            if w.serial in self.ledger.probe_deaths:
                check(not alive, "a weak reference outlived its wrapper's death", w.serial)
            elif not alive:
                check(not E4 and w.cleared_in_gc,
                      "a weak reference died while its wrapper lives (only the collector, in E2, clears one)",
                      w.serial)

    @invariant()
    def watched_object(self):
        if self.watched is not None and self.watched in self.known_alive():
            check(revive.watched()["state"] != "D", "watched() says a live object is destroyed")

    @invariant()
    def nothing_unraisable_nor_unexpected(self):
        check(not self.ledger.errors, "failures inside callbacks", self.ledger.errors)
        check(not self.ledger.unraisable, "unraisable exceptions", self.ledger.unraisable)
        for w in self.caught:
            if str(w.message).startswith(HOLE):
                check(not E4 and issubclass(w.category, UserWarning), "the weakref hole's warning", str(w.message))
        del self.caught[:]

    # ---- the end of a program ----

    def teardown(self):
        try:
            for h in reversed(self.contexts):
                h.__exit__(None, None, None)
            self.contexts.clear()
            for name in sorted(self.held):
                revive.release(name)
            self.held.clear()
            self.tensors.clear()
            self.storages.clear()
            gc.collect()
            check(not revive.is_hermetic(), "the mode is off once every context is exited")
            self.finalizers_run_at_most_once()
            if not self.linked:
                # Nothing can keep anything now: grads are acyclic, C++ holds no name.  (A
                # wrapper stored on a wrapper may make a cycle through a zombie's __dict__
                # and C++, which leaks by design, as a tensor owning itself does.)
                for serial, meta in self.ledger.meta.items():
                    check(serial in self.ledger.probe_deaths, "a wrapper outlived its program", serial)
                    if meta.cls in FINALIZING:
                        check(self.ledger.finalized.get(serial, [0])[0] == 1, "__del__ ran once in all", serial)
                for w in self.weakrefs:
                    check(w.ref() is None and w.calls == 1, "a weak reference outlived its program", w.serial)
            check(not self.ledger.errors and not self.ledger.unraisable, "failures at the end",
                  self.ledger.errors, self.ledger.unraisable)
        finally:
            self.weakrefs.clear()
            self._warnings.__exit__(None, None, None)
            sys.unraisablehook = self._old_hook
            gc.callbacks.remove(self.ledger.gc_phase)
            gc.unfreeze()
            gc.collect()  # everybody's garbage, Hypothesis's too (its caches grow with it)
            if self._gc_was_enabled:
                gc.enable()


PreservationMachine.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
TestPreservationMachine = PreservationMachine.TestCase


if __name__ == "__main__":
    unittest.main()
