// The `revive` extension module on the real CPython 3.11: Tensor, UntypedStorage,
// empty(), tensor(s), hermetic(), inspect().
// Multi-phase initialisation (PEP 489), so each interpreter that imports it gets its
// own Tensor type and its own PyInterpreter tag.
//
//   >>> import revive
//   >>> t = revive.empty(2); t.foo = "kept"; holder = revive.empty(1)
//   >>> holder.grad = t; i = id(t); del t       # C++ now owns the wrapper (Z)
//   >>> holder.grad.foo, id(holder.grad) == i    # ('kept', True): resurrected, same object
#include "revive/cpython/module.h"
#include "revive/cpython/python_variable.h"

#include "revive/pyslot/hermetic_tls.h"
#include "revive/tensor/death_watch.h"

#include <structmember.h>

#include <cstddef>
#include <cstdlib>
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

// A wrapper's C++ object, or false with RuntimeError for a stubbed wrapper (or one whose
// C++ object is dying: a finalizer during T6): PyTorch's text for a method's undefined
// `self` or a null storage (the same words as binding/'s, tensor/wrapper_texts.h), or,
// for the module's own entry points, one naming `what`.
template <class H>
bool unpack_defined(Torch& torch, PyObject* self, H& out, const char* what) {
  if (!guarded([&] {
        out = torch.unpack<H>(self);
        return true;
      }, false)) {
    return false;
  }
  if (out.defined()) return true;
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
  return guarded([&]() -> PyObject* {
    Tensor t;
    if (data == nullptr) {
      t = Tensor::empty(1);
    } else if (torch.is_wrapper<Tensor>(data)) {
      Tensor source;
      if (!unpack_defined(torch, data, source, "Tensor")) return nullptr;
      t = Tensor::from_storage(source.storage(), 1);
    } else {
      const Py_ssize_t numel = PyLong_AsSsize_t(data);
      if (numel == -1 && PyErr_Occurred() != nullptr) return nullptr;
      t = Tensor::empty(numel);
    }
    return torch.new_wrapper(cls, t, impl::PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  });
}

// t.grad: held in C++ (TensorImpl::grad), so assigning a tensor here makes C++ co-own it.
PyObject* get_grad(PyObject* self, void*) {
  Torch& torch = Torch::of_wrapper<Tensor>(self);
  Tensor t;
  if (!unpack_defined(torch, self, t, nullptr)) return nullptr;
  return guarded([&] { return torch.wrap(t.grad()); });
}

int set_grad(PyObject* self, PyObject* value, void*) {
  Torch& torch = Torch::of_wrapper<Tensor>(self);
  Tensor t;
  if (!unpack_defined(torch, self, t, nullptr)) return -1;
  if (value != nullptr && value != Py_None && !torch.is_wrapper<Tensor>(value)) {
    PyErr_Format(PyExc_TypeError, "grad: expected Tensor but got %s", Py_TYPE(value)->tp_name);
    return -1;
  }
  // set_grad refuses a tensor as its own grad; the old grad's release may run Python.
  return guarded(
      [&] {
        t.set_grad(value == nullptr || value == Py_None ? Tensor() : torch.unpack<Tensor>(value));
        return 0;
      },
      -1);
}

// t._fix_weakref() / s._fix_weakref(): wrap, then drop.  See Note [The weakref hole].
template <class H>
PyObject* fix_weakref(PyObject* self, PyObject*) {
  Torch& torch = Torch::of_wrapper<H>(self);
  return guarded([&]() -> PyObject* {
    PyObject* again = torch.wrap(torch.unpack<H>(self));
    if (again == nullptr) return nullptr;
    Py_DECREF(again);
    Py_RETURN_NONE;
  });
}

// t.sigmoid(): a small operator, enough to show that a stubbed wrapper's tensor is gone.
PyObject* sigmoid(PyObject* self, PyObject*) {
  Torch& torch = Torch::of_wrapper<Tensor>(self);
  Tensor t;
  if (!unpack_defined(torch, self, t, nullptr)) return nullptr;
  return guarded([&] { return torch.wrap(Tensor::empty(1)); });
}

// t.untyped_storage(): the tensor's storage, wrapped (preserved like the tensor).
PyObject* untyped_storage(PyObject* self, PyObject*) {
  Torch& torch = Torch::of_wrapper<Tensor>(self);
  Tensor t;
  if (!unpack_defined(torch, self, t, nullptr)) return nullptr;
  return guarded([&] { return torch.wrap(t.storage()); });
}

// Every Python subclass gets the wrapper's own dealloc, traverse and clear, before any
// instance exists (PyTorch's metaclass does the same in its __init__).
template <class H>
PyObject* init_subclass(PyObject* cls, PyObject*, PyObject*) {
  Torch::install_slots<H>(reinterpret_cast<PyTypeObject*>(cls));
  Py_RETURN_NONE;
}

template <class H>
PyMemberDef wrapper_members[] = {
    {"__dictoffset__", T_PYSSIZET, offsetof(WrapperObject<H>, dict), READONLY, nullptr},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(WrapperObject<H>, weakreflist), READONLY, nullptr},
    {nullptr, 0, 0, 0, nullptr}};

