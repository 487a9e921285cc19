// Tests for revive/pyslot/safe_py_object.h: an owning PyObject* that gives its reference
// back through its interpreter's vtable, once, and never into a dead interpreter.
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "revive/pyslot/py_interpreter.h"
#include "revive/pyslot/safe_py_object.h"
#include "fake_interpreter.h"
#include "revive_test.h"

namespace {

using revive::testing::DecrefCall;
using revive::testing::RecordingVTable;
using revive::testing::FakeInterpreter;

using revive::PyObject;
using revive::impl::PyInterpreter;
using revive::impl::PyInterpreterVTable;
using revive::impl::SafePyObject;

// Compile-time contracts: one owner at a time, and moving never throws (so containers
// of SafePyObject move rather than copy).
static_assert(!std::is_copy_constructible_v<SafePyObject> &&
                  !std::is_copy_assignable_v<SafePyObject>,
              "a copy would need an incref under the GIL");
static_assert(std::is_nothrow_move_constructible_v<SafePyObject> &&
                  std::is_nothrow_move_assignable_v<SafePyObject>);
static_assert(std::is_nothrow_destructible_v<SafePyObject>);

struct FakeObject {
  alignas(16) unsigned char bytes[16]{};
  [[nodiscard]] PyObject* get() noexcept { return reinterpret_cast<PyObject*>(bytes); }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(safe_py_object, revive::testing::LeakCheck, *utf::label("refcount") *utf::label("disarm"))

// The example in safe_py_object.h's header comment: steal, borrow back, give back once.
BOOST_AUTO_TEST_CASE(header_example_destructor_decrefs_once_without_a_slot) {
  FakeInterpreter i("interp-0");
  FakeObject obj;
  {
    SafePyObject h(obj.get(), &i.interp);
    BOOST_TEST(h.ptr(&i.interp) == obj.get());
    BOOST_TEST(i.vtable.decrefs().empty());  // borrowing changes nothing
  }
  BOOST_TEST_REQUIRE(i.vtable.decrefs().size() == 1u);
  BOOST_TEST(i.vtable.decrefs()[0].pyobj == obj.get());
  BOOST_TEST(!i.vtable.decrefs()[0].has_pyobj_slot);  // not the slot's reference
}

// pyinterpreter() is the interpreter the object was created on.
BOOST_AUTO_TEST_CASE(pyinterpreter_is_the_creating_interpreter) {
  FakeInterpreter i("interp-0");
  FakeObject obj;
  SafePyObject h(obj.get(), &i.interp);
  BOOST_TEST(&h.pyinterpreter() == &i.interp);
  static_cast<void>(h.release());  // nothing to give back in this case
}

// ptr() from another interpreter throws, naming both, and gives nothing back early.
BOOST_AUTO_TEST_CASE(ptr_from_another_interpreter_throws) {
  FakeInterpreter i("interp-0");
  FakeInterpreter j("interp-1");
  FakeObject obj;
  {
    SafePyObject h(obj.get(), &i.interp);
    BOOST_CHECK_EXCEPTION(static_cast<void>(h.ptr(&j.interp)), revive::Error,
                          revive::testing::message_is(
                              "SafePyObject created on interpreter interp-0 cannot be used from "
                              "interpreter interp-1"));
    BOOST_TEST(i.vtable.decrefs().empty());
    BOOST_TEST(h.ptr(&i.interp) == obj.get());  // still owned and usable from its own
  }
  BOOST_TEST(i.vtable.decrefs().size() == 1u);
  BOOST_TEST(j.vtable.decrefs().empty());
}

// Move construction transfers the reference: one decref in total, by the new owner.
BOOST_AUTO_TEST_CASE(move_construction_transfers_ownership) {
  FakeInterpreter i("interp-0");
  FakeObject obj;
  {
    SafePyObject from(obj.get(), &i.interp);
    {
      SafePyObject to(std::move(from));
      BOOST_TEST(to.ptr(&i.interp) == obj.get());
      BOOST_TEST(&to.pyinterpreter() == &i.interp);
    }  // ~to gives the reference back
    BOOST_TEST(i.vtable.decrefs().size() == 1u);
  }  // ~from: moved from, nothing to give back
  BOOST_TEST_REQUIRE(i.vtable.decrefs().size() == 1u);
  BOOST_TEST(i.vtable.decrefs()[0].pyobj == obj.get());
}

// Move assignment gives back the old object at once (through its own interpreter) and
// takes over the new one with its interpreter.
BOOST_AUTO_TEST_CASE(move_assignment_releases_the_old_object_and_takes_the_new) {
  FakeInterpreter i("interp-0");
  FakeInterpreter j("interp-1");
  FakeObject old_obj;
  FakeObject new_obj;
  {
    SafePyObject target(old_obj.get(), &i.interp);
    SafePyObject source(new_obj.get(), &j.interp);
    target = std::move(source);
    BOOST_TEST_REQUIRE(i.vtable.decrefs().size() == 1u);
    BOOST_TEST(i.vtable.decrefs()[0].pyobj == old_obj.get());
    BOOST_TEST(j.vtable.decrefs().empty());
    BOOST_TEST(&target.pyinterpreter() == &j.interp);
    BOOST_TEST(target.ptr(&j.interp) == new_obj.get());
  }
  BOOST_TEST(i.vtable.decrefs().size() == 1u);
  BOOST_TEST_REQUIRE(j.vtable.decrefs().size() == 1u);
  BOOST_TEST(j.vtable.decrefs()[0].pyobj == new_obj.get());
}

// Self move assignment keeps the reference (no early decref, one at the end).
BOOST_AUTO_TEST_CASE(self_move_assignment_keeps_the_reference) {
  FakeInterpreter i("interp-0");
  FakeObject obj;
  {
    SafePyObject h(obj.get(), &i.interp);
    SafePyObject& alias = h;
    h = std::move(alias);
    BOOST_TEST(i.vtable.decrefs().empty());
    BOOST_TEST(h.ptr(&i.interp) == obj.get());
  }
  BOOST_TEST(i.vtable.decrefs().size() == 1u);
}

// release() hands the reference to the caller: the destructor then gives nothing back.
BOOST_AUTO_TEST_CASE(release_hands_the_reference_out) {
  FakeInterpreter i("interp-0");
  FakeObject obj;
  {
    SafePyObject h(obj.get(), &i.interp);
    BOOST_TEST(h.release() == obj.get());
    BOOST_TEST(h.release() == nullptr);  // handed out once
    BOOST_TEST(h.ptr(&i.interp) == nullptr);
  }
  BOOST_TEST(i.vtable.decrefs().empty());
}

// A SafePyObject whose interpreter was disarmed dies without calling the dead vtable.
BOOST_AUTO_TEST_CASE(disarmed_interpreters_object_is_leaked_quietly) {
  FakeInterpreter i("interp-0");
  FakeObject obj;
  {
    SafePyObject h(obj.get(), &i.interp);
    i.interp.disarm();
  }
  BOOST_TEST(i.vtable.decrefs().empty());
}

// A disarmed interpreter's name still appears in the wrong-interpreter error.
BOOST_AUTO_TEST_CASE(wrong_interpreter_error_after_disarm_names_the_unloaded_interpreter) {
  FakeInterpreter dead("interp-0");
  FakeInterpreter live("interp-1");
  FakeObject obj;
  SafePyObject h(obj.get(), &dead.interp);
  dead.interp.disarm();
  BOOST_CHECK_EXCEPTION(static_cast<void>(h.ptr(&live.interp)), revive::Error,
                        revive::testing::message_is(
                            "SafePyObject created on interpreter <unloaded interpreter> cannot "
                            "be used from interpreter interp-1"));
}

BOOST_AUTO_TEST_SUITE_END()
