// module.h: the `revive` module's entry point, for programs that embed CPython and
// build the module in (revive-python, revive-against-cpython):
//
//   PyImport_AppendInittab("revive", &PyInit_revive);   // before Py_Initialize
//   Py_InitializeEx(0);                                  // `import revive` now works
//
// Each interpreter that imports it gets its own Tensor and UntypedStorage types and its
// own PyInterpreter tag (multi-phase initialisation, src/module.cpp).
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

extern "C" PyObject* PyInit_revive();
