// runtime_view.h: what the ways of seeing may ask of one interpreter, whatever runtime
// and whatever binding it is.
//
// Defines:
//   CdataKind     what a wrapper's reference to its C++ object (cdata) is.
//   WrapperFacts  one Python object as a picture or a state reading needs it: identity,
//                 type, refcount r, cdata, attributes, weakrefs.
//   RuntimeView   the interface a runtime's binding implements so that pictures/ can
//                 read it: the interpreter's name and tag value, whether it was torn
//                 down, its GIL, and the facts about one of its objects.
//
// Why an interface: the state reading, the ownership pictures and the state machine
// (pictures/) are the same for the fake runtime (interp/ + binding/) and for any other
// runtime or era added beside it.  They see a target through tensor/'s TensorImpl and
// StorageImpl (which every runtime shares) and its wrappers only through this view, so
// they never depend on one runtime's object layout.
//
// Example (the fake runtime's view is Interpreter::view(); see
// test/pictures/diagram_test.cpp):
//   const trace::RuntimeView& v = I->view();
//   v.lock();
//   trace::WrapperFacts f = v.facts(p.get());   // f.refcnt == 1, f.cdata == Owned
//   v.unlock();
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "revive/pyslot/python_stub.h"

namespace revive::impl {
struct PyInterpreter;
}  // namespace revive::impl

namespace revive::trace {

enum class CdataKind {
  NoWrapper,  // not a tensor or storage wrapper, or nothing recorded (U, V, X)
  Owned,      // the wrapper counts 1 in the strong count
  Borrowed,   // the wrapper counts nothing (a zombie)
  Undefined,  // stubbed or cleared
};

[[nodiscard]] std::string_view to_string(CdataKind c) noexcept;  // "-", "owned", ...
std::ostream& operator<<(std::ostream& os, CdataKind c);

struct WrapperFacts {
  std::uint64_t id = 0;               // a per-process object number, for printing
  std::string type;                   // its class's name
  std::string interpreter;            // the name of the interpreter it belongs to
  std::ptrdiff_t refcnt = 0;          // r
  CdataKind cdata = CdataKind::NoWrapper;
  const void* target = nullptr;       // the C++ object cdata refers to (null: none)
  std::vector<std::string> attributes;  // __dict__ keys, then set __slots__ names
  std::size_t weakrefs = 0;           // Python weakrefs pointing at it
};

class RuntimeView {
 public:
  virtual ~RuntimeView() = default;
  [[nodiscard]] virtual const std::string& name() const noexcept = 0;
  // The value a slot tagged by this interpreter holds.
  [[nodiscard]] virtual const impl::PyInterpreter* tag() const noexcept = 0;
  [[nodiscard]] virtual bool is_finalized() const noexcept = 0;
  // This interpreter's GIL (re-entrant): a slot's pyobj_ and the wrapper it records
  // belong to the tagging interpreter's GIL.
  virtual void lock() const = 0;
  virtual void unlock() const = 0;
  // Facts about `o`, one of this interpreter's live (or abandoned) objects.  The caller
  // holds this interpreter's GIL.
  [[nodiscard]] virtual WrapperFacts facts(const PyObject* o) const = 0;
  // The view of the interpreter `o` belongs to (it may be this one).
  [[nodiscard]] virtual const RuntimeView& home_of(const PyObject* o) const = 0;
};

// Holds a view's GIL for a scope.
class ViewLock {
 public:
  explicit ViewLock(const RuntimeView& view) : view_(view) { view_.lock(); }
  ~ViewLock() { view_.unlock(); }
  ViewLock(const ViewLock&) = delete;
  ViewLock& operator=(const ViewLock&) = delete;

 private:
  const RuntimeView& view_;
};

}  // namespace revive::trace
