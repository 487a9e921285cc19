// revive-python: CPython's own command line with `revive._C` built in (the package's
// Python files come from its folder on PYTHONPATH).  The
// sanitizer presets build this instead of the extension module (a module compiled with
// AddressSanitizer cannot be loaded into an uninstrumented python3), so the Python
// tests run under the sanitizers as `revive-python -m unittest ...`.
#include "revive/cpython/module.h"

int main(int argc, char** argv) {
  if (PyImport_AppendInittab("revive._C", &PyInit__C) != 0) return 1;
  return Py_BytesMain(argc, argv);
}
