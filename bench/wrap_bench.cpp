// 2. Wrap round trips: what preservation costs and saves against E0, the era before it,
//    when every trip of a tensor into Python made a fresh wrapper and every drop freed it.
//
//   design       T2  re-wrap of a live wrapper: one incref (and its decref on drop);
//                T5  re-wrap of a zombie: clear the owns bit, make cdata owning again;
//                T3  drop of the last Python reference while C++ holds the tensor: the
//                    dealloc resurrects the wrapper and flips ownership;
//                T3+T5 the whole round trip of a tensor that C++ keeps.
//   alternative  E0: the same Interpreter::wrap in hermetic mode, which is exactly E0's
//                behaviour (a fresh wrapper with an owning cdata that never touches the
//                slot and dies like any Python object).  It pays two TLS reads, one
//                check_pyobj and one tag load that E0 did not: a few nanoseconds.
//
// T5 and T3 alone cannot be repeated on one tensor without the other, so they run on a
// batch of tensors: one iteration times the batch's wraps (or drops) with a steady
// clock and does the other half untimed (manual time).  E0's halves are timed the same
// way.  Also here: count_wrap_cycles, the live-object growth check.
#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <vector>

#include "revive/tensor/storage_impl.h"
#include "suite.h"

namespace revive::bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kBatch = 512;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::vector<Tensor> fresh_tensors(std::size_t n) {
  std::vector<Tensor> ts;
  ts.reserve(n);
  for (std::size_t i = 0; i < n; ++i) ts.push_back(Tensor::empty(1));
  return ts;
}

// Each tensor gets a wrapper, which is then dropped while C++ holds the tensor: a
// zombie (Z).  Returns the wrappers' addresses, to check identity later.
std::vector<const PyObject*> make_zombies(binding::Interpreter& interp,
                                          const std::vector<Tensor>& ts) {
  std::vector<const PyObject*> ids;
  for (const Tensor& t : ts) {
    interp::Ref w = interp.wrap(t);
    ids.push_back(w.get());
  }  // each Ref dies here: T3
  return ids;
}

bool same_wrappers(binding::Interpreter& interp, const std::vector<Tensor>& ts,
                   const std::vector<const PyObject*>& ids) {
  for (std::size_t i = 0; i < ts.size(); ++i) {
    interp::Ref w = interp.wrap(ts[i]);
    if (w.get() != ids[i]) return false;
  }
  return true;
}

}  // namespace

