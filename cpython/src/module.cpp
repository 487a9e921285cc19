// `revive._C`, the extension module of the `revive` package on the real CPython 3.11
// (as torch._C is torch's): the C base types TensorBase and StorageBase, the Python
// classes over them (Tensor, UntypedStorage, which the package re-exports), empty(),
// tensor(s), hermetic(), inspect(), ...  cpython/python/revive/__init__.py is the
// package.  Multi-phase initialisation (PEP 489), so each interpreter that imports it
// gets its own types and its own PyInterpreter tag.
//
//   >>> import revive
//   >>> t = revive.empty(2); t.foo = "kept"; holder = revive.empty(1)
//   >>> holder.grad = t; i = id(t); del t       # C++ now owns the wrapper (Z)
//   >>> holder.grad.foo, id(holder.grad) == i    # ('kept', True): resurrected, same object
#include "revive/cpython/module.h"
#include "revive/cpython/python_variable.h"

#include "revive/pyslot/exercise.h"
#include "revive/pyslot/hermetic_tls.h"
#include "revive/tensor/death_watch.h"

#include <structmember.h>

#include <cstddef>
#include <cstdlib>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <exception>
#include <map>
#include <memory>
#include <type_traits>
#include <utility>
#include <string>
#include <string_view>
#include <thread>
#include <variant>

namespace revive::cpython {

namespace {

struct ModuleState {
  Torch* torch;  // never freed: tags may outlive the interpreter (Torch::disarm)
};

PyModuleDef& module_def();

Torch& torch_of(PyObject* module) { return *static_cast<ModuleState*>(PyModule_GetState(module))->torch; }

// A CPython object as pyslot/ stores it: See Note [Real CPython under the same slot].
revive::PyObject* opaque_object(PyObject* o) noexcept { return reinterpret_cast<revive::PyObject*>(o); }

// Runs `f`, turning any C++ exception into a Python RuntimeError (none may cross the
// C API): `failed` is what the entry point returns then (null, or -1 for a setter).
template <class F, class R = std::invoke_result_t<F>>
R guarded(F&& f, R failed = R()) {
  try {
    return f();
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  } catch (...) {
    PyErr_SetString(PyExc_RuntimeError, "unknown C++ exception");
  }
  return failed;
}

// Note [No C++ exception crosses the C API]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// CPython calls the module through C function pointers; a C++ exception that reached
// CPython's frames would unwind through C code and end the process (std::terminate).
// So every function CPython can call (the method tables, tp_new, getters and setters)
// is registered as Entry<&f>::call, which catches anything `f` lets escape and raises
// it in Python as RuntimeError (PyTorch's HANDLE_TH_ERRORS does the same with more
// kinds).  The slots CPython calls during deallocation and collection (dealloc,
// traverse, clear) are noexcept instead: nothing in them may fail.  One rule, checked
// by test_hostile_arguments.py, which calls every function and method with hostile
// arguments.
// See Note [No C++ exception crosses the C API].
template <auto F>
struct Entry;
template <class R, class... A, R (*F)(A...)>
struct Entry<F> {
  static R call(A... a) noexcept {
    if constexpr (std::is_pointer_v<R>) return guarded([&] { return F(a...); }, R(nullptr));
    else return guarded([&] { return F(a...); }, R(-1));
  }
};

// A wrapper's C++ object for the length of one call, read through the wrapper's own
// handle as PyTorch's THPVariable_Unpack does (it returns a reference to cdata): no count
// changes, which in E4 matters twice over, since a copy of a tensor only Python holds
// takes its count 1 -> 2 -> 1 and so increfs and decrefs the wrapper through the
// interpreter's hooks on every method call.  An owned cdata cannot change while the
// caller holds the wrapper (only a dealloc, a zombie's flip, T6 or the collector's clear
// write it, and none of them runs on a wrapper someone references and that owns its
// object).  A borrowed one can: it is E2's zombie reached through a weakref (the hole),
// and any Python code the call runs may make C++ let go of the object, so the call holds
// its own reference then.
template <class H>
class Unpacked {
 public:
  Unpacked() = default;
  Unpacked(const Unpacked&) = delete;
  Unpacked& operator=(const Unpacked&) = delete;

  void read(const MaybeOwned<H>& cdata) {
    if (cdata.unsafeIsBorrowed()) {
      kept_ = cdata.to_owned();  // throws if the object is already being destroyed
      handle_ = &kept_;
    } else {
      handle_ = &cdata.owned_ref();
    }
  }
  [[nodiscard]] const H& operator*() const noexcept { return *handle_; }
  [[nodiscard]] const H* operator->() const noexcept { return handle_; }

