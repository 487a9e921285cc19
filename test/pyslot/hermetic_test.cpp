// Tests for revive/pyslot/hermetic_tls.h: the per-thread hermetic switch, its RAII guard
// and the process-wide haveState_ flag behind the fast path
// (Note [Hermetic PyObject mode], Note [The hermetic fast path]).
//
// LeakCheck saves and restores both the calling thread's state and haveState_, so a case
// may lower haveState_ with unsafe_reset_have_state_for_testing().
#include <thread>
#include <type_traits>

#include "revive/pyslot/hermetic_tls.h"
#include "revive_test.h"

namespace {

using revive::impl::EnableHermeticPyObject;
using revive::impl::HermeticPyObjectTLS;

// Compile-time contracts: the guard is a scope, not a value to pass around.
static_assert(!std::is_copy_constructible_v<EnableHermeticPyObject> &&
                  !std::is_copy_assignable_v<EnableHermeticPyObject>,
              "a copied guard would restore the state twice");
static_assert(std::is_nothrow_default_constructible_v<EnableHermeticPyObject>);
static_assert(noexcept(HermeticPyObjectTLS::get_state()) &&
                  noexcept(HermeticPyObjectTLS::get_state_fast()) &&
                  noexcept(HermeticPyObjectTLS::get_state_slow()),
              "get_state runs on every wrap, including in destructors");

// What another, fresh thread sees.
struct ThreadView {
  bool slow = true;
  bool fast = true;
  bool have_state = false;
};

ThreadView view_from_another_thread() {
  ThreadView view;
  std::thread t([&view] {
    view.slow = HermeticPyObjectTLS::get_state_slow();
    view.fast = HermeticPyObjectTLS::get_state_fast();
    view.have_state = HermeticPyObjectTLS::have_state();
  });
  t.join();
  return view;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(hermetic_tls, revive::testing::LeakCheck, *utf::label("hermetic"))

// The example in hermetic_tls.h's header comment.
BOOST_AUTO_TEST_CASE(header_example_guard_turns_hermetic_mode_on_for_a_scope) {
  {
    revive::impl::EnableHermeticPyObject g;
    BOOST_TEST(revive::impl::HermeticPyObjectTLS::get_state());
  }
  BOOST_TEST(!revive::impl::HermeticPyObjectTLS::get_state());
}

// The guard sets the state on and restores "off" at its end, through every read path.
BOOST_AUTO_TEST_CASE(guard_sets_and_restores_the_state) {
  BOOST_TEST(!HermeticPyObjectTLS::get_state_slow());
  {
    EnableHermeticPyObject g;
    BOOST_TEST(HermeticPyObjectTLS::get_state_slow());
    BOOST_TEST(HermeticPyObjectTLS::get_state_fast());
    BOOST_TEST(HermeticPyObjectTLS::get_state());
  }
  BOOST_TEST(!HermeticPyObjectTLS::get_state_slow());
  BOOST_TEST(!HermeticPyObjectTLS::get_state_fast());
  BOOST_TEST(!HermeticPyObjectTLS::get_state());
}

// Nested guards restore in order: leaving the inner one keeps hermetic mode on.
BOOST_AUTO_TEST_CASE(nested_guards_restore_in_order) {
  {
    EnableHermeticPyObject outer;
    {
      EnableHermeticPyObject inner;
      BOOST_TEST(HermeticPyObjectTLS::get_state_slow());
    }
    BOOST_TEST(HermeticPyObjectTLS::get_state_slow());  // the outer scope is still hermetic
  }
  BOOST_TEST(!HermeticPyObjectTLS::get_state_slow());
}

// A guard restores the value it found, not a fixed "off": turning the state off by hand
// inside an inner guard is undone when that guard ends.
BOOST_AUTO_TEST_CASE(guard_restores_the_value_it_found) {
  {
    EnableHermeticPyObject outer;
    {
      EnableHermeticPyObject inner;
      HermeticPyObjectTLS::set_state(false);
      BOOST_TEST(!HermeticPyObjectTLS::get_state_slow());
    }
    BOOST_TEST(HermeticPyObjectTLS::get_state_slow());
  }
  HermeticPyObjectTLS::set_state(true);
  {
    EnableHermeticPyObject g;
    BOOST_TEST(HermeticPyObjectTLS::get_state_slow());
  }
  BOOST_TEST(HermeticPyObjectTLS::get_state_slow());  // it was on before the guard
  HermeticPyObjectTLS::set_state(false);
}

// set_state(true) announces a hermetic user (have_state), set_state(false) does not,
// and the flag never goes back down by itself.
BOOST_AUTO_TEST_CASE(set_state_true_makes_have_state_true_for_good) {
  HermeticPyObjectTLS::unsafe_reset_have_state_for_testing();
  BOOST_TEST(!HermeticPyObjectTLS::have_state());
  HermeticPyObjectTLS::set_state(false);
  BOOST_TEST(!HermeticPyObjectTLS::have_state());
  HermeticPyObjectTLS::set_state(true);
  BOOST_TEST(HermeticPyObjectTLS::have_state());
  HermeticPyObjectTLS::set_state(false);
  BOOST_TEST(HermeticPyObjectTLS::have_state());  // monotonic: false -> true only
}

// init_state() alone raises have_state without turning any thread hermetic.
BOOST_AUTO_TEST_CASE(init_state_raises_have_state_only) {
  HermeticPyObjectTLS::unsafe_reset_have_state_for_testing();
  HermeticPyObjectTLS::init_state();
  BOOST_TEST(HermeticPyObjectTLS::have_state());
  BOOST_TEST(!HermeticPyObjectTLS::get_state_slow());
  BOOST_TEST(!HermeticPyObjectTLS::get_state_fast());
}

// The fast path answers false before any init_state(), even when this thread's TLS is
// on, and follows the TLS once the flag is up.
BOOST_AUTO_TEST_CASE(get_state_fast_is_false_before_init_state_then_follows_the_tls) {
  HermeticPyObjectTLS::unsafe_reset_have_state_for_testing();
  BOOST_TEST(!HermeticPyObjectTLS::get_state_fast());
  HermeticPyObjectTLS::set_state(true);
  // Reach "TLS on, flag down", which only a test can: the fast path skips the TLS.
  HermeticPyObjectTLS::unsafe_reset_have_state_for_testing();
  BOOST_TEST(HermeticPyObjectTLS::get_state_slow());
  BOOST_TEST(!HermeticPyObjectTLS::get_state_fast());
  HermeticPyObjectTLS::init_state();
  BOOST_TEST(HermeticPyObjectTLS::get_state_fast());
  HermeticPyObjectTLS::set_state(false);
  BOOST_TEST(!HermeticPyObjectTLS::get_state_fast());
  HermeticPyObjectTLS::set_state(true);
  BOOST_TEST(HermeticPyObjectTLS::get_state_fast());
  HermeticPyObjectTLS::set_state(false);
}

// The slow path reads the TLS whatever the flag says.
BOOST_AUTO_TEST_CASE(get_state_slow_always_follows_the_tls) {
  HermeticPyObjectTLS::unsafe_reset_have_state_for_testing();
  BOOST_TEST(!HermeticPyObjectTLS::get_state_slow());
  HermeticPyObjectTLS::set_state(true);
  BOOST_TEST(HermeticPyObjectTLS::get_state_slow());
  HermeticPyObjectTLS::unsafe_reset_have_state_for_testing();
  BOOST_TEST(HermeticPyObjectTLS::get_state_slow());
  HermeticPyObjectTLS::set_state(false);
  BOOST_TEST(!HermeticPyObjectTLS::get_state_slow());
}

// get_state() takes the path chosen at build time (REVIVE_HERMETIC_FAST_PATH); the two
// paths only differ with the TLS on and the flag down.
BOOST_AUTO_TEST_CASE(get_state_uses_the_configured_path) {
  HermeticPyObjectTLS::set_state(true);
  HermeticPyObjectTLS::unsafe_reset_have_state_for_testing();
#if REVIVE_HERMETIC_FAST_PATH
  BOOST_TEST(!HermeticPyObjectTLS::get_state());
#else
  BOOST_TEST(HermeticPyObjectTLS::get_state());
#endif
  HermeticPyObjectTLS::set_state(false);
}

// The state is per thread: another thread sees false while this one is hermetic, its
// own changes do not leak back, but the process-wide flag is shared.
BOOST_AUTO_TEST_CASE(state_is_per_thread, *utf::timeout(60)) {
  HermeticPyObjectTLS::unsafe_reset_have_state_for_testing();
  EnableHermeticPyObject g;
  const ThreadView view = view_from_another_thread();
  BOOST_TEST(!view.slow);
  BOOST_TEST(!view.fast);
  BOOST_TEST(view.have_state);  // raised by this thread's guard, seen by every thread

  std::thread t([] { HermeticPyObjectTLS::set_state(false); });
  t.join();
  BOOST_TEST(HermeticPyObjectTLS::get_state_slow());  // the other thread's write stayed there
}

BOOST_AUTO_TEST_SUITE_END()

// Run only by its own CTest entry, which expects the abort and its message: guards
// destroyed out of order would leave the thread hermetic for good (debug builds check).
BOOST_AUTO_TEST_SUITE(death_hermetic_guard_order, *utf::label("hermetic") *utf::disabled())

BOOST_AUTO_TEST_CASE(guards_destroyed_out_of_order_abort_with_a_message) {
  std::optional<EnableHermeticPyObject> outer, inner;
  outer.emplace();
  inner.emplace();
  outer.reset();  // out of order: aborts in a debug build
  inner.reset();
  BOOST_TEST_MESSAGE("not a debug build: no check");
}

BOOST_AUTO_TEST_SUITE_END()
