// 1. Finding a tensor's wrapper: PyObjectSlot::check_pyobj against the registries other
//    bindings use.
//
//   design       PyObjectSlot::check_pyobj on the tensor's own slot (the tag, the
//                hermetic TLS check, the pointer): the tensor's own memory, nothing else.
//   alternative  std::unordered_map<const void*, PyObject*> keyed by the C++ pointer
//                (pybind11's registered_instances, simplified to a unique map), and the
//                same map behind a std::mutex (what a binding must do without a GIL).
//
// Fairness: one population per size holds N live tensors, each with a live wrapper (L)
// recorded both in its slot and in the map; the map entry is inserted right after the
// wrap, as a binding registers an instance when it creates it, so map nodes sit among
// the other allocations as they would in a program.  Every benchmark walks the same
// precomputed random sequence of TensorImpl pointers, twice: with independent lookups
// (the core overlaps the misses of consecutive ones: throughput) and with dependent ones
// (the next position depends on the wrapper just found: the latency one wrap sees).
// A third walk is the realistic case of a wrap: an operation has just produced or
// touched the tensor, so the tensor's own memory is in cache, and then its wrapper is
// looked up.  The map gains nothing from a hot tensor; the slot lives in it.
#include <bit>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <unordered_map>
#include <vector>

#include "suite.h"

namespace revive::bench {
namespace {

struct Population {
  Population(binding::Interpreter& interp, std::size_t n) : size(n) {
    wrappers.reserve(n);
    tensors.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      Tensor t = Tensor::empty(1);
      interp::Ref w = interp.wrap(t);
      registry.emplace(t.unsafeGetTensorImpl(), w.get());
      tensors.push_back(std::move(t));
      wrappers.push_back(std::move(w));
    }
    // At least 2^16 accesses before the sequence repeats, a power of two for masking.
    const std::size_t length = std::bit_ceil(std::max<std::size_t>(n, std::size_t{1} << 16));
    mask = length - 1;
    order.resize(length);
    std::mt19937_64 rng(0x5eed);
    std::uniform_int_distribution<std::size_t> pick(0, n - 1);
    for (TensorImpl*& p : order) p = tensors[pick(rng)].unsafeGetTensorImpl();
  }

  ~Population() {
    // C++ lets go first, so each wrapper then dies as a plain Python object (no
    // resurrection, no zombie): the population leaves nothing behind.
    tensors.clear();
    wrappers.clear();
  }

  Population(const Population&) = delete;
  Population& operator=(const Population&) = delete;

  // Every slot and every map entry answers the wrapper the population holds.
  [[nodiscard]] bool consistent(impl::PyInterpreter* self) const {
    for (std::size_t i = 0; i < size; ++i) {
      TensorImpl* t = tensors[i].unsafeGetTensorImpl();
      const std::optional<PyObject*> in_slot = t->pyobj_slot()->check_pyobj(self);
      auto it = registry.find(t);
      if (!in_slot || *in_slot != wrappers[i].get()) return false;
      if (it == registry.end() || it->second != wrappers[i].get()) return false;
    }
    return true;
  }

  std::size_t size;
  std::vector<Tensor> tensors;
  std::vector<interp::Ref> wrappers;
  std::unordered_map<const void*, PyObject*> registry;
  mutable std::mutex registry_mutex;
  std::vector<TensorImpl*> order;  // the random access sequence
  std::size_t mask = 0;
};

// One population at a time: the benchmarks of one size run one after another.
std::unique_ptr<Population> current;

Population* population(Suite& suite, std::size_t n, benchmark::State& state) {
  if (!current || current->size != n) {
    current.reset();
    current = std::make_unique<Population>(suite.main_interpreter(), n);
    if (!current->consistent(suite.main_interpreter().pyinterpreter())) {
      state.SkipWithError("slot and registry disagree about a wrapper");
      return nullptr;
    }
  }
  return current.get();
}

// The three lookups, each answering the wrapper (or null) for a tensor.
struct SlotLookup {
  PyObject* operator()(const Population&, const TensorImpl* t) const {
    const std::optional<PyObject*> found = t->pyobj_slot()->check_pyobj(self);
    return found ? *found : nullptr;
  }
  impl::PyInterpreter* self;
};

struct MapLookup {
  PyObject* operator()(const Population& pop, const TensorImpl* t) const {
    auto it = pop.registry.find(t);
    return it == pop.registry.end() ? nullptr : it->second;
  }
};

struct LockedMapLookup {
  PyObject* operator()(const Population& pop, const TensorImpl* t) const {
    std::lock_guard<std::mutex> lock(pop.registry_mutex);
    auto it = pop.registry.find(t);
    return it == pop.registry.end() ? nullptr : it->second;
  }
};

// Independent lookups: the core may overlap the cache misses of several iterations,
// as a loop over many tensors would.
template <class Lookup>
void independent_loop(const Population& pop, Lookup lookup, benchmark::State& state) {
  const TensorImpl* const* order = pop.order.data();
  const std::size_t mask = pop.mask;
  std::size_t i = 0;
  for (auto _ : state) {
    PyObject* found = lookup(pop, order[i++ & mask]);
    benchmark::DoNotOptimize(found);
  }
}

// Dependent lookups: the next position in the sequence depends on the wrapper just
// found (through a bit that is always 0 but the compiler cannot know it), so each
// lookup's misses wait for the previous one: the latency a single wrap sees.
template <class Lookup>
void dependent_loop(const Population& pop, Lookup lookup, benchmark::State& state) {
  const TensorImpl* const* order = pop.order.data();
  const std::size_t mask = pop.mask;
  std::size_t i = 0;
  for (auto _ : state) {
    PyObject* found = lookup(pop, order[i & mask]);
    i += 1 + static_cast<std::size_t>(reinterpret_cast<std::uintptr_t>(found) >> 63);
  }
  benchmark::DoNotOptimize(i);
}

// Hot lookups: the operation that produced each tensor has just touched it (every cache
// line of the object), then its wrapper is looked up.  Batches of kHotBatch: the touch
// is not timed, the lookups are (manual time, one clock pair per batch).
constexpr std::size_t kHotBatch = 256;

void touch(const TensorImpl* t) {
  const auto* bytes = reinterpret_cast<const volatile unsigned char*>(t);
  unsigned sum = 0;
  for (std::size_t off = 0; off < sizeof(TensorImpl); off += 64) sum += bytes[off];
  sum += bytes[sizeof(TensorImpl) - 1];
  benchmark::DoNotOptimize(sum);
}

template <class Lookup>
void hot_loop(const Population& pop, Lookup lookup, benchmark::State& state) {
  const TensorImpl* const* order = pop.order.data();
  const std::size_t mask = pop.mask;
  std::size_t i = 0;
  for (auto _ : state) {
    for (std::size_t k = 0; k < kHotBatch; ++k) touch(order[(i + k) & mask]);
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t k = 0; k < kHotBatch; ++k) {
      PyObject* found = lookup(pop, order[(i + k) & mask]);
      benchmark::DoNotOptimize(found);
    }
    const auto end = std::chrono::steady_clock::now();
    state.SetIterationTime(std::chrono::duration<double>(end - start).count());
    i += kHotBatch;
  }
}

}  // namespace

