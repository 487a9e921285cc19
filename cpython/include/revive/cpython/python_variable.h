// python_variable.h: revive's wrappers on the real CPython, the twin of binding/'s
// Torch (binding/include/revive/binding/python_variable.h), for Tensor and Storage.
//
// Defines:
//   WrapperObject<H>  the C struct of a `revive._C.TensorBase` (H = Tensor, THPVariable)
//                     or a `revive._C.StorageBase` (H = Storage, THPStorage) instance, or
//                     a `revive._C.NodeBase` one (H = autograd::NodeHandle, a preserved
//                     grad_fn): cdata, the weakref list, whether hermetic mode made it,
//                     and a tensor's two hook fields.  The
//                     __dict__ is the Python subclass's (revive.Tensor, a class made over
//                     the C base as torch.Tensor is over torch._C.TensorBase).
//   Kind<H>           what differs between them, as binding/'s Preserved<H> says it.
//   CppFunctionObject a grad_fn's Python object when the interpreter caches them
//                     (THPCppFunction; Note [Two ways to give a grad_fn a Python object]
//                     in binding/include/revive/binding/torch.h).
//   CPythonVTable     the PyInterpreter vtable C++ calls back through (decref, names).
//   Torch             one interpreter's state: its PyInterpreter (the slots' tag), the two
//                     C base types and the two Python classes over them, and the
//                     protocol: wrap, unpack, dealloc with resurrection, traverse and
//                     clear, installed into every subclass (by __init_subclass__, or at
//                     its first instance if that never ran).
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cstdint>
#include <string>
#include <utility>

#include <map>

#include "revive/pyslot/py_interpreter.h"
#include "revive/tensor/autograd.h"
#include "revive/tensor/maybe_owned.h"
#include "revive/tensor/storage_impl.h"
#include "revive/tensor/tensor_impl.h"
#include "revive/tensor/wrapper_texts.h"

