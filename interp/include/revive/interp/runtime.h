// runtime.h: a fake CPython interpreter, just big enough to run PyTorch's PyObject
// preservation on top of it.
//
// Defines: Runtime, one Python interpreter: its GIL, its objects and their refcounts,
// classes with __dict__, __slots__ and __del__, attributes, module globals, weak
// references, the cycle collector, and teardown.  Each Python-level method is one
// Python operation (`o.x = 1`, `del x`, `weakref.ref(x)`, `gc.collect()`) and takes
// this interpreter's GIL itself.  Python references are Refs; `del x` is `x.reset()`.
//
// Runtime knows nothing of tensors.  PyTorch's binding (binding/, the class
// binding::Torch) is an extension module written against the second half of this
// header, "for extension modules", as torch's C++ is written against CPython's C API:
// it derives its wrapper structs from PyObject, adds native types, allocates and frees
// its objects, and reuses subtype_dealloc's steps.  A learner normally meets Runtime
// through binding::Interpreter, a Runtime with torch loaded.
//
// Example (test/interp/object_test.cpp):
//   auto R = Runtime::create("I0");
//   const PyType* point = R->new_class("Point", R->object_type());
//   Ref o = R->new_object(point);   // o = Point()
//   R->setattr(o, "x", 1);          // o.x = 1
//   o.reset();                      // del o: refcount 0, subtype_dealloc, freed
//   assert(R->live_objects() == 0);
//
// What lives where: object lifetime, subtype_dealloc, attributes, weakrefs and
// teardown in src/runtime.cpp; the cycle collector in src/gc.cpp.
// Owns Note [Interpreter teardown leaks on purpose], Note [One way into an interpreter].
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "revive/interp/gil.h"
#include "revive/interp/object.h"
#include "revive/pyslot/error.h"
#include "revive/trace/events.h"

namespace revive::interp {

using trace::EventKind;
using trace::Observer;

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

class Runtime {
 public:
  // Note [Interpreter teardown leaks on purpose]
  // ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
  // Era E2 (torchdeploy).  Destroying an interpreter does what unloading a torchdeploy
  // interpreter did: its module globals are released (objects only they kept alive die
  // normally: some are resurrected into zombies, some really die), one last collection
  // runs, then the extension modules' teardown hooks run (the binding disarms its
  // PyInterpreter: Note [Disarming a dead interpreter]) and everything still alive is
  // *abandoned*: never freed, never called.  The interpreter object and its remaining
  // objects move to a process-wide graveyard, so tags pointing at it stay valid and
  // LeakSanitizer sees the memory as reachable.  After teardown, dropping a Ref to one
  // of its objects does nothing to the object (the graveyard counts it: Note
  // [Reclaiming a dead interpreter]).
  //
  // Note [Reclaiming a dead interpreter]
  // ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
  // Model addition: torchdeploy never gave an unloaded interpreter's memory back, and
  // neither did we, until a fuzzer that makes an interpreter per scenario ran out of
  // memory.  A dead interpreter stays in the graveyard, exactly as above, while
  // anything can still reach it; it is reclaimed (its abandoned objects freed without
  // running any Python code, then the interpreter deleted) once nothing can.  What can
  // reach a dead interpreter:
  //   1. a reference to one of its objects held from outside them: a C++ Ref, a slot
  //      that owns a zombie.  Counted at teardown as the collector counts (each
  //      object's refcount minus the references its fellow objects hold: __dict__,
  //      __slots__ and the module's native fields), then kept by incref/decref, which
  //      after teardown only count.  A slot's release goes through the disarmed no-op
  //      decref, which cannot count it, so the module reports those; and a slot whose
  //      tensor only the abandoned objects keep alive is not outside (ReclaimHooks).
  //   2. a C++ object carrying its tag, unless only abandoned objects keep that object
  //      alive (a wrapper that owned its tensor when the interpreter died): the module
  //      answers that (ReclaimHooks::accounted), with every tag counted by the
  //      PyInterpreter.  Dead interpreters are judged as a group: if I0's abandoned
  //      wrapper owns a tensor I1 tagged and I1's owns one I0 tagged, each reaches the
  //      other, and both are freed together once nothing outside the two reaches either.
  //   3. anything the module keeps process-wide: the main interpreter (the trampoline
  //      holds it for the life of the process) and one that registered Python
  //      operators (the dispatcher holds their kernels) are never reclaimed.
  //   4. a SafePyObject holding one of its objects (a tensor's Python hooks): it will
  //      give the object back through the interpreter's PyInterpreter, which must then
  //      still exist.  Counted by the PyInterpreter (safe_objects(); a release after
  //      teardown is an unseen one, as a slot's), and fine only inside a C++ object
  //      that only abandoned objects keep alive: the module answers that too, walking
  //      tensors' grads, grad_fns and storages and what autograd nodes hold.
  // Objects of other interpreters never hold its objects (check_storable).
  //
  // When: C++ letting go of one of several references to a tensor is invisible in E2
  // (nothing runs on a 2 -> 1 count), so the graveyard is swept at the moments an
  // interpreter is created or torn down, and by reclaim_dead_interpreters().  A dead
  // interpreter is therefore freed at the first sweep after the last thing that reached
  // it let go.  What it costs: one counter per tag, kept by the slot, never read on a
  // wrap.  Two races are left open on purpose.  A weak_intrusive_ptr::lock() that races
  // the sweep can revive a tensor the sweep counted as held only by abandoned objects:
  // the interpreter then stays (its tag count is not zero) with its objects gone; the
  // revived tensor's slot was cleared if it recorded a wrapper that owned the tensor,
  // but if it owned a zombie it still points at the freed zombie, which it only ever
  // hands to the no-op decref (never dereferenced).  And the sweep reads the grad,
  // autograd and storage fields of live tensors that abandoned wrappers reach without those
  // tensors' interpreters' GILs: a set_grad racing the sweep on such a tensor is a
  // data race (the verdict stays conservative, the read is not synchronised).
  struct Teardown {
    void operator()(Runtime* runtime) const noexcept;
  };
  using Owner = std::unique_ptr<Runtime, Teardown>;

