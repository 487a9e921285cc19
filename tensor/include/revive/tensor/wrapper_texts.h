// wrapper_texts.h: PyTorch's own words about a tensor's or a storage's Python wrapper,
// kept once for both bindings that say them: binding/ on the fake interpreter and
// cpython/ on the real one (neither may include the other).
//
// Defines, in namespace revive::texts:
//   kTensorWeakrefHoleWarning, kStorageWeakrefHoleWarning, kNodeWeakrefHoleWarning
//       the warning of Note [The weakref hole] (binding/python_variable.h), given when
//       C++ releases a zombie a weak reference revived (concrete_decref_fn); the last
//       for a preserved grad_fn, in the others' words (PyTorch has none yet).
//   kUndefinedSelf, kNullStorage
//       what a method raises when its wrapper's C++ object is undefined (a wrapper the
//       weakref hole stubbed): the argument parser's text for a tensor's `self`, and
//       THPStorage_assertNotNull's for a storage.
#pragma once

namespace revive::texts {

inline constexpr const char* kTensorWeakrefHoleWarning =
    "Deallocating Tensor that still has live PyObject references.  This probably happened "
    "because you took out a weak reference to Tensor and didn't call _fix_weakref() after "
    "dereferencing it.  Subsequent accesses to this tensor via the PyObject will now fail.";

inline constexpr const char* kStorageWeakrefHoleWarning =
    "Deallocating UntypedStorage that still has live PyObject references.  This probably "
    "happened because you took out a weak reference to UntypedStorage and didn't call "
    "_fix_weakref() after dereferencing it.  Subsequent accesses to this storage via the "
    "PyObject will now fail.";

inline constexpr const char* kNodeWeakrefHoleWarning =
    "Deallocating Node that still has live PyObject references.  This probably happened "
    "because you took out a weak reference to a grad_fn and didn't call _fix_weakref() "
    "after dereferencing it.  Subsequent accesses to this grad_fn via the PyObject will now fail.";

// THPVariable_set_backwards_hooks and THPVariable_set_post_accumulate_grad_hooks, for
// `del t._backward_hooks` (PyTorch's spelling, "backwards", kept).
inline constexpr const char* kDeleteBackwardHooks = "Deletion of _backwards_hooks not allowed!";
inline constexpr const char* kDeletePostAccumulateGradHooks =
    "Deletion of _post_accumulate_grad_hooks not allowed!";

inline constexpr const char* kUndefinedSelf =
    "Expected a proper Tensor but got None (or an undefined Tensor in C++) for argument #0 'self'";

inline constexpr const char* kNullStorage = "Got a null Storage";

}  // namespace revive::texts
