// module.h: the entry point of `revive._C`, the `revive` package's extension module, for
// programs that embed CPython and build the module in (revive-python,
// revive-against-cpython):
//
//   PyImport_AppendInittab("revive._C", &PyInit__C);   // before Py_Initialize
//   Py_InitializeEx(0);      // `import revive` works with the package's folder on sys.path
//
// (The package finds a built-in _C itself: cpython/python/revive/__init__.py.)  Each
// interpreter that imports it gets its own types and its own PyInterpreter tag
// (multi-phase initialisation, src/module.cpp).
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

extern "C" PyObject* PyInit__C();