template <class H>
PyCFunction init_subclass_function() {
  return reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&init_subclass<H>));
}

PyGetSetDef tensor_getset[] = {
    {"grad", &get_grad, &set_grad, "the gradient, held by the C++ tensor", nullptr},
    {"__dict__", &PyObject_GenericGetDict, &PyObject_GenericSetDict, nullptr, nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyMethodDef tensor_methods[] = {
    {"_fix_weakref", &fix_weakref<Tensor>, METH_NOARGS, "wrap again, then drop: closes the weakref hole"},
    {"sigmoid", &sigmoid, METH_NOARGS, "a new tensor (raises on a stubbed wrapper)"},
    {"untyped_storage", &untyped_storage, METH_NOARGS, "the tensor's storage"},
    {"__init_subclass__", init_subclass_function<Tensor>(), METH_VARARGS | METH_KEYWORDS | METH_CLASS, nullptr},
    {nullptr, nullptr, 0, nullptr}};

// The type slots both wrapper types share, around what differs: how a new instance is
// made, its attributes and methods, its docstring.
template <class H>
PyType_Spec wrapper_spec(const char* name, newfunc make, PyGetSetDef* getset, PyMethodDef* methods, const char* doc) {
  static PyType_Slot slots[] = {
      {Py_tp_new, reinterpret_cast<void*>(make)},
      {Py_tp_dealloc, reinterpret_cast<void*>(&Torch::dealloc<H>)},
      {Py_tp_traverse, reinterpret_cast<void*>(&Torch::traverse<H>)},
      {Py_tp_clear, reinterpret_cast<void*>(&Torch::clear<H>)},
      {Py_tp_members, wrapper_members<H>},
      {Py_tp_getset, getset},
      {Py_tp_methods, methods},
      {Py_tp_doc, const_cast<char*>(doc)},
      {0, nullptr}};
  return PyType_Spec{name, sizeof(WrapperObject<H>), 0, Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
                     slots};
}

PyType_Spec tensor_spec = wrapper_spec<Tensor>(
    "revive.Tensor", &tensor_new, tensor_getset, tensor_methods,
    "A C++ tensor's Python wrapper, preserved by resurrection (era E2).");

// ---- UntypedStorage -------------------------------------------------------------------

// UntypedStorage.__new__(cls, nbytes=0): a fresh C++ storage, wrapped by an instance of cls.
PyObject* storage_new(PyTypeObject* cls, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"nbytes", nullptr};
  Py_ssize_t nbytes = 0;
  if (PyArg_ParseTupleAndKeywords(args, kwargs, "|n:UntypedStorage", const_cast<char**>(keywords), &nbytes) == 0) {
    return nullptr;
  }
  if (nbytes < 0) {
    PyErr_SetString(PyExc_ValueError, "UntypedStorage(): nbytes must not be negative");
    return nullptr;
  }
  Torch& torch = Torch::of(cls);
  return guarded([&] {
    return torch.new_wrapper(cls, Storage::create(static_cast<std::size_t>(nbytes)),
                             impl::PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  });
}

PyObject* storage_nbytes(PyObject* self, PyObject*) {
  Storage s;
  if (!unpack_defined(Torch::of_wrapper<Storage>(self), self, s, "nbytes")) return nullptr;
  return PyLong_FromSize_t(s.nbytes());
}

PyGetSetDef storage_getset[] = {
    {"__dict__", &PyObject_GenericGetDict, &PyObject_GenericSetDict, nullptr, nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyMethodDef storage_methods[] = {
    {"_fix_weakref", &fix_weakref<Storage>, METH_NOARGS, "wrap again, then drop: closes the weakref hole"},
    {"nbytes", &storage_nbytes, METH_NOARGS, "the storage's size in bytes"},
    {"__init_subclass__", init_subclass_function<Storage>(), METH_VARARGS | METH_KEYWORDS | METH_CLASS, nullptr},
    {nullptr, nullptr, 0, nullptr}};

PyType_Spec storage_spec = wrapper_spec<Storage>(
    "revive.UntypedStorage", &storage_new, storage_getset, storage_methods,
    "A C++ storage's Python wrapper, preserved by resurrection (era E2).");

// revive.hermetic(): `with revive.hermetic(): ...` wraps without tagging or recording
// (PyTorch: EnableHermeticPyObject).  See Note [Hermetic PyObject mode].  Each object
// restores, on __exit__, the state its __enter__ found, on the same thread.
struct HermeticObject {
  PyObject_HEAD
  bool entered;
  bool old;
  unsigned long thread;  // the thread that entered: the mode is that thread's
};

PyObject* hermetic_enter(PyObject* self, PyObject*) {
  auto* h = reinterpret_cast<HermeticObject*>(self);
  if (h->entered) {
    PyErr_SetString(PyExc_RuntimeError, "hermetic(): this context manager is already in use");
    return nullptr;
  }
  h->entered = true;
  h->thread = PyThread_get_thread_ident();
  h->old = impl::HermeticPyObjectTLS::get_state();
  impl::HermeticPyObjectTLS::set_state(true);
  Py_RETURN_NONE;
}

PyObject* hermetic_exit(PyObject* self, PyObject*) {
  auto* h = reinterpret_cast<HermeticObject*>(self);
  if (h->entered && h->thread != PyThread_get_thread_ident()) {
    // Hermetic mode is thread-local: leaving it here would change this thread's mode
    // and leave the entering thread's on.
    PyErr_SetString(PyExc_RuntimeError, "hermetic(): left on another thread than the one that entered it");
    return nullptr;
  }
  if (h->entered) impl::HermeticPyObjectTLS::set_state(h->old);
  h->entered = false;
  Py_RETURN_FALSE;  // exceptions propagate
}

void hermetic_dealloc(PyObject* self) {
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
// revive.era(): "E2" (resurrection) or "E4" (the has-PyObject bit), as REVIVE_ERA chose
// when this interpreter imported the module.
PyObject* era(PyObject* module, PyObject*) { return PyUnicode_FromString(torch_of(module).e4 ? "E4" : "E2"); }

PyObject* is_hermetic(PyObject*, PyObject*) {
  return PyBool_FromLong(impl::HermeticPyObjectTLS::get_state() ? 1 : 0);
}

// revive.empty(numel=1), and revive.randn, the same (test_torch.py's tests use both).
PyObject* empty(PyObject* module, PyObject* args) {
  Py_ssize_t numel = 1;
  if (PyArg_ParseTuple(args, "|n:empty", &numel) == 0) return nullptr;
  return guarded([&] { return torch_of(module).wrap(Tensor::empty(numel)); });
}

// revive.tensor(s): a new tensor viewing storage s (torch.tensor(s) in test_torch.py).
PyObject* tensor_from_storage(PyObject* module, PyObject* s) {
  Torch& torch = torch_of(module);
  if (!torch.is_wrapper<Storage>(s)) {
    PyErr_Format(PyExc_TypeError, "tensor(): expected UntypedStorage but got %s", Py_TYPE(s)->tp_name);
    return nullptr;
  }
  Storage storage;
  if (!unpack_defined(torch, s, storage, "tensor")) return nullptr;
  return guarded([&] { return torch.wrap(Tensor::from_storage(storage, 1)); });
}

// revive.inspect(x): the fields the C++ side's pictures show (pictures/inspect.h), read
// off x's C++ object and slot.  r counts x's references besides the call's own argument.
template <class H>
PyObject* inspect_wrapper(Torch& torch, PyObject* o) {
  WrapperObject<H>* self = reinterpret_cast<WrapperObject<H>*>(o);
  const char* cdata = !self->cdata.defined() ? "undefined" : self->cdata.unsafeIsBorrowed() ? "borrowed" : "owned";
  auto* target = self->cdata.get();
  if (target == nullptr) {
    return Py_BuildValue("{s:s,s:n,s:s}", "cdata", cdata, "r", Py_REFCNT(o) - 1, "state", "stubbed");
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
    state_name = in_slot == nullptr ? "T0" : owns ? "Z" : "L";
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
std::map<std::string, Held>::iterator find_held(PyObject* name) {
  const char* key = PyUnicode_AsUTF8(name);
  if (key == nullptr) return cpp_held().end();
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
    Tensor t;
    if (!unpack_defined(torch, x, t, "hold")) return nullptr;
    value = std::move(t);
  } else if (torch.is_wrapper<Storage>(x)) {
    Storage s;
    if (!unpack_defined(torch, x, s, "hold")) return nullptr;
    value = std::move(s);
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
  const auto it = find_held(name);
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
        if (!PyType_IsSubtype(type, torch.python_type<H>())) {
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
  const auto it = find_held(name);
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
    const auto it = find_held(x);
    if (it == cpp_held().end()) return nullptr;
    std::visit([](const auto& h) { watch_handle(h); }, it->second);
    Py_RETURN_NONE;
  }
  if (torch.is_wrapper<Tensor>(x)) {
    Tensor t;
    if (!unpack_defined(torch, x, t, "watch")) return nullptr;
    watch_handle(t);
  } else if (torch.is_wrapper<Storage>(x)) {
    Storage s;
    if (!unpack_defined(torch, x, s, "watch")) return nullptr;
    watch_handle(s);
  } else {
    PyErr_Format(PyExc_TypeError, "watch(): expected Tensor, UntypedStorage or a name C++ holds, got %s",
                 Py_TYPE(x)->tp_name);
    return nullptr;
  }
  Py_RETURN_NONE;
}

// revive.watched(): the watched object's row, as the tour prints it: state (U, T0, L, Z,
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
    return Py_BuildValue("{s:s,s:I,s:s,s:O}", "state", "T0", "n", n, "tag", tag_name.c_str(), "owns",
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
  for (auto [value, flag] : {std::pair{bug_75932, &torch.issue_75932}, std::pair{bug_136358, &torch.issue_136358}}) {
    if (value == Py_None) continue;
    const int on = PyObject_IsTrue(value);
    if (on < 0) return nullptr;
    *flag = on != 0;
  }
  return Py_BuildValue("{s:O,s:O}", "issue_75932", torch.issue_75932 ? Py_True : Py_False, "issue_136358",
                       torch.issue_136358 ? Py_True : Py_False);
}

// revive.release_on_thread(name): as release(name), but from a new C++ thread that holds
// no GIL, while this one waits with the GIL released: a zombie's interpreter must then
// be entered from scratch (PyGILState for main, a new thread state for a subinterpreter).
PyObject* release_on_thread(PyObject*, PyObject* name) {
  const auto it = find_held(name);
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
    {"release_on_thread", &release_on_thread, METH_O,
     "release_on_thread(name): C++ lets go of it on another thread, without the GIL"},
    {"_gc_bugs", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&gc_bugs)), METH_VARARGS | METH_KEYWORDS,
     "_gc_bugs(issue_75932=None, issue_136358=None): PyTorch's old collector bugs, on or off"},
    {"hold", &hold, METH_VARARGS, "hold(name, x): C++ takes a reference to x's tensor or storage"},
    {"held", &held, METH_VARARGS, "held(name, cls=None): what C++ holds under name, wrapped here (by a new cls)"},
    {"release", &release, METH_O, "release(name): C++ lets go of it"},
    {"cpp_empty", &cpp_empty, METH_VARARGS, "cpp_empty(name, numel=1): C++ makes a tensor and holds it, unwrapped"},
    {"watch", &watch, METH_O, "watch(x or name): follow one tensor or storage, without a reference"},
    {"watched", &watched, METH_NOARGS, "watched(): the watched object's state, n, r, tag, owns, cdata"},
    {"empty", &empty, METH_VARARGS, "empty(numel=1): a new tensor, wrapped"},
    {"randn", &empty, METH_VARARGS, "randn(numel=1): the same as empty (no values are modelled)"},
    {"tensor", &tensor_from_storage, METH_O, "tensor(s): a new tensor viewing storage s"},
    {"inspect", &inspect, METH_O, "inspect(x): state, n, r, tag, owns, cdata, hermetic, recorded, serial"},
    {"is_hermetic", &is_hermetic, METH_NOARGS, "whether this thread is in hermetic mode"},
    {"era", &era, METH_NOARGS, "era(): 'E2' (resurrection) or 'E4' (the has-PyObject bit), from REVIVE_ERA"},
    {nullptr, nullptr, 0, nullptr}};

// Adds a type made from `spec` to the module as `name`; the new type, or null.
PyTypeObject* add_type(PyObject* module, PyType_Spec* spec, const char* name) {
  PyObject* type = PyType_FromModuleAndSpec(module, spec, nullptr);
  if (type == nullptr) return nullptr;
  const int added = PyModule_AddObjectRef(module, name, type);
  Py_DECREF(type);  // the module holds it
  return added < 0 ? nullptr : reinterpret_cast<PyTypeObject*>(type);
}

// Registered with the interpreter's atexit: it runs when that interpreter ends
// (Py_EndInterpreter for a subinterpreter), even while its zombies keep the module
// alive, so the tag's vtable is disarmed before anything could call into a dead
// interpreter.
PyObject* disarm_at_exit(PyObject* module, PyObject*) {
  torch_of(module).disarm();
  Py_RETURN_NONE;
}
PyMethodDef disarm_at_exit_def = {"_disarm", &disarm_at_exit, METH_NOARGS, nullptr};

int register_disarm(PyObject* module) {
  PyObject* callback = PyCFunction_NewEx(&disarm_at_exit_def, module, nullptr);
  if (callback == nullptr) return -1;
  PyObject* atexit = PyImport_ImportModule("atexit");
  PyObject* done = atexit == nullptr ? nullptr : PyObject_CallMethod(atexit, "register", "O", callback);
  Py_XDECREF(atexit);
  Py_DECREF(callback);
  if (done == nullptr) return -1;
  Py_DECREF(done);
  return 0;
}

int exec_module(PyObject* module) {
  PyTypeObject* tensor_type = add_type(module, &tensor_spec, "Tensor");
  PyTypeObject* storage_type = tensor_type == nullptr ? nullptr : add_type(module, &storage_spec, "UntypedStorage");
  if (storage_type == nullptr || add_type(module, &hermetic_spec, "hermetic") == nullptr) return -1;
  // The interpreter's name, as the tag reports it: the main one, or a subinterpreter.
  PyInterpreterState* me = PyInterpreterState_Get();
  const std::string name = me == PyInterpreterState_Main()
                               ? std::string("CPython main")
                               : "CPython subinterpreter " + std::to_string(PyInterpreterState_GetID(me));
  auto* torch = new Torch(tensor_type, storage_type, me, name);
  // The era, for every wrapper this interpreter will make: REVIVE_ERA=E4 or E2 (default).
  const char* era = std::getenv("REVIVE_ERA");
  torch->e4 = era != nullptr && (std::string_view(era) == "E4" || std::string_view(era) == "e4");
  static_cast<ModuleState*>(PyModule_GetState(module))->torch = torch;
  return register_disarm(module);
}

void free_module(void* module) {
  auto* state = static_cast<ModuleState*>(PyModule_GetState(static_cast<PyObject*>(module)));
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

Torch& Torch::of(PyTypeObject* type) {
  PyObject* module = PyType_GetModuleByDef(type, &module_def());
  return *static_cast<ModuleState*>(PyModule_GetState(module))->torch;
}

}  // namespace revive::cpython

PyMODINIT_FUNC PyInit_revive() { return PyModuleDef_Init(&revive::cpython::module_def()); }
