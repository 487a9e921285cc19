"""The type stubs and the docstrings against the module they describe.

revive/_C.pyi gives mypy and editors the extension's signatures; mypy checks the Python
tests against it (CTest python.mypy).  These tests hold the stubs to the module itself:
every public name of revive._C, and every method and property of its classes, has a stub
(and no stub names something that does not exist); each function's stub takes the
parameters its __text_signature__ says; and every public function, method, property and
class of the package says what it does in a docstring, the classes naming the era in
force.  They read the stubs installed next to the module imported (the build's, or
pip's), so they also check that the stubs are shipped.
"""
import ast
import inspect
import os
import types
import unittest
from typing import Any

import revive
import revive.library


def stub_tree():
    path = os.path.join(os.path.dirname(revive.__file__), "_C.pyi")
    with open(path, encoding="utf-8") as f:
        return ast.parse(f.read(), path)


def stub_parameters(node):
    """A stub function's parameters as inspect names them: (name, kind, has a default)."""
    a = node.args
    out = []
    positional = a.posonlyargs + a.args
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    for i, (arg, default) in enumerate(zip(positional, defaults)):
        kind = "POSITIONAL_ONLY" if i < len(a.posonlyargs) else "POSITIONAL_OR_KEYWORD"
        out.append((arg.arg, kind, default is not None))
    for arg, default in zip(a.kwonlyargs, a.kw_defaults):
        out.append((arg.arg, "KEYWORD_ONLY", default is not None))
    return out


def runtime_parameters(fn):
    return [(p.name, p.kind.name, p.default is not inspect.Parameter.empty)
            for p in inspect.signature(fn).parameters.values()]


class Stubs:
    """What _C.pyi declares: its functions, and each class's bases and members."""

    def __init__(self):
        self.functions: dict[str, list[ast.FunctionDef]] = {}
        self.classes: dict[str, tuple[list[str], dict[str, list[Any]]]] = {}
        for node in stub_tree().body:
            if isinstance(node, ast.FunctionDef):
                self.functions.setdefault(node.name, []).append(node)
            elif isinstance(node, ast.ClassDef):
                members: dict[str, list[Any]] = {}
                for item in node.body:
                    if isinstance(item, ast.FunctionDef):
                        members.setdefault(item.name, []).append(item)
                    elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                        members[item.target.id] = [item]
                self.classes[node.name] = ([b.id for b in node.bases if isinstance(b, ast.Name)], members)

    def members(self, cls):
        """A stub class's members, its stub bases' included."""
        bases, own = self.classes[cls]
        out: dict[str, list[Any]] = {}
        for base in bases:
            out.update(self.members(base))
        out.update(own)
        return out


def public_members(cls):
    """The attributes a class defines itself that a user calls or reads."""
    return sorted(n for n in vars(cls) if not n.startswith("__") or n in ("__len__", "__enter__", "__exit__"))


# What the stubs declare only for typing: the wrappers' __dict__ (any attribute), which
# the classes implement with CPython's own attribute lookup, not methods of their own.
# And the number slots (t ** e, a * b), which CPython shows as slot wrappers.
TYPING_ONLY = {"__getattr__", "__setattr__", "__pow__", "__mul__"}

# The grad_fn classes of the other way (REVIVE_GRAD_FN), which this interpreter lacks.
OTHER_GRAD_FN_WAY = {"cache": {"NodeBase", "Node"}, "preserved": {"CppFunction"}}[revive.grad_fn_objects()]


