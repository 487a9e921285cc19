// The wrapper protocol of binding/include/revive/binding/python_variable.h, written on
// CPython 3.11's own C API: the same pyslot/ and tensor/ layers underneath, a real
// PyObject on top.  Read the two side by side; each function here names its twin.
//
// What differs because CPython is real:
//   - revive::PyObject is opaque to pyslot/ and tensor/; here it is CPython's object,
//     converted at the boundary (opaque() / real()): Note [Real CPython under the same slot].
//   - A Python subclass gets CPython's subtype_dealloc, which clears weakrefs,
//     __dict__ and __slots__ and runs __del__ before it reaches our dealloc: too late
//     to resurrect an intact object.  So __init_subclass__ puts our dealloc, traverse
//     and clear into every subclass (PyTorch did it in its metaclass), new_wrapper
//     again for a class whose __init_subclass__ chain skipped ours, and they walk the
//     slots themselves: calling subtype_dealloc would find our dealloc again through
//     tp_base and recurse.
//   - Resurrection is _Py_NewReference (refcount back to 1) in tp_dealloc, before the
//     object is untracked, as THPVariable_tryResurrect did.
#include "revive/pyslot/exercise.h"
#include "revive/cpython/python_variable.h"

#include <structmember.h>

#include <type_traits>

#include "revive/pyslot/hermetic_tls.h"
#include "revive/pyslot/py_object_slot.h"