 private:
  H kept_;  // only for a borrowed cdata
  const H* handle_ = &kept_;
};

// A wrapper's C++ object, or false with RuntimeError for a stubbed wrapper (or one whose
// C++ object is dying: a finalizer during T6): PyTorch's text for a method's undefined
// `self` or a null storage (the same words as binding/'s, tensor/wrapper_texts.h), or,
// for the module's own entry points, one naming `what`.
template <class H>
bool unpack_defined(Torch& torch, PyObject* self, Unpacked<H>& out, const char* what) {
  (void)torch;  // the wrapper's type was checked by the caller
  if (!guarded([&] {
        out.read(reinterpret_cast<WrapperObject<H>*>(self)->cdata);
        return true;
      }, false)) {
    return false;
  }
  if (out->defined()) return true;
  if constexpr (std::is_same_v<H, Storage>) PyErr_SetString(PyExc_RuntimeError, texts::kNullStorage);
  else if (what == nullptr) PyErr_SetString(PyExc_RuntimeError, texts::kUndefinedSelf);
  else PyErr_Format(PyExc_RuntimeError, "%s(): the %s is undefined (Note [The weakref hole])", what, Kind<H>::python_name);
  return false;
}

// ---- Tensor ---------------------------------------------------------------------------

// Tensor.__new__(cls, data=1): a fresh C++ tensor of `data` elements, or (data a
// Tensor, as in `MyTensor(torch.empty(2))`) a new C++ tensor viewing data's storage;
// wrapped by an instance of cls.
PyObject* tensor_new(PyTypeObject* cls, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"data", nullptr};
  PyObject* data = nullptr;
  if (PyArg_ParseTupleAndKeywords(args, kwargs, "|O:Tensor", const_cast<char**>(keywords), &data) == 0) {
    return nullptr;
  }
  Torch& torch = Torch::of(cls);
  if (cls == torch.base_type<Tensor>()) {
    PyErr_SetString(PyExc_RuntimeError, "Cannot directly construct TensorBase; subclass it and then construct that");
    return nullptr;
  }
  return guarded([&]() -> PyObject* {
    Tensor t;
    if (data == nullptr) {
      t = Tensor::empty(1);
    } else if (torch.is_wrapper<Tensor>(data)) {
      Unpacked<Tensor> source;
      if (!unpack_defined(torch, data, source, "Tensor")) return nullptr;
      t = Tensor::from_storage(source->storage(), 1);
    } else if (torch.is_wrapper<Storage>(data)) {
      // torch.Tensor(storage): a tensor viewing the storage's bytes, as revive.tensor(s).
      Unpacked<Storage> storage;
      if (!unpack_defined(torch, data, storage, "Tensor")) return nullptr;
      t = Tensor::from_storage(*storage, static_cast<std::int64_t>(storage->nbytes() / sizeof(float)));
    } else if (!PyLong_Check(data)) {
      PyErr_Format(PyExc_TypeError, "Tensor(): expected an int, a Tensor or an UntypedStorage, got %s",
                   Py_TYPE(data)->tp_name);
      return nullptr;
    } else {
      const Py_ssize_t numel = PyLong_AsSsize_t(data);
      if (numel == -1 && PyErr_Occurred() != nullptr) return nullptr;
      t = Tensor::empty(numel);
    }
    return torch.new_wrapper(cls, std::move(t), impl::PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  });
}

// t.grad: held in C++ (TensorImpl::grad), so assigning a tensor here makes C++ co-own it.
PyObject* get_grad(PyObject* self, void*) {
  Torch& torch = Torch::of_wrapper<Tensor>(self);
  Unpacked<Tensor> t;
  if (!unpack_defined(torch, self, t, nullptr)) return nullptr;
  return guarded([&] { return torch.wrap(t->grad()); });
}

int set_grad(PyObject* self, PyObject* value, void*) {
  Torch& torch = Torch::of_wrapper<Tensor>(self);
  Unpacked<Tensor> t;
  if (!unpack_defined(torch, self, t, nullptr)) return -1;
  if (value != nullptr && value != Py_None && !torch.is_wrapper<Tensor>(value)) {
    // THPVariable_set_grad's TORCH_CHECK_TYPE, as binding/'s set_grad says it.
    PyErr_Format(PyExc_TypeError, "assigned grad expected to be a Tensor or None but got grad of %s",
                 Py_TYPE(value)->tp_name);
    return -1;
  }
  Unpacked<Tensor> g;  // undefined for None
  // A stubbed wrapper (the weakref hole) has no tensor to give: PyTorch's setter fails
  // on it too (its checks read the undefined grad), never sets None in its place.
  if (value != nullptr && value != Py_None && !unpack_defined(torch, value, g, "grad")) return -1;
  // set_grad refuses a tensor as its own grad; the old grad's release may run Python.
  t->set_grad(*g);
  return 0;
}

// t._fix_weakref() / s._fix_weakref(): wrap, then drop.  See Note [The weakref hole].
template <class H>
PyObject* fix_weakref(PyObject* self, PyObject*) {
  Torch& torch = Torch::of_wrapper<H>(self);
  return guarded([&]() -> PyObject* {
    H handle = torch.unpack<H>(self);
    if (exercise::off(exercise::Rule::FixWeakref)) Py_RETURN_NONE;  // test machinery (exercise.h)
    PyObject* again = torch.wrap(handle);
    if (again == nullptr) return nullptr;
    Py_DECREF(again);
    Py_RETURN_NONE;
  });
}

// t.as_subclass(cls): a new tensor sharing t's storage (an alias), wrapped by a new
// instance of cls (THPVariable_as_subclass: THPVariable_NewWithVar(cls, self.alias())).
// cls must derive from Tensor: PyTorch raises RuntimeError for it in E2 and TypeError
// since #167564 (TORCH_CHECK_TYPE), so the era in force chooses.
PyObject* as_subclass(PyObject* self, PyObject* cls) {
  Torch& torch = Torch::of_wrapper<Tensor>(self);
  if (!PyType_Check(cls)) {  // the argument parser's check, in both eras
    PyErr_Format(PyExc_TypeError, "cls must be a type (got %s)", Py_TYPE(cls)->tp_name);
    return nullptr;
  }
  if (!PyType_IsSubtype(reinterpret_cast<PyTypeObject*>(cls), torch.base_type<Tensor>())) {
    PyErr_SetString(torch.e4 ? PyExc_TypeError : PyExc_RuntimeError,
                    "Creating a Tensor subclass from a class that does not inherit from Tensor is not possible. "
                    "Make sure your class inherits from Tensor.");
    return nullptr;
  }
  Unpacked<Tensor> t;
  if (!unpack_defined(torch, self, t, nullptr)) return nullptr;
  return guarded([&] {
    return torch.new_wrapper(reinterpret_cast<PyTypeObject*>(cls), Tensor::from_storage(t->storage(), t->numel()),
                             impl::PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  });
}

// t.numel(): the number of elements.  It reads the tensor and nothing else, so it is what
// a method call costs the binding itself (bench/versus_pybind11.py subtracts it to find
// what the design adds).
PyObject* numel(PyObject* self, PyObject*) {
  Torch& torch = Torch::of_wrapper<Tensor>(self);
  Unpacked<Tensor> t;
  if (!unpack_defined(torch, self, t, nullptr)) return nullptr;
  return PyLong_FromLongLong(t->numel());
}

// t.untyped_storage(): the tensor's storage, wrapped (preserved like the tensor).
PyObject* untyped_storage(PyObject* self, PyObject*) {
  Torch& torch = Torch::of_wrapper<Tensor>(self);
  Unpacked<Tensor> t;
  if (!unpack_defined(torch, self, t, nullptr)) return nullptr;
  return guarded([&] { return torch.wrap(t->storage()); });
}

// ---- autograd (tensor/autograd.h): the Python face ----------------------------------------

// t.requires_grad: a leaf's flag, or true for an operation's output (it has a grad_fn).
PyObject* get_requires_grad(PyObject* self, void*) {
  Unpacked<Tensor> t;
  if (!unpack_defined(Torch::of_wrapper<Tensor>(self), self, t, nullptr)) return nullptr;
  return PyBool_FromLong(t->requires_grad() ? 1 : 0);
}

// THPVariable_set_requires_grad: a bool, on a leaf (a non-leaf may only be told True).
int set_requires_grad(PyObject* self, PyObject* value, void*) {
  if (value == nullptr || !PyBool_Check(value)) {
    PyErr_SetString(PyExc_TypeError, "requires_grad must be a bool");
    return -1;
  }
  Unpacked<Tensor> t;
  if (!unpack_defined(Torch::of_wrapper<Tensor>(self), self, t, nullptr)) return -1;
  t->set_requires_grad(value == Py_True);
  return 0;
}

PyObject* get_is_leaf(PyObject* self, void*) {
  Unpacked<Tensor> t;
  if (!unpack_defined(Torch::of_wrapper<Tensor>(self), self, t, nullptr)) return nullptr;
  return PyBool_FromLong(t->is_leaf() ? 1 : 0);
}

// t.grad_fn: the node that made t, as a Python object (Note [Two ways to give a grad_fn
// a Python object], binding/torch.h), or None for a leaf.
PyObject* get_grad_fn(PyObject* self, void*) {
  Torch& torch = Torch::of_wrapper<Tensor>(self);
  Unpacked<Tensor> t;
  if (!unpack_defined(torch, self, t, nullptr)) return nullptr;
  return torch.grad_fn_object(t->grad_fn());
}

// t._backward_hooks and t._post_accumulate_grad_hooks: the wrapper's field, and the same
// object held by the tensor in C++ (THPVariable_set_backwards_hooks: clear_hooks, then
// one PyFunctionTensorPreHook; THPVariable_set_post_accumulate_grad_hooks, which leaves
// C++'s copy alone when given None).
template <PyObject* WrapperObject<Tensor>::*Field>
PyObject* get_hooks(PyObject* self, void*) {
  PyObject* hooks = reinterpret_cast<WrapperObject<Tensor>*>(self)->*Field;
  if (hooks == nullptr) Py_RETURN_NONE;
  Py_INCREF(hooks);
  return hooks;
}

template <PyObject* WrapperObject<Tensor>::*Field>
int set_hooks(PyObject* self, PyObject* value, void*) {
  constexpr bool backward = Field == &WrapperObject<Tensor>::backward_hooks;
  if (value == nullptr) {
    PyErr_SetString(PyExc_RuntimeError, backward ? texts::kDeleteBackwardHooks : texts::kDeletePostAccumulateGradHooks);
    return -1;
  }
  Torch& torch = Torch::of_wrapper<Tensor>(self);
  PyObject* hooks = value == Py_None ? nullptr : value;
  auto* w = reinterpret_cast<WrapperObject<Tensor>*>(self);
  Py_XINCREF(hooks);
  PyObject* old = std::exchange(w->*Field, hooks);
  std::optional<impl::SafePyObject> old_cpp;  // released last, with the wrapper consistent
  if (w->cdata.defined() && (backward || hooks != nullptr)) {
    autograd::AutogradMeta& meta = w->cdata.get()->materialize_autograd_meta();
    std::optional<impl::SafePyObject>& cpp = backward ? meta.backward_hooks : meta.post_accumulate_grad_hooks;
    old_cpp = std::move(cpp);
    cpp.reset();
    if (hooks != nullptr) {
      Py_INCREF(hooks);
      cpp.emplace(opaque_object(hooks), torch.pyinterpreter());
    }
  }
  Py_XDECREF(old);
  return 0;
}

// The operations: each output of an operation on a tensor that requires grad gets a
// node saving what PyTorch's formula saves (tensor/autograd.h).
template <class Op>
PyObject* op_output(PyObject* self, Op&& op) {
  Torch& torch = Torch::of_wrapper<Tensor>(self);
  Unpacked<Tensor> t;
  if (!unpack_defined(torch, self, t, nullptr)) return nullptr;
  return guarded([&] { return torch.wrap(op(*t)); });
}

PyObject* tensor_clone(PyObject* self, PyObject*) {
  return op_output(self, [](const Tensor& t) { return autograd::clone(t); });
}

PyObject* sigmoid(PyObject* self, PyObject*) {
  return op_output(self, [](const Tensor& t) { return autograd::sigmoid(t); });
}

PyObject* tensor_pow(PyObject* self, PyObject* exponent) {
  const double e = PyFloat_AsDouble(exponent);
  if (e == -1.0 && PyErr_Occurred() != nullptr) return nullptr;
  return op_output(self, [e](const Tensor& t) { return autograd::pow(t, e); });
}

PyObject* tensor_mul(PyObject* self, PyObject* other) {
  Torch& torch = Torch::of_wrapper<Tensor>(self);
  if (!torch.is_wrapper<Tensor>(other)) {
    PyErr_Format(PyExc_TypeError, "mul(): argument 'other' must be Tensor, not %s", Py_TYPE(other)->tp_name);
    return nullptr;
  }
  Unpacked<Tensor> o;
  if (!unpack_defined(torch, other, o, "mul")) return nullptr;
  return op_output(self, [&](const Tensor& t) { return autograd::mul(t, *o); });
}

// t ** e and a * b (nb_power, nb_multiply): the methods; for operands they do not take
// they decline (Py_RETURN_NOTIMPLEMENTED), so that Python tries the other operand.
// Either operand may be the tensor whose slot Python called.
Torch* torch_of_either(PyObject* a, PyObject* b) {
  for (PyObject* o : {a, b}) {
    if (PyObject* module = PyType_GetModuleByDef(Py_TYPE(o), &module_def())) return &torch_of(module);
    PyErr_Clear();
  }
  return nullptr;
}

PyObject* tensor_power_slot(PyObject* base, PyObject* exponent, PyObject* modulo) {
  Torch* torch = torch_of_either(base, exponent);
  if (torch == nullptr || modulo != Py_None || !torch->is_wrapper<Tensor>(base) ||
      !(PyLong_Check(exponent) || PyFloat_Check(exponent))) {
    Py_RETURN_NOTIMPLEMENTED;
  }
  return tensor_pow(base, exponent);
}

PyObject* tensor_multiply_slot(PyObject* a, PyObject* b) {
  Torch* torch = torch_of_either(a, b);
  if (torch == nullptr || !torch->is_wrapper<Tensor>(a) || !torch->is_wrapper<Tensor>(b)) Py_RETURN_NOTIMPLEMENTED;
  return tensor_mul(a, b);
}

// Every Python subclass gets the wrapper's own dealloc, traverse and clear, before any
// instance exists (PyTorch's metaclass does the same in its __init__).  A tensor class
// must derive from revive.Tensor, not from the C base alone (THPVariableMetaType_init's
// check); the first class over TensorBase is revive.Tensor itself.  A storage class may
// derive from StorageBase directly, as in PyTorch.
template <class H>
PyObject* init_subclass(PyObject* cls, PyObject* args, PyObject* kwargs) {
  // As object.__init_subclass__, the end of every cooperative chain: class keywords
  // nobody consumed are a mistake, not something to drop.
  auto* type = reinterpret_cast<PyTypeObject*>(cls);
  if ((kwargs != nullptr && PyDict_Size(kwargs) != 0) || PyTuple_GET_SIZE(args) != 0) {
    PyErr_Format(PyExc_TypeError, "%s.__init_subclass__() takes no keyword arguments", type->tp_name);
    return nullptr;
  }
  if constexpr (std::is_same_v<H, Tensor>) {
    PyTypeObject* tensor_class = Torch::of(type).python_type<Tensor>();
    if (tensor_class != nullptr && !PyType_IsSubtype(type, tensor_class)) {
      PyErr_SetString(PyExc_RuntimeError, kCannotSubclassTensorBase);
      return nullptr;
    }
  }
  Torch::install_slots<H>(type);
  Py_RETURN_NONE;
}

template <class H>
PyMemberDef wrapper_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(WrapperObject<H>, weakreflist), READONLY, nullptr},
    {nullptr, 0, 0, 0, nullptr}};

template <class H>
PyCFunction init_subclass_function() {
  return reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&Entry<&init_subclass<H>>::call));
}

