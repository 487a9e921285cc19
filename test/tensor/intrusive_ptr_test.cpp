// Tests for revive/tensor/intrusive_ptr.h: strong and weak counts, and when
// release_resources() and the destructor run (Note [Two counts and release_resources]).
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "revive/tensor/intrusive_ptr.h"
#include "revive_test.h"

namespace {

using revive::intrusive_ptr_target;
using revive::make_intrusive;
using revive::weak_intrusive_ptr;

// What happened to a Counted, observed from outside (it outlives the object).
struct Probe {
  std::atomic<int> released{0};   // release_resources() calls
  std::atomic<int> destroyed{0};  // destructor calls
  std::atomic<std::uint32_t> strong_at_release{99};
};

// A test target that reports release_resources() and its destruction to a Probe.
class Counted : public intrusive_ptr_target {
 public:
  explicit Counted(Probe* probe, int value = 0) : probe_(probe), value_(value) {}
  ~Counted() override { probe_->destroyed.fetch_add(1); }

  [[nodiscard]] int value() const noexcept { return value_; }

 protected:
  void release_resources() override {
    probe_->strong_at_release.store(refcount());
    probe_->released.fetch_add(1);
  }

 private:
  Probe* probe_;
  int value_;
};

// The strong handle under test (spelled out: the suite itself is named intrusive_ptr).
using CountedPtr = revive::intrusive_ptr<Counted>;

// Compile-time contracts: ownership transfers are spelled out, never implied.
static_assert(sizeof(CountedPtr) == sizeof(Counted*),
              "an intrusive_ptr is one pointer: the counts live in the object");
static_assert(!std::is_constructible_v<CountedPtr, Counted*>,
              "adopting a raw pointer needs the dont_incref tag or reclaim()");
static_assert(!std::is_constructible_v<CountedPtr, Counted*, bool>,
              "a tag type, not a bool, says whether to incref");
static_assert(!std::is_convertible_v<CountedPtr, bool>, "operator bool is explicit");
static_assert(!std::is_constructible_v<weak_intrusive_ptr<Counted>, Counted*>,
              "a weak reference is made from a strong one");
static_assert(!std::is_convertible_v<const CountedPtr&, weak_intrusive_ptr<Counted>>,
              "taking a weak reference is explicit");
static_assert(std::is_convertible_v<CountedPtr&&, revive::intrusive_ptr<intrusive_ptr_target>>,
              "an rvalue upcasts like a raw pointer");
static_assert(!std::is_copy_constructible_v<Counted>, "a target is identity");
static_assert(std::is_nothrow_move_constructible_v<CountedPtr> &&
                  std::is_nothrow_copy_constructible_v<CountedPtr>);

// The example in intrusive_ptr.h's header comment.
class Thing : public intrusive_ptr_target {};

// The text c10 uses when a count that reached zero is asked to rise again.
const char* const kReachedZero =
    "intrusive_ptr: Cannot increase refcount after it reached zero.";

}  // namespace

BOOST_FIXTURE_TEST_SUITE(intrusive_ptr, revive::testing::LeakCheck, *utf::label("refcount"))

// The example in intrusive_ptr.h's header comment, with the counts it claims.
BOOST_AUTO_TEST_CASE(header_example_weak_reference_cannot_revive_a_dead_object) {
  auto p = make_intrusive<Thing>();
  BOOST_TEST(p->refcount() == 1u);
  weak_intrusive_ptr<Thing> w(p);
  BOOST_TEST(p->weakcount() == 2u);
  p.reset();
  BOOST_TEST(!w.lock());
}

// make_intrusive forwards the constructor arguments and starts at strong 1, weak 1.
BOOST_AUTO_TEST_CASE(make_intrusive_starts_with_one_strong_reference) {
  Probe probe;
  auto p = make_intrusive<Counted>(&probe, 42);
  BOOST_TEST(p.defined());
  BOOST_TEST(static_cast<bool>(p));
  BOOST_TEST(p.use_count() == 1u);
  BOOST_TEST(p->refcount() == 1u);
  BOOST_TEST(p->weakcount() == 1u);
  BOOST_TEST(p->value() == 42);
  BOOST_TEST((*p).value() == 42);
  BOOST_TEST(probe.destroyed == 0);
}