class TestStubs(unittest.TestCase):
    stubs: Stubs

    @classmethod
    def setUpClass(cls):
        cls.stubs = Stubs()

    def test_every_public_name_has_a_stub_and_every_stub_a_name(self):
        public = {n for n in dir(revive._C) if not n.startswith("__")}
        declared = (set(self.stubs.functions) | set(self.stubs.classes)) - OTHER_GRAD_FN_WAY
        self.assertEqual(sorted(public - declared), [], "public names of revive._C without a stub")
        self.assertEqual(sorted(declared - public), [], "stubs for names revive._C does not have")

    def test_every_method_and_property_has_a_stub(self):
        for name in set(self.stubs.classes) - OTHER_GRAD_FN_WAY:
            cls = getattr(revive._C, name)
            members = self.stubs.members(name)
            for attr in public_members(cls):
                self.assertIn(attr, members, f"{name}.{attr} has no stub")
            for attr in set(self.stubs.classes[name][1]) - TYPING_ONLY:
                self.assertTrue(hasattr(cls, attr), f"the stub of {name} declares {attr}, which it does not have")

    def test_function_stubs_take_the_parameters_the_module_does(self):
        for name, nodes in self.stubs.functions.items():
            fn = getattr(revive._C, name)
            runtime = runtime_parameters(fn)
            # An overloaded stub: its variants together take what the function takes.
            variants = [stub_parameters(n) for n in nodes if not any(
                isinstance(d, ast.Name) and d.id == "overload" for d in n.decorator_list)] or \
                [stub_parameters(n) for n in nodes]
            if len(nodes) > 1:
                longest = max(variants, key=len)
                self.assertEqual([p[:2] for p in longest], [p[:2] for p in runtime], name)
                continue
            self.assertEqual(variants[0], runtime, f"revive.{name}: the stub's parameters are not the module's")

    def test_method_stubs_take_the_parameters_the_module_does(self):
        for cls_name in ("TensorBase", "StorageBase"):
            cls = getattr(revive._C, cls_name)
            _, members = self.stubs.classes[cls_name]
            for attr in public_members(cls):
                fn = getattr(cls, attr)
                if not isinstance(fn, types.MethodDescriptorType) or attr not in members:
                    continue
                stub = stub_parameters(members[attr][0])
                self.assertEqual(stub, runtime_parameters(fn), f"{cls_name}.{attr}")


class TestDocstrings(unittest.TestCase):
    def assertDocumented(self, what, obj):
        doc = inspect.getdoc(obj) or ""
        self.assertTrue(doc and len(doc) >= 20, f"{what} has no docstring worth the name: {doc!r}")

    def test_every_public_function_and_class_says_what_it_does(self):
        for name in revive.__all__:
            obj = getattr(revive, name)
            if isinstance(obj, types.ModuleType) or not callable(obj):
                continue
            self.assertDocumented(f"revive.{name}", obj)

    def test_every_method_and_property_says_what_it_does(self):
        classes = [revive.Tensor, revive.UntypedStorage, revive._C.TensorBase, revive._C.StorageBase,
                   revive.hermetic, revive.library.Library]
        for cls in classes:
            self.assertDocumented(cls.__name__, cls)
            for attr in public_members(cls):
                if attr.startswith("_") and attr not in ("_fix_weakref", "__len__"):
                    continue
                obj = getattr(cls, attr)
                if attr == "__len__":
                    continue  # a slot wrapper: CPython's own text ("Return len(self).")
                self.assertDocumented(f"{cls.__name__}.{attr}", obj)

    def test_what_changes_counts_or_the_slot_says_so(self):
        # The docstrings are the place to learn what a call does to n, r and the slot.
        for name in ("empty", "hold", "held", "release", "cpp_empty", "tensor"):
            doc = inspect.getdoc(getattr(revive, name)) or ""
            self.assertRegex(doc, r"\bn\b|state|slot", f"revive.{name}")
        for name in ("hold", "era"):
            self.assertIn("E4", inspect.getdoc(getattr(revive, name)) or "", f"revive.{name}")
        self.assertIn("E2", inspect.getdoc(revive.Tensor._fix_weakref) or "")

    def test_the_classes_name_the_era_in_force(self):
        era = revive.era()
        other = {"E2": "E4", "E4": "E2"}[era]
        for cls in (revive.Tensor, revive.UntypedStorage):
            self.assertIn(f"Era {era}", cls.__doc__ or "")
            self.assertNotIn(f"Era {other}", cls.__doc__ or "")

    def test_signatures_are_visible_to_help(self):
        self.assertEqual(str(inspect.signature(revive.held)), "(name, cls=None, /)")
        self.assertEqual(str(inspect.signature(revive.Tensor.as_subclass)), "(self, cls, /)")
        self.assertEqual(str(inspect.signature(revive._gc_bugs)), "(issue_75932=None, issue_136358=None)")


if __name__ == "__main__":
    unittest.main()
