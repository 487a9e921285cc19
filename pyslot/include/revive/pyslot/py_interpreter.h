// py_interpreter.h: how C++ code calls back into the Python interpreter that owns a
// wrapper, and what happens when that interpreter is gone.
//
// Defines:
//   PyInterpreterVTable  the operations C++ may ask of an interpreter (name, decref,
//                        type_name).  Each interpreter supplies one implementation.
//   PyInterpreter        the object a PyObjectSlot tags itself with: a pointer to a
//                        vtable, plus disarm().
//   noop_vtable()        the static vtable a disarmed interpreter points at.
//
// Example (compiled in test/pyslot/interpreter_test.cpp):
//   struct Named final : revive::impl::PyInterpreterVTable { ... };
//   static Named vt;
//   revive::impl::PyInterpreter i(&vt);
//   i->name();      // calls Named::name
//   i.disarm();
//   i->name();      // "<unloaded interpreter>"
//
// Owns: Note [Disarming a dead interpreter].
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "revive/pyslot/python_stub.h"

namespace revive::impl {

class PyObjectSlot;

// The calls C++ makes into an interpreter.  Every entry may be reached from a thread
// that does not hold that interpreter's GIL; implementations take it themselves.
struct PyInterpreterVTable {
  virtual ~PyInterpreterVTable() = default;

  // A human-readable name for messages ("<unloaded interpreter>" once disarmed).
  virtual std::string name() const = 0;

  // Drop one reference to `pyobj`, which this interpreter created.  `has_pyobj_slot` is
  // true when the reference being dropped is the one a PyObjectSlot held (the zombie
  // case, T6 of docs/reference.md): the interpreter must then cope with a wrapper
  // that a weak reference revived without flipping ownership back.
  virtual void decref(PyObject* pyobj, bool has_pyobj_slot) const = 0;

  // Era E4 (Note [The has-PyObject bit], tensor/intrusive_ptr.h): C++ takes one more
  // reference to `pyobj` (a strong count going 1 -> 2), from any thread, with or
  // without the GIL.  The default refuses (an E2-only interpreter never sets the bit).
  virtual void incref(PyObject* pyobj) const;

  // Era E4: a reference to the wrapper `slot` records, read under the GIL, unless it is
  // being freed (weak_intrusive_ptr::lock() at n == 1).  The default refuses.
  [[nodiscard]] virtual bool try_incref(const PyObjectSlot& slot) const;

  // The Python type name of `pyobj` (used in diagnostics and by the tour).
  virtual std::string type_name(const PyObject* pyobj) const = 0;

  // Run a Python-implemented operator in this interpreter, because an input tensor
  // tagged by it carries Python behaviour.  See Note [Python op registration trampoline].
  // The default refuses: an interpreter without Python operators (a test double) has
  // nothing to run.
  virtual void python_op_registration_trampoline(const OperatorHandle& op, Stack* stack) const;
};

// Note [Disarming a dead interpreter]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Era E2 (torchdeploy).  A slot's tag is a raw PyInterpreter* that never changes once
// set (Note [Python interpreter tag]), and tensors can outlive the interpreter that
// tagged them: torchdeploy unloads an interpreter's shared library while C++ tensors it
// wrapped are still alive.  If the tag pointed at the unloaded vtable, the next
// maybe_destroy_pyobj() would call into unmapped code.
//
// So an interpreter is never freed.  At teardown it is *disarmed*: its vtable pointer
// is swapped for a static no-op vtable that lives in the core, not in the interpreter.
// Afterwards:
//   - decref does nothing: zombie wrappers are leaked on purpose (their memory is gone
//     with the interpreter's heap in torchdeploy; here it stays reachable);
//   - name() is "<unloaded interpreter>", so errors can still say who tagged a tensor;
//   - every other entry throws "attempted to call <method> on a Tensor with nontrivial
//     PyObject after corresponding interpreter died" instead of running dead code;
//   - tags are not cleared, so a new interpreter can never adopt the tensor.
//
// Model difference: c10 keeps `vtable_` as a plain pointer, relying on nothing else
// running during unload.  We make it an atomic (release store in disarm, acquire load
// in operator->), so a test can disarm while another thread drops zombies and
// ThreadSanitizer can check it; on x86 the acquire load is an ordinary load.
struct PyInterpreter {
  explicit PyInterpreter(const PyInterpreterVTable* vtable) noexcept : vtable_(vtable) {}

  PyInterpreter(const PyInterpreter&) = delete;
  PyInterpreter& operator=(const PyInterpreter&) = delete;

  const PyInterpreterVTable* operator->() const noexcept {
    return vtable_.load(std::memory_order_acquire);
  }

  // See Note [Disarming a dead interpreter].  Irreversible.
  void disarm() noexcept;

  [[nodiscard]] bool is_disarmed() const noexcept;

  // Model addition, for Note [Reclaiming a dead interpreter] (interp/runtime.h).
  // PyTorch never frees an interpreter, so it never asks these; we free a dead one once
  // nothing can reach it, and these are how C++ can.
  //   tagged_count()      live slots carrying this tag: +1 when init_pyobj sets it, -1
  //                       when the slot is destroyed.  Costs nothing on check_pyobj.
  //   unseen_releases()   references a slot gave back (maybe_destroy_pyobj) after
  //                       disarm(): the no-op decref drops them on the floor, so the
  //                       dead interpreter cannot see them go; this counts them.
  //   safe_objects()      live SafePyObjects holding one of its objects (a tensor's
  //                       Python hooks, an operator's implementation): each will call
  //                       back through this PyInterpreter when it goes, so an
  //                       interpreter with any is never freed.
  [[nodiscard]] std::int64_t tagged_count() const noexcept {
    return tagged_.load(std::memory_order_acquire);
  }
  [[nodiscard]] std::int64_t unseen_releases() const noexcept {
    return unseen_releases_.load(std::memory_order_acquire);
  }
  [[nodiscard]] std::int64_t safe_objects() const noexcept {
    return safe_objects_.load(std::memory_order_acquire);
  }

 private:
  friend class PyObjectSlot;  // keeps the two counts
  friend class SafePyObject;  // keeps safe_objects_


  // Owned by nobody: points at the interpreter's own vtable until disarm(), then at
  // noop_vtable() (static storage).  Written once more at most (by disarm).
  std::atomic<const PyInterpreterVTable*> vtable_;
  std::atomic<std::int64_t> tagged_{0};
  std::atomic<std::int64_t> unseen_releases_{0};
  std::atomic<std::int64_t> safe_objects_{0};
};

// The vtable of every disarmed interpreter.  See Note [Disarming a dead interpreter].
const PyInterpreterVTable& noop_vtable() noexcept;

static_assert(std::atomic<const PyInterpreterVTable*>::is_always_lock_free,
              "disarm() must be a single lock-free pointer swap");

}  // namespace revive::impl
