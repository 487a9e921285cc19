"""revive.library: operators defined from Python, as torch.library defines them.

    lib = Library("my_lib", "DEF")
    lib.define("my_func() -> None")

    @impl(lib, "my_func", "")
    def my_func():
        ...

    revive.ops.my_lib.my_func()

What matters here is where the operator's Python code runs, and in which mode
(Note [Python op registration trampoline] in pyslot/; PythonKernelHolder in PyTorch's
torch/csrc/utils/python_dispatch.cpp): an operator is routed to the interpreter of an
argument that carries Python behaviour (a tensor whose class defines
__torch_dispatch__), and otherwise runs here *in hermetic mode*, as PyTorch built for
torch::deploy (USE_DEPLOY) runs it, so that the operator's Python code records no
wrapper in any tensor's slot.  A storage made outside hermetic mode that dies inside
such an operator is still preserved: it remembers how it was made
(test_storage_preserve_nonhermetic_in_hermetic_context).

The results are wrapped again after the kernel, outside hermetic mode, as PyTorch
wraps an operator's outputs: the caller gets each result's recorded wrapper.

What is not modelled: schemas beyond the operator's name (arguments pass through as
they are), dispatch keys (an implementation registers for every key), overloads, and
the C++ dispatcher itself (the fake runtime routes through it: binding/src/python_dispatch.cpp).
"""
import re
import weakref
from typing import Any, Callable, TypeVar

from revive import _C
from revive._C import StorageBase, TensorBase, hermetic

__all__ = ["Library", "impl"]

_KINDS = ("DEF", "IMPL", "FRAGMENT")
_defining: "dict[str, weakref.ref[Library]]" = {}  # namespace -> the DEF library that owns it (weakly)
_operators: "dict[str, _Operator]" = {}  # "ns::name" -> _Operator
_F = TypeVar("_F", bound=Callable[..., Any])


def _outside_hermetic(value: Any) -> Any:
    """A result the kernel wrapped in hermetic mode, wrapped again outside it (through a
    C++ reference: hold, then held); tuples and lists element by element."""
    if isinstance(value, (tuple, list)):
        return type(value)(_outside_hermetic(v) for v in value)
    if not isinstance(value, (TensorBase, StorageBase)) or not _C.inspect(value)["hermetic"]:
        return value
    name = f"revive.library result {id(value)}"
    _C.hold(name, value)
    del value  # the kernel's hermetic wrapper may go now
    try:
        return _C.held(name)
    finally:
        _C.release(name)


class _Operator:
    """An operator defined with Library.define: call it as revive.ops.<ns>.<name>(...)."""

    def __init__(self, qualname: str) -> None:
        self.qualname = qualname  # its library forgets it when the library goes
        self.kernel: Callable[..., Any] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Runs the implementation: in hermetic mode (no wrapper it makes is recorded in a
        slot), unless an argument's class defines __torch_dispatch__; the results are
        wrapped again outside hermetic mode, so the caller gets each one's recorded wrapper."""
        if self.kernel is None:
            raise NotImplementedError(f"{self.qualname}: the operator has no implementation (Library.impl)")
        # An argument with Python behaviour would take the call to its interpreter; in
        # this one, that is here, and not hermetic.
        if any(isinstance(a, TensorBase) and hasattr(type(a), "__torch_dispatch__") for a in args):
            return self.kernel(*args, **kwargs)
        with hermetic():
            result = self.kernel(*args, **kwargs)
        # PyTorch hands the results back as C++ values and wraps them after the kernel,
        # outside hermetic mode: the caller gets the recorded wrapper, not the kernel's.
        return _outside_hermetic(result)

    def __repr__(self) -> str:
        return f"<operator {self.qualname}>"


