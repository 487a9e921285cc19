// interpreter.h: a fake CPython, just big enough to run PyTorch's PyObject preservation.
//
// Defines: Interpreter, the Python side of ../shared/semantics.md.  Each method is one
// Python operation (`x = torch.empty(2)`, `y.grad = x`, `del x`, `weakref.ref(x)`, ...)
// and takes this interpreter's GIL itself.  Python references are Refs; `del x` is
// `x.reset()`.
//
// Example (test_pyobj_preserved in test/scenarios/pytorch_tensor_test.cpp):
//   auto I = Interpreter::create("I0");
//   Ref x = I->empty(2);            // x = torch.empty(2)        U -> L
//   I->setattr(x, "foo", 2);        // x.foo = 2
//   Ref y = I->empty(2);
//   I->set_grad(y, x);              // y.grad = x  (C++ co-owns x's tensor)
//   x.reset();                      // del x                     L -> Z (resurrection)
//   Ref g = I->grad(y);             // y.grad                    Z -> L (flip back)
//   assert(std::get<std::int64_t>(I->getattr(g, "foo")) == 2);
//
// What lives where: wrap/dealloc of tensors and storages (PyTorch's
// torch/csrc/autograd/python_variable.cpp and torch/csrc/Storage.cpp) are in
// src/wrappers.cpp; the generic object machinery (refcounts, subtype_dealloc, weakrefs)
// in src/interpreter.cpp; Python operators (torch.library) in src/python_ops.cpp.  Owns Note [Interpreter teardown leaks on purpose].
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "revive/interp/events.h"
#include "revive/interp/gil.h"
#include "revive/interp/object.h"
#include "revive/pyslot/py_interpreter.h"
#include "revive/pyslot/py_object_slot.h"
#include "revive/tensor/dispatcher.h"

namespace revive::interp {

// A Python exception (TypeError, AttributeError, ...).  what() is "Kind: message".
class PythonError : public Error {
 public:
  PythonError(std::string_view kind, const std::string& message);
};

// How new_class declares a class body.
struct ClassSpec {
  // __slots__; nullopt means "not declared", which (as in Python) gives a __dict__.
  std::optional<std::vector<std::string>> slots;
  Finalizer finalizer;  // __del__
  // Defines __torch_dispatch__: its tensors carry Python behaviour, so Python operators
  // on them are routed to this interpreter (Note [Python op registration trampoline]).
  bool torch_dispatch = false;
};

// Bugs of the era's cycle-collector support that an interpreter can reproduce on
// purpose, to show what they broke.  Each one changes which tp_clear new_class installs
// on that interpreter's tensor and storage types.
// See Note [Cycle collection and preservation] (src/wrappers.cpp).
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

// A Python implementation of an operator (the function given to torch.library).
using PythonOpImpl = std::function<Ref(Interpreter&, const std::vector<Ref>& args)>;

class Interpreter {
 public:
  // Note [Interpreter teardown leaks on purpose]
  // ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
  // Era E2 (torchdeploy).  Destroying an interpreter does what unloading a torchdeploy
  // interpreter did: its module globals are released (objects only they kept alive die
  // normally: some are resurrected into zombies, some really die), then its
  // PyInterpreter is disarmed (Note [Disarming a dead interpreter]) and everything
  // still alive is *abandoned*: never freed, never called.  The interpreter object and
  // its remaining objects move to a process-wide graveyard that is never destroyed, so
  // tags pointing at it stay valid and LeakSanitizer sees the memory as reachable.
  // After teardown, dropping a Ref to one of its objects does nothing.
  struct Teardown {
    void operator()(Interpreter* interp) const noexcept;
  };
  using Owner = std::unique_ptr<Interpreter, Teardown>;

  [[nodiscard]] static Owner create(std::string name, GcBugs bugs = {});

  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  // The value slots are tagged with.
  [[nodiscard]] impl::PyInterpreter* pyinterpreter() noexcept { return &pyinterpreter_; }
  [[nodiscard]] bool is_finalized() const noexcept { return finalized_.load(std::memory_order_acquire); }
  [[nodiscard]] Gil& gil() noexcept { return gil_; }

