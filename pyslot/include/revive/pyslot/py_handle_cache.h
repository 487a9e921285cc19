// py_handle_cache.h: one cached PyObject* for a C++ object with a Python twin.
//
// Defines: PyHandleCache (c10::impl).
//
// Example (compiled in test/pyslot/handle_cache_test.cpp):
//   PyHandleCache cache;
//   PyObject* p = cache.ptr_or(&i0, [&] { return lookup_twin(); });  // slow, then cached
//   PyObject* q = cache.ptr_or(&i0, [&] { return lookup_twin(); });  // fast: no call
//   cache.ptr_or(&i1, slow);                                          // i1: slow every time
//
// Owns: Note [PyHandleCache is a cache and a handle].
#pragma once

#include <atomic>

#include "revive/pyslot/py_interpreter.h"
#include "revive/pyslot/python_stub.h"

namespace revive::impl {

// Note [PyHandleCache is a cache and a handle]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Era E2.  Some C++ objects (an operator) have a Python twin of static lifetime (the
// OpOverload object) that Python code asks for on every call.  Looking it up is slow;
// caching it per interpreter would need a map.  PyHandleCache caches it for the *first*
// interpreter that asks, and only for that one:
//   - a true cache: the slow path can always rebuild the answer, so an interpreter that
//     lost the race simply takes the slow path every time;
//   - a true handle: it owns nothing (no incref, no decref), because the twin lives as
//     long as its interpreter, and a dead interpreter's twin is never asked for again;
//   - the interpreter field goes null -> I once, by CAS (acq_rel); the winner then
//     stores the pointer.  Readers acquire-load the interpreter field and then read
//     the pointer.  Model difference: c10 publishes data_ with a plain store after the
//     CAS, which leaves a window where a second thread of the same interpreter sees
//     the interpreter but not yet the pointer (harmless under the GIL, which that
//     interpreter's callers hold).  We publish the pointer *before* the interpreter:
//     claim with a CAS null -> a private "claiming" marker, store data_, then release-
//     store the interpreter, so the cache is also correct without a GIL.
class PyHandleCache {
 public:
  PyHandleCache() noexcept = default;
  PyHandleCache(const PyHandleCache&) = delete;
  PyHandleCache& operator=(const PyHandleCache&) = delete;

  // The cached pointer if `self` owns the cache; otherwise slow() (and, if nobody owns
  // the cache yet, try to make `self` the owner and remember the answer).
  template <class F>
  [[nodiscard]] PyObject* ptr_or(PyInterpreter* self, F slow) const {
    PyInterpreter* owner = pyinterpreter_.load(std::memory_order_acquire);
    if (owner == self) [[likely]] {
      return data_.load(std::memory_order_relaxed);
    }
    PyObject* result = slow();
    if (owner == nullptr) {
      PyInterpreter* expected = nullptr;
      if (pyinterpreter_.compare_exchange_strong(expected, claiming(),
                                                 std::memory_order_acq_rel)) {
        data_.store(result, std::memory_order_relaxed);
        pyinterpreter_.store(self, std::memory_order_release);
      }
    }
    return result;
  }

  // The owning interpreter, or nullptr (claiming counts as nobody yet).
  [[nodiscard]] PyInterpreter* owner() const noexcept {
    PyInterpreter* p = pyinterpreter_.load(std::memory_order_acquire);
    return p == claiming() ? nullptr : p;
  }

 private:
  static PyInterpreter* claiming() noexcept;

  mutable std::atomic<PyInterpreter*> pyinterpreter_{nullptr};  // null -> claiming -> I
  mutable std::atomic<PyObject*> data_{nullptr};  // valid once pyinterpreter_ is I
};

}  // namespace revive::impl