constexpr const char* kFixWeakrefDoc =
    "_fix_weakref($self, /)\n--\n\n"
    "Wraps the object again, then drops that reference: call it right after a weakref handed you this "
    "wrapper. In era E2 a zombie revived through a weakref stays a zombie (the weakref hole: r >= 2, the slot "
    "still owns it), and if C++ then lets go the wrapper is stubbed; the wrap flips it back to L (n += 1, "
    "cdata owned). In era E4 there is no hole and nothing changes.";

PyGetSetDef tensor_getset[] = {
    {"grad", &Entry<&get_grad>::call, &Entry<&set_grad>::call,
     "The gradient: a tensor the C++ tensor holds (TensorImpl::grad), or None.\n\n"
     "Reading it wraps that tensor here (its recorded wrapper, the same object every time). "
     "Assigning a tensor makes C++ co-own it (its n += 1), so dropping your last reference keeps it: "
     "in era E2 its wrapper is resurrected (state Z) and comes back with its attributes at the next read; "
     "in era E4 C++ keeps the wrapper alive while it shares the tensor. Assigning None lets go (n -= 1).",
     nullptr},
    {"requires_grad", &Entry<&get_requires_grad>::call, &Entry<&set_requires_grad>::call,
     "Whether operations on this tensor record a graph: a leaf's flag (assign a bool), True for an operation's "
     "output. An operation on a tensor that requires grad gives its output a grad_fn node, which may save the "
     "tensor (pow, mul): C++ then co-owns it (n += 1), as `y.grad = x` does. Only a leaf may be told False.",
     nullptr},
    {"is_leaf", &Entry<&get_is_leaf>::call, nullptr, "True unless an operation recorded this tensor (no grad_fn).",
     nullptr},
    {"grad_fn", &Entry<&get_grad_fn>::call, nullptr,
     "The node that made this tensor (PowBackward0, ...), or None for a leaf. Its Python object is a cache the "
     "node does not own (REVIVE_GRAD_FN=cache, the default: a new object once Python let go of the last one, "
     "its attributes lost) or preserved like a tensor's (REVIVE_GRAD_FN=preserved: resurrected in era E2, held by "
     "C++ in era E4).",
     nullptr},
    {"_backward_hooks", &Entry<&get_hooks<&WrapperObject<Tensor>::backward_hooks>>::call,
     &Entry<&set_hooks<&WrapperObject<Tensor>::backward_hooks>>::call,
     "The tensor's backward hooks object (any object), or None: held by the wrapper and, again, by the C++ "
     "tensor (its Python pre-hook). The collector sees both while the wrapper is the tensor's only owner (era E4; "
     "era E2: whenever the wrapper owns it), so a cycle through it is freed.",
     nullptr},
    {"_post_accumulate_grad_hooks", &Entry<&get_hooks<&WrapperObject<Tensor>::post_accumulate_grad_hooks>>::call,
     &Entry<&set_hooks<&WrapperObject<Tensor>::post_accumulate_grad_hooks>>::call,
     "The post-accumulate-grad hooks object, or None: held by the wrapper and by the C++ tensor. The collector "
     "sees the wrapper's reference only, as in PyTorch, so a cycle through it leaks. Assigning None clears the "
     "wrapper's field and leaves C++'s copy, as PyTorch does.",
     nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyMethodDef tensor_methods[] = {
    {"_fix_weakref", &Entry<&fix_weakref<Tensor>>::call, METH_NOARGS, kFixWeakrefDoc},
    {"sigmoid", &Entry<&sigmoid>::call, METH_NOARGS,
     "sigmoid($self, /)\n--\n\n"
     "A new tensor (no values are modelled), wrapped: n = 1, state L. If self requires grad, its grad_fn "
     "(SigmoidBackward0) saves the result without its grad_fn, so _saved_result is a new tensor each time. On a "
     "stubbed wrapper (the weakref hole, era E2) it raises RuntimeError."},
    {"clone", &Entry<&tensor_clone>::call, METH_NOARGS,
     "clone($self, /)\n--\n\nA new tensor; if self requires grad, its grad_fn (CloneBackward0) saves nothing."},
    {"pow", &Entry<&tensor_pow>::call, METH_O,
     "pow($self, exponent, /)\n--\n\nA new tensor (also self ** exponent); if self requires grad, its grad_fn "
     "(PowBackward0) saves self: C++ co-owns self's tensor (n += 1) and _saved_self is self."},
    {"mul", &Entry<&tensor_mul>::call, METH_O,
     "mul($self, other, /)\n--\n\nA new tensor (also self * other); if either requires grad, its grad_fn "
     "(MulBackward0) saves both: C++ co-owns both tensors."},
    {"numel", &Entry<&numel>::call, METH_NOARGS,
     "numel($self, /)\n--\n\nThe number of elements. Reads the tensor through the wrapper's own reference "
     "(no count changes, in either era); raises RuntimeError on a stubbed wrapper."},
    {"untyped_storage", &Entry<&untyped_storage>::call, METH_NOARGS,
     "untyped_storage($self, /)\n--\n\n"
     "The tensor's storage, wrapped here: its recorded wrapper if it has one (the same object every time; "
     "in era E2 a zombie's ownership flips back, Z to L), else a new UntypedStorage it records. Storages are "
     "preserved as tensors are."},
    {"as_subclass", &Entry<&as_subclass>::call, METH_O,
     "as_subclass($self, cls, /)\n--\n\n"
     "A new C++ tensor sharing this one's storage (an alias, n = 1), wrapped by a new instance of cls, "
     "which the slot records. cls must be a subclass of Tensor: TypeError if it is not a type; otherwise "
     "RuntimeError in era E2 and TypeError in era E4, as PyTorch raises in each."},
    {"__init_subclass__", init_subclass_function<Tensor>(), METH_VARARGS | METH_KEYWORDS | METH_CLASS, nullptr},
    {nullptr, nullptr, 0, nullptr}};

// The type slots both wrapper types share, around what differs: how a new instance is
// made, its attributes and methods, its docstring, and its len() if it has one (the
// last slot, or the end of the list).
template <class H>
PyType_Spec wrapper_spec(const char* name, newfunc make, PyGetSetDef* getset, PyMethodDef* methods, const char* doc,
                         std::initializer_list<PyType_Slot> more = {}) {
  static PyType_Slot slots[12] = {
      {Py_tp_new, reinterpret_cast<void*>(make)},  // an Entry<>::call
      {Py_tp_dealloc, reinterpret_cast<void*>(&Torch::dealloc<H>)},
      {Py_tp_traverse, reinterpret_cast<void*>(&Torch::traverse<H>)},
      {Py_tp_clear, reinterpret_cast<void*>(&Torch::clear<H>)},
      {Py_tp_members, wrapper_members<H>},
      {Py_tp_getset, getset},
      {Py_tp_methods, methods},
      {Py_tp_doc, const_cast<char*>(doc)}};
  std::size_t at = 8;
  for (const PyType_Slot& slot : more) {
    if (at + 1 < std::size(slots)) slots[at++] = slot;  // the last stays {0, nullptr}
  }
  return PyType_Spec{name, sizeof(WrapperObject<H>), 0, Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
                     slots};
}

PyType_Spec tensor_spec = wrapper_spec<Tensor>(
    "revive._C.TensorBase", &Entry<&tensor_new>::call, tensor_getset, tensor_methods,
    "The C base of revive.Tensor (torch._C.TensorBase): the wrapper's C struct (cdata, the reference to "
    "the C++ tensor) and its dealloc, traverse and clear. Not constructed directly: subclass revive.Tensor.",
    {{Py_nb_power, reinterpret_cast<void*>(&Entry<&tensor_power_slot>::call)},
     {Py_nb_multiply, reinterpret_cast<void*>(&Entry<&tensor_multiply_slot>::call)}});

// ---- a grad_fn's Python object ---------------------------------------------------------
// Note [Two ways to give a grad_fn a Python object] (binding/torch.h): revive._C.CppFunction
// (the cache, THPCppFunction) or revive.Node over revive._C.NodeBase (preserved); one
// subclass per node kind either way.  Both answer the same attributes.

// The node of grad_fn `self` for one call, or false with an exception set.
bool node_of(PyObject* self, autograd::NodeHandle& out) {
  PyTypeObject* type = Py_TYPE(self);
  PyObject* module = PyType_GetModuleByDef(type, &module_def());
  if (module == nullptr) return false;
  Torch& torch = torch_of(module);
  if (!torch.is_grad_fn(self)) {
    PyErr_Format(PyExc_TypeError, "expected a grad_fn but got %s", type->tp_name);
    return false;
  }
  out = torch.unpack_node(self);
  return out.defined();
}

Torch& torch_of_grad_fn(PyObject* self) { return Torch::of(Py_TYPE(self)); }

PyObject* node_name(PyObject* self, PyObject*) {
  autograd::NodeHandle node;
  if (!node_of(self, node)) return nullptr;
  const std::string_view name = node->name();
  return PyUnicode_FromStringAndSize(name.data(), static_cast<Py_ssize_t>(name.size()));
}

[[nodiscard]] PyObject* no_attribute(PyObject* self, const char* name) {
  PyErr_Format(PyExc_AttributeError, "'%s' object has no attribute '%s'", Py_TYPE(self)->tp_name, name);
  return nullptr;
}

// g._saved_self: the input itself (`is`); g._saved_result: a new tensor each time
// (Note [Saving an output without its grad_fn], tensor/autograd.h).
template <const autograd::SavedVariable& (autograd::Node::*Saved)() const noexcept>
PyObject* get_saved(PyObject* self, void* name) {
  autograd::NodeHandle node;
  if (!node_of(self, node)) return nullptr;
  const autograd::SavedVariable& saved = (node.get()->*Saved)();
  if (!saved.defined()) return no_attribute(self, static_cast<const char*>(name));
  return torch_of_grad_fn(self).wrap(saved.unpack(node));
}

// g.next_functions: ((node, 0), ...) for the inputs, (None, 0) where one needs no grad.
PyObject* get_next_functions(PyObject* self, void*) {
  autograd::NodeHandle node;
  if (!node_of(self, node)) return nullptr;
  Torch& torch = torch_of_grad_fn(self);
  const auto& edges = node->next_edges();
  PyObject* out = PyTuple_New(static_cast<Py_ssize_t>(edges.size()));
  if (out == nullptr) return nullptr;
  for (std::size_t i = 0; i < edges.size(); ++i) {
    PyObject* fn = torch.grad_fn_object(edges[i]);
    PyObject* pair = fn == nullptr ? nullptr : Py_BuildValue("(Ni)", fn, 0);
    if (pair == nullptr) {
      Py_DECREF(out);
      return nullptr;
    }
    PyTuple_SET_ITEM(out, static_cast<Py_ssize_t>(i), pair);
  }
  return out;
}

// An AccumulateGrad's leaf (g.variable).
PyObject* get_variable(PyObject* self, void*) {
  autograd::NodeHandle node;
  if (!node_of(self, node)) return nullptr;
  if (node->kind() != autograd::Node::Kind::AccumulateGrad) return no_attribute(self, "variable");
  return torch_of_grad_fn(self).wrap(node->variable());
}

PyGetSetDef node_getset[] = {
    {"_saved_self", &Entry<&get_saved<&autograd::Node::saved_self>>::call, nullptr,
     "The input the node saved (PowBackward0, MulBackward0): that tensor itself, which C++ holds (`is` the "
     "input's wrapper while that lives, preserved like any). AttributeError if the node saves none.",
     const_cast<char*>("_saved_self")},
    {"_saved_other", &Entry<&get_saved<&autograd::Node::saved_other>>::call, nullptr,
     "MulBackward0's second saved input. AttributeError for other nodes.", const_cast<char*>("_saved_other")},
    {"_saved_result", &Entry<&get_saved<&autograd::Node::saved_result>>::call, nullptr,
     "The output the node saved (SigmoidBackward0), saved without its grad_fn so that the graph does not own "
     "itself: a new tensor each time, never `is` the output. AttributeError if the node saves none.",
     const_cast<char*>("_saved_result")},
    {"next_functions", &Entry<&get_next_functions>::call, nullptr,
     "((node, 0), ...): the nodes of the inputs (a leaf's AccumulateGrad, which owns the leaf), None where an "
     "input needs no grad.",
     nullptr},
    {"variable", &Entry<&get_variable>::call, nullptr,
     "AccumulateGrad only: the leaf it accumulates into, which it owns (the leaf holds it weakly).", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyMethodDef node_methods[] = {
    {"name", &Entry<&node_name>::call, METH_NOARGS,
     "name($self, /)\n--\n\nThe node's name: PowBackward0, SigmoidBackward0, ..., AccumulateGrad."},
    {"_fix_weakref", &Entry<&fix_weakref<autograd::NodeHandle>>::call, METH_NOARGS, kFixWeakrefDoc},
    {"__init_subclass__", init_subclass_function<autograd::NodeHandle>(), METH_VARARGS | METH_KEYWORDS | METH_CLASS,
     nullptr},
    {nullptr, nullptr, 0, nullptr}};

// Nodes are made by operations, never by calling a class.
PyObject* node_new(PyTypeObject* cls, PyObject*, PyObject*) {
  PyErr_Format(PyExc_TypeError, "cannot create '%s' instances: grad_fns are made by operations", cls->tp_name);
  return nullptr;
}

PyType_Spec node_spec = wrapper_spec<autograd::NodeHandle>(
    "revive._C.NodeBase", &Entry<&node_new>::call, node_getset, node_methods,
    "The C base of revive.Node, a grad_fn preserved like a tensor (REVIVE_GRAD_FN=preserved): the wrapper's C "
    "struct (cdata, the reference to the C++ node) and its dealloc, traverse and clear.");

PyMemberDef cpp_function_members[] = {
    {"__dictoffset__", T_PYSSIZET, offsetof(CppFunctionObject, dict), READONLY, nullptr},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(CppFunctionObject, weakreflist), READONLY, nullptr},
    {nullptr, 0, 0, 0, nullptr}};

PyMethodDef cpp_function_methods[] = {
    {"name", &Entry<&node_name>::call, METH_NOARGS,
     "name($self, /)\n--\n\nThe node's name: PowBackward0, SigmoidBackward0, ..., AccumulateGrad."},
    {nullptr, nullptr, 0, nullptr}};

PyType_Slot cpp_function_slots[] = {
    {Py_tp_new, reinterpret_cast<void*>(&Entry<&node_new>::call)},
    {Py_tp_dealloc, reinterpret_cast<void*>(&Torch::cpp_function_dealloc)},
    {Py_tp_traverse, reinterpret_cast<void*>(&Torch::cpp_function_traverse)},
    {Py_tp_clear, reinterpret_cast<void*>(&Torch::cpp_function_clear)},
    {Py_tp_members, cpp_function_members},
    {Py_tp_getset, node_getset},
    {Py_tp_methods, cpp_function_methods},
    {Py_tp_doc, const_cast<char*>(
        "A grad_fn's Python object as PyTorch made it until 2026 (THPCppFunction, REVIVE_GRAD_FN=cache): it owns "
        "its node, and the node keeps a pointer to it that it does not own. Python's last reference frees it like "
        "any object; the next t.grad_fn is a new object, without the old one's attributes.")},
    {0, nullptr}};

PyType_Spec cpp_function_spec = {"revive._C.CppFunction", sizeof(CppFunctionObject), 0,
                                 Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC, cpp_function_slots};

// ---- UntypedStorage -------------------------------------------------------------------

// UntypedStorage.__new__(cls, size=0) and UntypedStorage(sequence): a fresh C++ storage
// of `size` bytes, or of len(sequence) bytes (THPStorage_pynew's overloads); wrapped by
// an instance of cls.  A storage is a sequence of its bytes, so UntypedStorage(s) is a
// new storage as long as s, not a second wrapper of s's: PyTorch copies the bytes, and
// revive, which keeps no bytes, only their number.  Every item must be an int.
PyObject* storage_new(PyTypeObject* cls, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"size", nullptr};
  PyObject* arg = nullptr;
  if (PyArg_ParseTupleAndKeywords(args, kwargs, "|O:UntypedStorage", const_cast<char**>(keywords), &arg) == 0) {
    return nullptr;
  }
  Torch& torch = Torch::of(cls);
  if (cls == torch.base_type<Storage>()) {
    PyErr_SetString(PyExc_RuntimeError, "Cannot directly construct StorageBase; subclass it and then construct that");
    return nullptr;
  }
  Py_ssize_t nbytes = 0;
  if (arg == nullptr) {
    nbytes = 0;
  } else if (PyLong_Check(arg)) {
    nbytes = PyLong_AsSsize_t(arg);
    if (nbytes == -1 && PyErr_Occurred() != nullptr) return nullptr;
    if (nbytes < 0) {
      PyErr_SetString(PyExc_ValueError, "UntypedStorage(): the size must not be negative");
      return nullptr;
    }
  } else if (torch.is_wrapper<Storage>(arg)) {
    Unpacked<Storage> source;
    if (!unpack_defined(torch, arg, source, "UntypedStorage")) return nullptr;
    nbytes = static_cast<Py_ssize_t>(source->nbytes());
  } else if (PySequence_Check(arg) != 0) {
    nbytes = PySequence_Size(arg);
    if (nbytes < 0) return nullptr;
    for (Py_ssize_t i = 0; i < nbytes; ++i) {
      PyObject* item = PySequence_GetItem(arg, i);
      if (item == nullptr) return nullptr;
      const bool is_int = PyLong_Check(item);
      if (!is_int) {
        PyErr_Format(PyExc_TypeError,
                     "tried to construct a storage from a sequence (%s), but one of the items was of type %s "
                     "instead of int",
                     Py_TYPE(arg)->tp_name, Py_TYPE(item)->tp_name);
      }
      Py_DECREF(item);
      if (!is_int) return nullptr;
    }
  } else {
    PyErr_Format(PyExc_TypeError, "UntypedStorage(): expected a size (int) or a sequence, got %s",
                 Py_TYPE(arg)->tp_name);
    return nullptr;
  }
  return guarded([&] {
    return torch.new_wrapper(cls, Storage::create(static_cast<std::size_t>(nbytes)),
                             impl::PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  });
}

// len(s): its size in bytes, which makes a storage the sequence THPStorage_pynew copies.
Py_ssize_t storage_length(PyObject* self) {
  Unpacked<Storage> s;
  if (!unpack_defined(Torch::of_wrapper<Storage>(self), self, s, "len")) return -1;
  return static_cast<Py_ssize_t>(s->nbytes());
}

PyObject* storage_nbytes(PyObject* self, PyObject*) {
  Unpacked<Storage> s;
  if (!unpack_defined(Torch::of_wrapper<Storage>(self), self, s, "nbytes")) return nullptr;
  return PyLong_FromSize_t(s->nbytes());
}

PyGetSetDef storage_getset[] = {{nullptr, nullptr, nullptr, nullptr, nullptr}};

PyMethodDef storage_methods[] = {
    {"_fix_weakref", &Entry<&fix_weakref<Storage>>::call, METH_NOARGS, kFixWeakrefDoc},
    {"nbytes", &Entry<&storage_nbytes>::call, METH_NOARGS,
     "nbytes($self, /)\n--\n\nThe storage's size in bytes (len(self)). Changes no count."},
    {"__init_subclass__", init_subclass_function<Storage>(), METH_VARARGS | METH_KEYWORDS | METH_CLASS, nullptr},
    {nullptr, nullptr, 0, nullptr}};

PyType_Spec storage_spec = wrapper_spec<Storage>(
    "revive._C.StorageBase", &Entry<&storage_new>::call, storage_getset, storage_methods,
    "The C base of revive.UntypedStorage (torch._C.StorageBase): the wrapper's C struct (cdata, the "
    "reference to the C++ storage) and its dealloc, traverse and clear. Not constructed directly: subclass "
    "it or revive.UntypedStorage.",
    {{Py_sq_length, reinterpret_cast<void*>(&Entry<&storage_length>::call)}});

// revive.hermetic(): `with revive.hermetic(): ...` wraps without tagging or recording
// (PyTorch: EnableHermeticPyObject).  See Note [Hermetic PyObject mode].  The mode is
// per thread, and on while any context this thread entered is not yet exited: the
// contexts are counted, not nested, so leaving them out of order (a.__exit__ before
// b.__exit__) still ends with the mode as the first __enter__ found it.  A context
// must be left on the thread that entered it; one dropped while still entered says so
// (ResourceWarning) and is left then, if it is dropped on that thread.
struct HermeticObject {
  PyObject_HEAD
  bool entered;
  unsigned long thread;  // the thread that entered: the mode is that thread's
};

struct HermeticDepth {
  int entered = 0;     // contexts this thread entered and has not exited
  bool outside = false;  // the mode the first of them found
};
HermeticDepth& hermetic_depth() {
  thread_local HermeticDepth depth;
  return depth;
}

void hermetic_leave(HermeticObject* h) {
  h->entered = false;
  HermeticDepth& depth = hermetic_depth();
  if (--depth.entered == 0) impl::HermeticPyObjectTLS::set_state(depth.outside);
}

PyObject* hermetic_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  if (PyTuple_GET_SIZE(args) != 0 || (kwargs != nullptr && PyDict_Size(kwargs) != 0)) {
    PyErr_SetString(PyExc_TypeError, "hermetic() takes no arguments");
    return nullptr;
  }
  PyObject* self = type->tp_alloc(type, 0);
  if (self != nullptr) reinterpret_cast<HermeticObject*>(self)->entered = false;
  return self;
}

PyObject* hermetic_enter(PyObject* self, PyObject*) {
  auto* h = reinterpret_cast<HermeticObject*>(self);
  if (h->entered) {
    PyErr_SetString(PyExc_RuntimeError, "hermetic(): this context manager is already in use");
    return nullptr;
  }
  h->entered = true;
  h->thread = PyThread_get_thread_ident();
  HermeticDepth& depth = hermetic_depth();
  if (depth.entered++ == 0) depth.outside = impl::HermeticPyObjectTLS::get_state();
  impl::HermeticPyObjectTLS::set_state(true);
  Py_RETURN_NONE;
}

PyObject* hermetic_exit(PyObject* self, PyObject* args) {
  if (PyTuple_GET_SIZE(args) != 3) {
    PyErr_Format(PyExc_TypeError, "hermetic.__exit__() takes 3 arguments (type, value, traceback), %zd given",
                 PyTuple_GET_SIZE(args));
    return nullptr;
  }
  auto* h = reinterpret_cast<HermeticObject*>(self);
  if (!h->entered) {
    PyErr_SetString(PyExc_RuntimeError, "hermetic(): __exit__ without __enter__");
    return nullptr;
  }
  if (h->thread != PyThread_get_thread_ident()) {
    // Hermetic mode is thread-local: leaving it here would change this thread's mode
    // and leave the entering thread's on.
    PyErr_SetString(PyExc_RuntimeError, "hermetic(): left on another thread than the one that entered it");
    return nullptr;
  }
  hermetic_leave(h);
  Py_RETURN_FALSE;  // exceptions propagate
}

void hermetic_dealloc(PyObject* self) {
  auto* h = reinterpret_cast<HermeticObject*>(self);
  if (h->entered) {
    PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;
    PyErr_Fetch(&type, &value, &traceback);
    const bool here = h->thread == PyThread_get_thread_ident();
    if (PyErr_WarnEx(PyExc_ResourceWarning,
                     here ? "hermetic(): a context entered and never exited; leaving it now"
                          : "hermetic(): a context entered and never exited, on another thread: hermetic mode "
                            "stays on there",
                     1) < 0) {
      PyErr_WriteUnraisable(self);
    }
    PyErr_Restore(type, value, traceback);
    if (here) hermetic_leave(h);
  }
  PyTypeObject* type = Py_TYPE(self);
  type->tp_free(self);
  Py_DECREF(type);
}

PyMethodDef hermetic_methods[] = {
    {"__enter__", &Entry<&hermetic_enter>::call, METH_NOARGS,
     "__enter__($self, /)\n--\n\nTurns hermetic mode on for this thread (each context once)."},
    {"__exit__", &Entry<&hermetic_exit>::call, METH_VARARGS,
     "__exit__($self, type, value, traceback, /)\n--\n\n"
     "Leaves the context, on the thread that entered it; hermetic mode goes off when the last context this "
     "thread entered is left. Exceptions propagate."},
    {nullptr, nullptr, 0, nullptr}};

PyType_Slot hermetic_slots[] = {
    {Py_tp_new, reinterpret_cast<void*>(&Entry<&hermetic_new>::call)},
    {Py_tp_dealloc, reinterpret_cast<void*>(&hermetic_dealloc)},
    {Py_tp_methods, hermetic_methods},
    {Py_tp_doc,
     const_cast<char*>("hermetic()\n--\n\n"
                       "with revive.hermetic(): hermetic mode on this thread (PyTorch's EnableHermeticPyObject, "
                       "as torch::deploy ran operators). A wrap inside makes a fresh wrapper that no slot records "
                       "and no tag marks: the object's state does not change, and the wrapper dies for real "
                       "(a tensor's is never resurrected in E2). A storage made outside the mode is still "
                       "preserved when it dies inside it.")},
    {0, nullptr}};

PyType_Spec hermetic_spec = {"revive.hermetic", sizeof(HermeticObject), 0, Py_TPFLAGS_DEFAULT, hermetic_slots};

// revive.is_hermetic(): whether this thread is in hermetic mode.
// revive.era(): "E2" (resurrection) or "E4" (the has-PyObject bit), as REVIVE_ERA chose
// when this interpreter imported the module.
PyObject* era(PyObject* module, PyObject*) { return PyUnicode_FromString(torch_of(module).e4 ? "E4" : "E2"); }

PyObject* is_hermetic(PyObject*, PyObject*) {
  return PyBool_FromLong(impl::HermeticPyObjectTLS::get_state() ? 1 : 0);
}

// revive.empty(numel=1), and revive.randn, the same (test_torch.py's tests use both).
PyObject* empty(PyObject* module, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"", "requires_grad", nullptr};
  Py_ssize_t numel = 1;
  int requires_grad = 0;
  if (PyArg_ParseTupleAndKeywords(args, kwargs, "|n$p:empty", const_cast<char**>(keywords), &numel, &requires_grad) == 0) {
    return nullptr;
  }
  return guarded([&] {
    Tensor t = Tensor::empty(numel);
    if (requires_grad != 0) t.set_requires_grad(true);
    return torch_of(module).wrap(std::move(t));
  });
}

PyObject* grad_fn_objects(PyObject* module, PyObject*) {
  return PyUnicode_FromString(torch_of(module).grad_fn_preserved ? "preserved" : "cache");
}

// revive.tensor(s): a new tensor viewing storage s (torch.tensor(s) in test_torch.py).
PyObject* tensor_from_storage(PyObject* module, PyObject* s) {
  Torch& torch = torch_of(module);
  if (!torch.is_wrapper<Storage>(s)) {
    PyErr_Format(PyExc_TypeError, "tensor(): expected UntypedStorage but got %s", Py_TYPE(s)->tp_name);
    return nullptr;
  }
  Unpacked<Storage> storage;
  if (!unpack_defined(torch, s, storage, "tensor")) return nullptr;
  return guarded([&] { return torch.wrap(Tensor::from_storage(*storage, 1)); });
}

// revive.inspect(x): the fields the C++ side's pictures show (pictures/inspect.h), read
// off x's C++ object and slot.  r counts x's references besides the call's own argument.
template <class H>
PyObject* inspect_wrapper(Torch& torch, PyObject* o) {
  WrapperObject<H>* self = reinterpret_cast<WrapperObject<H>*>(o);
  const char* cdata = !self->cdata.defined() ? "undefined" : self->cdata.unsafeIsBorrowed() ? "borrowed" : "owned";
  auto* target = self->cdata.get();
  if (target == nullptr) {
    return Py_BuildValue("{s:s,s:n,s:s,s:O,s:K}", "cdata", cdata, "r", Py_REFCNT(o) - 1, "state", "stubbed",
                         "hermetic", self->is_hermetic ? Py_True : Py_False, "serial",
                         static_cast<unsigned long long>(self->serial));
  }
  const impl::PyObjectSlot* slot = target->pyobj_slot();
  impl::PyInterpreter* tag = slot->pyobj_interpreter();
  const char* state_name = "U";
  bool owns = false;
  // The slot's state, as seen from this interpreter (pictures/inspect.h's SlotState);
  // "recorded" says whether the slot records this very wrapper (a hermetic one never is).
  bool recorded = false;
  if (tag == torch.pyinterpreter()) {
    owns = slot->owns_pyobj();
    revive::PyObject* in_slot = slot->_unchecked_untagged_pyobj();
    recorded = in_slot == reinterpret_cast<revive::PyObject*>(o);
    state_name = in_slot == nullptr ? "V" : owns ? "Z" : "L";
  } else if (tag != nullptr) {
    state_name = "X";
  }
  const std::string tag_name = tag == nullptr ? "-" : (*tag)->name();
  return Py_BuildValue("{s:s,s:I,s:n,s:s,s:O,s:s,s:O,s:O,s:K}", "state", state_name, "n", target->refcount(),
                       "r", Py_REFCNT(o) - 1, "tag", tag_name.c_str(), "owns", owns ? Py_True : Py_False, "cdata",
                       cdata, "hermetic", self->is_hermetic ? Py_True : Py_False, "recorded",
                       recorded ? Py_True : Py_False, "serial", static_cast<unsigned long long>(self->serial));
}

PyObject* inspect(PyObject* module, PyObject* o) {
  Torch& torch = torch_of(module);
  if (torch.is_wrapper<Tensor>(o)) return inspect_wrapper<Tensor>(torch, o);
  if (torch.is_wrapper<Storage>(o)) return inspect_wrapper<Storage>(torch, o);
  PyErr_Format(PyExc_TypeError, "inspect(): expected Tensor or UntypedStorage but got %s", Py_TYPE(o)->tp_name);
  return nullptr;
}

// What C++ holds for the scripts: named tensors and storages, process-wide, so that
// one interpreter can hand a C++ object to another (torchdeploy passed tensors between
// interpreters the same way, through C++).  Only touched under the GIL, which 3.11's
// interpreters share; never destroyed (it may outlive every interpreter).
using Held = std::variant<Tensor, Storage>;
std::map<std::string, Held>& cpp_held() {
  static auto* held = new std::map<std::string, Held>();
  return *held;
}

// The entry named by the Python string `name`, or end() with KeyError (or the
// conversion's error) set.
std::map<std::string, Held>::iterator find_held(PyObject* name, const char* what) {
  if (!PyUnicode_Check(name)) {
    PyErr_Format(PyExc_TypeError, "%s(): the name must be str, not %s", what, Py_TYPE(name)->tp_name);
    return cpp_held().end();
  }
  Py_ssize_t size = 0;
  const char* key = PyUnicode_AsUTF8AndSize(name, &size);
  if (key == nullptr) return cpp_held().end();
  // hold() takes its name with "s", which refuses a NUL: a name with one names nothing
  // held (and must not be cut at the NUL into another name).
  if (std::string_view(key, static_cast<std::size_t>(size)).find('\0') != std::string_view::npos) {
    PyErr_Format(PyExc_ValueError, "%s(): embedded null character in the name", what);
    return cpp_held().end();
  }
  const auto it = cpp_held().find(key);
  if (it == cpp_held().end()) PyErr_Format(PyExc_KeyError, "C++ holds nothing named %s", key);
  return it;
}

// revive.hold(name, x): C++ takes a reference to x's tensor or storage.
PyObject* hold(PyObject* module, PyObject* args) {
  const char* name = nullptr;
  PyObject* x = nullptr;
  if (PyArg_ParseTuple(args, "sO:hold", &name, &x) == 0) return nullptr;
  Torch& torch = torch_of(module);
  Held value;
  if (torch.is_wrapper<Tensor>(x)) {
    Unpacked<Tensor> t;
    if (!unpack_defined(torch, x, t, "hold")) return nullptr;
    value = *t;
  } else if (torch.is_wrapper<Storage>(x)) {
    Unpacked<Storage> s;
    if (!unpack_defined(torch, x, s, "hold")) return nullptr;
    value = *s;
  } else {
    PyErr_Format(PyExc_TypeError, "hold(): expected Tensor or UntypedStorage but got %s", Py_TYPE(x)->tp_name);
    return nullptr;
  }
  // What was held under the name goes after the map is consistent again: its release
  // may run Python code (a zombie's finalizer) that uses the map.
  std::swap(cpp_held()[name], value);
  value = Tensor();
  Py_RETURN_NONE;
}

// revive.held(name): what C++ holds under `name`, wrapped in this interpreter.
// revive.held(name, cls): wrapped by a new instance of cls, a subclass of Tensor or
// UntypedStorage (THPVariable_NewWithVar with a type, as Tensor._make_subclass does); the
// object must have no wrapper here yet.
PyObject* held(PyObject* module, PyObject* args) {
  PyObject* name = nullptr;
  PyObject* cls = nullptr;
  if (PyArg_ParseTuple(args, "U|O!:held", &name, &PyType_Type, &cls) == 0) return nullptr;
  const auto it = find_held(name, "held");
  if (it == cpp_held().end()) return nullptr;
  Torch& torch = torch_of(module);
  // A copy: wrapping allocates, a collection may run and a finalizer release the name.
  const Held handle = it->second;
  if (cls == nullptr) {
    return guarded([&] { return std::visit([&](const auto& h) { return torch.wrap(h); }, handle); });
  }
  auto* type = reinterpret_cast<PyTypeObject*>(cls);
  return std::visit(
      [&]<class H>(const H& h) -> PyObject* {
        if (!PyType_IsSubtype(type, torch.base_type<H>())) {
          PyErr_Format(PyExc_TypeError, "held(): %s is not a subclass of %s", type->tp_name, Kind<H>::python_name);
          return nullptr;
        }
        const bool ours = h.getIntrusivePtr()->pyobj_slot()->check_interpreter(torch.pyinterpreter());
        return guarded([&] {
          return torch.new_wrapper(type, h,
                                   ours ? impl::PyInterpreterStatus::TAGGED_BY_US
                                        : impl::PyInterpreterStatus::MAYBE_UNINITIALIZED);
        });
      },
      handle);
}

// revive.release(name): C++ lets go of what it holds under `name`.
PyObject* release(PyObject*, PyObject* name) {
  const auto it = find_held(name, "release");
  if (it == cpp_held().end()) return nullptr;
  auto node = cpp_held().extract(it);
  node = {};  // the C++ object's last reference may go here (T6, in its own interpreter)
  Py_RETURN_NONE;
}

// revive.cpp_empty(name, numel=1): C++ makes a tensor and holds it under `name`; it never
// crossed into Python (state U), until revive.held(name) wraps it.
PyObject* cpp_empty(PyObject*, PyObject* args) {
  const char* name = nullptr;
  Py_ssize_t numel = 1;
  if (PyArg_ParseTuple(args, "s|n:cpp_empty", &name, &numel) == 0) return nullptr;
  if (numel < 0) {
    PyErr_SetString(PyExc_ValueError, "cpp_empty(): numel must not be negative");
    return nullptr;
  }
  Held value = Tensor::empty(numel);
  std::swap(cpp_held()[name], value);
  value = Tensor();  // what was held under the name goes last (see hold)
  Py_RETURN_NONE;
}

// The one C++ object revive.watch() follows, without a reference to it (a reference would
// change what is watched): the tour on the real CPython reads its row off it
// (examples/cpython/tour.py).  Only touched under the GIL.
struct Watched {
  std::variant<const TensorImpl*, const StorageImpl*> target;
  std::unique_ptr<DeathWatch> alive;
};
std::unique_ptr<Watched>& watched_object() {
  static auto* watched = new std::unique_ptr<Watched>();
  return *watched;
}

template <class H>
void watch_handle(const H& handle) {
  auto w = std::make_unique<Watched>();
  w->target = handle.getIntrusivePtr().get();
  w->alive = std::make_unique<DeathWatch>(handle.getIntrusivePtr().get());
  watched_object() = std::move(w);
}

// revive.watch(x): follow x's tensor or storage; revive.watch("name"): what C++ holds
// under that name.
PyObject* watch(PyObject* module, PyObject* x) {
  Torch& torch = torch_of(module);
  if (PyUnicode_Check(x)) {
    const auto it = find_held(x, "watch");
    if (it == cpp_held().end()) return nullptr;
    std::visit([](const auto& h) { watch_handle(h); }, it->second);
    Py_RETURN_NONE;
  }
  if (torch.is_wrapper<Tensor>(x)) {
    Unpacked<Tensor> t;
    if (!unpack_defined(torch, x, t, "watch")) return nullptr;
    watch_handle(*t);
  } else if (torch.is_wrapper<Storage>(x)) {
    Unpacked<Storage> s;
    if (!unpack_defined(torch, x, s, "watch")) return nullptr;
    watch_handle(*s);
  } else {
    PyErr_Format(PyExc_TypeError, "watch(): expected Tensor, UntypedStorage or a name C++ holds, got %s",
                 Py_TYPE(x)->tp_name);
    return nullptr;
  }
  Py_RETURN_NONE;
}

// revive.watched(): the watched object's row, as the tour prints it: state (U, V, L, Z,
// X as this interpreter sees the slot, D once it is destroyed), n, tag, owns, and the
// recorded wrapper's r and cdata.  Reads only: no reference is taken to anything.
PyObject* watched(PyObject* module, PyObject*) {
  const std::unique_ptr<Watched>& w = watched_object();
  if (w == nullptr) {
    PyErr_SetString(PyExc_RuntimeError, "watched(): nothing is watched (revive.watch first)");
    return nullptr;
  }
  if (!w->alive->alive()) return Py_BuildValue("{s:s}", "state", "D");
  Torch& torch = torch_of(module);
  const auto n = std::visit([](const auto* p) { return p->refcount(); }, w->target);
  const impl::PyObjectSlot* slot = std::visit([](const auto* p) { return p->pyobj_slot(); }, w->target);
  impl::PyInterpreter* tag = slot->pyobj_interpreter();
  if (tag == nullptr) return Py_BuildValue("{s:s,s:I}", "state", "U", "n", n);
  const std::string tag_name = (*tag)->name();
  if (tag != torch.pyinterpreter()) {
    return Py_BuildValue("{s:s,s:I,s:s}", "state", "X", "n", n, "tag", tag_name.c_str());
  }
  const bool owns = slot->owns_pyobj();
  PyObject* recorded = reinterpret_cast<PyObject*>(slot->_unchecked_untagged_pyobj());
  if (recorded == nullptr) {
    return Py_BuildValue("{s:s,s:I,s:s,s:O}", "state", "V", "n", n, "tag", tag_name.c_str(), "owns",
                         owns ? Py_True : Py_False);
  }
  const bool is_storage = std::holds_alternative<const StorageImpl*>(w->target);
  const bool defined = is_storage ? reinterpret_cast<WrapperObject<Storage>*>(recorded)->cdata.defined()
                                  : reinterpret_cast<WrapperObject<Tensor>*>(recorded)->cdata.defined();
  const bool borrowed = is_storage ? reinterpret_cast<WrapperObject<Storage>*>(recorded)->cdata.unsafeIsBorrowed()
                                   : reinterpret_cast<WrapperObject<Tensor>*>(recorded)->cdata.unsafeIsBorrowed();
  const char* cdata = !defined ? "undefined" : borrowed ? "borrowed" : "owned";
  return Py_BuildValue("{s:s,s:I,s:n,s:s,s:O,s:s}", "state", owns ? "Z" : "L", "n", n, "r", Py_REFCNT(recorded),
                       "tag", tag_name.c_str(), "owns", owns ? Py_True : Py_False, "cdata", cdata);
}

// revive._gc_bugs(issue_75932=None, issue_136358=None): switch PyTorch's old collector
// bugs on or off in this interpreter (None leaves one as it is); returns both, as a dict.
PyObject* gc_bugs(PyObject* module, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"issue_75932", "issue_136358", nullptr};
  PyObject* bug_75932 = Py_None;
  PyObject* bug_136358 = Py_None;
  if (PyArg_ParseTupleAndKeywords(args, kwargs, "|OO:_gc_bugs", const_cast<char**>(keywords), &bug_75932,
                                  &bug_136358) == 0) {
    return nullptr;
  }
  Torch& torch = torch_of(module);
  int on[2] = {-2, -2};  // -2: leave it
  for (int k = 0; k < 2; ++k) {
    PyObject* value = k == 0 ? bug_75932 : bug_136358;
    if (value != Py_None && (on[k] = PyObject_IsTrue(value)) < 0) return nullptr;
  }
  if (on[0] >= 0) torch.issue_75932 = on[0] != 0;
  if (on[1] >= 0) torch.set_issue_136358(on[1] != 0);
  return Py_BuildValue("{s:O,s:O}", "issue_75932", torch.issue_75932 ? Py_True : Py_False, "issue_136358",
                       torch.issue_136358 ? Py_True : Py_False);
}