void register_lookup(Suite& suite) {
  suite.on_release([] { current.reset(); });
  const std::string section = "1. check_pyobj on a live wrapper";
  std::vector<std::function<void()>> independent_rows, dependent_rows;
  for (std::size_t n : {std::size_t{1'000}, std::size_t{10'000}, std::size_t{100'000},
                        std::size_t{1'000'000}}) {
    if (n > suite.options().max_live) break;
    const std::string size = power_of_ten(n);
    for (bool dependent : {false, true}) {
      const std::string kind = dependent ? "dependent/" : "";
      const std::string slot_name = "lookup/" + kind + "check_pyobj/" + size;
      const std::string map_name = "lookup/" + kind + "unordered_map/" + size;
      const std::string locked_name = "lookup/" + kind + "unordered_map+mutex/" + size;

      auto add = [&](const std::string& name, auto lookup_for) {
        suite.add(name, 1, [&suite, n, dependent, lookup_for](benchmark::State& state) {
          const Population* pop = population(suite, n, state);
          if (pop == nullptr) return;
          const auto lookup = lookup_for(suite);
          if (dependent) {
            dependent_loop(*pop, lookup, state);
          } else {
            independent_loop(*pop, lookup, state);
          }
        });
      };
      add(slot_name, [](Suite& s) { return SlotLookup{s.main_interpreter().pyinterpreter()}; });
      add(map_name, [](Suite&) { return MapLookup{}; });
      add(locked_name, [](Suite&) { return LockedMapLookup{}; });

      const std::optional<double> target = n == 100'000     ? std::optional<double>(3.0)
                                           : n == 1'000'000 ? std::optional<double>(4.0)
                                                            : std::nullopt;
      const std::string how = dependent ? ", dependent" : "";
      auto& rows = dependent ? dependent_rows : independent_rows;
      rows.push_back([&suite, section, size, how, slot_name, map_name, locked_name, target] {
        suite.compare(section, "check_pyobj vs unordered_map, " + size + " live" + how,
                      slot_name, map_name, target);
        suite.compare(section, "check_pyobj vs unordered_map + mutex, " + size + " live" + how,
                      slot_name, locked_name);
      });
    }
  }
  // The hot walk, size by size after the others (one population at a time).
  std::vector<std::function<void()>> hot_rows;
  for (std::size_t n : {std::size_t{1'000}, std::size_t{10'000}, std::size_t{100'000},
                        std::size_t{1'000'000}}) {
    if (n > suite.options().max_live) break;
    const std::string size = power_of_ten(n);
    const std::string slot_name = "lookup/hot/check_pyobj/" + size;
    const std::string map_name = "lookup/hot/unordered_map/" + size;
    suite.add(slot_name, kHotBatch, [&suite, n](benchmark::State& state) {
      const Population* pop = population(suite, n, state);
      if (pop != nullptr) hot_loop(*pop, SlotLookup{suite.main_interpreter().pyinterpreter()}, state);
    })->UseManualTime();
    suite.add(map_name, kHotBatch, [&suite, n](benchmark::State& state) {
      const Population* pop = population(suite, n, state);
      if (pop != nullptr) hot_loop(*pop, MapLookup{}, state);
    })->UseManualTime();
    const std::optional<double> target =
        n == 1'000'000 ? std::optional<double>(4.0) : std::nullopt;
    hot_rows.push_back([&suite, section, size, slot_name, map_name, target] {
      suite.compare(section, "check_pyobj vs unordered_map, " + size + " live, hot tensor",
                    slot_name, map_name, target);
    });
  }
  // The table lists the independent lookups first, then the dependent ones, then the
  // hot ones.
  for (auto& row : independent_rows) row();
  for (auto& row : dependent_rows) row();
  for (auto& row : hot_rows) row();
}

}  // namespace revive::bench
