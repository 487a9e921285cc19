"""revive: PyTorch's PyObject preservation on the real CPython 3.11.

A C++ tensor (or storage) and its Python wrapper stay one-to-one: however often C++
hands the tensor back to Python, Python sees the same object, with its attributes.
REVIVE_ERA, read at the first import, chooses how: E2 (the default) preserves a wrapper
by resurrecting it when Python lets go while C++ still holds the tensor; E4 (PyTorch
since #167564) has C++ hold the wrapper while it shares the tensor.  `era()` says which.
An operation on a tensor that requires grad records a graph (`t.grad_fn`), the C++ owner
PyTorch's tensors most often have; REVIVE_GRAD_FN (cache, the default, or preserved)
chooses how a grad_fn gets its Python object.  `grad_fn_objects()` says which.

As torch is laid out, so is this package: `revive._C` is the extension module, with the
C base types `TensorBase` and `StorageBase`; `Tensor` and `UntypedStorage` are Python
classes over them (made once per interpreter by `_C`, so importing this package again
gives the same classes).  Everything public is re-exported here.
"""
import _imp
import sys
from typing import Any


def _load_extension() -> None:
    """revive._C: the extension module next to this file, or, in a program that builds it
    into the interpreter (revive-python, revive-against-cpython), the built-in one, which
    Python's import system does not look for inside a package."""
    name = __name__ + "._C"
    if name not in sys.modules and _imp.is_builtin(name):
        import importlib.machinery
        import importlib.util

        spec = importlib.machinery.BuiltinImporter.find_spec(name)
        assert spec is not None and spec.loader is not None  # _imp.is_builtin(name) said so
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]  # as the import system does: no half-made module stays
            raise


_load_extension()
del _load_extension

from revive import _C  # noqa: E402
from revive._C import (  # noqa: E402
    Tensor,
    UntypedStorage,
    _gc_bugs,
    cpp_empty,
    empty,
    era,
    grad_fn_objects,
    held,
    hermetic,
    hold,
    inspect,
    is_hermetic,
    randn,
    release,
    release_on_thread,
    tensor,
    watch,
    watched,
)

from revive import library  # noqa: E402
from revive.library import ops  # noqa: E402


class _LegacyTensorType(type):
    """The metaclass of FloatTensor (torch.tensortype): a class you call for a tensor and
    ask isinstance() of, never one to derive from (PyTorch's legacy tensor types lack
    Py_TPFLAGS_BASETYPE, and CPython refuses them as a base with this text)."""

    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any) -> "_LegacyTensorType":
        for base in bases:
            if isinstance(base, _LegacyTensorType):
                raise TypeError(f"type '{base.__module__}.{base.__qualname__}' is not an acceptable base type")
        return super().__new__(mcs, name, bases, namespace, **kwargs)

    def __call__(cls, *args: Any) -> Tensor:
        """FloatTensor(n): a new plain Tensor of n elements (the legacy constructor)."""
        return Tensor(*args)

    def __instancecheck__(cls, obj: object) -> bool:
        # revive models no dtypes: every tensor is a CPU float tensor.
        return isinstance(obj, Tensor)


class FloatTensor(metaclass=_LegacyTensorType):
    """torch.FloatTensor: FloatTensor(n) makes a plain Tensor; isinstance(t, FloatTensor)
    holds for every tensor (revive has one dtype); it cannot be subclassed."""


__all__ = [
    "FloatTensor", "Tensor", "UntypedStorage", "cpp_empty", "empty", "era", "grad_fn_objects", "held", "hermetic", "hold",
    "inspect", "is_hermetic", "library", "ops", "randn", "release", "release_on_thread", "tensor", "watch",
    "watched",
]