  // A bare interpreter, without torch (binding::Interpreter::create loads it).
  [[nodiscard]] static Owner create(std::string name);

  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] bool is_finalized() const noexcept { return finalized_.load(std::memory_order_acquire); }
  [[nodiscard]] Gil& gil() const noexcept { return gil_; }

  // ---- classes ----------------------------------------------------------------
  [[nodiscard]] const PyType* object_type() const noexcept { return object_type_; }
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

  // Process-wide: objects alive in interpreters that are not torn down, and objects
  // abandoned by teardown (Note [Interpreter teardown leaks on purpose]).
  [[nodiscard]] static std::int64_t live_object_count() noexcept;
  [[nodiscard]] static std::int64_t abandoned_object_count() noexcept;
  // See Note [Reclaiming a dead interpreter]: sweep the graveyard now (creating or
  // tearing down an interpreter does it too); returns how many interpreters were freed.
  static std::size_t reclaim_dead_interpreters() noexcept;
  // Interpreters torn down and not yet reclaimed.
  [[nodiscard]] static std::size_t dead_interpreter_count() noexcept;

  // ==== for extension modules (CPython's C API; binding/ uses only this) =============
  // Each of these expects the caller to hold the GIL, except incref/decref,
  // add_native_type and at_teardown, which take it.

  // Py_INCREF / Py_DECREF, taking the GIL (re-entrantly); after teardown they do nothing.
  void incref(PyObject* o);
  void decref(PyObject* o) noexcept;
  // Note [One way into an interpreter]
  // ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
  // Model rule, kept by every Python-level operation of the runtime and the binding:
  // take the interpreter's GIL, *then* check that it was not torn down.  Teardown sets
  // its flag while holding the GIL, so a thread that waited for the GIL while another
  // thread tore the interpreter down sees the flag and touches nothing (See Note
  // [Interpreter teardown leaks on purpose]).  Checking first and locking after would
  // let the waiting thread act on an interpreter that died while it waited.  Entry is
  // that rule as one object: hold it for the whole operation.  The exceptions touch no
  // object: gc.enable/disable/set_threshold only flip settings (GcDisabled's destructor
  // calls gc_enable, which must not throw), add_native_type runs at module init, and
  // incref/decref/at_teardown have rules of their own (above and below).
  class Entry {
   public:
    Entry(const Runtime& runtime, const char* what);
    Entry(const Entry&) = delete;
    Entry& operator=(const Entry&) = delete;

