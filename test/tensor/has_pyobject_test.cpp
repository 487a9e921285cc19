// Era E4's has-PyObject bit in the refcount word (Note [The has-PyObject bit],
// tensor/intrusive_ptr.h): C++ holds one reference to the wrapper exactly while it
// shares the target (n >= 2), the bit is set without losing a reference to a racing
// count change, and lock() never revives a target whose only owner, the wrapper, is
// dying.  A test target stands in for the wrapper's interpreter: its hooks count.
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "revive/tensor/intrusive_ptr.h"
#include "revive/tensor/testing.h"
#include "revive_test.h"

namespace {

using revive::intrusive_ptr;
using revive::intrusive_ptr_target;
using revive::make_intrusive;
using revive::weak_intrusive_ptr;

// The references C++ holds to the (imaginary) wrapper, as the hooks move them.
struct Wrapper {
  std::atomic<int> cpp_refs{0};  // incref_pyobject - decref_pyobject
  std::atomic<int> increfs{0};
  std::atomic<int> decrefs{0};
  std::atomic<bool> dying{false};  // try_incref_pyobject answers false
  std::atomic<int> increfs_while_dying{0};  // the first version's race, happening
};

class Preserved : public intrusive_ptr_target {
 public:
  explicit Preserved(Wrapper* w) : w_(w) {}

 private:
  void incref_pyobject() const noexcept override {
    if (w_->dying.load()) w_->increfs_while_dying.fetch_add(1);
    w_->cpp_refs.fetch_add(1);
    w_->increfs.fetch_add(1);
  }
  void decref_pyobject() const noexcept override {
    w_->cpp_refs.fetch_sub(1);
    w_->decrefs.fetch_add(1);
  }
  bool try_incref_pyobject() const noexcept override {
    if (w_->dying.load()) return false;
    incref_pyobject();
    return true;
  }
  Wrapper* w_;
};

// A type that never opts in: its copies never look at the bit.
class Plain : public intrusive_ptr_target {};

}  // namespace

template <>
struct revive::TargetTraits<Preserved> {
  static constexpr bool can_have_pyobject = true;
};

static_assert(!revive::TargetTraits<Plain>::can_have_pyobject, "types pay for the bit check only if they opt in");
static_assert(revive::detail::refcount(revive::detail::kUniqueRef | revive::detail::kHasPyObject) == 1 &&
                  revive::detail::weakcount(revive::detail::kUniqueRef | revive::detail::kHasPyObject) == 1,
              "the bit is part of neither count");

BOOST_FIXTURE_TEST_SUITE(has_pyobject_bit, revive::testing::LeakCheck, *utf::label("e4") *utf::label("refcount"))

BOOST_AUTO_TEST_CASE(without_the_bit_copies_never_call_the_hooks) {
  Wrapper w;
  auto p = make_intrusive<Preserved>(&w);
  {
    auto q = p;
    auto r = q;
  }
  BOOST_TEST(!p->has_pyobject());
  BOOST_TEST(w.increfs.load() == 0);
  BOOST_TEST(w.decrefs.load() == 0);
}

// The wrapper owns the one strong reference (n == 1); C++ sharing the target makes
// n == 2 and takes a reference to the wrapper, and letting go gives it back.
BOOST_AUTO_TEST_CASE(one_to_two_increfs_the_wrapper_and_two_to_one_decrefs_it) {
  Wrapper w;
  auto wrapper_ref = make_intrusive<Preserved>(&w);  // the wrapper's cdata
  wrapper_ref->set_has_pyobject_fresh();
  BOOST_TEST(wrapper_ref->has_pyobject());
  BOOST_TEST(wrapper_ref->refcount() == 1u);
  BOOST_TEST(wrapper_ref->weakcount() == 1u);
  {
    auto cpp = wrapper_ref;  // 1 -> 2
    BOOST_TEST(w.cpp_refs.load() == 1);
    {
      auto more = cpp;  // 2 -> 3: C++ already holds the wrapper
      BOOST_TEST(w.increfs.load() == 1);
    }
    BOOST_TEST(w.decrefs.load() == 0);  // 3 -> 2
  }  // 2 -> 1
  BOOST_TEST(w.cpp_refs.load() == 0);
  BOOST_TEST(w.increfs.load() == 1);
  BOOST_TEST(w.decrefs.load() == 1);
}

