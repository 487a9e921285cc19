// safe_py_object.h: an owning PyObject* that knows which interpreter to give it back to.
//
// Defines: SafePyObject.
//
// C++ objects sometimes need to own a Python object outright (an operator's Python
// implementation, a hook).  A bare PyObject* cannot be released safely: the C++
// destructor may run on a thread without the GIL, in a process with several
// interpreters, after the interpreter died.  SafePyObject stores the interpreter next
// to the pointer and releases through its vtable, which takes the right GIL and is a
// no-op once the interpreter is disarmed (Note [Disarming a dead interpreter]).
//
// Example (compiled in test/pyslot/safe_py_object_test.cpp):
//   SafePyObject h(obj, &interp);   // steals one reference to obj
//   PyObject* p = h.ptr(&interp);    // borrow it back (only from its own interpreter)
//   // ~SafePyObject: interp->decref(obj, /*has_pyobj_slot=*/false)
#pragma once

#include <type_traits>

#include "revive/pyslot/py_interpreter.h"
#include "revive/pyslot/python_stub.h"

namespace revive::impl {

class SafePyObject {
 public:
  // Steals one reference to `data`, which `interpreter` created.
  SafePyObject(PyObject* data, PyInterpreter* interpreter) noexcept
      : data_(data), pyinterpreter_(interpreter) {
    note_held(1);
  }

  SafePyObject(SafePyObject&& other) noexcept
      : data_(other.data_), pyinterpreter_(other.pyinterpreter_) {
    other.data_ = nullptr;
  }
  SafePyObject& operator=(SafePyObject&& other) noexcept;

  // Not copyable: a copy would need an incref, and the copying thread may not hold
  // (or be allowed to take) the interpreter's GIL.
  SafePyObject(const SafePyObject&) = delete;
  SafePyObject& operator=(const SafePyObject&) = delete;

  ~SafePyObject() { reset(); }

  // Borrow the object.  Throws if asked from another interpreter: the pointer would
  // mean nothing there.
  [[nodiscard]] PyObject* ptr(const PyInterpreter* interpreter) const;

  [[nodiscard]] PyInterpreter& pyinterpreter() const noexcept { return *pyinterpreter_; }

  // Hand the reference out; the caller now owns it.
  [[nodiscard]] PyObject* release() noexcept {
    PyObject* p = data_;
    if (p != nullptr) note_held(-1);
    data_ = nullptr;
    return p;
  }

 private:
  void reset() noexcept;
  // PyInterpreter::safe_objects(): one per SafePyObject holding an object.
  void note_held(int delta) noexcept;

  PyObject* data_;                 // one owned reference, or null after release/move
  PyInterpreter* pyinterpreter_;  // the interpreter that created data_; never null
};

static_assert(!std::is_copy_constructible_v<SafePyObject>,
              "SafePyObject owns a reference: copying would need the GIL");

}  // namespace revive::impl
