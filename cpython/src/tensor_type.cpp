// The wrapper protocol of binding/include/revive/binding/python_variable.h, written on
// CPython 3.11's own C API: the same pyslot/ and tensor/ layers underneath, a real
// PyObject on top.  Read the two side by side; each function here names its twin.
//
// What differs because CPython is real (Note [Real CPython under the same slot]):
//   - revive::PyObject is opaque to pyslot/ and tensor/; here it is CPython's
//     `PyObject`, converted at the boundary (opaque() / real()).
//   - A Python subclass gets CPython's subtype_dealloc, which clears weakrefs,
//     __dict__ and __slots__ and runs __del__ before it reaches our dealloc: too late
//     to resurrect an intact object.  So Tensor's __init_subclass__ puts our dealloc,
//     traverse and clear into every subclass (PyTorch did it in its metaclass), and
//     they walk the slots themselves: calling subtype_dealloc would find our dealloc
//     again through tp_base and recurse.
//   - Resurrection is _Py_NewReference (refcount back to 1) in tp_dealloc, before the
//     object is untracked, as THPVariable_tryResurrect did.
#include "tensor_type.h"

#include <structmember.h>

#include <cstdio>
#include <string>

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
// The vtable below is the real twin of binding/'s: decref takes the GIL with
// PyGILState_Ensure (the main interpreter only, for now), and a wrapper a weak
// reference revived gets the weakref hole's warning through Python's `warnings`.
revive::PyObject* opaque(::PyObject* o) noexcept { return reinterpret_cast<revive::PyObject*>(o); }
::PyObject* real(revive::PyObject* o) noexcept { return reinterpret_cast<::PyObject*>(o); }
const ::PyObject* real(const revive::PyObject* o) noexcept { return reinterpret_cast<const ::PyObject*>(o); }

constexpr const char* kWeakrefHoleWarning =
    "Deallocating Tensor that still has live PyObject references.  This probably "
    "happened because you took out a weak reference to Tensor and didn't call "
    "_fix_weakref() after dereferencing it.  Subsequent accesses to this tensor via the "
    "PyObject will now fail.";

TensorObject* as_tensor_object(::PyObject* o) noexcept { return reinterpret_cast<TensorObject*>(o); }

// The members CPython appended to a heap type for its __slots__.
PyMemberDef* heap_type_members(PyTypeObject* type) noexcept {
  return reinterpret_cast<PyMemberDef*>(reinterpret_cast<char*>(type) + Py_TYPE(type)->tp_basicsize);
}

}  // namespace

// ---- the interpreter's vtable -----------------------------------------------------------

std::string CPythonVTable::name() const { return name_; }

// concrete_decref_fn: C++ gives back the reference the slot held (T6), or another one.
void CPythonVTable::decref(revive::PyObject* pyobj, bool has_pyobj_slot) const {
  const PyGILState_STATE gil = PyGILState_Ensure();
  ::PyObject* o = real(pyobj);
  if (has_pyobj_slot && Py_REFCNT(o) > 1) {
    // Note [The weakref hole] (binding/python_variable.h): a weak reference revived the
    // zombie without flipping ownership back; it will outlive the tensor it borrows.
    if (PyErr_WarnEx(PyExc_UserWarning, kWeakrefHoleWarning, 1) < 0) PyErr_WriteUnraisable(o);
    if (PyObject_TypeCheck(o, tensor_type_)) as_tensor_object(o)->cdata = MaybeOwned<Tensor>();
  }
  Py_DECREF(o);
  PyGILState_Release(gil);
}

std::string CPythonVTable::type_name(const revive::PyObject* pyobj) const {
  return Py_TYPE(real(pyobj))->tp_name;
}

// ---- wrap ----------------------------------------------------------------------------------

TensorModule::TensorModule(PyTypeObject* tensor_type, std::string name)
    : vtable_(std::make_unique<CPythonVTable>(tensor_type, std::move(name))),
      pyinterpreter_(std::make_unique<impl::PyInterpreter>(vtable_.get())),
      tensor_type_(tensor_type) {}