BOOST_AUTO_TEST_CASE(the_fresh_store_refuses_a_shared_target) {
  Wrapper w;
  auto p = make_intrusive<Preserved>(&w);
  auto q = p;
  BOOST_CHECK_EXCEPTION(p->set_has_pyobject_fresh(), revive::Error, [](const revive::Error& e) {
    return std::string(e.what()).find("the target is shared") != std::string::npos;
  });
  weak_intrusive_ptr<Preserved> weak(p);
  q.reset();
  BOOST_CHECK_THROW(p->set_has_pyobject_fresh(), revive::Error);  // a weak reference shares it too
  BOOST_TEST(!p->has_pyobject());
}

// Setting the bit on a shared target: C++'s reference to the wrapper comes with it.
BOOST_AUTO_TEST_CASE(setting_the_bit_on_a_shared_target_takes_cpps_reference_first) {
  Wrapper w;
  auto wrapper_ref = make_intrusive<Preserved>(&w);
  auto cpp = wrapper_ref;  // n == 2 before any wrapper existed
  BOOST_TEST(wrapper_ref->set_has_pyobject());
  BOOST_TEST(w.cpp_refs.load() == 1);
  BOOST_TEST(!wrapper_ref->set_has_pyobject());  // already set: nothing changes
  BOOST_TEST(w.cpp_refs.load() == 1);
  cpp.reset();  // 2 -> 1
  BOOST_TEST(w.cpp_refs.load() == 0);
}

BOOST_AUTO_TEST_CASE(setting_the_bit_at_one_strong_reference_takes_none) {
  Wrapper w;
  auto wrapper_ref = make_intrusive<Preserved>(&w);
  weak_intrusive_ptr<Preserved> weak(wrapper_ref);  // not unique, but n == 1
  BOOST_TEST(wrapper_ref->set_has_pyobject());
  BOOST_TEST(w.cpp_refs.load() == 0);
  BOOST_TEST(w.increfs.load() == 0);
}

// lock() at n == 1: the wrapper is the only owner.  A live wrapper gives C++ its
// reference; a dying one makes lock() fail, and nothing changes.
BOOST_AUTO_TEST_CASE(lock_at_one_takes_a_reference_to_a_live_wrapper) {
  Wrapper w;
  auto wrapper_ref = make_intrusive<Preserved>(&w);
  wrapper_ref->set_has_pyobject_fresh();
  weak_intrusive_ptr<Preserved> weak(wrapper_ref);
  {
    auto locked = weak.lock();
    BOOST_REQUIRE(locked);
    BOOST_TEST(locked->refcount() == 2u);
    BOOST_TEST(w.cpp_refs.load() == 1);
  }
  BOOST_TEST(w.cpp_refs.load() == 0);
}

BOOST_AUTO_TEST_CASE(lock_at_one_fails_while_the_wrapper_is_dying) {
  Wrapper w;
  auto wrapper_ref = make_intrusive<Preserved>(&w);
  wrapper_ref->set_has_pyobject_fresh();
  weak_intrusive_ptr<Preserved> weak(wrapper_ref);
  w.dying = true;  // its refcount reached 0 in its interpreter; its dealloc runs
  BOOST_TEST(!weak.lock());
  BOOST_TEST(wrapper_ref->refcount() == 1u);
  BOOST_TEST(w.cpp_refs.load() == 0);
  BOOST_TEST(w.increfs.load() == 0);
}

