// Note [GIL order across interpreters]: interpreters whose tensors hold each other's
// tensors through C++ grads, each on its own thread, dropping their wrappers at once.
// Without the rule, each thread would hold its interpreter's GIL while it waits for
// the next one's: a ring of waits, and the test would hang (the watchdog then aborts
// it with a message instead).
#include <boost/test/unit_test.hpp>

#include <array>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "revive/binding/tensor_methods.h"
#include "revive/pictures/inspect.h"
#include "revive_test.h"

using namespace revive;
using namespace revive::interp;
using namespace revive::binding;
using namespace revive::pictures;

namespace {

constexpr int kRing = 3;      // interpreters, one thread each
constexpr int kRounds = 500;    // each round forms the ring anew

// Aborts the process with a message if `done` is not set within `limit`.
class Watchdog {
 public:
  explicit Watchdog(std::chrono::seconds limit)
      : thread_([this, limit] {
          const auto until = std::chrono::steady_clock::now() + limit;
          while (!done_.load()) {
            if (std::chrono::steady_clock::now() > until) {
              std::fprintf(stderr, "gil_order_test: no progress in %lld s: the interpreters' "
                                   "GILs deadlocked (Note [GIL order across interpreters])\n",
                           static_cast<long long>(limit.count()));
              std::abort();
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
          }
        }) {}
  ~Watchdog() {
    done_.store(true);
    thread_.join();
  }

 private:
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(gil_order, revive::testing::LeakCheck, *utf::label("threads") *utf::label("interpreter-tag"))

// Round after round: A_k is wrapped only by W_k in interpreter k, and holds as its grad
// B_{k+1}, whose wrapper is a zombie of interpreter k+1.  Thread k drops W_k: a real
// death in interpreter k whose cdata release kills A_k, which releases B_{k+1}, whose
// zombie interpreter k+1 must take back (T6) under its own GIL.
BOOST_AUTO_TEST_CASE(dying_wrappers_that_reach_each_others_interpreters_do_not_deadlock) {
  std::array<Interpreter::Owner, kRing> I;
  for (int k = 0; k < kRing; ++k) I[k] = Interpreter::create("G" + std::to_string(k));
  std::array<Ref, kRing> W;
  std::barrier sync(kRing + 1);  // the test's thread and the ring's
  std::barrier holding(kRing);   // the ring's threads, each holding its own GIL
  std::atomic<int> zombies_seen{0};
  Watchdog watchdog(std::chrono::seconds(20));
  std::array<std::thread, kRing> threads;
  for (int k = 0; k < kRing; ++k) {
    threads[k] = std::thread([&, k] {
      for (int round = 0; round < kRounds; ++round) {
        sync.arrive_and_wait();  // the ring is built
        {
          // As Python code does, drop the wrapper with the GIL held (`del w`).  Every
          // thread holds its own GIL when the drops start: without the rule each would
          // then wait for the next one's, for good.
          GilGuard hold(I[k]->gil());
          holding.arrive_and_wait();
          W[k].reset();
        }
        sync.arrive_and_wait();  // every wrapper dropped
      }
    });
  }
  for (int round = 0; round < kRounds; ++round) {
    {
      std::array<Tensor, kRing> A, B;
      for (int k = 0; k < kRing; ++k) {
        A[k] = Tensor::empty(1);
        B[k] = Tensor::empty(1);
      }
      for (int k = 0; k < kRing; ++k) A[k].set_grad(B[(k + 1) % kRing]);
      for (int k = 0; k < kRing; ++k) {
        { Ref z = I[k]->wrap(B[k]); }  // a zombie: A[k-1]'s grad holds B[k]
        if (inspect(*I[k], B[k].unsafeGetTensorImpl()).state == SlotState::Z) ++zombies_seen;
        W[k] = I[k]->wrap(A[k]);
      }
    }  // now A[k] is held only by W[k], B[k] only by A[k-1]'s grad
    sync.arrive_and_wait();
    sync.arrive_and_wait();
    for (int k = 0; k < kRing; ++k) BOOST_REQUIRE(I[k]->live_objects() == 0u);
  }
  for (auto& t : threads) t.join();
  BOOST_TEST(zombies_seen.load() == kRing * kRounds);
}

BOOST_AUTO_TEST_SUITE_END()
