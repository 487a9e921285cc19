// Torch's state in one interpreter (the types, the PyInterpreter and its vtable) and
// the Python-level API on top of the protocol in python_variable.h: the checks and
// conversions a `torch.*` call makes before it reaches wrap or unpack.
#include "revive/pyslot/exercise.h"
#include "revive/binding/python_variable.h"
#include "revive/binding/tensor_methods.h"
#include "revive/pyslot/python_op_registration_trampoline.h"

namespace revive::binding {

using interp::GilGuard;
using interp::PythonError;
using impl::PyInterpreterStatus;

// ---- loading torch into an interpreter -------------------------------------------------

// What C++ reaches through a slot's tag while this interpreter is alive
// (torch/csrc/PyInterpreter.cpp).
class Torch::VTable final : public impl::PyInterpreterVTable {
 public:
  explicit VTable(Torch* owner) : owner_(owner) {}
  std::string name() const override { return owner_->rt_.name(); }
  void decref(PyObject* pyobj, bool has_pyobj_slot) const override {
    owner_->decref_from_cpp(pyobj, has_pyobj_slot);
  }
  void incref(PyObject* pyobj) const override { owner_->incref_from_cpp(pyobj); }
  bool try_incref(const impl::PyObjectSlot& slot) const override { return owner_->try_incref_from_cpp(slot); }
  std::string type_name(const PyObject* pyobj) const override { return pyobj->ob_type->name; }
  void python_op_registration_trampoline(const OperatorHandle& op, Stack* stack) const override {
    owner_->run_python_op(op, stack, /*hermetic=*/false);
  }

