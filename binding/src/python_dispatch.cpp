// Python-implemented operators: torch.library registration and PythonKernelHolder's
// routing (torch/csrc/utils/python_dispatch.cpp), era E2.
// See Note [Python op registration trampoline].
#include <optional>

#include "revive/binding/python_variable.h"

namespace revive::binding {

using interp::GilGuard;

bool Torch::register_python_op(const std::string& name, PythonOpImpl impl) {
  interp::Runtime::Entry entered(rt_, "register_python_op");  // See Note [One way into an interpreter]
  REVIVE_CHECK(static_cast<bool>(impl), "register_python_op(", name, "): no implementation");
  Dispatcher& dispatcher = Dispatcher::singleton();
  const bool is_main = is_main_;  // register_or_verify()
  if (!is_main) {
    // Only verify: main must have defined it already.
    const OperatorHandle* op = dispatcher.findOp(name);
    REVIVE_CHECK(op != nullptr && dispatcher.hasKernel(*op), "operator ", name,
                 " was not registered by the main interpreter");
  }
  {
    REVIVE_CHECK(!python_ops_.contains(name), "operator ", name,
                 " is already registered in interpreter ", rt_.name());
    const PyType* overload = rt_.new_class("OpOverload", rt_.object_type());
    python_ops_.emplace(name, PythonOp{rt_.new_object(overload), std::move(impl)});
  }
  if (is_main) {
    const OperatorHandle& op = dispatcher.registerOperator(name);
    // The kernel (PythonKernelHolder): decide where the call runs.
    //   - an input tensor tagged by some interpreter and carrying Python behaviour:
    //     that interpreter runs it, through its vtable (possibly another thread's GIL);
    //   - otherwise main (this interpreter) runs it in hermetic mode, so that no input
    //     is tagged by main or recorded in main's slots.  As in PyTorch, an input
    //     tagged by *another* interpreter without Python behaviour then raises in
    //     main's wrap: hermetic mode only short-circuits "tagged by us".
    // The process-wide dispatcher keeps `this` after a teardown: valid because a torn-down
    // interpreter is never freed (Note [Interpreter teardown leaks on purpose]), and
    // run_python_op refuses to run then.
    dispatcher.registerKernel(op, [this](const OperatorHandle& o, Stack* stack) {
      for (const Tensor& t : stack->values) {
        if (!t.defined()) continue;
        TensorImpl* ti = t.unsafeGetTensorImpl();
        impl::PyInterpreter* tag = ti->pyobj_slot()->pyobj_interpreter();
        if (tag != nullptr && ti->is_python_dispatch()) {
          (*tag)->python_op_registration_trampoline(o, stack);
          return;
        }
      }
      run_python_op(o, stack, /*hermetic=*/true);
    });
  }
  return is_main;
}

PyObject* Torch::twin_of(const OperatorHandle& op) {
  // See Note [PyHandleCache is a cache and a handle]: the first interpreter to ask
  // caches its twin; the others look it up every time.
  return op.python_twin().ptr_or(&pyinterpreter_, [&]() -> PyObject* {
    twin_slow_lookups_.fetch_add(1, std::memory_order_relaxed);
    GilGuard gil(rt_.gil());
    auto it = python_ops_.find(op.name());
    REVIVE_CHECK(it != python_ops_.end(), "operator ", op.name(),
                 " is not registered in interpreter ", rt_.name());
    return it->second.twin.get();
  });
}

Ref Torch::op_object(const std::string& name) {
  interp::Runtime::Entry entered(rt_, "op_object");
  const OperatorHandle* op = Dispatcher::singleton().findOp(name);
  REVIVE_CHECK(op != nullptr, "No such operator ", name);
  return Ref::borrow(twin_of(*op));
}

void Torch::run_python_op(const OperatorHandle& op, Stack* stack, bool hermetic) {
  GilGuard gil(rt_.gil());
  REVIVE_CHECK(!rt_.is_finalized(), "operator ", op.name(), ": interpreter ", rt_.name(),
               " has been torn down");
  std::optional<impl::EnableHermeticPyObject> hermetic_scope;
  if (hermetic) hermetic_scope.emplace();
  // The operator's Python object, found as PyTorch's trampoline finds it: through the
  // handle cache (the slow path also checks that this interpreter registered it).
  PyObject* twin = twin_of(op);
  const PythonOp* entry = &python_ops_.at(op.name());
  REVIVE_INTERNAL_ASSERT(entry->twin.get() == twin, "an operator twin without an implementation");
  rt_.emit(EventKind::RoutedOp, nullptr, nullptr,
       detail::str_cat(op.name(), hermetic ? " (hermetic)" : " (trampoline)"));
  Stack out;
  {
    std::vector<Ref> args;
    args.reserve(stack->values.size());
    for (const Tensor& t : stack->values) args.push_back(wrap(t));
    Ref result = entry->impl(static_cast<Interpreter&>(*this), args);
    if (!result.is_none()) out.values.push_back(unpack(result));
  }  // the call's wrappers die here, still in the same mode
  *stack = std::move(out);
}

Ref Torch::call_op(const std::string& name, const std::vector<Ref>& args) {
  const Dispatcher& dispatcher = Dispatcher::singleton();
  const OperatorHandle* op = dispatcher.findOp(name);
  REVIVE_CHECK(op != nullptr && dispatcher.hasKernel(*op), "No such operator ", name);
  Stack stack;
  for (const Ref& a : args) {
    Tensor t = unpack_as<Tensor>(a, name.c_str());  // errors name the operator
    REVIVE_CHECK(t.defined(), "Expected a proper Tensor but got None (or an undefined Tensor in "
                              "C++) for an argument of ", name);
    stack.values.push_back(std::move(t));
  }
  // Like pybind11's call into the dispatcher: our GIL is not held meanwhile, because
  // the kernel may take another interpreter's GIL (or ours, re-entrantly).
  dispatcher.call(*op, &stack);
  return stack.values.empty() ? Ref() : wrap(stack.values.front());
}

}  // namespace revive::binding
