// torch.h: PyTorch's binding, loaded into one fake interpreter (`import torch`).
//
// Defines:
//   GcBugs        two bugs of the era's cycle-collector support, reproducible on demand.
//   PythonOpImpl  the Python function given to torch.library.
//   GradFnObjects how an interpreter gives a grad_fn its Python object: PyTorch's
//                 non-owning cache, or preserved like a tensor's wrapper.
//   CppFunctionObject  a cached grad_fn's Python object (THPCppFunction).
//   Torch         torch's state in one interpreter and its Python-level API: the
//                 PyInterpreter this interpreter tags slots with (and its vtable), the
//                 Tensor and UntypedStorage types (and the grad_fn ones), the Python
//                 operators it registered; `torch.empty`, `torch.UntypedStorage`,
//                 `_make_subclass`, `t._fix_weakref()`, `t.grad_fn`'s object.  Tensor
//                 methods (`t.grad`, ...) are free functions in tensor_methods.h.
//
// Owns: Note [Two ways to give a grad_fn a Python object].
//
// Torch is written against the runtime's interface for extension modules
// (interp/runtime.h), never its internals.  The preservation protocol itself
// (THPVariable_Wrap, the resurrection in the dealloc, the flip back, the weakref hole,
// the collector's traverse and clear) is python_variable.h, written once for every
// preserved type (preserved.h), to read next to PyTorch's
// torch/csrc/autograd/python_variable.cpp and torch/csrc/Storage.cpp; src/torch.cpp is
// the Python-level API on top of it.  Python operators (torch.library and
// PythonKernelHolder) are src/python_dispatch.cpp.
//
// A learner meets Torch through binding::Interpreter (interpreter.h): a Runtime with
// Torch loaded, so that `I->empty(2)` and `I->setattr(x, "foo", 2)` sit side by side.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "revive/binding/preserved.h"
#include "revive/binding/testing.h"
#include "revive/interp/runtime.h"
#include "revive/pyslot/py_interpreter.h"
#include "revive/pyslot/py_object_slot.h"
#include "revive/tensor/dispatcher.h"

