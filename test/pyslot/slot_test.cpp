// Tests for revive/pyslot/py_object_slot.h: the interpreter tag, the recorded wrapper and
// its owns bit (docs/reference.md §4).  pyslot knows nothing of tensors, so these
// tests use their own recording vtable and fake wrapper pointers that the slot never
// dereferences.
#include <array>
#include <cstddef>
#include <latch>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "revive/pyslot/hermetic_tls.h"
#include "revive/pyslot/py_interpreter.h"
#include "revive/pyslot/move_out.h"
#include "revive/pyslot/py_object_slot.h"
#include "fake_interpreter.h"
#include "revive_test.h"

namespace {

using revive::testing::DecrefCall;
using revive::testing::RecordingVTable;
using revive::testing::FakeInterpreter;
using revive::testing::FakeWrapper;

using revive::PyObject;
using revive::impl::PyInterpreter;
using revive::impl::PyInterpreterStatus;
using revive::impl::PyInterpreterVTable;
using revive::impl::PyObjectSlot;

// Compile-time contracts of the slot.
static_assert(!std::is_copy_constructible_v<PyObjectSlot> &&
                  !std::is_copy_assignable_v<PyObjectSlot>,
              "a slot is identity: copying it would duplicate an owning reference");
static_assert(std::is_nothrow_default_constructible_v<PyObjectSlot>,
              "a fresh slot is untagged and costs nothing to make");
static_assert(sizeof(PyObjectSlot) == 2 * sizeof(void*), "a slot costs two words");
static_assert(std::is_same_v<decltype(std::declval<const PyObjectSlot&>().check_pyobj(nullptr)),
                             std::optional<PyObject*>>,
              "check_pyobj distinguishes 'no answer' (nullopt) from 'tagged, null' (V)");

// The pointer as the library streams it into its messages.
std::string pointer_text(const void* p) {
  std::ostringstream os;
  os << p;
  return os.str();
}

std::string allocate_error(const PyInterpreter* self, const PyInterpreter* other) {
  return "cannot allocate PyObject for Tensor on interpreter " + pointer_text(self) +
         " that has already been used by another torch deploy interpreter " +
         pointer_text(other);
}

std::string access_error(const std::string& self_name, const std::string& other_name) {
  return "cannot access PyObject for Tensor on interpreter " + self_name +
         " that has already been used by another torch deploy interpreter " + other_name;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(py_object_slot, revive::testing::LeakCheck, *utf::label("interpreter-tag") *utf::label("slot"))

// The example in py_object_slot.h's header comment: U -> L with DEFINITELY_UNINITIALIZED.
BOOST_AUTO_TEST_CASE(header_example_records_the_wrapper_on_first_wrap) {
  FakeInterpreter i("interp-0");
  FakeWrapper w;
  PyObjectSlot slot;
  slot.init_pyobj(&i.interp, w.get(), PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  BOOST_TEST(*slot.check_pyobj(&i.interp) == w.get());
  BOOST_TEST(!slot.owns_pyobj());
}

// An untagged slot (state U) has no tag, no wrapper and no owns bit, and answers nullopt.
BOOST_AUTO_TEST_CASE(untagged_slot_answers_nothing) {
  FakeInterpreter i("interp-0");
  PyObjectSlot slot;
  BOOST_TEST(slot.pyobj_interpreter() == nullptr);
  BOOST_TEST(!slot.check_pyobj(&i.interp).has_value());
  BOOST_TEST(!slot.check_pyobj(&i.interp, /*ignore_hermetic_tls=*/true).has_value());
  BOOST_TEST(slot._unchecked_untagged_pyobj() == nullptr);
  BOOST_TEST(!slot.owns_pyobj());
  BOOST_TEST(!slot.has_pyobj_nonhermetic());
  BOOST_TEST(!slot.check_interpreter(&i.interp));
  BOOST_TEST(slot.check_interpreter(nullptr));
}

// load_pyobj_interpreter on an untagged slot throws instead of dereferencing a null tag.
BOOST_AUTO_TEST_CASE(load_pyobj_interpreter_on_an_untagged_slot_throws) {
  PyObjectSlot slot;
  BOOST_CHECK_EXCEPTION(
      static_cast<void>(slot.load_pyobj_interpreter()), revive::Error,
      revive::testing::message_is("cannot access PyObject for Tensor - no interpreter set"));
  BOOST_TEST(slot.pyobj_interpreter() == nullptr);  // asking did not tag it
}

// load_pyobj_interpreter returns the tag once there is one.
BOOST_AUTO_TEST_CASE(load_pyobj_interpreter_returns_the_tag) {
  FakeInterpreter i("interp-0");
  PyObjectSlot slot;
  slot.init_pyobj(&i.interp, nullptr, PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  BOOST_TEST(&slot.load_pyobj_interpreter() == &i.interp);
}

// DEFINITELY_UNINITIALIZED tags the slot and records the wrapper with the owns bit clear.
BOOST_AUTO_TEST_CASE(definitely_uninitialized_tags_and_records_the_wrapper) {
  FakeInterpreter i("interp-0");
  FakeWrapper w;
  PyObjectSlot slot;
  slot.init_pyobj(&i.interp, w.get(), PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  BOOST_TEST(slot.pyobj_interpreter() == &i.interp);
  BOOST_TEST(slot.check_interpreter(&i.interp));
  BOOST_TEST(slot.has_pyobj_nonhermetic());
  BOOST_TEST(slot._unchecked_untagged_pyobj() == w.get());
  BOOST_TEST(!slot.owns_pyobj());
  BOOST_TEST(i.vtable.decrefs().empty());
}

// MAYBE_UNINITIALIZED tags an untagged slot through its compare-exchange.
BOOST_AUTO_TEST_CASE(maybe_uninitialized_tags_an_untagged_slot) {
  FakeInterpreter i("interp-0");
  FakeWrapper w;
  PyObjectSlot slot;
  slot.init_pyobj(&i.interp, w.get(), PyInterpreterStatus::MAYBE_UNINITIALIZED);
  BOOST_TEST(slot.pyobj_interpreter() == &i.interp);
  BOOST_TEST(*slot.check_pyobj(&i.interp) == w.get());
  BOOST_TEST(!slot.owns_pyobj());
}

// A conservative caller may pass MAYBE_UNINITIALIZED for a slot it already tagged (V):
// the failed CAS finds its own tag and the wrapper is recorded.
BOOST_AUTO_TEST_CASE(maybe_uninitialized_accepts_a_slot_already_tagged_by_itself) {
  FakeInterpreter i("interp-0");
  FakeWrapper w;
  PyObjectSlot slot;
  slot.init_pyobj(&i.interp, nullptr, PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  BOOST_CHECK_NO_THROW(
      slot.init_pyobj(&i.interp, w.get(), PyInterpreterStatus::MAYBE_UNINITIALIZED));
  BOOST_TEST(slot.pyobj_interpreter() == &i.interp);
  BOOST_TEST(*slot.check_pyobj(&i.interp) == w.get());
}

// MAYBE_UNINITIALIZED on a slot another interpreter tagged throws the allocation error
// with both interpreter pointers, and changes neither the tag nor the wrapper.
BOOST_AUTO_TEST_CASE(maybe_uninitialized_on_a_slot_tagged_by_another_throws_and_changes_nothing) {
  FakeInterpreter i("interp-0");
  FakeInterpreter j("interp-1");
  FakeWrapper wi;
  FakeWrapper wj;
  PyObjectSlot slot;
  slot.init_pyobj(&j.interp, wj.get(), PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  BOOST_CHECK_EXCEPTION(
      slot.init_pyobj(&i.interp, wi.get(), PyInterpreterStatus::MAYBE_UNINITIALIZED),
      revive::Error, revive::testing::message_is(allocate_error(&i.interp, &j.interp)));
  BOOST_TEST(slot.pyobj_interpreter() == &j.interp);
  BOOST_TEST(slot._unchecked_untagged_pyobj() == wj.get());
  BOOST_TEST(!slot.owns_pyobj());
  BOOST_TEST(i.vtable.decrefs().empty());
  BOOST_TEST(j.vtable.decrefs().empty());
}

// The same refusal leaves an owns bit set by the winner untouched.
BOOST_AUTO_TEST_CASE(failed_tagging_keeps_the_winners_owns_bit) {
  FakeInterpreter i("interp-0");
  FakeInterpreter j("interp-1");
  FakeWrapper wi;
  FakeWrapper wj;
  PyObjectSlot slot;
  slot.init_pyobj(&j.interp, wj.get(), PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  slot.set_owns_pyobj(true);  // Z: the slot owns J's wrapper
  BOOST_CHECK_THROW(
      slot.init_pyobj(&i.interp, wi.get(), PyInterpreterStatus::MAYBE_UNINITIALIZED),
      revive::Error);
  BOOST_TEST(slot.owns_pyobj());
  BOOST_TEST(slot._unchecked_untagged_pyobj() == wj.get());
  slot.set_owns_pyobj(false);  // back to L: nothing for the destructor to release
}

// TAGGED_BY_US records the wrapper without re-tagging (T1': V -> L).
BOOST_AUTO_TEST_CASE(tagged_by_us_records_the_wrapper_without_retagging) {
  FakeInterpreter i("interp-0");
  FakeWrapper w;
  PyObjectSlot slot;
  slot.init_pyobj(&i.interp, nullptr, PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  slot.init_pyobj(&i.interp, w.get(), PyInterpreterStatus::TAGGED_BY_US);
  BOOST_TEST(slot.pyobj_interpreter() == &i.interp);
  BOOST_TEST(*slot.check_pyobj(&i.interp) == w.get());
}

// TAGGED_BY_OTHER always throws the allocation error naming the slot's real tag.
BOOST_AUTO_TEST_CASE(tagged_by_other_throws_and_changes_nothing) {
  FakeInterpreter i("interp-0");
  FakeInterpreter j("interp-1");
  FakeWrapper wi;
  FakeWrapper wj;
  PyObjectSlot slot;
  slot.init_pyobj(&j.interp, wj.get(), PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  BOOST_CHECK_EXCEPTION(
      slot.init_pyobj(&i.interp, wi.get(), PyInterpreterStatus::TAGGED_BY_OTHER), revive::Error,
      revive::testing::message_is(allocate_error(&i.interp, &j.interp)));
  BOOST_TEST(slot.pyobj_interpreter() == &j.interp);
  BOOST_TEST(slot._unchecked_untagged_pyobj() == wj.get());
}

// check_pyobj from another interpreter throws the access error with both vtable names
// (TensorSharingNotAllowed), and leaves the slot as it was.
BOOST_AUTO_TEST_CASE(check_pyobj_from_another_interpreter_throws_with_both_names) {
  FakeInterpreter i("interp-0");
  FakeInterpreter j("interp-1");
  FakeWrapper w;
  PyObjectSlot slot;
  slot.init_pyobj(&i.interp, w.get(), PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  BOOST_CHECK_EXCEPTION(static_cast<void>(slot.check_pyobj(&j.interp)), revive::Error,
                        revive::testing::message_is(access_error("interp-1", "interp-0")));
  // ignore_hermetic_tls does not bypass the cross-interpreter check.
  BOOST_CHECK_EXCEPTION(static_cast<void>(slot.check_pyobj(&j.interp, true)), revive::Error,
                        revive::testing::message_is(access_error("interp-1", "interp-0")));
  BOOST_TEST(slot.pyobj_interpreter() == &i.interp);
  BOOST_TEST(*slot.check_pyobj(&i.interp) == w.get());
  BOOST_TEST(!slot.check_interpreter(&j.interp));
}

// A slot tagged with no wrapper yet (V) answers an optional holding nullptr, which is
// different from the untagged answer (nullopt).
BOOST_AUTO_TEST_CASE(tagged_slot_without_a_wrapper_answers_an_optional_holding_null) {
  FakeInterpreter i("interp-0");
  PyObjectSlot slot;
  slot.init_pyobj(&i.interp, nullptr, PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  const std::optional<PyObject*> answer = slot.check_pyobj(&i.interp);
  BOOST_TEST(answer.has_value());
  BOOST_TEST(*answer == nullptr);
  BOOST_TEST(!slot.owns_pyobj());
}

// Hermetic mode hides the wrapper tagged by us unless the caller ignores the TLS; the
// wrapper is back as soon as hermetic mode ends.
BOOST_AUTO_TEST_CASE(hermetic_mode_hides_our_wrapper_unless_ignored, *utf::label("hermetic")) {
  FakeInterpreter i("interp-0");
  FakeWrapper w;
  PyObjectSlot slot;
  slot.init_pyobj(&i.interp, w.get(), PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  {
    revive::impl::EnableHermeticPyObject hermetic;
    BOOST_TEST(!slot.check_pyobj(&i.interp).has_value());
    const std::optional<PyObject*> ignored =
        slot.check_pyobj(&i.interp, /*ignore_hermetic_tls=*/true);
    BOOST_TEST(ignored.has_value());
    BOOST_TEST(*ignored == w.get());
    BOOST_TEST(slot.pyobj_interpreter() == &i.interp);  // nothing was changed
  }
  BOOST_TEST(*slot.check_pyobj(&i.interp) == w.get());
}

// Hermetic mode only short-circuits "tagged by us": another interpreter's tag still throws.
BOOST_AUTO_TEST_CASE(hermetic_mode_still_throws_for_another_interpreter, *utf::label("hermetic")) {
  FakeInterpreter i("interp-0");
  FakeInterpreter j("interp-1");
  FakeWrapper w;
  PyObjectSlot slot;
  slot.init_pyobj(&j.interp, w.get(), PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  revive::impl::EnableHermeticPyObject hermetic;
  BOOST_CHECK_EXCEPTION(static_cast<void>(slot.check_pyobj(&i.interp)), revive::Error,
                        revive::testing::message_is(access_error("interp-0", "interp-1")));
}

// Setting and clearing the owns bit never changes the wrapper pointer it is stored in.
BOOST_AUTO_TEST_CASE(owns_bit_set_and_clear_keeps_the_pointer_intact) {
  FakeInterpreter i("interp-0");
  FakeWrapper w;
  PyObjectSlot slot;
  slot.init_pyobj(&i.interp, w.get(), PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  slot.set_owns_pyobj(true);
  BOOST_TEST(slot.owns_pyobj());
  BOOST_TEST(slot._unchecked_untagged_pyobj() == w.get());
  BOOST_TEST(*slot.check_pyobj(&i.interp) == w.get());  // masked for readers too
  slot.set_owns_pyobj(true);  // setting twice is still one bit
  BOOST_TEST(slot.owns_pyobj());
  BOOST_TEST(slot._unchecked_untagged_pyobj() == w.get());
  slot.set_owns_pyobj(false);
  BOOST_TEST(!slot.owns_pyobj());
  BOOST_TEST(slot._unchecked_untagged_pyobj() == w.get());
  BOOST_TEST(i.vtable.decrefs().empty());  // the bit alone decrefs nothing
}

// maybe_destroy_pyobj gives an owned wrapper back exactly once, with has_pyobj_slot set,
// forgets it and keeps the tag; a second call does nothing (T6, idempotence).
BOOST_AUTO_TEST_CASE(maybe_destroy_pyobj_decrefs_an_owned_wrapper_exactly_once) {
  FakeInterpreter i("interp-0");
  FakeWrapper w;
  PyObjectSlot slot;
  slot.init_pyobj(&i.interp, w.get(), PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  slot.set_owns_pyobj(true);
  slot.maybe_destroy_pyobj();
  BOOST_TEST_REQUIRE(i.vtable.decrefs().size() == 1u);
  BOOST_TEST(i.vtable.decrefs()[0].pyobj == w.get());
  BOOST_TEST(i.vtable.decrefs()[0].has_pyobj_slot);
  BOOST_TEST(!slot.owns_pyobj());
  BOOST_TEST(slot._unchecked_untagged_pyobj() == nullptr);
  BOOST_TEST(slot.pyobj_interpreter() == &i.interp);  // the tag is forever
  slot.maybe_destroy_pyobj();  // as ~PyObjectSlot does after release_resources
  BOOST_TEST(i.vtable.decrefs().size() == 1u);
}

// maybe_destroy_pyobj does nothing when the slot does not own its wrapper (L) or has none.
BOOST_AUTO_TEST_CASE(maybe_destroy_pyobj_does_nothing_when_not_owned) {
  FakeInterpreter i("interp-0");
  FakeWrapper w;
  PyObjectSlot untagged;
  untagged.maybe_destroy_pyobj();
  BOOST_TEST(untagged.pyobj_interpreter() == nullptr);

  PyObjectSlot live;
  live.init_pyobj(&i.interp, w.get(), PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  live.maybe_destroy_pyobj();
  BOOST_TEST(i.vtable.decrefs().empty());
  BOOST_TEST(live._unchecked_untagged_pyobj() == w.get());  // still recorded
}

// The slot's destructor releases a wrapper it owns (the no-weak-reference path of T6).
BOOST_AUTO_TEST_CASE(slot_destructor_releases_an_owned_wrapper) {
  FakeInterpreter i("interp-0");
  FakeWrapper w;
  {
    PyObjectSlot slot;
    slot.init_pyobj(&i.interp, w.get(), PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
    slot.set_owns_pyobj(true);
    BOOST_TEST(i.vtable.decrefs().empty());
  }  // ~PyObjectSlot
  BOOST_TEST_REQUIRE(i.vtable.decrefs().size() == 1u);
  BOOST_TEST(i.vtable.decrefs()[0].pyobj == w.get());
  BOOST_TEST(i.vtable.decrefs()[0].has_pyobj_slot);
}

// The slot's destructor leaves alone a wrapper it does not own: that wrapper owns us.
BOOST_AUTO_TEST_CASE(slot_destructor_leaves_a_wrapper_it_does_not_own) {
  FakeInterpreter i("interp-0");
  FakeWrapper w;
  {
    PyObjectSlot slot;
    slot.init_pyobj(&i.interp, w.get(), PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  }
  BOOST_TEST(i.vtable.decrefs().empty());
}

// unchecked_clear_pyobj forgets the wrapper without a decref and keeps the tag, leaving
// the slot in V.
BOOST_AUTO_TEST_CASE(unchecked_clear_pyobj_forgets_the_wrapper_without_a_decref) {
  FakeInterpreter i("interp-0");
  FakeWrapper w;
  PyObjectSlot slot;
  slot.init_pyobj(&i.interp, w.get(), PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  slot.unchecked_clear_pyobj(&i.interp);
  BOOST_TEST(slot._unchecked_untagged_pyobj() == nullptr);
  BOOST_TEST(!slot.owns_pyobj());
  BOOST_TEST(slot.pyobj_interpreter() == &i.interp);
  const std::optional<PyObject*> answer = slot.check_pyobj(&i.interp);
  BOOST_TEST(answer.has_value());
  BOOST_TEST(*answer == nullptr);
  BOOST_TEST(i.vtable.decrefs().empty());
}

// Disarming the tagged interpreter never clears the tag (invariant 1 of §7).
BOOST_AUTO_TEST_CASE(disarm_never_clears_the_tag, *utf::label("disarm")) {
  FakeInterpreter i("interp-0");
  FakeWrapper w;
  PyObjectSlot slot;
  slot.init_pyobj(&i.interp, w.get(), PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  i.interp.disarm();
  BOOST_TEST(slot.pyobj_interpreter() == &i.interp);
  BOOST_TEST(slot.check_interpreter(&i.interp));
  BOOST_TEST(&slot.load_pyobj_interpreter() == &i.interp);
  BOOST_TEST(slot._unchecked_untagged_pyobj() == w.get());
}

// After its tagger is disarmed, a new interpreter gets a clear error naming
// "<unloaded interpreter>", not a crash, and cannot tag the slot (DisarmHook).
BOOST_AUTO_TEST_CASE(access_after_disarm_names_the_unloaded_interpreter, *utf::label("disarm")) {
  FakeInterpreter dead("interp-0");
  FakeInterpreter fresh("interp-1");
  FakeWrapper w;
  FakeWrapper w2;
  PyObjectSlot slot;
  slot.init_pyobj(&dead.interp, w.get(), PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  dead.interp.disarm();
  BOOST_CHECK_EXCEPTION(
      static_cast<void>(slot.check_pyobj(&fresh.interp)), revive::Error,
      revive::testing::message_is(access_error("interp-1", "<unloaded interpreter>")));
  BOOST_CHECK_EXCEPTION(
      slot.init_pyobj(&fresh.interp, w2.get(), PyInterpreterStatus::MAYBE_UNINITIALIZED),
      revive::Error, revive::testing::message_is(allocate_error(&fresh.interp, &dead.interp)));
  BOOST_TEST(slot.pyobj_interpreter() == &dead.interp);
  BOOST_TEST(slot._unchecked_untagged_pyobj() == w.get());
}

// TaggingRace: 8 threads, each with its own interpreter and wrapper, race to tag one
// fresh slot with MAYBE_UNINITIALIZED.  Exactly one wins the CAS and its wrapper is
// recorded; every other thread gets the allocation error naming itself and the winner.
BOOST_AUTO_TEST_CASE(tagging_race_has_exactly_one_winner, *utf::timeout(60)) {
  constexpr std::size_t kThreads = 8;
  constexpr int kRounds = 200;
  std::vector<std::unique_ptr<FakeInterpreter>> interps;
  for (std::size_t t = 0; t < kThreads; ++t) {
    interps.push_back(std::make_unique<FakeInterpreter>("interp-" + std::to_string(t)));
  }
  std::array<FakeWrapper, kThreads> wrappers;

  for (int round = 0; round < kRounds; ++round) {
    BOOST_TEST_CONTEXT("round " << round) {
      PyObjectSlot slot;
      std::array<bool, kThreads> won{};
      std::array<std::string, kThreads> errors;
      std::latch start(static_cast<std::ptrdiff_t>(kThreads));
      std::vector<std::thread> threads;
      for (std::size_t t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
          start.arrive_and_wait();
          try {
            slot.init_pyobj(&interps[t]->interp, wrappers[t].get(),
                            PyInterpreterStatus::MAYBE_UNINITIALIZED);
            won[t] = true;
          } catch (const revive::Error& e) {
            errors[t] = e.what();
          }
        });
      }
      for (std::thread& th : threads) th.join();

      std::size_t winners = 0;
      std::size_t winner = kThreads;
      for (std::size_t t = 0; t < kThreads; ++t) {
        if (won[t]) {
          ++winners;
          winner = t;
        }
      }
      BOOST_TEST_REQUIRE(winners == 1u);
      BOOST_TEST(slot.pyobj_interpreter() == &interps[winner]->interp);
      BOOST_TEST(slot._unchecked_untagged_pyobj() == wrappers[winner].get());
      BOOST_TEST(!slot.owns_pyobj());
      for (std::size_t t = 0; t < kThreads; ++t) {
        if (t == winner) continue;
        BOOST_TEST(errors[t] == allocate_error(&interps[t]->interp, &interps[winner]->interp));
      }
    }
  }
}

// The example of move_out.h: drop() empties the field before the old value goes, so
// code the release runs sees the field already empty; replace() hands the old value back.
namespace {
struct Watcher {
  const std::unique_ptr<Watcher>* field = nullptr;
  bool* saw_empty = nullptr;
  ~Watcher() {
    if (field != nullptr) *saw_empty = *field == nullptr;
  }
};
}  // namespace

BOOST_AUTO_TEST_CASE(move_out_releases_after_the_field_is_updated) {
  bool saw_empty = false;
  auto field = std::make_unique<Watcher>();
  field->field = &field;
  field->saw_empty = &saw_empty;
  revive::drop(field);
  BOOST_TEST(saw_empty);
  saw_empty = false;
  auto old = revive::replace(field, std::make_unique<Watcher>());
  BOOST_TEST(old == nullptr);
  BOOST_TEST(field != nullptr);
}

BOOST_AUTO_TEST_SUITE_END()