 private:
  Torch* owner_;  // outlives every slot tagged with it: See Note [Reclaiming a dead interpreter]
};

Torch::Torch(interp::Runtime& runtime, GcBugs bugs, Era era, GradFnObjects grad_fn_objects)
    : rt_(runtime),
      vtable_(std::make_unique<VTable>(this)),
      pyinterpreter_(vtable_.get()),
      // test machinery (exercise.h): two exercises switch the era's collector bugs on.
      bugs_(GcBugs{bugs.issue_75932 || exercise::off(exercise::Rule::ClearAsks),
                   bugs.issue_136358 || exercise::off(exercise::Rule::SubclassSlots)}),
      era_(era),
      grad_fn_objects_(grad_fn_objects) {
  // The types, as torch's module init makes them; the metaclass hook gives every later
  // subclass the wrapper's own slots too.
  tensor_type_ = add_preserved_type<Tensor>();
  storage_type_ = add_preserved_type<Storage>();
  // A grad_fn's Python classes: Note [Two ways to give a grad_fn a Python object].
  if (grad_fn_objects_ == GradFnObjects::Preserved) {
    grad_fn_base_ = add_preserved_type<autograd::NodeHandle>();
  } else {
    // THPCppFunction: a native struct owning its node, not preserved, not a wrapper
    // (no WrapperOps).
    PyType& base = rt_.add_native_type("CppFunction", rt_.object_type(), nullptr, /*has_dict=*/true);
    auto install = [](PyType& type) {
      type.dealloc = &Torch::cpp_function_dealloc;
      type.traverse = &interp::Runtime::subtype_traverse;
      type.clear = &Torch::cpp_function_clear;
      type.free = &interp::free_as<CppFunctionObject>;
    };
    install(base);
    base.on_subclass = install;
    grad_fn_base_ = &base;
  }
  // Loading torch registers with the trampoline, once: the first interpreter is main.
  is_main_ = impl::PythonOpRegistrationTrampoline::registerInterpreter(&pyinterpreter_);
  // Unloading torch disarms its PyInterpreter.  See Note [Disarming a dead interpreter].
  rt_.at_teardown([this] {
    forget_cached_grad_fns();
    pyinterpreter_.disarm();
  });
  // And once the dead interpreter cannot be reached, it is freed: See Note [Reclaiming
  // a dead interpreter].
  interp::Runtime::ReclaimHooks hooks;
  hooks.visit_fields = [](PyObject* o, interp::VisitProc visit, void* arg) {
    if (const WrapperOps* ops = wrapper_ops(o)) ops->visit_fields(o, visit, arg);
  };
  // `abandoned` holds the objects of the whole group judged with this interpreter: its
  // tags may be reached through another dead interpreter's wrappers.
  hooks.accounted = [this](const std::vector<PyObject*>& abandoned) -> std::optional<std::int64_t> {
    // The trampoline holds the main interpreter, the dispatcher this one's operators.
    if (is_main_ || !python_ops_.empty()) return std::nullopt;
    const std::int64_t unseen = pyinterpreter_.unseen_releases();
    if (pyinterpreter_.tagged_count() == 0 && pyinterpreter_.safe_objects() == 0) return unseen;
    // One reading of the group's objects per round, shared by every member asked (see
    // ReclaimHooks::accounted): asked under the graveyard's mutex, so one cache will do.
    static std::uint64_t cached_round = 0;
    static CxxReach* cached = nullptr;
    CxxReach fresh;
    CxxReach* reach = &fresh;
    const bool in_round = !abandoned.empty();
    if (in_round && cached != nullptr && cached_round == interp::Runtime::reclaim_round()) {
      reach = cached;
    } else {
      reach->reserve(2 * abandoned.size());
      for (const PyObject* o : abandoned) {
        if (const WrapperOps* ops = wrapper_ops(o)) {
          ops->reach(o, *reach);
        } else if (const CppFunctionObject* f = as_cpp_function(o)) {  // a cached grad_fn: its node
          if (f->cdata.defined()) reach->add(f->cdata.get());
        }
      }
      reach->finish();
      if (in_round) {
        if (cached == nullptr) cached = new CxxReach();  // never freed: reused by every sweep
        *cached = std::move(fresh);
        cached_round = interp::Runtime::reclaim_round();
        reach = cached;
      }
    }
    if (!reach->only_internal(&pyinterpreter_)) return std::nullopt;
    return unseen + reach->owned_wrappers(&pyinterpreter_) + reach->safe_held(&pyinterpreter_);
  };
  hooks.release = [this](PyObject* o) {
    if (const WrapperOps* ops = wrapper_ops(o)) {
      ops->release(o, &pyinterpreter_);
    } else if (CppFunctionObject* f = as_cpp_function(o)) {
      f->cdata.reset();  // its node (which forgot it at teardown)
    }
  };
  rt_.at_reclaim(std::move(hooks));
}

Torch::~Torch() = default;

// Binding objects exist only in interpreters made by Interpreter::create, so the
// runtime an object belongs to is always an Interpreter, and so a Torch.
Torch& Torch::of(const PyObject* o) noexcept { return static_cast<Interpreter&>(*o->interp); }

void testing::set_resurrection_hook(Torch& torch, std::function<void()> hook) {
  GilGuard gil(torch.rt_.gil());
  torch.resurrection_hook_ = std::move(hook);
}

Interpreter::Interpreter(std::string name, GcBugs bugs, Era era, GradFnObjects grad_fn)
    : Runtime(std::move(name)), Torch(static_cast<Runtime&>(*this), bugs, era, grad_fn), view_(*this) {}

Interpreter::Owner Interpreter::create(std::string name, GcBugs bugs, Era era, GradFnObjects grad_fn) {
  return Owner(new Interpreter(std::move(name), bugs, era, grad_fn));
}

Interpreter& Interpreter::of(interp::Runtime& runtime) {
  auto* interp = dynamic_cast<Interpreter*>(&runtime);
  REVIVE_CHECK(interp != nullptr, "interpreter ", runtime.name(), " has no torch loaded");
  return *interp;
}

// ---- Python-level tensor API -------------------------------------------------------------


Ref Torch::empty(std::int64_t numel, const PyType* cls) {
  Tensor t = Tensor::empty(numel);
  return cls == nullptr || cls == tensor_type_ ? wrap(t) : make_subclass(cls, t);
}

Ref Torch::make_subclass(const PyType* cls, const Tensor& t) {
  REVIVE_CHECK(cls != nullptr, "make_subclass() needs a class");
  {
    interp::Runtime::Entry entered(rt_, "make_subclass");
    rt_.check_type_home(cls, "make_subclass");
  }
  if (!t.defined()) undefined_self();
  return new_with_var(cls, t);
}

Ref Torch::new_storage(std::size_t nbytes, const PyType* cls) {
  interp::Runtime::Entry entered(rt_, "new_storage");
  if (cls != nullptr) rt_.check_type_home(cls, "new_storage");
  rt_.gc_safe_point();
  Storage s = Storage::create(nbytes);
  return new_wrapper(cls != nullptr ? cls : storage_type_, s,
                     PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
}

void Torch::fix_weakref(const Ref& o) {
  interp::Runtime::Entry entered(rt_, "_fix_weakref");
  rt_.check_usable(o, "_fix_weakref");
  const WrapperOps* ops = wrapper_ops(o.get());
  if (ops == nullptr) {
    throw PythonError("AttributeError", detail::str_cat("'", o->ob_type->name,
                                                        "' object has no attribute '_fix_weakref'"));
  }
  ops->fix_weakref(*this, o);  // wrap, then drop: See Note [The weakref hole]
}

}  // namespace revive::binding