namespace revive::binding {

using interp::PyType;
using interp::Ref;

class Interpreter;

// Bugs of the era's cycle-collector support that an interpreter can reproduce on
// purpose, to show what they broke.  Each one changes which tp_clear the binding
// installs on that interpreter's tensor and storage types.
// See Note [Cycle collection and preservation] (python_variable.h).
struct GcBugs {
  // PyTorch #75932 (fixed by #75933, 2022): a wrapper's clear did not ask whether the
  // wrapper is resurrectable, so a collection could clear a wrapper C++ still needs and
  // unhook it from its tensor.
  bool issue_75932 = false;
  // PyTorch #136358 (fixed by #137267, 2024): subclasses kept CPython's default
  // subtype_clear, which wipes __dict__ and __slots__ before the wrapper's own clear
  // gets to say "resurrectable: leave me alone".
  bool issue_136358 = false;
};

// Which design keeps an interpreter's wrappers one-to-one with their C++ objects.  Chosen
// per interpreter, so that one program can run a scenario in both.
enum class Era : std::uint8_t {
  // Resurrection (2019-2025): when Python lets go of a wrapper C++ still shares, the
  // wrapper's dealloc resurrects it and the slot owns it (a zombie) until C++ lets go.
  E2,
  // PyTorch #167564 (November 2025): the target's has-PyObject bit; while C++ shares the
  // target it holds a real reference to the wrapper, so the wrapper never dies early and
  // never needs resurrecting.  See Note [The has-PyObject bit] (tensor/intrusive_ptr.h)
  // and Note [Era E4 in the binding] (python_variable.h).  A single-interpreter design
  // in PyTorch; here an E4 interpreter still tags what it wraps, and another
  // interpreter touching it is refused as in E2.
  E4,
};
[[nodiscard]] constexpr const char* to_string(Era era) noexcept { return era == Era::E2 ? "E2" : "E4"; }

// Note [Two ways to give a grad_fn a Python object]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// PyTorch (functionToPyObject and THPCppFunction in
// torch/csrc/autograd/python_cpp_function.cpp; #179764 for the second way).  An
// autograd node (tensor/autograd.h) is a C++ object Python can hold too:
// `t.grad_fn`.  Until 2026 its Python object was a cache the node does not own:
//   - `t.grad_fn` returns the node's cached object (one more reference) or makes one,
//     which owns the node (a strong handle) and is recorded in the node as a plain
//     pointer (Node::pyobj_);
//   - when Python lets go, the object dies like any object: its dealloc clears the
//     node's pointer (THPCppFunction_clear), and the node lives on for its tensor.  The
//     next `t.grad_fn` is a new object: identity, attributes and weak references are
//     lost, while the tensor's wrapper, preserved, keeps all three;
//   - a node can outlive its object's interpreter (C++ holds the tensor) while the
//     object is abandoned with it, and later freed: so teardown makes every node forget
//     that interpreter's objects (forget_cached_grad_fns), and the refusal of another
//     interpreter's cache only compares the holder, never reads it.
// #179764 (April 2026) moved the preservation hooks onto PyObjectSlot so that other
// C++ types can use them, and prepared autograd nodes for it.  Here a node can be
// preserved exactly as a tensor is, a third preserved type of the library (Preserved<
// autograd::NodeHandle>, preserved.h): resurrection in era E2, the has-PyObject bit in E4.
// An interpreter chooses one way when it is created (GradFnObjects); the tests and
// the tour's `grad-fn` scenario run both side by side.  Which way a grad_fn's object
// is held changes which cycles the collector frees: Note [Seeing through C++ in
// traverse] (python_variable.h).
// Model simplifications: PyTorch's generated grad_fn classes have no __dict__; here
// both ways give one, so that what the cache loses is visible as an attribute.
enum class GradFnObjects : std::uint8_t {
  Cache,      // PyTorch until 2026: a non-owning cache
  Preserved,  // #179764's direction: a PyObjectSlot, like a tensor's
};
[[nodiscard]] constexpr const char* to_string(GradFnObjects g) noexcept {
  return g == GradFnObjects::Cache ? "cache" : "preserved";
}

// A Python implementation of an operator (the function given to torch.library).
using PythonOpImpl = std::function<Ref(Interpreter&, const std::vector<Ref>& args)>;

// THPCppFunction: a grad_fn's Python object under GradFnObjects::Cache.  It owns its
// node; the node records it without owning it (Node::cached_pyobj).  Not a wrapper: it
// has no WrapperOps, and nothing preserves it.  Protected by the GIL.
struct CppFunctionObject final : PyObject {
  using PyObject::PyObject;
  autograd::NodeHandle cdata;
};
// `o` as a cached grad_fn object of any interpreter (its type frees that struct), or null.
[[nodiscard]] inline CppFunctionObject* as_cpp_function(PyObject* o) noexcept {
  return o->ob_type->free == &interp::free_as<CppFunctionObject> ? static_cast<CppFunctionObject*>(o) : nullptr;
}
[[nodiscard]] inline const CppFunctionObject* as_cpp_function(const PyObject* o) noexcept {
  return as_cpp_function(const_cast<PyObject*>(o));
}

class Torch {
 public:
  Torch(const Torch&) = delete;
  friend void testing::set_resurrection_hook(Torch& torch, std::function<void()> hook);
  Torch& operator=(const Torch&) = delete;

  // The value slots are tagged with.
  [[nodiscard]] impl::PyInterpreter* pyinterpreter() noexcept { return &pyinterpreter_; }
  [[nodiscard]] const PyType* tensor_type() const noexcept { return tensor_type_; }    // torch.Tensor
  [[nodiscard]] const PyType* storage_type() const noexcept { return storage_type_; }  // torch.UntypedStorage