// revive.release_on_thread(name): as release(name), but from a new C++ thread that holds
// no GIL, while this one waits with the GIL released: a zombie's interpreter must then
// be entered from scratch (PyGILState for main, a new thread state for a subinterpreter).
PyObject* release_on_thread(PyObject*, PyObject* name) {
  const auto it = find_held(name, "release_on_thread");
  if (it == cpp_held().end()) return nullptr;
  auto node = cpp_held().extract(it);
  Py_BEGIN_ALLOW_THREADS
  std::thread([&node] {
    ThreadWithoutGil no_gil;  // See Note [Who holds the GIL on CPython 3.11]
    node = {};
  }).join();
  Py_END_ALLOW_THREADS
  Py_RETURN_NONE;
}

PyMethodDef module_methods[] = {
    {"release_on_thread", &Entry<&release_on_thread>::call, METH_O,
     "release_on_thread($module, name, /)\n--\n\n"
     "As release(name), from a new C++ thread that holds no GIL while this one waits with the GIL released: "
     "the object's interpreter is entered from scratch to give back or finalize its wrapper."},
    {"_gc_bugs", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&Entry<&gc_bugs>::call)), METH_VARARGS | METH_KEYWORDS,
     "_gc_bugs($module, /, issue_75932=None, issue_136358=None)\n--\n\n"
     "Switches PyTorch's old collector bugs on or off in this interpreter (None leaves one as it is) and "
     "returns both as a dict. For the tests that show them; off by default."},
    {"hold", &Entry<&hold>::call, METH_VARARGS, "hold($module, name, x, /)\n--\n\n"
     "C++ takes a reference to x's tensor or storage and keeps it under name: n += 1. Dropping your last "
     "reference then keeps the wrapper: era E2 resurrects it (state Z, the slot owns it), era E4 keeps it "
     "alive from C++ (state L). What was held under name before is let go."},
    {"held", &Entry<&held>::call, METH_VARARGS, "held($module, name, cls=None, /)\n--\n\n"
     "What C++ holds under name, wrapped here: its recorded wrapper (the same object, with its attributes; "
     "in E2 a zombie flips back, Z to L, n += 1), or a new one the slot records (tagging the object with this "
     "interpreter). With cls, a subclass of Tensor or UntypedStorage, a new instance of cls is the wrapper: "
     "the object must have none here yet. Another interpreter's tensor is refused (RuntimeError); "
     "its storage is aliased (a new C++ storage sharing the bytes)."},
    {"release", &Entry<&release>::call, METH_O, "release($module, name, /)\n--\n\n"
     "C++ lets go of what it holds under name: n -= 1. If that was the last reference, the object dies; in "
     "E2 its zombie wrapper is given back and finalized now (Z to D)."},
    {"cpp_empty", &Entry<&cpp_empty>::call, METH_VARARGS, "cpp_empty($module, name, numel=1, /)\n--\n\n"
     "C++ makes a tensor of numel elements and holds it under name, never wrapped: n = 1, state U, no tag, "
     "until held(name) wraps it."},
    {"watch", &Entry<&watch>::call, METH_O, "watch($module, x, /)\n--\n\n"
     "Follows one C++ object without taking a reference to it (a reference would change n): x's tensor or "
     "storage, or what C++ holds under the name x. watched() then reads its row, even after it dies."},
    {"watched", &Entry<&watched>::call, METH_NOARGS, "watched($module, /)\n--\n\n"
     "The watched object's row as a dict, read without taking a reference: state (U, V, L, Z, X as this "
     "interpreter sees the slot; D once the object is destroyed), n (the C++ strong count), tag, owns (the "
     "slot owns the wrapper: E2's zombie), and the recorded wrapper's r (its refcount) and cdata (owned, "
     "borrowed or undefined). RuntimeError if nothing is watched."},
    {"empty", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&Entry<&empty>::call)),
     METH_VARARGS | METH_KEYWORDS, "empty($module, numel=1, /, *, requires_grad=False)\n--\n\n"
     "A new C++ tensor of numel elements, wrapped: the wrapper owns it (n = 1, cdata owned), the slot "
     "records the wrapper and is tagged with this interpreter (state L; in hermetic mode, a wrapper no slot "
     "records). requires_grad=True makes it a leaf that operations record a graph for."},
    {"randn", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&Entry<&empty>::call)),
     METH_VARARGS | METH_KEYWORDS, "randn($module, numel=1, /, *, requires_grad=False)\n--\n\n"
     "The same as empty(numel): revive models no values."},
    {"tensor", &Entry<&tensor_from_storage>::call, METH_O, "tensor($module, s, /)\n--\n\n"
     "A new C++ tensor viewing storage s (the storage's n += 1), wrapped: state L, n = 1."},
    {"inspect", &Entry<&inspect>::call, METH_O, "inspect($module, x, /)\n--\n\n"
     "x's row as a dict, read off its C++ object and slot: state (U, V, L, Z, X, as this interpreter sees "
     "the slot; 'stubbed' for a wrapper whose object is gone), n (C++ strong count), r (x's refcount, this "
     "call's argument not counted), tag, owns, cdata (owned, borrowed, undefined), hermetic (x was made in "
     "hermetic mode), recorded (the slot records x itself) and serial (x's creation number). Changes nothing."},
    {"is_hermetic", &Entry<&is_hermetic>::call, METH_NOARGS, "is_hermetic($module, /)\n--\n\nWhether this thread is in hermetic mode (revive.hermetic)."},
    {"era", &Entry<&era>::call, METH_NOARGS, "era($module, /)\n--\n\n"
     "'E2' (a wrapper C++ still needs is resurrected) or 'E4' (C++ holds the wrapper while it shares the "
     "object: PyTorch since #167564), as REVIVE_ERA said when this interpreter first imported revive."},
    {"grad_fn_objects", &Entry<&grad_fn_objects>::call, METH_NOARGS, "grad_fn_objects($module, /)\n--\n\n"
     "'cache' (a grad_fn's Python object is a cache its node does not own: PyTorch until 2026) or 'preserved' "
     "(preserved like a tensor's wrapper: resurrected in E2, held by C++ in E4), as REVIVE_GRAD_FN said when "
     "this interpreter first imported revive."},
    {nullptr, nullptr, 0, nullptr}};