// A null intrusive_ptr counts nothing and resets harmlessly.
BOOST_AUTO_TEST_CASE(null_pointer_counts_nothing) {
  CountedPtr a;
  CountedPtr b = nullptr;
  BOOST_TEST(!a.defined());
  BOOST_TEST(!static_cast<bool>(b));
  BOOST_TEST(a.use_count() == 0u);
  BOOST_TEST(a.get() == nullptr);
  BOOST_TEST((a == b));
  a.reset();
  CountedPtr c = a;  // copying null increments nothing
  BOOST_TEST(c.use_count() == 0u);
}

// A copy adds a strong reference; a move transfers one; dropping either gives it back.
BOOST_AUTO_TEST_CASE(copies_add_references_and_moves_transfer_them) {
  Probe probe;
  auto p = make_intrusive<Counted>(&probe);
  Counted* raw = p.get();
  {
    CountedPtr copy = p;
    BOOST_TEST(p.use_count() == 2u);
    BOOST_TEST((copy == p));
    CountedPtr moved = std::move(copy);
    BOOST_TEST(p.use_count() == 2u);
    BOOST_TEST(copy.get() == nullptr);  // NOLINT(bugprone-use-after-move): checked on purpose
    BOOST_TEST(moved.get() == raw);
    CountedPtr assigned;
    assigned = p;
    BOOST_TEST(p.use_count() == 3u);
    assigned = std::move(moved);
    BOOST_TEST(p.use_count() == 2u);  // the old value of `assigned` was released
  }
  BOOST_TEST(p.use_count() == 1u);
  BOOST_TEST(p->weakcount() == 1u);  // strong references count once, as a group
  BOOST_TEST(probe.destroyed == 0);
}

// Assigning a pointer to itself keeps the count.
BOOST_AUTO_TEST_CASE(self_assignment_keeps_the_count) {
  Probe probe;
  auto p = make_intrusive<Counted>(&probe);
  CountedPtr& alias = p;
  p = alias;
  BOOST_TEST(p.use_count() == 1u);
  p = std::move(alias);
  BOOST_TEST(p.use_count() == 1u);
  BOOST_TEST(probe.destroyed == 0);
}

// Assigning another object drops the reference to the old one.
BOOST_AUTO_TEST_CASE(assignment_drops_the_old_object) {
  Probe first;
  Probe second;
  auto p = make_intrusive<Counted>(&first);
  p = make_intrusive<Counted>(&second);
  BOOST_TEST(first.destroyed == 1);
  BOOST_TEST(second.destroyed == 0);
  p = nullptr;
  BOOST_TEST(second.destroyed == 1);
}

// With no weak reference, the last strong release deletes at once and does NOT call
// release_resources(): the destructor releases everything.
BOOST_AUTO_TEST_CASE(last_strong_release_without_weak_refs_deletes_without_release_resources) {
  Probe probe;
  auto p = make_intrusive<Counted>(&probe);
  auto q = p;
  p.reset();
  BOOST_TEST(probe.destroyed == 0);
  q.reset();
  BOOST_TEST(probe.destroyed == 1);
  BOOST_TEST(probe.released == 0);
}

// With a weak reference, release_resources() runs when the strong count reaches 0 and
// the memory is deleted at the last weak release, without a second release_resources().
BOOST_AUTO_TEST_CASE(weak_reference_defers_deletion_after_release_resources) {
  Probe probe;
  auto p = make_intrusive<Counted>(&probe);
  weak_intrusive_ptr<Counted> w(p);
  BOOST_TEST(p->weakcount() == 2u);
  p.reset();
  BOOST_TEST(probe.released == 1);
  BOOST_TEST(probe.strong_at_release == 0u);  // ran after the count reached zero
  BOOST_TEST(probe.destroyed == 0);
  BOOST_TEST(w.expired());
  BOOST_TEST(w.use_count() == 0u);
  w.reset();
  BOOST_TEST(probe.destroyed == 1);
  BOOST_TEST(probe.released == 1);
}