// E4's first version (#166342) did it the other way round: the count first, then the
// wrapper's incref, on a wrapper that may already be dying (in CPython: freed memory).
// Shown here on the stand-in, where it is only a count; then the fixed order refuses.
BOOST_AUTO_TEST_CASE(the_first_versions_lock_increfs_a_dying_wrapper_the_fix_refuses) {
  struct FirstVersion {
    FirstVersion() { revive::testing::set_e4_lock(revive::testing::E4Lock::FirstVersion); }
    ~FirstVersion() { revive::testing::set_e4_lock(revive::testing::E4Lock::Fixed); }
  };
  Wrapper w;
  auto wrapper_ref = make_intrusive<Preserved>(&w);
  wrapper_ref->set_has_pyobject_fresh();
  weak_intrusive_ptr<Preserved> weak(wrapper_ref);
  w.dying = true;
  {
    FirstVersion first;
    auto locked = weak.lock();
    BOOST_TEST(static_cast<bool>(locked));           // revived a target whose owner is dying
    BOOST_TEST(w.increfs_while_dying.load() == 1);  // and increfed the dying wrapper
  }
  BOOST_TEST(!weak.lock());  // fixed: refused
  BOOST_TEST(w.increfs_while_dying.load() == 1);
  BOOST_TEST(w.cpp_refs.load() == 0);
}

BOOST_AUTO_TEST_CASE(lock_at_two_or_more_needs_no_new_reference) {
  Wrapper w;
  auto wrapper_ref = make_intrusive<Preserved>(&w);
  wrapper_ref->set_has_pyobject_fresh();
  auto cpp = wrapper_ref;  // C++ holds the wrapper
  weak_intrusive_ptr<Preserved> weak(wrapper_ref);
  w.dying = true;  // never asked: n == 2
  auto locked = weak.lock();
  BOOST_REQUIRE(locked);
  BOOST_TEST(w.cpp_refs.load() == 1);
  BOOST_TEST(w.increfs.load() == 1);
}

// Many threads share and let go of the target at once, crossing 1 <-> 2 over and
// over: whatever the interleaving, C++ ends holding no reference to the wrapper, and
// every incref was matched (ThreadSanitizer checks the accesses in CI).
BOOST_AUTO_TEST_CASE(racing_shares_and_releases_balance_the_wrappers_references, *utf::timeout(60)) {
  Wrapper w;
  const auto wrapper_ref = make_intrusive<Preserved>(&w);
  wrapper_ref->set_has_pyobject_fresh();
  const weak_intrusive_ptr<Preserved> weak(wrapper_ref);
  std::atomic<int> failed_locks{0};  // counted here: Boost.Test asserts from one thread only
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20000; ++i) {
        if ((i + t) % 3 == 0) {
          auto locked = weak.lock();
          if (!locked) failed_locks.fetch_add(1);  // the wrapper is never dying here
        } else {
          auto copy = wrapper_ref;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  BOOST_TEST(failed_locks.load() == 0);
  BOOST_TEST(wrapper_ref->refcount() == 1u);
  BOOST_TEST(w.cpp_refs.load() == 0);
  BOOST_TEST(w.increfs.load() == w.decrefs.load());
  BOOST_TEST(w.increfs.load() > 0);
}

// A type whose TargetTraits say no never tests the bit: even with the bit set, its
// copies and releases never reach the hooks (whose defaults abort).
BOOST_AUTO_TEST_CASE(a_type_that_never_opts_in_ignores_the_bit) {
  auto p = make_intrusive<Plain>();
  p->set_has_pyobject_fresh();
  {
    auto q = p;  // 1 -> 2 with the bit set: no hook
    weak_intrusive_ptr<Plain> weak(q);
    auto locked = weak.lock();
  }  // 3 -> 1: no hook
  BOOST_TEST(p->has_pyobject());
  BOOST_TEST(p->refcount() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
