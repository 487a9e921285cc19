// death_watch.h: learn when an object is destroyed without holding a reference to it.
//
// Defines: DeathWatch, registered on one intrusive_ptr_target; alive() turns false when
// the target's destructor runs.
//
// Why: an observer that held a C++ weak reference to follow an object would change
// what it observes.  A weak reference makes the strong count's last release run
// release_resources() instead of the destructor, and a StorageImpl then keeps its
// zombie wrapper until the weak reference goes (Note [Two counts and
// release_resources]).  The tour's narrator watches this way instead.
//
// Example (test/tensor/tensor_test.cpp, death_watch_sees_the_destructor):
//   Tensor t = Tensor::empty(1);
//   DeathWatch watch(t.unsafeGetTensorImpl());
//   t.reset();
//   assert(!watch.alive());
//
// Cost when nothing is watched: one relaxed atomic load per destructor.
#pragma once

#include <atomic>

namespace revive {

class intrusive_ptr_target;

class DeathWatch {
 public:
  explicit DeathWatch(const intrusive_ptr_target* target);
  ~DeathWatch();
  DeathWatch(const DeathWatch&) = delete;
  DeathWatch& operator=(const DeathWatch&) = delete;

  [[nodiscard]] bool alive() const noexcept { return alive_.load(std::memory_order_acquire); }

  // Called by ~intrusive_ptr_target.
  static void on_destroy(const intrusive_ptr_target* target) noexcept;

 private:
  const intrusive_ptr_target* target_;
  std::atomic<bool> alive_{true};
};

}  // namespace revive
