// Plain objects: classes, __dict__, __slots__, finalizers, globals.
#include <boost/test/unit_test.hpp>

#include "revive_test.h"

using namespace revive;
using namespace revive::interp;
using revive::testing::message_is;

using Fixture = revive::testing::WithRuntime;

BOOST_FIXTURE_TEST_SUITE(objects, Fixture, *utf::label("objects"))

// The header example of runtime.h: a bare runtime, no torch loaded.
BOOST_AUTO_TEST_CASE(runtime_header_example) {
  const PyType* point = I->new_class("Point", I->object_type());
  Ref o = I->new_object(point);
  I->setattr(o, "x", std::int64_t{1});
  BOOST_TEST(I->live_objects() == 1u);
  o.reset();  // refcount 0: subtype_dealloc, freed
  BOOST_TEST(I->live_objects() == 0u);
}

// The header example of object.h.
BOOST_AUTO_TEST_CASE(attributes_go_to_the_dict) {
  Ref o = I->new_object(I->new_class("Point", I->object_type()));
  I->setattr(o, "x", std::int64_t{1});
  I->setattr(o, "name", std::string("p"));
  BOOST_TEST(std::get<std::int64_t>(I->getattr(o, "x")) == 1);
  BOOST_TEST(std::get<std::string>(I->getattr(o, "name")) == "p");
  I->delattr(o, "x");
  BOOST_TEST(!I->hasattr(o, "x"));
}

// A class with __slots__ and no dict-bearing base has no __dict__.
BOOST_AUTO_TEST_CASE(slots_only_class_rejects_other_attributes) {
  const PyType* cls = I->new_class("S", I->object_type(), ClassSpec{std::vector<std::string>{"a"}, {}});
  BOOST_TEST(!cls->has_dict);
  Ref o = I->new_object(cls);
  I->setattr(o, "a", std::int64_t{5});
  BOOST_TEST(std::get<std::int64_t>(I->getattr(o, "a")) == 5);
  BOOST_CHECK_EXCEPTION(I->setattr(o, "b", std::int64_t{1}), PythonError,
                        message_is("AttributeError: 'S' object has no attribute 'b'"));
}

// Subclass slots are laid out after the base's; each level keeps its own.
BOOST_AUTO_TEST_CASE(slots_of_every_level_are_distinct) {
  const PyType* a = I->new_class("A", I->object_type(), ClassSpec{std::vector<std::string>{"x"}, {}});
  const PyType* b = I->new_class("B", a, ClassSpec{std::vector<std::string>{"y"}, {}});
  BOOST_TEST(b->total_slots() == 2u);
  BOOST_TEST(*b->find_slot("x") == 0u);
  BOOST_TEST(*b->find_slot("y") == 1u);
  BOOST_TEST(b->is_subtype_of(a));
  BOOST_TEST(!a->is_subtype_of(b));
}

// Dropping the last reference to an object releases what its dict holds.
BOOST_AUTO_TEST_CASE(dealloc_releases_dict_and_slot_values) {
  int runs = 0;
  const PyType* tracker = I->new_class("Tracker", I->object_type(),
                                       ClassSpec{std::nullopt, [&runs](Runtime&, const Ref&) { ++runs; }});
  const PyType* holder = I->new_class("Holder", I->object_type(), ClassSpec{std::vector<std::string>{"s"}, {}});
  const PyType* dholder = I->new_class("DHolder", I->object_type());
  Ref h = I->new_object(holder);
  Ref d = I->new_object(dholder);
  I->setattr(h, "s", I->new_object(tracker));
  I->setattr(d, "t", I->new_object(tracker));
  BOOST_TEST(runs == 0);
  h.reset();
  BOOST_TEST(runs == 1);
  d.reset();
  BOOST_TEST(runs == 2);
  BOOST_TEST(I->live_objects() == 0u);
}

// An exception in __del__ is reported as a warning and ignored, as CPython does.
BOOST_AUTO_TEST_CASE(exception_in_finalizer_is_reported_and_ignored) {
  const PyType* bad = I->new_class("Bad", I->object_type(),
                                   ClassSpec{std::nullopt, [](Runtime&, const Ref&) { throw std::runtime_error("boom"); }});
  Ref o = I->new_object(bad);
  o.reset();
  BOOST_TEST_REQUIRE(I->warnings().size() == 1u);
  BOOST_TEST(I->warnings()[0] == "Exception ignored in: <function Bad.__del__>: boom");
  BOOST_TEST(I->live_objects() == 0u);
}

// Globals own their values until deleted; an unknown name is a NameError.
BOOST_AUTO_TEST_CASE(globals_own_their_values) {
  I->set_global("o", I->new_object(I->new_class("C", I->object_type())));
  BOOST_TEST(I->live_objects() == 1u);
  I->del_global("o");
  BOOST_TEST(I->live_objects() == 0u);
  BOOST_CHECK_EXCEPTION((void)I->get_global("o"), PythonError,
                        message_is("NameError: name 'o' is not defined"));
}

// Copying a Ref increfs, destroying it decrefs.
BOOST_AUTO_TEST_CASE(refs_count_references) {
  Ref o = I->new_object(I->new_class("C", I->object_type()));
  {
    Ref copy = o;
    BOOST_TEST(I->refcnt(o.get()) == 2);
  }
  BOOST_TEST(I->refcnt(o.get()) == 1);
}

BOOST_AUTO_TEST_SUITE_END()
