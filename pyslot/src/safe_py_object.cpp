#include "revive/pyslot/safe_py_object.h"


#include "revive/pyslot/error.h"

namespace revive::impl {

SafePyObject& SafePyObject::operator=(SafePyObject&& other) noexcept {
  if (this != &other) {
    reset();
    data_ = other.data_;
    pyinterpreter_ = other.pyinterpreter_;
    other.data_ = nullptr;
  }
  return *this;
}

PyObject* SafePyObject::ptr(const PyInterpreter* interpreter) const {
  REVIVE_CHECK(interpreter == pyinterpreter_,
               "SafePyObject created on interpreter ", (*pyinterpreter_)->name(),
               " cannot be used from interpreter ",
               interpreter != nullptr ? (*interpreter)->name() : std::string("<none>"));
  return data_;
}

void SafePyObject::note_held(int delta) noexcept {
  if (data_ != nullptr) pyinterpreter_->safe_objects_.fetch_add(delta, std::memory_order_acq_rel);
}

void SafePyObject::reset() noexcept {
  if (data_ != nullptr) {
    PyObject* p = data_;
    // Counted out after the decref: until it returns, the interpreter is still needed.
    struct Counted {
      PyInterpreter* interp;
      ~Counted() { interp->safe_objects_.fetch_sub(1, std::memory_order_acq_rel); }
    } counted{pyinterpreter_};
    data_ = nullptr;
    // One load of the vtable, as PyObjectSlot does: a release a dead interpreter cannot
    // see is counted for Note [Reclaiming a dead interpreter] (interp/runtime.h).
    const PyInterpreterVTable* vtable = pyinterpreter_->operator->();
    if (vtable == &noop_vtable()) pyinterpreter_->unseen_releases_.fetch_add(1, std::memory_order_acq_rel);
    // decref never throws in a well-formed interpreter; a destructor must not throw.
    vtable->decref(p, /*has_pyobj_slot=*/false);
  }
}

}  // namespace revive::impl
