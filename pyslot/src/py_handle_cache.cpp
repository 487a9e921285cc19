#include "revive/pyslot/py_handle_cache.h"

namespace revive::impl {

PyInterpreter* PyHandleCache::claiming() noexcept {
  // A unique address no real interpreter can have; never dereferenced.
  static PyInterpreter marker(&noop_vtable());
  return &marker;
}

}  // namespace revive::impl
