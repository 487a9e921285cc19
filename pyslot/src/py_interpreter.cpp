#include "revive/pyslot/exercise.h"
#include "revive/pyslot/py_interpreter.h"

#include "revive/pyslot/error.h"

namespace revive::impl {
namespace {

// See Note [Disarming a dead interpreter].
struct NoopPyInterpreterVTable final : PyInterpreterVTable {
  std::string name() const override { return "<unloaded interpreter>"; }

  // The interpreter that owned `pyobj` is gone; its memory is leaked on purpose.
  void decref(PyObject* /*pyobj*/, bool /*has_pyobj_slot*/) const override {}
  // E4: nothing to take a reference to, nothing to revive.
  void incref(PyObject* /*pyobj*/) const override {}
  bool try_incref(const PyObjectSlot& /*slot*/) const override { return false; }

  std::string type_name(const PyObject* /*pyobj*/) const override { died("type_name"); }

  void python_op_registration_trampoline(const OperatorHandle& /*op*/,
                                         Stack* /*stack*/) const override {
    died("python_op_registration_trampoline");
  }

 private:
  [[noreturn]] static void died(const char* method) {
    throw Error(detail::str_cat("attempted to call ", method,
                                " on a Tensor with nontrivial PyObject after corresponding "
                                "interpreter died"));
  }
};

const NoopPyInterpreterVTable kNoopVTable;

}  // namespace

void PyInterpreterVTable::python_op_registration_trampoline(const OperatorHandle& /*op*/,
                                                            Stack* /*stack*/) const {
  throw Error(detail::str_cat("interpreter ", name(), " cannot run Python operators"));
}

void PyInterpreterVTable::incref(PyObject* /*pyobj*/) const {
  throw Error(detail::str_cat("interpreter ", name(), " does not run era E4 (incref from C++)"));
}

bool PyInterpreterVTable::try_incref(const PyObjectSlot& /*slot*/) const {
  throw Error(detail::str_cat("interpreter ", name(), " does not run era E4 (try_incref from C++)"));
}

const PyInterpreterVTable& noop_vtable() noexcept { return kNoopVTable; }

void PyInterpreter::disarm() noexcept {
  if (exercise::off(exercise::Rule::Disarm)) return;  // test machinery (exercise.h)
  vtable_.store(&kNoopVTable, std::memory_order_release);
}

bool PyInterpreter::is_disarmed() const noexcept {
  return vtable_.load(std::memory_order_acquire) == &kNoopVTable;
}

}  // namespace revive::impl
