// Python weak references: deref, clearing at death, callbacks.
#include <boost/test/unit_test.hpp>

#include "revive_test.h"

using namespace revive;
using namespace revive::interp;
using revive::testing::message_is;

using Fixture = revive::testing::WithRuntime;

BOOST_FIXTURE_TEST_SUITE(weakrefs, Fixture, *utf::label("weakref"))

// A weakref reads its referent while it lives and None after; the callback runs once.
BOOST_AUTO_TEST_CASE(weakref_is_cleared_and_calls_back_at_death) {
  Ref o = I->new_object(I->new_class("C", I->object_type()));
  int calls = 0;
  Ref w = I->weakref(o, [&calls](Runtime&, const Ref&) { ++calls; });
  BOOST_TEST(I->deref(w) == o);
  o.reset();
  BOOST_TEST(calls == 1);
  BOOST_TEST(I->deref(w).is_none());
}

// A weakref that dies first unlinks itself; the referent's death then calls nothing.
BOOST_AUTO_TEST_CASE(dead_weakref_is_not_called_back) {
  Ref o = I->new_object(I->new_class("C", I->object_type()));
  int calls = 0;
  Ref w = I->weakref(o, [&calls](Runtime&, const Ref&) { ++calls; });
  w.reset();
  o.reset();
  BOOST_TEST(calls == 0);
}

// Weak references to weak references are refused, as in CPython.
BOOST_AUTO_TEST_CASE(weakref_to_weakref_is_a_type_error, *utf::label("errors")) {
  Ref o = I->new_object(I->new_class("C", I->object_type()));
  Ref w = I->weakref(o);
  BOOST_CHECK_EXCEPTION((void)I->weakref(w), PythonError,
                        message_is("TypeError: cannot create weak reference to 'weakref' object"));
  BOOST_CHECK_EXCEPTION((void)I->deref(o), PythonError,
                        message_is("TypeError: 'C' object is not callable"));
}

BOOST_AUTO_TEST_SUITE_END()