// Adds a type made from `spec` to the module as `name`; the new type, or null.
PyTypeObject* add_type(PyObject* module, PyType_Spec* spec, const char* name) {
  PyObject* type = PyType_FromModuleAndSpec(module, spec, nullptr);
  if (type == nullptr) return nullptr;
  const int added = PyModule_AddObjectRef(module, name, type);
  Py_DECREF(type);  // the module holds it
  return added < 0 ? nullptr : reinterpret_cast<PyTypeObject*>(type);
}

// revive.Tensor / revive.UntypedStorage: Python classes over the C bases, as torch.Tensor
// is a Python class over torch._C.TensorBase (torch/_tensor.py).  Made by calling type(),
// so each is what a class statement makes: a managed __dict__ (3.11's), and CPython's
// subtype slots until the base's __init_subclass__ installs the wrapper's.  Made here,
// once per interpreter (Note [One Torch per interpreter]), not in the package's Python
// code, which runs again when the package is imported again.
PyTypeObject* make_class(const char* name, PyTypeObject* base, const char* doc) {
  PyObject* dict = Py_BuildValue("{s:s,s:s,s:s}", "__module__", "revive", "__qualname__", name, "__doc__", doc);
  if (dict == nullptr) return nullptr;
  PyObject* cls = PyObject_CallFunction(reinterpret_cast<PyObject*>(&PyType_Type), "s(O)O", name, base, dict);
  Py_DECREF(dict);
  return reinterpret_cast<PyTypeObject*>(cls);
}

