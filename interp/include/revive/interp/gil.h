// gil.h: each fake interpreter's global interpreter lock.
//
// Defines:
//   Gil        a mutex that the owning thread may take again (like PyGILState_Ensure,
//              which is what C++ code calls when it needs the GIL and may already
//              hold it).
//   GilGuard   the scoped way to hold it.
//   GilRelease the scoped way to give it up entirely, whatever the nesting depth, and
//              take it back at the same depth (pybind11's gil_scoped_release).
//
// Example (compiled in test/interp/gil_test.cpp):
//   Gil gil;
//   { GilGuard a(gil); GilGuard b(gil); assert(gil.held_by_this_thread()); }
//   assert(!gil.held_by_this_thread());
//
// Why re-entrant: dropping the last C++ reference to a tensor can happen while this
// thread already holds the GIL (a wrapper's dict releases another tensor, whose zombie
// wrapper must then be decref'd: T6 inside T4).  CPython's PyGILState_Ensure handles
// that case by counting; so do we.
#pragma once

#include <atomic>
#include <mutex>
#include <thread>

namespace revive::interp {

class Gil {
 public:
  void acquire() {
    const std::thread::id me = std::this_thread::get_id();
    // Only this thread ever stores its own id, so a relaxed load tells us reliably
    // whether we are the owner.
    if (owner_.load(std::memory_order_relaxed) == me) {
      ++depth_;
      return;
    }
    waiting_.fetch_add(1, std::memory_order_relaxed);
    mutex_.lock();
    waiting_.fetch_sub(1, std::memory_order_relaxed);
    owner_.store(me, std::memory_order_relaxed);
    depth_ = 1;
  }

  // Take it only if no other thread holds it (re-entrant like acquire()); false if
  // one does.  For code that must not wait, such as the graveyard's sweep, which holds
  // its own mutex: See Note [Reclaiming a dead interpreter].
  [[nodiscard]] bool try_acquire() {
    const std::thread::id me = std::this_thread::get_id();
    if (owner_.load(std::memory_order_relaxed) == me) {
      ++depth_;
      return true;
    }
    if (!mutex_.try_lock()) return false;
    owner_.store(me, std::memory_order_relaxed);
    depth_ = 1;
    return true;
  }

  void release() {
    if (--depth_ == 0) {
      owner_.store(std::thread::id(), std::memory_order_relaxed);
      mutex_.unlock();
    }
  }

  // Give the GIL up entirely; returns the depth to restore.  The caller holds it.
  [[nodiscard]] int release_all() {
    const int depth = depth_;
    depth_ = 0;
    owner_.store(std::thread::id(), std::memory_order_relaxed);
    mutex_.unlock();
    return depth;
  }
  // Take it back after release_all(), at `depth`.
  void reacquire(int depth) {
    mutex_.lock();
    owner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
    depth_ = depth;
  }

  // Threads blocked in acquire() right now (tests use it to order a race).
  [[nodiscard]] int waiting() const noexcept { return waiting_.load(std::memory_order_relaxed); }

  [[nodiscard]] bool held_by_this_thread() const noexcept {
    return owner_.load(std::memory_order_relaxed) == std::this_thread::get_id();
  }

 private:
  std::mutex mutex_;
  std::atomic<std::thread::id> owner_{};
  int depth_ = 0;  // written only by the owner, under mutex_
  std::atomic<int> waiting_{0};
};

class GilGuard {
 public:
  explicit GilGuard(Gil& gil) : gil_(gil) { gil_.acquire(); }
  ~GilGuard() { gil_.release(); }
  GilGuard(const GilGuard&) = delete;
  GilGuard& operator=(const GilGuard&) = delete;

 private:
  Gil& gil_;
};

class GilRelease {
 public:
  explicit GilRelease(Gil& gil) : gil_(gil), depth_(gil.release_all()) {}
  ~GilRelease() { gil_.reacquire(depth_); }
  GilRelease(const GilRelease&) = delete;
  GilRelease& operator=(const GilRelease&) = delete;

 private:
  Gil& gil_;
  int depth_;
};

}  // namespace revive::interp
