// The tour checks its own narration: every scenario runs here as a test case, and a
// wrong row, a wrong sentence or a wrong declared path fails (examples/tour/narrator.h).
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "narrator.h"
#include "revive_test.h"
#include "scenarios.h"

using namespace revive;
using namespace revive::tour;
namespace data = boost::unit_test::data;

namespace {

std::vector<std::string> scenario_names() {
  std::vector<std::string> names;
  for (const Scenario& s : all_scenarios()) names.emplace_back(s.name);
  return names;
}
// The scenarios told in era E4 too (Scenario::told_in_e4).
std::vector<std::string> e4_scenario_names() {
  std::vector<std::string> names;
  for (const Scenario& s : all_scenarios()) {
    if (s.told_in_e4) names.emplace_back(s.name);
  }
  return names;
}

const Scenario& scenario(const std::string& name) {
  for (const Scenario& s : all_scenarios()) {
    if (s.name == name) return s;
  }
  throw std::runtime_error("no scenario " + name);
}

// A clean failure list before and after each case.
struct Clean : revive::testing::LeakCheck {
  Clean() { narration_failures().clear(); }
  ~Clean() { narration_failures().clear(); }
};

// One step that wraps a fresh tensor (T1), told with `why` and checked against `row`:
// the failures of that step alone.
std::vector<std::string> failures_of_one_wrap(std::string_view why, std::string_view row,
                                              std::string path = "T1") {
  narration_failures().clear();
  {
    Scene scene(nullptr, "check", {"check", std::move(path), LifeState::L});
    Tensor t = Tensor::empty(2);
    Ref p;
    scene.tour.watch(*scene.I, t);
    scene.tour.step("Py: p = wrap(t)", [&] { p = scene.I->wrap(t); }, why, row);
  }
  return narration_failures();
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(tour_narration, Clean, *utf::label("tour"))

// Every scenario of the tour, as its own test case: no narration check may fail.
BOOST_DATA_TEST_CASE(every_scenario_tells_the_truth, data::make(scenario_names()), name) {
  BOOST_TEST_CONTEXT("scenario " << name) {
    scenario(name).run(nullptr, binding::Era::E2);
    for (const std::string& f : narration_failures()) BOOST_ERROR(f);
    BOOST_TEST(narration_failures().empty());
  }
}

// Every E4 telling (Scenario::told_in_e4), checked against E4's machine.
BOOST_DATA_TEST_CASE(every_e4_telling_tells_the_truth, data::make(e4_scenario_names()), name) {
  BOOST_TEST_CONTEXT("scenario " << name << ", era E4") {
    scenario(name).run(nullptr, binding::Era::E4);
    for (const std::string& f : narration_failures()) BOOST_ERROR(f);
    BOOST_TEST(narration_failures().empty());
  }
}

BOOST_AUTO_TEST_CASE(a_true_step_passes) {
  BOOST_TEST(failures_of_one_wrap("First wrap tags the slot (T1); n = 2, r = 1.",
                                  "L n=2 r=1 tag=I0 owns=0 cdata=owned via=T1 fin=0")
                 .empty());
}

BOOST_AUTO_TEST_CASE(a_wrong_row_fails) {
  const auto f = failures_of_one_wrap("First wrap.", "Z n=1 r=1 tag=I0 owns=1 cdata=borrowed via=T3 fin=0");
  BOOST_REQUIRE(f.size() == 1u);
  BOOST_TEST(f[0].find("the row is \"L n=2 r=1 tag=I0 owns=0 cdata=owned via=T1 fin=0\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_missing_row_fails_and_shows_what_it_saw) {
  const auto f = failures_of_one_wrap("First wrap.", "");
  BOOST_REQUIRE(f.size() == 1u);
  BOOST_TEST(f[0].find("declares no expected row; it saw \"L n=2") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_wrong_sentence_fails) {
  const std::string row = "L n=2 r=1 tag=I0 owns=0 cdata=owned via=T1 fin=0";
  BOOST_TEST(failures_of_one_wrap("Zombie (T3).", row).size() == 1u);
  BOOST_TEST(failures_of_one_wrap("A wrap (T1): n = 3.", row).size() == 1u);
  BOOST_TEST(failures_of_one_wrap("A wrap (T1): n: 1 -> 2, r = 2.", row).size() == 1u);
  BOOST_TEST(failures_of_one_wrap("A wrap (T1); __del__ runs.", row).size() == 1u);
  BOOST_TEST(failures_of_one_wrap("A wrap (T1); no __del__.", row).empty());
}

BOOST_AUTO_TEST_CASE(a_wrong_declared_path_fails) {
  const auto f = failures_of_one_wrap("First wrap (T1).", "L n=2 r=1 tag=I0 owns=0 cdata=owned via=T1 fin=0",
                                      "T1 T3");
  BOOST_REQUIRE(f.size() == 1u);
  BOOST_TEST(f[0].find("the path is \"T1\", the declaration says \"T1 T3\"") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