  // ---- classes ----------------------------------------------------------------
  [[nodiscard]] const PyType* object_type() const noexcept { return object_type_; }
  [[nodiscard]] const PyType* tensor_type() const noexcept { return tensor_type_; }    // torch.Tensor
  [[nodiscard]] const PyType* storage_type() const noexcept { return storage_type_; }  // torch.UntypedStorage
  // `class name(base): ...`
  const PyType* new_class(std::string name, const PyType* base, ClassSpec spec = {});

  // ---- plain objects, attributes, globals ------------------------------------------
  [[nodiscard]] Ref new_object(const PyType* cls);
  void setattr(const Ref& obj, const std::string& attr, Value value);
  [[nodiscard]] Value getattr(const Ref& obj, const std::string& attr);
  [[nodiscard]] bool hasattr(const Ref& obj, const std::string& attr);
  void delattr(const Ref& obj, const std::string& attr);
  void set_global(const std::string& name, Value value);
  [[nodiscard]] Value get_global(const std::string& name);
  void del_global(const std::string& name);

  // ---- tensors and storages (THPVariable / THPStorage) ---------------------------
  // THPVariable_Wrap: the one wrapper of `t` (None if undefined).  See src/wrappers.cpp.
  [[nodiscard]] Ref wrap(const Tensor& t);
  // THPStorage_Wrap.
  [[nodiscard]] Ref wrap(const Storage& s);
  // THPVariable_Unpack: a new owning handle to the wrapper's tensor (undefined if the
  // wrapper was stubbed).  Throws TypeError for a non-tensor.
  [[nodiscard]] Tensor unpack(const Ref& t);
  [[nodiscard]] Storage unpack_storage(const Ref& s);
  // `torch.empty(numel)`, or `cls(torch.empty(numel))` for a Tensor subclass.
  [[nodiscard]] Ref empty(std::int64_t numel, const PyType* cls = nullptr);
  // THPVariable_NewWithVar: wrap `t` with class `cls`.  Unlike `_make_subclass` it
  // does not detach, so it raises if `t` already has a wrapper.
  [[nodiscard]] Ref make_subclass(const PyType* cls, const Tensor& t);
  // `torch.UntypedStorage(nbytes)`, or a subclass of it.
  [[nodiscard]] Ref new_storage(std::size_t nbytes, const PyType* cls = nullptr);
  // `torch.tensor(storage)`: a new tensor viewing the storage.
  [[nodiscard]] Ref tensor_from_storage(const Ref& storage);
  [[nodiscard]] Ref untyped_storage(const Ref& t);  // `t.untyped_storage()`
  void set_grad(const Ref& t, const Ref& grad);     // `t.grad = grad`
  [[nodiscard]] Ref grad(const Ref& t);             // `t.grad`
  [[nodiscard]] Ref sigmoid(const Ref& t);          // any op: raises on an undefined tensor
  void fix_weakref(const Ref& t);                   // `t._fix_weakref()`

  // ---- Python operators (torch.library), see src/python_ops.cpp ---------------------
  // Define operator `name` with a Python implementation.  Every interpreter runs this;
  // the first (the trampoline's main) installs the dispatcher kernel and gets true,
  // later ones only verify that the operator exists and get false.
  bool register_python_op(const std::string& name, PythonOpImpl impl);
  // `torch.ops.<name>(*args)`: through the C++ dispatcher, which routes the call.
  [[nodiscard]] Ref call_op(const std::string& name, const std::vector<Ref>& args);
  // `torch.ops.<name>`: the operator's Python twin, found through its PyHandleCache.
  [[nodiscard]] Ref op_object(const std::string& name);
  // How many times this interpreter took the slow path to find an operator's twin.
  [[nodiscard]] int twin_slow_lookups() const noexcept { return twin_slow_lookups_.load(); }

  // ---- weak references ---------------------------------------------------------
  [[nodiscard]] Ref weakref(const Ref& obj, WeakCallback callback = {});  // weakref.ref
  [[nodiscard]] Ref deref(const Ref& weakref);  // `w()`: the referent, or None

