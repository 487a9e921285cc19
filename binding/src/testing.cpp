// The planted bug's switch (testing.h): test machinery, kept out of the protocol's
// files except for the one line in Torch::is_preservable that reads it.
#include "revive/binding/testing.h"

#include <atomic>

namespace revive::binding {

namespace {
#ifdef REVIVE_PLANTED_BUG
std::atomic<bool> plantedBug{false};
#endif
}  // namespace

namespace testing {
bool planted_bug_active() noexcept {
#ifdef REVIVE_PLANTED_BUG
  return plantedBug.load(std::memory_order_relaxed);
#else
  return false;
#endif
}
bool planted_bug_available() noexcept {
#ifdef REVIVE_PLANTED_BUG
  return true;
#else
  return false;
#endif
}
void set_planted_bug([[maybe_unused]] bool on) noexcept {
#ifdef REVIVE_PLANTED_BUG
  plantedBug.store(on, std::memory_order_relaxed);
#endif
}
}  // namespace testing

}  // namespace revive::binding
