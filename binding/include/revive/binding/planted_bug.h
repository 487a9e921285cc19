// planted_bug.h: a bug planted on purpose, to prove the randomized checks can fail.
//
// With the CMake option REVIVE_PLANTED_BUG, the tensor's resurrection test forgets that
// hermetic mode hides the recorded wrapper (check_pyobj answers "none" there): a
// recorded wrapper that dies while its thread is hermetic is resurrected instead of
// dying (the model says T4, the real code does T3).  The bug is off until
// set_planted_bug(true); without the option, set_planted_bug does nothing and
// planted_bug_available() is false.  Used by test/proof/differential_test.cpp and the
// fuzzer (proof/src/fuzz_target.cpp).  Defined in src/python_variable.cpp..
#pragma once

namespace revive::binding::testing {

[[nodiscard]] bool planted_bug_available() noexcept;
void set_planted_bug(bool on) noexcept;
// Read by the protocol (python_variable.h): false unless built in and switched on.
[[nodiscard]] bool planted_bug_active() noexcept;

}  // namespace revive::binding::testing