void register_wrap(Suite& suite) {
  const std::string section = "2. wrap round trips against E0 (fresh wrapper each time)";

  // ---- one tensor, one whole round trip per iteration --------------------------------
  suite.add("wrap/T2 re-wrap live + drop", 1, [&suite](benchmark::State& state) {
    binding::Interpreter& I = suite.main_interpreter();
    Tensor t = Tensor::empty(1);
    interp::Ref p = I.wrap(t);  // L: Python holds p for the whole benchmark
    for (auto _ : state) {
      interp::Ref q = I.wrap(t);  // T2: the same object, one more reference
      benchmark::DoNotOptimize(q.get());
    }  // q's decref each iteration
    interp::Ref q = I.wrap(t);
    if (q.get() != p.get()) state.SkipWithError("T2 returned another wrapper");
  });

  suite.add("wrap/T5+T3 re-wrap zombie + drop", 1, [&suite](benchmark::State& state) {
    binding::Interpreter& I = suite.main_interpreter();
    Tensor t = Tensor::empty(1);  // C++ keeps the tensor for the whole benchmark
    const std::vector<const PyObject*> id = make_zombies(I, {t});
    for (auto _ : state) {
      interp::Ref q = I.wrap(t);  // T5: Z -> L, no allocation
      benchmark::DoNotOptimize(q.get());
    }  // T3: L -> Z, resurrection
    if (!same_wrappers(I, {t}, id)) state.SkipWithError("the zombie was not re-used");
  });

  suite.add("wrap/E0 fresh wrap + free", 1, [&suite](benchmark::State& state) {
    binding::Interpreter& I = suite.main_interpreter();
    Tensor t = Tensor::empty(1);
    ProcessFlagsGuard restore;
    impl::EnableHermeticPyObject e0;  // see the file comment: hermetic wrap is E0's wrap
    for (auto _ : state) {
      interp::Ref q = I.wrap(t);  // a new wrapper every time
      benchmark::DoNotOptimize(q.get());
    }  // freed every time
  });

  // ---- a batch of tensors: T5 alone, T3 alone, and E0's two halves ----------------------
  suite.add("wrap/T5 re-wrap zombie (batch)", kBatch, [&suite](benchmark::State& state) {
    binding::Interpreter& I = suite.main_interpreter();
    const std::vector<Tensor> ts = fresh_tensors(kBatch);
    const std::vector<const PyObject*> ids = make_zombies(I, ts);
    std::vector<interp::Ref> refs(kBatch);
    for (auto _ : state) {
      const auto t0 = Clock::now();
      for (std::size_t k = 0; k < kBatch; ++k) refs[k] = I.wrap(ts[k]);  // T5
      const auto t1 = Clock::now();
      state.SetIterationTime(seconds_between(t0, t1));
      for (interp::Ref& r : refs) r.reset();  // T3, untimed
    }
    if (!same_wrappers(I, ts, ids)) state.SkipWithError("a zombie was not re-used");
  })->UseManualTime();

  suite.add("wrap/E0 fresh wrap (batch)", kBatch, [&suite](benchmark::State& state) {
    binding::Interpreter& I = suite.main_interpreter();
    const std::vector<Tensor> ts = fresh_tensors(kBatch);
    std::vector<interp::Ref> refs(kBatch);
    ProcessFlagsGuard restore;
    impl::EnableHermeticPyObject e0;
    for (auto _ : state) {
      const auto t0 = Clock::now();
      for (std::size_t k = 0; k < kBatch; ++k) refs[k] = I.wrap(ts[k]);  // allocate
      const auto t1 = Clock::now();
      state.SetIterationTime(seconds_between(t0, t1));
      for (interp::Ref& r : refs) r.reset();  // free, untimed
    }
  })->UseManualTime();

  suite.add("wrap/T3 drop resurrects (batch)", kBatch, [&suite](benchmark::State& state) {
    binding::Interpreter& I = suite.main_interpreter();
    const std::vector<Tensor> ts = fresh_tensors(kBatch);
    const std::vector<const PyObject*> ids = make_zombies(I, ts);
    std::vector<interp::Ref> refs(kBatch);
    for (auto _ : state) {
      for (std::size_t k = 0; k < kBatch; ++k) refs[k] = I.wrap(ts[k]);  // T5, untimed
      const auto t0 = Clock::now();
      for (interp::Ref& r : refs) r.reset();  // T3
      const auto t1 = Clock::now();
      state.SetIterationTime(seconds_between(t0, t1));
    }
    if (!same_wrappers(I, ts, ids)) state.SkipWithError("a zombie was not re-used");
  })->UseManualTime();

  suite.add("wrap/E0 drop frees (batch)", kBatch, [&suite](benchmark::State& state) {
    binding::Interpreter& I = suite.main_interpreter();
    const std::vector<Tensor> ts = fresh_tensors(kBatch);
    std::vector<interp::Ref> refs(kBatch);
    ProcessFlagsGuard restore;
    impl::EnableHermeticPyObject e0;
    for (auto _ : state) {
      for (std::size_t k = 0; k < kBatch; ++k) refs[k] = I.wrap(ts[k]);  // allocate, untimed
      const auto t0 = Clock::now();
      for (interp::Ref& r : refs) r.reset();  // free
      const auto t1 = Clock::now();
      state.SetIterationTime(seconds_between(t0, t1));
    }
  })->UseManualTime();

  suite.compare(section, "T2 re-wrap of a live wrapper + drop vs E0 wrap + free",
                "wrap/T2 re-wrap live + drop", "wrap/E0 fresh wrap + free");
  suite.compare(section, "T5 re-wrap of a zombie vs E0 fresh wrap (batch of 512)",
                "wrap/T5 re-wrap zombie (batch)", "wrap/E0 fresh wrap (batch)");
  suite.compare(section, "T3 drop with resurrection vs E0 drop + free (batch of 512)",
                "wrap/T3 drop resurrects (batch)", "wrap/E0 drop frees (batch)");
  suite.compare(section, "T5 + T3 round trip (resurrect, re-wrap) vs E0 wrap + free",
                "wrap/T5+T3 re-wrap zombie + drop", "wrap/E0 fresh wrap + free");
}