namespace revive::cpython {

namespace {

// Note [Real CPython under the same slot]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// pyslot/ stores `revive::PyObject*` and never looks inside (python_stub.h); the fake
// interpreter defines that struct, and this module, which never links the fake, hands
// the slot CPython's objects instead, cast at the boundary.  Everything the slot does
// with the pointer (compare it, keep the owns bit in its low bit, give it back to the
// vtable) works the same on a real object, which CPython aligns to at least 8 bytes.
// The vtable below is the real twin of binding/'s: decref runs in the wrapper's own
// interpreter whatever the calling thread holds (PyGILState for main, a thread state
// of its own for a subinterpreter), and a wrapper a weak reference revived gets the
// weakref hole's warning through Python's `warnings`.
revive::PyObject* opaque(PyObject* o) noexcept { return reinterpret_cast<revive::PyObject*>(o); }
PyObject* real(revive::PyObject* o) noexcept { return reinterpret_cast<PyObject*>(o); }

// A wrapper's serial (WrapperObject::serial): one counter for both types, under the GIL,
// which 3.11's interpreters share.
std::uint64_t next_serial() noexcept {
  static std::uint64_t serials = 0;
  return ++serials;
}
const PyObject* real(const revive::PyObject* o) noexcept { return reinterpret_cast<const PyObject*>(o); }

template <class H>
WrapperObject<H>* as_wrapper(PyObject* o) noexcept {
  return reinterpret_cast<WrapperObject<H>*>(o);
}

// The members CPython appended to a heap type for its __slots__.
PyMemberDef* heap_type_members(PyTypeObject* type) noexcept {
  return reinterpret_cast<PyMemberDef*>(reinterpret_cast<char*>(type) + Py_TYPE(type)->tp_basicsize);
}

// Every __slots__ member of the Python classes between `o`'s type and `base`.
template <class F>
void for_each_slot(PyObject* o, PyTypeObject* base, F&& f) {
  for (PyTypeObject* type = Py_TYPE(o); type != base; type = type->tp_base) {
    PyMemberDef* member = heap_type_members(type);
    for (Py_ssize_t i = 0; i < Py_SIZE(type); ++i, ++member) {
      if (member->type == T_OBJECT_EX) {
        f(*reinterpret_cast<PyObject**>(reinterpret_cast<char*>(o) + member->offset), (member->flags & READONLY) != 0);
      }
    }
  }
}

// Where `o`'s __dict__ is, or null if its class has none (a class over a C base with
// __slots__ only, or the base itself: as_subclass(TensorBase), held(name, StorageBase)).
// The Python classes' dicts are 3.11's managed ones, found through _PyObject_GetDictPtr
// (exported; the layout is internal).  Our instances never keep attributes inline: only
// object_new prepares inline values, and tp_new here allocates with tp_alloc, so the
// call only returns the pointer, allocating nothing, from traverse and dealloc too.
// A dealloc may run while an exception is on its way up, which this must leave alone.
PyObject** instance_dict(PyObject* o) noexcept {
  PyTypeObject* type = Py_TYPE(o);
  if (type->tp_dictoffset == 0 && !PyType_HasFeature(type, Py_TPFLAGS_MANAGED_DICT)) return nullptr;
  PyObject *exc_type = nullptr, *exc_value = nullptr, *exc_traceback = nullptr;
  PyErr_Fetch(&exc_type, &exc_value, &exc_traceback);
  PyObject** dict = _PyObject_GetDictPtr(o);
  PyErr_Restore(exc_type, exc_value, exc_traceback);  // CPython clears its own failure
  return dict;
}

template <class H>
void stub(PyObject* o) noexcept {
  as_wrapper<H>(o)->cdata = MaybeOwned<H>();
}

}  // namespace

// ---- the interpreter's vtable -----------------------------------------------------------

std::string CPythonVTable::name() const { return name_; }

// Runs `f` in this vtable's interpreter, whatever the calling thread holds: its own
// thread state (the usual case: Python code of this interpreter), PyGILState for the
// main interpreter from a C++ thread without the GIL, or a fresh thread state of ours
// (another interpreter's is current, one GIL for all of them in 3.11; or none, and this
// is a subinterpreter, which PyGILState does not support).  False if it could not (out
// of memory: the caller leaks rather than crash).
template <class F>
bool CPythonVTable::run_here(F&& f) const {
  // The thread state holding the GIL, if this thread is the one holding it: See Note
  // [Who holds the GIL on CPython 3.11].
  PyThreadState* current = ThreadWithoutGil::here() ? nullptr : _PyThreadState_UncheckedGet();
  if (current != nullptr && PyThreadState_GetInterpreter(current) == interp_) {
    f();
    return true;
  }
  if (current == nullptr && interp_ == PyInterpreterState_Main()) {
    const PyGILState_STATE gil = PyGILState_Ensure();
    {
      ThreadWithoutGil::TookGil took;
      f();
    }
    PyGILState_Release(gil);
    return true;
  }
  PyThreadState* ours = PyThreadState_New(interp_);
  if (ours == nullptr) return false;
  if (current != nullptr) {
    PyThreadState_Swap(ours);
    f();
    PyThreadState_Clear(ours);
    PyThreadState_Swap(current);
    PyThreadState_Delete(ours);
  } else {
    PyEval_RestoreThread(ours);
    {
      ThreadWithoutGil::TookGil took;
      f();
    }
    PyThreadState_Clear(ours);
    PyThreadState_DeleteCurrent();
  }
  return true;
}

// concrete_decref_fn: C++ gives back the reference the slot held (T6), or another one
// (E4: n 2 -> 1), in this vtable's interpreter.
void CPythonVTable::decref(revive::PyObject* pyobj, bool has_pyobj_slot) const {
  PyObject* o = real(pyobj);
  (void)run_here([&] { decref_here(o, has_pyobj_slot); });
}

// E4 (Note [Era E4 in the binding], binding/python_variable.h): C++ takes a reference
// to the wrapper (n 1 -> 2), from any thread.
void CPythonVTable::incref(revive::PyObject* pyobj) const {
  PyObject* o = real(pyobj);
  (void)run_here([&] { Py_INCREF(o); });
}

// E4: weak_intrusive_ptr::lock() at n == 1.  The slot is read under the GIL: a wrapper
// whose dealloc runs (refcount 0) is refused, and one already freed is no longer there.
bool CPythonVTable::try_incref(const impl::PyObjectSlot& slot) const {
  bool taken = false;
  (void)run_here([&] {
    PyObject* o = real(slot._unchecked_untagged_pyobj());
    if (o != nullptr && Py_REFCNT(o) > 0) {
      Py_INCREF(o);
      taken = true;
    }
  });
  return taken;
}

void CPythonVTable::decref_here(PyObject* o, bool has_pyobj_slot) const {
  if (has_pyobj_slot && Py_REFCNT(o) > 1) {
    // Note [The weakref hole] (binding/python_variable.h): a weak reference revived the
    // zombie without flipping ownership back; it will outlive the C++ object it borrows.
    const bool is_tensor = torch_->is_wrapper<Tensor>(o);
    const bool is_node = !is_tensor && torch_->is_wrapper<autograd::NodeHandle>(o);
    const char* warning = is_tensor ? Kind<Tensor>::weakref_hole_warning
                          : is_node ? Kind<autograd::NodeHandle>::weakref_hole_warning
                                    : Kind<Storage>::weakref_hole_warning;
    // The release may come while an exception is on its way up: keep it.
    PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;
    PyErr_Fetch(&type, &value, &traceback);
    if (PyErr_WarnEx(PyExc_UserWarning, warning, 1) < 0) PyErr_WriteUnraisable(o);
    PyErr_Restore(type, value, traceback);
    if (is_tensor) stub<Tensor>(o);
    else if (is_node) stub<autograd::NodeHandle>(o);
    else stub<Storage>(o);
  }
  Py_DECREF(o);
}

std::string CPythonVTable::type_name(const revive::PyObject* pyobj) const {
  return Py_TYPE(real(pyobj))->tp_name;
}

Torch::Torch(PyTypeObject* tensor_base, PyTypeObject* storage_base, PyInterpreterState* interp, std::string name)
    : vtable_(new CPythonVTable(this, interp, std::move(name))),
      pyinterpreter_(new impl::PyInterpreter(vtable_)),
      tensor_base_(tensor_base),
      storage_base_(storage_base) {}

void Torch::set_classes(PyTypeObject* tensor_class, PyTypeObject* storage_class) noexcept {
  tensor_class_ = tensor_class;
  storage_class_ = storage_class;
}

void Torch::set_issue_136358(bool on) noexcept {
  issue_136358 = on;
  if (subtype_clear_ == nullptr) return;  // no Python class yet
  tensor_class_->tp_clear = on ? subtype_clear_ : &Torch::clear<Tensor>;
  storage_class_->tp_clear = on ? subtype_clear_ : &Torch::clear<Storage>;
}

void Torch::disarm() noexcept {
  if (!pyinterpreter_->is_disarmed()) pyinterpreter_->disarm();
}

// ---- wrap ----------------------------------------------------------------------------------

// THPVariable_Wrap / THPStorage_Wrap: the one wrapper of `handle` in this interpreter.
template <class H>
PyObject* Torch::wrap_handle(const H& handle, H* movable) {
  if (!handle.defined()) Py_RETURN_NONE;
  impl::PyObjectSlot* slot = handle.getIntrusivePtr()->pyobj_slot();
  if (impl::HermeticPyObjectTLS::get_state()) {  // T10: See Note [Hermetic PyObject mode]
    return new_wrapper(python_type<H>(), movable != nullptr ? std::move(*movable) : handle,
                       impl::PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  }
  if constexpr (std::is_same_v<H, Storage>) {
    if (slot->has_pyobj_nonhermetic() && !slot->check_interpreter(pyinterpreter_)) {
      // See Note [Storage wrap across interpreters]: a new StorageImpl sharing the bytes.
      return new_wrapper(python_type<H>(), handle.share_data(), impl::PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
    }
  }
  std::optional<revive::PyObject*> mb_obj;
  try {
    mb_obj = slot->check_pyobj(pyinterpreter_);  // another interpreter's tag: throws
  } catch (const Error& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
    return nullptr;
  }
  if (mb_obj.has_value() && *mb_obj != nullptr) {
    PyObject* o = real(*mb_obj);
    if (slot->owns_pyobj()) {  // T5: Z -> L; the caller takes the slot's reference
      slot->set_owns_pyobj(false);
      as_wrapper<H>(o)->cdata = MaybeOwned<H>::owned(handle);
      if (exercise::off(exercise::Rule::FlipBackNoIncref)) Py_INCREF(o);  // test machinery (exercise.h)
      return o;
    }
    Py_INCREF(o);  // T2
    return o;
  }
  const auto status = slot->check_interpreter(pyinterpreter_) ? impl::PyInterpreterStatus::TAGGED_BY_US
                      : handle.use_count() <= 1 ? impl::PyInterpreterStatus::DEFINITELY_UNINITIALIZED
                                                : impl::PyInterpreterStatus::MAYBE_UNINITIALIZED;
  return new_wrapper(python_type<H>(), movable != nullptr ? std::move(*movable) : handle, status);
}

// THPVariable_NewWithVar / THPStorage_NewWithStorage: a new wrapper of class `type`.
template <class H>
PyObject* Torch::new_wrapper(PyTypeObject* type, H handle, impl::PyInterpreterStatus status) {
  // Every instance is made here, so a class whose __init_subclass__ chain never reached
  // ours (a mixin's override not calling super()) gets the wrapper's slots now.  A class
  // that did, under issue_136358, keeps the subtype_clear it was given.
  if (type->tp_dealloc != &Torch::dealloc<H>) install_slots<H>(type);
  if constexpr (std::is_same_v<H, Tensor>) {
    // A class over TensorBase that is not a Tensor class, made past __init_subclass__'s
    // check (a mixin whose __init_subclass__ does not chain): PyTorch's metaclass
    // cannot be bypassed so.  TensorBase itself stays allowed (as_subclass(TensorBase)).
    if (type != tensor_base_ && tensor_class_ != nullptr && !PyType_IsSubtype(type, tensor_class_)) {
      PyErr_SetString(PyExc_RuntimeError, kCannotSubclassTensorBase);
      return nullptr;
    }
  }
  // The slot is overwritten below without further checks, so it must be empty for us;
  // and check_pyobj refuses another interpreter's tag here too, in hermetic mode as well
  // (THPVariable_NewWithVar asks before it looks at the hermetic state).  Found by the
  // fake-against-real campaign: See Note [The fake against the real CPython].
  std::optional<revive::PyObject*> mb_obj;
  try {
    mb_obj = handle.getIntrusivePtr()->pyobj_slot()->check_pyobj(pyinterpreter_);
  } catch (const Error& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
    return nullptr;
  }
  if (mb_obj.has_value() && *mb_obj != nullptr) {
    PyErr_Format(PyExc_RuntimeError,
                 "Creating a new %s subclass %s but the raw %s object is already associated to a python object of "
                 "type %s",
                 Kind<H>::error_name, type->tp_name, Kind<H>::error_name, Py_TYPE(real(*mb_obj))->tp_name);
    return nullptr;
  }
  PyObject* o = type->tp_alloc(type, 0);
  if (o == nullptr) return nullptr;
  WrapperObject<H>* self = as_wrapper<H>(o);
  new (&self->cdata) MaybeOwned<H>(MaybeOwned<H>::owned(std::move(handle)));
  self->torch = this;
  self->serial = next_serial();
  ++live_wrappers_;
  self->is_hermetic = impl::HermeticPyObjectTLS::get_state();
  if (self->is_hermetic) return o;  // never recorded: See Note [Hermetic PyObject mode]
  auto* target = self->cdata.get();
  try {
    target->pyobj_slot()->init_pyobj(pyinterpreter_, opaque(o), status);
  } catch (const Error& e) {
    self->is_hermetic = true;  // never recorded: its dealloc must not consult the slot
    Py_DECREF(o);
    PyErr_SetString(PyExc_RuntimeError, e.what());
    return nullptr;
  }
  // E4: the bit, and with it C++'s reference to the wrapper while another handle shares
  // the target.  A target only this wrapper holds (a fresh object handed over, no weak
  // reference) cannot be reached by anyone else, so the bit is a plain store, as c10's
  // PyObjectPreservation::init_fresh_nonatomic does; otherwise the CAS loop.
  if (e4) {
    if (target->refcount() == 1 && target->weakcount() == 1) {
      if (!exercise::off(exercise::Rule::E4Share)) target->set_has_pyobject_fresh();  // test machinery (exercise.h)
    } else {
      (void)target->set_has_pyobject();
    }
  }
  return o;
}

// THPVariable_Unpack / THPStorage_Unpack: undefined for a stubbed wrapper.
template <class H>
H Torch::unpack(PyObject* o) const {
  const auto& cdata = as_wrapper<H>(o)->cdata;
  return cdata.defined() ? cdata.to_owned() : H();
}

// ---- dealloc --------------------------------------------------------------------------------

// isResurrectable / THPStorage_isPreservable (E2): the same conditions as binding/'s
// Torch::is_preservable.
template <class H>
bool Torch::is_preservable(WrapperObject<H>* self) const {
  if (self->cdata.unsafeIsBorrowed()) return false;
  if (e4) return false;  // E4 never resurrects: See Note [Era E4 in the binding] (binding/)
  if (Kind<H>::remembers_hermetic && self->is_hermetic) return false;
  auto* target = self->cdata.get();
  if (target == nullptr || target->refcount() <= 1) return false;
  impl::PyObjectSlot* slot = target->pyobj_slot();
  if (!slot->check_interpreter(pyinterpreter_)) return false;
  return slot->check_pyobj(pyinterpreter_, /*ignore_hermetic_tls=*/Kind<H>::remembers_hermetic) ==
         std::optional<revive::PyObject*>(opaque(reinterpret_cast<PyObject*>(self)));
}

// THPVariable_tryResurrect / THPStorage_tryPreserve.  See Note [Ownership flip on
// resurrection] (binding/python_variable.h): the same five steps, _Py_NewReference for r = 1.
template <class H>
void Torch::resurrect(WrapperObject<H>* self) noexcept {
  auto* target = self->cdata.get();
  target->pyobj_slot()->set_owns_pyobj(true);
  _Py_NewReference(reinterpret_cast<PyObject*>(self));
  H owned = self->cdata.take_owned();
  self->cdata = MaybeOwned<H>::borrowed(target);
  owned.reset();  // may free `self` (Note [Move out, then drop]): nothing touches it after
}

// THPVariable_clear's C++ half: the slot forgets the wrapper first if it records it
// (Note [A recorded wrapper that really dies]), then the C++ object is let go.
template <class H>
void Torch::clear_cdata(WrapperObject<H>* self) noexcept {
  auto* target = self->cdata.get();
  if (target != nullptr && !self->cdata.unsafeIsBorrowed() && !self->is_hermetic) {
    impl::PyObjectSlot* slot = target->pyobj_slot();
    if (slot->check_interpreter(pyinterpreter_) &&
        slot->_unchecked_untagged_pyobj() == opaque(reinterpret_cast<PyObject*>(self))) {
      slot->unchecked_clear_pyobj(pyinterpreter_);
    }
  }
  MaybeOwned<H> dropped = std::move(self->cdata);
  (void)dropped;  // released here, after the wrapper stopped pointing at it
}

// __slots__, __dict__, then the C++ object: what dealloc and clear both give up.
template <class H>
void Torch::clear_contents(PyObject* o) noexcept {
  for_each_slot(o, base_type<H>(), [](PyObject*& member, bool readonly) {
    if (!readonly) Py_CLEAR(member);
  });
  if (PyObject** dict = instance_dict(o)) Py_CLEAR(*dict);
  Py_CLEAR(as_wrapper<H>(o)->backward_hooks);  // THPVariable_clear's Py_CLEARs
  Py_CLEAR(as_wrapper<H>(o)->post_accumulate_grad_hooks);
  clear_cdata(as_wrapper<H>(o));
}

// THPVariable_subclass_dealloc / THPStorage_subclass_dealloc.
template <class H>
void Torch::dealloc(PyObject* o) noexcept {
  Torch& torch = of_wrapper<H>(o);
  WrapperObject<H>* self = as_wrapper<H>(o);
  bool resurrectable = torch.is_preservable(self);
  if (exercise::off(exercise::Rule::Resurrection)) resurrectable = false;  // test machinery (exercise.h)
  if (resurrectable) {  // T3
    torch.resurrect(self);
    return;
  }
  PyObject_GC_UnTrack(o);
  // A long chain of wrappers holding each other (through __slots__ or __dict__) would
  // nest deallocs as deep as the chain: CPython's trashcan defers the deeper ones, as
  // subtype_dealloc does.  A deferred wrapper comes back here, and is judged again.
  Py_TRASHCAN_BEGIN_CONDITION(o, _PyTrash_cond(o, &Torch::dealloc<H>))
  torch.real_death<H>(o);
  Py_TRASHCAN_END
}

// T4 / T6: finalizer, weakrefs, __slots__, __dict__, the C++ object, then the memory.
template <class H>
void Torch::real_death(PyObject* o) noexcept {
  WrapperObject<H>* self = as_wrapper<H>(o);
  PyTypeObject* type = Py_TYPE(o);
  if (type->tp_finalize != nullptr) {  // __del__ (PEP 442): it may resurrect the object
    PyObject_GC_Track(o);
    if (PyObject_CallFinalizerFromDealloc(o) < 0) {
      // Note [A finalizer that keeps a dying zombie]: a borrowed cdata would dangle.
      if (self->cdata.unsafeIsBorrowed()) stub<H>(o);
      return;
    }
    PyObject_GC_UnTrack(o);
  }
  if (type->tp_weaklistoffset != 0) PyObject_ClearWeakRefs(o);
  clear_contents<H>(o);
  self->cdata.~MaybeOwned<H>();
  --live_wrappers_;
  type->tp_free(o);
  Py_DECREF(type);  // a heap type: each instance holds a reference to it
}

// THPVariable_subclass_traverse: a wrapper the slot would resurrect reports nothing, so
// the collector never takes it for garbage (Note [Cycle collection and preservation]).
template <class H>
int Torch::traverse(PyObject* o, visitproc visit, void* arg) {
  Torch& torch = of_wrapper<H>(o);
  if (torch.is_preservable(as_wrapper<H>(o))) return 0;
  Py_VISIT(Py_TYPE(o));
  int failed = 0;
  for_each_slot(o, torch.base_type<H>(), [&](PyObject* member, bool) {
    if (failed == 0 && member != nullptr) failed = visit(member, arg);
  });
  if (failed != 0) return failed;
  if (PyObject** dict = instance_dict(o)) Py_VISIT(*dict);
  Py_VISIT(as_wrapper<H>(o)->backward_hooks);
  Py_VISIT(as_wrapper<H>(o)->post_accumulate_grad_hooks);
  // See Note [Seeing through C++ in traverse] (binding/python_variable.h).
  if constexpr (std::is_same_v<H, Tensor>) return torch.traverse_autograd(as_wrapper<H>(o)->cdata, visit, arg);
  return 0;
}

// Note [Seeing through C++ in traverse] (binding/python_variable.h), on the real CPython.
int Torch::traverse_autograd(const MaybeOwned<Tensor>& cdata, visitproc visit, void* arg) const {
  if (!cdata.defined() || cdata.unsafeIsBorrowed()) return 0;
  if (exercise::off(exercise::Rule::SeeThroughCpp)) return 0;  // test machinery (exercise.h)
  const TensorImpl* tensor = cdata.get();
  const autograd::AutogradMeta* meta = tensor->autograd_meta();
  if (meta == nullptr) return 0;
  const bool only_owner = tensor->refcount() == 1;
  if (only_owner && meta->grad_fn.defined() && meta->grad_fn.use_count() == 1) {
    Py_VISIT(grad_fn_pyobj(*meta->grad_fn.get()));  // Py_VISIT(grad_fn->pyobj())
  }
  if ((!e4 || only_owner) && meta->backward_hooks && &meta->backward_hooks->pyinterpreter() == pyinterpreter_) {
    Py_VISIT(real(meta->backward_hooks->ptr(pyinterpreter_)));  // Py_VISIT(pyhook->dict)
  }
  return 0;
}

// THPVariable_subclass_clear.  The collector may clear a wrapper it found only through
// garbage even though C++ still holds its tensor (traverse hides what the wrapper holds,
// not who holds the wrapper).  Such a wrapper is left alone: when the garbage lets go
// of it, its dealloc resurrects it, intact (PyTorch #75932, fixed by #75933).
template <class H>
int Torch::clear(PyObject* o) {
  Torch& torch = of_wrapper<H>(o);
  const bool bug_75932 = torch.issue_75932 || exercise::off(exercise::Rule::ClearAsks);  // test machinery (exercise.h)
  if (!bug_75932 && torch.is_preservable(as_wrapper<H>(o))) return 0;
  torch.clear_contents<H>(o);
  return 0;
}

// Our dealloc, traverse and clear for a new subclass (THPVariableMetaType_init).
template <class H>
void Torch::install_slots(PyTypeObject* type) noexcept {
  Torch& torch = of(type);
  if (torch.subtype_clear_ == nullptr && type->tp_clear != &Torch::clear<H>) torch.subtype_clear_ = type->tp_clear;
  type->tp_dealloc = &Torch::dealloc<H>;
  type->tp_traverse = &Torch::traverse<H>;
  const bool bug_136358 = torch.issue_136358 || exercise::off(exercise::Rule::SubclassSlots);  // test machinery (exercise.h)
  if (!bug_136358) type->tp_clear = &Torch::clear<H>;  // else CPython's subtype_clear
}

template PyObject* Torch::wrap_handle(const Tensor&, Tensor*);
template PyObject* Torch::wrap_handle(const Storage&, Storage*);
template PyObject* Torch::new_wrapper(PyTypeObject*, Tensor, impl::PyInterpreterStatus);
template PyObject* Torch::new_wrapper(PyTypeObject*, Storage, impl::PyInterpreterStatus);
template Tensor Torch::unpack(PyObject*) const;
template Storage Torch::unpack(PyObject*) const;
template void Torch::dealloc<Tensor>(PyObject*) noexcept;
template void Torch::dealloc<Storage>(PyObject*) noexcept;
template int Torch::traverse<Tensor>(PyObject*, visitproc, void*);
template int Torch::traverse<Storage>(PyObject*, visitproc, void*);
template int Torch::clear<Tensor>(PyObject*);
template int Torch::clear<Storage>(PyObject*);
template void Torch::install_slots<Tensor>(PyTypeObject*) noexcept;
template void Torch::install_slots<Storage>(PyTypeObject*) noexcept;
template PyObject* Torch::wrap_handle(const autograd::NodeHandle&, autograd::NodeHandle*);
template PyObject* Torch::new_wrapper(PyTypeObject*, autograd::NodeHandle, impl::PyInterpreterStatus);
template autograd::NodeHandle Torch::unpack(PyObject*) const;
template void Torch::dealloc<autograd::NodeHandle>(PyObject*) noexcept;
template int Torch::traverse<autograd::NodeHandle>(PyObject*, visitproc, void*);
template int Torch::clear<autograd::NodeHandle>(PyObject*);
template void Torch::install_slots<autograd::NodeHandle>(PyTypeObject*) noexcept;

// ---- a grad_fn's Python object ------------------------------------------------------------
// Note [Two ways to give a grad_fn a Python object] (binding/torch.h), on the real CPython.

PyObject* Torch::grad_fn_pyobj(const autograd::Node& node) const noexcept {
  if (!grad_fn_preserved) return real(node.cached_pyobj(pyinterpreter_));
  const impl::PyObjectSlot* slot = node.pyobj_slot();
  return slot->check_interpreter(pyinterpreter_) ? real(slot->_unchecked_untagged_pyobj()) : nullptr;
}

// The class of a node kind: a Python subclass of the base, as `type(name, (base,), {})`
// makes it (for the preserved way, that runs revive.Node's __init_subclass__).  Borrowed.
PyTypeObject* Torch::node_class(const autograd::Node& node) {
  auto it = node_classes_.find(node.kind());
  if (it != node_classes_.end()) return it->second;
  PyTypeObject* base = grad_fn_preserved ? node_class_ : cpp_function_base;
  const std::string name(node.name());
  PyObject* dict = Py_BuildValue("{s:s,s:s}", "__module__", "revive", "__qualname__", name.c_str());
  if (dict == nullptr) return nullptr;
  PyObject* cls = PyObject_CallFunction(reinterpret_cast<PyObject*>(&PyType_Type), "s(O)O", name.c_str(), base, dict);
  Py_DECREF(dict);
  if (cls == nullptr) return nullptr;
  auto* type = reinterpret_cast<PyTypeObject*>(cls);
  node_classes_.emplace(node.kind(), type);  // kept for good, as the other classes are
  return type;
}

PyObject* Torch::grad_fn_object(const autograd::NodeHandle& node) {
  if (!node.defined()) Py_RETURN_NONE;
  PyTypeObject* cls = node_class(*node);
  if (cls == nullptr) return nullptr;
  if (grad_fn_preserved) {
    const impl::PyObjectSlot* slot = node->pyobj_slot();
    // The recorded object (T2, or T5 for a zombie), else a new one of its kind's class;
    // another interpreter's tag is refused by both, as for a tensor (T11).
    if (slot->check_interpreter(pyinterpreter_) && slot->_unchecked_untagged_pyobj() != nullptr) return wrap(node);
    return new_wrapper(cls, node, slot->check_interpreter(pyinterpreter_) ? impl::PyInterpreterStatus::TAGGED_BY_US
                                                                           : impl::PyInterpreterStatus::MAYBE_UNINITIALIZED);
  }
  const impl::PyInterpreter* holder = node->cache_interpreter();
  if (holder != nullptr && holder != pyinterpreter_) {  // compared, never read (the fake's rule)
    PyErr_Format(PyExc_RuntimeError, "cannot access the PyObject of %s from interpreter %s: another interpreter holds it",
                 std::string(node->name()).c_str(), (*pyinterpreter_)->name().c_str());
    return nullptr;
  }
  if (PyObject* o = real(node->cached_pyobj(pyinterpreter_))) {  // functionToPyObject
    Py_INCREF(o);
    return o;
  }
  PyObject* o = cls->tp_alloc(cls, 0);
  if (o == nullptr) return nullptr;
  auto* self = reinterpret_cast<CppFunctionObject*>(o);
  new (&self->cdata) autograd::NodeHandle(node);
  self->torch = this;
  node->set_cached_pyobj(pyinterpreter_, opaque(o));  // not owned: a weak reference
  return o;
}

bool Torch::is_grad_fn(PyObject* o) const noexcept {
  if (grad_fn_preserved) return is_wrapper<autograd::NodeHandle>(o);
  return cpp_function_base != nullptr && PyObject_TypeCheck(o, cpp_function_base);
}

autograd::NodeHandle Torch::unpack_node(PyObject* o) const {
  autograd::NodeHandle node = grad_fn_preserved ? unpack<autograd::NodeHandle>(o)
                                                 : reinterpret_cast<CppFunctionObject*>(o)->cdata;
  if (!node.defined()) {
    PyErr_SetString(PyExc_RuntimeError, grad_fn_preserved ? "the grad_fn's Node is undefined (Note [The weakref hole])"
                                                          : "the grad_fn was cleared by the collector");
  }
  return node;
}

// THPCppFunction_traverse: its __dict__ and its type (a heap type).
int Torch::cpp_function_traverse(PyObject* o, visitproc visit, void* arg) {
  Py_VISIT(Py_TYPE(o));
  Py_VISIT(reinterpret_cast<CppFunctionObject*>(o)->dict);
  return 0;
}

// THPCppFunction_clear: forget the node, so that the next `t.grad_fn` makes a new
// object, and let it go; as the collector's clear, drop __dict__ too.
int Torch::cpp_function_clear(PyObject* o) {
  auto* self = reinterpret_cast<CppFunctionObject*>(o);
  Py_CLEAR(self->dict);
  if (self->cdata.defined()) self->cdata->forget_cached_pyobj(self->torch->pyinterpreter_, opaque(o));
  autograd::NodeHandle dropped = std::move(self->cdata);
  self->cdata = autograd::NodeHandle();
  dropped.reset();  // may release tensors, and their zombies: Note [Move out, then drop]
  return 0;
}

void Torch::cpp_function_dealloc(PyObject* o) noexcept {
  auto* self = reinterpret_cast<CppFunctionObject*>(o);
  PyTypeObject* type = Py_TYPE(o);
  PyObject_GC_UnTrack(o);
  if (self->weakreflist != nullptr) PyObject_ClearWeakRefs(o);
  (void)cpp_function_clear(o);
  self->cdata.~NodeHandle();
  type->tp_free(o);
  Py_DECREF(type);  // a heap type: each instance holds a reference to it
}

}  // namespace revive::cpython
