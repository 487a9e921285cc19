// The reference model against the real implementation: hand-written checks of the
// model itself, a 100,000-step randomized differential campaign, and the proof that the
// harness can fail (the planted bug).
#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "revive/proof/differential.h"
#include "revive/pyslot/hermetic_tls.h"
#include "revive_test.h"

using namespace revive;
using namespace revive::proof;

namespace {

// Like LeakCheck, restores hermetic state; unlike it, does not count tensors: the
// scenarios tear interpreters down, and what teardown abandons stays on purpose (the
// runner checks that itself, invariant 9).
struct HermeticRestore {
  HermeticRestore()
      : hermetic_(impl::HermeticPyObjectTLS::get_state_slow()),
        have_state_(impl::HermeticPyObjectTLS::have_state()) {}
  ~HermeticRestore() {
    impl::HermeticPyObjectTLS::set_state(hermetic_);
    if (!have_state_) impl::HermeticPyObjectTLS::unsafe_reset_have_state_for_testing();
    set_planted_bug(PlantedBug::None);
  }
  HermeticRestore(const HermeticRestore&) = delete;
  HermeticRestore& operator=(const HermeticRestore&) = delete;

 private:
  bool hermetic_;
  bool have_state_;
};

Op op(OpKind kind, int a = 0, int b = 0, int c = 0) {
  return Op{kind, static_cast<std::uint8_t>(a), static_cast<std::uint8_t>(b), static_cast<std::uint8_t>(c)};
}

// Apply ops to a fresh model, resolving each.
Model model_after(const std::vector<Op>& ops) {
  Model m;
  for (const Op& o : ops) {
    if (auto r = m.resolve(o)) (void)m.apply(*r);
  }
  return m;
}

// The preserved scenario: h0 = empty(); v0 = wrap(h0); v0.foo = 1; del v0; v1 = wrap(h0)
const std::vector<Op> kPreserved = {op(OpKind::NewTensor), op(OpKind::Wrap, 0, 0, 0), op(OpKind::SetFoo, 0),
                                    op(OpKind::DropVar, 0), op(OpKind::Wrap, 0, 1, 0)};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(reference_model, HermeticRestore, *utf::label("differential"))

// The model itself follows docs/reference.md: L -> Z on del, Z -> L on wrap, same wrapper.
BOOST_AUTO_TEST_CASE(model_resurrects_and_flips_back) {
  std::vector<Op> ops(kPreserved.begin(), kPreserved.end() - 1);
  Model z = model_after(ops);
  const int t = z.held.handles[0];  // (target 0 is its storage)
  BOOST_TEST(z.targets[t].owns);
  BOOST_TEST(z.targets[t].n == 1);
  BOOST_TEST(z.wrappers[0].r == 1);
  BOOST_TEST((z.wrappers[0].cdata == Cdata::Borrowed));
  Model l = model_after(kPreserved);
  BOOST_TEST(!l.targets[t].owns);
  BOOST_TEST(l.held.vars[1] == 0);  // the same wrapper came back
  BOOST_TEST(*l.wrappers[0].foo == 1);
  BOOST_TEST(l.targets[t].n == 2);
}

// Storages too: v1 = v0.untyped_storage(); del v1 resurrects it (the tensor holds the
// storage); asking again flips the same wrapper back.  A storage wrapper made outside
// hermetic mode is preserved even when it dies inside it; a tensor wrapper is not.
BOOST_AUTO_TEST_CASE(model_preserves_storages_whatever_the_thread_state) {
  Model m = model_after({op(OpKind::NewWrapped, 0, 0, 0), op(OpKind::StorageOf, 0, 1), op(OpKind::Hermetic, 0),
                         op(OpKind::DropVar, 1)});
  const int s = m.wrappers[1].target;
  BOOST_TEST(m.targets[s].is_storage);
  BOOST_TEST(m.targets[s].owns);  // Z, though the thread is hermetic
  BOOST_TEST((m.wrappers[1].cdata == Cdata::Borrowed));
  (void)m.apply(*m.resolve(op(OpKind::Hermetic, 1)));  // off
  (void)m.apply(*m.resolve(op(OpKind::StorageOf, 0, 2)));
  BOOST_TEST(m.held.vars[2] == 1);  // the same wrapper, flipped back
  BOOST_TEST(!m.targets[s].owns);
  Model t = model_after({op(OpKind::NewTensor), op(OpKind::Wrap, 0, 0, 0), op(OpKind::Hermetic, 0),
                         op(OpKind::DropVar, 0)});
  BOOST_TEST(!t.wrappers[0].alive);  // a tensor wrapper dying in hermetic mode really dies
}

// A storage another interpreter tagged is wrapped as a new storage sharing its bytes.
BOOST_AUTO_TEST_CASE(model_aliases_a_storage_across_interpreters) {
  Model m = model_after({op(OpKind::NewTensor), op(OpKind::ShareStorage, 0), op(OpKind::Wrap, 0, 0, 0),
                         op(OpKind::Wrap, 1, 1, 1), op(OpKind::StorageOf, 0, 2), op(OpKind::StorageOf, 1, 3)});
  const int shared = m.targets[m.held.handles[0]].storage;
  BOOST_TEST(m.targets[m.held.handles[1]].storage == shared);
  BOOST_TEST(m.wrappers[m.held.vars[2]].target == shared);  // I0 tagged it
  const int alias = m.wrappers[m.held.vars[3]].target;
  BOOST_TEST(alias != shared);
  BOOST_TEST(m.targets[alias].is_storage);
  BOOST_TEST(m.targets[alias].tag == m.slot_interp[1]);
  BOOST_TEST(m.coverage.storage_aliases == 1);
}

// A wrapper that alone owns its tensor dies with it; a finalizer runs once.
BOOST_AUTO_TEST_CASE(model_real_death_runs_finalizer_once) {
  Model m = model_after({op(OpKind::NewWrapped, 0, 0, 1), op(OpKind::DropVar, 0)});
  BOOST_TEST(!m.targets[m.wrappers[0].target].alive);
  BOOST_TEST(!m.wrappers[0].alive);
  BOOST_TEST(m.wrappers[0].finalizer_runs == 1);
}

// Another interpreter is refused, in hermetic mode too (check_pyobj's hermetic answer
// only covers the tagging interpreter); there, hermetic mode makes a fresh wrapper.
BOOST_AUTO_TEST_CASE(model_refuses_a_foreign_tag) {
  Model m;
  for (const Op& o : {op(OpKind::NewTensor), op(OpKind::Wrap, 0, 0, 0)}) (void)m.apply(*m.resolve(o));
  BOOST_TEST((m.apply(*m.resolve(op(OpKind::Wrap, 1, 1, 0))) == Outcome::Raised));
  (void)m.apply(*m.resolve(op(OpKind::Hermetic, 0)));  // a % 4 == 0: on
  BOOST_TEST(m.hermetic);
  BOOST_TEST((m.apply(*m.resolve(op(OpKind::Wrap, 1, 1, 0))) == Outcome::Raised));
  BOOST_TEST((m.apply(*m.resolve(op(OpKind::Wrap, 0, 1, 0))) == Outcome::Ran));
  BOOST_TEST(m.wrappers[1].hermetic);
  BOOST_TEST(m.targets[m.held.handles[0]].recorded == 0);  // the slot still records the first wrapper
}

// Scenarios decode from bytes, four per op, and a short one runs clean.
BOOST_AUTO_TEST_CASE(decoded_scenario_runs_clean) {
  const std::uint8_t bytes[] = {0, 0, 0, 0, 2, 0, 0, 0, 9, 0, 0, 0, 2, 0, 1, 0, 19, 0, 0, 0, 7};
  const auto ops = decode(bytes, sizeof bytes);
  BOOST_TEST(ops.size() == 5u);  // the trailing byte is ignored
  BOOST_TEST((ops[1].kind == OpKind::Wrap));
  BOOST_TEST(!run_scenario(ops).has_value());
  BOOST_TEST(!run_scenario(kPreserved).has_value());
}

BOOST_AUTO_TEST_SUITE_END()

namespace {
// A campaign from seed 1 of `steps` steps (or as many as the environment variable
// `env` asks for), which must agree with the model throughout; its report.
CampaignReport agreeing_campaign(std::size_t steps, const char* env, Threading threading) {
  if (const char* asked = std::getenv(env)) steps = std::strtoull(asked, nullptr, 10);
  std::ostringstream log;
  const CampaignReport r = campaign(/*seed=*/1, steps, log, 200, {}, threading);
  BOOST_TEST_MESSAGE(log.str());
  BOOST_TEST(!r.failing_seed.has_value(), "mismatch, see the log: " << log.str());
  BOOST_TEST(r.steps >= steps);
  BOOST_TEST_MESSAGE(r.scenarios << " scenarios, " << r.steps << " steps; " << to_string(r.coverage));
  return r;
}
}  // namespace

BOOST_FIXTURE_TEST_SUITE(differential, HermeticRestore, *utf::label("differential"))

// At least 100,000 steps of random scenarios, compared step by step; the coverage
// counts show the campaign went through every kind of transition.  Under valgrind
// (50 times slower) `bash scripts/dev valgrind` asks for fewer through
// REVIVE_DIFFERENTIAL_STEPS; every other run does the full 100,000.
BOOST_AUTO_TEST_CASE(random_campaign_agrees_with_the_model) {
  const CampaignReport r = agreeing_campaign(100'000, "REVIVE_DIFFERENTIAL_STEPS", Threading::One);
  const Coverage& c = r.coverage;
  BOOST_TEST(c.resurrections > 0);
  BOOST_TEST(c.flips > 0);
  BOOST_TEST(c.real_deaths > 0);
  // The hole needs an E2 interpreter, a weakref deref of a zombie and C++ letting go:
  // about one step in 10,000 once the eras are mixed, so only the full run counts on it
  // (valgrind asks for 20,000 steps).
  if (r.steps >= 100'000) BOOST_TEST(c.hole_warnings > 0);
  BOOST_TEST(c.gc_clears > 0);
  BOOST_TEST(c.weakref_callbacks > 0);
  BOOST_TEST(c.auto_collections > 0);
  BOOST_TEST(c.hermetic_wrappers > 0);
  BOOST_TEST(c.teardowns > 0);
  BOOST_TEST(c.reclaims > 0);
  BOOST_TEST(c.storage_wrappers > 0);
  BOOST_TEST(c.storage_resurrections > 0);
  BOOST_TEST(c.storage_aliases > 0);
  BOOST_TEST(c.hermetic_storage_wrappers > 0);
  BOOST_TEST(c.grads_released > 0);
  BOOST_TEST(c.refusals > 0);
  // Both eras (eras_for_seed): E4's wrappers, and C++ taking and giving back its
  // reference to them across 1 <-> 2.
  BOOST_TEST(c.e4_wrappers > 0);
  BOOST_TEST(c.e4_cpp_increfs > 0);
  BOOST_TEST(c.e4_cpp_decrefs > 0);
  // The autograd graph: nodes made and released with what they saved, and traverses
  // that saw through C++ to a tensor's hooks (Note [Seeing through C++ in traverse]).
  BOOST_TEST(c.graph_nodes > 0);
  BOOST_TEST(c.saved_releases > 0);
  BOOST_TEST(c.hooks_seen_through > 0);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(threaded, HermeticRestore, *utf::label("differential") *utf::label("threads"))

// Each op on the thread of its interpreter, several at once where they commute, the
// comparison after each round (Note [Threaded scenarios]): what the threads do at once
// includes releases that reach into the other thread's interpreter, taking its GIL
// (Note [GIL order across interpreters]).  The tsan preset runs it under
// ThreadSanitizer.  REVIVE_THREADED_STEPS asks for another number of steps.
BOOST_AUTO_TEST_CASE(threaded_campaign_agrees_with_the_model) {
  const CampaignReport r = agreeing_campaign(30'000, "REVIVE_THREADED_STEPS", Threading::PerInterpreter);
  const Coverage& c = r.coverage;
  BOOST_TEST(c.threaded_rounds > 0);
  BOOST_TEST(c.concurrent_releases > 0);
  BOOST_TEST(c.grads_released > 0);
  BOOST_TEST(c.resurrections > 0);
  BOOST_TEST(c.real_deaths > 0);
  BOOST_TEST(c.storage_resurrections > 0);
  BOOST_TEST(c.weakref_callbacks > 0);
  BOOST_TEST(c.teardowns > 0);
  BOOST_TEST(c.reclaims > 0);
  BOOST_TEST(c.auto_collections == 0);  // AutoGc ops are skipped on threads
  BOOST_TEST(c.e4_cpp_decrefs > 0);
}

BOOST_AUTO_TEST_SUITE_END()

// Proof that the harness can fail: with a planted bug on, the campaign must report a
// mismatch, with a seed and a short reproducing sequence that goes through what the
// bug is about, and that passes with the bug off.  Runs in builds configured with
// REVIVE_PLANTED_BUG (the dev, asan-ubsan and tsan presets); skipped elsewhere.
namespace {
boost::test_tools::assertion_result has_planted_bug(utf::test_unit_id) { return planted_bugs_available(); }

void expect_caught(PlantedBug bug, const std::vector<std::string>& steps_it_needs) {
  set_planted_bug(bug);
  std::ostringstream log;
  const CampaignReport r = campaign(/*seed=*/1, /*steps=*/200'000, log);
  set_planted_bug(PlantedBug::None);
  BOOST_TEST_MESSAGE(log.str());
  BOOST_TEST_REQUIRE(r.failing_seed.has_value());
  BOOST_TEST_REQUIRE(r.failure.has_value());  // the shrunk scenario still fails
  BOOST_TEST(r.reproducer.size() <= 10u);
  BOOST_TEST(log.str().find("reproducing sequence") != std::string::npos);
  BOOST_TEST(log.str().find(std::string("--planted ") + std::string(interp::testing::to_string(bug))) !=
             std::string::npos);
  // Each entry names what a step must do; "a|b" accepts either spelling of it.
  for (const std::string& step : steps_it_needs) {
    bool found = false;
    for (std::size_t from = 0; from <= step.size();) {
      const std::size_t bar = std::min(step.find('|', from), step.size());
      found = found || log.str().find(step.substr(from, bar - from)) != std::string::npos;
      from = bar + 1;
    }
    BOOST_TEST(found, "the reproducer should contain " << step);
  }
  // With the bug off again, the same reproducer passes.
  BOOST_TEST(!run_scenario(r.reproducer).has_value());
}
}  // namespace

BOOST_FIXTURE_TEST_SUITE(planted_bug, HermeticRestore, *utf::label("differential") *utf::label("planted") *utf::precondition(has_planted_bug))

BOOST_AUTO_TEST_CASE(differential_runner_catches_the_planted_bug) {
  expect_caught(PlantedBug::HermeticResurrection, {"hermetic mode on"});
}

// A storage made outside hermetic mode and dropped inside it: preserved, unless its
// preservation wrongly follows the thread.
BOOST_AUTO_TEST_CASE(differential_runner_catches_a_storage_preservation_bug) {
  // The storage: torch.UntypedStorage(16), or a tensor's x.untyped_storage().
  expect_caught(PlantedBug::StorageFollowsThread, {"hermetic mode on", "UntypedStorage|untyped_storage()"});
}

// The collector must clear every weakref before any callback runs: a callback that
// reads its weakref finds None.
BOOST_AUTO_TEST_CASE(differential_runner_catches_a_callback_order_bug) {
  expect_caught(PlantedBug::CallbackBeforeClear, {"callback"});
}

BOOST_AUTO_TEST_SUITE_END()