// Every weak reference counts: deletion waits for the last one.
BOOST_AUTO_TEST_CASE(deletion_waits_for_the_last_of_several_weak_references) {
  Probe probe;
  auto p = make_intrusive<Counted>(&probe);
  weak_intrusive_ptr<Counted> w1(p);
  weak_intrusive_ptr<Counted> w2 = w1;
  BOOST_TEST(p->weakcount() == 3u);
  weak_intrusive_ptr<Counted> w3 = std::move(w2);  // a move adds nothing
  BOOST_TEST(p->weakcount() == 3u);
  p.reset();
  w1.reset();
  BOOST_TEST(probe.destroyed == 0);
  w3 = weak_intrusive_ptr<Counted>();
  BOOST_TEST(probe.destroyed == 1);
  BOOST_TEST(probe.released == 1);
}

// A weak reference dropped while the object lives leaves the strong owners in charge:
// the object then dies through the no-weak path.
BOOST_AUTO_TEST_CASE(weak_reference_dropped_early_changes_nothing) {
  Probe probe;
  auto p = make_intrusive<Counted>(&probe);
  {
    weak_intrusive_ptr<Counted> w(p);
  }
  BOOST_TEST(p->weakcount() == 1u);
  p.reset();
  BOOST_TEST(probe.destroyed == 1);
  BOOST_TEST(probe.released == 0);
}

// lock() gives a new strong reference while the object lives, and null afterwards.
BOOST_AUTO_TEST_CASE(lock_works_while_alive_and_returns_null_after) {
  Probe probe;
  auto p = make_intrusive<Counted>(&probe);
  weak_intrusive_ptr<Counted> w(p);
  {
    CountedPtr locked = w.lock();
    BOOST_TEST(locked.get() == p.get());
    BOOST_TEST(p.use_count() == 2u);
    BOOST_TEST(w.use_count() == 2u);
    BOOST_TEST(!w.expired());
    p.reset();
    BOOST_TEST(probe.released == 0);  // `locked` still owns it
  }
  BOOST_TEST(probe.released == 1);
  BOOST_TEST(!w.lock());
  BOOST_TEST(w.lock().use_count() == 0u);
  BOOST_TEST(probe.destroyed == 0);
}

// Weak references to nothing: expired, and lock() gives null.
BOOST_AUTO_TEST_CASE(empty_weak_reference_is_expired) {
  weak_intrusive_ptr<Counted> w;
  BOOST_TEST(w.expired());
  BOOST_TEST(!w.lock());
  CountedPtr null;
  weak_intrusive_ptr<Counted> from_null(null);
  BOOST_TEST(from_null.expired());
  BOOST_TEST(from_null.use_count() == 0u);
}

// unsafe_reclaim_from_nonowning adds a strong reference to a live object.
BOOST_AUTO_TEST_CASE(unsafe_reclaim_from_nonowning_increfs_a_live_object) {
  Probe probe;
  auto p = make_intrusive<Counted>(&probe);
  CountedPtr q = CountedPtr::unsafe_reclaim_from_nonowning(p.get());
  BOOST_TEST(q.get() == p.get());
  BOOST_TEST(p.use_count() == 2u);
  BOOST_TEST(!CountedPtr::unsafe_reclaim_from_nonowning(nullptr).defined());
}

// Once the strong count reached 0 (a weak reference keeps the memory), reclaiming a new
// strong reference throws and leaves the count at 0.
BOOST_AUTO_TEST_CASE(unsafe_reclaim_from_nonowning_after_strong_zero_throws) {
  Probe probe;
  auto p = make_intrusive<Counted>(&probe);
  weak_intrusive_ptr<Counted> keep_memory(p);
  Counted* raw = p.get();
  p.reset();
  BOOST_CHECK_EXCEPTION(static_cast<void>(CountedPtr::unsafe_reclaim_from_nonowning(raw)),
                        revive::Error, revive::testing::message_is(kReachedZero));
  BOOST_TEST(raw->refcount() == 0u);
  BOOST_TEST(probe.released == 1);
  BOOST_TEST(probe.destroyed == 0);
  keep_memory.reset();
  BOOST_TEST(probe.destroyed == 1);
}

