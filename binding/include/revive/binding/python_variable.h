// python_variable.h: PyObject preservation, era E2, written once for every preserved
// type.
//
// The protocol of PyTorch's THPVariable and THPStorage, as member templates of Torch
// over a preserved handle type H (preserved.h describes each type).  Read it next to
// torch/csrc/autograd/python_variable.cpp (THPVariable_Wrap, THPVariable_NewWithVar,
// THPVariable_subclass_dealloc, isResurrectable, THPVariable_tryResurrect,
// THPVariable_subclass_traverse, THPVariable_clear) and torch/csrc/Storage.cpp
// (THPStorage_Wrap, THPStorage_NewWithStorage, THPStorage_isPreservable,
// THPStorage_tryPreserve), and concrete_decref_fn in torch/csrc/PyInterpreter.cpp.
// In order: module init, wrap (T1, T2, T5, T10, T11), unpack, dealloc (T3, T4), the
// collector's traverse and clear (T7), and the slot giving its reference back (T6, T8).
//
// Where the two types differ, the code says `if constexpr (Preserved<H>::...)`; there is
// no other branch on the type.  Tensor and Storage are instantiated in
// src/python_variable.cpp; a new preserved type includes this header (see
// docs/extending.md).  Everything here runs against the runtime's interface for
// extension modules (interp/runtime.h).
#pragma once

#include <optional>

#include "revive/pyslot/exercise.h"
#include "revive/pyslot/move_out.h"
#include "revive/binding/interpreter.h"
#include "revive/binding/testing.h"
#include "revive/interp/testing.h"
#include "revive/pyslot/hermetic_tls.h"

