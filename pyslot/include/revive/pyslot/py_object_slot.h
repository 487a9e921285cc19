// py_object_slot.h: the two words a C++ object spends to remember its Python wrapper.
//
// Defines:
//   PyInterpreterStatus  what a wrapping caller knows about the slot's tag.
//   PyObjectSlot         the interpreter tag (atomic) and the wrapper pointer whose
//                        bit 0 says "C++ owns the wrapper".  Embedded in TensorImpl and
//                        StorageImpl (tensor/); knows nothing about them.
//
// Example (compiled in test/pyslot/slot_test.cpp):
//   PyObjectSlot slot;                                   // U: untagged
//   slot.init_pyobj(&interp, wrapper, PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
//   assert(*slot.check_pyobj(&interp) == wrapper);        // L: live, owns bit clear
//
// Owns: Note [Python interpreter tag], Note [Memory ordering on Python interpreter tag],
//       Note [PyObject preservation].
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <type_traits>

#include "revive/pyslot/error.h"
#include "revive/pyslot/hermetic_tls.h"
#include "revive/pyslot/py_interpreter.h"
#include "revive/pyslot/python_stub.h"

namespace revive::impl {

// What the caller of init_pyobj knows about the tag.  Chosen by wrap (E2's
// THPVariable_Wrap) from check_pyobj's answer and the strong count.
enum class PyInterpreterStatus {
  // The object was just allocated and has not escaped this thread (strong count 1):
  // nobody can race us, so a relaxed store of the tag is enough.
  DEFINITELY_UNINITIALIZED,
  // The object may be visible to other threads (strong count > 1) and was untagged
  // when we looked: another interpreter may tag it first, so tag with a CAS.
  MAYBE_UNINITIALIZED,
  // The slot is already tagged with our interpreter (and we hold its GIL): we are the
  // only writer, no tagging needed.
  TAGGED_BY_US,
  // The slot is tagged with another interpreter: this interpreter may not use it.
  TAGGED_BY_OTHER,
};

// Note [Python interpreter tag]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Era E2 (torchdeploy: several CPython interpreters in one process, sharing tensors).
// A wrapper belongs to exactly one interpreter, so the slot records *which* one its
// pyobj_ belongs to, and a tensor may only ever be wrapped by that interpreter.
//   - The tag goes null -> I at most once and never changes afterwards, not even when
//     I dies (Note [Disarming a dead interpreter]).
//   - Whoever tags the slot first wins.  Any other interpreter that asks about the slot
//     gets an error ("cannot access PyObject for Tensor on interpreter ...").
//   - pyobj_ and the owns bit are written only by a holder of the tagged
//     interpreter's GIL (or by the last owner of the C++ object, when nobody else can
//     see it).
//   - Storages bend the rule: see Note [Storage wrap across interpreters]
//     (binding/include/revive/binding/python_variable.h).
//
// Note [Memory ordering on Python interpreter tag]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// The tag has one transition in its whole life (null -> I), so no total order over
// several locations is needed: seq_cst buys nothing.
//   - Readers use acquire loads: a thread that sees tag == I also sees what the tagging
//     thread wrote before (the wrapper pointer stored right after, under I's GIL).
//   - A racing tagger uses one compare_exchange_strong(null -> self, acq_rel).
//   - A caller that knows the object has not escaped (DEFINITELY_UNINITIALIZED) may use
//     a relaxed store: publication to other threads happens later through the
//     refcount increment that shares the object, which is itself ordered.
//   - pyobj_ is not atomic: the GIL of the tagged interpreter protects it.
//
// Note [PyObject preservation]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Era E2 (PyTorch 2021-2025; removed in late 2025 for the refcount-bit design, E4).
// A tensor and its wrapper P must stay one-to-one for as long as the tensor lives, so
// that P's __dict__, Python subclass and identity survive trips through C++.  Normally
// P owns the tensor (P.cdata is an owning reference) and the slot only points at P;
// an owning pointer back would be an uncollectable cycle.  When Python drops P while
// C++ still holds the tensor, P's dealloc *resurrects* it and flips ownership: the
// slot now owns P (bit 0 of pyobj_ set) and P.cdata becomes borrowed.  Re-wrapping
// flips back.  The invariants, for a recorded wrapper P:
//   owns == 0  <=>  P.cdata is owned (counts 1 in the tensor's strong count)
//   owns == 1  <=>  P.cdata is borrowed, and C++ holds exactly one reference to P
// The transitions live where they happen: Note [Ownership flip on resurrection] and
// Note [Flipping ownership back on wrap] (binding/); the C++ side's half is
// maybe_destroy_pyobj() below.
class PyObjectSlot {
 public:
  PyObjectSlot() noexcept = default;
  // Releases an owned wrapper; see maybe_destroy_pyobj().
  ~PyObjectSlot();