// THPVariable_Wrap: the one wrapper of `t` in this interpreter, made if need be.
::PyObject* TensorModule::wrap(const Tensor& t) {
  if (!t.defined()) Py_RETURN_NONE;
  TensorImpl* impl = t.unsafeGetTensorImpl();
  impl::PyObjectSlot* slot = impl->pyobj_slot();
  if (impl::HermeticPyObjectTLS::get_state()) {
    return new_wrapper(tensor_type_, t, impl::PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  }
  std::optional<revive::PyObject*> mb_obj;
  try {
    mb_obj = slot->check_pyobj(pyinterpreter_.get());  // another interpreter's tag: throws
  } catch (const Error& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
    return nullptr;
  }
  if (mb_obj.has_value() && *mb_obj != nullptr) {
    ::PyObject* o = real(*mb_obj);
    if (slot->owns_pyobj()) {  // T5: Z -> L; the caller takes the slot's reference
      slot->set_owns_pyobj(false);
      as_tensor_object(o)->cdata = MaybeOwned<Tensor>::owned(t);
      return o;
    }
    Py_INCREF(o);  // T2
    return o;
  }
  const auto status = slot->check_interpreter(pyinterpreter_.get()) ? impl::PyInterpreterStatus::TAGGED_BY_US
                      : t.use_count() <= 1                          ? impl::PyInterpreterStatus::DEFINITELY_UNINITIALIZED
                                                                    : impl::PyInterpreterStatus::MAYBE_UNINITIALIZED;
  return new_wrapper(tensor_type_, t, status);
}

// THPVariable_NewWithVar: a new wrapper of class `type` (Tensor or a subclass).
::PyObject* TensorModule::new_wrapper(PyTypeObject* type, const Tensor& t, impl::PyInterpreterStatus status) {
  ::PyObject* o = type->tp_alloc(type, 0);
  if (o == nullptr) return nullptr;
  TensorObject* self = as_tensor_object(o);
  new (&self->cdata) MaybeOwned<Tensor>(MaybeOwned<Tensor>::owned(t));
  self->is_hermetic = impl::HermeticPyObjectTLS::get_state();
  if (self->is_hermetic) return o;  // never recorded: See Note [Hermetic PyObject mode]
  try {
    t.unsafeGetTensorImpl()->pyobj_slot()->init_pyobj(pyinterpreter_.get(), opaque(o), status);
  } catch (const Error& e) {
    self->is_hermetic = true;  // never recorded: its dealloc must not consult the slot
    Py_DECREF(o);
    PyErr_SetString(PyExc_RuntimeError, e.what());
    return nullptr;
  }
  return o;
}

// THPVariable_Unpack.
Tensor TensorModule::unpack(::PyObject* o) const {
  return as_tensor_object(o)->cdata.defined() ? as_tensor_object(o)->cdata.to_owned() : Tensor();
}

// ---- dealloc --------------------------------------------------------------------------------

// isResurrectable (E2).
bool TensorModule::is_preservable(TensorObject* self) const {
  if (self->is_hermetic || self->cdata.unsafeIsBorrowed()) return false;
  TensorImpl* impl = self->cdata.get();
  if (impl == nullptr || impl->refcount() <= 1) return false;
  impl::PyObjectSlot* slot = impl->pyobj_slot();
  if (!slot->check_interpreter(pyinterpreter_.get())) return false;
  return slot->check_pyobj(pyinterpreter_.get()) == std::optional<revive::PyObject*>(opaque(&self->ob_base));
}

// THPVariable_tryResurrect.  See Note [Ownership flip on resurrection]
// (binding/python_variable.h): the same five steps, with _Py_NewReference for r = 1.
void TensorModule::resurrect(TensorObject* self) noexcept {
  TensorImpl* impl = self->cdata.get();
  impl::PyObjectSlot* slot = impl->pyobj_slot();
  slot->set_owns_pyobj(true);
  _Py_NewReference(&self->ob_base);
  Tensor owned = self->cdata.take_owned();
  self->cdata = MaybeOwned<Tensor>::borrowed(impl);
  owned.reset();  // may free `self` (Note [Move out, then drop]): nothing touches it after
}

// THPVariable_clear: what the wrapper holds in C++, given up; the slot forgets it first
// if it records it (Note [A recorded wrapper that really dies]).
void TensorModule::clear_cdata(TensorObject* self) noexcept {
  TensorImpl* impl = self->cdata.get();
  if (impl != nullptr && !self->cdata.unsafeIsBorrowed() && !self->is_hermetic) {
    impl::PyObjectSlot* slot = impl->pyobj_slot();
    if (slot->check_interpreter(pyinterpreter_.get()) && slot->_unchecked_untagged_pyobj() == opaque(&self->ob_base)) {
      slot->unchecked_clear_pyobj(pyinterpreter_.get());
    }
  }
  MaybeOwned<Tensor> dropped = std::move(self->cdata);
  (void)dropped;  // released here, after the wrapper stopped pointing at it
}

// THPVariable_subclass_dealloc, for Tensor and every subclass.
void TensorModule::dealloc(::PyObject* o) noexcept {
  TensorModule& m = of(Py_TYPE(o));
  TensorObject* self = as_tensor_object(o);
  if (m.is_preservable(self)) {  // T3
    m.resurrect(self);
    return;
  }
  PyTypeObject* type = Py_TYPE(o);
  PyObject_GC_UnTrack(o);
  if (type->tp_finalize != nullptr) {  // __del__ (PEP 442): it may resurrect the object
    PyObject_GC_Track(o);
    if (PyObject_CallFinalizerFromDealloc(o) < 0) {
      // Note [A finalizer that keeps a dying zombie]: a borrowed cdata would dangle.
      if (self->cdata.unsafeIsBorrowed()) self->cdata = MaybeOwned<Tensor>();
      return;
    }
    PyObject_GC_UnTrack(o);
  }
  if (type->tp_weaklistoffset != 0) PyObject_ClearWeakRefs(o);
  // __slots__ of every Python class between the object's type and Tensor.
  for (PyTypeObject* base = type; base != m.tensor_type_; base = base->tp_base) {
    PyMemberDef* member = heap_type_members(base);
    for (Py_ssize_t i = 0; i < Py_SIZE(base); ++i, ++member) {
      if (member->type == T_OBJECT_EX && (member->flags & READONLY) == 0) {
        Py_CLEAR(*reinterpret_cast<::PyObject**>(reinterpret_cast<char*>(o) + member->offset));
      }
    }
  }
  Py_CLEAR(self->dict);
  m.clear_cdata(self);
  self->cdata.~MaybeOwned<Tensor>();
  type->tp_free(o);
  if ((type->tp_flags & Py_TPFLAGS_HEAPTYPE) != 0) Py_DECREF(type);
}

// THPVariable_subclass_traverse: a wrapper the slot would resurrect is reported as
// holding nothing, so the collector never takes it for garbage (Note [Cycle collection
// and preservation]).
int TensorModule::traverse(::PyObject* o, visitproc visit, void* arg) {
  TensorModule& m = of(Py_TYPE(o));
  TensorObject* self = as_tensor_object(o);
  if (m.is_preservable(self)) return 0;
  PyTypeObject* type = Py_TYPE(o);
  Py_VISIT(type);
  for (PyTypeObject* base = type; base != m.tensor_type_; base = base->tp_base) {
    PyMemberDef* member = heap_type_members(base);
    for (Py_ssize_t i = 0; i < Py_SIZE(base); ++i, ++member) {
      if (member->type == T_OBJECT_EX) {
        Py_VISIT(*reinterpret_cast<::PyObject**>(reinterpret_cast<char*>(o) + member->offset));
      }
    }
  }
  Py_VISIT(self->dict);
  return 0;
}

// THPVariable_subclass_clear.
int TensorModule::clear(::PyObject* o) {
  TensorModule& m = of(Py_TYPE(o));
  TensorObject* self = as_tensor_object(o);
  PyTypeObject* type = Py_TYPE(o);
  for (PyTypeObject* base = type; base != m.tensor_type_; base = base->tp_base) {
    PyMemberDef* member = heap_type_members(base);
    for (Py_ssize_t i = 0; i < Py_SIZE(base); ++i, ++member) {
      if (member->type == T_OBJECT_EX && (member->flags & READONLY) == 0) {
        Py_CLEAR(*reinterpret_cast<::PyObject**>(reinterpret_cast<char*>(o) + member->offset));
      }
    }
  }
  Py_CLEAR(self->dict);
  m.clear_cdata(self);
  return 0;
}

// Our dealloc, traverse and clear for a new subclass (THPVariableMetaType_init).
void TensorModule::install_slots(PyTypeObject* type) noexcept {
  type->tp_dealloc = &TensorModule::dealloc;
  type->tp_traverse = &TensorModule::traverse;
  type->tp_clear = &TensorModule::clear;
}

}  // namespace revive::cpython