// ---- live objects after many wrap -> re-wrap -> drop cycles --------------------------------

void count_wrap_cycles(Suite& suite) {
  binding::Interpreter& I = suite.main_interpreter();
  const std::int64_t cycles = suite.options().cycles;
  const std::string section = "8. live objects after wrap cycles (counted, not timed)";

  const std::int64_t py_before = binding::Interpreter::live_object_count();
  const std::int64_t tensors_before = TensorImpl::live_count();
  const std::int64_t storages_before = StorageImpl::live_count();

  std::int64_t py_first = 0, py_last = 0, tensors_first = 0, tensors_last = 0;
  long long heap_first = 0, heap_last = 0;
  bool identity_kept = true;
  {
    Tensor t = Tensor::empty(1);  // C++ holds the tensor throughout
    const PyObject* first_wrapper = nullptr;
    // One cycle: wrap (a new wrapper the first time, then T5), re-wrap (T2), drop
    // both (T3: resurrection into a zombie).
    auto cycle = [&] {
      interp::Ref p = I.wrap(t);
      interp::Ref q = I.wrap(t);
      if (first_wrapper == nullptr) first_wrapper = p.get();
      if (p.get() != first_wrapper || q.get() != first_wrapper) identity_kept = false;
    };
    cycle();
    py_first = binding::Interpreter::live_object_count();
    tensors_first = TensorImpl::live_count();
    heap_first = static_cast<long long>(mallinfo2().uordblks);
    for (std::int64_t i = 1; i < cycles; ++i) cycle();
    py_last = binding::Interpreter::live_object_count();
    tensors_last = TensorImpl::live_count();
    heap_last = static_cast<long long>(mallinfo2().uordblks);
  }  // T6: C++ lets go, the zombie really dies
  const std::int64_t py_after = binding::Interpreter::live_object_count();
  const std::int64_t tensors_after = TensorImpl::live_count();
  const std::int64_t storages_after = StorageImpl::live_count();

  const std::string n = power_of_ten(static_cast<std::size_t>(cycles));
  auto signed_text = [](long long v, const char* unit) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%+lld %s", v, unit);
    return std::string(buf);
  };
  Row objects;
  objects.section = section;
  objects.measure = "live Python objects, growth over " + n + " wrap/re-wrap/drop cycles";
  objects.design_text = signed_text(py_last - py_first, "objects");
  objects.target_text = "= 0";
  objects.met = py_last == py_first && identity_kept;
  suite.count(objects);

  Row tensors;
  tensors.section = section;
  tensors.measure = "live TensorImpls, growth over the same cycles";
  tensors.design_text = signed_text(tensors_last - tensors_first, "tensors");
  tensors.target_text = "= 0";
  tensors.met = tensors_last == tensors_first;
  suite.count(tensors);

  Row heap;
  heap.section = section;
  heap.measure = "heap in use (mallinfo2), growth over the same cycles";
  heap.design_text = signed_text(heap_last - heap_first, "B");
  suite.count(heap);

  Row after;
  after.section = section;
  after.measure = "after C++ drops the tensor: objects, tensors, storages left";
  char left[96];
  std::snprintf(left, sizeof left, "%+lld / %+lld / %+lld",
                static_cast<long long>(py_after - py_before),
                static_cast<long long>(tensors_after - tensors_before),
                static_cast<long long>(storages_after - storages_before));
  after.design_text = left;
  after.target_text = "all 0";
  after.met = py_after == py_before && tensors_after == tensors_before &&
              storages_after == storages_before;
  suite.count(after);
}

}  // namespace revive::bench
