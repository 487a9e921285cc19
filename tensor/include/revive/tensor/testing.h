// testing.h: a switch of the tensor layer that brings back a historical version, for
// the tests that show what it broke; kept apart from the code that teaches, and read by
// one line of it, marked "test machinery".
//
// Defines, in namespace revive::testing:
//   E4Lock        the order weak_intrusive_ptr::lock() takes at n == 1 with the
//                 has-PyObject bit set (Note [The has-PyObject bit]):
//     Fixed         try-incref the wrapper first (under its GIL), fail if it is dying;
//     FirstVersion  E4's first version (#166342): increment n, then incref the
//                   wrapper, which may already be dying (the race the fix closed).
//   set_e4_lock(v), e4_lock()   process-wide; Fixed unless a test says otherwise.
#pragma once

#include <cstdint>

namespace revive::testing {

enum class E4Lock : std::uint8_t { Fixed, FirstVersion };

void set_e4_lock(E4Lock order) noexcept;
[[nodiscard]] E4Lock e4_lock() noexcept;

}  // namespace revive::testing
