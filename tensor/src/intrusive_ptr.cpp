#include "revive/pyslot/exercise.h"
#include "revive/tensor/intrusive_ptr.h"

#include <cstdio>
#include <cstdlib>
#include <new>
#include <vector>

#include "revive/tensor/death_watch.h"
#include "revive/tensor/testing.h"

namespace revive {

intrusive_ptr_target::~intrusive_ptr_target() {
  // A destructor reached with strong references left means someone deleted the object
  // by hand, or a count was corrupted: either way, every intrusive_ptr to it dangles.
  REVIVE_INTERNAL_ASSERT(detail::refcount(combined_refcount_.load(std::memory_order_relaxed)) == 0,
                         "an intrusive_ptr_target was destroyed while strong references "
                         "to it still existed");
  DeathWatch::on_destroy(this);
}

namespace {
[[noreturn]] void no_pyobject(const char* hook) noexcept {
  std::fprintf(stderr, "revive: %s() called on a type that never sets the has-PyObject bit\n", hook);
  std::abort();
}
}  // namespace

void intrusive_ptr_target::incref_pyobject() const noexcept { no_pyobject("incref_pyobject"); }
void intrusive_ptr_target::decref_pyobject() const noexcept { no_pyobject("decref_pyobject"); }
bool intrusive_ptr_target::try_incref_pyobject() const noexcept { no_pyobject("try_incref_pyobject"); }

void intrusive_ptr_target::set_has_pyobject_fresh() {
  // Nobody else can reach the target, so nobody can race this store.
  REVIVE_CHECK(combined_refcount_.load(std::memory_order_relaxed) == detail::kUniqueRef,
               "set_has_pyobject_fresh(): the target is shared (use set_has_pyobject)");
  combined_refcount_.store(detail::kUniqueRef | detail::kHasPyObject, std::memory_order_relaxed);
}

bool intrusive_ptr_target::set_has_pyobject() noexcept {
  if (exercise::off(exercise::Rule::E4Share)) return false;  // test machinery (exercise.h)
  // See Note [The has-PyObject bit]: C++'s reference to the wrapper before the bit.
  std::uint64_t c = combined_refcount_.load(std::memory_order_relaxed);
  bool increfed = false;
  while (!detail::has_pyobject(c)) {
    if (detail::refcount(c) > 1 && !increfed) {
      incref_pyobject();
      increfed = true;
    }
    if (combined_refcount_.compare_exchange_weak(c, c | detail::kHasPyObject, std::memory_order_acq_rel,
                                                 std::memory_order_relaxed)) {
      // n fell to 1 between the incref and the CAS: the wrapper alone owns the target.
      if (increfed && detail::refcount(c) == 1) decref_pyobject();
      return true;
    }
  }
  if (increfed) decref_pyobject();  // someone else set it, with their own reference
  return false;
}

namespace {
std::atomic<testing::E4Lock> e4_lock_order{testing::E4Lock::Fixed};
}  // namespace

void testing::set_e4_lock(E4Lock order) noexcept { e4_lock_order.store(order, std::memory_order_relaxed); }
testing::E4Lock testing::e4_lock() noexcept { return e4_lock_order.load(std::memory_order_relaxed); }

bool intrusive_ptr_target::try_incref(bool can_have_pyobject) const noexcept {
  // See Note [Memory ordering of the two counts]: never 0 -> 1.
  std::uint64_t c = combined_refcount_.load(std::memory_order_relaxed);
  if (can_have_pyobject && (testing::e4_lock() == testing::E4Lock::FirstVersion ||
                            exercise::off(exercise::Rule::E4LockOrder))) {  // test machinery (testing.h, exercise.h)
    while (detail::refcount(c) != 0) {
      if (combined_refcount_.compare_exchange_weak(c, c + detail::kReferenceCountOne, std::memory_order_acq_rel,
                                                   std::memory_order_relaxed)) {
        if (detail::has_pyobject(c) && detail::refcount(c) == 1) incref_pyobject();  // the race: the wrapper may be dying
        return true;
      }
    }
    return false;
  }
  bool increfed = false;  // C++'s reference to the wrapper, taken for a 1 -> 2
  while (detail::refcount(c) != 0) {
    // See Note [The has-PyObject bit]: at n == 1 the wrapper is the only owner and may
    // be dying; take a reference to it first, or give up.
    if (can_have_pyobject && detail::has_pyobject(c) && detail::refcount(c) == 1 && !increfed) {
      if (!try_incref_pyobject()) return false;
      increfed = true;
    }
    if (combined_refcount_.compare_exchange_weak(c, c + detail::kReferenceCountOne, std::memory_order_acq_rel,
                                                 std::memory_order_relaxed)) {
      // Another owner came meanwhile (n was 2 or more): C++ already holds the wrapper.
      if (increfed && detail::refcount(c) != 1) decref_pyobject();
      return true;
    }
  }
  if (increfed) decref_pyobject();
  return false;
}

// Note [Releasing a long chain in bounded stack]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Letting go of the last reference to an object lets go of what it owns, and so on
// down: a tensor its grad, the grad its own grad, a zombie wrapper its __dict__, which
// holds the next tensor...  Done by nested calls, a chain of 10^5 objects is 10^5
// nested releases, and overflows the C stack.  CPython has the same problem with
// containers and solves it with its trashcan (Py_TRASHCAN_BEGIN): past a nesting depth
// a dealloc is not run but put on a per-thread list, which the outermost dealloc
// empties; PyTorch's autograd deletes Node graphs the same way (deleteNode moves the
// next edges into a vector instead of recursing).  The rule here is the trashcan's,
// for every intrusive_ptr_target:
//   - a release that takes a strong count to 0 runs at most kReleaseUnwindLevel deep
//     on this thread; deeper, the target (already at n == 0) is put on this thread's
//     list instead;
//   - the outermost release (depth back to 0) finishes the listed ones one by one,
//     each starting again from depth 1.
// So a chain of any length is released in bounded stack, in a loop.  Nothing can see
// a listed target: its count is 0, so lock() and reclaiming a borrowed pointer refuse
// it, exactly as they refuse a target being released; its weak count still holds the
// "n > 0" reference until it is finished, so a weak_intrusive_ptr cannot free it
// meanwhile.  What changes is only when, deep in a long chain, a target gives up what
// it owns: after its owner has finished instead of before (for a tensor: the grad's
// wrapper's __del__ after the tensor's, past depth kReleaseUnwindLevel), as CPython's
// trashcan reorders deep deallocs.  A release at depth 0, what a caller sees, is
// complete when it returns.  Python objects in the chain are bounded by CPython's own
// trashcan, which the wrappers' dealloc enters (cpython/src/python_variable.cpp): each
// step of a chain that alternates between C++ and Python deepens one of the two, and
// each is bounded.
namespace {
constexpr int kReleaseUnwindLevel = 20;
struct ReleasesInProgress {
  int depth = 0;
  std::vector<intrusive_ptr_target*> later;  // at n == 0, to be finished at depth 0
};
thread_local ReleasesInProgress releasing;
}  // namespace

void intrusive_ptr_target::decref_strong(bool can_have_pyobject) noexcept {
  // acq_rel: the last decrement must see every write other owners made before they
  // let go.  See Note [Memory ordering of the two counts].
  const std::uint64_t before =
      combined_refcount_.fetch_sub(detail::kReferenceCountOne, std::memory_order_acq_rel);
  if (detail::refcount(before) != 1) {
    // See Note [The has-PyObject bit]: 2 -> 1, the wrapper alone owns the target now.
    if (can_have_pyobject && detail::has_pyobject(before) && detail::refcount(before) == 2) decref_pyobject();
    return;
  }
  // See Note [Releasing a long chain in bounded stack].
  if (releasing.depth >= kReleaseUnwindLevel) {
    try {
      releasing.later.push_back(this);
      return;
    } catch (const std::bad_alloc&) {
      // No memory for the list: release it here, one level deeper, rather than lose it.
    }
  }
  ++releasing.depth;
  finish_release();
  --releasing.depth;
  while (releasing.depth == 0 && !releasing.later.empty()) {
    intrusive_ptr_target* next = releasing.later.back();
    releasing.later.pop_back();
    ++releasing.depth;
    next->finish_release();
    --releasing.depth;
  }
}

void intrusive_ptr_target::finish_release() noexcept {
  // See Note [Two counts and release_resources].
  bool should_delete = detail::weakcount(combined_refcount_.load(std::memory_order_acquire)) == 1;
  if (!should_delete) {
    release_resources();
    should_delete = detail::weakcount(combined_refcount_.fetch_sub(detail::kWeakReferenceCountOne,
                                                                   std::memory_order_acq_rel)) == 1;
  }
  if (should_delete) {
    delete this;
  }
}

}  // namespace revive