   private:
    GilGuard gil_;
  };
  // Raise the usual errors for an object a Python-level call was handed: None, or
  // another interpreter's object.  The caller has entered (Entry).
  void check_usable(const Ref& o, const char* what) const;
  // A value about to be stored in one of this interpreter's objects (an attribute, a
  // global, a C struct field) must be None, a plain value or this interpreter's
  // object: no object ever holds another interpreter's (Note [GIL order across
  // interpreters] relies on it).
  void check_storable(const Value& v) const;
  // The same for a class: null, or another interpreter's.
  void check_type_home(const PyType* cls, const char* what) const;
  [[nodiscard]] bool owns_type(const PyType* type) const noexcept;
  // A new type at module initialisation (PyType_Ready): Layout::Native instances are
  // the module's structs; it sets the type's dealloc, traverse, clear, free and
  // on_subclass.
  PyType& add_native_type(std::string name, const PyType* base, const void* native, bool has_dict);
  // PyType_GenericAlloc: a new object of `type` with refcount 1, registered and (if
  // the type has a traverse) tracked by the collector.
  template <class Obj>
  Obj* allocate(const PyType* type);
  // An automatic collection, if one is due: the point where CPython's eval breaker
  // would run it.  Python-level operations that allocate call it first.
  void gc_safe_point() noexcept;
  // subtype_dealloc's middle, in its order: untrack, __del__ (PEP 442: may resurrect;
  // then returns true and the dealloc must stop), weakrefs cleared and their callbacks
  // run, __slots__ and __dict__ dropped.
  bool finalize_and_clear(PyObject* o) noexcept;
  // Drop __slots__ of the levels from o's type up to (not including) `stop`, most
  // derived first, then __dict__.
  static void clear_slots_and_dict(PyObject* o, const PyType* stop) noexcept;
  // subtype_traverse and subtype_clear (src/gc.cpp), for a native type to fall back on.
  static void subtype_traverse(PyObject* o, VisitProc visit, void* arg);
  static void subtype_clear(PyObject* o) noexcept;
  // The end of every dealloc: unregister an object whose refcount is 0 and free it
  // through its type's free slot.
  void free_object(PyObject* o) noexcept;
  // Delete an object Python never saw (its construction failed half-way): no dealloc
  // protocol runs.
  void discard_half_built(PyObject* o) noexcept;
  // Report an event to the observer, if any; issue a Python warning.
  void emit(EventKind kind, const PyObject* o = nullptr, const void* target = nullptr,
            std::string detail = {}) const;
  void warn(std::string text);
  // Run `hook` during teardown, after the last collection and before the remaining
  // objects are abandoned (a module's m_free).
  void at_teardown(std::function<void()> hook);
  // A module's part in Note [Reclaiming a dead interpreter].  Each is called with the
  // GIL of the dead interpreter it belongs to held (accounted also reads the other
  // members' abandoned objects, without their GILs), and none may run Python code.
  struct ReclaimHooks {
    // The references to this interpreter's objects that `o`'s native fields hold,
    // besides __dict__ and __slots__ (a wrapper's _backward_hooks), visited once each.
    std::function<void(PyObject* o, VisitProc visit, void* arg)> visit_fields;
    // Asked of each interpreter of a group of dead ones judged together, with the
    // `abandoned` objects of all of them.  nullopt while C++ can still reach this one
    // from outside the group (a tensor carrying its tag, held from outside the group's
    // abandoned objects) or the module keeps this interpreter for the process's life.
    // Otherwise, how many references of this interpreter's outside count C++ accounts
    // for: those it gave back unseen, and those held by C++ objects that only the
    // group's abandoned objects keep alive (the slot of a tensor an abandoned wrapper
    // owns, owning one of this interpreter's zombies).
    // Within one round of a sweep (reclaim_round() unchanged) `abandoned` is the same
    // for every member asked, so a module may answer every member from one reading of
    // it: the judgement of a round then costs time linear in the abandoned objects,
    // not that times the number of dead interpreters.
    std::function<std::optional<std::int64_t>(const std::vector<PyObject*>& abandoned)> accounted;
    // Let go of what `o` owns in C++, and forget (Ref::release, no decref) the
    // references its native fields hold, before every abandoned object is freed.
    std::function<void(PyObject* o)> release;
  };
  void at_reclaim(ReclaimHooks hooks);
  // Which round of judging dead interpreters is running (read by ReclaimHooks::accounted,
  // under the graveyard's mutex): a new number for each `abandoned` a sweep builds.
  [[nodiscard]] static std::uint64_t reclaim_round() noexcept;

 protected:
  explicit Runtime(std::string name);
  // Called only by reclaim (Note [Reclaiming a dead interpreter]).  Virtual so that an
  // extension can ask which kind of interpreter a Runtime is (dynamic_cast), and so
  // that reclaiming deletes the whole binding::Interpreter.
  virtual ~Runtime();

