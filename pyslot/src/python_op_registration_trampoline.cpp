#include "revive/pyslot/python_op_registration_trampoline.h"

#include "revive/pyslot/hermetic_tls.h"

namespace revive::impl {

std::atomic<PyInterpreter*> PythonOpRegistrationTrampoline::interpreter_{nullptr};

bool PythonOpRegistrationTrampoline::registerInterpreter(PyInterpreter* interp) {
  PyInterpreter* expected = nullptr;
  if (interpreter_.compare_exchange_strong(expected, interp, std::memory_order_acq_rel)) {
    return true;
  }
  // Anyone else, the winner asking again included (as c10's CAS answers): not main.
  // See Note [Python op registration trampoline]: from now on, some thread may run
  // operators in hermetic mode.
  HermeticPyObjectTLS::init_state();
  return false;
}

}  // namespace revive::impl
