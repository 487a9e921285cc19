// scenario_fixture.h: the fixture of the ported PyTorch scenarios (test/scenarios/).
//
//   ScenarioFixture   LeakCheck plus one interpreter "main", PyTorch's Tracker.make()
//                     and `int_attr(o, "foo")` (o.foo, which must be an int).
#pragma once

#include <cstdint>
#include <string>
#include <variant>

#include "revive_test.h"
#include "tracker.h"

namespace revive::testing {

struct ScenarioFixture : LeakCheck {
  binding::Interpreter::Owner I = binding::Interpreter::create("main");

  Tracked make_tracker() { return revive::testing::make_tracker(*I); }
  std::int64_t int_attr(const interp::Ref& o, const std::string& name) {
    return std::get<std::int64_t>(I->getattr(o, name));
  }
};

}  // namespace revive::testing