 private:
  void finalize() noexcept;
  // Note [Reclaiming a dead interpreter]: the outside count, and whether nothing
  // reaches this dead interpreter; then freeing its objects.  Each under gil_ (the
  // judgement also reads the rest of the group: reclaim_dead_interpreters()).
  void count_outside_references() noexcept;
  // Whether nothing outside the group judged with it reaches this dead interpreter;
  // `abandoned` holds the objects of the whole group.
  [[nodiscard]] bool reclaimable(const std::vector<PyObject*>& abandoned) const noexcept;
  void release_abandoned() noexcept;  // what its objects own in C++ (ReclaimHooks::release)
  void free_abandoned() noexcept;     // then the objects themselves

  void decref_locked(PyObject* o) noexcept;
  // Run `o`'s __del__ once in its life (PEP 442), holding a reference for the call.
  void call_finalizer(PyObject* o, const Finalizer& finalizer) noexcept;
  void clear_weakrefs(PyObject* o, bool run_callbacks) noexcept;
  // Every weakref to `o` reads None from now on; the live ones with a callback are
  // appended to `callbacks` (a new reference each) for run_weakref_callbacks.
  void detach_weakrefs(PyObject* o, std::vector<Ref>* callbacks) noexcept;
  void run_weakref_callbacks(std::vector<Ref>& callbacks) noexcept;
  void register_object(PyObject* o) noexcept;
  void unregister(PyObject* o) noexcept;

  // The cycle collector and the type slots: src/gc.cpp.
  static void install_type_slots(PyType& type);
  void gc_track(PyObject* o) noexcept;
  void gc_untrack(PyObject* o) noexcept;
  std::size_t collect_locked(int generation) noexcept;
  // Steps 4, 5 and 7 of a collection (src/gc.cpp); 1-3 and 6 need no runtime state.
  void handle_weakrefs(GcList& unreachable) noexcept;
  void finalize_garbage(GcList& unreachable) noexcept;
  void delete_garbage(GcList& garbage, GcList& old) noexcept;
  static void object_dealloc(PyObject* o) noexcept;
  static void weakref_dealloc(PyObject* o) noexcept;

  // Locking, member by member (nanobind's habit): what may be read or written without
  // the GIL is said at the member; everything after `gil_` needs it.
  const std::string name_;               // immutable; read anywhere
  mutable Gil gil_;                      // its own synchronisation
  std::atomic<bool> finalized_{false};   // written once, under gil_ (teardown); read
                                         // anywhere with acquire, and re-read under gil_
                                         // before acting (Note [One way into an interpreter])

  // Everything below is protected by gil_.
  using Registry = boost::intrusive::list<PyObject, boost::intrusive::base_hook<RegistryHook>,
                                          boost::intrusive::constant_time_size<true>>;
  Registry objects_;  // every live object of this interpreter
  std::deque<PyType> types_;
  const PyType* object_type_ = nullptr;
  const PyType* weakref_type_ = nullptr;
  std::map<std::string, Value> globals_;
  std::vector<std::string> warnings_;
  Observer* observer_ = nullptr;
  std::vector<std::function<void()>> teardown_hooks_;
  std::vector<ReclaimHooks> reclaim_hooks_;
  // After teardown: references to the abandoned objects held from outside them, less
  // those the hooks report released unseen (Note [Reclaiming a dead interpreter]).
  std::int64_t outside_refs_ = 0;
  bool reclaiming_ = false;  // its objects are being freed: incref/decref do nothing

  // The cycle collector's state (protected by gil_).  Generation lists hold every
  // tracked object; a collection moves them through lists of its own.
  static constexpr int kGenerations = 3;
  std::array<GcList, kGenerations> generations_;
  std::array<int, kGenerations> gc_count_{};
  std::array<int, kGenerations> gc_threshold_{700, 10, 10};  // CPython's defaults
  bool gc_enabled_ = true;
  bool gc_collecting_ = false;
};

template <class Obj>
Obj* Runtime::allocate(const PyType* type) {
  REVIVE_INTERNAL_ASSERT(type->free != nullptr, "type ", type->name,
                         " has no free slot: its instances could not be deleted");
  auto* o = new Obj(this, type);
  register_object(o);
  return o;
}

// `with disable_gc():` (PyTorch's test helper): the collector only runs when asked,
// until the guard goes out of scope; then the previous setting comes back.
class GcDisabled {
 public:
  explicit GcDisabled(Runtime& runtime) : runtime_(runtime), was_(runtime.gc_isenabled()) {
    runtime_.gc_disable();
  }
  ~GcDisabled() {
    if (was_) runtime_.gc_enable();
  }
  GcDisabled(const GcDisabled&) = delete;
  GcDisabled& operator=(const GcDisabled&) = delete;

 private:
  Runtime& runtime_;
  bool was_;
};

}  // namespace revive::interp
