// runtime_view.h: the fake runtime with torch loaded, as the ways of seeing read it.
//
// Defines: FakeRuntimeView, the trace::RuntimeView of one binding::Interpreter: its name
// and tag, its GIL, and the facts about one of its objects (refcount, cdata, __dict__
// keys and set __slots__, weakrefs).  pictures/ reads any runtime through that interface
// only; this is the one place that knows how the fake runtime and the binding lay
// those facts out.
//
// Example: Interpreter::view() returns one (see interpreter.h).
#pragma once

#include "revive/trace/runtime_view.h"

namespace revive::binding {

class Interpreter;

class FakeRuntimeView final : public trace::RuntimeView {
 public:
  explicit FakeRuntimeView(Interpreter& interp) noexcept : interp_(interp) {}
  [[nodiscard]] const std::string& name() const noexcept override;
  [[nodiscard]] const impl::PyInterpreter* tag() const noexcept override;
  [[nodiscard]] bool is_finalized() const noexcept override;
  void lock() const override;
  void unlock() const override;
  [[nodiscard]] trace::WrapperFacts facts(const PyObject* o) const override;
  [[nodiscard]] const trace::RuntimeView& home_of(const PyObject* o) const override;

 private:
  Interpreter& interp_;
};

}  // namespace revive::binding
