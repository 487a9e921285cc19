// How preservation hides C++ owners from the cycle collector: a resurrectable wrapper
// traverses nothing, a zombie is a root.  See Note [Cycle collection and preservation].
#include <boost/test/unit_test.hpp>

#include "revive/pictures/inspect.h"
#include "revive_test.h"
#include "tracker.h"

using namespace revive;
using namespace revive::interp;
using namespace revive::binding;
using namespace revive::pictures;
using namespace revive::trace;

namespace {

struct Fixture : revive::testing::WithInterpreter {
  const PyType* node = I->new_class("Node", I->object_type());

  std::pair<Ref, Ref> make_cycle() { return revive::testing::make_cycle(*I, node); }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(gc_preservation, Fixture, *utf::label("gc") *utf::label("resurrection"))

// A resurrectable wrapper reports no references: the cycle through it stays, because
// C++ acts as its root; the collector clears nothing.
BOOST_AUTO_TEST_CASE(resurrectable_wrapper_hides_its_cycle) {
  GcDisabled no_gc(*I);
  EventLog log;
  Tensor held = Tensor::empty(2);  // C++ owner
  {
    Ref x = I->wrap(held);
    I->setattr(x, "self", x);
  }
  I->set_observer(&log);
  BOOST_TEST(I->gc_collect() == 0u);
  I->set_observer(nullptr);
  BOOST_TEST(log.kinds() == std::vector<EventKind>{EventKind::GcCollect});
  BOOST_TEST(inspect(*I, held.unsafeGetTensorImpl()).state == SlotState::L);
  // Once C++ lets go, the wrapper is ordinary garbage.
  held = Tensor();
  BOOST_TEST(I->gc_collect() == 1u);
}

// A zombie's one reference is the slot's: an outside reference, so a zombie is a root
// and whatever it holds survives every collection.
BOOST_AUTO_TEST_CASE(zombie_is_a_root) {
  GcDisabled no_gc(*I);
  auto [m, t] = revive::testing::make_tracker(*I);
  Tensor held = Tensor::empty(2);
  {
    Ref x = I->wrap(held);
    auto [a, b] = make_cycle();
    I->setattr(a, "tracker", t);
    I->setattr(x, "cycle", a);
  }
  t.reset();
  BOOST_TEST(inspect(*I, held.unsafeGetTensorImpl()).state == SlotState::Z);
  BOOST_TEST(I->gc_collect() == 0u);
  BOOST_TEST(!*m);
  held = Tensor();  // T6: the zombie dies and drops the cycle: garbage now
  BOOST_TEST(!*m);
  BOOST_TEST(I->gc_collect() == 3u);
  BOOST_TEST(*m);
}

// Tensor and storage wrappers are tracked from birth, like any object with a traverse.
BOOST_AUTO_TEST_CASE(wrappers_are_tracked) {
  Ref t = I->empty(2);
  Ref s = I->new_storage(8);
  BOOST_TEST(I->gc_is_tracked(t));
  BOOST_TEST(I->gc_is_tracked(s));
}

// Resurrection in a dealloc does not untrack: the zombie stays in the lists.
BOOST_AUTO_TEST_CASE(resurrected_wrapper_stays_tracked) {
  Tensor held = Tensor::empty(2);
  Ref x = I->wrap(held);
  x.reset();
  Ref again = I->wrap(held);
  BOOST_TEST(I->gc_is_tracked(again));
}

BOOST_AUTO_TEST_SUITE_END()