// release() hands the reference out as a raw pointer and reclaim() adopts it back: the
// count never moves and nothing is deleted in between.
BOOST_AUTO_TEST_CASE(release_and_reclaim_round_trip_keeps_the_count) {
  Probe probe;
  auto p = make_intrusive<Counted>(&probe);
  auto other = p;
  Counted* raw = p.release();
  BOOST_TEST(!p.defined());
  BOOST_TEST(raw->refcount() == 2u);
  CountedPtr back = CountedPtr::reclaim(raw);
  BOOST_TEST(back.use_count() == 2u);
  BOOST_TEST(back.get() == raw);
  other.reset();
  back.reset();
  BOOST_TEST(probe.destroyed == 1);
}

// The dont_incref constructor adopts a +1 the caller already holds.
BOOST_AUTO_TEST_CASE(dont_incref_adopts_an_existing_reference) {
  Probe probe;
  auto p = make_intrusive<Counted>(&probe);
  CountedPtr adopted(p.release(), revive::dont_incref);
  BOOST_TEST(adopted.use_count() == 1u);
  adopted.reset();
  BOOST_TEST(probe.destroyed == 1);
}

// An upcast moves the reference to a base-class pointer, and the last release still
// runs the derived destructor (it is virtual in intrusive_ptr_target).
BOOST_AUTO_TEST_CASE(upcast_keeps_the_count_and_deletes_through_the_base) {
  Probe probe;
  auto p = make_intrusive<Counted>(&probe);
  Counted* raw = p.get();
  revive::intrusive_ptr<intrusive_ptr_target> base = std::move(p);
  BOOST_TEST(!p.defined());  // NOLINT(bugprone-use-after-move): checked on purpose
  BOOST_TEST(base.get() == raw);
  BOOST_TEST(base.use_count() == 1u);
  base.reset();
  BOOST_TEST(probe.destroyed == 1);
}

// Concurrent copies and drops from several threads keep the count exact.
BOOST_AUTO_TEST_CASE(concurrent_copies_keep_the_count_exact, *utf::timeout(60)) {
  constexpr int kThreads = 4;
  constexpr int kIterations = 20000;
  Probe probe;
  auto p = make_intrusive<Counted>(&probe);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&p] {
      for (int n = 0; n < kIterations; ++n) {
        CountedPtr copy = p;  // concurrent reads of p are fine: nobody writes it
        weak_intrusive_ptr<Counted> weak(copy);
        CountedPtr locked = weak.lock();
      }
    });
  }
  for (std::thread& th : threads) th.join();
  BOOST_TEST(p.use_count() == 1u);
  BOOST_TEST(p->weakcount() == 1u);
  BOOST_TEST(probe.released == 0);
  BOOST_TEST(probe.destroyed == 0);
  p.reset();
  BOOST_TEST(probe.destroyed == 1);
}

// lock() racing with the last strong release never revives a dead object: once a thread
// sees null it keeps seeing null, release_resources() runs once, deletion happens once.
BOOST_AUTO_TEST_CASE(lock_racing_the_last_release_never_revives, *utf::timeout(60)) {
  constexpr int kThreads = 3;
  constexpr int kRounds = 200;
  for (int round = 0; round < kRounds; ++round) {
    BOOST_TEST_CONTEXT("round " << round) {
      Probe probe;
      auto p = make_intrusive<Counted>(&probe);
      std::vector<weak_intrusive_ptr<Counted>> weaks;
      for (int t = 0; t < kThreads; ++t) weaks.emplace_back(p);
      std::atomic<int> ready{0};
      std::vector<int> revived(kThreads, 0);
      std::vector<std::thread> threads;
      for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
          ready.fetch_add(1);
          bool saw_null = false;
          for (int n = 0; n < 2000; ++n) {
            CountedPtr locked = weaks[static_cast<std::size_t>(t)].lock();
            if (!locked) {
              saw_null = true;
            } else if (saw_null) {
              revived[static_cast<std::size_t>(t)] = 1;  // a dead object came back
            }
          }
        });
      }
      while (ready.load() < kThreads) std::this_thread::yield();
      p.reset();
      for (std::thread& th : threads) th.join();
      for (int t = 0; t < kThreads; ++t) BOOST_TEST(revived[static_cast<std::size_t>(t)] == 0);
      BOOST_TEST(probe.released == 1);
      BOOST_TEST(probe.destroyed == 0);
      weaks.clear();
      BOOST_TEST(probe.destroyed == 1);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
