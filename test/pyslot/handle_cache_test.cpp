// PyHandleCache: a cache for the first interpreter that asks, a slow path for the rest.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <latch>
#include <thread>
#include <vector>

#include "revive/pyslot/py_handle_cache.h"
#include "revive_test.h"

using revive::PyObject;
using revive::impl::noop_vtable;
using revive::impl::PyHandleCache;
using revive::impl::PyInterpreter;

namespace {
alignas(8) unsigned char twin_a[8];
alignas(8) unsigned char twin_b[8];
PyObject* fake(unsigned char* p) { return reinterpret_cast<PyObject*>(p); }
}  // namespace

BOOST_FIXTURE_TEST_SUITE(handle_cache, revive::testing::LeakCheck, *utf::label("handle-cache"))

// The first interpreter's slow path runs once; after that it is a hit.
BOOST_AUTO_TEST_CASE(first_interpreter_claims_the_cache) {
  PyInterpreter i0(&noop_vtable()), i1(&noop_vtable());
  PyHandleCache cache;
  int slow0 = 0, slow1 = 0;
  auto get0 = [&] { ++slow0; return fake(twin_a); };
  auto get1 = [&] { ++slow1; return fake(twin_b); };
  BOOST_TEST(cache.owner() == nullptr);
  BOOST_TEST(cache.ptr_or(&i0, get0) == fake(twin_a));
  BOOST_TEST(cache.ptr_or(&i0, get0) == fake(twin_a));
  BOOST_TEST(slow0 == 1);
  BOOST_TEST(cache.owner() == &i0);
  // Another interpreter: always the slow path, never the cached pointer.
  BOOST_TEST(cache.ptr_or(&i1, get1) == fake(twin_b));
  BOOST_TEST(cache.ptr_or(&i1, get1) == fake(twin_b));
  BOOST_TEST(slow1 == 2);
  BOOST_TEST(cache.owner() == &i0);
}

// Concurrent first use: one interpreter claims it, every answer is right.
BOOST_AUTO_TEST_CASE(concurrent_claim_has_one_owner_and_right_answers,
                     *utf::timeout(60) *utf::label("threads")) {
  constexpr int kThreads = 8;
  alignas(8) static unsigned char twins[kThreads][8];
  for (int round = 0; round < 100; ++round) {
    std::vector<std::unique_ptr<PyInterpreter>> interps;
    for (int i = 0; i < kThreads; ++i) interps.push_back(std::make_unique<PyInterpreter>(&noop_vtable()));
    PyHandleCache cache;
    std::atomic<int> wrong{0};
    std::latch start(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        start.arrive_and_wait();
        for (int k = 0; k < 50; ++k) {
          PyObject* got = cache.ptr_or(interps[static_cast<std::size_t>(i)].get(),
                                       [&] { return fake(twins[i]); });
          if (got != fake(twins[i])) wrong.fetch_add(1);
        }
      });
    }
    for (auto& t : threads) t.join();
    BOOST_TEST_REQUIRE(wrong.load() == 0, "round " << round);
    BOOST_TEST_REQUIRE(cache.owner() != nullptr, "round " << round);
  }
}

BOOST_AUTO_TEST_SUITE_END()