  // ---- the cycle collector (Python's gc module), see src/gc.cpp -------------------------
  // gc.collect(generation): collect that generation and every younger one; returns the
  // number of unreachable objects found.  Does nothing (returns 0) when called from a
  // finalizer or callback that a running collection invoked.
  std::size_t gc_collect(int generation = 2);
  void gc_enable();   // gc.enable(): collect automatically when allocations pile up
  void gc_disable();  // gc.disable(): only gc_collect() collects
  [[nodiscard]] bool gc_isenabled() const;
  // gc.set_threshold: a generation-0 collection runs once tracked allocations minus
  // deallocations exceed threshold0; an older one after that many younger collections.
  void gc_set_threshold(int threshold0, int threshold1 = 10, int threshold2 = 10);
  [[nodiscard]] bool gc_is_tracked(const Ref& o) const;  // gc.is_tracked

  // ---- introspection (tests, tour) ------------------------------------------------
  [[nodiscard]] std::size_t live_objects() const;  // objects of this interpreter
  [[nodiscard]] bool is_alive(const PyObject* o) const;
  [[nodiscard]] std::ptrdiff_t refcnt(const PyObject* o) const;
  [[nodiscard]] const PyType* type_of(const Ref& o) const;
  [[nodiscard]] std::vector<std::string> warnings() const;  // issued so far, in order
  void clear_warnings();
  void set_observer(Observer* observer);  // nullptr detaches
  // Test hook: runs inside a wrapper's dealloc after it decided to resurrect and
  // before the flip, standing in for another thread dropping C++ references there.
  void set_resurrection_hook(std::function<void()> hook);

  // Process-wide: objects alive in interpreters that are not torn down, and objects
  // abandoned by teardown (Note [Interpreter teardown leaks on purpose]).
  [[nodiscard]] static std::int64_t live_object_count() noexcept;
  [[nodiscard]] static std::int64_t abandoned_object_count() noexcept;

  // ---- used by Ref and the vtable ------------------------------------------------
  void incref(PyObject* o);
  void decref(PyObject* o) noexcept;
  // concrete_decref_fn: the slot gives its reference back (T6).
  void decref_from_cpp(PyObject* o, bool has_pyobj_slot) noexcept;

 private:
  class VTable;

  Interpreter(std::string name, GcBugs bugs);
  void finalize() noexcept;

  void check_usable(const Ref& o, const char* what) const;
  void emit(EventKind kind, const PyObject* o = nullptr, const void* target = nullptr,
            std::string detail = {}) const;
  void warn(std::string text);

  template <class Obj>
  Obj* allocate(const PyType* type);
  void decref_locked(PyObject* o) noexcept;
  void dealloc(PyObject* o) noexcept;
  // subtype_dealloc's middle: untrack, finalizer, weakrefs, __slots__, __dict__.
  // Returns true if the finalizer resurrected the object (the dealloc must stop).
  bool finalize_and_clear(PyObject* o) noexcept;
  // Run `o`'s __del__ once in its life (PEP 442), holding a reference for the call.
  void call_finalizer(PyObject* o, const Finalizer& finalizer) noexcept;
  void clear_weakrefs(PyObject* o, bool run_callbacks) noexcept;
  // Every weakref to `o` reads None from now on; the live ones with a callback are
  // appended to `callbacks` (a new reference each) for run_weakref_callbacks.
  void detach_weakrefs(PyObject* o, std::vector<Ref>* callbacks) noexcept;
  void run_weakref_callbacks(std::vector<Ref>& callbacks) noexcept;
  // Drop __slots__ of the levels from `type` up to (not including) `stop`, most
  // derived first, then __dict__.
  static void clear_slots_and_dict(PyObject* o, const PyType* stop) noexcept;
  void free_object(PyObject* o) noexcept;
  void discard_half_built(PyObject* o) noexcept;
  void unregister(PyObject* o) noexcept;

