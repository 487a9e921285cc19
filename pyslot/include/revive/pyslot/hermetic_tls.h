// hermetic_tls.h: a per-thread switch that makes wrapping ignore the PyObjectSlot.
//
// Defines:
//   HermeticPyObjectTLS      the thread-local state, the global haveState_ flag and the
//                            optional fast path that skips the TLS read.
//   EnableHermeticPyObject   RAII guard: hermetic mode on for a scope, previous value
//                            restored at its end.
//
// Example (compiled in test/pyslot/hermetic_test.cpp):
//   {
//     revive::impl::EnableHermeticPyObject g;
//     assert(revive::impl::HermeticPyObjectTLS::get_state());
//   }
//   assert(!revive::impl::HermeticPyObjectTLS::get_state());
//
// Owns: Note [Hermetic PyObject mode], Note [The hermetic fast path].
#pragma once

#include <atomic>

#include "revive/pyslot/error.h"

namespace revive::impl {

// Note [Hermetic PyObject mode]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Era E2.  In torchdeploy only one interpreter (the first to register with
// PythonOpRegistrationTrampoline, "main") registers Python-implemented operators.
// When another interpreter runs such an operator, the operator's Python code must
// not leave any trace on the tensors it touches: it must not tag them (that would
// lock them to the wrong interpreter) and must not record a wrapper in their slots.
// Hermetic mode is that promise, per thread:
//   - wrap skips the slot entirely and makes a fresh wrapper H with an owning cdata;
//     H is never recorded, never resurrected, and dies like any Python object;
//   - check_pyobj(self) answers "no object" for a slot tagged by us (unless the
//     caller passes ignore_hermetic_tls, see the storage dealloc);
//   - a slot tagged by *another* interpreter still raises: hermetic mode only
//     short-circuits the "tagged by us" answer.
struct HermeticPyObjectTLS {
  // Sets this thread's state.  Also calls init_state() when turning it on: see
  // Note [The hermetic fast path] for why (a model difference from c10).
  static void set_state(bool state) noexcept;

  // This thread's state, through the path selected at build time
  // (REVIVE_HERMETIC_FAST_PATH; default off, as in PyTorch).
  static bool get_state() noexcept {
#if REVIVE_HERMETIC_FAST_PATH
    return get_state_fast();
#else
    return get_state_slow();
#endif
  }

  // Both paths are always compiled so tests and benchmarks can compare them.
  static bool get_state_slow() noexcept { return get_tls_state(); }
  static bool get_state_fast() noexcept {
    // See Note [The hermetic fast path].
    if (!haveState_.load(std::memory_order_relaxed)) {
      return false;
    }
    return get_tls_state();
  }

  // Announce that some thread may turn hermetic mode on.  Monotonic: false -> true.
  static void init_state() noexcept { haveState_.store(true, std::memory_order_relaxed); }

  [[nodiscard]] static bool have_state() noexcept {
    return haveState_.load(std::memory_order_relaxed);
  }

  // For test fixtures only: put the process back to "no hermetic user yet".  Nothing
  // in the library ever lowers the flag.
  static void unsafe_reset_have_state_for_testing() noexcept {
    haveState_.store(false, std::memory_order_relaxed);
  }

 private:
  static bool get_tls_state() noexcept;

  // Note [The hermetic fast path]
  // ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
  // get_state() runs on every wrap.  A thread_local read in a shared library goes
  // through __tls_get_addr, which costs more than the rest of check_pyobj.  Until some
  // thread has entered hermetic mode (in torchdeploy: until a second interpreter
  // registers with the trampoline), nobody can be in it, so a process-wide flag can
  // answer "false" first.
  //   - haveState_ only goes false -> true (init_state), so a relaxed load is enough:
  //     a stale `false` can only be seen by a thread that has not itself entered
  //     hermetic mode, and a thread always sees its own earlier store.
  //   - PyTorch wrote this path but disabled it (`if (false && ...)`) so hermetic mode
  //     stays testable in a process with one interpreter.  We keep it as a build
  //     switch and make set_state(true) call init_state(), which makes the fast path
  //     correct even for a thread that turns hermetic mode on by hand.
  static std::atomic<bool> haveState_;
};

static_assert(std::atomic<bool>::is_always_lock_free, "haveState_ must be lock-free");

// RAII: hermetic mode on for a scope (PyTorch: at::impl::EnableHermeticPyObject).
// The rule: guards nest, and are destroyed in the reverse order of their creation, on
// the thread that made them.  Each restores the state it found; destroyed out of order,
// an outer guard would restore "off" before an inner one restores "on", and the thread
// would stay hermetic for good.  Debug builds count the guards per thread and abort
// with a message on an out-of-order destruction.  Calling set_state(true) by hand has
// no guard to restore it: turn it off yourself (the test fixtures check that nothing
// is left on).
class EnableHermeticPyObject {
 public:
  EnableHermeticPyObject() noexcept : old_(HermeticPyObjectTLS::get_state_slow()) {
#ifndef NDEBUG
    depth_ = ++open_guards();
#endif
    HermeticPyObjectTLS::set_state(true);
  }
  ~EnableHermeticPyObject() {
#ifndef NDEBUG
    REVIVE_INTERNAL_ASSERT(open_guards() == depth_,
                           "EnableHermeticPyObject guards destroyed out of order (guard ",
                           depth_, " of ", open_guards(),
                           "): hermetic mode would be left on for this thread");
    --open_guards();
#endif
    HermeticPyObjectTLS::set_state(old_);
  }
  EnableHermeticPyObject(const EnableHermeticPyObject&) = delete;
  EnableHermeticPyObject& operator=(const EnableHermeticPyObject&) = delete;

 private:
#ifndef NDEBUG
  static int& open_guards() noexcept {
    thread_local int open = 0;
    return open;
  }
  int depth_ = 0;
#endif
  bool old_;
};

}  // namespace revive::impl
