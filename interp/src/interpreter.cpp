// The generic half of the fake CPython: object lifetime, subtype_dealloc, attributes,
// weak references, teardown.  Tensors and storages are in wrappers.cpp.
#include "revive/interp/interpreter.h"

#include <algorithm>
#include <mutex>
#include <ostream>

namespace revive {
namespace {
std::atomic<std::uint64_t> nextObjectId{1};
}  // namespace

PyObject::PyObject(interp::Interpreter* owner, const interp::PyType* type)
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
std::vector<Interpreter*>& graveyard() {
  static auto* g = new std::vector<Interpreter*>();
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

// ---- the vtable --------------------------------------------------------------------

// What C++ reaches through a slot's tag while this interpreter is alive.
class Interpreter::VTable final : public impl::PyInterpreterVTable {
 public:
  explicit VTable(Interpreter* owner) : owner_(owner) {}
  std::string name() const override { return owner_->name_; }
  void decref(PyObject* pyobj, bool has_pyobj_slot) const override {
    owner_->decref_from_cpp(pyobj, has_pyobj_slot);
  }
  std::string type_name(const PyObject* pyobj) const override { return pyobj->ob_type->name; }
  void python_op_registration_trampoline(const OperatorHandle& op, Stack* stack) const override {
    owner_->run_python_op(op, stack, /*hermetic=*/false);
  }

 private:
  Interpreter* owner_;
};

// ---- life of an interpreter ----------------------------------------------------------

Interpreter::Interpreter(std::string name, GcBugs bugs)
    : name_(std::move(name)),
      vtable_(std::make_unique<VTable>(this)),
      pyinterpreter_(vtable_.get()),
      bugs_(bugs) {
  auto add = [this](std::string n, const PyType* base, Kind kind, bool has_dict) {
    PyType& t = types_.emplace_back();
    t.name = std::move(n);
    t.base = base;
    t.kind = kind;
    t.has_dict = has_dict;
    install_type_slots(t);
    return &t;
  };
  object_type_ = add("object", nullptr, Kind::Object, false);
  tensor_type_ = add("Tensor", object_type_, Kind::Tensor, true);
  storage_type_ = add("UntypedStorage", object_type_, Kind::Storage, true);
  weakref_type_ = add("weakref", object_type_, Kind::Weakref, false);
}

Interpreter::Owner Interpreter::create(std::string name, GcBugs bugs) {
  return Owner(new Interpreter(std::move(name), bugs));
}

void Interpreter::Teardown::operator()(Interpreter* interp) const noexcept {
  interp->finalize();
  std::lock_guard lock(graveyard_mutex());
  graveyard().push_back(interp);
}

void Interpreter::finalize() noexcept {
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
  pyinterpreter_.disarm();  // See Note [Disarming a dead interpreter].
  const auto abandoned = static_cast<std::int64_t>(objects_.size());
  liveObjects.fetch_sub(abandoned, std::memory_order_relaxed);
  abandonedObjects.fetch_add(abandoned, std::memory_order_relaxed);
  if (observer_ != nullptr) {
    emit(EventKind::Disarmed, nullptr, nullptr,
         detail::str_cat(abandoned, " object(s) abandoned"));
  }
  observer_ = nullptr;
}

std::int64_t Interpreter::live_object_count() noexcept {
  return liveObjects.load(std::memory_order_relaxed);
}
std::int64_t Interpreter::abandoned_object_count() noexcept {
  return abandonedObjects.load(std::memory_order_relaxed);
}

// ---- checks, events, warnings --------------------------------------------------------

void Interpreter::check_usable(const Ref& o, const char* what) const {
  REVIVE_CHECK(!is_finalized(), "interpreter ", name_, " has been torn down");
  if (o.is_none()) {
    throw PythonError("TypeError", detail::str_cat(what, "() got None"));
  }
  REVIVE_CHECK(o->interp == this, what, "(): object ", o->id, " belongs to interpreter ",
               o->interp->name(), ", not ", name_);
}

void Interpreter::emit(EventKind kind, const PyObject* o, const void* target,
                       std::string detail) const {
  if (observer_ != nullptr) {
    observer_->on_event(*this, Event{kind, o, target, std::move(detail)});
  }
}

void Interpreter::warn(std::string text) {
  emit(EventKind::Warning, nullptr, nullptr, text);
  warnings_.push_back(std::move(text));
}

std::vector<std::string> Interpreter::warnings() const {
  GilGuard gil(gil_);
  return warnings_;
}

void Interpreter::clear_warnings() {
  GilGuard gil(gil_);
  warnings_.clear();
}

void Interpreter::set_observer(Observer* observer) {
  GilGuard gil(gil_);
  observer_ = observer;
}

void Interpreter::set_resurrection_hook(std::function<void()> hook) {
  GilGuard gil(gil_);
  resurrection_hook_ = std::move(hook);
}

// ---- classes -----------------------------------------------------------------------

const PyType* Interpreter::new_class(std::string name, const PyType* base, ClassSpec spec) {
  GilGuard gil(gil_);
  REVIVE_CHECK(!is_finalized(), "interpreter ", name_, " has been torn down");
  REVIVE_CHECK(base != nullptr, "class ", name, " needs a base class");
  const bool ours = std::any_of(types_.begin(), types_.end(),
                                [base](const PyType& t) { return &t == base; });
  REVIVE_CHECK(ours, "class ", name, ": base ", base->name, " belongs to another interpreter");
  if (base->kind == Kind::Weakref) {
    throw PythonError("TypeError", "type 'weakref' is not an acceptable base type");
  }
  PyType& t = types_.emplace_back();
  t.name = std::move(name);
  t.base = base;
  t.kind = base->kind;
  // As in Python: a class without __slots__ gets a __dict__; with __slots__ it only
  // inherits one.
  t.has_dict = base->has_dict || !spec.slots.has_value();
  t.own_slots = spec.slots.value_or(std::vector<std::string>{});
  t.slot_offset = base->total_slots();
  t.finalizer = std::move(spec.finalizer);
  t.torch_dispatch = base->torch_dispatch || spec.torch_dispatch;
  install_type_slots(t);
  return &t;
}

// ---- allocation and refcounts ------------------------------------------------------

template <class Obj>
Obj* Interpreter::allocate(const PyType* type) {
  auto* o = new Obj(this, type);
  objects_.push_back(*o);
  liveObjects.fetch_add(1, std::memory_order_relaxed);
  if (type->traverse != nullptr) {
    gc_track(o);
    ++gc_count_[0];
  }
  return o;
}

template TensorObject* Interpreter::allocate<TensorObject>(const PyType*);
template StorageObject* Interpreter::allocate<StorageObject>(const PyType*);

// Leaves the registry: the object is about to be deleted.
void Interpreter::unregister(PyObject* o) noexcept {
  objects_.erase(objects_.iterator_to(*o));
  liveObjects.fetch_sub(1, std::memory_order_relaxed);
  gc_untrack(o);
  if (o->ob_type->traverse != nullptr && gc_count_[0] > 0) --gc_count_[0];
}

Ref Interpreter::new_object(const PyType* cls) {
  GilGuard gil(gil_);
  REVIVE_CHECK(!is_finalized(), "interpreter ", name_, " has been torn down");
  REVIVE_CHECK(cls != nullptr && cls->kind == Kind::Object,
               "new_object() makes plain objects; use empty() or new_storage() for ",
               cls != nullptr ? cls->name : std::string("null"));
  gc_safe_point();
  return Ref::steal(allocate<PyObject>(cls));
}

// Teardown sets finalized_ under the GIL, so every check of it that matters is made
// after taking the GIL: a thread that was waiting for it sees the teardown.
void Interpreter::incref(PyObject* o) {
  GilGuard gil(gil_);
  if (is_finalized()) return;  // Note [Interpreter teardown leaks on purpose]
  REVIVE_INTERNAL_ASSERT(o->ob_refcnt > 0, "incref of object ", o->id,
                         " whose refcount already reached 0 (use after free)");
  ++o->ob_refcnt;
}

void Interpreter::decref(PyObject* o) noexcept {
  GilGuard gil(gil_);
  if (is_finalized()) return;  // Note [Interpreter teardown leaks on purpose]
  decref_locked(o);
}

void Interpreter::decref_locked(PyObject* o) noexcept {
  REVIVE_INTERNAL_ASSERT(gil_.held_by_this_thread(), "decref without the GIL");
  REVIVE_INTERNAL_ASSERT(o->ob_refcnt > 0, "decref of object ", o->id,
                         " whose refcount already reached 0 (double free)");
  if (--o->ob_refcnt == 0) {
    dealloc(o);
  }
}

// tp_dealloc, through the type: see install_type_slots in src/gc.cpp.
void Interpreter::dealloc(PyObject* o) noexcept { o->ob_type->dealloc(o); }

// CPython's subtype_dealloc, in its order.  PyTorch's THPVariable_subclass_dealloc
// copies it (after trying resurrection first), which is why tensors share it.
bool Interpreter::finalize_and_clear(PyObject* o) noexcept {
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

void Interpreter::call_finalizer(PyObject* o, const Finalizer& finalizer) noexcept {
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

void Interpreter::clear_slots_and_dict(PyObject* o, const PyType* stop) noexcept {
  // Each value is moved out before it is dropped: dropping runs arbitrary code, which
  // must find the object consistent.
  for (const PyType* t = o->ob_type; t != stop; t = t->base) {
    for (std::size_t i = 0; i < t->own_slots.size(); ++i) {
      Value dropped = std::exchange(o->slots[t->slot_offset + i], None{});
    }
  }
  if (o->dict.has_value()) {
    std::map<std::string, Value> dropped = std::move(*o->dict);
    o->dict.reset();
  }
}

// PyObject_ClearWeakRefs: every weakref reads None from now on; then the callbacks of
// the weakrefs that are themselves alive run, once each.
void Interpreter::clear_weakrefs(PyObject* o, bool run_callbacks) noexcept {
  std::vector<Ref> pending;
  detach_weakrefs(o, run_callbacks ? &pending : nullptr);
  run_weakref_callbacks(pending);
}

void Interpreter::detach_weakrefs(PyObject* o, std::vector<Ref>* callbacks) noexcept {
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

void Interpreter::run_weakref_callbacks(std::vector<Ref>& pending) noexcept {
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

void Interpreter::free_object(PyObject* o) noexcept {
  REVIVE_INTERNAL_ASSERT(o->ob_refcnt == 0, "freeing object ", o->id, " with references left");
  REVIVE_INTERNAL_ASSERT(!o->GcHook::is_linked(), "freeing object ", o->id,
                         " that the cycle collector still tracks");
  REVIVE_INTERNAL_ASSERT(o->weakrefs.empty(), "freeing object ", o->id,
                         " while weakrefs still point at it");
  unregister(o);
  emit(EventKind::Freed, o, nullptr, o->ob_type->name);
  delete o;
}

// A wrapper whose init_pyobj threw: it was never recorded in a slot and never seen by
// Python, so no dealloc protocol applies (running it would consult the slot, which
// belongs to someone else).  Deleting it releases its owned cdata.
void Interpreter::discard_half_built(PyObject* o) noexcept {
  unregister(o);
  o->ob_refcnt = 0;
  delete o;
}

// ---- attributes and globals ----------------------------------------------------------

namespace {
void check_value_home(const Value& v, const Interpreter* home) {
  if (const Ref* r = std::get_if<Ref>(&v); r != nullptr && !r->is_none()) {
    REVIVE_CHECK(r->get()->interp == home, "cannot store object ", r->get()->id,
                 " of interpreter ", r->get()->interp->name(), " in interpreter ",
                 home->name());
  }
}
}  // namespace

void Interpreter::setattr(const Ref& obj, const std::string& attr, Value value) {
  check_usable(obj, "setattr");
  check_value_home(value, this);
  GilGuard gil(gil_);
  Value old;  // released last, after the object is consistent
  if (auto idx = obj->ob_type->find_slot(attr)) {
    old = std::exchange(obj->slots[*idx], std::move(value));
    return;
  }
  if (!obj->ob_type->has_dict) throw PythonError("AttributeError", no_attribute(obj.get(), attr));
  auto& dict = obj->dict.has_value() ? *obj->dict : obj->dict.emplace();
  auto [it, inserted] = dict.try_emplace(attr);
  old = std::exchange(it->second, std::move(value));
}

Value Interpreter::getattr(const Ref& obj, const std::string& attr) {
  check_usable(obj, "getattr");
  GilGuard gil(gil_);
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

bool Interpreter::hasattr(const Ref& obj, const std::string& attr) {
  try {
    (void)getattr(obj, attr);
    return true;
  } catch (const PythonError&) {
    return false;
  }
}

void Interpreter::delattr(const Ref& obj, const std::string& attr) {
  check_usable(obj, "delattr");
  GilGuard gil(gil_);
  Value old;
  if (auto idx = obj->ob_type->find_slot(attr)) {
    old = std::exchange(obj->slots[*idx], None{});
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

void Interpreter::set_global(const std::string& name, Value value) {
  REVIVE_CHECK(!is_finalized(), "interpreter ", name_, " has been torn down");
  check_value_home(value, this);
  GilGuard gil(gil_);
  auto [it, inserted] = globals_.try_emplace(name);
  Value old = std::exchange(it->second, std::move(value));
}

Value Interpreter::get_global(const std::string& name) {
  GilGuard gil(gil_);
  REVIVE_CHECK(!is_finalized(), "interpreter ", name_, " has been torn down");
  auto it = globals_.find(name);
  if (it == globals_.end()) {
    throw PythonError("NameError", detail::str_cat("name '", name, "' is not defined"));
  }
  return it->second;
}

void Interpreter::del_global(const std::string& name) {
  GilGuard gil(gil_);
  REVIVE_CHECK(!is_finalized(), "interpreter ", name_, " has been torn down");
  auto node = globals_.extract(name);
  if (!node) throw PythonError("NameError", detail::str_cat("name '", name, "' is not defined"));
}

// ---- weak references -----------------------------------------------------------------

Ref Interpreter::weakref(const Ref& obj, WeakCallback callback) {
  check_usable(obj, "weakref");
  GilGuard gil(gil_);
  if (obj->ob_type->kind == Kind::Weakref) {
    throw PythonError("TypeError", "cannot create weak reference to 'weakref' object");
  }
  gc_safe_point();
  auto* w = allocate<WeakrefObject>(weakref_type_);
  w->referent = obj.get();
  w->callback = std::move(callback);
  obj->weakrefs.push_back(*w);
  return Ref::steal(w);
}

Ref Interpreter::deref(const Ref& weakref) {
  check_usable(weakref, "deref");
  GilGuard gil(gil_);
  if (weakref->ob_type->kind != Kind::Weakref) {
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

std::size_t Interpreter::live_objects() const {
  GilGuard gil(gil_);
  return objects_.size();
}

bool Interpreter::is_alive(const PyObject* o) const {
  GilGuard gil(gil_);
  return std::any_of(objects_.begin(), objects_.end(),
                     [o](const PyObject& p) { return &p == o; });
}

std::ptrdiff_t Interpreter::refcnt(const PyObject* o) const {
  GilGuard gil(gil_);
  REVIVE_CHECK(is_alive(o), "refcnt(): object is not alive in interpreter ", name_);
  return o->ob_refcnt;
}

const PyType* Interpreter::type_of(const Ref& o) const {
  check_usable(o, "type");
  return o->ob_type;
}

// ---- events ----------------------------------------------------------------------------

std::string_view to_string(EventKind kind) noexcept {
  switch (kind) {
    case EventKind::Tagged: return "tagged";
    case EventKind::NewWrapper: return "new wrapper";
    case EventKind::HermeticWrap: return "hermetic wrap";
    case EventKind::Rewrapped: return "rewrapped";
    case EventKind::Resurrected: return "resurrected";
    case EventKind::FlippedBack: return "flipped back";
    case EventKind::DecrefFromCpp: return "decref from C++";
    case EventKind::Stubbed: return "cdata stubbed";
    case EventKind::WeakrefDeref: return "weakref deref";
    case EventKind::Finalized: return "finalized";
    case EventKind::WeakrefCleared: return "weakref cleared";
    case EventKind::Freed: return "freed";
    case EventKind::Warning: return "warning";
    case EventKind::Disarmed: return "disarmed";
    case EventKind::RoutedOp: return "routed op";
    case EventKind::GcClear: return "gc clear";
    case EventKind::GcCollect: return "gc collect";
    case EventKind::SlotCleared: return "slot cleared";
    case EventKind::WrapRefused: return "wrap refused";
    case EventKind::StorageAliased: return "storage aliased";
  }
  return "?";
}

std::ostream& operator<<(std::ostream& os, EventKind kind) { return os << to_string(kind); }

std::ostream& operator<<(std::ostream& os, const Ref& r) {
  if (r.is_none()) return os << "None";
  return os << "<" << r->ob_type->name << " object #" << r->id << ">";
}

void EventLog::on_event(const Interpreter& /*interp*/, const Event& event) noexcept {
  events_.push_back(event);
}

std::vector<EventKind> EventLog::kinds() const {
  std::vector<EventKind> out;
  out.reserve(events_.size());
  for (const Event& e : events_) out.push_back(e.kind);
  return out;
}

}  // namespace revive::interp
