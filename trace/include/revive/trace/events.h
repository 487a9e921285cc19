// events.h: what every runtime reports as ownership changes, for traces and tests.
//
// Defines:
//   EventKind   one enumerator per transition of docs/reference.md §3, plus the
//               runtime's own happenings (finalizers, weakrefs, frees, collections).
//   Event       the kind, the wrapper and the C++ object involved, and a detail text.
//   Observer    the interface to receive them; Runtime::set_observer attaches one.
//   EventLog    an Observer that records events (tests assert on sequences).
//
// This is the vocabulary shared by the layers: the fake runtime (interp/) reports the
// Python-side events, the binding (binding/) the preservation ones, and the ways of
// seeing (pictures/) read them without knowing which runtime sent them.  An object is
// named by its address only (`PyObject` is opaque here).  With no observer attached,
// emitting an event is one pointer test.
//
// Example (test/binding/lifecycle_test.cpp, first_wrap_tags_and_records_an_owning_wrapper):
//   EventLog log;
//   I->set_observer(&log);
//   Tensor t = Tensor::empty(2);
//   Ref p = I->wrap(t);
//   assert(log.kinds() == std::vector{EventKind::Tagged, EventKind::NewWrapper});
#pragma once

#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "revive/pyslot/python_stub.h"

namespace revive::trace {

enum class EventKind {
  Tagged,           // a slot was tagged with this interpreter (U -> V, inside T1)
  NewWrapper,       // a wrapper was created and recorded in the slot (T1, T1')
  HermeticWrap,     // a hermetic wrapper was created; the slot was not touched (T10)
  Rewrapped,        // wrap returned the live wrapper with one more reference (T2)
  Resurrected,      // dealloc flipped ownership: C++ now owns the wrapper (T3, L -> Z)
  FlippedBack,      // wrap of a zombie: Python owns C++ again (T5, Z -> L)
  DecrefFromCpp,    // the slot gave its reference back (T6)
  Stubbed,          // T6 found extra references (the weakref hole, T8): cdata stubbed
  WeakrefDeref,     // a weakref was dereferenced (no flip: this is how T8 starts)
  Finalized,        // __del__ ran (once in an object's life)
  WeakrefCleared,   // the referent died: the weakref now reads None
  Freed,            // the object's memory was released (T4 / T6 end)
  Warning,          // a Python warning was issued (detail holds its text)
  Disarmed,         // the interpreter was torn down and its vtable disarmed (T9)
  RoutedOp,         // a Python operator ran here (detail: name, hermetic or trampoline)
  GcClear,          // the cycle collector called an object's clear (detail: what it did)
  GcCollect,        // a collection finished (detail: generation, objects found)
  SlotCleared,      // a recorded wrapper died for real while C++ holds the target: the slot
                    // forgets it (L -> V, Note [A recorded wrapper that really dies])
  WrapRefused,      // wrap raised: another interpreter tagged the target (T11; detail: text)
  StorageAliased,   // a storage tagged elsewhere was wrapped through a new StorageImpl
                    // sharing its bytes (Note [Storage wrap across interpreters])
  CppIncref,        // E4: n went 1 -> 2 with the has-PyObject bit set: C++ took a
                    // reference to the wrapper (Note [Era E4 in the binding])
  CppDecref,        // E4: n went 2 -> 1: C++ gave its reference to the wrapper back
};

[[nodiscard]] std::string_view to_string(EventKind kind) noexcept;
std::ostream& operator<<(std::ostream& os, EventKind kind);

struct Event {
  EventKind kind;
  const PyObject* object = nullptr;  // the wrapper or object concerned, if any
  const void* target = nullptr;      // the TensorImpl/StorageImpl concerned, if any
  std::string detail;                // free text (warning text, type name, ...)
};

class Observer {
 public:
  virtual ~Observer() = default;
  // Called with the interpreter's GIL held, often from inside a dealloc, with the name of
  // the interpreter that reports it.  Must not call back into the interpreter, and must
  // not throw (it is noexcept: a throw terminates).
  virtual void on_event(std::string_view interpreter, const Event& event) noexcept = 0;
};

class EventLog final : public Observer {
 public:
  void on_event(std::string_view interpreter, const Event& event) noexcept override;
  [[nodiscard]] const std::vector<Event>& events() const noexcept { return events_; }
  [[nodiscard]] std::vector<EventKind> kinds() const;
  void clear() noexcept { events_.clear(); }

 private:
  std::vector<Event> events_;
};

}  // namespace revive::trace
