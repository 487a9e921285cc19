// interpreter.h: a fake Python interpreter with torch loaded, the face tests, the tour
// and a learner use.
//
// Defines: Interpreter, which is an interp::Runtime (the fake CPython: objects,
// attributes, weakrefs, the collector) and a Torch (PyTorch's binding in it), and
// declares nothing else of its own beyond creating one and its view for the pictures.
// Each method is one Python operation and takes this interpreter's GIL itself.
//
// Example (test_pyobj_preserved in test/scenarios/pytorch_tensor_test.cpp):
//   auto I = Interpreter::create("I0");
//   Ref x = I->empty(2);            // x = torch.empty(2)        U -> L   (Torch)
//   I->setattr(x, "foo", 2);        // x.foo = 2                          (Runtime)
//   Ref y = I->empty(2);
//   set_grad(*I, y, x);             // y.grad = x  (C++ co-owns x's tensor; tensor_methods.h)
//   x.reset();                      // del x                     L -> Z (resurrection)
//   Ref g = grad(*I, y);            // y.grad                    Z -> L (flip back)
//   assert(std::get<std::int64_t>(I->getattr(g, "foo")) == 2);
//
// Destroying the Owner tears the interpreter down
// (See Note [Interpreter teardown leaks on purpose]).
#pragma once

#include <memory>
#include <string>

#include "revive/binding/runtime_view.h"
#include "revive/binding/torch.h"
#include "revive/interp/runtime.h"

namespace revive::binding {

class Interpreter final : public interp::Runtime, public Torch {
 public:
  using Owner = std::unique_ptr<Interpreter, interp::Runtime::Teardown>;

  [[nodiscard]] static Owner create(std::string name, GcBugs bugs = {}, Era era = Era::E2,
                                    GradFnObjects grad_fn = GradFnObjects::Cache);
  // An interpreter of era `era` (Era::E4: PyTorch's design since November 2025), whose
  // grad_fns get their Python objects the way `grad_fn` says.
  [[nodiscard]] static Owner create(std::string name, Era era, GradFnObjects grad_fn = GradFnObjects::Cache) {
    return create(std::move(name), GcBugs{}, era, grad_fn);
  }

  // How the ways of seeing (pictures/) read this interpreter; an Interpreter can be
  // passed wherever a view is expected.
  [[nodiscard]] const trace::RuntimeView& view() const noexcept { return view_; }
  operator const trace::RuntimeView&() const noexcept { return view_; }  // NOLINT: implicit on purpose

  // `runtime` as the Interpreter it is (a finalizer or callback receives the Runtime);
  // throws if it is a bare Runtime, without torch.
  [[nodiscard]] static Interpreter& of(interp::Runtime& runtime);

 private:
  Interpreter(std::string name, GcBugs bugs, Era era, GradFnObjects grad_fn);
  FakeRuntimeView view_;
};

}  // namespace revive::binding
