// 5. Tagging a slot: PyObjectSlot::init_pyobj (Note [Memory ordering on Python
//    interpreter tag]).
//
//   design       DEFINITELY_UNINITIALIZED: the tensor has not escaped this thread
//                (strong count 1), so the tag is a relaxed store.
//   alternative  MAYBE_UNINITIALIZED: another thread may tag it first, so the tag is a
//                compare_exchange_strong (acq_rel): on x86 a `lock cmpxchg`.
//   Each runs on a batch of 1024 fresh, untagged slots, one per 64-byte line as slots
//   of distinct tensors are; an iteration times the batch's init_pyobj calls and then
//   rebuilds the slots untimed (manual time).
//
// Contention, two threads.  A true race for one slot is not something this design lets
// two threads run in a loop: two threads of one interpreter would both write pyobj_
// (the GIL forbids it), and of two interpreters one wins and the other throws.  So:
//   - what the hardware charges: each thread re-tags its own slot, which init_pyobj
//     accepts for both statuses when the slot is already tagged by the caller (the CAS
//     then fails, still a locked instruction that needs the line exclusively, and the
//     store rewrites the same value).  The two slots either share one cache line or
//     have a line each;
//   - what the design charges the loser of a real race: init_pyobj(MAYBE) on a slot
//     another interpreter tagged builds the error message and throws.
#include <chrono>
#include <cstdint>
#include <memory>
#include <new>

#include "suite.h"

namespace revive::bench {
namespace {

using impl::PyInterpreterStatus;
using impl::PyObjectSlot;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kBatch = 1024;

// A wrapper address for slots that never own it (owns bit clear), so it is never
// dereferenced: 16-aligned, bit 0 free.
alignas(16) std::uint64_t fake_wrapper_storage[2];
PyObject* fake_wrapper() { return reinterpret_cast<PyObject*>(fake_wrapper_storage); }

struct alignas(64) LineSlot {
  PyObjectSlot slot;
};

void fresh_tag_loop(Suite& suite, PyInterpreterStatus status, benchmark::State& state) {
  impl::PyInterpreter* self = suite.main_interpreter().pyinterpreter();
  std::unique_ptr<LineSlot[]> slots(new LineSlot[kBatch]);
  PyObject* wrapper = fake_wrapper();
  for (auto _ : state) {
    const auto t0 = Clock::now();
    for (std::size_t i = 0; i < kBatch; ++i) slots[i].slot.init_pyobj(self, wrapper, status);
    const auto t1 = Clock::now();
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    // Untimed: back to untagged (a slot is never untagged in the library; a new one is).
    for (std::size_t i = 0; i < kBatch; ++i) {
      slots[i].slot.~PyObjectSlot();
      new (&slots[i].slot) PyObjectSlot();
    }
  }
  slots[0].slot.init_pyobj(self, wrapper, status);
  if (slots[0].slot.pyobj_interpreter() != self) state.SkipWithError("the slot was not tagged");
}

// Two threads, each re-tagging its own slot; the slots share a line or do not.  "A line
// each" keeps them 128 bytes apart, so the adjacent-line prefetcher (which fetches
// 128-byte pairs) does not make them share after all.
struct alignas(64) SharedLine {
  PyObjectSlot slots[2];  // 2 x 16 bytes: one cache line
};
struct alignas(128) FarSlot {
  PyObjectSlot slot;
};
SharedLine shared_line;
FarSlot own_lines[2];

void contended_loop(Suite& suite, PyInterpreterStatus status, bool share,
                    benchmark::State& state) {
  impl::PyInterpreter* self = suite.main_interpreter().pyinterpreter();
  const auto me = static_cast<std::size_t>(state.thread_index());
  PyObjectSlot& slot = share ? shared_line.slots[me] : own_lines[me].slot;
  PyObject* wrapper = fake_wrapper();
  slot.init_pyobj(self, wrapper, status);  // the first call tags it (if not yet)
  for (auto _ : state) {
    slot.init_pyobj(self, wrapper, status);
  }
}

}  // namespace

void register_tag(Suite& suite) {
  const std::string section = "5. init_pyobj: tagging a slot";

  suite.add("tag/DEFINITELY_UNINITIALIZED, fresh slots", kBatch,
            [&suite](benchmark::State& s) {
              fresh_tag_loop(suite, PyInterpreterStatus::DEFINITELY_UNINITIALIZED, s);
            })
      ->UseManualTime();
  suite.add("tag/MAYBE_UNINITIALIZED, fresh slots", kBatch,
            [&suite](benchmark::State& s) {
              fresh_tag_loop(suite, PyInterpreterStatus::MAYBE_UNINITIALIZED, s);
            })
      ->UseManualTime();

  struct Contended {
    const char* name;
    PyInterpreterStatus status;
    bool share;
  };
  for (const Contended& c : {
           Contended{"tag/2 threads, CAS, a line each", PyInterpreterStatus::MAYBE_UNINITIALIZED, false},
           Contended{"tag/2 threads, CAS, one shared line", PyInterpreterStatus::MAYBE_UNINITIALIZED, true},
           Contended{"tag/2 threads, store, a line each", PyInterpreterStatus::DEFINITELY_UNINITIALIZED, false},
           Contended{"tag/2 threads, store, one shared line", PyInterpreterStatus::DEFINITELY_UNINITIALIZED, true},
       }) {
    suite.add(c.name, 1, [&suite, c](benchmark::State& s) {
      contended_loop(suite, c.status, c.share, s);
    })->Threads(2);
  }

  suite.add("tag/lost race: MAYBE on a slot I1 tagged", 1, [&suite](benchmark::State& state) {
    PyObjectSlot taken;
    taken.init_pyobj(suite.second_interpreter().pyinterpreter(), fake_wrapper(),
                     PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
    impl::PyInterpreter* self = suite.main_interpreter().pyinterpreter();
    for (auto _ : state) {
      try {
        taken.init_pyobj(self, fake_wrapper(), PyInterpreterStatus::MAYBE_UNINITIALIZED);
        state.SkipWithError("I0 took a slot I1 had tagged");
        break;
      } catch (const Error& e) {
        benchmark::DoNotOptimize(e.what());
      }
    }
  });

  suite.compare(section, "DEFINITELY (relaxed store) vs MAYBE (CAS), fresh slots",
                "tag/DEFINITELY_UNINITIALIZED, fresh slots",
                "tag/MAYBE_UNINITIALIZED, fresh slots");
  suite.compare(section, "2 threads, CAS: a line each vs one shared line (per thread)",
                "tag/2 threads, CAS, a line each", "tag/2 threads, CAS, one shared line");
  suite.compare(section, "2 threads, store: a line each vs one shared line (per thread)",
                "tag/2 threads, store, a line each", "tag/2 threads, store, one shared line");
  suite.compare(section, "winning a tag (CAS) vs losing the race to I1 (throws)",
                "tag/MAYBE_UNINITIALIZED, fresh slots", "tag/lost race: MAYBE on a slot I1 tagged");
}

}  // namespace revive::bench
