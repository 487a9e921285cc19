// revive-python: CPython's own command line with the `revive` module built in.  The
// sanitizer presets build this instead of the extension module (a module compiled with
// AddressSanitizer cannot be loaded into an uninstrumented python3), so the Python
// tests run under the sanitizers as `revive-python -m unittest ...`.
#include "revive/cpython/module.h"

int main(int argc, char** argv) {
  if (PyImport_AppendInittab("revive", &PyInit_revive) != 0) return 1;
  return Py_BytesMain(argc, argv);
}
