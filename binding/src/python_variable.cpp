// The preservation protocol: PyTorch's THPVariable and THPStorage, era E2, written
// once for both, against the runtime's interface for extension modules.
//
// Read this file next to torch/csrc/autograd/python_variable.cpp (THPVariable_Wrap,
// THPVariable_NewWithVar, THPVariable_subclass_dealloc, isResurrectable,
// THPVariable_tryResurrect, THPVariable_subclass_traverse, THPVariable_clear) and
// torch/csrc/Storage.cpp (THPStorage_Wrap, THPStorage_NewWithStorage,
// THPStorage_isPreservable, THPStorage_tryPreserve), and concrete_decref_fn in
// torch/csrc/PyInterpreter.cpp.  In order: wrap (T1, T2, T5, T10, T11), dealloc (T3,
// T4), the collector's traverse and clear (T7), and the slot giving its reference back
// (T6, T8).
#include "revive/binding/interpreter.h"
#include "revive/binding/planted_bug.h"

namespace revive::binding {

using interp::GilGuard;
using interp::PythonError;
using interp::VisitProc;
using trace::EventKind;

using impl::HermeticPyObjectTLS;
using impl::PyInterpreterStatus;
using impl::PyObjectSlot;

// ---- wrap ------------------------------------------------------------------------------

// Note [Flipping ownership back on wrap]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Era E2 (THPVariable_Wrap, THPStorage_Wrap).  When C++ hands a tensor to Python and
// the slot records a wrapper P of this interpreter:
//   - owns bit clear (L): P is live in Python; return it with one more reference (T2).
//   - owns bit set (Z): C++ holds P's only reference.  Clear the bit and make P.cdata
//     owning again (the strong count goes up by one), then return P *without* an
//     incref: the caller takes over the reference the slot was holding (T5).  An
//     incref here would leave r == 2 with one owner: a leak.
// After either, owns == 0 and P.cdata is owned: Note [PyObject preservation] holds.
// The status for a brand-new wrapper comes from check_pyobj and the strong count:
//   tagged by us, no wrapper       -> TAGGED_BY_US            (T1')
//   untagged, strong count <= 1    -> DEFINITELY_UNINITIALIZED (no other thread can
//                                     see the tensor: every sharing bumps the count)
//   untagged, strong count > 1     -> MAYBE_UNINITIALIZED      (tag with a CAS)
PyInterpreterStatus Torch::status_for_new_wrapper(PyObjectSlot* slot,
                                                        std::uint32_t use_count) {
  if (slot->check_interpreter(&pyinterpreter_)) return PyInterpreterStatus::TAGGED_BY_US;
  return use_count <= 1 ? PyInterpreterStatus::DEFINITELY_UNINITIALIZED
                        : PyInterpreterStatus::MAYBE_UNINITIALIZED;
}

// ---- the planted bug (planted_bug.h) ----------------------------------------------------

namespace {
#ifdef REVIVE_PLANTED_BUG
std::atomic<bool> plantedBug{false};
#endif
bool planted_bug_active() noexcept {
#ifdef REVIVE_PLANTED_BUG
  return plantedBug.load(std::memory_order_relaxed);
#else
  return false;
#endif
}
}  // namespace

namespace testing {
bool planted_bug_available() noexcept {
#ifdef REVIVE_PLANTED_BUG
  return true;
#else
  return false;
#endif
}
void set_planted_bug([[maybe_unused]] bool on) noexcept {
#ifdef REVIVE_PLANTED_BUG
  plantedBug.store(on, std::memory_order_relaxed);
#endif
}
}  // namespace testing

// T2 / T5 on the wrapper `self` the slot records; shared by tensors and storages (only
// the handle type differs).  See Note [Flipping ownership back on wrap].
template <class Obj, class H>
Ref Torch::rewrap_recorded(Obj* self, const H& handle, PyObjectSlot* slot) {
  if (slot->owns_pyobj()) {  // T5: Z -> L, the caller steals the slot's reference
    slot->set_owns_pyobj(false);
    self->cdata = MaybeOwned<H>::owned(handle);
    rt_.emit(EventKind::FlippedBack, self, handle.unsafe_get_impl());
    return Ref::steal(self);
  }
  ++self->ob_refcnt;  // T2: L -> L
  rt_.emit(EventKind::Rewrapped, self, handle.unsafe_get_impl());
  return Ref::steal(self);
}

Ref Torch::wrap(const Tensor& var) {
  GilGuard gil(rt_.gil());
  check_alive();
  rt_.gc_safe_point();
  if (!var.defined()) return {};  // None
  if (HermeticPyObjectTLS::get_state()) {
    // T10.  See Note [Hermetic PyObject mode].
    return tensor_new_with_var(tensor_type_, var, PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  }
  TensorImpl* impl = var.unsafeGetTensorImpl();
  PyObjectSlot* slot = impl->pyobj_slot();
  std::optional<PyObject*> mb_obj;
  try {
    mb_obj = slot->check_pyobj(&pyinterpreter_);  // another interpreter's tag: throws
  } catch (const Error& e) {
    rt_.emit(EventKind::WrapRefused, nullptr, impl, e.what());
    throw;
  }
  if (mb_obj.has_value() && *mb_obj != nullptr) {
    REVIVE_INTERNAL_ASSERT(wrapper_kind(*mb_obj) == WrapperKind::Tensor,
                           "a tensor's slot records a non-tensor object");
    return rewrap_recorded(static_cast<TensorObject*>(*mb_obj), var, slot);
  }
  return tensor_new_with_var(tensor_type_, var, status_for_new_wrapper(slot, var.use_count()));
}

Ref Torch::tensor_new_with_var(const PyType* type, const Tensor& var,
                                     PyInterpreterStatus status) {
  if (!type->is_subtype_of(tensor_type_)) {
    throw PythonError("TypeError",
                      "Creating a Tensor subclass from a class that does not inherit from "
                      "Tensor is not possible. Make sure your class inherits from Tensor.");
  }
  TensorImpl* impl = var.unsafeGetTensorImpl();
  PyObjectSlot* slot = impl->pyobj_slot();
  // This overwrites the slot without further checks, so it must be empty for us.
  const std::optional<PyObject*> mb_obj = slot->check_pyobj(&pyinterpreter_);
  if (mb_obj.has_value() && *mb_obj != nullptr) {
    throw Error(detail::str_cat("Creating a new Tensor subclass ", type->name,
                                " but the raw Tensor object is already associated to a "
                                "python object of type ",
                                (*mb_obj)->ob_type->name));
  }
  const bool was_tagged = slot->pyobj_interpreter() != nullptr;
  auto* self = rt_.allocate<TensorObject>(type);
  self->cdata = MaybeOwned<Tensor>::owned(var);
  if (HermeticPyObjectTLS::get_state()) {
    // Not recorded: the slot is not touched at all.  See Note [Hermetic PyObject mode].
    rt_.emit(EventKind::HermeticWrap, self, impl, type->name);
    return Ref::steal(self);
  }
  try {
    slot->init_pyobj(&pyinterpreter_, self, status);
  } catch (...) {
    rt_.discard_half_built(self);  // HAZARD: see PyObjectSlot::init_pyobj
    throw;
  }
  if (type->torch_dispatch) impl->set_python_dispatch();
  if (!was_tagged) rt_.emit(EventKind::Tagged, nullptr, impl, rt_.name());
  rt_.emit(EventKind::NewWrapper, self, impl, type->name);
  return Ref::steal(self);
}

// Note [Storage wrap across interpreters]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Era E2 (THPStorage_Wrap, "only supposed to happen in MultiPy").  A tensor tagged by
// another interpreter cannot be wrapped here: that raises.  A storage can: since a
// storage is just bytes, wrapping one that another interpreter already tagged makes a
// *new* StorageImpl sharing the same data (refcounted data pointer) and wraps that.
// The two interpreters then see the same bytes through two C++ objects, each with its
// own slot, and Note [Python interpreter tag] holds for each of them.
Ref Torch::wrap(const Storage& storage) {
  GilGuard gil(rt_.gil());
  check_alive();
  rt_.gc_safe_point();
  if (!storage.defined()) return {};
  if (HermeticPyObjectTLS::get_state()) {
    return storage_new_with_storage(storage_type_, storage,
                                    PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  }
  StorageImpl* impl = storage.unsafeGetStorageImpl();
  PyObjectSlot* slot = impl->pyobj_slot();
  if (slot->has_pyobj_nonhermetic() && !slot->check_interpreter(&pyinterpreter_)) {
    Storage alias = storage.share_data();
    rt_.emit(EventKind::StorageAliased, nullptr, impl,
         detail::str_cat("new StorageImpl ", alias.unsafeGetStorageImpl()->id(), " shares its bytes"));
    return storage_new_with_storage(storage_type_, alias, PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  }
  const std::optional<PyObject*> mb_obj = slot->check_pyobj(&pyinterpreter_);
  if (mb_obj.has_value() && *mb_obj != nullptr) {
    REVIVE_INTERNAL_ASSERT(wrapper_kind(*mb_obj) == WrapperKind::Storage,
                           "a storage's slot records a non-storage object");
    return rewrap_recorded(static_cast<StorageObject*>(*mb_obj), storage, slot);
  }
  return storage_new_with_storage(storage_type_, storage,
                                  status_for_new_wrapper(slot, storage.use_count()));
}

Ref Torch::storage_new_with_storage(const PyType* type, const Storage& storage,
                                          PyInterpreterStatus status) {
  if (!type->is_subtype_of(storage_type_)) {
    throw PythonError("TypeError", detail::str_cat("Creating a Storage subclass from class ",
                                                   type->name,
                                                   " that does not inherit from "
                                                   "UntypedStorage is not possible"));
  }
  StorageImpl* impl = storage.unsafeGetStorageImpl();
  auto* self = rt_.allocate<StorageObject>(type);
  self->cdata = MaybeOwned<Storage>::owned(storage);
  if (HermeticPyObjectTLS::get_state()) {
    self->is_hermetic = true;  // never preserved, whatever the TLS says at its death
    rt_.emit(EventKind::HermeticWrap, self, impl, type->name);
    return Ref::steal(self);
  }
  const bool was_tagged = impl->pyobj_slot()->pyobj_interpreter() != nullptr;
  try {
    impl->pyobj_slot()->init_pyobj(&pyinterpreter_, self, status);
  } catch (...) {
    rt_.discard_half_built(self);
    throw;
  }
  if (!was_tagged) rt_.emit(EventKind::Tagged, nullptr, impl, rt_.name());
  rt_.emit(EventKind::NewWrapper, self, impl, type->name);
  return Ref::steal(self);
}

// ---- dealloc -----------------------------------------------------------------------------

// isResurrectable (E2).  A wrapper is resurrected only if all of these hold:
//   - its cdata is owned (a borrowed cdata means C++ is already releasing it: T6);
//   - its tensor is defined and someone else holds it too (strong count > 1);
//   - the slot records exactly this wrapper for this interpreter; this excludes
//     hermetic wrappers, which are never recorded, and, because hermetic mode makes
//     check_pyobj answer "no object", any wrapper dying while this thread is
//     hermetic.  See Note [A recorded wrapper that really dies].
// Model difference: we compare the tag before calling check_pyobj.  A hermetic wrapper
// can outlive the moment another interpreter tags its tensor, and check_pyobj would
// then throw inside a dealloc.
bool Torch::tensor_is_resurrectable(TensorObject* self) {
  if (self->cdata.unsafeIsBorrowed()) return false;
  TensorImpl* impl = self->cdata.get();
  if (impl == nullptr || impl->refcount() <= 1) return false;
  PyObjectSlot* slot = impl->pyobj_slot();
  if (!slot->check_interpreter(&pyinterpreter_)) return false;
  // The planted bug (planted_bug.h) forgets that hermetic mode hides the wrapper.
  return slot->check_pyobj(&pyinterpreter_, /*ignore_hermetic_tls=*/planted_bug_active()) ==
         std::optional<PyObject*>(self);
}

// THPStorage_isPreservable (E2): as above, but a storage wrapper remembers whether it
// was made in hermetic mode (is_hermetic) and the decision ignores the *current* TLS.
// A non-hermetic storage wrapper may die inside hermetic code (an operator running in
// hermetic mode drops the last Python reference to a storage made outside it); it must
// still be preserved (test_storage_preserve_nonhermetic_in_hermetic_context).
bool Torch::storage_is_preservable(StorageObject* self) {
  if (self->cdata.unsafeIsBorrowed()) return false;
  if (self->is_hermetic) return false;
  StorageImpl* impl = self->cdata.get();
  if (impl == nullptr || impl->refcount() <= 1) return false;
  PyObjectSlot* slot = impl->pyobj_slot();
  if (!slot->check_interpreter(&pyinterpreter_)) return false;
  return slot->check_pyobj(&pyinterpreter_, /*ignore_hermetic_tls=*/true) ==
         std::optional<PyObject*>(self);
}

// Note [Ownership flip on resurrection]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Era E2 (THPVariable_tryResurrect, THPStorage_tryPreserve).  P's refcount reached 0
// and its dealloc decided P is resurrectable.  This runs *first* in the dealloc: no
// finalizer, no weakref clearing, no dict clearing has happened, so P is intact.
//   1. assert owns == 0 (P owned C++ until now);
//   2. set the owns bit: the slot now holds P's one reference;
//   3. r = 1 (CPython's own resurrection pattern; the reference is the slot's);
//   4. make P.cdata borrowed, keeping the old owning handle in a local;
//   5. drop that local (n -= 1).
// Invariants after step 4: owns == 1, cdata borrowed, r == 1 (state Z).
// HAZARD: step 5 may drop the *last* strong reference: another C++ owner may have let
// go between the decision and the flip (another thread, or set_resurrection_hook in
// tests).  Then the tensor dies right here, T6 runs nested inside this dealloc, and P
// is freed before we return.  So nothing may touch P after step 5, and steps 2-4 must
// be complete before it.  (PyTorch assigns the borrowed MaybeOwned over the owned one,
// which releases the old value inside the assignment: the same hazard, which its
// comment calls a "near use-after-free miss".)
template <class Obj>
void Torch::resurrect(Obj* self) noexcept {
  auto* impl = self->cdata.get();
  PyObjectSlot* slot = impl->pyobj_slot();
  REVIVE_INTERNAL_ASSERT(slot->_unchecked_untagged_pyobj() == self,
                         "Trying to preserve a Python tensor whose PyObjectSlot does not have "
                         "a PyObject");
  REVIVE_INTERNAL_ASSERT(!slot->owns_pyobj(),
                         "resurrecting a wrapper the slot already owns: owns == 1 must mean "
                         "cdata is borrowed");
  if (resurrection_hook_) resurrection_hook_();
  slot->set_owns_pyobj(true);
  self->ob_refcnt = 1;
  auto owned = self->cdata.take_owned();
  self->cdata = decltype(self->cdata)::borrowed(impl);
  rt_.emit(EventKind::Resurrected, self, impl);
  owned.reset();  // may free `self`: see the HAZARD above
}

// Note [A recorded wrapper that really dies]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Era E2 with a model addition.  When P dies for real while its cdata is owned, the
// slot usually dies with it (n == 1).  But P can die for real while the C++ object
// lives on: P died while this thread was in hermetic mode (tensors: the preservation
// test sees "no object"), or a C++ weak reference was locked between the decision and
// the release.  The slot would then keep pointing at freed memory and the next wrap
// would use it.  So, before releasing an owned cdata, a wrapper that the slot records
// clears the slot (unchecked_clear_pyobj: we hold the tag's GIL).  The tensor then
// goes back to T0 (tagged, no wrapper) and the next wrap makes a fresh wrapper
// (TAGGED_BY_US): P's state is lost, but nothing dangles.
template <class Obj>
void Torch::release_cdata(Obj* self) noexcept {
  auto* impl = self->cdata.get();
  if (impl != nullptr && !self->cdata.unsafeIsBorrowed()) {
    PyObjectSlot* slot = impl->pyobj_slot();
    if (slot->check_interpreter(&pyinterpreter_) && slot->_unchecked_untagged_pyobj() == self) {
      slot->unchecked_clear_pyobj(&pyinterpreter_);
      // Only worth reporting when the C++ object outlives this release (L -> T0).
      if (impl->refcount() > 1) rt_.emit(EventKind::SlotCleared, self, impl);
    }
  }
  // Move out, then drop: the release may run arbitrary code (the C++ object's death).
  auto dropped = std::move(self->cdata);
}

// Note [A finalizer that keeps a dying zombie]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Era E2 with a model fix.  In T6 the C++ object is being destroyed and P's dealloc
// runs P's finalizer for the first time.  __del__ may store `self` somewhere (PEP 442
// resurrection), and then the dealloc stops with P alive, its cdata *borrowed* from a
// C++ object that is about to be freed: a dangling pointer for the next use of P.
// Nothing can rescue the C++ object at that point (its strong count is 0), so, as in
// Note [The weakref hole], P.cdata is stubbed to undefined and later uses of P raise.
template <class Obj>
void Torch::stub_if_borrowed(Obj* self) noexcept {
  if (self->cdata.unsafeIsBorrowed()) {
    self->cdata = {};
    rt_.emit(EventKind::Stubbed, self);
  }
}

// THPVariable_subclass_dealloc / THPStorage_subclass_dealloc: the same protocol, with
// each kind's own preservation test (`preservable`).
template <class Obj>
void Torch::dealloc_wrapper(Obj* self, bool preservable) noexcept {
  if (preservable) {  // T3.  See Note [Ownership flip on resurrection].
    resurrect(self);
    return;
  }
  if (rt_.finalize_and_clear(self)) {  // T4; __del__ may resurrect (then stop)
    stub_if_borrowed(self);            // See Note [A finalizer that keeps a dying zombie]
    return;
  }
  release_cdata(self);  // See Note [A recorded wrapper that really dies]
  rt_.free_object(self);
}

// tp_dealloc of every tensor and storage class.
template <class Obj>
void Torch::wrapper_dealloc(PyObject* o) noexcept {
  auto* self = static_cast<Obj*>(o);
  Torch& torch = of(o);
  torch.dealloc_wrapper(self, torch.is_preservable(self));
}

// ---- the cycle collector's view of a wrapper -----------------------------------------------

// Note [Cycle collection and preservation]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Era E2 (THPVariable_subclass_traverse, THPVariable_clear; THPStorage's twins).  The
// collector (Note [The cycle collector]) knows nothing of C++ owners.  If it could see
// through a wrapper P whose tensor C++ also holds, it could find P in a "dead" cycle
// and clear it, and the C++ owner would later get back a P with its attributes gone.
// Preservation cannot make C++ references visible, so it makes P's look like roots:
//   - traverse: while P is resurrectable (exactly the dealloc's test: cdata owned,
//     n > 1, the slot records P) it reports no references at all.  Step 2 then
//     subtracts nothing for them, so everything P holds counts as referenced from
//     outside, and no cycle through P is ever found;
//   - clear: while P is resurrectable it does nothing.  P can still be in the
//     unreachable list without being in a cycle: when only garbage refers to it
//     (B -> P with A <-> B dead).  Clearing A then drops B, B drops P, and P's dealloc
//     resurrects it, intact.  PyTorch #75932 was a clear without this test: the
//     collector cleared P (dict and cdata) while C++ still held the tensor;
//   - otherwise both behave like any object's: traverse reports __slots__ and
//     __dict__, clear drops them and then cdata (owned: the C++ object may die;
//     borrowed, a zombie: stubbed, as PyTorch's clear resets cdata either way).
// All three slots go on every subclass (install_type_slots): PyTorch #136358 was a
// subclass whose clear was CPython's default subtype_clear, which wipes __dict__ and
// then calls the base's clear, too late for the test above.
// What no slot can prevent, PyTorch #145253 (open for the whole era): steps 4 and 5 of
// the collection act on every unreachable object before any clear runs.  A
// resurrectable P held only by a dead cycle has its weakrefs cleared (callbacks run)
// and its __del__ called, and is then resurrected as usual: alive, attributes intact,
// but every weakref to it reads None.
// And one that depends on order (read in CPython's delete_garbage and PyTorch's clear,
// which resets cdata even when it is borrowed): step 7 walks the unreachable list in
// allocation order.  If the garbage B that holds P comes first, B's clear drops P, P's
// dealloc resurrects it while it is still in the list, and then P's own turn comes:
// now a zombie (cdata borrowed), not resurrectable, so its clear drops __dict__ and
// stubs cdata.  The next wrap flips it back to its tensor with its attributes gone.
// test_tensor_ressurecting_clear passes because its tensor is older than its list.
template <class Obj>
void Torch::wrapper_traverse(PyObject* o, VisitProc visit, void* arg) {
  auto* self = static_cast<Obj*>(o);
  if (of(o).is_preservable(self)) return;  // C++ owners act as roots
  interp::Runtime::subtype_traverse(o, visit, arg);
}

template <class Obj>
void Torch::wrapper_clear(PyObject* o) noexcept {
  auto* self = static_cast<Obj*>(o);
  Torch& torch = of(o);
  if (torch.is_preservable(self)) {
    torch.rt_.emit(EventKind::GcClear, o, self->cdata.get(), "resurrectable: nothing cleared");
    return;
  }
  torch.clear_wrapper_contents(self);
}

// The clear of GcBugs::issue_75932: the same, without asking first.
template <class Obj>
void Torch::wrapper_clear_ignoring_preservation(PyObject* o) noexcept {
  of(o).clear_wrapper_contents(static_cast<Obj*>(o));
}

template <class Obj>
void Torch::clear_wrapper_contents(Obj* self) noexcept {
  rt_.emit(EventKind::GcClear, self, self->cdata.get(), "__slots__, __dict__ and cdata dropped");
  interp::Runtime::clear_slots_and_dict(self, nullptr);
  stub_if_borrowed(self);  // a zombie's cdata
  release_cdata(self);     // an owned one.  See Note [A recorded wrapper that really dies]
}

// What PyTorch's metaclass (_TensorMeta) gives Tensor, UntypedStorage and every
// subclass of them: the wrapper's own dealloc, traverse and clear, which know about
// preservation; or, to reproduce a bug of the era, the clear that bug had.
void Torch::install_wrapper_slots(PyType& type) const {
  const bool tensor = static_cast<WrapperKind>(type.native_kind) == WrapperKind::Tensor;
  type.dealloc = tensor ? &Torch::wrapper_dealloc<TensorObject>
                        : &Torch::wrapper_dealloc<StorageObject>;
  type.traverse = tensor ? &Torch::wrapper_traverse<TensorObject>
                         : &Torch::wrapper_traverse<StorageObject>;
  if (bugs_.issue_136358 && type.base != nullptr && type.base->layout == interp::Layout::Native) {
    type.clear = &interp::Runtime::subtype_clear;  // the default a subclass inherited
  } else if (bugs_.issue_75932) {
    type.clear = tensor ? &Torch::wrapper_clear_ignoring_preservation<TensorObject>
                        : &Torch::wrapper_clear_ignoring_preservation<StorageObject>;
  } else {
    type.clear = tensor ? &Torch::wrapper_clear<TensorObject> : &Torch::wrapper_clear<StorageObject>;
  }
}

// Note [The weakref hole]
// ~~~~~~~~~~~~~~~~~~~~~~~
// Era E2 (concrete_decref_fn); one reason PyTorch left resurrection in 2025.  In Z the
// slot holds P's only reference.  A Python weakref to P still works, and dereferencing
// it is a plain incref: r becomes 2 with no flip, so P.cdata stays borrowed and the
// C++ side does not know Python holds P.  When C++ then drops the tensor (T6), the
// slot gives back its reference and finds r > 1: P will outlive the tensor it borrows.
// Too late to rescue it, so warn and stub P.cdata to an undefined tensor; later uses
// of P raise.  `_fix_weakref()` (wrap, then decref) closes the hole by hand: wrap sees
// the owns bit and flips P back to L.
void Torch::decref_from_cpp(PyObject* o, bool has_pyobj_slot) noexcept {
  GilGuard gil(rt_.gil());
  if (rt_.is_finalized()) return;  // Note [Interpreter teardown leaks on purpose]
  rt_.emit(EventKind::DecrefFromCpp, o);
  if (has_pyobj_slot && o->ob_refcnt > 1) {  // See Note [The weakref hole]
    if (wrapper_kind(o) == WrapperKind::Tensor) {
      rt_.warn(
          "Deallocating Tensor that still has live PyObject references.  This probably "
          "happened because you took out a weak reference to Tensor and didn't call "
          "_fix_weakref() after dereferencing it.  Subsequent accesses to this tensor via "
          "the PyObject will now fail.");
      static_cast<TensorObject*>(o)->cdata = MaybeOwned<Tensor>();
      rt_.emit(EventKind::Stubbed, o);
    } else if (wrapper_kind(o) == WrapperKind::Storage) {
      rt_.warn(
          "Deallocating UntypedStorage that still has live PyObject references.  This "
          "probably happened because you took out a weak reference to UntypedStorage and "
          "didn't call _fix_weakref() after dereferencing it.  Subsequent accesses to this "
          "storage via the PyObject will now fail.");
      static_cast<StorageObject*>(o)->cdata = MaybeOwned<Storage>();
      rt_.emit(EventKind::Stubbed, o);
    }
  }
  rt_.decref(o);
}

}  // namespace revive::binding