  // Tensors and storages: src/wrappers.cpp.
  bool tensor_is_resurrectable(TensorObject* self);
  bool storage_is_preservable(StorageObject* self);
  template <class Obj>
  void resurrect(Obj* self) noexcept;
  template <class Obj>
  void release_cdata(Obj* self) noexcept;
  template <class Obj>
  void stub_if_borrowed(Obj* self) noexcept;
  template <class Obj>
  void dealloc_wrapper(Obj* self, bool preservable) noexcept;
  template <class Obj, class H>
  Ref rewrap_recorded(Obj* self, const H& handle, impl::PyObjectSlot* slot);
  Ref tensor_new_with_var(const PyType* type, const Tensor& var,
                          impl::PyInterpreterStatus status);
  Ref storage_new_with_storage(const PyType* type, const Storage& storage,
                               impl::PyInterpreterStatus status);
  impl::PyInterpreterStatus status_for_new_wrapper(impl::PyObjectSlot* slot,
                                                   std::uint32_t use_count);
  TensorObject* as_tensor(const Ref& o, const char* what) const;
  // Run operator `op` in this interpreter (hermetic: as main for untagged inputs; not
  // hermetic: forwarded here by the trampoline).
  void run_python_op(const OperatorHandle& op, Stack* stack, bool hermetic);
  PyObject* twin_of(const OperatorHandle& op);
  StorageObject* as_storage(const Ref& o, const char* what) const;

  // The cycle collector and the type slots: src/gc.cpp.
  void install_type_slots(PyType& type) const;
  void gc_track(PyObject* o) noexcept;
  void gc_untrack(PyObject* o) noexcept;
  void gc_safe_point() noexcept;  // an automatic collection, if one is due
  std::size_t collect_locked(int generation) noexcept;
  static void object_dealloc(PyObject* o) noexcept;
  static void weakref_dealloc(PyObject* o) noexcept;
  template <class Obj>
  static void wrapper_dealloc(PyObject* o) noexcept;
  static void subtype_traverse(PyObject* o, VisitProc visit, void* arg);
  template <class Obj>
  static void wrapper_traverse(PyObject* o, VisitProc visit, void* arg);
  static void subtype_clear(PyObject* o) noexcept;
  template <class Obj>
  static void wrapper_clear(PyObject* o) noexcept;
  template <class Obj>
  static void wrapper_clear_ignoring_preservation(PyObject* o) noexcept;  // #75932
  template <class Obj>
  void clear_wrapper_contents(Obj* self) noexcept;
  bool is_preservable(TensorObject* self) { return tensor_is_resurrectable(self); }
  bool is_preservable(StorageObject* self) { return storage_is_preservable(self); }

  const std::string name_;
  std::unique_ptr<VTable> vtable_;      // this interpreter's PyInterpreterVTable
  impl::PyInterpreter pyinterpreter_;  // the tag; disarmed at teardown
  mutable Gil gil_;
  std::atomic<bool> finalized_{false};

  // Everything below is protected by gil_.
  using Registry = boost::intrusive::list<PyObject, boost::intrusive::base_hook<RegistryHook>,
                                          boost::intrusive::constant_time_size<true>>;
  Registry objects_;  // every live object of this interpreter
  std::deque<PyType> types_;
  const PyType* object_type_ = nullptr;
  const PyType* tensor_type_ = nullptr;
  const PyType* storage_type_ = nullptr;
  const PyType* weakref_type_ = nullptr;
  std::map<std::string, Value> globals_;
  std::vector<std::string> warnings_;
  Observer* observer_ = nullptr;
  std::function<void()> resurrection_hook_;
  struct PythonOp {
    Ref twin;  // the OpOverload object; static lifetime within this interpreter
    PythonOpImpl impl;
  };
  std::map<std::string, PythonOp> python_ops_;
  std::atomic<int> twin_slow_lookups_{0};

  // The cycle collector's state (protected by gil_).  Generation lists hold every
  // tracked object; a collection moves them through lists of its own.
  static constexpr int kGenerations = 3;
  const GcBugs bugs_;
  std::array<GcList, kGenerations> generations_;
  std::array<int, kGenerations> gc_count_{};
  std::array<int, kGenerations> gc_threshold_{700, 10, 10};  // CPython's defaults
  bool gc_enabled_ = true;
  bool gc_collecting_ = false;
};

// `with disable_gc():` (PyTorch's test helper): the collector only runs when asked,
// until the guard goes out of scope; then the previous setting comes back.
class GcDisabled {
 public:
  explicit GcDisabled(Interpreter& interp) : interp_(interp), was_(interp.gc_isenabled()) {
    interp_.gc_disable();
  }
  ~GcDisabled() {
    if (was_) interp_.gc_enable();
  }
  GcDisabled(const GcDisabled&) = delete;
  GcDisabled& operator=(const GcDisabled&) = delete;

 private:
  Interpreter& interp_;
  bool was_;
};

}  // namespace revive::interp
