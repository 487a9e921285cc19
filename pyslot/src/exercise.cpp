// The exercises' switch (exercise.h): test machinery, read by one line in each place a
// rule lives.
#include "revive/pyslot/exercise.h"

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace revive::exercise {

namespace {

constexpr std::array kRules{Rule::Resurrection, Rule::FlipBackNoIncref, Rule::FixWeakref,
                            Rule::HermeticUnrecorded, Rule::TagCas, Rule::Disarm,
                            Rule::TraverseSilent, Rule::ClearAsks, Rule::SubclassSlots,
                            Rule::GilReleasedOnDrop, Rule::E4Share, Rule::E4LockOrder,
                            Rule::SeeThroughCpp};

#if REVIVE_EXERCISES
// The first read takes REVIVE_EXERCISE; an unknown name is a mistake worth stopping for,
// since every test would otherwise pass with no rule off.
Rule from_environment() noexcept {
  const char* name = std::getenv("REVIVE_EXERCISE");
  if (name == nullptr || *name == '\0') return Rule::None;
  if (std::optional<Rule> rule = rule_named(name)) return *rule;
  std::fprintf(stderr, "revive: REVIVE_EXERCISE=%s names no exercise (bash scripts/dev exercise --list)\n", name);
  std::abort();
}

std::atomic<Rule>& state() noexcept {
  static std::atomic<Rule> rule{from_environment()};
  return rule;
}
#endif

}  // namespace

std::span<const Rule> rules() noexcept { return kRules; }

bool available() noexcept {
#if REVIVE_EXERCISES
  return true;
#else
  return false;
#endif
}

Rule switched_off() noexcept {
#if REVIVE_EXERCISES
  return state().load(std::memory_order_relaxed);
#else
  return Rule::None;
#endif
}

#if REVIVE_EXERCISES
bool off(Rule rule) noexcept { return rule != Rule::None && switched_off() == rule; }
#endif

void switch_off([[maybe_unused]] Rule rule) noexcept {
#if REVIVE_EXERCISES
  state().store(rule, std::memory_order_relaxed);
#endif
}

std::string_view to_string(Rule rule) noexcept {
  switch (rule) {
    case Rule::None: return "none";
    case Rule::Resurrection: return "no-resurrection";
    case Rule::FlipBackNoIncref: return "flip-back-increfs";
    case Rule::FixWeakref: return "fix-weakref-does-nothing";
    case Rule::HermeticUnrecorded: return "hermetic-records";
    case Rule::TagCas: return "tag-without-cas";
    case Rule::Disarm: return "no-disarm";
    case Rule::TraverseSilent: return "traverse-sees-through";
    case Rule::SeeThroughCpp: return "traverse-blind-to-cpp";
    case Rule::ClearAsks: return "clear-without-asking";
    case Rule::SubclassSlots: return "subclass-default-clear";
    case Rule::GilReleasedOnDrop: return "drop-holding-the-gil";
    case Rule::E4Share: return "e4-no-share";
    case Rule::E4LockOrder: return "e4-lock-first-version";
  }
  return "?";
}

std::optional<Rule> rule_named(std::string_view name) noexcept {
  for (Rule rule : kRules) {
    if (to_string(rule) == name) return rule;
  }
  return std::nullopt;
}

}  // namespace revive::exercise
