// The exercises' switches (pyslot/include/revive/pyslot/exercise.h): one rule off at a
// time, named both ways, and nothing off unless asked.  What each rule's absence breaks
// is checked by `bash scripts/dev exercise --check` (docs/exercises.md).
#include <boost/test/unit_test.hpp>

#include <set>
#include <string>

#include "revive/pyslot/exercise.h"

namespace utf = boost::unit_test;
using namespace revive;

BOOST_AUTO_TEST_SUITE(exercise_switches, *utf::label("exercises"))

// The header's example.  Whatever REVIVE_EXERCISE switched off is switched off again
// at the end, so that the program's other cases run as the exercise asked.
BOOST_AUTO_TEST_CASE(one_rule_switches_off_and_back_on) {
  const exercise::Rule before = exercise::switched_off();
  exercise::switch_off(exercise::Rule::TagCas);
  BOOST_TEST(exercise::off(exercise::Rule::TagCas) == exercise::available());
  BOOST_TEST(!exercise::off(exercise::Rule::Disarm));
  BOOST_TEST(!exercise::off(exercise::Rule::None));
  exercise::switch_off(exercise::Rule::None);
  for (exercise::Rule rule : exercise::rules()) BOOST_TEST(!exercise::off(rule));
  exercise::switch_off(before);
}

BOOST_AUTO_TEST_CASE(every_rule_has_its_own_name_and_is_found_by_it) {
  std::set<std::string> names;
  for (exercise::Rule rule : exercise::rules()) {
    const std::string_view name = exercise::to_string(rule);
    BOOST_TEST(names.insert(std::string(name)).second, "two rules named " << name);
    BOOST_TEST((exercise::rule_named(name) == rule));
  }
  BOOST_TEST(names.size() >= 12u);
  BOOST_TEST(!exercise::rule_named("none").has_value());
  BOOST_TEST(!exercise::rule_named("no-such-rule").has_value());
}

BOOST_AUTO_TEST_SUITE_END()
