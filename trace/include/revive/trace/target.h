// target.h: a preserved C++ object, as the ways of seeing read it, whatever its type.
//
// Defines:
//   PreservedTarget   the concept every C++ type with a PyObjectSlot satisfies
//                     (TensorImpl, StorageImpl, and any type an extension adds): its
//                     slot, its two counts, an id, and two names for pictures.
//   Target            those facts, read once, with no type attached: what inspect()
//                     and look_at() work on.
//   target_of()       read them off one object.
//
// Example (test/pictures/diagram_test.cpp, a_target_is_read_through_the_concept):
//   Tensor t = Tensor::empty(2);
//   Target x = target_of(t.unsafeGetTensorImpl());
//   assert(x.type_name == "TensorImpl" && x.strong == 1 && x.slot != nullptr);
#pragma once

#include <concepts>
#include <cstdint>
#include <string_view>

#include "revive/pyslot/py_object_slot.h"

namespace revive::trace {

template <class Impl>
concept PreservedTarget = requires(const Impl* t) {
  { t->pyobj_slot() } -> std::same_as<const impl::PyObjectSlot*>;
  { t->refcount() } -> std::convertible_to<std::uint32_t>;   // strong count n
  { t->weakcount() } -> std::convertible_to<std::uint32_t>;  // c10's weak count
  { t->id() } -> std::convertible_to<std::uint64_t>;
  { Impl::kTypeName } -> std::convertible_to<std::string_view>;  // "TensorImpl"
  { Impl::kHeldBy } -> std::convertible_to<std::string_view>;    // who holds one in C++
};

struct Target {
  std::string_view type_name;                 // Impl::kTypeName
  std::string_view held_by;                   // Impl::kHeldBy
  const void* address = nullptr;              // null: the object is gone (state D)
  const impl::PyObjectSlot* slot = nullptr;   // null when gone
  std::uint64_t id = 0;
  std::uint32_t strong = 0;                   // n
  std::uint32_t weak = 0;                     // c10's weak count (one extra while n > 0)
  bool has_pyobject = false;                  // era E4's bit (Note [The has-PyObject bit])
};

// The facts of `t`, or of a gone object of type Impl when `t` is null.  The caller
// keeps `t` alive while reading.
template <PreservedTarget Impl>
[[nodiscard]] Target target_of(const Impl* t) {
  Target x{Impl::kTypeName, Impl::kHeldBy};
  if (t == nullptr) return x;
  x.address = t;
  x.slot = t->pyobj_slot();
  x.id = t->id();
  x.strong = t->refcount();
  x.weak = t->weakcount();
  if constexpr (requires { t->has_pyobject(); }) x.has_pyobject = t->has_pyobject();
  return x;
}

}  // namespace revive::trace