namespace revive::cpython {

// CPython's object.  pyslot/ declares an opaque revive::PyObject, which unqualified
// names in namespace revive would find; CPython's macros (PyObject_HEAD, Py_TYPE,
// PyObject_TypeCheck) name PyObject unqualified, so here it means CPython's, and the
// slot's opaque type is spelled revive::PyObject.  See Note [Real CPython under the same slot].
using PyObject = ::PyObject;

class Torch;

template <class H>
struct WrapperObject {
  PyObject_HEAD
  // Owned in L, borrowed in Z, undefined once stubbed: Note [PyObject preservation].
  MaybeOwned<H> cdata;
  // The interpreter's state, kept here rather than found through the type: the
  // collector may clear a heap type (its MRO and module) before the instances it still
  // has to free, so the type cannot lead back to the module then.  Never freed.
  Torch* torch;
  // No __dict__ here: as torch._C.TensorBase has none, the Python class over it
  // (revive.Tensor) adds one, a managed dict in 3.11, reached through
  // _PyObject_GetDictPtr.
  PyObject* weakreflist;  // tp_weaklistoffset points here
  bool is_hermetic;       // made in hermetic mode: never recorded, never preserved
  // Process-wide, never reused (an address is, once the wrapper is freed): what tells
  // two wrappers apart, for revive.inspect and the fake-against-real comparison.
  std::uint64_t serial;
  // THPVariable's backward_hooks and post_accumulate_grad_hooks (a tensor's only; the
  // tensor's autograd meta holds the same objects again).  Owned references or null.
  PyObject* backward_hooks;
  PyObject* post_accumulate_grad_hooks;
};

// THPCppFunction: a grad_fn's Python object under the cache (the default), owning its
// node, which records it without owning it (Node::cached_pyobj).  Its class is one per
// node kind ("PowBackward0"), made over revive._C.CppFunction.
struct CppFunctionObject {
  PyObject_HEAD
  autograd::NodeHandle cdata;  // cleared by the collector's clear
  Torch* torch;
  PyObject* dict;         // __dict__ (tp_dictoffset)
  PyObject* weakreflist;  // tp_weaklistoffset
};

// The RuntimeError for a tensor class over TensorBase that is not a Tensor class
// (THPVariableMetaType_init's check): __init_subclass__ and new_wrapper both raise it.
inline constexpr const char* kCannotSubclassTensorBase = "Cannot subclass TensorBase directly; subclass revive.Tensor";

template <class H>
struct Kind;
template <>
struct Kind<Tensor> {
  static constexpr const char* python_name = "Tensor";
  static constexpr const char* error_name = "Tensor";  // the word PyTorch's error texts use
  // Tensors follow the thread's hermetic state at their death (isResurrectable).
  static constexpr bool remembers_hermetic = false;
  static constexpr const char* weakref_hole_warning = texts::kTensorWeakrefHoleWarning;
};
template <>
struct Kind<Storage> {
  static constexpr const char* python_name = "UntypedStorage";
  static constexpr const char* error_name = "Storage";
  // A storage wrapper remembers whether hermetic mode made it, and only that counts
  // (THPStorage_isPreservable; test_storage_preserve_nonhermetic_in_hermetic_context).
  static constexpr bool remembers_hermetic = true;
  static constexpr const char* weakref_hole_warning = texts::kStorageWeakrefHoleWarning;
};
template <>
struct Kind<autograd::NodeHandle> {
  static constexpr const char* python_name = "Node";
  static constexpr const char* error_name = "Node";
  static constexpr bool remembers_hermetic = false;
  static constexpr const char* weakref_hole_warning = texts::kNodeWeakrefHoleWarning;
};

// Note [Who holds the GIL on CPython 3.11]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Not a PyTorch rule (pybind11's gil_scoped_acquire asks PyGILState, which knows only
// the main interpreter).  The vtable is called from C++ (a release, E4's 1 <-> 2) by a
// thread that either holds the GIL, with a thread state of any interpreter current, or
// holds nothing.  3.11 cannot tell the two apart for us: _PyThreadState_UncheckedGet
// answers with the GIL holder's thread state, whichever thread that is, and a thread
// state's thread_id names the thread that made it, which _xxsubinterpreters does not
// keep (it runs a subinterpreter's code on any thread with its creator's thread state).
// So the rule is: a C++ thread that calls in without the GIL says so for as long as it
// runs (ThreadWithoutGil); every other caller holds the GIL.  When the vtable then
// enters an interpreter on such a thread, what runs there (a finalizer wrapping a
// tensor, which calls the vtable again) holds the GIL (ThreadWithoutGil::TookGil).
// The witness of proof/ runs its C++ ops with no thread state at all, which answers
// null, and needs no mark.

// Marks, for its lifetime, the calling thread as one that holds no GIL and no thread
// state.  See Note [Who holds the GIL on CPython 3.11].
class ThreadWithoutGil {
 public:
  ThreadWithoutGil() noexcept { ++depth(); }
  ~ThreadWithoutGil() { --depth(); }
  ThreadWithoutGil(const ThreadWithoutGil&) = delete;
  ThreadWithoutGil& operator=(const ThreadWithoutGil&) = delete;
  [[nodiscard]] static bool here() noexcept { return depth() > 0; }

  // Within: this thread took the GIL after all (the vtable entered an interpreter), so
  // what runs there (a finalizer wrapping a tensor) holds it.
  class TookGil {
   public:
    TookGil() noexcept : saved_(std::exchange(depth(), 0)) {}
    ~TookGil() { depth() = saved_; }
    TookGil(const TookGil&) = delete;
    TookGil& operator=(const TookGil&) = delete;

   private:
    int saved_;
  };

 private:
  static int& depth() noexcept {
    thread_local int d = 0;
    return d;
  }
};

// Every entry may come from any thread, holding the GIL with a thread state of any
// interpreter, or holding nothing and marked so (See Note [Who holds the GIL on CPython
// 3.11]): each runs in this vtable's own interpreter (run_here: 3.11's interpreters
// share one GIL, and PyGILState knows only the main interpreter, so it makes a thread
// state of its own when it must).
class CPythonVTable final : public impl::PyInterpreterVTable {
 public:
  CPythonVTable(const Torch* torch, PyInterpreterState* interp, std::string name)
      : torch_(torch), interp_(interp), name_(std::move(name)) {}
  std::string name() const override;
  void decref(revive::PyObject* pyobj, bool has_pyobj_slot) const override;
  void incref(revive::PyObject* pyobj) const override;
  bool try_incref(const impl::PyObjectSlot& slot) const override;
  std::string type_name(const revive::PyObject* pyobj) const override;

 private:
  void decref_here(PyObject* o, bool has_pyobj_slot) const;
  template <class F>
  bool run_here(F&& f) const;

