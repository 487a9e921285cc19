// cpython_witness.h: the real CPython 3.11 as a witness (differential.h) of the
// differential runner: every scenario also runs on two real subinterpreters, through
// the `revive` module of cpython/, and is compared with the model after every step,
// beside the fake interpreter.  See Note [The fake against the real CPython]
// (src/cpython_witness.cpp) for what is compared and what cannot be.
//
// Defines:
//   start_cpython()     initialise the embedded CPython (the module built in), once per
//                       process; later calls do nothing.
//   cpython_witness()   the WitnessKind to hand to run_scenario, shrink or campaign.
//
// Example (proof/src/campaign.cpp, built as revive-against-cpython):
//   revive::proof::start_cpython();
//   const auto witness = revive::proof::cpython_witness();
//   auto report = revive::proof::campaign(1, 10000, std::cerr, 200, {}, Threading::One, &witness);
#pragma once

#include "revive/proof/differential.h"

namespace revive::proof {

void start_cpython();

[[nodiscard]] WitnessKind cpython_witness();

}  // namespace revive::proof
