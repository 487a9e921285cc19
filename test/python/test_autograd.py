"""Autograd's graph from Python, on the real CPython: the C++ owner PyTorch's tensors most
often have, and the one place the collector sees through C++.

PyTorch's own tests of it are ported by their names (test_tensor_ressurecting_clear, in
the era's version; test_backward_hooks_traverse); the rest say which cycles through the
graph the collector frees and which leak, in PyTorch too (docs/reference.md lists them),
and what a grad_fn's Python object is, the way REVIVE_GRAD_FN chose (cache: PyTorch
until 2026; preserved: like a tensor's wrapper).  CTest runs this file in both eras and
both ways (python.autograd, _e4, _preserved, _e4_preserved).
"""
import gc
import os
import unittest
import weakref
from typing import Any

import revive

E4 = revive.era() == "E4"
PRESERVED = revive.grad_fn_objects() == "preserved"


class Tracker:
    """PyTorch's Tracker.make(): an object whose __del__ sets a flag."""

    def __init__(self, marker: list[bool]) -> None:
        self.marker = marker

    @staticmethod
    def make() -> tuple[list[bool], "Tracker"]:
        marker = [False]
        return marker, Tracker(marker)

    def __del__(self) -> None:
        self.marker[0] = True


class Holder:
    """A plain object with a __dict__ and weak references: a hooks object, a container."""


def leaf(n: int = 2) -> revive.Tensor:
    return revive.empty(n, requires_grad=True)


class TestPyTorchPorts(unittest.TestCase):
    def setUp(self) -> None:
        gc.collect()

    def test_tensor_ressurecting_clear(self) -> None:
        # Regression test for #136358; E4 (#167564) appends 42 where E2's appended l itself.
        t = revive.randn(2, requires_grad=True).clone()
        t.foo = 2
        l: list[Any] = []
        l.append(42 if E4 else l)
        l.append(t)
        t2 = t ** 2  # PowBackward0 saves t: C++ keeps it alive
        del t
        del l
        gc.collect()
        g = t2.grad_fn
        assert g is not None
        self.assertTrue(hasattr(g._saved_self, "foo"))
        self.assertEqual(g._saved_self.foo, 2)

    def test_backward_hooks_traverse(self) -> None:
        m1, t1 = Tracker.make()
        m2, t2 = Tracker.make()
        x = revive.empty(2, requires_grad=True)
        x._tracker = t1
        y = revive.empty(2, requires_grad=True)
        y._tracker = t2
        del t1
        del t2
        x._backward_hooks = y
        y._backward_hooks = x
        del x
        gc.disable()
        try:
            del y
        finally:
            gc.enable()
        self.assertFalse(m1[0])
        self.assertFalse(m2[0])
        gc.collect()
        self.assertTrue(m1[0])
        self.assertTrue(m2[0])


class TestGraph(unittest.TestCase):
    def test_an_operation_records_its_node_and_what_it_saved(self) -> None:
        x = leaf()
        self.assertTrue(x.requires_grad)
        self.assertTrue(x.is_leaf)
        self.assertIsNone(x.grad_fn)
        y = x ** 2
        self.assertFalse(y.is_leaf)
        g = y.grad_fn
        assert g is not None
        self.assertEqual(g.name(), "PowBackward0")
        self.assertEqual(type(g).__name__, "PowBackward0")
        self.assertIs(g._saved_self, x)
        ((acc, nr),) = g.next_functions
        self.assertEqual((acc.name(), nr), ("AccumulateGrad", 0))
        self.assertIs(acc.variable, x)
        with self.assertRaisesRegex(AttributeError, "'PowBackward0' object has no attribute '_saved_result'"):
            g._saved_result
        m = x * leaf()
        self.assertEqual(m.grad_fn.name(), "MulBackward0")
        self.assertIs(m.grad_fn._saved_self, x)
        self.assertIsNone((revive.empty(2) * revive.empty(2)).grad_fn)  # nothing requires grad

    def test_an_output_is_saved_without_its_grad_fn(self) -> None:
        x = leaf()
        y = x.sigmoid()
        g = y.grad_fn
        r = g._saved_result
        self.assertIsNot(r, y)              # a new tensor...
        self.assertIsNot(g._saved_result, r)  # ...each time
        self.assertEqual(r.grad_fn.name(), "SigmoidBackward0")
        self.assertEqual(revive.inspect(y)["n"], 1)  # the node does not hold y

    def test_requires_grad_and_the_hooks_refuse_what_pytorch_refuses(self) -> None:
        x = leaf()
        y = x.clone()
        y.requires_grad = True  # already: allowed
        with self.assertRaisesRegex(RuntimeError, "you can only change requires_grad flags of leaf variables"):
            y.requires_grad = False
        with self.assertRaisesRegex(TypeError, "requires_grad must be a bool"):
            x.requires_grad = 1  # type: ignore[assignment]
        with self.assertRaisesRegex(RuntimeError, "Deletion of _backwards_hooks not allowed!"):
            del x._backward_hooks
        with self.assertRaisesRegex(RuntimeError, "Deletion of _post_accumulate_grad_hooks not allowed!"):
            del x._post_accumulate_grad_hooks
        with self.assertRaises(TypeError):
            revive.Tensor.grad_fn.__get__(revive.UntypedStorage(2))
        with self.assertRaises(TypeError):
            type(y.grad_fn)()  # type: ignore[misc]  # grad_fns are made by operations

    def test_a_saved_input_is_preserved_after_python_lets_go(self) -> None:
        x = leaf()
        x.foo = "kept"
        y = x ** 2
        i = id(x)
        del x  # E2: resurrected (the node holds the tensor); E4: C++ holds the wrapper
        self.assertEqual(y.grad_fn._saved_self.foo, "kept")
        self.assertEqual(id(y.grad_fn._saved_self), i)

    def test_a_long_graph_is_released_without_recursion(self) -> None:
        n = int(os.environ.get("REVIVE_PY_CHAIN_LENGTH", "100000"))
        t = leaf(1)
        for _ in range(n):
            t = t ** 2
        w = weakref.ref(t.grad_fn._saved_self)
        del t  # n nodes and n tensors, each saved by the next node
        self.assertIsNone(w())


