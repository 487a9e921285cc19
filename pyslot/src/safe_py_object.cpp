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

void SafePyObject::reset() noexcept {
  if (data_ != nullptr) {
    PyObject* p = data_;
    data_ = nullptr;
    // decref never throws in a well-formed interpreter; a destructor must not throw.
    (*pyinterpreter_)->decref(p, /*has_pyobj_slot=*/false);
  }
}

}  // namespace revive::impl