// Note [One Torch per interpreter]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// PyTorch's torch._C is imported once per interpreter, and its PyInterpreter tag is that
// interpreter's.  CPython may execute this module more than once in one interpreter
// (`del sys.modules["revive._C"]; import revive._C`), and each execution would make new
// types and a new tag: the old module's wrappers would then be "not a Tensor" to the
// new one, and its tensors "tagged by another interpreter", in the same interpreter.
// So the interpreter's state (Torch: its tag, its base types and the classes over them,
// the hermetic type) is made once and kept in the interpreter's own dict
// (PyInterpreterState_GetDict); a second execution gives the new module object the same
// state and the same types.  REVIVE_ERA is read at the first.
//
// The same dict entry disarms the tag (Note [Disarming a dead interpreter]): CPython
// clears the interpreter's dict after it has finalized the interpreter's modules
// (interpreter_clear in 3.11's pystate.c, for Py_EndInterpreter and Py_FinalizeEx
// alike), so a zombie whose tensor dies while the modules are torn down still gets its
// __del__, run in its own interpreter; only what dies after that (the last collection,
// or C++ releasing it later) meets a disarmed vtable, which leaks the wrapper and counts
// it (PyInterpreter::unseen_releases()).  Disarming at the interpreter's atexit, as this module
// once did, came before the modules were finalized and leaked those zombies too.
constexpr const char* kTorchKey = "revive._torch";

