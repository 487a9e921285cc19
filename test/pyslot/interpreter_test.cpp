// Tests for revive/pyslot/py_interpreter.h: calls through an interpreter's vtable, and
// disarm (Note [Disarming a dead interpreter], T9 of docs/reference.md).
#include <atomic>
#include <cstddef>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "revive/pyslot/py_interpreter.h"
#include "revive/pyslot/py_object_slot.h"
#include "fake_interpreter.h"
#include "revive_test.h"

namespace {

using revive::testing::DecrefCall;
using revive::testing::RecordingVTable;
using revive::testing::FakeWrapper;

using revive::PyObject;
using revive::impl::PyInterpreter;
using revive::impl::PyInterpreterStatus;
using revive::impl::PyInterpreterVTable;
using revive::impl::PyObjectSlot;

// Compile-time contracts: an interpreter is identity (slots point at it), and making one
// cannot fail.
static_assert(!std::is_copy_constructible_v<PyInterpreter> &&
                  !std::is_copy_assignable_v<PyInterpreter>,
              "slots tag themselves with the interpreter's address");
static_assert(std::is_nothrow_constructible_v<PyInterpreter, const PyInterpreterVTable*>);
static_assert(std::is_abstract_v<PyInterpreterVTable>,
              "every interpreter must supply every entry");

// The example in py_interpreter.h's header comment: a vtable that only has a name.
struct Named final : PyInterpreterVTable {
  std::string name() const override { return "named"; }
  void decref(PyObject* /*pyobj*/, bool /*has_pyobj_slot*/) const override {}
  std::string type_name(const PyObject* /*pyobj*/) const override { return "Named"; }
};

const std::string kDiedTypeName =
    "attempted to call type_name on a Tensor with nontrivial PyObject after corresponding "
    "interpreter died";

}  // namespace

BOOST_FIXTURE_TEST_SUITE(py_interpreter, revive::testing::LeakCheck, *utf::label("interpreter-tag") *utf::label("disarm"))

// The example in py_interpreter.h's header comment: name() before and after disarm.
BOOST_AUTO_TEST_CASE(header_example_name_changes_at_disarm) {
  static Named vt;
  PyInterpreter i(&vt);
  BOOST_TEST(i->name() == "named");
  i.disarm();
  BOOST_TEST(i->name() == "<unloaded interpreter>");
}

// operator-> reaches the interpreter's own vtable, and every entry passes its arguments
// through unchanged (both values of has_pyobj_slot).
BOOST_AUTO_TEST_CASE(calls_reach_the_interpreters_own_vtable) {
  RecordingVTable vt("interp-0");
  PyInterpreter i(&vt);
  FakeWrapper a;
  FakeWrapper b;
  BOOST_TEST(i.operator->() == &vt);
  BOOST_TEST(i->name() == "interp-0");
  BOOST_TEST(vt.name_calls() == 1);
  i->decref(a.get(), /*has_pyobj_slot=*/true);
  i->decref(b.get(), /*has_pyobj_slot=*/false);
  BOOST_TEST_REQUIRE(vt.decrefs().size() == 2u);
  BOOST_TEST(vt.decrefs()[0].pyobj == a.get());
  BOOST_TEST(vt.decrefs()[0].has_pyobj_slot);
  BOOST_TEST(vt.decrefs()[1].pyobj == b.get());
  BOOST_TEST(!vt.decrefs()[1].has_pyobj_slot);
  BOOST_TEST(i->type_name(a.get()) == "FakeTensor");
  BOOST_TEST_REQUIRE(vt.type_name_args().size() == 1u);
  BOOST_TEST(vt.type_name_args()[0] == a.get());
}

// A new interpreter is armed; disarm() points it at the shared static no-op vtable.
BOOST_AUTO_TEST_CASE(disarm_swaps_in_the_noop_vtable) {
  RecordingVTable vt("interp-0");
  PyInterpreter i(&vt);
  BOOST_TEST(!i.is_disarmed());
  i.disarm();
  BOOST_TEST(i.is_disarmed());
  BOOST_TEST(i.operator->() == &revive::impl::noop_vtable());
  BOOST_TEST(i->name() == "<unloaded interpreter>");
  BOOST_TEST(vt.total_calls() == 0u);  // name() above did not reach the dead vtable
}

// After disarm, decref does nothing: the dead vtable records nothing (zombies leak on purpose).
BOOST_AUTO_TEST_CASE(disarmed_decref_does_nothing) {
  RecordingVTable vt("interp-0");
  PyInterpreter i(&vt);
  FakeWrapper w;
  i.disarm();
  i->decref(w.get(), /*has_pyobj_slot=*/true);
  i->decref(w.get(), /*has_pyobj_slot=*/false);
  BOOST_TEST(vt.decrefs().empty());
  BOOST_TEST(vt.total_calls() == 0u);
}

// After disarm, type_name throws the "interpreter died" error instead of running dead code.
BOOST_AUTO_TEST_CASE(disarmed_type_name_throws_the_interpreter_died_error) {
  RecordingVTable vt("interp-0");
  PyInterpreter i(&vt);
  FakeWrapper w;
  i.disarm();
  BOOST_CHECK_EXCEPTION(static_cast<void>(i->type_name(w.get())), revive::Error,
                        revive::testing::message_is(kDiedTypeName));
  BOOST_TEST(vt.type_name_args().empty());
}

