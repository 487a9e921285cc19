// move_out.h: release a reference only once the object that held it is consistent.
//
// Defines: drop(field) and replace(field, value), the two ways this codebase clears or
// overwrites a field that holds a reference (a Python reference, a tensor handle, a
// maybe-owned cdata, a __dict__).
//
// Example (test/pyslot/slot_test.cpp, move_out_releases_after_the_field_is_updated):
//   std::shared_ptr<int> field = std::make_shared<int>(1);
//   drop(field);                       // field is empty before the int is released
//   auto old = replace(field, std::make_shared<int>(2));  // old released by the caller
//
// Owns: Note [Move out, then drop].
#pragma once

#include <utility>

namespace revive {

// Note [Move out, then drop]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~
// Not a PyTorch mechanism but a CPython habit (Py_CLEAR, Py_SETREF) this model needs in
// many places.  Releasing a reference can run arbitrary code: a __del__, a weakref
// callback, a dying tensor's T6 in another interpreter, a whole collection.  The
// tempting code releases in place:
//     self->cdata = MaybeOwned<Tensor>();      // or: dict.reset(); grad_.reset();
// and the code the release runs then meets an object half-way through the change: a
// finalizer reading self finds the field still holding (or already losing) what is
// being destroyed, and reads a dangling or half-destroyed value; or the release frees
// the very object whose member is being assigned.  The fix is to move the value out
// into a local, finish every update to the object, and let the local go last:
//   - drop(field): the field is empty before the old value is released;
//   - replace(field, value): the field holds the new value; the caller holds the old one
//     and lets it go when the object is consistent (often: after its lock).
// MaybeOwned's move assignment and Ref::reset follow the same rule inside.
template <class T>
void drop(T& field) noexcept {
  T dropped(std::move(field));
  field = T();  // (not std::exchange: g++ 12 -O3 then warns falsely through std::variant)
}  // `dropped` is released here, after `field` is empty

template <class T, class U>
[[nodiscard]] T replace(T& field, U&& value) noexcept {
  return std::exchange(field, std::forward<U>(value));
}

}  // namespace revive
