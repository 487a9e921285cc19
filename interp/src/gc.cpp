// The fake CPython's cycle collector (Modules/gcmodule.c, 3.9-3.12, in outline) and the
// type slots it calls.  The tensor and storage slots are the binding's
// (binding/include/revive/binding/python_variable.h).
#include <utility>

#include "revive/interp/runtime.h"
#include "revive/interp/testing.h"

namespace revive::interp {

// Note [The cycle collector]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~
// CPython.  Reference counting frees everything except cycles: A -> B -> A keeps both
// counts above zero after the last outside reference is gone.  The collector finds
// them without knowing where the outside references are, using only each type's
// traverse (which reports the references an object holds):
//   1. update_refs:      gc_refs = refcount, for every object of the generations
//                        being collected (the "young" list);
//   2. subtract_refs:    for every reference from a young object to a young object,
//                        gc_refs -= 1.  What is left counts references from outside:
//                        locals, globals, C++ (a zombie's one reference is the slot's);
//   3. move_unreachable: objects with gc_refs != 0 are roots; everything they reach is
//                        reachable; the rest moves to the unreachable list;
//   4. handle_weakrefs:  every weakref to an unreachable object is cleared (reads None)
//                        before anything else happens; then the callbacks of those
//                        weakrefs run;
//   5. finalize_garbage: __del__ runs, once in each object's life (PEP 442);
//   6. handle_resurrected_objects: a finalizer may have stored a reference to garbage
//                        somewhere reachable; steps 1-3 run again over the unreachable
//                        list, and whatever is now reachable from outside survives;
//   7. delete_garbage:   for each object still in the list, in order, holding a
//                        reference for the call: tp_clear, which drops the object's
//                        references.  Some count then reaches zero and the ordinary
//                        dealloc frees it.  An object still alive after its clear
//                        moves to the next older generation: it may die later.
// Three facts matter for PyObject preservation (See Note [Cycle collection and
// preservation] in binding/include/revive/binding/python_variable.h):
// step 2 trusts traverse, so an object that reports no
// references looks like a root for everything it holds; step 3 puts an object in the
// unreachable list when only garbage refers to it, even if it is not itself in a cycle
// (PyTorch #75932); and steps 4, 5 and 7 act on every unreachable object, before any
// dealloc had a chance to resurrect it (PyTorch #145253).
// Model simplifications: weakref objects are not tracked (a callback is opaque C++
// that the collector cannot traverse), so every callback of a cleared weakref runs;
// types are not objects, so "visit the type" visits nothing; and an automatic
// collection runs at the start of the next allocating operation (as in CPython 3.12,
// which defers it to the eval breaker) rather than inside the allocation.

namespace {

enum Phase : std::uint8_t { kIdle = 0, kYoung = 1 };

void visit_decref(PyObject* referent, void* /*arg*/) {
  if (referent->gc_phase == kYoung) --referent->gc_refs;
}

void visit_reachable(PyObject* referent, void* arg) {
  auto* young = static_cast<GcList*>(arg);
  if (referent->gc_unreachable) {
    // Moved to the unreachable list too early: something reachable refers to it.
    referent->gc_unreachable = false;
    referent->gc_phase = kYoung;
    referent->gc_refs = 1;
    referent->GcHook::unlink();
    young->push_back(*referent);
  } else if (referent->gc_phase == kYoung && referent->gc_refs == 0) {
    referent->gc_refs = 1;  // not scanned yet: it will be, as reachable
  }
}

}  // namespace

// ---- type slots ------------------------------------------------------------------------

// What new_class gives each plain class, as CPython's type_new does: subtype_dealloc,
// subtype_traverse, subtype_clear; weakref gets its own dealloc and is not tracked.
// A native type gets its slots from its extension module (which sets them on the type
// add_native_type returns), and a subclass of one inherits them here unless the
// module's on_subclass hook, run after, replaces them
// (PyTorch's metaclass does, on every Tensor subclass: PyTorch #136358 was a subclass
// that kept subtype_clear).
void Runtime::install_type_slots(PyType& type) {
  switch (type.layout) {
    case Layout::Object:
      type.dealloc = &Runtime::object_dealloc;
      type.traverse = &Runtime::subtype_traverse;
      type.clear = &Runtime::subtype_clear;
      type.free = &free_as<PyObject>;
      return;
    case Layout::Weakref:
      type.dealloc = &Runtime::weakref_dealloc;
      type.traverse = nullptr;
      type.clear = nullptr;
      type.free = &free_as<WeakrefObject>;
      return;
    case Layout::Native:  // CPython: a subclass inherits its base's slots
      type.dealloc = type.base->dealloc;
      type.traverse = type.base->traverse;
      type.clear = type.base->clear;
      type.free = type.base->free;
      return;
  }
}

void Runtime::object_dealloc(PyObject* o) noexcept {
  Runtime* self = o->interp;
  if (self->finalize_and_clear(o)) return;  // resurrected by __del__
  self->free_object(o);
}

void Runtime::weakref_dealloc(PyObject* o) noexcept {
  auto* w = static_cast<WeakrefObject*>(o);
  if (w->referent != nullptr) {
    w->referent->weakrefs.erase(w->referent->weakrefs.iterator_to(*w));
    w->referent = nullptr;
  }
  w->callback = nullptr;  // may own references: drop them before the free
  o->interp->free_object(w);
}

// subtype_traverse: the __slots__ of every level, the __dict__, the type (not an
// object here).
void Runtime::subtype_traverse(PyObject* o, VisitProc visit, void* arg) {
  auto visit_value = [&](const Value& v) {
    if (const Ref* r = std::get_if<Ref>(&v); r != nullptr && !r->is_none()) visit(r->get(), arg);
  };
  for (const Value& v : o->slots) visit_value(v);
  if (o->dict.has_value()) {
    for (const auto& [name, v] : *o->dict) visit_value(v);
  }
}

// subtype_clear: drop the __slots__ of the levels that use it, then the __dict__, then
// call the nearest base's own clear.  For plain classes that is all of them.  The tensor
// classes get it only under binding::GcBugs::issue_136358; there the __dict__ belongs
// to the Python level, as in PyTorch, whose torch.Tensor is a Python subclass of
// TensorBase: the bug reaches a plain tensor's attributes.
void Runtime::subtype_clear(PyObject* o) noexcept {
  const PyType* base = o->ob_type;
  while (base != nullptr && base->clear == &Runtime::subtype_clear) base = base->base;
  o->interp->emit(EventKind::GcClear, o, nullptr, "subtype_clear: __slots__ and __dict__ dropped");
  clear_slots_and_dict(o, base);
  if (base != nullptr && base->clear != nullptr) base->clear(o);
}

// ---- tracking --------------------------------------------------------------------------

void Runtime::gc_track(PyObject* o) noexcept {
  if (o->GcHook::is_linked()) return;
  o->gc_phase = kIdle;
  o->gc_unreachable = false;
  generations_[0].push_back(*o);
}

void Runtime::gc_untrack(PyObject* o) noexcept {
  if (o->GcHook::is_linked()) o->GcHook::unlink();
}

bool Runtime::gc_is_tracked(const Ref& o) const {
  Entry entered(*this, "is_tracked");
  check_usable(o, "is_tracked");
  return o->GcHook::is_linked();
}

void Runtime::gc_enable() {
  GilGuard gil(gil_);
  gc_enabled_ = true;
}

void Runtime::gc_disable() {
  GilGuard gil(gil_);
  gc_enabled_ = false;
}

bool Runtime::gc_isenabled() const {
  GilGuard gil(gil_);
  return gc_enabled_;
}

void Runtime::gc_set_threshold(int threshold0, int threshold1, int threshold2) {
  REVIVE_CHECK(threshold0 >= 0 && threshold1 >= 0 && threshold2 >= 0,
               "gc.set_threshold(): thresholds must not be negative");
  GilGuard gil(gil_);
  gc_threshold_ = {threshold0, threshold1, threshold2};
}

std::size_t Runtime::gc_collect(int generation) {
  if (generation < 0 || generation >= kGenerations) {
    throw PythonError("ValueError", "invalid generation");
  }
  Entry entered(*this, "gc.collect");
  return collect_locked(generation);
}

// collect_generations: the oldest generation whose count is over its threshold.  A
// threshold of 0 turns automatic collection off, as in CPython.
void Runtime::gc_safe_point() noexcept {
  if (!gc_enabled_ || gc_collecting_ || gc_threshold_[0] == 0) return;
  if (gc_count_[0] <= gc_threshold_[0]) return;
  for (int g = kGenerations - 1; g >= 0; --g) {
    if (gc_count_[g] > gc_threshold_[g]) {
      (void)collect_locked(g);
      return;
    }
  }
}

// ---- a collection ----------------------------------------------------------------------

// The steps of Note [The cycle collector], each named as in gcmodule.c, with what holds
// after it.  An object's collector fields through one collection:
//
//   field            idle (between)   candidate (steps 1-3)        garbage (steps 4-7)
//   gc_phase         kIdle            kYoung                       kIdle
//   gc_refs          (stale)          refcount - internal refs     (stale)
//   gc_unreachable   false            true once moved              true
//   list             a generation     the collection's `young`     `unreachable`, `garbage`
//
// A candidate found reachable goes back to idle in `young`, then to the older
// generation.  An object can die at any step (a finalizer, a callback or a clear frees
// it): its GcHook unlinks it from whatever list holds it, which is why the loops below
// take the front of a list instead of iterating over it where code can run.
namespace {

// update_refs: gc_refs = refcount for every candidate.
// Post: every object of `list` is kYoung with gc_refs == ob_refcnt.
void update_refs(GcList& list) {
  for (PyObject& o : list) {
    o.gc_phase = kYoung;
    o.gc_refs = o.ob_refcnt;
  }
}

// subtract_refs: one less for each reference a candidate holds to a candidate.
// Post: gc_refs counts only the references from outside the candidates.
void subtract_refs(GcList& list) {
  for (PyObject& o : list) o.ob_type->traverse(&o, &visit_decref, nullptr);
}

// move_unreachable: objects with gc_refs != 0 are roots, and so is everything they
// reach; the rest moves to `unreachable`.
// Invariant of the loop: every object before `it` is reachable (scanned), and an
// object visit_reachable marks (gc_refs 1, or moved back from `unreachable`) is scanned
// when the loop reaches it.
// Post: `list` holds exactly the reachable candidates, `unreachable` the rest
// (gc_unreachable set); every object of both is back to kIdle.
void move_unreachable(GcList& list, GcList& unreachable) {
  for (auto it = list.begin(); it != list.end();) {
    PyObject& o = *it;
    // Non-zero, as CPython tests it: a count below zero means a traverse reported a
    // reference twice (PyTorch's E2 tensor traverse, for a tensor two hermetic wrappers
    // own: each reports the tensor's C++ pre-hook object).  A debug CPython asserts on
    // it; a release one, like this, takes the object for a root.
    if (o.gc_refs != 0) {
      o.ob_type->traverse(&o, &visit_reachable, &list);  // may append to list
      ++it;
    } else {
      it = list.erase(it);
      o.gc_unreachable = true;
      unreachable.push_back(o);
    }
  }
  for (PyObject& o : list) o.gc_phase = kIdle;
  for (PyObject& o : unreachable) o.gc_phase = kIdle;
}

// Steps 1-3 together, as gcmodule.c's deduce_unreachable.
void deduce_unreachable(GcList& list, GcList& unreachable) {
  update_refs(list);
  subtract_refs(list);
  move_unreachable(list, unreachable);
}

}  // namespace

// See Note [The cycle collector] for the steps.
std::size_t Runtime::collect_locked(int generation) noexcept {
  REVIVE_INTERNAL_ASSERT(gil_.held_by_this_thread(), "collection without the GIL");
  if (gc_collecting_) return 0;  // a finalizer or callback asked: CPython ignores it too
  gc_collecting_ = true;

  // The candidates: this generation and every younger one, merged.
  if (generation + 1 < kGenerations) ++gc_count_[generation + 1];
  for (int g = 0; g <= generation; ++g) gc_count_[g] = 0;
  GcList& young = generations_[generation];
  for (int g = 0; g < generation; ++g) young.splice(young.end(), generations_[g]);
  GcList& old = generations_[generation + 1 < kGenerations ? generation + 1 : generation];

  // Steps 1-3.  Post: `young` reachable, `unreachable` the garbage candidates.
  GcList unreachable;
  deduce_unreachable(young, unreachable);
  if (&young != &old) old.splice(old.end(), young);  // survivors get older
  const std::size_t found = unreachable.size();

  // Step 4, handle_weakrefs: every weakref to a garbage object reads None before any
  // callback runs.  Post: no garbage object has a weakref.
  handle_weakrefs(unreachable);

  // Step 5, finalize_garbage: __del__, once in each object's life.  Post: every garbage
  // object still alive has been finalized; some may have been made reachable again.
  finalize_garbage(unreachable);

  // Step 6, handle_resurrected_objects: steps 1-3 again over the garbage; what a
  // finalizer made reachable survives.  Post: `garbage` is what nothing can reach.
  for (PyObject& o : unreachable) o.gc_unreachable = false;
  GcList garbage;
  deduce_unreachable(unreachable, garbage);
  old.splice(old.end(), unreachable);

  // Step 7, delete_garbage: clear each object, holding it across the call; most die
  // as their references drop.  Post: `garbage` is empty; survivors are in `old`.
  delete_garbage(garbage, old);

  emit(EventKind::GcCollect, nullptr, nullptr,
       detail::str_cat("generation ", generation, ": ", found, " unreachable"));
  gc_collecting_ = false;
  return found;
}

void Runtime::handle_weakrefs(GcList& unreachable) noexcept {
  std::vector<Ref> callbacks;
  if (testing::planted(testing::PlantedBug::CallbackBeforeClear)) {  // test machinery (testing.h)
    for (PyObject& o : unreachable) {
      for (auto& link : o.weakrefs) {
        auto& w = static_cast<WeakrefObject&>(link);
        if (w.callback) callbacks.push_back(Ref::borrow(&w));
      }
    }
    run_weakref_callbacks(callbacks);  // each still reads its referent
    callbacks.clear();
  }
  for (PyObject& o : unreachable) detach_weakrefs(&o, &callbacks);
  run_weakref_callbacks(callbacks);
}

// Each object moves to `seen` before its __del__ runs, so the loop survives objects that
// die during a finalizer (their hook unlinks them).
void Runtime::finalize_garbage(GcList& unreachable) noexcept {
  GcList seen;
  while (!unreachable.empty()) {
    PyObject& o = unreachable.front();
    unreachable.pop_front();
    seen.push_back(o);
    const Finalizer* finalizer = o.ob_type->find_finalizer();
    if (finalizer != nullptr && !o.finalized) call_finalizer(&o, *finalizer);
  }
  unreachable.splice(unreachable.end(), seen);
}

void Runtime::delete_garbage(GcList& garbage, GcList& old) noexcept {
  while (!garbage.empty()) {
    PyObject* o = &garbage.front();
    Ref hold = Ref::borrow(o);
    if (o->ob_type->clear != nullptr) o->ob_type->clear(o);
    if (!garbage.empty() && &garbage.front() == o) {
      garbage.pop_front();  // still alive after its clear: it may die later
      o->gc_unreachable = false;
      old.push_back(*o);
    }
    hold.reset();  // often the last reference
  }
}

}  // namespace revive::interp
