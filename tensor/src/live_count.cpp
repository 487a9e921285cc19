#include "revive/tensor/live_count.h"

#include <algorithm>
#include <mutex>

#include "revive/pyslot/error.h"

namespace revive {
namespace {

// Never destroyed: counters are static objects that may be read during exit.
struct Registry {
  std::mutex mutex;
  std::vector<const LiveCount*> counters;
};
Registry& registry() {
  static auto* r = new Registry();
  return *r;
}

}  // namespace

LiveCount::LiveCount(std::string_view type_name) : type_name_(type_name) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  const bool taken = std::any_of(r.counters.begin(), r.counters.end(),
                                 [&](const LiveCount* c) { return c->type_name_ == type_name_; });
  REVIVE_INTERNAL_ASSERT(!taken, "two LiveCount counters named ", type_name_);
  r.counters.push_back(this);
}

std::vector<const LiveCount*> LiveCount::all() {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  return r.counters;
}

std::int64_t LiveCount::total() {
  std::int64_t sum = 0;
  for (const LiveCount* c : all()) sum += c->get();
  return sum;
}

const LiveCount* LiveCount::of(std::string_view type_name) {
  for (const LiveCount* c : all()) {
    if (c->type_name() == type_name) return c;
  }
  return nullptr;
}

}  // namespace revive