  const Torch* torch_;  // leaked with the vtable: See Note [Disarming a dead interpreter]
  PyInterpreterState* interp_;
  std::string name_;
};

class Torch {
 public:
  // The C base types (revive._C.TensorBase, StorageBase); the Python classes over them
  // come later (set_classes), made by the module as Python subclasses of these.
  Torch(PyTypeObject* tensor_base, PyTypeObject* storage_base, PyInterpreterState* interp, std::string name);
  // revive.Tensor and revive.UntypedStorage, the classes wrap() makes instances of
  // (THPVariableClass, THPStorageClass).  Once, when the module first runs here.
  void set_classes(PyTypeObject* tensor_class, PyTypeObject* storage_class) noexcept;

  // The module of the interpreter that made `type` (one of the two, or a subclass),
  // for code that has a live type in hand (tp_new, a class being made).
  static Torch& of(PyTypeObject* type);
  // The state of the interpreter that made wrapper `o` (read off the wrapper).
  template <class H>
  static Torch& of_wrapper(PyObject* o) noexcept {
    return *reinterpret_cast<WrapperObject<H>*>(o)->torch;
  }

  // The class of the wrappers wrap() makes: revive.Tensor, revive.UntypedStorage (null
  // until set_classes).
  template <class H>
  [[nodiscard]] PyTypeObject* python_type() const noexcept;
  // The C base every wrapper's type derives from: revive._C.TensorBase, StorageBase.
  template <class H>
  [[nodiscard]] PyTypeObject* base_type() const noexcept;
  template <class H>
  [[nodiscard]] bool is_wrapper(PyObject* o) const noexcept {
    return base_type<H>() != nullptr && PyObject_TypeCheck(o, base_type<H>());
  }

  // THPVariable_Wrap / THPStorage_Wrap: a new reference, or null with an exception set.
  template <class H>
  PyObject* wrap(const H& handle) { return wrap_handle<H>(handle, nullptr); }
  // The same for a handle the caller gives up (THPVariable_Wrap(TensorBase&&)): a new
  // wrapper takes it over instead of a copy, so a fresh object stays uniquely owned and
  // E4 sets its bit with a plain store.
  template <class H>
    requires(!std::is_reference_v<H>)
  PyObject* wrap(H&& handle) {
    return wrap_handle<H>(handle, &handle);
  }
  template <class H>
  PyObject* new_wrapper(PyTypeObject* type, H handle, impl::PyInterpreterStatus status);
  template <class H>
  H unpack(PyObject* o) const;

  [[nodiscard]] impl::PyInterpreter* pyinterpreter() const noexcept { return pyinterpreter_; }
  // Wrappers of this interpreter not yet freed (zombies and stubbed ones included).
  [[nodiscard]] std::int64_t live_wrappers() const noexcept { return live_wrappers_; }

  // Switches that bring back two of PyTorch's collector bugs, as binding/'s GcBugs do
  // (revive._gc_bugs() in Python):
  //   issue_75932   the wrapper's clear does not ask whether the wrapper is
  //                 resurrectable (fixed by #75933, 2022);
  //   issue_136358  the Python classes keep CPython's subtype_clear, which wipes their
  //                 __dict__ and __slots__ before the wrapper's own clear can refuse
  //                 (fixed by #137267, 2024): revive.Tensor and revive.UntypedStorage
  //                 from when it is switched on (set_issue_136358), and subclasses made
  //                 while it is on.
  // (The exercises switch them on too, where they are read: revive/pyslot/exercise.h.)
  bool issue_75932 = false;
  bool issue_136358 = false;
  void set_issue_136358(bool on) noexcept;
  // Era E4 (PyTorch #167564; Note [Era E4 in the binding] in binding/): no resurrection;
  // a wrapper sets its target's has-PyObject bit and C++ holds it while it shares the
  // target.  Chosen when the module is imported (REVIVE_ERA=E4), before any wrapper.
  bool e4 = false;
  // How grad_fns get their Python objects here: Note [Two ways to give a grad_fn a
  // Python object] (binding/torch.h).  Chosen at the first import (REVIVE_GRAD_FN=cache,
  // the default, or preserved), before any grad_fn object.
  bool grad_fn_preserved = false;
  // The classes: revive._C.CppFunction (cache), or NodeBase and revive.Node over it
  // (preserved: set_node_classes); and one subclass per node kind, made on first use.
  PyTypeObject* cpp_function_base = nullptr;
  void set_node_classes(PyTypeObject* base, PyTypeObject* python_class) noexcept {
    node_base_ = base;
    node_class_ = python_class;
  }
  // `t.grad_fn`: a new reference to the node's object (made if needed), None for an
  // undefined handle, or null with an exception set.
  PyObject* grad_fn_object(const autograd::NodeHandle& node);
  // Whether `o` is a grad_fn object of this interpreter; its node (undefined, with
  // RuntimeError set, if the collector cleared it or the weakref hole stubbed it).
  [[nodiscard]] bool is_grad_fn(PyObject* o) const noexcept;
  autograd::NodeHandle unpack_node(PyObject* o) const;
  // The cache's type slots.
  static void cpp_function_dealloc(PyObject* o) noexcept;
  static int cpp_function_traverse(PyObject* o, visitproc visit, void* arg);
  static int cpp_function_clear(PyObject* o);
  // revive.hermetic, the module's third type, kept with the other two for every module
  // object of this interpreter: See Note [One Torch per interpreter] (module.cpp).
  PyTypeObject* hermetic_type = nullptr;
  // The interpreter is ending (CPython clears its dict, after its modules are
  // finalized): See Note [Disarming a dead interpreter] and Note [One Torch per
  // interpreter] (module.cpp).  Idempotent.
  void disarm() noexcept;