// The no-op vtable is one static object shared by every disarmed interpreter, and it
// answers the same without any interpreter.
BOOST_AUTO_TEST_CASE(noop_vtable_is_shared_by_every_disarmed_interpreter) {
  RecordingVTable vt0("interp-0");
  RecordingVTable vt1("interp-1");
  PyInterpreter i0(&vt0);
  PyInterpreter i1(&vt1);
  i0.disarm();
  i1.disarm();
  BOOST_TEST(i0.operator->() == i1.operator->());
  const PyInterpreterVTable& noop = revive::impl::noop_vtable();
  BOOST_TEST(&noop == &revive::impl::noop_vtable());
  BOOST_TEST(noop.name() == "<unloaded interpreter>");
  BOOST_CHECK_EXCEPTION(static_cast<void>(noop.type_name(nullptr)), revive::Error,
                        revive::testing::message_is(kDiedTypeName));
}

// disarm() is irreversible and idempotent.
BOOST_AUTO_TEST_CASE(disarm_twice_stays_disarmed) {
  RecordingVTable vt("interp-0");
  PyInterpreter i(&vt);
  i.disarm();
  i.disarm();
  BOOST_TEST(i.is_disarmed());
  BOOST_TEST(i->name() == "<unloaded interpreter>");
  BOOST_TEST(vt.total_calls() == 0u);
}

// Disarming one interpreter leaves every other interpreter's vtable in place.
BOOST_AUTO_TEST_CASE(disarm_leaves_other_interpreters_armed) {
  RecordingVTable dead_vt("interp-0");
  RecordingVTable live_vt("interp-1");
  PyInterpreter dead(&dead_vt);
  PyInterpreter live(&live_vt);
  FakeWrapper w;
  dead.disarm();
  BOOST_TEST(!live.is_disarmed());
  BOOST_TEST(live->name() == "interp-1");
  live->decref(w.get(), false);
  BOOST_TEST(live_vt.decrefs().size() == 1u);
  BOOST_TEST(dead_vt.total_calls() == 0u);
}

// A slot that owns a wrapper of a disarmed interpreter is destroyed without calling the
// dead vtable; the wrapper is leaked on purpose (invariant 12 of §7).
BOOST_AUTO_TEST_CASE(slot_owning_a_wrapper_of_a_disarmed_interpreter_dies_quietly) {
  RecordingVTable vt("interp-0");
  PyInterpreter i(&vt);
  FakeWrapper w;
  {
    PyObjectSlot slot;
    slot.init_pyobj(&i, w.get(), PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
    slot.set_owns_pyobj(true);  // Z: a zombie the slot holds
    i.disarm();
  }  // ~PyObjectSlot -> maybe_destroy_pyobj -> the no-op decref
  BOOST_TEST(vt.total_calls() == 0u);
}

// The same through an explicit maybe_destroy_pyobj: the slot still forgets the wrapper
// (so nothing is released twice) and keeps its tag.
BOOST_AUTO_TEST_CASE(maybe_destroy_pyobj_after_disarm_forgets_without_calling) {
  RecordingVTable vt("interp-0");
  PyInterpreter i(&vt);
  FakeWrapper w;
  PyObjectSlot slot;
  slot.init_pyobj(&i, w.get(), PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  slot.set_owns_pyobj(true);
  i.disarm();
  slot.maybe_destroy_pyobj();
  BOOST_TEST(!slot.owns_pyobj());
  BOOST_TEST(slot._unchecked_untagged_pyobj() == nullptr);
  BOOST_TEST(slot.pyobj_interpreter() == &i);
  BOOST_TEST(vt.total_calls() == 0u);
}

// Disarm racing with a thread that keeps calling decref: once that thread has seen the
// interpreter disarmed, none of its later calls reaches the dead vtable.  (Run under
// ThreadSanitizer, this also checks the release/acquire pair on the vtable pointer.)
BOOST_AUTO_TEST_CASE(no_call_reaches_the_dead_vtable_once_disarm_is_seen, *utf::timeout(60)) {
  RecordingVTable vt("interp-0");  // only the worker thread calls it
  PyInterpreter i(&vt);
  FakeWrapper w;
  std::atomic<bool> started{false};
  std::size_t calls_when_seen = 0;
  std::size_t calls_at_end = 0;
  std::thread worker([&] {
    started.store(true, std::memory_order_release);
    while (!i.is_disarmed()) {
      i->decref(w.get(), true);
    }
    calls_when_seen = vt.decrefs().size();
    for (int n = 0; n < 1000; ++n) {
      i->decref(w.get(), true);
    }
    calls_at_end = vt.decrefs().size();
  });
  while (!started.load(std::memory_order_acquire)) {
    std::this_thread::yield();
  }
  i.disarm();
  worker.join();
  BOOST_TEST(calls_at_end == calls_when_seen);
}

BOOST_AUTO_TEST_SUITE_END()
