// python_stub.h: the C++ core's only knowledge of a Python object is its name.
//
// Defines: revive::PyObject, declared and never defined here.
//
// c10 does the same (c10/util/python_stub.h declares `struct _object`): the core stores
// and compares PyObject pointers but never looks inside one.  The interpreter that
// created an object is the only code that may dereference it, and it is reached through
// the interpreter's vtable (py_interpreter.h).  In this project the definition lives in
// interp/ (revive/interp/object.h), which plays CPython.
#pragma once

namespace revive {

struct PyObject;

// The C++ dispatcher's operator handle and argument stack (defined in tensor/, see
// revive/tensor/dispatcher.h), named here only so the interpreter vtable can forward
// a call to the interpreter that must run it (Note [Python op registration trampoline]).
class OperatorHandle;
struct Stack;

}  // namespace revive
