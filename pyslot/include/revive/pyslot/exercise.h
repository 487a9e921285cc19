// exercise.h: the exercises' switches, test machinery kept apart from the code that
// teaches (docs/exercises.md).
//
// Defines, in namespace revive::exercise:
//   Rule              one rule of the design that an exercise switches off, so that a
//                     learner sees which tests it was for.  Each is read by one line of
//                     the code the rule lives in, marked "test machinery", in the style
//                     of the planted bugs (interp/include/revive/interp/testing.h).
//   available()       whether this build has the switches (the CMake option
//                     REVIVE_PLANTED_BUG, on in the dev, asan-ubsan, tsan and fuzz
//                     presets, sets REVIVE_EXERCISES); without it off() is a constant
//                     false, so the release and bench builds pay nothing.
//   off(rule)         true if `rule` is the one switched off.
//   switch_off(rule)  switch one off (Rule::None: every rule on).  The first read takes
//                     the environment variable REVIVE_EXERCISE, so a whole test program,
//                     the tour or the real-CPython module runs with a rule off:
//                       REVIVE_EXERCISE=flip-back-increfs ctest --preset dev -L resurrection
//   to_string, rule_named   its name ("flip-back-increfs", ...) and back.
//
// Example (compiled in test/pyslot/exercise_test.cpp):
//   exercise::switch_off(exercise::Rule::TagCas);
//   assert(exercise::off(exercise::Rule::TagCas) == exercise::available());
//   exercise::switch_off(exercise::Rule::None);
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace revive::exercise {

enum class Rule : std::uint8_t {
  None,
  Resurrection,      // T3: a resurrectable wrapper's dealloc resurrects it
  FlipBackNoIncref,  // T5: the flip back hands over the slot's reference, no incref
  FixWeakref,        // _fix_weakref() wraps, so a revived zombie flips back
  HermeticUnrecorded,  // T10: a hermetic wrap never records or tags
  TagCas,            // T1/T11: a shared slot is tagged with a compare-and-swap
  Disarm,            // T9: teardown swaps the vtable for the no-op one
  TraverseSilent,    // T7: a resurrectable wrapper's traverse reports nothing
  ClearAsks,         // T7, #75932: clear does nothing while the wrapper is resurrectable
  SubclassSlots,     // T7, #136358: every subclass gets the wrapper's clear
  GilReleasedOnDrop, // a dying wrapper drops its tensor with its GIL released
  E4Share,           // E4: n 1 -> 2 increfs the wrapper, 2 -> 1 decrefs it
  E4LockOrder,       // E4: lock() at n == 1 try-increfs the wrapper before counting
  SeeThroughCpp,     // T7: an only-owner wrapper's traverse reports what its tensor holds
};

[[nodiscard]] std::span<const Rule> rules() noexcept;  // every rule but None
[[nodiscard]] bool available() noexcept;
#if REVIVE_EXERCISES
[[nodiscard]] bool off(Rule rule) noexcept;
#else
[[nodiscard]] constexpr bool off(Rule) noexcept { return false; }  // nothing to switch off
#endif
[[nodiscard]] Rule switched_off() noexcept;
void switch_off(Rule rule) noexcept;
[[nodiscard]] std::string_view to_string(Rule rule) noexcept;
[[nodiscard]] std::optional<Rule> rule_named(std::string_view name) noexcept;

}  // namespace revive::exercise