void disarm_capsule(PyObject* capsule) {
  if (auto* torch = static_cast<Torch*>(PyCapsule_GetPointer(capsule, kTorchKey))) torch->disarm();
}

// The era for every wrapper of a new interpreter: REVIVE_ERA=E2 (or unset) or E4.
// Anything else refuses the import: a mistyped era must not quietly run the other one.
int read_era(bool& e4) {
  const char* era = std::getenv("REVIVE_ERA");
  if (era == nullptr) {
    e4 = false;
    return 0;
  }
  const std::string_view v(era);
  if (v == "E2" || v == "e2" || v == "E4" || v == "e4") {
    e4 = v[1] == '4';
    return 0;
  }
  PyErr_Format(PyExc_ValueError, "REVIVE_ERA must be E2 or E4 (or unset, for E2), not '%s'", era);
  return -1;
}

// How grad_fns get their Python objects: REVIVE_GRAD_FN=cache (or unset) or preserved
// (Note [Two ways to give a grad_fn a Python object], binding/torch.h).
int read_grad_fn(bool& preserved) {
  const char* mode = std::getenv("REVIVE_GRAD_FN");
  if (mode == nullptr || std::string_view(mode) == "cache") {
    preserved = false;
    return 0;
  }
  if (std::string_view(mode) == "preserved") {
    preserved = true;
    return 0;
  }
  PyErr_Format(PyExc_ValueError, "REVIVE_GRAD_FN must be cache or preserved (or unset, for cache), not '%s'", mode);
  return -1;
}

