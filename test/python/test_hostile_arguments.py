"""Note [No C++ exception crosses the C API] (cpython/src/module.cpp), checked: every
function of the module and every method and attribute of its types is called with
hostile arguments (wrong types, wrong counts, huge and negative numbers, names with a
NUL, stubbed wrappers, keywords nobody takes).  Each call must return or raise an
ordinary Python exception; a C++ exception crossing the C API would abort the process
(std::terminate), and a SystemError would mean an entry point returned failure without
setting an exception.  Runs in both eras (python.hostile_arguments and _e4)."""
import gc
import itertools
import unittest
import warnings
import weakref
from typing import Any, Callable

import revive

E4 = revive.era() == "E4"


def stubbed_tensor():
    """A wrapper the weakref hole stubbed (E2); a plain tensor in E4, which has no hole."""
    holder = revive.empty(1)
    holder.grad = revive.empty(2)
    w = weakref.ref(holder.grad)
    x = w()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        holder.grad = None
    return x


class Sub(revive.Tensor):
    pass


class SubStorage(revive.UntypedStorage):
    pass


def hostile_values():
    return [None, 0, -1, 1, 2**31, 2**40, 2**62, 2**70, -2**70, 1.5, float("nan"), "", "x", "a\0b",
            "\udcff", b"bytes", object(), [], {}, revive.empty(1), revive.UntypedStorage(4), Sub(1),
            SubStorage(2), stubbed_tensor(), revive.Tensor, revive.UntypedStorage, Sub, int, type]


def argument_lists():
    values = hostile_values()
    yield (), {}
    for v in values:
        yield (v,), {}
    for a, b in itertools.islice(itertools.product(values, repeat=2), 0, None, 7):
        yield (a, b), {}
    for name in ("x", "a\0b", ""):  # a good name with bad sizes and objects
        for v in values:
            yield (name, v), {}
    for v in values[:8]:
        yield (v, v, v), {}
        yield (), {"bogus": v}
        yield (v,), {"numel": v, "name": v}


class TestHostileArguments(unittest.TestCase):
    def setUp(self):
        self.bugs = revive._gc_bugs()

    def tearDown(self):
        revive._gc_bugs(**self.bugs)
        for name in ("x", "a", "a\0b", "", "bytes"):
            try:
                revive.release(name)
            except (KeyError, ValueError, TypeError):
                pass
        self.assertFalse(revive.is_hermetic())
        gc.collect()

    def call(self, what, f, args, kwargs):
        try:
            f(*args, **kwargs)
        except SystemError as e:  # an entry point failed without saying why
            self.fail(f"{what}{args!r} {kwargs!r}: SystemError {e}")
        except Exception:
            pass
        # Whatever it did, leave nothing behind that changes the next call.
        while revive.is_hermetic():
            self.fail(f"{what}{args!r} {kwargs!r} left hermetic mode on")

    def test_every_module_function(self):
        skip = {"release_on_thread"}  # below, with names only: it starts a thread per call
        functions = [n for n in dir(revive) if callable(getattr(revive, n)) and not isinstance(getattr(revive, n), type)]
        self.assertIn("cpp_empty", functions)
        for name in functions:
            if name in skip:
                continue
            f = getattr(revive, name)
            for args, kwargs in argument_lists():
                self.call(f"revive.{name}", f, args, kwargs)
                revive._gc_bugs(**self.bugs)
        for v in hostile_values():
            self.call("revive.release_on_thread", revive.release_on_thread, (v,), {})

    def test_every_constructor(self):
        classes: tuple[Any, ...] = (revive.Tensor, revive.UntypedStorage, Sub, SubStorage, revive.hermetic,
                                    revive._C.TensorBase, revive._C.StorageBase, revive.FloatTensor)
        for cls in classes:
            for args, kwargs in argument_lists():
                self.call(cls.__name__, cls, args, kwargs)

    def test_every_method_and_attribute(self):
        makers: tuple[Callable[[], Any], ...] = (lambda: revive.empty(2), lambda: Sub(2), revive.UntypedStorage,
                                                 lambda: SubStorage(3), stubbed_tensor)
        for make in makers:
            obj = make()
            names = [n for n in dir(type(obj)) if not n.startswith("__") or n in ("__init_subclass__",)]
            for name in names:
                try:
                    attr = getattr(obj, name)
                except SystemError as e:
                    self.fail(f"{type(obj).__name__}.{name}: SystemError {e}")
                except Exception:
                    continue
                if callable(attr):
                    for args, kwargs in argument_lists():
                        self.call(f"{type(obj).__name__}.{name}", attr, args, kwargs)
            if isinstance(obj, revive.Tensor):
                for v in hostile_values():
                    self.call("Tensor.grad =", setattr, (obj, "grad", v), {})

    def test_hermetic_methods(self):
        for args, kwargs in argument_lists():
            h = revive.hermetic()
            try:
                h.__enter__(*args, **kwargs)
            except TypeError:
                pass
            else:
                h.__exit__(None, None, None)
            self.assertFalse(revive.is_hermetic())
            h = revive.hermetic()
            try:
                h.__exit__(*args, **kwargs)
            except (TypeError, RuntimeError):
                pass
            self.assertFalse(revive.is_hermetic())


if __name__ == "__main__":
    unittest.main()
