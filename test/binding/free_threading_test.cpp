// What E2's transitions owe to the GIL, and so what free-threaded Python (PEP 703) would
// break: docs/lifecycle.md §8.  T3 and T5 write the owns bit, pyobj_, cdata and the
// wrapper's refcount one after another, with plain stores; the only thing that keeps
// another thread from seeing them half done is that every wrap and every dealloc holds
// the interpreter's GIL.  Each case here puts a second thread exactly where
// free-threading would let it in, and shows the GIL making it wait its turn; the E4 case
// shows the same program needing no turn-taking, because nothing is ever half flipped.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <thread>

#include "revive/binding/testing.h"
#include "revive/pictures/inspect.h"
#include "revive_test.h"
#include "tracker.h"

using namespace revive;
using namespace revive::interp;
using namespace revive::binding;
using namespace revive::pictures;
using namespace revive::trace;
using revive::testing::LeakCheck;
using EK = EventKind;

namespace {

template <Era E>
struct FixtureFor : LeakCheck {
  EventLog log;  // declared before I: it must outlive the interpreter's teardown event
  Interpreter::Owner I = Interpreter::create("I0", E);
  FixtureFor() { I->set_observer(&log); }
  ~FixtureFor() { I->set_observer(nullptr); }
  Snapshot at(const Tensor& t) { return inspect(*I, t.unsafeGetTensorImpl()); }
  // Spins until `n` threads wait for I's GIL: they have reached the point where
  // free-threading would let them run.
  void until_waiting_for_the_gil(int n) {
    while (I->gil().waiting() < n) std::this_thread::yield();
  }
  std::size_t count(EK kind) const {
    const auto kinds = log.kinds();
    return static_cast<std::size_t>(std::count(kinds.begin(), kinds.end(), kind));
  }
};
using Fixture = FixtureFor<Era::E2>;
using FixtureE4 = FixtureFor<Era::E4>;

}  // namespace

BOOST_FIXTURE_TEST_SUITE(free_threading, Fixture, *utf::label("free-threading") *utf::label("threads") *utf::label("gil"))

// The window inside T3: P's refcount is 0, its dealloc has decided to resurrect it, and
// nothing is flipped yet: the slot still records P with the owns bit clear and cdata
// owned, as in L.  A wrap from another thread that read the slot now would find "live"
// and incref (T2) an object whose dealloc is running; the resurrection would then set
// r = 1 over it, and two owners would share one reference.  With the GIL the other
// thread's wrap waits until the dealloc is over, finds a zombie, and flips it back (T5).
BOOST_AUTO_TEST_CASE(a_wrap_on_another_thread_waits_for_a_resurrection_to_finish) {
  Tensor t = Tensor::empty(2);
  Ref p = I->wrap(t);
  const PyObject* const wrapper = p.get();
  Snapshot in_window;
  Ref theirs;
  std::thread other;
  binding::testing::set_resurrection_hook(*I, [&] {
    in_window = at(t);
    other = std::thread([this, &theirs, copy = t] { theirs = I->wrap(copy); });
    until_waiting_for_the_gil(1);
  });
  log.clear();
  p.reset();
  binding::testing::set_resurrection_hook(*I, nullptr);
  other.join();
  BOOST_TEST(in_window.state == SlotState::L);
  BOOST_TEST(in_window.refcnt == 0);
  BOOST_TEST(!in_window.owns);
  BOOST_TEST(in_window.cdata == CdataKind::Owned);
  BOOST_TEST(theirs.get() == wrapper);  // the same P, flipped back once the GIL was free
  BOOST_TEST((log.kinds() == std::vector{EK::Resurrected, EK::FlippedBack}));
  Snapshot after = at(t);
  BOOST_TEST(after.state == SlotState::L);
  BOOST_TEST(after.refcnt == 1);  // one owner (theirs), one reference
  BOOST_TEST(after.cdata == CdataKind::Owned);
}

// Two threads wrap the same zombie.  Each would read owns = 1 and take over the slot's
// one reference (T5 does not incref): two owners of one reference, and the second
// release frees P under the first.  The GIL lets one flip back and the other find P
// live: T5 then T2, r == 2.
BOOST_AUTO_TEST_CASE(two_threads_wrapping_one_zombie_flip_it_back_once) {
  Tensor t = Tensor::empty(2);
  {
    Ref p = I->wrap(t);
  }  // a zombie: r == 1, the slot's reference
  BOOST_TEST(at(t).state == SlotState::Z);
  log.clear();
  Ref first, second;
  std::thread a, b;
  {
    interp::GilGuard hold(I->gil());  // both threads start, then meet at the GIL
    a = std::thread([this, &first, copy = t] { first = I->wrap(copy); });
    b = std::thread([this, &second, copy = t] { second = I->wrap(copy); });
    until_waiting_for_the_gil(2);
  }  // both are waiting: let them in
  a.join();
  b.join();
  BOOST_TEST(first.get() == second.get());
  BOOST_TEST(count(EK::FlippedBack) == 1u);
  BOOST_TEST(count(EK::Rewrapped) == 1u);
  Snapshot s = at(t);
  BOOST_TEST(s.state == SlotState::L);
  BOOST_TEST(s.refcnt == 2);  // two owners, two references
  first.reset();
  second.reset();
  BOOST_TEST(at(t).state == SlotState::Z);  // resurrected again, intact
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(free_threading_e4, FixtureE4, *utf::label("free-threading") *utf::label("threads") *utf::label("e4"))

// The same two wraps in E4: the wrapper never died (C++'s reference kept it, r == 1), so
// both are ordinary increfs (T2); there is no half-done state for the GIL to hide.  The
// GIL still orders them here, as CPython's refcounts need; free-threaded CPython makes
// the increfs atomic instead.
BOOST_AUTO_TEST_CASE(two_threads_wrapping_a_shared_tensor_both_incref) {
  Tensor t = Tensor::empty(2);
  {
    Ref p = I->wrap(t);
  }
  BOOST_TEST(at(t).state == SlotState::L);
  BOOST_TEST(at(t).refcnt == 1);  // C++'s reference, while t shares the tensor
  log.clear();
  Ref first, second;
  std::thread a([this, &first, copy = t] { first = I->wrap(copy); });
  std::thread b([this, &second, copy = t] { second = I->wrap(copy); });
  a.join();
  b.join();
  BOOST_TEST(first.get() == second.get());
  BOOST_TEST(count(EK::Rewrapped) == 2u);
  BOOST_TEST(count(EK::FlippedBack) == 0u);
  BOOST_TEST(at(t).refcnt == 3);
}

BOOST_AUTO_TEST_SUITE_END()
