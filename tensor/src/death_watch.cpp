#include "revive/tensor/death_watch.h"

#include <algorithm>
#include <mutex>
#include <vector>

namespace revive {
namespace {

// Never destroyed: a destructor may run during exit.
struct Registry {
  std::mutex mutex;
  std::vector<DeathWatch*> watches;
  std::atomic<int> size{0};
};
Registry& registry() {
  static auto* r = new Registry();
  return *r;
}

}  // namespace

DeathWatch::DeathWatch(const intrusive_ptr_target* target) : target_(target) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.watches.push_back(this);
  r.size.fetch_add(1, std::memory_order_relaxed);
}

DeathWatch::~DeathWatch() {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  std::erase(r.watches, this);
  r.size.fetch_sub(1, std::memory_order_relaxed);
}

void DeathWatch::on_destroy(const intrusive_ptr_target* target) noexcept {
  Registry& r = registry();
  if (r.size.load(std::memory_order_relaxed) == 0) return;
  std::lock_guard lock(r.mutex);
  for (DeathWatch* w : r.watches) {
    if (w->target_ == target) w->alive_.store(false, std::memory_order_release);
  }
}

}  // namespace revive
