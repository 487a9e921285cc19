// wrapper_objects.h: the Python objects PyTorch's binding adds to the runtime.
//
// Defines:
//   WrapperKind     which native struct an instance of a binding type is (the value of
//                   PyType::native_kind for every Tensor and UntypedStorage class).
//   TensorObject    THPVariable: a PyObject with a maybe-owned `cdata` Tensor.
//   StorageObject   THPStorage: a maybe-owned Storage and the is_hermetic flag.
//   wrapper_kind()  the WrapperKind of an object, or nothing for any other object.
//
// Both derive from the fake runtime's PyObject as a C extension's structs embed
// PyObject_HEAD.  Every field is protected by the owning interpreter's GIL.
//
// Example (test/binding/lifecycle_test.cpp):
//   Ref p = I->empty(2);
//   assert(wrapper_kind(p.get()) == WrapperKind::Tensor);
//   auto* self = static_cast<TensorObject*>(p.get());   // self->cdata is owned (L)
#pragma once

#include <optional>

#include "revive/interp/object.h"
#include "revive/tensor/maybe_owned.h"
#include "revive/tensor/storage_impl.h"
#include "revive/tensor/tensor_impl.h"

namespace revive::binding {

enum class WrapperKind {
  Tensor = 1,   // TensorObject: torch.Tensor and its subclasses
  Storage = 2,  // StorageObject: torch.UntypedStorage and its subclasses
};

struct TensorObject final : PyObject {
  using PyObject::PyObject;
  // Owned while Python owns the tensor (L), borrowed while the tensor owns this
  // wrapper (Z), undefined once stubbed (T6 with the weakref hole) or cleared.
  // See Note [PyObject preservation].
  MaybeOwned<Tensor> cdata;
};

struct StorageObject final : PyObject {
  using PyObject::PyObject;
  MaybeOwned<Storage> cdata;  // as TensorObject::cdata
  // Made in hermetic mode: never recorded in the slot, never preserved.
  bool is_hermetic = false;
};

// The kind of a binding object; nothing for plain objects and weakrefs.
[[nodiscard]] inline std::optional<WrapperKind> wrapper_kind(const PyObject* o) noexcept {
  if (o->ob_type->layout != interp::Layout::Native) return std::nullopt;
  return static_cast<WrapperKind>(o->ob_type->native_kind);
}

}  // namespace revive::binding
