// The cycle collector on plain objects, in a bare runtime (no torch): what it finds and
// in which order it acts.  See Note [The cycle collector].  How preservation hides C++
// owners from it is test/binding/gc_preservation_test.cpp.
#include <boost/test/unit_test.hpp>

#include "revive_test.h"
#include "tracker.h"

using namespace revive;
using namespace revive::interp;
using revive::testing::message_is;

namespace {

struct Fixture : revive::testing::WithRuntime {
  const PyType* node = I->new_class("Node", I->object_type());

  std::pair<Ref, Ref> make_cycle() { return revive::testing::make_cycle(*I, node); }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(gc_collector, Fixture, *utf::label("gc"))

// Reference counting alone leaves a cycle alive; a collection frees it.
BOOST_AUTO_TEST_CASE(cycle_survives_refcounting_and_dies_in_collect) {
  GcDisabled no_gc(*I);
  const auto before = I->live_objects();
  {
    auto [a, b] = make_cycle();
  }
  BOOST_TEST(I->live_objects() == before + 2);
  BOOST_TEST(I->gc_collect() == 2u);
  BOOST_TEST(I->live_objects() == before);
  BOOST_TEST(I->gc_collect() == 0u);
}

// Outside references are roots: nothing they reach is collected.
BOOST_AUTO_TEST_CASE(referenced_cycle_is_kept) {
  GcDisabled no_gc(*I);
  auto [a, b] = make_cycle();
  b.reset();
  BOOST_TEST(I->gc_collect() == 0u);
  Ref peer = std::get<Ref>(I->getattr(a, "peer"));
  BOOST_TEST(std::get<Ref>(I->getattr(peer, "peer")) == a);
  peer.reset();
  I->delattr(a, "peer");  // break the cycle by hand: refcounting frees the rest
}

// An object that only garbage refers to is unreachable too, though it is in no cycle
// (the situation of PyTorch #75932).
BOOST_AUTO_TEST_CASE(object_held_only_by_garbage_is_collected) {
  GcDisabled no_gc(*I);
  auto [m, t] = revive::testing::make_tracker(*I);
  {
    auto [a, b] = make_cycle();
    I->setattr(b, "leaf", t);
  }
  t.reset();
  BOOST_TEST(!*m);
  BOOST_TEST(I->gc_collect() == 3u);
  BOOST_TEST(*m);
}

// Objects are tracked from birth; weakrefs are not (model simplification); objects
// leave the lists when they die.  (Wrappers: test/binding/gc_preservation_test.cpp.)
BOOST_AUTO_TEST_CASE(what_is_tracked) {
  Ref o = I->new_object(node);
  Ref w = I->weakref(o);
  BOOST_TEST(I->gc_is_tracked(o));
  BOOST_TEST(!I->gc_is_tracked(w));
}

// Collection order of CPython: every weakref is cleared before any callback runs, and
// callbacks run before finalizers.
BOOST_AUTO_TEST_CASE(weakrefs_cleared_then_callbacks_then_finalizers) {
  GcDisabled no_gc(*I);
  std::vector<std::string> order;
  const PyType* fin = I->new_class("Fin", I->object_type(),
                                   ClassSpec{std::nullopt, [&order](Runtime&, const Ref&) {
                                               order.push_back("__del__");
                                             }});
  auto [a, b] = revive::testing::make_cycle(*I, fin);
  Ref wa, wb;
  auto callback = [&](Runtime& interp, const Ref&) {
    // Both weakrefs already read None when the first callback runs.
    order.push_back(interp.deref(wa).is_none() && interp.deref(wb).is_none() ? "callback, both cleared"
                                                                             : "callback, one still set");
  };
  wa = I->weakref(a, callback);
  wb = I->weakref(b, callback);
  a.reset();
  b.reset();
  BOOST_TEST(I->gc_collect() == 2u);
  const std::vector<std::string> expected{"callback, both cleared", "callback, both cleared",
                                          "__del__", "__del__"};
  BOOST_TEST(order == expected, boost::test_tools::per_element());
}

// PEP 442: a finalizer that stores a reference to its object resurrects it, and
// everything it reaches; the collection frees none of them; __del__ never runs twice.
BOOST_AUTO_TEST_CASE(finalizer_resurrection_aborts_collection_of_what_it_reaches) {
  GcDisabled no_gc(*I);
  int calls = 0;
  const PyType* phoenix = I->new_class(
      "Phoenix", I->object_type(), ClassSpec{std::nullopt, [&calls](Runtime& interp, const Ref& self) {
                                               ++calls;
                                               interp.set_global("saved", self);
                                             }});
  const auto before = I->live_objects();
  {
    Ref a = I->new_object(phoenix);
    Ref b = I->new_object(node);
    I->setattr(a, "peer", b);
    I->setattr(b, "peer", a);
  }
  BOOST_TEST(I->gc_collect() == 2u);
  BOOST_TEST(calls == 1);
  BOOST_TEST(I->live_objects() == before + 2);  // both survived
  I->del_global("saved");
  BOOST_TEST(I->gc_collect() == 2u);  // garbage again: now freed, __del__ not re-run
  BOOST_TEST(calls == 1);
  BOOST_TEST(I->live_objects() == before);
}

// Collecting a young generation leaves older ones alone; survivors get older.
BOOST_AUTO_TEST_CASE(generations) {
  GcDisabled no_gc(*I);
  {
    auto [a, b] = make_cycle();
    BOOST_TEST(I->gc_collect(0) == 0u);  // alive: promoted to generation 1
  }
  BOOST_TEST(I->gc_collect(0) == 0u);  // the garbage is in generation 1 now
  BOOST_TEST(I->gc_collect(1) == 2u);
  BOOST_CHECK_EXCEPTION((void)I->gc_collect(3), PythonError, message_is("ValueError: invalid generation"));
}

// With the collector enabled, allocations beyond the threshold trigger a collection at
// the next allocating operation; disabled, they never do.
BOOST_AUTO_TEST_CASE(automatic_collection_follows_threshold_and_switch) {
  I->gc_set_threshold(3);
  const auto before = I->live_objects();
  I->gc_disable();
  for (int i = 0; i < 10; ++i) (void)make_cycle();
  BOOST_TEST(I->live_objects() == before + 20);
  I->gc_enable();
  BOOST_TEST(I->gc_isenabled());
  Ref trigger = I->new_object(node);  // a safe point: collects first
  BOOST_TEST(I->live_objects() == before + 1);
  trigger.reset();
  BOOST_CHECK_EXCEPTION(I->gc_set_threshold(-1), Error,
                        message_is("gc.set_threshold(): thresholds must not be negative"));
}

// A collection asked for from a finalizer that a collection runs does nothing.
BOOST_AUTO_TEST_CASE(collect_from_a_finalizer_is_ignored) {
  GcDisabled no_gc(*I);
  std::size_t nested = 99;
  const PyType* fin = I->new_class(
      "Fin", I->object_type(),
      ClassSpec{std::nullopt, [&nested](Runtime& interp, const Ref&) { nested = interp.gc_collect(); }});
  {
    Ref a = I->new_object(fin);
    I->setattr(a, "self", a);
  }
  BOOST_TEST(I->gc_collect() == 1u);
  BOOST_TEST(nested == 0u);
}

// Teardown runs a last full collection: a cycle only the globals reached is freed,
// with its finalizers, not abandoned.
BOOST_AUTO_TEST_CASE(teardown_collects_cycles) {
  auto J = Runtime::create("J");
  auto [m, t] = revive::testing::make_tracker(*J);
  const PyType* n = J->new_class("Node", J->object_type());
  Ref a = J->new_object(n);
  J->gc_disable();  // teardown collects anyway
  J->setattr(a, "self", a);
  J->setattr(a, "tracker", t);
  J->set_global("a", a);
  a.reset();
  t.reset();
  const auto abandoned = Runtime::abandoned_object_count();
  J.reset();
  BOOST_TEST(*m);
  BOOST_TEST(Runtime::abandoned_object_count() == abandoned);
}

BOOST_AUTO_TEST_SUITE_END()
