// PythonOpRegistrationTrampoline: the first interpreter to register becomes main.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <latch>
#include <thread>
#include <vector>

#include "revive/pyslot/hermetic_tls.h"
#include "revive/pyslot/python_op_registration_trampoline.h"
#include "revive_test.h"

using revive::impl::HermeticPyObjectTLS;
using revive::impl::noop_vtable;
using revive::impl::PyInterpreter;
using revive::impl::PythonOpRegistrationTrampoline;

namespace {
struct Fresh : revive::testing::LeakCheck {
  Fresh() {
    PythonOpRegistrationTrampoline::unsafe_reset_for_testing();
    HermeticPyObjectTLS::unsafe_reset_have_state_for_testing();
  }
};
}  // namespace

BOOST_FIXTURE_TEST_SUITE(trampoline, Fresh, *utf::label("trampoline"))

// The header example: first wins, later ones only verify, and hermetic state turns on.
BOOST_AUTO_TEST_CASE(first_interpreter_to_register_becomes_main) {
  PyInterpreter a(&noop_vtable()), b(&noop_vtable());
  BOOST_TEST(PythonOpRegistrationTrampoline::getInterpreter() == nullptr);
  BOOST_TEST(PythonOpRegistrationTrampoline::registerInterpreter(&a));
  BOOST_TEST(!HermeticPyObjectTLS::have_state());  // one interpreter: nobody is hermetic
  BOOST_TEST(!PythonOpRegistrationTrampoline::registerInterpreter(&b));
  BOOST_TEST(HermeticPyObjectTLS::have_state());   // a second one exists now
  BOOST_TEST(PythonOpRegistrationTrampoline::getInterpreter() == &a);
  // As c10's CAS answers: a second call, from main itself, is "not main" too.  torch
  // calls it once per interpreter (PyInterpreterHolder), so this never happens there.
  BOOST_TEST(!PythonOpRegistrationTrampoline::registerInterpreter(&a));
  BOOST_TEST(PythonOpRegistrationTrampoline::getInterpreter() == &a);
}

// Racing registrations: exactly one winner.
BOOST_AUTO_TEST_CASE(concurrent_registration_has_one_winner, *utf::timeout(60) *utf::label("threads")) {
  constexpr int kThreads = 8;
  for (int round = 0; round < 100; ++round) {
    PythonOpRegistrationTrampoline::unsafe_reset_for_testing();
    std::vector<std::unique_ptr<PyInterpreter>> interps;
    for (int i = 0; i < kThreads; ++i) interps.push_back(std::make_unique<PyInterpreter>(&noop_vtable()));
    std::atomic<int> winners{0};
    std::latch start(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        start.arrive_and_wait();
        if (PythonOpRegistrationTrampoline::registerInterpreter(interps[static_cast<std::size_t>(i)].get())) {
          winners.fetch_add(1);
        }
      });
    }
    for (auto& t : threads) t.join();
    BOOST_TEST_REQUIRE(winners.load() == 1, "round " << round);
  }
  PythonOpRegistrationTrampoline::unsafe_reset_for_testing();
}

BOOST_AUTO_TEST_SUITE_END()
