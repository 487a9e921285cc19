// testing.h: planted bugs, test machinery kept apart from the code that teaches.
//
// Defines, in namespace revive::interp::testing:
//   PlantedBug          the bugs a build with the CMake option REVIVE_PLANTED_BUG can
//                       switch on, one at a time, to prove that the randomized checks
//                       (the differential runner, the campaign, the fuzzer) can fail:
//     hermetic-resurrection  (binding) a tensor's preservation test forgets that
//                       hermetic mode hides the recorded wrapper: a recorded wrapper
//                       dying while its thread is hermetic is resurrected instead of
//                       dying (the model says T4, the real code does T3).
//     storage-follows-thread  (binding) a storage wrapper's preservation follows the
//                       thread's hermetic state, as a tensor's does, instead of the
//                       state it was made in: a storage made outside hermetic mode and
//                       dying inside it really dies (test_storage_preserve_nonhermetic_
//                       in_hermetic_context is the PyTorch test that pins it).
//     callback-before-clear  (interp) the collector runs each weakref callback before
//                       clearing that weakref, so the callback still reads its referent
//                       (CPython clears every weakref first: handle_weakrefs).
//   set_planted_bug(b)  switch one on (None: all off).  Without the option it does
//                       nothing and planted_bugs_available() is false.
//   planted(b)          read by one line of the code each bug lives in, marked "test
//                       machinery"; false unless built in and switched on.
//   to_string, planted_bug_named   its name ("hermetic-resurrection", ...) and back.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace revive::interp::testing {

enum class PlantedBug : std::uint8_t { None, HermeticResurrection, StorageFollowsThread, CallbackBeforeClear };
inline constexpr PlantedBug kPlantedBugs[] = {PlantedBug::HermeticResurrection, PlantedBug::StorageFollowsThread,
                                              PlantedBug::CallbackBeforeClear};

[[nodiscard]] bool planted_bugs_available() noexcept;
void set_planted_bug(PlantedBug bug) noexcept;
[[nodiscard]] PlantedBug planted_bug() noexcept;  // the one switched on, or None
[[nodiscard]] bool planted(PlantedBug bug) noexcept;

[[nodiscard]] std::string_view to_string(PlantedBug bug) noexcept;
[[nodiscard]] std::optional<PlantedBug> planted_bug_named(std::string_view name) noexcept;

}  // namespace revive::interp::testing
