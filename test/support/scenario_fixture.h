// scenario_fixture.h: the fixture of the ported PyTorch scenarios (test/scenarios/).
//
//   ScenarioFixtureFor<era>  LeakCheck plus one interpreter "main" of that era (`era` in
//                     a test case says which), PyTorch's Tracker.make() and
//                     `int_attr(o, "foo")` (o.foo, which must be an int).
//   ScenarioFixture   the same, era E2.
#pragma once

#include <cstdint>
#include <string>
#include <variant>

#include "revive_test.h"
#include "tracker.h"

namespace revive::testing {

template <binding::Era E>
struct ScenarioFixtureFor : LeakCheck {
  static constexpr binding::Era era = E;
  binding::Interpreter::Owner I = binding::Interpreter::create("main", E);

  Tracked make_tracker() { return revive::testing::make_tracker(*I); }
  std::int64_t int_attr(const interp::Ref& o, const std::string& name) {
    return std::get<std::int64_t>(I->getattr(o, name));
  }
};

using ScenarioFixture = ScenarioFixtureFor<binding::Era::E2>;

}  // namespace revive::testing