  PyObjectSlot(const PyObjectSlot&) = delete;
  PyObjectSlot& operator=(const PyObjectSlot&) = delete;

  // Record `pyobj` as the wrapper of the enclosing object, tagging the slot with
  // `self_interpreter` as `status` allows.  The owns bit starts clear (P owns C++).
  //
  // HAZARD: this throws when another interpreter won the tag.  The caller has already
  // built a wrapper whose cdata owns the tensor; it must release that half-built
  // wrapper itself, and must not let its dealloc consult this slot (it was never
  // recorded here).
  void init_pyobj(PyInterpreter* self_interpreter, PyObject* pyobj,
                  PyInterpreterStatus status);

  // What `self_interpreter` may know about the wrapper:
  //   untagged                        -> nullopt (never "definitely uninitialized":
  //                                      another thread may tag it right after we look)
  //   tagged by self, hermetic mode   -> nullopt (unless ignore_hermetic_tls)
  //   tagged by self                  -> the wrapper, owns bit masked (may be null: V)
  //   tagged by another interpreter   -> throws
  // Inline, as c10 has it: it runs on every wrap.
  [[nodiscard]] std::optional<PyObject*> check_pyobj(PyInterpreter* self_interpreter,
                                                     bool ignore_hermetic_tls = false) const {
    REVIVE_INTERNAL_ASSERT(self_interpreter != nullptr, "check_pyobj needs an interpreter");
    PyInterpreter* interpreter = pyobj_interpreter_.load(std::memory_order_acquire);
    if (interpreter == nullptr) {
      // Not "definitely uninitialized": another thread may tag it right after this load.
      return std::nullopt;
    }
    if (interpreter == self_interpreter) {
      // See Note [Hermetic PyObject mode].
      if (!ignore_hermetic_tls && HermeticPyObjectTLS::get_state()) return std::nullopt;
      return _unchecked_untagged_pyobj();  // may be null: tagged, no wrapper (V)
    }
    // Tagged by another interpreter.  See Note [Python interpreter tag].
    throw_tagged_by_other(self_interpreter, interpreter);
  }

  // T6 of docs/reference.md: if the slot owns its wrapper, give that reference back
  // to the interpreter (which may free the wrapper) and forget the wrapper.
  // Idempotent: called from ~PyObjectSlot(), and earlier by a target whose
  // release_resources() lets its wrapper go (TensorImpl's does, StorageImpl's does not).
  void maybe_destroy_pyobj();

  // Era E4's hooks, for a target whose has-PyObject bit is set (Note [The has-PyObject
  // bit], tensor/intrusive_ptr.h): C++ takes a reference to the recorded wrapper,
  // gives it back, or tries to take one from a wrapper that may be dying, through the
  // tag's vtable.  After disarm() they reach nothing, and count what the dead
  // interpreter cannot see (unseen_releases), as maybe_destroy_pyobj does.
  void incref_pyobj() const;
  void decref_pyobj() const;
  [[nodiscard]] bool try_incref_pyobj() const;

  // Model addition (Note [Reclaiming a dead interpreter], interp/runtime.h): the
  // enclosing object's strong count reached zero (its release_resources).  Unless the
  // slot still owns a wrapper (a storage's zombie waits for the destructor), the slot
  // will never call into its interpreter again, so its tag stops counting now rather
  // than at the last weak reference.
  void target_died() noexcept;

  // The tag, or nullptr.  Racy by nature: it may become non-null right after.
  [[nodiscard]] PyInterpreter* pyobj_interpreter() const noexcept {
    return pyobj_interpreter_.load(std::memory_order_acquire);
  }