namespace revive::binding {

using trace::EventKind;

// ---- module init ------------------------------------------------------------------------

template <PreservedHandle H>
const PyType* Torch::add_preserved_type() {
  const WrapperOps* ops = &wrapper_ops_for<H>();
  REVIVE_CHECK(!preserved_types_.contains(ops), Preserved<H>::python_name,
               " is already registered in interpreter ", rt_.name());
  // Two levels, as in PyTorch: the C type (torch._C.TensorBase), with no __dict__, and
  // the Python class over it (torch.Tensor), which adds one.  Both, and every later
  // subclass, get the wrapper's slots (PyTorch's metaclass).
  PyType& base = rt_.add_native_type(Preserved<H>::base_name, rt_.object_type(), ops, /*has_dict=*/false);
  install_wrapper_slots<H>(base);
  base.on_subclass = [this](PyType& subclass) { install_wrapper_slots<H>(subclass); };
  const PyType* cls = rt_.new_class(Preserved<H>::python_name, &base);
  preserved_types_.emplace(ops, cls);
  return cls;
}

template <PreservedHandle H>
const PyType* Torch::python_type() const {
  auto it = preserved_types_.find(&wrapper_ops_for<H>());
  REVIVE_CHECK(it != preserved_types_.end(), Preserved<H>::python_name,
               " is not registered in interpreter ", rt_.name());
  return it->second;
}

// What PyTorch's metaclass (_TensorMeta) gives the base class and every subclass: the
// wrapper's own dealloc, traverse and clear, which know about preservation; or, to
// reproduce a bug of the era, the clear that bug had.  One row per variant:
//
// (free is free_as<WrapperObject<H>> in every row.)
//
//   variant                  dealloc          traverse          clear
//   fixed (PyTorch 2.6)      wrapper_dealloc  wrapper_traverse  wrapper_clear
//   GcBugs::issue_75932      wrapper_dealloc  wrapper_traverse  wrapper_clear_ignoring_preservation
//   GcBugs::issue_136358     wrapper_dealloc  wrapper_traverse  subtype_clear (on the Python
//                                                               class and its subclasses; the
//                                                               C base keeps wrapper_clear)
template <PreservedHandle H>
void Torch::install_wrapper_slots(PyType& type) const {
  type.dealloc = &Torch::wrapper_dealloc<H>;
  type.traverse = &Torch::wrapper_traverse<H>;
  type.free = &interp::free_as<WrapperObject<H>>;
  if (bugs_.issue_136358 && type.base != nullptr && type.base->layout == interp::Layout::Native) {
    type.clear = &interp::Runtime::subtype_clear;  // the default a subclass inherited
  } else if (bugs_.issue_75932) {
    type.clear = &Torch::wrapper_clear_ignoring_preservation<H>;
  } else {
    type.clear = &Torch::wrapper_clear<H>;
  }
}

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
inline impl::PyInterpreterStatus Torch::status_for_new_wrapper(impl::PyObjectSlot* slot,
                                                             std::uint32_t use_count) {
  if (slot->check_interpreter(&pyinterpreter_)) return impl::PyInterpreterStatus::TAGGED_BY_US;
  return use_count <= 1 ? impl::PyInterpreterStatus::DEFINITELY_UNINITIALIZED
                        : impl::PyInterpreterStatus::MAYBE_UNINITIALIZED;
}

// T2 / T5 on the wrapper `self` the slot records.  See Note [Flipping ownership back on wrap].
template <PreservedHandle H>
Ref Torch::rewrap_recorded(WrapperObject<H>* self, const H& handle, impl::PyObjectSlot* slot) {
  if (slot->owns_pyobj()) {  // T5: Z -> L, the caller steals the slot's reference
    slot->set_owns_pyobj(false);
    self->cdata = MaybeOwned<H>::owned(handle);
    rt_.emit(EventKind::FlippedBack, self, handle.getIntrusivePtr().get());
    if (exercise::off(exercise::Rule::FlipBackNoIncref)) ++self->ob_refcnt;  // test machinery (exercise.h)
    return Ref::steal(self);
  }
  ++self->ob_refcnt;  // T2: L -> L
  rt_.emit(EventKind::Rewrapped, self, handle.getIntrusivePtr().get());
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
template <PreservedHandle H>
Ref Torch::wrap(const H& handle) {
  if (!handle.defined()) return {};  // None, before anything else can run (THPVariable_Wrap)
  interp::Runtime::Entry entered(rt_, "wrap");  // See Note [One way into an interpreter]
  rt_.gc_safe_point();
  if (impl::HermeticPyObjectTLS::get_state()) {
    // T10.  See Note [Hermetic PyObject mode].
    return new_wrapper(python_type<H>(), handle, impl::PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  }
  auto* target = handle.getIntrusivePtr().get();
  impl::PyObjectSlot* slot = target->pyobj_slot();
  if constexpr (Preserved<H>::foreign == ForeignRule::Alias) {
    if (slot->has_pyobj_nonhermetic() && !slot->check_interpreter(&pyinterpreter_)) {
      // See Note [Storage wrap across interpreters].
      H alias = Preserved<H>::alias(handle);
      rt_.emit(EventKind::StorageAliased, nullptr, target,
               detail::str_cat("new ", H::impl_type::kTypeName, " ",
                               alias.getIntrusivePtr().get()->id(), " shares its bytes"));
      return new_wrapper(python_type<H>(), alias, impl::PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
    }
  }
  std::optional<PyObject*> mb_obj;
  try {
    mb_obj = slot->check_pyobj(&pyinterpreter_);  // another interpreter's tag: throws
  } catch (const Error& e) {
    rt_.emit(EventKind::WrapRefused, nullptr, target, e.what());
    throw;
  }
  if (mb_obj.has_value() && *mb_obj != nullptr) {
    REVIVE_CHECK(wrapper_ops(*mb_obj) == &wrapper_ops_for<H>(), Preserved<H>::wrong_kind_error,
                 (*mb_obj)->ob_type->name);
    return rewrap_recorded(static_cast<WrapperObject<H>*>(*mb_obj), handle, slot);
  }
  return new_wrapper(python_type<H>(), handle, status_for_new_wrapper(slot, handle.use_count()));
}

// The Python-level entry: `cls(h)` for a preserved handle, checked.
template <PreservedHandle H>
Ref Torch::new_with_var(const PyType* cls, const H& handle) {
  interp::Runtime::Entry entered(rt_, "new_with_var");
  rt_.check_type_home(cls, "new_with_var");
  REVIVE_CHECK(handle.defined(), "new_with_var(): the ", Preserved<H>::error_name, " is undefined");
  rt_.gc_safe_point();
  return new_wrapper(cls, handle,
                     status_for_new_wrapper(handle.getIntrusivePtr().get()->pyobj_slot(), handle.use_count()));
}

// THPVariable_NewWithVar / THPStorage_NewWithStorage: a new wrapper of class `type`.
template <PreservedHandle H>
Ref Torch::new_wrapper(const PyType* type, const H& handle, impl::PyInterpreterStatus status) {
  // Checked against the C base, as PyTorch checks against THPVariableType and
  // THPStorageType: a class made directly over it is a wrapper class too.
  if (!type->is_subtype_of(python_type<H>()->base)) {
    // A TORCH_CHECK (RuntimeError) in E2; E4 made THPVariable_NewWithVar's a
    // TORCH_CHECK_TENSOR_SUBTYPE (TypeError), and left THPStorage_NewWithStorage's a
    // TORCH_CHECK.
    if (era_ == Era::E4 && std::is_same_v<H, Tensor>) {
      throw interp::PythonError("TypeError", Preserved<H>::subclass_error);
    }
    throw Error(Preserved<H>::subclass_error);
  }
  auto* target = handle.getIntrusivePtr().get();
  impl::PyObjectSlot* slot = target->pyobj_slot();
  // This overwrites the slot without further checks, so it must be empty for us.
  const std::optional<PyObject*> mb_obj = slot->check_pyobj(&pyinterpreter_);
  if (mb_obj.has_value() && *mb_obj != nullptr) {
    throw Error(detail::str_cat("Creating a new ", Preserved<H>::error_name, " subclass ", type->name,
                                " but the raw ", Preserved<H>::error_name,
                                " object is already associated to a python object of type ",
                                (*mb_obj)->ob_type->name));
  }
  const bool was_tagged = slot->pyobj_interpreter() != nullptr;
  auto* self = rt_.allocate<WrapperObject<H>>(type);
  self->cdata = MaybeOwned<H>::owned(handle);
  bool hermetic = impl::HermeticPyObjectTLS::get_state();
  if (exercise::off(exercise::Rule::HermeticUnrecorded)) hermetic = false;  // test machinery (exercise.h)
  if (hermetic) {
    // Not recorded: the slot is not touched at all.  See Note [Hermetic PyObject mode].
    self->is_hermetic = true;  // never preserved, whatever the TLS says at its death
    rt_.emit(EventKind::HermeticWrap, self, target, type->name);
    return Ref::steal(self);
  }
  try {
    slot->init_pyobj(&pyinterpreter_, self, status);
  } catch (...) {
    rt_.discard_half_built(self);  // HAZARD: see PyObjectSlot::init_pyobj
    throw;
  }
  if constexpr (Preserved<H>::python_dispatch) {
    if (type->torch_dispatch) target->set_python_dispatch();
  }
  if (!was_tagged) rt_.emit(EventKind::Tagged, nullptr, target, rt_.name());
  rt_.emit(EventKind::NewWrapper, self, target, type->name);
  // E4: the bit, and with it C++'s reference to the wrapper if C++ shares the target
  // (the caller's handle does).  See Note [Era E4 in the binding].
  if (era_ == Era::E4) (void)target->set_has_pyobject();
  return Ref::steal(self);
}

// ---- unpack ----------------------------------------------------------------------------

// The type check of every Python-level call that takes a wrapper.  The caller entered
// the interpreter (Runtime::Entry).
template <PreservedHandle H>
WrapperObject<H>* Torch::as_wrapper(const Ref& o, const char* what) const {
  rt_.check_usable(o, what);
  if (wrapper_ops(o.get()) != &wrapper_ops_for<H>()) {
    throw interp::PythonError("TypeError", detail::str_cat(what, "(): expected ", Preserved<H>::python_name,
                                                           " but got ", o->ob_type->name));
  }
  return static_cast<WrapperObject<H>*>(o.get());
}

template <PreservedHandle H>
H Torch::unpack_as(const Ref& o, const char* what) {
  interp::Runtime::Entry entered(rt_, what);
  WrapperObject<H>* self = as_wrapper<H>(o, what);
  return self->cdata.to_owned();
}

// THPVariable_fix_weakref: wrap, then drop the result.  On a zombie revived through a
// weakref (r == 2, owns == 1) the wrap flips ownership back and the drop returns r to
// 1.  See Note [The weakref hole].
template <class H>
void ops_detail::fix_weakref(Torch& torch, const Ref& o) {
  H handle = torch.unpack_as<H>(o, "_fix_weakref");
  if (exercise::off(exercise::Rule::FixWeakref)) return;  // test machinery (exercise.h)
  Ref again = torch.wrap(handle);
}

// ---- dealloc -----------------------------------------------------------------------------

// isResurrectable and THPStorage_isPreservable (E2).  A wrapper is resurrected only if all of these hold:
//   - its cdata is owned (a borrowed cdata means C++ is already releasing it: T6);
//   - its C++ object is defined and someone else holds it too (strong count > 1);
//   - the slot records exactly this wrapper for this interpreter; this excludes
//     hermetic wrappers, which are never recorded, and, because hermetic mode makes
//     check_pyobj answer "no object", any wrapper dying while this thread is
//     hermetic.  See Note [A recorded wrapper that really dies].
// Model difference: we compare the tag before calling check_pyobj.  A hermetic wrapper
// can outlive the moment another interpreter tags its tensor, and check_pyobj would
// then throw inside a dealloc.
// Under HermeticRule::RememberedAtCreation (storages) a wrapper remembers whether it
// was made in hermetic mode (is_hermetic) and the decision ignores the *current* TLS.
// A non-hermetic storage wrapper may die inside hermetic code (an operator running in
// hermetic mode drops the last Python reference to a storage made outside it); it must
// still be preserved (test_storage_preserve_nonhermetic_in_hermetic_context).
template <PreservedHandle H>
bool Torch::is_preservable(WrapperObject<H>* self) {
  if (era_ == Era::E4) return false;  // See Note [Era E4 in the binding]
  if (self->cdata.unsafeIsBorrowed()) return false;
  using interp::testing::planted;
  using interp::testing::PlantedBug;
  bool ignore_hermetic_tls = true;
  if constexpr (Preserved<H>::hermetic == HermeticRule::RememberedAtCreation) {
    if (self->is_hermetic) return false;
    ignore_hermetic_tls = !planted(PlantedBug::StorageFollowsThread);  // test machinery (testing.h)
  } else {
    ignore_hermetic_tls = planted(PlantedBug::HermeticResurrection);  // test machinery (testing.h)
  }
  auto* target = self->cdata.get();
  if (target == nullptr || target->refcount() <= 1) return false;
  impl::PyObjectSlot* slot = target->pyobj_slot();
  if (!slot->check_interpreter(&pyinterpreter_)) return false;
  return slot->check_pyobj(&pyinterpreter_, ignore_hermetic_tls) == std::optional<PyObject*>(self);
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
// go between the decision and the flip (another thread; in the tests, the hook of
// testing.h, run by dealloc_wrapper between the decision and this call).  Then the tensor dies right here, T6 runs nested inside this dealloc, and P
// is freed before we return.  So nothing may touch P after step 5, and steps 2-4 must
// be complete before it.  (PyTorch assigns the borrowed MaybeOwned over the owned one,
// which releases the old value inside the assignment: the same hazard, which its
// comment calls a "near use-after-free miss".)
template <PreservedHandle H>
void Torch::resurrect(WrapperObject<H>* self) noexcept {
  auto* impl = self->cdata.get();
  impl::PyObjectSlot* slot = impl->pyobj_slot();
  REVIVE_INTERNAL_ASSERT(slot->_unchecked_untagged_pyobj() != nullptr, "Trying to preserve a Python ",
                         Preserved<H>::noun, " whose PyObjectSlot does not have a PyObject");
  REVIVE_INTERNAL_ASSERT(slot->_unchecked_untagged_pyobj() == self, "Python ", Preserved<H>::noun,
                         " and the PyObject in the internal PyObjectSlot are not at the same "
                         "address");
  REVIVE_INTERNAL_ASSERT(!slot->owns_pyobj(),
                         "resurrecting a wrapper the slot already owns: owns == 1 must mean "
                         "cdata is borrowed");
  slot->set_owns_pyobj(true);
  self->ob_refcnt = 1;
  auto owned = self->cdata.take_owned();
  self->cdata = decltype(self->cdata)::borrowed(impl);
  rt_.emit(EventKind::Resurrected, self, impl);
  owned.reset();  // may free `self`: see the HAZARD above, and Note [Move out, then drop]
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
// goes back to V (tagged, no wrapper) and the next wrap makes a fresh wrapper
// (TAGGED_BY_US): P's state is lost, but nothing dangles.
template <PreservedHandle H>
void Torch::release_cdata(WrapperObject<H>* self) noexcept {
  auto* impl = self->cdata.get();
  if (impl != nullptr && !self->cdata.unsafeIsBorrowed()) {
    impl::PyObjectSlot* slot = impl->pyobj_slot();
    if (slot->check_interpreter(&pyinterpreter_) && slot->_unchecked_untagged_pyobj() == self) {
      // E4's THPVariable_clear asserts it: C++ shares the target only while it holds the
      // wrapper, so a dying recorded wrapper holds the last strong reference.
      REVIVE_INTERNAL_ASSERT(era_ == Era::E2 || impl->refcount() == 1,
                             "an E4 wrapper is dying while C++ still shares its target");
      slot->unchecked_clear_pyobj(&pyinterpreter_);
      // Only worth reporting when the C++ object outlives this release (L -> V).
      if (impl->refcount() > 1) rt_.emit(EventKind::SlotCleared, self, impl);
    }
  }
  // The release may run arbitrary code (the C++ object's death): See Note [Move out, then
  // drop].  drop() is not used here because the GIL is released around the release.
  MaybeOwned<H> dropped = std::move(self->cdata);
  if constexpr (Preserved<H>::release_gil_on_drop) {
    if (dropped.defined() && !dropped.unsafeIsBorrowed()) {
      // See Note [GIL order across interpreters].
      if (exercise::off(exercise::Rule::GilReleasedOnDrop)) {  // test machinery (exercise.h)
        dropped = MaybeOwned<H>();
        return;
      }
      interp::GilRelease no_gil(rt_.gil());
      dropped = MaybeOwned<H>();
    }
  }
}

// Note [GIL order across interpreters]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Era E2 (THPVariable_clear drops cdata under pybind11::gil_scoped_release).  Each
// interpreter has its own GIL, and C++ objects cross interpreters: a tensor of I0 can
// hold, as its grad, a tensor whose zombie wrapper belongs to I1.  Dropping the last
// reference to the first then runs T6 in I1, which takes I1's GIL.  If the drop
// happens while I0's GIL is held (a wrapper of I0 dying), and another thread does the
// mirror image (holding I1's GIL, dropping into I0), each waits for the other: a
// lock-order inversion, a deadlock with two interpreters and a ring of them with more.
// The rule this project keeps, so that no cycle of waits can form:
//   - a thread never waits for one interpreter's GIL while it holds another's;
//   - so every drop of a C++ reference that may be the last one, made by code that
//     holds a GIL, is made with that GIL released: a dying tensor wrapper's owned
//     cdata (here, as PyTorch does), and the old grad that `t.grad = g` replaces
//     (tensor_methods.cpp: swapped under the GIL, released after it);
//   - re-entry into the same interpreter's GIL is not a wait (Gil counts its depth).
// What the rule does not cover, by design: a zombie's resurrection drops its owned
// handle under the GIL (Note [Ownership flip on resurrection]); that drop is the last
// only when another thread let go in between, a race PyTorch has too.  Storages drop
// their cdata under the GIL (their death reaches no other interpreter), and a
// Python object never holds another interpreter's object (Runtime::setattr refuses).
// Releasing the GIL is safe at that point because the dying wrapper is unreachable:
// its refcount is 0 (or the collector holds it in its private garbage list), its
// weakrefs are cleared and the slot no longer records it.
// test/binding/gil_order_test.cpp runs the ring on three threads.

// Note [A finalizer that keeps a dying zombie]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Era E2 with a model fix.  In T6 the C++ object is being destroyed and P's dealloc
// runs P's finalizer for the first time.  __del__ may store `self` somewhere (PEP 442
// resurrection), and then the dealloc stops with P alive, its cdata *borrowed* from a
// C++ object that is about to be freed: a dangling pointer for the next use of P.
// Nothing can rescue the C++ object at that point (its strong count is 0), so, as in
// Note [The weakref hole], P.cdata is stubbed to undefined and later uses of P raise.
template <PreservedHandle H>
void Torch::stub_if_borrowed(WrapperObject<H>* self) noexcept {
  if (self->cdata.unsafeIsBorrowed()) {
    self->cdata = {};
    rt_.emit(EventKind::Stubbed, self);
  }
}

// THPVariable_subclass_dealloc / THPStorage_subclass_dealloc.
template <PreservedHandle H>
void Torch::dealloc_wrapper(WrapperObject<H>* self) noexcept {
  bool resurrectable = is_preservable(self);
  if (exercise::off(exercise::Rule::Resurrection)) resurrectable = false;  // test machinery (exercise.h)
  if (resurrectable) {  // T3.  See Note [Ownership flip on resurrection].
    if (resurrection_hook_) resurrection_hook_();  // test machinery (testing.h)
    resurrect(self);
    return;
  }
  if (rt_.finalize_and_clear(self)) {  // T4; __del__ may resurrect (then stop)
    stub_if_borrowed(self);            // See Note [A finalizer that keeps a dying zombie]
    return;
  }
  drop(self->backward_hooks);  // THPVariable_clear's Py_CLEAR: See Note [Move out, then drop]
  drop(self->post_accumulate_grad_hooks);
  release_cdata(self);  // See Note [A recorded wrapper that really dies]
  rt_.free_object(self);
}

// tp_dealloc of every tensor and storage class.
template <PreservedHandle H>
void Torch::wrapper_dealloc(PyObject* o) noexcept {
  of(o).dealloc_wrapper(static_cast<WrapperObject<H>*>(o));
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
//   - otherwise both behave like any object's: traverse reports __slots__, __dict__
//     and backward_hooks, clear drops them and then cdata (owned: the C++ object may
//     die; borrowed, a zombie: stubbed, as PyTorch's clear resets cdata either way).
// dealloc, traverse and clear go on every subclass (install_wrapper_slots, through the
// type's on_subclass hook): PyTorch #136358 was a
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
template <PreservedHandle H>
void Torch::wrapper_traverse(PyObject* o, interp::VisitProc visit, void* arg) {
  auto* self = static_cast<WrapperObject<H>*>(o);
  Torch& torch = of(o);
  bool silent = torch.is_preservable(self);
  if (exercise::off(exercise::Rule::TraverseSilent)) silent = false;  // test machinery (exercise.h)
  if (silent) return;  // C++ owners act as roots
  interp::Runtime::subtype_traverse(o, visit, arg);
  if (self->backward_hooks) visit(self->backward_hooks.get(), arg);  // Py_VISIT(backward_hooks)
  if (self->post_accumulate_grad_hooks) visit(self->post_accumulate_grad_hooks.get(), arg);
  // See Note [Seeing through C++ in traverse].
  if constexpr (carries_autograd<H>) torch.traverse_autograd(self->cdata, visit, arg);
}

// Note [Seeing through C++ in traverse]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Both eras (THPVariable_subclass_traverse after its resurrection test; E4's
// THPVariable_traverse; PyTorch's NOTE [ PyObject Traversal ]).  A traverse may report
// a Python object that a C++ object holds only if that C++ object is, through this
// wrapper, owned by this wrapper alone: then the only way to reach it is through the
// wrapper, under the GIL, and the collector's count stays true between traverse and
// clear.  The tensor's wrapper reports, once its cdata is owned and defined:
//   - what it holds itself: __slots__, __dict__, backward_hooks and
//     post_accumulate_grad_hooks (fields of the C struct);
//   - the grad_fn's Python object, if the tensor's only owner is this wrapper
//     (use_count() == 1) and the grad_fn's only owner is the tensor
//     (grad_fn.use_count() == 1).  A node's non-owning cache (GradFnObjects::Cache)
//     is never reported this way: a cached Python object owns its node, so the node's
//     count is 2 while it exists.  What is reported is a preserved node's zombie
//     (GradFnObjects::Preserved, era E2), which the node's slot owns;
//   - the object the tensor's backward hooks hold in C++ (PyFunctionTensorPreHook's
//     dict): in E2 whenever the cdata is owned and defined, in E4 only under the first
//     condition (use_count() == 1).
// Not reported, as in PyTorch: the C++ copy of the post-accumulate-grad hooks
// (PyFunctionTensorPostAccGradHooks), which the wrapper's field reports once and C++
// holds once more; and anything deeper in the graph (saved tensors, the inputs'
// nodes): PyTorch bounds the walk on purpose (pytorch#7343).  What this frees and
// what leaks is docs/reference.md's list of cycles through the graph; the tests are
// test/scenarios/pytorch_gc_cases.h and test/binding/autograd_test.cpp.
// clear (THPVariable_clear) drops the two fields after its resurrection test, then the
// cdata; the C++ copies go with the tensor when that was the last owner.
inline void Torch::traverse_autograd(const MaybeOwned<Tensor>& cdata, interp::VisitProc visit,
                                     void* arg) const {
  if (!cdata.defined() || cdata.unsafeIsBorrowed()) return;
  if (exercise::off(exercise::Rule::SeeThroughCpp)) return;  // test machinery (exercise.h)
  const TensorImpl* tensor = cdata.get();
  const autograd::AutogradMeta* meta = tensor->autograd_meta();
  if (meta == nullptr) return;
  const bool only_owner = tensor->refcount() == 1;
  if (only_owner && meta->grad_fn.defined() && meta->grad_fn.use_count() == 1) {
    if (PyObject* fn = grad_fn_pyobj(*meta->grad_fn.get())) visit(fn, arg);  // Py_VISIT(grad_fn->pyobj())
  }
  // (Hooks set through a hermetic wrapper of another interpreter belong to that one:
  // this collector does not count them.)
  if ((era_ == Era::E2 || only_owner) && meta->backward_hooks &&
      &meta->backward_hooks->pyinterpreter() == &pyinterpreter_) {
    visit(meta->backward_hooks->ptr(&pyinterpreter_), arg);  // Py_VISIT(pyhook->dict)
  }
}

template <PreservedHandle H>
void Torch::wrapper_clear(PyObject* o) noexcept {
  auto* self = static_cast<WrapperObject<H>*>(o);
  Torch& torch = of(o);
  if (torch.is_preservable(self)) {
    torch.rt_.emit(EventKind::GcClear, o, self->cdata.get(), "resurrectable: nothing cleared");
    return;
  }
  torch.clear_wrapper_contents(self);
}

// The clear of GcBugs::issue_75932: the same, without asking first.
template <PreservedHandle H>
void Torch::wrapper_clear_ignoring_preservation(PyObject* o) noexcept {
  of(o).clear_wrapper_contents(static_cast<WrapperObject<H>*>(o));
}

template <PreservedHandle H>
void Torch::clear_wrapper_contents(WrapperObject<H>* self) noexcept {
  rt_.emit(EventKind::GcClear, self, self->cdata.get(), "__slots__, __dict__ and cdata dropped");
  interp::Runtime::clear_slots_and_dict(self, nullptr);
  drop(self->backward_hooks);
  drop(self->post_accumulate_grad_hooks);
  stub_if_borrowed(self);  // a zombie's cdata
  release_cdata(self);     // an owned one.  See Note [A recorded wrapper that really dies]
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
inline void Torch::decref_from_cpp(PyObject* o, bool has_pyobj_slot) noexcept {
  interp::GilGuard gil(rt_.gil());
  gil_entries_from_cpp_.fetch_add(1, std::memory_order_relaxed);
  if (rt_.is_finalized()) return;  // Note [Interpreter teardown leaks on purpose]
  // E4's 2 -> 1 gives back C++'s reference; E2's T6 is the slot giving back its own.
  rt_.emit(has_pyobj_slot || era_ == Era::E2 ? EventKind::DecrefFromCpp : EventKind::CppDecref, o);
  const WrapperOps* ops = wrapper_ops(o);
  if (has_pyobj_slot && o->ob_refcnt > 1 && ops != nullptr) {  // See Note [The weakref hole]
    rt_.warn(ops->weakref_hole_warning);
    ops->stub_cdata(o);
    rt_.emit(EventKind::Stubbed, o);
  }
  rt_.decref(o);
}

// Note [Era E4 in the binding]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Era E4 (PyTorch #167564, November 2025; THPVariable_Wrap, THPVariable_dealloc,
// THPVariable_traverse, THPVariable_clear and Storage.cpp's twins after it).  An
// interpreter created with Era::E4 keeps the slot (tag and recorded wrapper) but never
// sets the owns bit and never resurrects.  Instead the wrapper holds one owning strong
// reference, always, and the target's has-PyObject bit makes C++ hold one real
// reference to the wrapper while it shares the target (Note [The has-PyObject bit],
// tensor/intrusive_ptr.h):
//   - wrap: the recorded wrapper, with one more reference (there is no Z to flip back
//     from); otherwise a new wrapper, recorded, then the bit (set_has_pyobject: the
//     caller's handle is still alive, so n == 2 and C++ takes its reference at once);
//   - C++ sharing the target (n: 1 -> 2) increfs the wrapper, letting go (2 -> 1)
//     decrefs it (incref_from_cpp, decref_from_cpp below: the GIL, every time);
//   - dealloc: only ever with n == 1 (C++'s reference would have kept the wrapper
//     alive): finalizer, weakrefs, __dict__ and __slots__ as any object's, then the
//     slot forgets the wrapper and the last strong reference goes;
//   - traverse and clear: as any object's.  C++'s reference is a real one that no
//     traverse reports, so the collector counts the wrapper as referenced from outside
//     (a root) exactly while C++ shares the target: no special case, and no #75932,
//     #136358 or #145253 to have;
//   - weak references: ordinary.  A weakref deref while C++ holds the target is an
//     ordinary incref of a live wrapper: no weakref hole, no warning, no stub;
//   - weak_intrusive_ptr::lock() at n == 1 try-increfs the wrapper under the GIL
//     (try_incref_from_cpp), which fails while the wrapper's dealloc runs: the slot no
//     longer records it by then.
// What it costs: the GIL on every 1 <-> 2 of a target that has a wrapper, from whatever
// thread (gil_entries_from_cpp counts them).
// Where it differs from PyTorch's E4, on purpose:
//   - hermetic mode applies to E4 tensors too (T10).  PyTorch's E4 wraps a tensor in
//     hermetic mode like any other (only storages have a hermetic branch), because its
//     E4 has one interpreter; here an E4 interpreter may share the process with others,
//     which is what hermetic mode is for.
//   - the bit is always set with set_has_pyobject's CAS loop.  PyTorch moves a new
//     tensor into its wrapper and, when nobody else holds it, stores the bit plainly
//     (init_fresh_nonatomic; always for a new storage); here wrap takes the caller's
//     handle by reference, so n == 2 when the bit is set, and C++ increfs the wrapper
//     at once (a GIL entry the caller's release then gives back).  The real-CPython
//     module (cpython/) does as PyTorch does: Torch::wrap(H&&) hands a fresh object
//     over, and the bit is stored plainly.
//   - every class gets the wrapper's dealloc, traverse and clear, as in E2; PyTorch's
//     E4 leaves a subclass CPython's own, which end in the base type's.  In E4 the
//     wrapper's take no preservation path, and do what CPython's would.

// E4: See Note [Era E4 in the binding].
inline void Torch::incref_from_cpp(PyObject* o) noexcept {
  interp::GilGuard gil(rt_.gil());
  gil_entries_from_cpp_.fetch_add(1, std::memory_order_relaxed);
  if (rt_.is_finalized()) return;  // Note [Interpreter teardown leaks on purpose]
  rt_.incref(o);
  rt_.emit(EventKind::CppIncref, o);
}

inline bool Torch::try_incref_from_cpp(const impl::PyObjectSlot& slot) noexcept {
  interp::GilGuard gil(rt_.gil());
  gil_entries_from_cpp_.fetch_add(1, std::memory_order_relaxed);
  if (rt_.is_finalized()) return false;
  // Read under the GIL: a dealloc running now forgets the wrapper before it is freed.
  PyObject* o = slot._unchecked_untagged_pyobj();
  if (o == nullptr || o->ob_refcnt == 0) return false;
  rt_.incref(o);
  rt_.emit(EventKind::CppIncref, o);
  return true;
}

}  // namespace revive::binding
