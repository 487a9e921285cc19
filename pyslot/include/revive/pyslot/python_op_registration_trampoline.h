// python_op_registration_trampoline.h: which interpreter registers Python operators.
//
// Defines: PythonOpRegistrationTrampoline (c10::impl), a process-wide "main
// interpreter" slot claimed by the first interpreter to register.
//
// Example (compiled in test/pyslot/trampoline_test.cpp):
//   assert(PythonOpRegistrationTrampoline::registerInterpreter(&a));   // a is main
//   assert(!PythonOpRegistrationTrampoline::registerInterpreter(&b));  // b only verifies
//   assert(PythonOpRegistrationTrampoline::getInterpreter() == &a);
//
// Owns: Note [Python op registration trampoline].
#pragma once

#include <atomic>

#include "revive/pyslot/py_interpreter.h"

namespace revive::impl {

// Note [Python op registration trampoline]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Era E2 (torchdeploy).  Operators implemented in Python (torch.library) register with
// the one C++ dispatcher, which every interpreter shares.  Each interpreter runs the
// same registration code, but only one of them may own the registrations: each calls
// registerInterpreter once, when it loads torch (PyInterpreterHolder), and the first
// wins a CAS (null -> self) and becomes "main"; every later call gets false (a second
// call from main too: c10 answers from the CAS alone), turns on hermetic state for the process
// (HermeticPyObjectTLS::init_state, Note [Hermetic PyObject mode]) and only verifies that
// its registrations match.  When a Python-implemented operator runs, the call is routed
// to the interpreter tagged on an input tensor that carries Python behaviour, or else
// run by the current interpreter in hermetic mode, so the operator's Python code leaves
// no trace on the tensors of an interpreter that does not own them.
//   - The winner never changes (the slot is never cleared, like a tag).
//   - acq_rel CAS and acquire loads: a reader that sees the winner also sees what the
//     winner wrote before registering.
class PythonOpRegistrationTrampoline {
 public:
  // True if this call made `interp` main; false otherwise (main already chosen, even if
  // it is `interp` itself).
  [[nodiscard]] static bool registerInterpreter(PyInterpreter* interp);
  // The main interpreter, or nullptr before any registration.
  [[nodiscard]] static PyInterpreter* getInterpreter() noexcept {
    return interpreter_.load(std::memory_order_acquire);
  }
  // Test fixtures only: forget the winner.  Nothing in the library ever calls it.
  static void unsafe_reset_for_testing() noexcept {
    interpreter_.store(nullptr, std::memory_order_release);
  }

 private:
  static std::atomic<PyInterpreter*> interpreter_;
};

}  // namespace revive::impl