  // The tag; throws "cannot access PyObject for Tensor - no interpreter set" if none.
  [[nodiscard]] PyInterpreter& load_pyobj_interpreter() const;

  // True if the slot is tagged with `interpreter` (no throw, unlike check_pyobj).
  [[nodiscard]] bool check_interpreter(const PyInterpreter* interpreter) const noexcept {
    return pyobj_interpreter() == interpreter;
  }

  // True if some interpreter recorded a (non-hermetic) wrapper here.  Only meaningful
  // to a caller that then checks the tag; used by the cross-interpreter storage wrap.
  [[nodiscard]] bool has_pyobj_nonhermetic() const {
    return pyobj_interpreter() != nullptr;
  }

  // pyobj_ with the owns bit masked.  _unchecked_: the caller holds the tagged
  // interpreter's GIL or is the last owner of the enclosing object.
  [[nodiscard]] PyObject* _unchecked_untagged_pyobj() const noexcept {
    return reinterpret_cast<PyObject*>(reinterpret_cast<std::uintptr_t>(pyobj_) &
                                       ~(kOwnsBit | kRetiredBit));
  }

  // Forget the wrapper without touching its refcount (the wrapper is dying and owns
  // C++, so the slot holds no reference to give back).  unchecked_: the caller holds
  // the GIL of `interpreter`, which must be the tag.
  void unchecked_clear_pyobj(PyInterpreter* interpreter);

  // The owns bit: true when C++ holds the (single) reference to the wrapper.
  // See Note [PyObject preservation].
  [[nodiscard]] bool owns_pyobj() const noexcept {
    return (reinterpret_cast<std::uintptr_t>(pyobj_) & kOwnsBit) != 0;
  }
  void set_owns_pyobj(bool b) noexcept {
    pyobj_ = reinterpret_cast<PyObject*>(
        reinterpret_cast<std::uintptr_t>(_unchecked_untagged_pyobj()) | (b ? kOwnsBit : 0));
  }

 private:
  // Test machinery (exercise.h): MAYBE_UNINITIALIZED without its compare-and-swap.
  void tag_without_cas(PyInterpreter* self_interpreter, PyObject* pyobj);
  // check_pyobj's error, out of line (the cold path).
  [[noreturn]] static void throw_tagged_by_other(PyInterpreter* self_interpreter,
                                                 PyInterpreter* other);
  // Stop counting this slot in its interpreter's tagged_count(), once.
  void retire_tag() noexcept;

  static constexpr std::uintptr_t kOwnsBit = 1;
  // Model addition: set once the tag no longer counts (retire_tag).  Only ever set
  // when no wrapper is recorded, at the enclosing object's death.
  static constexpr std::uintptr_t kRetiredBit = 2;

  // The interpreter whose wrapper this slot records.  null until the first wrap;
  // then written exactly once, by whoever wins (Note [Python interpreter tag]); read
  // with acquire by anyone (Note [Memory ordering on Python interpreter tag]).
  // Never cleared, not even when the interpreter dies.
  std::atomic<PyInterpreter*> pyobj_interpreter_{nullptr};

  // The recorded wrapper, or null; bit 0 is the owns bit, bit 1 the retired bit
  // (wrappers are at least 4-aligned, which interp/ pins with a static_assert).
  //   owns bit clear: a non-owning pointer; the wrapper owns the enclosing object.
  //   owns bit set:   an owning reference; the slot must give it back, through the
  //                   tagged interpreter's decref, before the enclosing object dies
  //                   (maybe_destroy_pyobj).
  // Written only under the tagged interpreter's GIL (wrap, dealloc) or by the last
  // C++ owner (maybe_destroy_pyobj), which nobody else can reach.
  PyObject* pyobj_ = nullptr;
};

static_assert(std::atomic<PyInterpreter*>::is_always_lock_free,
              "the interpreter tag must be a lock-free atomic pointer");
static_assert(sizeof(PyObjectSlot) == 2 * sizeof(void*),
              "a slot costs exactly two words per object: the tag and the wrapper");
static_assert(!std::is_copy_constructible_v<PyObjectSlot> &&
                  !std::is_move_constructible_v<PyObjectSlot>,
              "a slot is identity: it must not be copied or moved with its owner");

}  // namespace revive::impl
