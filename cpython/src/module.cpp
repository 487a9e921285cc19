// The `revive` extension module: Tensor, empty(), inspect() on the real CPython 3.11.
// Multi-phase initialisation (PEP 489), so each interpreter that imports it gets its
// own Tensor type and its own PyInterpreter tag.
//
//   >>> import revive
//   >>> t = revive.empty(2); t.foo = "kept"; holder = revive.empty(1)
//   >>> holder.grad = t; i = id(t); del t       # C++ now owns the wrapper (Z)
//   >>> holder.grad.foo, id(holder.grad) == i    # ('kept', True): resurrected, same object
#include "tensor_type.h"

#include "revive/pyslot/hermetic_tls.h"

#include <structmember.h>

#include <cstddef>
#include <string>

namespace revive::cpython {

namespace {

struct ModuleState {
  TensorModule* torch;  // never freed: tags may outlive the interpreter (disarm())
};

PyModuleDef& module_def();

TensorObject* as_tensor_object(::PyObject* o) noexcept { return reinterpret_cast<TensorObject*>(o); }

bool check_tensor(TensorModule& m, ::PyObject* o, const char* what) {
  if (PyObject_TypeCheck(o, m.tensor_type())) return true;
  PyErr_Format(PyExc_TypeError, "%s(): expected Tensor but got %s", what, Py_TYPE(o)->tp_name);
  return false;
}

// Tensor.__new__(cls, data=1): a fresh C++ tensor of `data` elements, or (data a
// Tensor, as in `MyTensor(torch.empty(2))`) a new C++ tensor viewing data's storage;
// wrapped by an instance of cls.
::PyObject* tensor_new(PyTypeObject* cls, ::PyObject* args, ::PyObject* kwargs) {
  static const char* keywords[] = {"data", nullptr};
  ::PyObject* data = nullptr;
  if (PyArg_ParseTupleAndKeywords(args, kwargs, "|O:Tensor", const_cast<char**>(keywords), &data) == 0) {
    return nullptr;
  }
  TensorModule& m = TensorModule::of(cls);
  try {
    Tensor t;
    if (data == nullptr) {
      t = Tensor::empty(1);
    } else if (PyObject_TypeCheck(data, m.tensor_type())) {
      const Tensor source = m.unpack(data);
      if (!source.defined()) {
        PyErr_SetString(PyExc_RuntimeError, "Tensor(): the given tensor is undefined");
        return nullptr;
      }
      t = Tensor::from_storage(source.storage(), 1);
    } else {
      const Py_ssize_t numel = PyLong_AsSsize_t(data);
      if (numel == -1 && PyErr_Occurred() != nullptr) return nullptr;
      t = Tensor::empty(numel);
    }
    return m.new_wrapper(cls, t, impl::PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  } catch (const Error& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
    return nullptr;
  }
}

// t.sigmoid(): a small operator, enough to show that a stubbed wrapper's tensor is gone.
::PyObject* sigmoid(::PyObject* self, ::PyObject*) {
  TensorModule& m = TensorModule::of(Py_TYPE(self));
  const Tensor t = m.unpack(self);
  if (!t.defined()) {
    PyErr_SetString(PyExc_RuntimeError, "sigmoid(): the tensor is undefined (Note [The weakref hole])");
    return nullptr;
  }
  try {
    return m.wrap(Tensor::empty(1));
  } catch (const Error& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
    return nullptr;
  }
}

// t.grad: held in C++ (TensorImpl::grad), so assigning a tensor here makes C++ co-own it.
::PyObject* get_grad(::PyObject* self, void*) {
  TensorModule& m = TensorModule::of(Py_TYPE(self));
  const Tensor t = m.unpack(self);
  if (!t.defined()) {
    PyErr_SetString(PyExc_RuntimeError, "the wrapper's tensor is undefined (a wrapper the weakref hole stubbed)");
    return nullptr;
  }
  return m.wrap(t.grad());
}

int set_grad(::PyObject* self, ::PyObject* value, void*) {
  TensorModule& m = TensorModule::of(Py_TYPE(self));
  const Tensor t = m.unpack(self);
  if (!t.defined()) {
    PyErr_SetString(PyExc_RuntimeError, "the wrapper's tensor is undefined (a wrapper the weakref hole stubbed)");
    return -1;
  }
  if (value == nullptr || value == Py_None) {
    t.set_grad(Tensor());
    return 0;
  }
  if (!check_tensor(m, value, "grad")) return -1;
  t.set_grad(m.unpack(value));
  return 0;
}

// t._fix_weakref(): wrap, then drop.  See Note [The weakref hole].
::PyObject* fix_weakref(::PyObject* self, ::PyObject*) {
  TensorModule& m = TensorModule::of(Py_TYPE(self));
  ::PyObject* again = m.wrap(m.unpack(self));
  if (again == nullptr) return nullptr;
  Py_DECREF(again);
  Py_RETURN_NONE;
}

// Every Python subclass gets the wrapper's own dealloc, traverse and clear, before any
// instance exists (PyTorch's metaclass does the same in its __init__).
::PyObject* init_subclass(::PyObject* cls, ::PyObject*, ::PyObject*) {
  TensorModule::install_slots(reinterpret_cast<PyTypeObject*>(cls));
  Py_RETURN_NONE;
}

PyMemberDef tensor_members[] = {
    {"__dictoffset__", T_PYSSIZET, offsetof(TensorObject, dict), READONLY, nullptr},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(TensorObject, weakreflist), READONLY, nullptr},
    {nullptr, 0, 0, 0, nullptr}};

PyGetSetDef tensor_getset[] = {
    {"grad", &get_grad, &set_grad, "the gradient, held by the C++ tensor", nullptr},
    {"__dict__", &PyObject_GenericGetDict, &PyObject_GenericSetDict, nullptr, nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyMethodDef tensor_methods[] = {
    {"_fix_weakref", &fix_weakref, METH_NOARGS, "wrap again, then drop: closes the weakref hole"},
    {"sigmoid", &sigmoid, METH_NOARGS, "a new tensor (raises on a stubbed wrapper)"},
    {"__init_subclass__", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&init_subclass)),
     METH_VARARGS | METH_KEYWORDS | METH_CLASS, nullptr},
    {nullptr, nullptr, 0, nullptr}};

PyType_Slot tensor_slots[] = {
    {Py_tp_new, reinterpret_cast<void*>(&tensor_new)},
    {Py_tp_dealloc, reinterpret_cast<void*>(&TensorModule::dealloc)},
    {Py_tp_traverse, reinterpret_cast<void*>(&TensorModule::traverse)},
    {Py_tp_clear, reinterpret_cast<void*>(&TensorModule::clear)},
    {Py_tp_members, tensor_members},
    {Py_tp_getset, tensor_getset},
    {Py_tp_methods, tensor_methods},
    {Py_tp_doc, const_cast<char*>("A C++ tensor's Python wrapper, preserved by resurrection (era E2).")},
    {0, nullptr}};

PyType_Spec tensor_spec = {"revive.Tensor", sizeof(TensorObject), 0,
                           Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC, tensor_slots};

// revive.hermetic(): `with revive.hermetic(): ...` wraps without tagging or recording
// (PyTorch: EnableHermeticPyObject).  See Note [Hermetic PyObject mode].  Each object
// restores, on __exit__, the state its __enter__ found, on the same thread.
struct HermeticObject {
  PyObject_HEAD
  bool entered;
  bool old;
};

::PyObject* hermetic_enter(::PyObject* self, ::PyObject*) {
  auto* h = reinterpret_cast<HermeticObject*>(self);
  if (h->entered) {
    PyErr_SetString(PyExc_RuntimeError, "hermetic(): this context manager is already in use");
    return nullptr;
  }
  h->entered = true;
  h->old = impl::HermeticPyObjectTLS::get_state();
  impl::HermeticPyObjectTLS::set_state(true);
  Py_RETURN_NONE;
}

::PyObject* hermetic_exit(::PyObject* self, ::PyObject*) {
  auto* h = reinterpret_cast<HermeticObject*>(self);
  if (h->entered) impl::HermeticPyObjectTLS::set_state(h->old);
  h->entered = false;
  Py_RETURN_FALSE;  // exceptions propagate
}

void hermetic_dealloc(::PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  type->tp_free(self);
  Py_DECREF(type);
}

PyMethodDef hermetic_methods[] = {
    {"__enter__", &hermetic_enter, METH_NOARGS, nullptr},
    {"__exit__", &hermetic_exit, METH_VARARGS, nullptr},
    {nullptr, nullptr, 0, nullptr}};

PyType_Slot hermetic_slots[] = {
    {Py_tp_new, reinterpret_cast<void*>(&PyType_GenericNew)},
    {Py_tp_dealloc, reinterpret_cast<void*>(&hermetic_dealloc)},
    {Py_tp_methods, hermetic_methods},
    {Py_tp_doc, const_cast<char*>("with revive.hermetic(): wraps made inside are never recorded in a slot")},
    {0, nullptr}};

PyType_Spec hermetic_spec = {"revive.hermetic", sizeof(HermeticObject), 0, Py_TPFLAGS_DEFAULT, hermetic_slots};

// revive.is_hermetic(): whether this thread is in hermetic mode.
::PyObject* is_hermetic(::PyObject*, ::PyObject*) {
  return PyBool_FromLong(impl::HermeticPyObjectTLS::get_state() ? 1 : 0);
}

// revive.empty(numel=1)
::PyObject* empty(::PyObject* module, ::PyObject* args) {
  Py_ssize_t numel = 1;
  if (PyArg_ParseTuple(args, "|n:empty", &numel) == 0) return nullptr;
  auto* state = static_cast<ModuleState*>(PyModule_GetState(module));
  try {
    return state->torch->wrap(Tensor::empty(numel));
  } catch (const Error& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
    return nullptr;
  }
}

// revive.inspect(t): the fields the C++ side's pictures show (pictures/inspect.h), read
// off t's tensor and slot.  r counts t's references besides the call's own argument.
::PyObject* inspect(::PyObject* module, ::PyObject* o) {
  auto* state = static_cast<ModuleState*>(PyModule_GetState(module));
  TensorModule& m = *state->torch;
  if (!check_tensor(m, o, "inspect")) return nullptr;
  TensorObject* self = as_tensor_object(o);
  const char* cdata = !self->cdata.defined() ? "undefined" : self->cdata.unsafeIsBorrowed() ? "borrowed" : "owned";
  TensorImpl* impl = self->cdata.get();
  if (impl == nullptr) {
    return Py_BuildValue("{s:s,s:n,s:s}", "cdata", cdata, "r", Py_REFCNT(o) - 1, "state", "stubbed");
  }
  const impl::PyObjectSlot* slot = impl->pyobj_slot();
  impl::PyInterpreter* tag = slot->pyobj_interpreter();
  const char* state_name = "U";
  bool owns = false;
  if (tag == m.pyinterpreter()) {
    revive::PyObject* recorded = slot->_unchecked_untagged_pyobj();
    owns = slot->owns_pyobj();
    state_name = recorded == nullptr ? "T0" : owns ? "Z" : "L";
  } else if (tag != nullptr) {
    state_name = "X";
  }
  const std::string tag_name = tag == nullptr ? "-" : (*tag)->name();
  return Py_BuildValue("{s:s,s:I,s:n,s:s,s:O,s:s,s:O}", "state", state_name, "n", impl->refcount(), "r",
                       Py_REFCNT(o) - 1, "tag", tag_name.c_str(), "owns", owns ? Py_True : Py_False, "cdata",
                       cdata, "hermetic", self->is_hermetic ? Py_True : Py_False);
}

PyMethodDef module_methods[] = {
    {"empty", &empty, METH_VARARGS, "empty(numel=1): a new tensor, wrapped"},
    {"inspect", &inspect, METH_O, "inspect(t): state, n, r, tag, owns, cdata, hermetic"},
    {"is_hermetic", &is_hermetic, METH_NOARGS, "whether this thread is in hermetic mode"},
    {nullptr, nullptr, 0, nullptr}};

int exec_module(::PyObject* module) {
  ::PyObject* type = PyType_FromModuleAndSpec(module, &tensor_spec, nullptr);
  if (type == nullptr) return -1;
  if (PyModule_AddObjectRef(module, "Tensor", type) < 0) {
    Py_DECREF(type);
    return -1;
  }
  ::PyObject* hermetic = PyType_FromModuleAndSpec(module, &hermetic_spec, nullptr);
  if (hermetic == nullptr) return -1;
  const int added = PyModule_AddObjectRef(module, "hermetic", hermetic);
  Py_DECREF(hermetic);
  if (added < 0) return -1;
  auto* state = static_cast<ModuleState*>(PyModule_GetState(module));
  // The interpreter's name, as the tag reports it: the main one, or a subinterpreter.
  const std::string name = PyInterpreterState_Get() == PyInterpreterState_Main()
                               ? std::string("CPython main")
                               : "CPython subinterpreter " + std::to_string(PyInterpreterState_GetID(PyInterpreterState_Get()));
  state->torch = new TensorModule(reinterpret_cast<PyTypeObject*>(type), name);
  Py_DECREF(type);  // the module holds it
  return 0;
}

void free_module(void* module) {
  auto* state = static_cast<ModuleState*>(PyModule_GetState(static_cast<::PyObject*>(module)));
  if (state != nullptr && state->torch != nullptr) state->torch->disarm();
}

PyModuleDef_Slot module_slots[] = {{Py_mod_exec, reinterpret_cast<void*>(&exec_module)}, {0, nullptr}};

PyModuleDef& module_def() {
  static PyModuleDef def = {PyModuleDef_HEAD_INIT,
                            "revive",
                            "PyTorch's PyObject preservation (era E2) on the real CPython",
                            sizeof(ModuleState),
                            module_methods,
                            module_slots,
                            nullptr,
                            nullptr,
                            &free_module};
  return def;
}

}  // namespace

TensorModule& TensorModule::of(PyTypeObject* type) {
  ::PyObject* module = PyType_GetModuleByDef(type, &module_def());
  return *static_cast<ModuleState*>(PyModule_GetState(module))->torch;
}

void TensorModule::disarm() noexcept {
  pyinterpreter_->disarm();
  (void)pyinterpreter_.release();  // See Note [Disarming a dead interpreter]
  (void)vtable_.release();
}

}  // namespace revive::cpython

PyMODINIT_FUNC PyInit_revive() { return PyModuleDef_Init(&revive::cpython::module_def()); }
