// testing.h: the binding's test machinery, kept apart from the code that teaches.
//
// Defines, in namespace testing:
//   the planted bug    with the CMake option REVIVE_PLANTED_BUG, the tensor's
//                      resurrection test forgets that hermetic mode hides the recorded
//                      wrapper (check_pyobj answers "none" there): a recorded wrapper that
//                      dies while its thread is hermetic is resurrected instead of dying
//                      (the model says T4, the real code does T3).  Off until
//                      set_planted_bug(true); without the option, set_planted_bug does
//                      nothing and planted_bug_available() is false.  It proves the
//                      randomized checks can fail (test/proof/differential_test.cpp,
//                      proof/src/fuzz_target.cpp).
//   set_resurrection_hook  a function run inside a wrapper's dealloc after it decided
//                      to resurrect and before the flip, standing in for another thread
//                      dropping C++ references there (Note [Ownership flip on
//                      resurrection]'s hazard; test/binding/lifecycle_test.cpp).
// Each is read by one line of the protocol, marked "test machinery".  Defined in
// src/testing.cpp and src/torch.cpp.
#pragma once

#include <functional>

namespace revive::binding {

class Torch;

namespace testing {

[[nodiscard]] bool planted_bug_available() noexcept;
void set_planted_bug(bool on) noexcept;
// Read by the protocol (python_variable.h): false unless built in and switched on.
[[nodiscard]] bool planted_bug_active() noexcept;

void set_resurrection_hook(Torch& torch, std::function<void()> hook);

}  // namespace testing
}  // namespace revive::binding
