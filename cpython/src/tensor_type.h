// tensor_type.h: revive's Tensor on the real CPython, the twin of binding/'s Torch
// (binding/include/revive/binding/python_variable.h) for one tensor type.
//
// Defines:
//   TensorObject    the C struct of a `revive.Tensor` instance (THPVariable): cdata,
//                   __dict__, the weakref list, whether hermetic mode made it.
//   CPythonVTable   the PyInterpreter vtable C++ calls back through (decref, names).
//   TensorModule    one interpreter's state: its PyInterpreter (the slot's tag), the
//                   Tensor type, and the protocol: wrap, unpack, dealloc with
//                   resurrection, traverse and clear for every subclass.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <memory>
#include <string>

#include "revive/pyslot/py_interpreter.h"
#include "revive/tensor/maybe_owned.h"
#include "revive/tensor/tensor_impl.h"

namespace revive::cpython {

// CPython's object.  pyslot/ declares an opaque revive::PyObject, which unqualified
// names in namespace revive would find; CPython's macros (PyObject_HEAD, Py_TYPE,
// PyObject_TypeCheck) name PyObject unqualified, so here it means CPython's, and the
// slot's opaque type is spelled revive::PyObject.  See Note [Real CPython under the same slot].
using PyObject = ::PyObject;

struct TensorObject {
  PyObject_HEAD
  // Owned in L, borrowed in Z, undefined once stubbed: Note [PyObject preservation].
  MaybeOwned<Tensor> cdata;
  ::PyObject* dict;         // __dict__ (tp_dictoffset points here)
  ::PyObject* weakreflist;  // tp_weaklistoffset points here
  bool is_hermetic;         // made in hermetic mode: never recorded, never preserved
};

class CPythonVTable final : public impl::PyInterpreterVTable {
 public:
  CPythonVTable(PyTypeObject* tensor_type, std::string name) : tensor_type_(tensor_type), name_(std::move(name)) {}
  std::string name() const override;
  void decref(revive::PyObject* pyobj, bool has_pyobj_slot) const override;
  std::string type_name(const revive::PyObject* pyobj) const override;

 private:
  PyTypeObject* tensor_type_;
  std::string name_;
};

class TensorModule {
 public:
  TensorModule(PyTypeObject* tensor_type, std::string name);

  // The module of the interpreter that made `type` (Tensor or a subclass of it).
  static TensorModule& of(PyTypeObject* type);

  // THPVariable_Wrap: a new reference, or null with a Python exception set.
  ::PyObject* wrap(const Tensor& t);
  ::PyObject* new_wrapper(PyTypeObject* type, const Tensor& t, impl::PyInterpreterStatus status);
  Tensor unpack(::PyObject* o) const;

  [[nodiscard]] impl::PyInterpreter* pyinterpreter() const noexcept { return pyinterpreter_.get(); }
  [[nodiscard]] PyTypeObject* tensor_type() const noexcept { return tensor_type_; }
  // Python is ending: See Note [Disarming a dead interpreter].  The PyInterpreter and
  // its vtable are left behind on purpose (tags may outlive the interpreter).
  void disarm() noexcept;

  // The type slots of Tensor and of every subclass.
  static void dealloc(::PyObject* o) noexcept;
  static int traverse(::PyObject* o, visitproc visit, void* arg);
  static int clear(::PyObject* o);
  static void install_slots(PyTypeObject* type) noexcept;

 private:
  bool is_preservable(TensorObject* self) const;
  void resurrect(TensorObject* self) noexcept;
  void clear_cdata(TensorObject* self) noexcept;

  std::unique_ptr<CPythonVTable> vtable_;
  std::unique_ptr<impl::PyInterpreter> pyinterpreter_;
  PyTypeObject* tensor_type_;
};

}  // namespace revive::cpython
