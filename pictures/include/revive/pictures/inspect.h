// inspect.h: read the state of docs/reference.md §2 off a live C++ object.
//
// Defines:
//   SlotState   U, V, L, Z, X, and R (retained: dead, kept in memory by weak references) and D (an
//               undefined handle).
//   CdataKind   what the recorded wrapper's cdata is.
//   Snapshot    strong count n, the tag, the owns bit, the recorded wrapper, its
//               refcount r and its cdata, and the state they add up to.
//   inspect()   take a Snapshot, as seen from one interpreter, under its GIL.
//
// The interpreter is any trace::RuntimeView (a binding::Interpreter converts to its
// own), so the same reading serves every runtime.
//
// Example (compiled in test/binding/lifecycle_test.cpp):
//   Tensor t = Tensor::empty(2);
//   Ref p = I->wrap(t);
//   Snapshot s = inspect(*I, t.unsafeGetTensorImpl());
//   assert(s.state == SlotState::L && s.strong == 2 && s.refcnt == 1);
//
// Used by tests (to assert states) and by diagram.h's look_at() (which the tour
// prints and draws).  Read-only.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

#include "revive/trace/runtime_view.h"
#include "revive/trace/target.h"

namespace revive::pictures {

using trace::CdataKind;
using trace::PreservedTarget;
using trace::Target;

enum class SlotState {
  U,   // untagged: never crossed into Python
  V,  // tagged by this interpreter, no wrapper recorded
  L,   // live: the recorded wrapper owns the C++ object (owns bit clear)
  Z,   // zombie: the C++ object owns the recorded wrapper (owns bit set)
  X,   // foreign: tagged by another interpreter
  R,   // retained: n == 0, but C++ weak references keep the object in memory; a
       // storage's zombie may still be recorded (docs/reference.md §2)
  D,   // no target: an undefined handle (inspect() of a Tensor or Storage)
};

struct Snapshot {
  std::uint32_t strong = 0;           // n
  std::string tag = "-";              // the tag's name(), or "-" when untagged
  bool owns = false;                  // the owns bit
  const PyObject* recorded = nullptr; // the wrapper the slot records (X: not read)
  std::ptrdiff_t refcnt = 0;          // r of the recorded wrapper (0 when none)
  CdataKind cdata = CdataKind::NoWrapper;
  SlotState state = SlotState::U;
};

// The Snapshot of `target`'s slot, seen from `interp`.  The caller keeps `target`'s memory
// alive (a strong or weak reference); a dead target still in memory (n == 0) reads as R, with what
// its slot still records.  A gone target (target.slot == nullptr) reads as D.
[[nodiscard]] Snapshot inspect(const trace::RuntimeView& interp, const Target& target);
// The same for any preserved C++ object (TensorImpl, StorageImpl, ...).
template <PreservedTarget Impl>
[[nodiscard]] Snapshot inspect(const trace::RuntimeView& interp, const Impl* target) {
  return inspect(interp, trace::target_of(target));
}
// Through a handle (Tensor, Storage, ...): an undefined one reads as D.
template <class Handle>
  requires requires(const Handle& h) {
    { h.defined() } -> std::convertible_to<bool>;
    { h.getIntrusivePtr().get() };
  }
[[nodiscard]] Snapshot inspect(const trace::RuntimeView& interp, const Handle& handle) {
  if (!handle.defined()) return Snapshot{.state = SlotState::D};
  return inspect(interp, handle.getIntrusivePtr().get());
}

[[nodiscard]] std::string_view to_string(SlotState s) noexcept;
std::ostream& operator<<(std::ostream& os, SlotState s);

}  // namespace revive::pictures
