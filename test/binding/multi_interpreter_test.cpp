// Several interpreters in one process: tags, races, hermetic wraps, storages.
// torchdeploy's C++ tests (TensorSharingNotAllowed, TaggingRace) ported.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "revive/pictures/inspect.h"
#include "revive_test.h"

using namespace revive;
using namespace revive::interp;
using namespace revive::binding;
using namespace revive::pictures;
using namespace revive::trace;
using revive::testing::message_has;
using revive::testing::message_is;

BOOST_FIXTURE_TEST_SUITE(interpreter_tag, revive::testing::LeakCheck, *utf::label("interpreter-tag"))

// TensorSharingNotAllowed: a tensor made in interpreter 0 cannot be used in interpreter 1,
// and the refusal changes nothing.
BOOST_AUTO_TEST_CASE(tensor_sharing_not_allowed) {
  Interpreter::Owner I0 = Interpreter::create("I0");
  Interpreter::Owner I1 = Interpreter::create("I1");
  Ref x = I0->empty(2);
  Tensor t = I0->unpack(x);
  const auto objects = I1->live_objects();
  BOOST_CHECK_EXCEPTION((void)I1->wrap(t), Error,
                        message_is("cannot access PyObject for Tensor on interpreter I1 that has "
                                   "already been used by another torch deploy interpreter I0"));
  BOOST_TEST(I1->live_objects() == objects);
  BOOST_TEST(t.use_count() == 2u);  // x's cdata and t: nothing left behind
  Snapshot s = inspect(*I0, t.unsafeGetTensorImpl());
  BOOST_TEST(s.state == SlotState::L);
  BOOST_TEST(s.recorded == x.get());
  BOOST_TEST(inspect(*I1, t.unsafeGetTensorImpl()).state == SlotState::X);
}

// A zombie of another interpreter is just as foreign.
BOOST_AUTO_TEST_CASE(zombie_of_another_interpreter_is_refused_and_kept) {
  Interpreter::Owner I0 = Interpreter::create("I0");
  Interpreter::Owner I1 = Interpreter::create("I1");
  Tensor t = Tensor::empty(2);
  { Ref p = I0->wrap(t); }
  BOOST_CHECK_EXCEPTION((void)I1->wrap(t), Error, message_has("another torch deploy interpreter I0"));
  BOOST_TEST(inspect(*I0, t.unsafeGetTensorImpl()).state == SlotState::Z);
  BOOST_CHECK_EXCEPTION((void)I1->make_subclass(I1->tensor_type(), t), Error,
                        message_has("another torch deploy interpreter I0"));
}

// TaggingRace: 16 threads, each its own interpreter, one fresh tensor (each thread holds
// its own copy of the handle, so the strong count says "shared": MAYBE_UNINITIALIZED and
// a CAS).  Exactly one wins every time; the 15 others get an error and leak nothing.
BOOST_AUTO_TEST_CASE(tagging_race, *utf::timeout(240) *utf::label("threads")) {
  constexpr int kThreads = 16;
  constexpr int kRounds = 100;
  std::vector<Interpreter::Owner> interps;
  for (int i = 0; i < kThreads; ++i) interps.push_back(Interpreter::create("I" + std::to_string(i)));
  for (int round = 0; round < kRounds; ++round) {
    Tensor t = Tensor::empty(1);
    std::atomic<int> successes{0}, failures{0}, wrong_message{0};
    std::latch start(kThreads);
    std::vector<Ref> results(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i, mine = t] {
        start.arrive_and_wait();
        try {
          results[static_cast<std::size_t>(i)] = interps[static_cast<std::size_t>(i)]->wrap(mine);
          successes.fetch_add(1);
        } catch (const Error& e) {
          failures.fetch_add(1);
          const std::string what = e.what();
          if (what.find("cannot allocate PyObject for Tensor on interpreter") != 0 &&
              what.find("cannot access PyObject for Tensor on interpreter") != 0) {
            wrong_message.fetch_add(1);
          }
        }
      });
    }
    for (auto& th : threads) th.join();
    BOOST_TEST_REQUIRE(successes.load() == 1, "round " << round);
    BOOST_TEST_REQUIRE(failures.load() == kThreads - 1, "round " << round);
    BOOST_TEST_REQUIRE(wrong_message.load() == 0, "round " << round);
    BOOST_TEST_REQUIRE(t.use_count() == 2u, "round " << round);  // t and the winner's cdata
    results.clear();  // the winner's wrapper becomes a zombie, then dies with t
  }
}