  // The type slots of both types and of every subclass.
  template <class H>
  static void dealloc(PyObject* o) noexcept;
  template <class H>
  static int traverse(PyObject* o, visitproc visit, void* arg);
  template <class H>
  static int clear(PyObject* o);
  template <class H>
  static void install_slots(PyTypeObject* type) noexcept;

 private:
  // wrap's body: `movable` is &handle when the caller gives the handle up, else null.
  template <class H>
  PyObject* wrap_handle(const H& handle, H* movable);

  template <class H>
  bool is_preservable(WrapperObject<H>* self) const;
  template <class H>
  void resurrect(WrapperObject<H>* self) noexcept;
  template <class H>
  void clear_cdata(WrapperObject<H>* self) noexcept;
  template <class H>
  void clear_contents(PyObject* o) noexcept;
  template <class H>
  void real_death(PyObject* o) noexcept;
  // A tensor wrapper's traverse beyond its own fields: Note [Seeing through C++ in
  // traverse] (binding/python_variable.h).
  int traverse_autograd(const MaybeOwned<Tensor>& cdata, visitproc visit, void* arg) const;
  // The node's Python object here, if any (Node::pyobj()): borrowed.
  [[nodiscard]] PyObject* grad_fn_pyobj(const autograd::Node& node) const noexcept;
  PyTypeObject* node_class(const autograd::Node& node);

  // Never freed: slots may keep the tag after the interpreter ended, and a disarmed
  // PyInterpreter must still be there to say so (Note [Disarming a dead interpreter]).
  CPythonVTable* vtable_;
  impl::PyInterpreter* pyinterpreter_;
  std::int64_t live_wrappers_ = 0;  // under the GIL
  PyTypeObject* tensor_base_;
  PyTypeObject* storage_base_;
  PyTypeObject* tensor_class_ = nullptr;
  PyTypeObject* storage_class_ = nullptr;
  PyTypeObject* node_base_ = nullptr;   // preserved grad_fns only
  PyTypeObject* node_class_ = nullptr;
  std::map<autograd::Node::Kind, PyTypeObject*> node_classes_;  // owned references
  // CPython's subtype_clear, as type() gave it to the Python classes before
  // install_slots replaced it: what issue_136358 gives back.
  inquiry subtype_clear_ = nullptr;
};

template <>
inline PyTypeObject* Torch::python_type<Tensor>() const noexcept { return tensor_class_; }
template <>
inline PyTypeObject* Torch::python_type<Storage>() const noexcept { return storage_class_; }
template <>
inline PyTypeObject* Torch::base_type<Tensor>() const noexcept { return tensor_base_; }
template <>
inline PyTypeObject* Torch::base_type<Storage>() const noexcept { return storage_base_; }
template <>
inline PyTypeObject* Torch::python_type<autograd::NodeHandle>() const noexcept { return node_class_; }
template <>
inline PyTypeObject* Torch::base_type<autograd::NodeHandle>() const noexcept { return node_base_; }

}  // namespace revive::cpython