  // ---- preserved types (THPVariable, THPStorage, ...): python_variable.h ------------
  // Module init for a preserved type: its C base type (Preserved<H>::base_name) and the
  // Python class over it (python_name), which it returns; both, and every subclass, get
  // the wrapper's dealloc, traverse and clear.  Torch registers Tensor and Storage
  // itself; an extension (or a test) registers its own before using it.
  template <PreservedHandle H>
  const PyType* add_preserved_type();
  // The Python class registered for H (Tensor: tensor_type()).
  template <PreservedHandle H>
  [[nodiscard]] const PyType* python_type() const;
  // THPVariable_Wrap / THPStorage_Wrap: the one wrapper of `h` (None if undefined).
  template <PreservedHandle H>
  [[nodiscard]] Ref wrap(const H& h);
  // THPVariable_NewWithVar / THPStorage_NewWithStorage: a new wrapper of class `cls` (H's
  // base class or a subclass of it).  Raises if `h` already has a wrapper here.
  template <PreservedHandle H>
  [[nodiscard]] Ref new_with_var(const PyType* cls, const H& h);
  // THPVariable_Unpack: a new owning handle to the wrapper's C++ object (undefined if
  // the wrapper was stubbed).  Throws TypeError naming `what` for any other object.
  template <PreservedHandle H>
  [[nodiscard]] H unpack_as(const Ref& o, const char* what = "unpack");
  [[nodiscard]] Tensor unpack(const Ref& t) { return unpack_as<Tensor>(t, "unpack"); }
  [[nodiscard]] Storage unpack_storage(const Ref& s) { return unpack_as<Storage>(s, "unpack_storage"); }
  // `torch.empty(numel)`, or `cls(torch.empty(numel))` for a Tensor subclass.
  [[nodiscard]] Ref empty(std::int64_t numel, const PyType* cls = nullptr);
  // THPVariable_NewWithVar: wrap `t` with class `cls`.  Unlike `_make_subclass` it
  // does not detach, so it raises if `t` already has a wrapper.
  [[nodiscard]] Ref make_subclass(const PyType* cls, const Tensor& t);
  // `t.grad_fn` for a node: its Python object, made if needed, the way this interpreter
  // gives grad_fns one (Note [Two ways to give a grad_fn a Python object]).  None for
  // an undefined handle.
  [[nodiscard]] Ref grad_fn_object(const autograd::NodeHandle& node);
  [[nodiscard]] GradFnObjects grad_fn_objects() const noexcept { return grad_fn_objects_; }
  // The node of a grad_fn object of this interpreter; TypeError naming `what` for any
  // other object.
  [[nodiscard]] autograd::NodeHandle unpack_node(const Ref& g, const char* what);
  // `torch.UntypedStorage(nbytes)`, or a subclass of it.
  [[nodiscard]] Ref new_storage(std::size_t nbytes, const PyType* cls = nullptr);
  void fix_weakref(const Ref& t);                   // `t._fix_weakref()`, any preserved type
  // Tensor methods (`t.grad`, `t.untyped_storage()`, ...) are free functions in
  // tensor_methods.h, so that adding one rebuilds only what uses it.

  // ---- Python operators (torch.library), see src/python_dispatch.cpp ---------------------
  // Whether this interpreter is the trampoline's main: decided once, when torch loads
  // (PyInterpreterHolder calls registerInterpreter), so the first interpreter created
  // is main.  See Note [Python op registration trampoline].
  [[nodiscard]] bool is_main_interpreter() const noexcept { return is_main_; }
  // Define operator `name` with a Python implementation.  Every interpreter runs this;
  // main installs the dispatcher kernel and gets true (REGISTER), the others only verify
  // that the operator exists and get false (VERIFY).
  bool register_python_op(const std::string& name, PythonOpImpl impl);
  // `torch.ops.<name>(*args)`: through the C++ dispatcher, which routes the call.
  [[nodiscard]] Ref call_op(const std::string& name, const std::vector<Ref>& args);
  // `torch.ops.<name>`: the operator's Python twin, found through its PyHandleCache.
  [[nodiscard]] Ref op_object(const std::string& name);
  // How many times this interpreter took the slow path to find an operator's twin.
  [[nodiscard]] int twin_slow_lookups() const noexcept { return twin_slow_lookups_.load(); }

