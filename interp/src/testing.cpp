// The planted bugs' switch (testing.h): test machinery, read by one line in each place
// a bug lives.
#include "revive/interp/testing.h"

#include <atomic>

namespace revive::interp::testing {

namespace {
#ifdef REVIVE_PLANTED_BUG
std::atomic<PlantedBug> plantedBug{PlantedBug::None};
#endif
}  // namespace

bool planted_bugs_available() noexcept {
#ifdef REVIVE_PLANTED_BUG
  return true;
#else
  return false;
#endif
}

void set_planted_bug([[maybe_unused]] PlantedBug bug) noexcept {
#ifdef REVIVE_PLANTED_BUG
  plantedBug.store(bug, std::memory_order_relaxed);
#endif
}

PlantedBug planted_bug() noexcept {
#ifdef REVIVE_PLANTED_BUG
  return plantedBug.load(std::memory_order_relaxed);
#else
  return PlantedBug::None;
#endif
}

bool planted(PlantedBug bug) noexcept { return bug != PlantedBug::None && planted_bug() == bug; }

std::string_view to_string(PlantedBug bug) noexcept {
  switch (bug) {
    case PlantedBug::None: return "none";
    case PlantedBug::HermeticResurrection: return "hermetic-resurrection";
    case PlantedBug::StorageFollowsThread: return "storage-follows-thread";
    case PlantedBug::CallbackBeforeClear: return "callback-before-clear";
  }
  return "?";
}

std::optional<PlantedBug> planted_bug_named(std::string_view name) noexcept {
  for (PlantedBug bug : kPlantedBugs) {
    if (to_string(bug) == name) return bug;
  }
  return std::nullopt;
}

}  // namespace revive::interp::testing
