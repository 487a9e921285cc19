// inspect.h: read the state of ../shared/semantics.md §2 off a live C++ object.
//
// Defines:
//   SlotState   U, T0, L, Z, X (D is "the C++ object is gone": the caller knows that).
//   CdataKind   what the recorded wrapper's cdata is.
//   Snapshot    strong count n, the tag, the owns bit, the recorded wrapper, its
//               refcount r and its cdata, and the state they add up to.
//   inspect()   take a Snapshot, as seen from one interpreter, under its GIL.
//
// Example (compiled in test/interp/lifecycle_test.cpp):
//   Tensor t = Tensor::empty(2);
//   Ref p = I->wrap(t);
//   Snapshot s = inspect(*I, t.unsafeGetTensorImpl());
//   assert(s.state == SlotState::L && s.strong == 2 && s.refcnt == 1);
//
// Used by tests (to assert states) and by diagram.h's look_at() (which the tour
// prints and draws).  Read-only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

#include "revive/interp/interpreter.h"

namespace revive::interp {

enum class SlotState {
  U,   // untagged: never crossed into Python
  T0,  // tagged by this interpreter, no wrapper recorded
  L,   // live: the recorded wrapper owns the C++ object (owns bit clear)
  Z,   // zombie: the C++ object owns the recorded wrapper (owns bit set)
  X,   // foreign: tagged by another interpreter
};

enum class CdataKind {
  NoWrapper,  // nothing recorded (U, T0, X)
  Owned,      // the wrapper counts 1 in the strong count
  Borrowed,   // the wrapper counts nothing
  Undefined,  // stubbed or cleared
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

// What a tensor or storage wrapper's cdata is, and the C++ object it refers to (null
// when undefined); NoWrapper for any other object.  The caller holds o's GIL.
struct CdataRead {
  CdataKind kind = CdataKind::NoWrapper;
  const void* target = nullptr;
};
[[nodiscard]] CdataRead read_cdata(const PyObject* o);

// The Snapshot of `target`'s slot, seen from `interp`.  The caller keeps `target` alive.
[[nodiscard]] Snapshot inspect(Interpreter& interp, const TensorImpl* target);
[[nodiscard]] Snapshot inspect(Interpreter& interp, const StorageImpl* target);

[[nodiscard]] std::string_view to_string(SlotState s) noexcept;
[[nodiscard]] std::string_view to_string(CdataKind c) noexcept;
std::ostream& operator<<(std::ostream& os, SlotState s);
std::ostream& operator<<(std::ostream& os, CdataKind c);

}  // namespace revive::interp