  // concrete_decref_fn: the slot gives its reference back (T6); in E4, C++ lets go of
  // the wrapper (n: 2 -> 1).  Reached through the vtable (src/torch.cpp); defined in
  // python_variable.h.
  void decref_from_cpp(PyObject* o, bool has_pyobj_slot) noexcept;
  // E4 only: C++ takes a reference to a wrapper (n: 1 -> 2), or tries to from a
  // weak_intrusive_ptr::lock() (false if the wrapper is being freed).
  void incref_from_cpp(PyObject* o) noexcept;
  [[nodiscard]] bool try_incref_from_cpp(const impl::PyObjectSlot& slot) noexcept;

  [[nodiscard]] Era era() const noexcept { return era_; }
  // How many times C++ code entered this interpreter (took its GIL) to take or give back
  // a reference to a wrapper: E2's T6, and E4's every 1 <-> 2 (what E4 costs instead).
  [[nodiscard]] std::int64_t gil_entries_from_cpp() const noexcept {
    return gil_entries_from_cpp_.load(std::memory_order_relaxed);
  }

 protected:
  // Loads torch into `runtime` (which must outlive it: Interpreter holds both).
  Torch(interp::Runtime& runtime, GcBugs bugs, Era era, GradFnObjects grad_fn_objects);
  ~Torch();

 private:
  class VTable;
  struct PythonOp {
    Ref twin;  // the OpOverload object; static lifetime within this interpreter
    PythonOpImpl impl;
  };

  // The Torch of the interpreter `o` belongs to (o is a binding object).
  static Torch& of(const PyObject* o) noexcept;

  // The protocol, for every preserved type H: python_variable.h.
  template <PreservedHandle H>
  void install_wrapper_slots(PyType& type) const;  // what PyTorch's metaclass installs
  template <PreservedHandle H>
  WrapperObject<H>* as_wrapper(const Ref& o, const char* what) const;  // the type check
  template <PreservedHandle H>
  Ref new_wrapper(const PyType* type, const H& handle, impl::PyInterpreterStatus status);
  template <PreservedHandle H>
  Ref rewrap_recorded(WrapperObject<H>* self, const H& handle, impl::PyObjectSlot* slot);
  impl::PyInterpreterStatus status_for_new_wrapper(impl::PyObjectSlot* slot,
                                                   std::uint32_t use_count);
  template <PreservedHandle H>
  bool is_preservable(WrapperObject<H>* self);
  template <PreservedHandle H>
  void resurrect(WrapperObject<H>* self) noexcept;
  template <PreservedHandle H>
  void release_cdata(WrapperObject<H>* self) noexcept;
  template <PreservedHandle H>
  void stub_if_borrowed(WrapperObject<H>* self) noexcept;
  template <PreservedHandle H>
  void dealloc_wrapper(WrapperObject<H>* self) noexcept;
  template <PreservedHandle H>
  static void wrapper_dealloc(PyObject* o) noexcept;
  template <PreservedHandle H>
  static void wrapper_traverse(PyObject* o, interp::VisitProc visit, void* arg);
  template <PreservedHandle H>
  static void wrapper_clear(PyObject* o) noexcept;
  template <PreservedHandle H>
  static void wrapper_clear_ignoring_preservation(PyObject* o) noexcept;  // #75932
  template <PreservedHandle H>
  void clear_wrapper_contents(WrapperObject<H>* self) noexcept;
  // A tensor wrapper's traverse, beyond its own fields: Note [Seeing through C++ in
  // traverse] (python_variable.h).
  void traverse_autograd(const MaybeOwned<Tensor>& cdata, interp::VisitProc visit, void* arg) const;
  // The node's Python object in this interpreter, if any (Node::pyobj() in PyTorch):
  // the cached one, or the one its slot records.  Borrowed.
  [[nodiscard]] PyObject* grad_fn_pyobj(const autograd::Node& node) const noexcept;
  // The Python class of a node kind ("PowBackward0"), made on first use.
  const PyType* node_class(const autograd::Node& node);
  // The cache's object (THPCppFunction): src/autograd.cpp.
  static void cpp_function_dealloc(PyObject* o) noexcept;
  static void cpp_function_clear(PyObject* o) noexcept;
  void forget_cached_grad_fns() noexcept;

