#include "revive/pyslot/exercise.h"
#include "revive/pyslot/py_object_slot.h"

namespace revive::impl {
namespace {

[[noreturn]] void throw_tagged_by_other_on_alloc(PyInterpreter* self, PyInterpreter* other) {
  // Verbatim from PyTorch; `<I>`/`<J>` are the interpreter pointers there too.
  throw Error(detail::str_cat("cannot allocate PyObject for Tensor on interpreter ",
                              static_cast<const void*>(self),
                              " that has already been used by another torch deploy "
                              "interpreter ",
                              static_cast<const void*>(other)));
}

}  // namespace

PyObjectSlot::~PyObjectSlot() {
  maybe_destroy_pyobj();
  retire_tag();
}

void PyObjectSlot::target_died() noexcept {
  if (!owns_pyobj()) retire_tag();
}

// After this the interpreter may be reclaimed (Note [Reclaiming a dead interpreter]), so
// it is the last time the slot touches it.
void PyObjectSlot::retire_tag() noexcept {
  PyInterpreter* interpreter = pyobj_interpreter_.load(std::memory_order_acquire);
  if (interpreter == nullptr || (reinterpret_cast<std::uintptr_t>(pyobj_) & kRetiredBit) != 0) return;
  REVIVE_INTERNAL_ASSERT(!owns_pyobj(), "a slot that owns its wrapper cannot stop counting its tag");
  pyobj_ = reinterpret_cast<PyObject*>(kRetiredBit);
  interpreter->tagged_.fetch_sub(1, std::memory_order_acq_rel);
}

void PyObjectSlot::init_pyobj(PyInterpreter* self_interpreter, PyObject* pyobj,
                              PyInterpreterStatus status) {
  REVIVE_INTERNAL_ASSERT(self_interpreter != nullptr, "init_pyobj needs an interpreter");
  REVIVE_INTERNAL_ASSERT(
      (reinterpret_cast<std::uintptr_t>(pyobj) & (kOwnsBit | kRetiredBit)) == 0,
      "wrappers must be 4-aligned: bits 0 and 1 of pyobj_ are the owns and retired bits");
  switch (status) {
    case PyInterpreterStatus::DEFINITELY_UNINITIALIZED: {
      PyInterpreter* previous = pyobj_interpreter_.load(std::memory_order_relaxed);
      REVIVE_INTERNAL_ASSERT(previous == nullptr || previous == self_interpreter,
                             "DEFINITELY_UNINITIALIZED for a slot another interpreter already tagged");
      // See Note [Memory ordering on Python interpreter tag]: nobody else can see the
      // object, so a relaxed store suffices.
      pyobj_interpreter_.store(self_interpreter, std::memory_order_relaxed);
      if (previous == nullptr) self_interpreter->tagged_.fetch_add(1, std::memory_order_relaxed);
      break;
    }
    case PyInterpreterStatus::MAYBE_UNINITIALIZED: {
      if (exercise::off(exercise::Rule::TagCas)) return tag_without_cas(self_interpreter, pyobj);  // test machinery
      PyInterpreter* expected = nullptr;
      if (pyobj_interpreter_.compare_exchange_strong(expected, self_interpreter,
                                                     std::memory_order_acq_rel)) {
        self_interpreter->tagged_.fetch_add(1, std::memory_order_relaxed);
      } else {
        // A conservative caller may pass MAYBE for a slot already tagged by itself.
        // Anyone else lost the race.  See Note [Python interpreter tag].
        if (expected != self_interpreter) {
          throw_tagged_by_other_on_alloc(self_interpreter, expected);
        }
      }
      break;
    }
    case PyInterpreterStatus::TAGGED_BY_US:
      REVIVE_INTERNAL_ASSERT(
          pyobj_interpreter_.load(std::memory_order_relaxed) == self_interpreter,
          "TAGGED_BY_US for a slot that is not tagged by this interpreter");
      break;
    case PyInterpreterStatus::TAGGED_BY_OTHER:
      throw_tagged_by_other_on_alloc(self_interpreter,
                                     pyobj_interpreter_.load(std::memory_order_acquire));
  }
  // Owns bit clear: the wrapper owns us.  See Note [PyObject preservation].
  pyobj_ = pyobj;
}

void PyObjectSlot::throw_tagged_by_other(PyInterpreter* self_interpreter, PyInterpreter* other) {
  throw Error(detail::str_cat("cannot access PyObject for Tensor on interpreter ",
                              (*self_interpreter)->name(),
                              " that has already been used by another torch deploy "
                              "interpreter ",
                              (*other)->name()));
}

void PyObjectSlot::maybe_destroy_pyobj() {
  if (!owns_pyobj()) {
    return;
  }
  PyInterpreter* interpreter = pyobj_interpreter_.load(std::memory_order_acquire);
  REVIVE_INTERNAL_ASSERT(interpreter != nullptr, "the slot owns a wrapper but has no tag");
  PyObject* pyobj = _unchecked_untagged_pyobj();
  REVIVE_INTERNAL_ASSERT(pyobj != nullptr, "the owns bit is set on a null wrapper");
  // HAZARD: the tempting order is "decref, then clear".  decref can run the wrapper's
  // finalizer, which can reach this object again (through a borrowed cdata) and call
  // maybe_destroy_pyobj() a second time: it would see the bit still set and decref
  // twice.  So forget the wrapper first, then give the reference back.  Nothing else
  // can race: the enclosing object's strong count is zero.  (The rule of Note [Move out,
  // then drop], for a raw pointer: See Note [Move out, then drop].)
  pyobj_ = nullptr;
  // One load of the vtable: whether this release is one the dead interpreter cannot
  // see is decided by the same pointer that performs it.
  const PyInterpreterVTable* vtable = interpreter->operator->();
  if (vtable == &noop_vtable()) {
    interpreter->unseen_releases_.fetch_add(1, std::memory_order_acq_rel);
  }
  vtable->decref(pyobj, /*has_pyobj_slot=*/true);
}

void PyObjectSlot::incref_pyobj() const {
  PyInterpreter& interpreter = load_pyobj_interpreter();
  PyObject* pyobj = _unchecked_untagged_pyobj();
  const PyInterpreterVTable* vtable = interpreter.operator->();
  if (vtable == &noop_vtable()) {
    // The dead interpreter never sees this reference taken: count it (the release, and
    // the take it cancels) for Note [Reclaiming a dead interpreter].
    interpreter.unseen_releases_.fetch_sub(1, std::memory_order_acq_rel);
  }
  if (pyobj == nullptr) {
    // Only the reclaiming of a dead interpreter (a model addition) frees a wrapper while
    // C++ still shares its target, as it frees the whole group: nothing to reach.
    REVIVE_INTERNAL_ASSERT(interpreter.is_disarmed(), "the has-PyObject bit is set but the slot records no wrapper");
    return;
  }
  vtable->incref(pyobj);
}

void PyObjectSlot::decref_pyobj() const {
  PyInterpreter& interpreter = load_pyobj_interpreter();
  PyObject* pyobj = _unchecked_untagged_pyobj();
  const PyInterpreterVTable* vtable = interpreter.operator->();
  if (vtable == &noop_vtable()) {
    // The dead interpreter never sees this reference given back: count it (the release, and
    // the take it cancels) for Note [Reclaiming a dead interpreter].
    interpreter.unseen_releases_.fetch_add(1, std::memory_order_acq_rel);
  }
  if (pyobj == nullptr) {
    // Only the reclaiming of a dead interpreter (a model addition) frees a wrapper while
    // C++ still shares its target, as it frees the whole group: nothing to reach.
    REVIVE_INTERNAL_ASSERT(interpreter.is_disarmed(), "the has-PyObject bit is set but the slot records no wrapper");
    return;
  }
  vtable->decref(pyobj, /*has_pyobj_slot=*/false);
}

bool PyObjectSlot::try_incref_pyobj() const {
  PyInterpreter& interpreter = load_pyobj_interpreter();
  return interpreter->try_incref(*this);
}

PyInterpreter& PyObjectSlot::load_pyobj_interpreter() const {
  PyInterpreter* interpreter = pyobj_interpreter_.load(std::memory_order_acquire);
  // PyTorch once formatted this message by dereferencing the (null) tag; we don't.
  REVIVE_CHECK(interpreter != nullptr, "cannot access PyObject for Tensor - no interpreter set");
  return *interpreter;
}

void PyObjectSlot::unchecked_clear_pyobj(PyInterpreter* interpreter) {
  REVIVE_INTERNAL_ASSERT(interpreter == pyobj_interpreter_.load(std::memory_order_acquire),
                         "unchecked_clear_pyobj from an interpreter that is not the tag");
  pyobj_ = nullptr;
}

// Test machinery (exercise.h, the exercise tag-without-cas): what MAYBE_UNINITIALIZED
// would be with a plain store instead of the compare-and-swap.  Every racer wins.
void PyObjectSlot::tag_without_cas(PyInterpreter* self_interpreter, PyObject* pyobj) {
  if (pyobj_interpreter_.exchange(self_interpreter, std::memory_order_relaxed) == nullptr) {
    self_interpreter->tagged_.fetch_add(1, std::memory_order_relaxed);
  }
  pyobj_ = pyobj;
}

}  // namespace revive::impl
