// A grad_fn's Python object, both ways (Note [Two ways to give a grad_fn a Python
// object], torch.h), and the Python-level autograd API on top of tensor/autograd.h:
// `t.requires_grad`, `t.grad_fn`, the operations, `grad_fn._saved_self`, the hooks.
#include "revive/binding/python_variable.h"
#include "revive/binding/tensor_methods.h"
#include "revive/pyslot/move_out.h"

namespace revive::binding {

using interp::PythonError;

// ---- the grad_fn's Python object -------------------------------------------------------

const PyType* Torch::node_class(const autograd::Node& node) {
  auto it = node_classes_.find(node.kind());
  if (it != node_classes_.end()) return it->second;
  const PyType* cls = rt_.new_class(std::string(node.name()), grad_fn_base_);
  node_classes_.emplace(node.kind(), cls);
  return cls;
}

PyObject* Torch::grad_fn_pyobj(const autograd::Node& node) const noexcept {
  if (grad_fn_objects_ == GradFnObjects::Cache) return node.cached_pyobj(&pyinterpreter_);
  const impl::PyObjectSlot* slot = node.pyobj_slot();
  return slot->check_interpreter(&pyinterpreter_) ? slot->_unchecked_untagged_pyobj() : nullptr;
}

// See Note [Two ways to give a grad_fn a Python object].
Ref Torch::grad_fn_object(const autograd::NodeHandle& node) {
  if (!node.defined()) return {};
  if (grad_fn_objects_ == GradFnObjects::Preserved) {
    bool recorded = false;
    {
      interp::Runtime::Entry entered(rt_, "grad_fn");
      const impl::PyObjectSlot* slot = node->pyobj_slot();
      recorded = slot->check_interpreter(&pyinterpreter_) && slot->_unchecked_untagged_pyobj() != nullptr;
      if (!recorded) (void)node_class(*node);
    }
    // The recorded object (T2, or T5 for a zombie); else a new one of its kind's class.
    // Another interpreter's tag is refused by both, as for a tensor (T11).
    return recorded ? wrap(node) : new_with_var(node_class(*node), node);
  }
  interp::Runtime::Entry entered(rt_, "grad_fn");
  // Only compared, never read: the holder may be a dead interpreter's.
  const impl::PyInterpreter* holder = node->cache_interpreter();
  if (holder != nullptr && holder != &pyinterpreter_) {
    throw Error(detail::str_cat("cannot access the PyObject of ", node->name(), " from interpreter ",
                                rt_.name(), ": another interpreter holds it"));
  }
  if (PyObject* o = node->cached_pyobj(&pyinterpreter_)) {  // functionToPyObject: Py_INCREF
    rt_.incref(o);
    return Ref::steal(o);
  }
  rt_.gc_safe_point();
  auto* self = rt_.allocate<CppFunctionObject>(node_class(*node));
  self->cdata = node;
  node->set_cached_pyobj(&pyinterpreter_, self);  // not owned: "we only have a weak reference"
  cpp_functions_.insert(self);
  rt_.emit(EventKind::NewWrapper, self, node.get(), self->ob_type->name);
  return Ref::steal(self);
}

autograd::NodeHandle Torch::unpack_node(const Ref& g, const char* what) {
  if (grad_fn_objects_ == GradFnObjects::Preserved) {
    autograd::NodeHandle node = unpack_as<autograd::NodeHandle>(g, what);
    REVIVE_CHECK(node.defined(), what, "(): the Node is undefined (Note [The weakref hole])");
    return node;
  }
  interp::Runtime::Entry entered(rt_, what);
  rt_.check_usable(g, what);
  if (!g->ob_type->is_subtype_of(grad_fn_base_)) {
    throw PythonError("TypeError", detail::str_cat(what, "(): expected a grad_fn but got ", g->ob_type->name));
  }
  const autograd::NodeHandle& node = static_cast<CppFunctionObject*>(g.get())->cdata;
  REVIVE_CHECK(node.defined(), what, "(): the grad_fn was cleared by the collector");
  return node;
}

// THPCppFunction_clear: forget the node, so that the next `t.grad_fn` makes a new object;
// and, as the collector's clear, drop __dict__ too.
void Torch::cpp_function_clear(PyObject* o) noexcept {
  auto* self = static_cast<CppFunctionObject*>(o);
  interp::Runtime::clear_slots_and_dict(o, nullptr);
  if (self->cdata.defined()) self->cdata->forget_cached_pyobj(&of(o).pyinterpreter_, o);
  autograd::NodeHandle dropped = std::move(self->cdata);
  self->cdata = autograd::NodeHandle();
  if (dropped.defined()) {
    // The node's death may release tensors whose zombies live in other interpreters:
    // See Note [GIL order across interpreters].
    interp::GilRelease no_gil(of(o).rt_.gil());
    dropped.reset();
  }
}

// THPCppFunction_dealloc: an ordinary object's death; the node lives on if its tensor
// still holds it.
void Torch::cpp_function_dealloc(PyObject* o) noexcept {
  Torch& torch = of(o);
  if (torch.rt_.finalize_and_clear(o)) return;  // __del__ kept it (PEP 442)
  cpp_function_clear(o);
  torch.cpp_functions_.erase(static_cast<CppFunctionObject*>(o));
  torch.rt_.free_object(o);
}

// Teardown: a node can outlive its cached object's interpreter (a tensor held by C++),
// and that object is abandoned, then freed; the node forgets it first, so that no later
// `t.grad_fn` finds it (another interpreter's, or a new one at the same address).
void Torch::forget_cached_grad_fns() noexcept {
  for (CppFunctionObject* f : cpp_functions_) {
    if (f->cdata.defined()) f->cdata->forget_cached_pyobj(&pyinterpreter_, f);
  }
}

// ---- the Python-level API ------------------------------------------------------------------

namespace {
Tensor defined_self(Interpreter& I, const Ref& t, const char* what) {
  Tensor x = I.unpack_as<Tensor>(t, what);
  if (!x.defined()) undefined_self();
  return x;
}

[[noreturn]] void no_attribute(const Ref& g, const char* name) {
  throw PythonError("AttributeError",
                    detail::str_cat("'", g->ob_type->name, "' object has no attribute '", name, "'"));
}
}  // namespace

bool requires_grad(Interpreter& I, const Ref& t) {
  Tensor x = defined_self(I, t, "requires_grad");
  interp::Runtime::Entry entered(I, "requires_grad");  // autograd meta: under the GIL
  return x.requires_grad();
}

void set_requires_grad(Interpreter& I, const Ref& t, bool requires_grad) {
  Tensor x = defined_self(I, t, "requires_grad");
  interp::Runtime::Entry entered(I, "requires_grad");
  x.set_requires_grad(requires_grad);
}

bool is_leaf(Interpreter& I, const Ref& t) {
  Tensor x = defined_self(I, t, "is_leaf");
  interp::Runtime::Entry entered(I, "is_leaf");
  return x.is_leaf();
}

Ref grad_fn(Interpreter& I, const Ref& t) {
  Tensor x = defined_self(I, t, "grad_fn");
  autograd::NodeHandle node;
  {
    interp::Runtime::Entry entered(I, "grad_fn");
    node = x.grad_fn();
  }
  return I.grad_fn_object(node);
}

namespace {
// An operation's output.  Recording the graph touches the inputs' autograd meta: under
// the GIL, as every Python-level operation runs.
template <class Op>
Ref op_output(Interpreter& I, const char* what, Op&& op) {
  Tensor out;
  {
    interp::Runtime::Entry entered(I, what);
    out = op();
  }
  return I.wrap(out);
}
}  // namespace

Ref clone(Interpreter& I, const Ref& t) {
  Tensor x = defined_self(I, t, "clone");
  return op_output(I, "clone", [&] { return autograd::clone(x); });
}

Ref pow(Interpreter& I, const Ref& t, double exponent) {
  Tensor x = defined_self(I, t, "pow");
  return op_output(I, "pow", [&] { return autograd::pow(x, exponent); });
}

Ref sigmoid(Interpreter& I, const Ref& t) {
  Tensor x = defined_self(I, t, "sigmoid");
  return op_output(I, "sigmoid", [&] { return autograd::sigmoid(x); });
}

Ref mul(Interpreter& I, const Ref& a, const Ref& b) {
  Tensor x = defined_self(I, a, "mul");
  Tensor y = I.unpack_as<Tensor>(b, "mul");
  if (!y.defined()) undefined_self();
  return op_output(I, "mul", [&] { return autograd::mul(x, y); });
}

std::string node_name(Interpreter& I, const Ref& g) {
  autograd::NodeHandle node = I.unpack_node(g, "name");
  return std::string(node->name());
}

Ref saved_self(Interpreter& I, const Ref& g) {
  autograd::NodeHandle node = I.unpack_node(g, "_saved_self");
  Tensor saved;
  {
    interp::Runtime::Entry entered(I, "_saved_self");
    if (!node->saved_self().defined()) no_attribute(g, "_saved_self");
    saved = node->saved_self().unpack(node);
  }
  return I.wrap(saved);
}

Ref saved_result(Interpreter& I, const Ref& g) {
  autograd::NodeHandle node = I.unpack_node(g, "_saved_result");
  Tensor saved;
  {
    interp::Runtime::Entry entered(I, "_saved_result");
    if (!node->saved_result().defined()) no_attribute(g, "_saved_result");
    saved = node->saved_result().unpack(node);  // a new tensor each time
  }
  return I.wrap(saved);
}

std::vector<Ref> next_functions(Interpreter& I, const Ref& g) {
  autograd::NodeHandle node = I.unpack_node(g, "next_functions");
  std::vector<Ref> out;
  for (const autograd::NodeHandle& edge : node->next_edges()) out.push_back(I.grad_fn_object(edge));
  return out;
}

Ref accumulated_variable(Interpreter& I, const Ref& g) {
  autograd::NodeHandle node = I.unpack_node(g, "variable");
  if (node->kind() != autograd::Node::Kind::AccumulateGrad) no_attribute(g, "variable");
  return I.wrap(node->variable());
}

namespace {
// A tensor's hooks, in both places: the wrapper's field and the same object held by the
// tensor in C++.  `none_clears_cpp`: whether None also lets go of C++'s copy.
template <Ref TensorObject::*Field, std::optional<impl::SafePyObject> autograd::AutogradMeta::*Cpp>
void set_hooks(Interpreter& I, const Ref& t, const Ref& hooks, const char* what, bool none_clears_cpp) {
  Tensor x = I.unpack_as<Tensor>(t, what);  // the type check: a tensor wrapper
  auto* self = static_cast<TensorObject*>(t.get());
  I.check_storable(hooks);
  Ref old;                                    // both dropped after the swap, with the
  std::optional<impl::SafePyObject> old_cpp;  // object consistent
  interp::Runtime::Entry entered(I, what);
  old = replace(self->*Field, hooks);  // See Note [Move out, then drop]
  if (!x.defined() || (!hooks && !none_clears_cpp)) return;
  std::optional<impl::SafePyObject>& cpp = x.unsafeGetTensorImpl()->materialize_autograd_meta().*Cpp;
  old_cpp = std::move(cpp);
  cpp.reset();
  if (hooks) {
    I.incref(hooks.get());
    cpp.emplace(hooks.get(), I.pyinterpreter());
  }
}

template <Ref TensorObject::*Field>
Ref get_hooks(Interpreter& I, const Ref& t, const char* what) {
  (void)I.unpack_as<Tensor>(t, what);  // the type check
  interp::Runtime::Entry entered(I, what);
  return static_cast<TensorObject*>(t.get())->*Field;
}
}  // namespace

// THPVariable_set_backwards_hooks: the field, and the same object held by C++ as the
// tensor's one Python pre-hook (clear_hooks, then add_hook(PyFunctionTensorPreHook)).
void set_backward_hooks(Interpreter& I, const Ref& t, const Ref& hooks) {
  set_hooks<&TensorObject::backward_hooks, &autograd::AutogradMeta::backward_hooks>(I, t, hooks, "_backward_hooks",
                                                                                    /*none_clears_cpp=*/true);
}

Ref backward_hooks(Interpreter& I, const Ref& t) {
  return get_hooks<&TensorObject::backward_hooks>(I, t, "_backward_hooks");
}

// THPVariable_set_post_accumulate_grad_hooks: the field, and C++'s copy
// (set_post_acc_grad_hooks).  As in PyTorch, None clears the field only: C++ keeps the
// hooks it had.
void set_post_accumulate_grad_hooks(Interpreter& I, const Ref& t, const Ref& hooks) {
  set_hooks<&TensorObject::post_accumulate_grad_hooks, &autograd::AutogradMeta::post_accumulate_grad_hooks>(
      I, t, hooks, "_post_accumulate_grad_hooks", /*none_clears_cpp=*/false);
}

Ref post_accumulate_grad_hooks(Interpreter& I, const Ref& t) {
  return get_hooks<&TensorObject::post_accumulate_grad_hooks>(I, t, "_post_accumulate_grad_hooks");
}

}  // namespace revive::binding