class Library:
    """A namespace of operators: kind "DEF" defines them (one DEF library per
    namespace), "IMPL" and "FRAGMENT" add implementations to operators defined
    elsewhere.  Its operators go when it does (deleted, or collected)."""

    def __init__(self, ns: str, kind: str, dispatch_key: str = "") -> None:
        if kind not in _KINDS:
            raise ValueError(f"Unsupported kind: {kind!r} (expected one of {', '.join(_KINDS)})")
        if not isinstance(ns, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", ns):
            raise ValueError(f"Library: the namespace must be an identifier, not {ns!r}")
        if kind == "DEF":
            owner = _defining.get(ns)
            if owner is not None and owner() is not None:
                raise RuntimeError(f"Only a single TORCH_LIBRARY can be used to register the namespace {ns}; "
                                   "please put all of your definitions in a single TORCH_LIBRARY block.")
            _defining[ns] = weakref.ref(self)
        self.ns, self.kind, self.dispatch_key = ns, kind, dispatch_key
        self._defined: list[str] = []  # the operators this library defined
        self._implemented: list[tuple[_Operator, Callable[..., Any]]] = []  # (operator, implementation) pairs it gave
        weakref.finalize(self, Library._forget, ns, kind, self._defined, self._implemented)

    def define(self, schema: str) -> str:
        """Defines operator ns::name from a schema "name(args) -> returns"; only a DEF or
        FRAGMENT library may.  Returns the name."""
        if self.kind == "IMPL":
            raise RuntimeError(f"define(): a library of kind IMPL cannot define operators ({self.ns})")
        m = re.fullmatch(r"\s*([A-Za-z_][A-Za-z0-9_]*)(\.[A-Za-z0-9_]+)?\s*\(.*\)\s*->.*", schema)
        if m is None:
            raise RuntimeError(f"define(): not a schema of the form 'name(args) -> returns': {schema!r}")
        qualname = f"{self.ns}::{m.group(1)}"
        if qualname in _operators:
            raise RuntimeError(f"Tried to register an operator ({qualname}) with the same name as an existing "
                               "operator")
        _operators[qualname] = _Operator(qualname)
        self._defined.append(qualname)
        return m.group(1)

    def impl(self, op_name: str, fn: Callable[..., Any], dispatch_key: str = "") -> None:
        """Gives operator op_name (of this library's namespace) its Python implementation."""
        if not callable(fn):
            raise TypeError(f"impl(): the implementation must be callable, not {type(fn).__name__}")
        qualname = op_name if "::" in op_name else f"{self.ns}::{op_name}"
        op = _operators.get(qualname)
        if op is None:
            raise RuntimeError(f"impl(): the operator {qualname} is not defined (Library.define)")
        if op.kernel is not None:
            raise RuntimeError(f"impl(): the operator {qualname} already has an implementation")
        op.kernel = fn
        self._implemented.append((op, fn))

    @staticmethod
    def _forget(ns: str, kind: str, defined: list[str], implemented: list[tuple[_Operator, Callable[..., Any]]]) -> None:
        for op, fn in implemented:
            # Only what this library gave: the operator may have been defined again since,
            # and implemented by another library.
            if _operators.get(op.qualname) is op and op.kernel is fn:
                op.kernel = None
        for qualname in defined:
            _operators.pop(qualname, None)
        if kind == "DEF":
            owner = _defining.get(ns)
            if owner is not None and owner() is None:
                del _defining[ns]

    def _destroy(self) -> None:
        """Forgets this library's operators now (as PyTorch's Library._destroy)."""
        Library._forget(self.ns, self.kind, self._defined, self._implemented)
        self._defined.clear()
        self._implemented.clear()
        if self.kind == "DEF" and _defining.get(self.ns) is not None and _defining[self.ns]() is self:
            del _defining[self.ns]


def impl(lib: Library, name: str, dispatch_key: str = "") -> Callable[[_F], _F]:
    """@impl(lib, "name", "") def f(...): lib.impl("name", f); f is returned unchanged."""
    def register(fn: _F) -> _F:
        lib.impl(name, fn, dispatch_key)
        return fn
    return register


class _Namespace:
    """revive.ops.<ns>: its operators as attributes."""

    def __init__(self, ns: str) -> None:
        self._ns = ns

    def __getattr__(self, name: str) -> _Operator:
        op = _operators.get(f"{self._ns}::{name}")
        if op is None:
            raise AttributeError(f"'_OpNamespace' '{self._ns}' object has no attribute '{name}'")
        return op


class _Ops:
    """revive.ops.<namespace>.<name>: the operators defined with Library."""

    def __getattr__(self, ns: str) -> _Namespace:
        if ns.startswith("__"):
            raise AttributeError(ns)
        return _Namespace(ns)


ops = _Ops()