  // Python operators: src/python_dispatch.cpp.
  // Run operator `op` in this interpreter (hermetic: as main for untagged inputs; not
  // hermetic: forwarded here by the trampoline).
  void run_python_op(const OperatorHandle& op, Stack* stack, bool hermetic);
  PyObject* twin_of(const OperatorHandle& op);

  // Locking, member by member: the first five are set in the constructor and only read
  // after it, from any thread, without the GIL.
  interp::Runtime& rt_;                 // the interpreter torch is loaded into
  std::unique_ptr<VTable> vtable_;      // this interpreter's PyInterpreterVTable
  impl::PyInterpreter pyinterpreter_;  // the tag; disarmed at teardown (atomically: it is
                                       // read by C++ code holding no GIL)
  const GcBugs bugs_;
  const Era era_;
  const GradFnObjects grad_fn_objects_;
  std::atomic<std::int64_t> gil_entries_from_cpp_{0};
  bool is_main_ = false;

  // Everything below is protected by the runtime's GIL.  preserved_types_ changes only
  // at module init (add_preserved_type), before the interpreter is shared.
  std::map<const WrapperOps*, const PyType*> preserved_types_;
  const PyType* tensor_type_ = nullptr;
  const PyType* storage_type_ = nullptr;
  const PyType* grad_fn_base_ = nullptr;  // CppFunction (cache) or Node (preserved)
  std::map<autograd::Node::Kind, const PyType*> node_classes_;
  // The cache's live objects: at teardown their nodes forget them (a node outlives a dead
  // interpreter, whose objects are abandoned and later freed).
  std::set<CppFunctionObject*> cpp_functions_;
  std::function<void()> resurrection_hook_;  // test machinery: testing.h
  std::map<std::string, PythonOp> python_ops_;
  std::atomic<int> twin_slow_lookups_{0};  // a counter: any thread, no GIL
};

// Tensor and Storage are instantiated once, in src/python_variable.cpp; other preserved
// types include python_variable.h.
extern template const PyType* Torch::add_preserved_type<Tensor>();
extern template const PyType* Torch::add_preserved_type<Storage>();
extern template const PyType* Torch::python_type<Tensor>() const;
extern template const PyType* Torch::python_type<Storage>() const;
extern template Ref Torch::wrap<Tensor>(const Tensor&);
extern template Ref Torch::wrap<Storage>(const Storage&);
extern template Ref Torch::new_with_var<Tensor>(const PyType*, const Tensor&);
extern template Ref Torch::new_with_var<Storage>(const PyType*, const Storage&);
extern template Tensor Torch::unpack_as<Tensor>(const Ref&, const char*);
extern template Storage Torch::unpack_as<Storage>(const Ref&, const char*);
extern template Ref Torch::new_wrapper<Tensor>(const PyType*, const Tensor&,
                                               impl::PyInterpreterStatus);
extern template Ref Torch::new_wrapper<Storage>(const PyType*, const Storage&,
                                                impl::PyInterpreterStatus);
extern template const PyType* Torch::add_preserved_type<autograd::NodeHandle>();
extern template Ref Torch::wrap<autograd::NodeHandle>(const autograd::NodeHandle&);
extern template Ref Torch::new_with_var<autograd::NodeHandle>(const PyType*, const autograd::NodeHandle&);
extern template autograd::NodeHandle Torch::unpack_as<autograd::NodeHandle>(const Ref&, const char*);

}  // namespace revive::binding