int exec_module(PyObject* module) {
  PyInterpreterState* me = PyInterpreterState_Get();
  PyObject* interp_dict = PyInterpreterState_GetDict(me);  // borrowed
  if (interp_dict == nullptr) {
    PyErr_SetString(PyExc_RuntimeError, "revive: this interpreter has no dict to keep its state in");
    return -1;
  }
  PyObject* capsule = PyDict_GetItemString(interp_dict, kTorchKey);  // borrowed
  Torch* torch = capsule == nullptr ? nullptr : static_cast<Torch*>(PyCapsule_GetPointer(capsule, kTorchKey));
  if (torch == nullptr) {
    if (PyErr_Occurred() != nullptr) return -1;
    bool e4 = false;
    if (read_era(e4) < 0) return -1;
    bool grad_fn_preserved = false;
    if (read_grad_fn(grad_fn_preserved) < 0) return -1;
    PyTypeObject* tensor_base = add_type(module, &tensor_spec, "TensorBase");
    PyTypeObject* storage_base = tensor_base == nullptr ? nullptr : add_type(module, &storage_spec, "StorageBase");
    PyTypeObject* hermetic_type =
        storage_base == nullptr ? nullptr : add_type(module, &hermetic_spec, "hermetic");
    if (hermetic_type == nullptr) return -1;
    // A grad_fn's classes, one way or the other.
    PyTypeObject* grad_fn_base = grad_fn_preserved ? add_type(module, &node_spec, "NodeBase")
                                                   : add_type(module, &cpp_function_spec, "CppFunction");
    if (grad_fn_base == nullptr) return -1;
    // The interpreter's name, as the tag reports it: the main one, or a subinterpreter.
    const std::string name = me == PyInterpreterState_Main()
                                 ? std::string("CPython main")
                                 : "CPython subinterpreter " + std::to_string(PyInterpreterState_GetID(me));
    torch = new Torch(tensor_base, storage_base, me, name);  // never freed: See Note [Disarming a dead interpreter]
    torch->e4 = e4;
    torch->grad_fn_preserved = grad_fn_preserved;
    if (!grad_fn_preserved) torch->cpp_function_base = grad_fn_base;
    Py_INCREF(grad_fn_base);
    // Kept for a later execution of the module in this interpreter (never given back:
    // the types outlive any one module object).
    torch->hermetic_type = hermetic_type;
    Py_INCREF(tensor_base);
    Py_INCREF(storage_base);
    Py_INCREF(hermetic_type);
    // The classes' __init_subclass__ finds the state through the module.
    static_cast<ModuleState*>(PyModule_GetState(module))->torch = torch;
    PyTypeObject* tensor_class =
        make_class("Tensor", tensor_base,
                   e4 ? "Tensor(data=1): a C++ tensor's Python wrapper (torch.Tensor). data is a number of "
                        "elements, a Tensor (a new tensor viewing its storage) or an UntypedStorage. The new "
                        "wrapper owns its tensor (n = 1) and the tensor's slot records it (state L).\n\n"
                        "Era E4: C++ holds the wrapper while it shares the tensor (n >= 2), so the wrapper, with "
                        "its attributes, lives as long as either side needs it; it is never resurrected."
                      : "Tensor(data=1): a C++ tensor's Python wrapper (torch.Tensor). data is a number of "
                        "elements, a Tensor (a new tensor viewing its storage) or an UntypedStorage. The new "
                        "wrapper owns its tensor (n = 1) and the tensor's slot records it (state L).\n\n"
                        "Era E2: when Python lets go while C++ still holds the tensor, the wrapper is "
                        "resurrected (state Z: the slot owns it, it borrows the tensor) and the next wrap "
                        "returns it, with its attributes.");
    PyTypeObject* storage_class =
        tensor_class == nullptr
            ? nullptr
            : make_class("UntypedStorage", storage_base,
                         e4 ? "UntypedStorage(size=0): a C++ storage's Python wrapper (torch.UntypedStorage), of "
                              "size bytes, or as long as a sequence of ints (another storage too). The new "
                              "wrapper owns its storage (n = 1), and the slot records it (state L).\n\n"
                              "Era E4: C++ holds the wrapper while it shares the storage; it is never "
                              "resurrected."
                            : "UntypedStorage(size=0): a C++ storage's Python wrapper (torch.UntypedStorage), of "
                              "size bytes, or as long as a sequence of ints (another storage too). The new "
                              "wrapper owns its storage (n = 1), and the slot records it (state L).\n\n"
                              "Era E2: when Python lets go while C++ still holds the storage, the wrapper is "
                              "resurrected (state Z), even if it dies in hermetic mode, unless it was made "
                              "there.");
    if (storage_class == nullptr) return -1;
    torch->set_classes(tensor_class, storage_class);  // their references, kept for good
    if (grad_fn_preserved) {
      PyTypeObject* node_class =
          make_class("Node", grad_fn_base,
                     "A grad_fn preserved like a tensor (REVIVE_GRAD_FN=preserved, PyTorch #179764's direction): "
                     "the node's slot records it; in era E2 it is resurrected when Python lets go while a tensor "
                     "still holds the node, in era E4 the node holds it while shared. Subclassed per node kind.");
      if (node_class == nullptr) return -1;
      torch->set_node_classes(grad_fn_base, node_class);
    }
    PyObject* made = PyCapsule_New(torch, kTorchKey, &disarm_capsule);
    if (made == nullptr) return -1;
    const int stored = PyDict_SetItemString(interp_dict, kTorchKey, made);
    Py_DECREF(made);
    if (stored < 0) return -1;
  } else {
    for (auto [name, type] : {std::pair{"TensorBase", torch->base_type<Tensor>()},
                              std::pair{"StorageBase", torch->base_type<Storage>()},
                              std::pair{"hermetic", torch->hermetic_type},
                              torch->grad_fn_preserved
                                  ? std::pair{"NodeBase", torch->base_type<autograd::NodeHandle>()}
                                  : std::pair{"CppFunction", torch->cpp_function_base}}) {
      if (PyModule_AddObjectRef(module, name, reinterpret_cast<PyObject*>(type)) < 0) return -1;
    }
  }
  for (auto [name, type] : {std::pair{"Tensor", torch->python_type<Tensor>()},
                            std::pair{"UntypedStorage", torch->python_type<Storage>()}}) {
    if (PyModule_AddObjectRef(module, name, reinterpret_cast<PyObject*>(type)) < 0) return -1;
  }
  if (torch->grad_fn_preserved &&
      PyModule_AddObjectRef(module, "Node", reinterpret_cast<PyObject*>(torch->python_type<autograd::NodeHandle>())) < 0) {
    return -1;
  }
  static_cast<ModuleState*>(PyModule_GetState(module))->torch = torch;
  return 0;
}

PyModuleDef_Slot module_slots[] = {{Py_mod_exec, reinterpret_cast<void*>(&Entry<&exec_module>::call)}, {0, nullptr}};

PyModuleDef& module_def() {
  static PyModuleDef def = {PyModuleDef_HEAD_INIT,
                            "revive._C",
                            "revive's extension module (the package revive re-exports it): PyTorch's PyObject "
                            "preservation on the real CPython",
                            sizeof(ModuleState),
                            module_methods,
                            module_slots,
                            nullptr,
                            nullptr,
                            nullptr};
  return def;
}

}  // namespace

Torch& Torch::of(PyTypeObject* type) {
  PyObject* module = PyType_GetModuleByDef(type, &module_def());
  return *static_cast<ModuleState*>(PyModule_GetState(module))->torch;
}

}  // namespace revive::cpython

PyMODINIT_FUNC PyInit__C() { return PyModuleDef_Init(&revive::cpython::module_def()); }