// Cross-interpreter zombie release: C++ drops on one thread a tensor whose zombie
// belongs to an interpreter busy on another thread; the release waits for its GIL.
BOOST_AUTO_TEST_CASE(zombie_released_from_another_thread, *utf::timeout(60) *utf::label("threads")) {
  Interpreter::Owner I0 = Interpreter::create("I0");
  std::vector<Tensor> tensors;
  for (int i = 0; i < 200; ++i) {
    tensors.push_back(Tensor::empty(1));
    Ref p = I0->wrap(tensors.back());  // zombie on return
  }
  std::thread dropper([&tensors] { tensors.clear(); });
  for (int i = 0; i < 200; ++i) Ref busy = I0->empty(1);  // I0 busy meanwhile
  dropper.join();
  BOOST_TEST(I0->live_objects() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(hermetic_wrap, revive::testing::LeakCheck, *utf::label("hermetic"))

// T10: hermetic wraps make a distinct wrapper each time and never touch the slot.
BOOST_AUTO_TEST_CASE(hermetic_wraps_are_distinct_and_unrecorded) {
  Interpreter::Owner I = Interpreter::create("I0");
  Tensor t = Tensor::empty(2);
  impl::EnableHermeticPyObject hermetic;
  Ref a = I->wrap(t);
  Ref b = I->wrap(t);
  BOOST_TEST(a != b);
  BOOST_TEST(inspect(*I, t.unsafeGetTensorImpl()).state == SlotState::U);
  BOOST_TEST(t.use_count() == 3u);  // both own it
}

// A hermetic wrapper is never resurrected: it dies normally, finalizer included, while
// C++ still holds the tensor; the recorded wrapper (if any) is untouched.
BOOST_AUTO_TEST_CASE(hermetic_wrapper_dies_normally) {
  Interpreter::Owner I = Interpreter::create("I0");
  int runs = 0;
  const PyType* fin = I->new_class("Fin", I->tensor_type(),
                                   ClassSpec{std::nullopt, [&runs](Runtime&, const Ref&) { ++runs; }});
  Tensor t = Tensor::empty(2);
  Ref recorded = I->wrap(t);
  {
    impl::EnableHermeticPyObject hermetic;
    Ref h = I->make_subclass(fin, t);
    BOOST_TEST(h != recorded);
  }
  BOOST_TEST(runs == 1);
  Snapshot s = inspect(*I, t.unsafeGetTensorImpl());
  BOOST_TEST(s.state == SlotState::L);
  BOOST_TEST(s.recorded == recorded.get());
  BOOST_TEST(t.use_count() == 2u);
}

// Hermetic mode only short-circuits "tagged by us": a tensor tagged by another
// interpreter still raises.
BOOST_AUTO_TEST_CASE(hermetic_wrap_of_a_foreign_tensor_still_raises, *utf::label("interpreter-tag")) {
  Interpreter::Owner I0 = Interpreter::create("I0");
  Interpreter::Owner I1 = Interpreter::create("I1");
  Tensor t = Tensor::empty(2);
  Ref p = I0->wrap(t);
  impl::EnableHermeticPyObject hermetic;
  BOOST_CHECK_EXCEPTION((void)I1->wrap(t), Error, message_has("another torch deploy interpreter I0"));
}

// A hermetic wrapper whose tensor is tagged by another interpreter after it was made
// dies without consulting a slot it cannot read (no throw inside dealloc).
BOOST_AUTO_TEST_CASE(hermetic_wrapper_outliving_a_foreign_tag_dies_quietly, *utf::label("interpreter-tag")) {
  Interpreter::Owner I0 = Interpreter::create("I0");
  Interpreter::Owner I1 = Interpreter::create("I1");
  Tensor t = Tensor::empty(2);
  Ref h;
  {
    impl::EnableHermeticPyObject hermetic;
    h = I0->wrap(t);
  }
  Ref p = I1->wrap(t);  // I1 tags the tensor
  h.reset();            // I0's hermetic wrapper dies: must not call check_pyobj(I0)
  BOOST_TEST(I0->live_objects() == 0u);
  BOOST_TEST(inspect(*I1, t.unsafeGetTensorImpl()).state == SlotState::L);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(storage_across_interpreters, revive::testing::LeakCheck, *utf::label("storage") *utf::label("interpreter-tag"))

// See Note [Storage wrap across interpreters]: a storage tagged by I0 wrapped from I1
// gives a new StorageImpl over the same bytes instead of an error.
BOOST_AUTO_TEST_CASE(storage_tagged_elsewhere_is_aliased_not_refused) {
  Interpreter::Owner I0 = Interpreter::create("I0");
  Interpreter::Owner I1 = Interpreter::create("I1");
  Storage s = Storage::create(16);
  Ref p0 = I0->wrap(s);
  Ref p1 = I1->wrap(s);
  Storage alias = I1->unpack_storage(p1);
  BOOST_TEST(alias.unsafeGetStorageImpl() != s.unsafeGetStorageImpl());
  BOOST_TEST(alias.data() == s.data());
  BOOST_TEST(inspect(*I0, s.unsafeGetStorageImpl()).recorded == p0.get());
  BOOST_TEST(inspect(*I1, alias.unsafeGetStorageImpl()).recorded == p1.get());
}

// THPStorage_Wrap takes its hermetic branch first, then THPStorage_NewWithStorage asks
// check_pyobj, which raises for another interpreter's tag: a hermetic wrap does not
// alias.  (check_pyobj's text says "Tensor" for storages too, as c10's does.)
BOOST_AUTO_TEST_CASE(hermetic_wrap_of_a_storage_tagged_elsewhere_raises, *utf::label("hermetic")) {
  Interpreter::Owner I0 = Interpreter::create("I0");
  Interpreter::Owner I1 = Interpreter::create("I1");
  Storage s = Storage::create(16);
  Ref p0 = I0->wrap(s);
  const auto live = I1->live_objects();
  {
    impl::EnableHermeticPyObject hermetic;
    BOOST_CHECK_EXCEPTION((void)I1->wrap(s), Error,
                          message_is("cannot access PyObject for Tensor on interpreter I1 that has "
                                     "already been used by another torch deploy interpreter I0"));
  }
  BOOST_TEST(I1->live_objects() == live);  // nothing half-built left behind
  BOOST_TEST(inspect(*I0, s.unsafeGetStorageImpl()).recorded == p0.get());
}

BOOST_AUTO_TEST_SUITE_END()