class TestGradFnObject(unittest.TestCase):
    def test_one_object_while_python_holds_it_then_the_way_decides(self) -> None:
        y = leaf() ** 2
        g = y.grad_fn
        self.assertIs(y.grad_fn, g)
        g.note = 7
        w = weakref.ref(g)
        del g
        again = y.grad_fn
        if PRESERVED:
            # Like a tensor's wrapper: E2 resurrected it, E4's node held it.
            self.assertIs(w(), again)
            self.assertEqual(again.note, 7)
        else:
            # PyTorch until 2026: the cache's object died with Python's last reference.
            self.assertIsNone(w())
            self.assertFalse(hasattr(again, "note"))


class TestCycles(unittest.TestCase):
    """Which cycles through the graph the collector frees, and which leak (as in PyTorch)."""

    def setUp(self) -> None:
        gc.collect()

    def test_a_cycle_through_backward_hooks_is_freed(self) -> None:
        m, tracker = Tracker.make()
        x = leaf()
        x.tracker = tracker
        del tracker
        hooks = Holder()
        hooks.x = x  # type: ignore[attr-defined]
        x._backward_hooks = hooks  # held by the wrapper and by the tensor's pre-hook in C++
        del hooks, x
        self.assertFalse(m[0])
        gc.collect()
        self.assertTrue(m[0])

    def test_a_cycle_through_post_accumulate_grad_hooks_leaks_as_in_pytorch(self) -> None:
        x = leaf()
        hooks = Holder()
        hooks.x = x  # type: ignore[attr-defined]
        x._post_accumulate_grad_hooks = hooks  # C++'s copy is never visited
        w = weakref.ref(hooks)
        del hooks, x
        gc.collect()
        h = w()
        self.assertIsNotNone(h)
        del h.x  # break it by hand (not part of the case)
        del h
        gc.collect()
        self.assertIsNone(w())

    def test_a_cycle_through_a_saved_input_leaks_as_in_pytorch(self) -> None:
        m, tracker = Tracker.make()
        x = leaf()
        x.tracker = tracker
        del tracker
        x.y = x ** 2  # y's PowBackward0 saves x: x has two owners, so its wrapper is a root
        w = weakref.ref(x)
        del x
        gc.collect()
        self.assertFalse(m[0])
        o = w()
        assert o is not None
        o._fix_weakref()  # E2: a zombie reached through a weakref (the hole): flip it back
        del o.y  # break it by hand (not part of the case)
        del o
        self.assertTrue(m[0])

    def test_a_cycle_through_a_grad_fn_object_depends_on_the_way_and_the_era(self) -> None:
        m, tracker = Tracker.make()
        y = leaf().sigmoid()
        y.tracker = tracker
        del tracker
        g = y.grad_fn
        g.y = y
        w = weakref.ref(g)
        del g, y
        if not PRESERVED:
            self.assertTrue(m[0])  # no cycle at all: the node does not own its object
            return
        self.assertFalse(m[0])
        gc.collect()
        if not E4:
            self.assertTrue(m[0])  # the zombie the node owns is reported by y's traverse
            return
        self.assertFalse(m[0])  # E4: the object holds the node, so the node has two owners
        o = w()
        assert o is not None
        del o.y  # break it by hand (not part of the case)
        del o
        self.assertTrue(m[0])


if __name__ == "__main__":
    unittest.main()
