// testing.h: the binding's test machinery, kept apart from the code that teaches.
//
// Defines, in namespace testing:
//   set_resurrection_hook  a function run inside a wrapper's dealloc after it decided
//                      to resurrect and before the flip, standing in for another thread
//                      dropping C++ references there (Note [Ownership flip on
//                      resurrection]'s hazard; test/binding/lifecycle_test.cpp).
// Read by one line of the protocol, marked "test machinery".  Defined in
// src/torch.cpp.  The planted bugs, two of which live in the binding, are switched in
// interp/include/revive/interp/testing.h.
#pragma once

#include <functional>

namespace revive::binding {

class Torch;

namespace testing {

void set_resurrection_hook(Torch& torch, std::function<void()> hook);

}  // namespace testing
}  // namespace revive::binding
