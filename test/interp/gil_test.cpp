// The fake GIL: re-entrant for its owner, exclusive across threads.
#include <boost/test/unit_test.hpp>

#include <thread>

#include "revive/interp/gil.h"
#include "revive_test.h"

using revive::interp::Gil;
using revive::interp::GilGuard;

BOOST_FIXTURE_TEST_SUITE(gil, revive::testing::LeakCheck, *utf::label("gil"))

// The header's example: nested guards on one thread, released at the outer end.
BOOST_AUTO_TEST_CASE(gil_is_reentrant_for_the_thread_that_holds_it) {
  Gil g;
  {
    GilGuard a(g);
    GilGuard b(g);
    BOOST_TEST(g.held_by_this_thread());
  }
  BOOST_TEST(!g.held_by_this_thread());
}

// Another thread waits until the owner releases it completely.
BOOST_AUTO_TEST_CASE(gil_excludes_other_threads_until_fully_released, *utf::timeout(30)) {
  Gil g;
  int shared = 0;
  std::thread other;
  {
    GilGuard a(g);
    {
      GilGuard b(g);
      other = std::thread([&] {
        GilGuard c(g);
        shared += 1;  // a data race (TSan would say so) if the GIL did not exclude
      });
      shared += 10;
    }
    shared += 100;  // still held through `a`
  }
  other.join();
  BOOST_TEST(shared == 111);
  BOOST_TEST(!g.held_by_this_thread());
}

BOOST_AUTO_TEST_SUITE_END()
