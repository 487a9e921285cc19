// The fake CPython: object lifetime, subtype_dealloc, attributes, weak references,
// teardown.  The cycle collector is in gc.cpp; tensors and storages are the binding's
// (binding/include/revive/binding/python_variable.h).
#include "revive/pyslot/move_out.h"
#include "revive/interp/runtime.h"

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <set>
#include <ostream>

namespace revive {
namespace {
std::atomic<std::uint64_t> nextObjectId{1};
}  // namespace

PyObject::PyObject(interp::Runtime* owner, const interp::PyType* type)
    : ob_type(type),
      interp(owner),
      id(nextObjectId.fetch_add(1, std::memory_order_relaxed)),
      slots(type->total_slots()) {}

PyObject::~PyObject() = default;

}  // namespace revive

namespace revive::interp {
namespace {

std::atomic<std::int64_t> liveObjects{0};
std::atomic<std::int64_t> abandonedObjects{0};

// See Note [Interpreter teardown leaks on purpose].  Held through a pointer in static
// storage and never destroyed: reachable, so not a leak to LeakSanitizer.
std::mutex& graveyard_mutex() {
  static std::mutex m;
  return m;
}
std::uint64_t reclaim_rounds = 0;  // under graveyard_mutex()
std::vector<Runtime*>& graveyard() {
  static auto* g = new std::vector<Runtime*>();
  return *g;
}

std::string no_attribute(const PyObject* o, const std::string& attr) {
  return detail::str_cat("'", o->ob_type->name, "' object has no attribute '", attr, "'");
}

}  // namespace

PythonError::PythonError(std::string_view kind, const std::string& message)
    : Error(detail::str_cat(kind, ": ", message)) {}

// ---- PyType ------------------------------------------------------------------------

bool PyType::is_subtype_of(const PyType* other) const noexcept {
  for (const PyType* t = this; t != nullptr; t = t->base) {
    if (t == other) return true;
  }
  return false;
}

const Finalizer* PyType::find_finalizer() const noexcept {
  for (const PyType* t = this; t != nullptr; t = t->base) {
    if (t->finalizer) return &t->finalizer;
  }
  return nullptr;
}

std::optional<std::size_t> PyType::find_slot(const std::string& attr) const {
  for (const PyType* t = this; t != nullptr; t = t->base) {
    auto it = std::find(t->own_slots.begin(), t->own_slots.end(), attr);
    if (it != t->own_slots.end()) {
      return t->slot_offset + static_cast<std::size_t>(it - t->own_slots.begin());
    }
  }
  return std::nullopt;
}

// ---- Ref ---------------------------------------------------------------------------

Ref Ref::borrow(PyObject* o) {
  if (o != nullptr) o->interp->incref(o);
  return Ref(o);
}

Ref::Ref(const Ref& o) : obj_(o.obj_) {
  if (obj_ != nullptr) obj_->interp->incref(obj_);
}

void Ref::reset() noexcept {
  if (PyObject* o = std::exchange(obj_, nullptr)) o->interp->decref(o);
}

// ---- life of an interpreter ----------------------------------------------------------

namespace {
// The names of the interpreters alive now: two live interpreters with one name would make
// every refusal unreadable ("on interpreter I0 ... another ... interpreter I0").
std::mutex& names_mutex() {
  static std::mutex m;
  return m;
}
std::set<std::string>& live_names() {
  static auto* names = new std::set<std::string>();
  return *names;
}
std::string claim_name(std::string name) {
  REVIVE_CHECK(!name.empty(), "an interpreter needs a name");
  std::lock_guard lock(names_mutex());
  REVIVE_CHECK(live_names().insert(name).second, "an interpreter named ", name,
               " already exists; give each live interpreter its own name");
  return name;
}
}  // namespace

Runtime::Runtime(std::string name) : name_(claim_name(std::move(name))) {
  (void)reclaim_dead_interpreters();  // Note [Reclaiming a dead interpreter]: a sweep point
  auto add = [this](std::string n, const PyType* base, Layout layout, bool has_dict) {
    PyType& t = types_.emplace_back();
    t.name = std::move(n);
    t.base = base;
    t.layout = layout;
    t.has_dict = has_dict;
    install_type_slots(t);
    return &t;
  };
  object_type_ = add("object", nullptr, Layout::Object, false);
  weakref_type_ = add("weakref", object_type_, Layout::Weakref, false);
}

Runtime::~Runtime() = default;

Runtime::Owner Runtime::create(std::string name) { return Owner(new Runtime(std::move(name))); }

void Runtime::Teardown::operator()(Runtime* runtime) const noexcept {
  if (runtime->is_finalized()) {
    // A second teardown of the same interpreter (its deleter called twice): refuse it.
    // It would count the abandoned objects twice and push the interpreter into the
    // graveyard twice.
    std::fprintf(stderr, "revive: interpreter %s was already torn down; the second teardown "
                         "does nothing\n", runtime->name().c_str());
    return;
  }
  runtime->finalize();
  {
    std::lock_guard lock(graveyard_mutex());
    graveyard().push_back(runtime);
  }
  (void)reclaim_dead_interpreters();  // Note [Reclaiming a dead interpreter]: a sweep point
}

// ---- reclaiming dead interpreters (Note [Reclaiming a dead interpreter]) --------------

std::size_t Runtime::reclaim_dead_interpreters() noexcept {
  std::size_t freed = 0;
  // Dead interpreters are judged together: one's abandoned wrapper may own a tensor
  // another tagged, and each then keeps the other.  The group starts as the whole
  // graveyard; whatever something outside it still reaches leaves it, until the rest
  // reach only each other.  Judged under the graveyard's mutex, each under its own GIL
  // (never two GILs at once), taken only if free: a thread may hold a dead
  // interpreter's GIL while it waits for this mutex (it tore that interpreter down
  // under its GIL and now sweeps), so waiting for it here could deadlock; one whose
  // GIL is busy stays for a later sweep.  The others' abandoned objects are read
  // without their GILs, which is safe because nothing changes an abandoned object
  // while its interpreter is in the graveyard (incref and decref only count) and only
  // a sweep, under this mutex, takes one out (what they reach in C++ is another
  // matter: see the Note's races).  Freed outside the mutex: freeing may
  // call into live interpreters, whose GILs must never be taken under it.  Freeing
  // one group can let go of what kept another interpreter, so sweep again until
  // nothing changes.
  for (bool progress = true; progress;) {
    progress = false;
    std::vector<Runtime*> group;
    {
      std::lock_guard lock(graveyard_mutex());
      auto& g = graveyard();
      group.assign(g.begin(), g.end());
      for (bool shrank = true; shrank && !group.empty();) {
        std::vector<PyObject*> abandoned;
        for (Runtime* dead : group) {
          for (PyObject& o : dead->objects_) abandoned.push_back(&o);
        }
        ++reclaim_rounds;  // `abandoned` is new: See ReclaimHooks::accounted
        const std::size_t judged = group.size();
        std::erase_if(group, [&](Runtime* dead) {
          // Not while this thread holds its GIL (it tore it down under its GIL: freeing
          // it would free a mutex this thread still holds), nor while a thread waits
          // for it (a call that will be refused once it gets the GIL, Note [One way
          // into an interpreter]): a later sweep will take it.
          if (dead->gil_.held_by_this_thread() || dead->gil_.waiting() > 0) return true;
          if (!dead->gil_.try_acquire()) return true;
          const bool reclaimable = dead->reclaimable(abandoned);
          dead->gil_.release();
          return !reclaimable;
        });
        shrank = group.size() != judged;
      }
      for (Runtime* dead : group) g.erase(std::find(g.begin(), g.end(), dead));
    }
    if (group.empty()) break;
    // First what every member owns in C++ (a release may reach another member's
    // slots, so none is freed yet), then their objects.
    for (Runtime* dead : group) {
      GilGuard gil(dead->gil_);
      dead->release_abandoned();
    }
    for (Runtime* dead : group) {
      GilGuard gil(dead->gil_);
      dead->free_abandoned();
    }
    for (Runtime* dead : group) {
      bool gone = false;
      {
        // Only lost to a racing weak_intrusive_ptr::lock() (see the Note): a tag that
        // outlived the sweep keeps the (now empty) interpreter.
        GilGuard gil(dead->gil_);
        gone = dead->reclaimable({});
      }
      if (gone) {
        delete dead;
        ++freed;
      } else {
        std::lock_guard lock(graveyard_mutex());
        graveyard().push_back(dead);
      }
    }
    progress = true;
  }
  return freed;
}

std::size_t Runtime::dead_interpreter_count() noexcept {
  std::lock_guard lock(graveyard_mutex());
  return graveyard().size();
}

std::uint64_t Runtime::reclaim_round() noexcept { return reclaim_rounds; }

void Runtime::at_reclaim(ReclaimHooks hooks) {
  GilGuard gil(gil_);
  reclaim_hooks_.push_back(std::move(hooks));
}

// The collector's update_refs and subtract_refs, over every reference an abandoned
// object holds (not what a preservation-aware traverse chooses to report).
void Runtime::count_outside_references() noexcept {
  for (PyObject& o : objects_) o.gc_refs = o.ob_refcnt;
  auto subtract = [](PyObject* referent, void* arg) {
    if (referent != nullptr && referent->interp == static_cast<Runtime*>(arg)) --referent->gc_refs;
  };
  for (PyObject& o : objects_) {
    subtype_traverse(&o, subtract, this);
    for (auto& hooks : reclaim_hooks_) {
      if (hooks.visit_fields) hooks.visit_fields(&o, subtract, this);
    }
  }
  outside_refs_ = 0;
  for (PyObject& o : objects_) {
    REVIVE_INTERNAL_ASSERT(o.gc_refs >= 0, "object ", o.id, " holds fewer references (",
                           o.ob_refcnt, ") than its fellow objects give it");
    outside_refs_ += o.gc_refs;
    o.gc_refs = 0;
  }
}

bool Runtime::reclaimable(const std::vector<PyObject*>& abandoned) const noexcept {
  std::int64_t outside = outside_refs_;
  for (const auto& hooks : reclaim_hooks_) {
    if (!hooks.accounted) continue;
    const std::optional<std::int64_t> accounted = hooks.accounted(abandoned);
    if (!accounted) return false;
    outside -= *accounted;
  }
  REVIVE_INTERNAL_ASSERT(outside >= 0, "interpreter ", name_, " has more references accounted for (",
                         outside_refs_ - outside, ") than held from outside (", outside_refs_, ")");
  return outside == 0;
}

void Runtime::release_abandoned() noexcept {
  reclaiming_ = true;
  for (PyObject& o : objects_) {
    for (auto& hooks : reclaim_hooks_) {
      if (hooks.release) hooks.release(&o);
    }
  }
}

void Runtime::free_abandoned() noexcept {
  // The references they hold to each other are forgotten, not given back: giving
  // one back reads the referent, which may be freed first.  And weakrefs are unlinked:
  // a weakref object freed while still linked into its referent's list would corrupt it.
  auto forget = [](Value& v) {
    if (auto* ref = std::get_if<Ref>(&v)) (void)ref->release();
  };
  for (PyObject& o : objects_) {
    if (o.dict) {
      for (auto& [name, value] : *o.dict) forget(value);
    }
    for (Value& value : o.slots) forget(value);
    while (!o.weakrefs.empty()) {
      static_cast<WeakrefObject&>(o.weakrefs.front()).referent = nullptr;
      o.weakrefs.pop_front();
    }
  }
  const auto count = static_cast<std::int64_t>(objects_.size());
  // Freeing runs no Python code, in any order.
  objects_.clear_and_dispose([](PyObject* o) {
    o->ob_refcnt = 0;
    o->ob_type->free(o);
  });
  abandonedObjects.fetch_sub(count, std::memory_order_relaxed);
}

void Runtime::finalize() noexcept {
  GilGuard gil(gil_);
  // Like Py_Finalize clearing module dicts: objects only the globals kept alive die
  // now, through the normal dealloc (so some become zombies of tensors C++ still
  // holds).  A finalizer may add globals back; keep going until none are left.
  while (!globals_.empty()) {
    auto node = globals_.extract(globals_.begin());
    (void)node;  // the value's references are dropped here
  }
  // Then, like Py_Finalize, one last full collection (even with the collector
  // disabled): cycles that only the globals reached are freed normally.
  (void)collect_locked(kGenerations - 1);
  finalized_.store(true, std::memory_order_release);
  {
    std::lock_guard lock(names_mutex());
    live_names().erase(name_);  // a new interpreter may take the name
  }
  // The modules' own teardown: the binding disarms its PyInterpreter here.
  for (auto& hook : teardown_hooks_) hook();
  const auto abandoned = static_cast<std::int64_t>(objects_.size());
  count_outside_references();  // Note [Reclaiming a dead interpreter]
  liveObjects.fetch_sub(abandoned, std::memory_order_relaxed);
  abandonedObjects.fetch_add(abandoned, std::memory_order_relaxed);
  if (observer_ != nullptr) {
    emit(EventKind::Disarmed, nullptr, nullptr,
         detail::str_cat(abandoned, " object(s) abandoned"));
  }
  observer_ = nullptr;
}

std::int64_t Runtime::live_object_count() noexcept {
  return liveObjects.load(std::memory_order_relaxed);
}
std::int64_t Runtime::abandoned_object_count() noexcept {
  return abandonedObjects.load(std::memory_order_relaxed);
}

// ---- checks, events, warnings --------------------------------------------------------

Runtime::Entry::Entry(const Runtime& runtime, const char* what) : gil_(runtime.gil_) {
  REVIVE_CHECK(!runtime.is_finalized(), what, "(): interpreter ", runtime.name_,
               " has been torn down");
}

bool Runtime::owns_type(const PyType* type) const noexcept {
  return std::any_of(types_.begin(), types_.end(), [type](const PyType& t) { return &t == type; });
}

void Runtime::check_type_home(const PyType* cls, const char* what) const {
  REVIVE_CHECK(cls != nullptr, what, "() needs a class");
  REVIVE_CHECK(owns_type(cls), what, "(): class ", cls->name, " belongs to another interpreter, not ",
               name_);
}

void Runtime::check_usable(const Ref& o, const char* what) const {
  if (o.is_none()) {
    throw PythonError("TypeError", detail::str_cat(what, "() got None"));
  }
  REVIVE_CHECK(o->interp == this, what, "(): object ", o->id, " belongs to interpreter ",
               o->interp->name(), ", not ", name_);
}

void Runtime::emit(EventKind kind, const PyObject* o, const void* target,
                       std::string detail) const {
  if (observer_ != nullptr) {
    observer_->on_event(name_, trace::Event{kind, o, target, std::move(detail)});
  }
}

void Runtime::warn(std::string text) {
  emit(EventKind::Warning, nullptr, nullptr, text);
  warnings_.push_back(std::move(text));
}

std::vector<std::string> Runtime::warnings() const {
  GilGuard gil(gil_);
  return warnings_;
}

void Runtime::clear_warnings() {
  GilGuard gil(gil_);
  warnings_.clear();
}

void Runtime::set_observer(Observer* observer) {
  GilGuard gil(gil_);
  observer_ = observer;
}

void Runtime::at_teardown(std::function<void()> hook) {
  GilGuard gil(gil_);
  teardown_hooks_.push_back(std::move(hook));
}

// ---- classes -----------------------------------------------------------------------

const PyType* Runtime::new_class(std::string name, const PyType* base, ClassSpec spec) {
  Entry entered(*this, "new_class");
  REVIVE_CHECK(base != nullptr, "class ", name, " needs a base class");
  REVIVE_CHECK(owns_type(base), "class ", name, ": base ", base->name,
               " belongs to another interpreter");
  if (base->layout == Layout::Weakref) {
    throw PythonError("TypeError", "type 'weakref' is not an acceptable base type");
  }
  PyType& t = types_.emplace_back();
  t.name = std::move(name);
  t.base = base;
  t.layout = base->layout;
  t.native = base->native;
  // As in Python: a class without __slots__ gets a __dict__; with __slots__ it only
  // inherits one.
  t.has_dict = base->has_dict || !spec.slots.has_value();
  t.own_slots = spec.slots.value_or(std::vector<std::string>{});
  t.slot_offset = base->total_slots();
  t.finalizer = std::move(spec.finalizer);
  t.torch_dispatch = base->torch_dispatch || spec.torch_dispatch;
  install_type_slots(t);
  t.on_subclass = base->on_subclass;  // the extension's metaclass, if any
  if (t.on_subclass) t.on_subclass(t);
  return &t;
}

PyType& Runtime::add_native_type(std::string name, const PyType* base, const void* native,
                                 bool has_dict) {
  GilGuard gil(gil_);
  PyType& t = types_.emplace_back();
  t.name = std::move(name);
  t.base = base;
  t.layout = Layout::Native;
  t.native = native;
  t.has_dict = has_dict;
  return t;
}

// ---- allocation and refcounts ------------------------------------------------------

void Runtime::register_object(PyObject* o) noexcept {
  objects_.push_back(*o);
  liveObjects.fetch_add(1, std::memory_order_relaxed);
  if (o->ob_type->traverse != nullptr) {
    gc_track(o);
    ++gc_count_[0];
  }
}

// Leaves the registry: the object is about to be deleted.
void Runtime::unregister(PyObject* o) noexcept {
  objects_.erase(objects_.iterator_to(*o));
  liveObjects.fetch_sub(1, std::memory_order_relaxed);
  gc_untrack(o);
  if (o->ob_type->traverse != nullptr && gc_count_[0] > 0) --gc_count_[0];
}

Ref Runtime::new_object(const PyType* cls) {
  Entry entered(*this, "new_object");
  check_type_home(cls, "new_object");
  REVIVE_CHECK(cls->layout == Layout::Object,
               "new_object() makes plain objects; use empty() or new_storage() for ", cls->name);
  gc_safe_point();
  return Ref::steal(allocate<PyObject>(cls));
}

// Teardown sets finalized_ under the GIL, so every check of it that matters is made
// after taking the GIL: a thread that was waiting for it sees the teardown.
void Runtime::incref(PyObject* o) {
  GilGuard gil(gil_);
  if (is_finalized()) {  // Note [Interpreter teardown leaks on purpose]
    if (!reclaiming_) ++outside_refs_;  // Note [Reclaiming a dead interpreter]
    return;
  }
  REVIVE_INTERNAL_ASSERT(o->ob_refcnt > 0, "incref of object ", o->id,
                         " whose refcount already reached 0 (use after free)");
  ++o->ob_refcnt;
}

void Runtime::decref(PyObject* o) noexcept {
  GilGuard gil(gil_);
  if (is_finalized()) {  // Note [Interpreter teardown leaks on purpose]
    if (!reclaiming_) --outside_refs_;  // Note [Reclaiming a dead interpreter]
    return;
  }
  decref_locked(o);
}

void Runtime::decref_locked(PyObject* o) noexcept {
  REVIVE_INTERNAL_ASSERT(gil_.held_by_this_thread(), "decref without the GIL");
  REVIVE_INTERNAL_ASSERT(o->ob_refcnt > 0, "decref of object ", o->id,
                         " whose refcount already reached 0 (double free)");
  if (--o->ob_refcnt == 0) {
    o->ob_type->dealloc(o);  // tp_dealloc: see install_type_slots in src/gc.cpp
  }
}

// CPython's subtype_dealloc, in its order.  PyTorch's THPVariable_subclass_dealloc
// copies it (after trying resurrection first), which is why tensors share it.
bool Runtime::finalize_and_clear(PyObject* o) noexcept {
  gc_untrack(o);
  const Finalizer* finalizer = o->ob_type->find_finalizer();
  const bool has_finalizer = finalizer != nullptr;
  if (has_finalizer && !o->finalized) {
    // PyObject_CallFinalizerFromDealloc: revive the object for the call (tracked
    // again, as CPython does), then check whether the finalizer kept a reference
    // (PEP 442: it may, and then the object lives on; its __del__ never runs again).
    o->ob_refcnt = 1;
    if (o->ob_type->traverse != nullptr) gc_track(o);
    call_finalizer(o, *finalizer);
    if (--o->ob_refcnt != 0) {
      return true;  // resurrected by __del__; stays tracked
    }
    gc_untrack(o);
  }
  clear_weakrefs(o, /*run_callbacks=*/true);
  if (has_finalizer) {
    clear_weakrefs(o, /*run_callbacks=*/false);  // ones the finalizer made
  }
  clear_slots_and_dict(o, nullptr);
  return false;
}

void Runtime::call_finalizer(PyObject* o, const Finalizer& finalizer) noexcept {
  o->finalized = true;
  Ref self = Ref::borrow(o);
  emit(EventKind::Finalized, o, nullptr, o->ob_type->name);
  try {
    finalizer(*this, self);
  } catch (const std::exception& e) {
    warn(detail::str_cat("Exception ignored in: <function ", o->ob_type->name,
                         ".__del__>: ", e.what()));
  }
}

void Runtime::clear_slots_and_dict(PyObject* o, const PyType* stop) noexcept {
  // See Note [Move out, then drop]: dropping runs arbitrary code, which must find the
  // object consistent.
  for (const PyType* t = o->ob_type; t != stop; t = t->base) {
    for (std::size_t i = 0; i < t->own_slots.size(); ++i) {
      drop(o->slots[t->slot_offset + i]);
    }
  }
  drop(o->dict);
}

// PyObject_ClearWeakRefs: every weakref reads None from now on; then the callbacks of
// the weakrefs that are themselves alive run, once each.
void Runtime::clear_weakrefs(PyObject* o, bool run_callbacks) noexcept {
  std::vector<Ref> pending;
  detach_weakrefs(o, run_callbacks ? &pending : nullptr);
  run_weakref_callbacks(pending);
}

void Runtime::detach_weakrefs(PyObject* o, std::vector<Ref>* callbacks) noexcept {
  while (!o->weakrefs.empty()) {
    auto* w = static_cast<WeakrefObject*>(&o->weakrefs.front());
    o->weakrefs.pop_front();
    w->referent = nullptr;
    emit(EventKind::WeakrefCleared, w, nullptr);
    if (callbacks != nullptr && w->callback) {
      callbacks->push_back(Ref::borrow(w));
    }
  }
}

void Runtime::run_weakref_callbacks(std::vector<Ref>& pending) noexcept {
  for (Ref& ref : pending) {
    auto* w = static_cast<WeakrefObject*>(ref.get());
    WeakCallback callback = std::exchange(w->callback, nullptr);
    try {
      callback(*this, ref);
    } catch (const std::exception& e) {
      warn(detail::str_cat("Exception ignored in weakref callback: ", e.what()));
    }
  }
}

void Runtime::free_object(PyObject* o) noexcept {
  REVIVE_INTERNAL_ASSERT(o->ob_refcnt == 0, "freeing object ", o->id, " with references left");
  REVIVE_INTERNAL_ASSERT(!o->GcHook::is_linked(), "freeing object ", o->id,
                         " that the cycle collector still tracks");
  REVIVE_INTERNAL_ASSERT(o->weakrefs.empty(), "freeing object ", o->id,
                         " while weakrefs still point at it");
  unregister(o);
  emit(EventKind::Freed, o, nullptr, o->ob_type->name);
  o->ob_type->free(o);  // Note [The type is the only dispatch]
}

// A wrapper whose init_pyobj threw: it was never recorded in a slot and never seen by
// Python, so no dealloc protocol applies (running it would consult the slot, which
// belongs to someone else).  Deleting it releases its owned cdata.
void Runtime::discard_half_built(PyObject* o) noexcept {
  unregister(o);
  o->ob_refcnt = 0;
  o->ob_type->free(o);
}

// ---- attributes and globals ----------------------------------------------------------

void Runtime::check_storable(const Value& v) const {
  if (const Ref* r = std::get_if<Ref>(&v); r != nullptr && !r->is_none()) {
    REVIVE_CHECK(r->get()->interp == this, "cannot store object ", r->get()->id,
                 " of interpreter ", r->get()->interp->name(), " in interpreter ", name());
  }
}

void Runtime::setattr(const Ref& obj, const std::string& attr, Value value) {
  Entry entered(*this, "setattr");
  check_usable(obj, "setattr");
  check_storable(value);
  Value old;  // released last: See Note [Move out, then drop]
  if (auto idx = obj->ob_type->find_slot(attr)) {
    old = replace(obj->slots[*idx], std::move(value));
    return;
  }
  if (!obj->ob_type->has_dict) throw PythonError("AttributeError", no_attribute(obj.get(), attr));
  auto& dict = obj->dict.has_value() ? *obj->dict : obj->dict.emplace();
  auto [it, inserted] = dict.try_emplace(attr);
  old = replace(it->second, std::move(value));
}

Value Runtime::getattr(const Ref& obj, const std::string& attr) {
  Entry entered(*this, "getattr");
  check_usable(obj, "getattr");
  if (auto idx = obj->ob_type->find_slot(attr)) {
    const Value& v = obj->slots[*idx];
    if (std::holds_alternative<None>(v)) {
      throw PythonError("AttributeError", detail::str_cat("'", obj->ob_type->name,
                                                          "' object has no attribute '", attr,
                                                          "' (unset slot)"));
    }
    return v;
  }
  if (obj->dict.has_value()) {
    if (auto it = obj->dict->find(attr); it != obj->dict->end()) return it->second;
  }
  throw PythonError("AttributeError", no_attribute(obj.get(), attr));
}

bool Runtime::hasattr(const Ref& obj, const std::string& attr) {
  try {
    (void)getattr(obj, attr);
    return true;
  } catch (const PythonError&) {
    return false;
  }
}

void Runtime::delattr(const Ref& obj, const std::string& attr) {
  Entry entered(*this, "delattr");
  check_usable(obj, "delattr");
  Value old;
  if (auto idx = obj->ob_type->find_slot(attr)) {
    old = replace(obj->slots[*idx], None{});
    return;
  }
  if (obj->dict.has_value()) {
    if (auto node = obj->dict->extract(attr)) {
      old = std::move(node.mapped());
      return;
    }
  }
  throw PythonError("AttributeError", no_attribute(obj.get(), attr));
}

void Runtime::set_global(const std::string& name, Value value) {
  Entry entered(*this, "set_global");
  check_storable(value);
  auto [it, inserted] = globals_.try_emplace(name);
  Value old = replace(it->second, std::move(value));  // See Note [Move out, then drop]
}

Value Runtime::get_global(const std::string& name) {
  Entry entered(*this, "get_global");
  auto it = globals_.find(name);
  if (it == globals_.end()) {
    throw PythonError("NameError", detail::str_cat("name '", name, "' is not defined"));
  }
  return it->second;
}

void Runtime::del_global(const std::string& name) {
  Entry entered(*this, "del_global");
  auto node = globals_.extract(name);
  if (!node) throw PythonError("NameError", detail::str_cat("name '", name, "' is not defined"));
}

// ---- weak references -----------------------------------------------------------------

Ref Runtime::weakref(const Ref& obj, WeakCallback callback) {
  Entry entered(*this, "weakref");
  check_usable(obj, "weakref");
  if (obj->ob_type->layout == Layout::Weakref) {
    throw PythonError("TypeError", "cannot create weak reference to 'weakref' object");
  }
  gc_safe_point();
  auto* w = allocate<WeakrefObject>(weakref_type_);
  w->referent = obj.get();
  w->callback = std::move(callback);
  obj->weakrefs.push_back(*w);
  return Ref::steal(w);
}

Ref Runtime::deref(const Ref& weakref) {
  Entry entered(*this, "deref");
  check_usable(weakref, "deref");
  if (weakref->ob_type->layout != Layout::Weakref) {
    throw PythonError("TypeError", detail::str_cat("'", weakref->ob_type->name,
                                                   "' object is not callable"));
  }
  auto* w = static_cast<WeakrefObject*>(weakref.get());
  if (w->referent == nullptr) return {};
  // A plain incref, whatever the referent's state: for a zombie this is the start of
  // Note [The weakref hole].
  emit(EventKind::WeakrefDeref, w->referent);
  return Ref::borrow(w->referent);
}

// ---- introspection -------------------------------------------------------------------

std::size_t Runtime::live_objects() const {
  GilGuard gil(gil_);
  return objects_.size();
}

bool Runtime::is_alive(const PyObject* o) const {
  GilGuard gil(gil_);
  return std::any_of(objects_.begin(), objects_.end(),
                     [o](const PyObject& p) { return &p == o; });
}

std::ptrdiff_t Runtime::refcnt(const PyObject* o) const {
  GilGuard gil(gil_);
  REVIVE_CHECK(is_alive(o), "refcnt(): object is not alive in interpreter ", name_);
  return o->ob_refcnt;
}

const PyType* Runtime::type_of(const Ref& o) const {
  Entry entered(*this, "type");
  check_usable(o, "type");
  return o->ob_type;
}

std::ostream& operator<<(std::ostream& os, const Ref& r) {
  if (r.is_none()) return os << "None";
  return os << "<" << r->ob_type->name << " object #" << r->id << ">";
}

}  // namespace revive::interp
