// 4. PyHandleCache::ptr_or: an operator's Python twin, cached for the first interpreter
//    that asks (Note [PyHandleCache is a cache and a handle]).
//
//   design       ptr_or(owner, slow) on a cache the owner already filled: one acquire
//                load, one compare, one relaxed load.
//   alternative  the slow accessor itself, as Torch::twin_of writes it: count the
//                lookup, take the interpreter's GIL (re-entrant), find the operator's
//                name in the interpreter's std::map of Python operators (here 16 names,
//                "revive_bench::op_00" .. "op_15", looking up one in the middle).  In
//                PyTorch the slow path is a Python attribute lookup, which costs more.
//   also         ptr_or from an interpreter that does not own the cache, against the
//                slow accessor alone: a loser pays one more load, every time.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>

#include "revive/interp/gil.h"
#include "revive/pyslot/py_handle_cache.h"
#include "suite.h"

namespace revive::bench {
namespace {

constexpr int kCalls = 8;

struct OperatorTable {
  OperatorTable() {
    for (int i = 0; i < 16; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "revive_bench::op_%02d", i);
      // Fake twins: distinct, 8-aligned, never dereferenced.
      ops.emplace(name, reinterpret_cast<PyObject*>(&twins[i]));
    }
  }
  // The slow accessor: what Torch::twin_of does on a miss.
  PyObject* lookup(const std::string& name) {
    lookups.fetch_add(1, std::memory_order_relaxed);
    interp::GilGuard hold(gil);
    auto it = ops.find(name);
    return it == ops.end() ? nullptr : it->second;
  }

  alignas(8) std::uint64_t twins[16] = {};
  std::map<std::string, PyObject*> ops;
  interp::Gil gil;
  std::atomic<long> lookups{0};
};

}  // namespace

void register_handle_cache(Suite& suite) {
  const std::string section = "4. PyHandleCache::ptr_or";
  const std::string wanted = "revive_bench::op_07";

  suite.add("handle_cache/ptr_or hit", kCalls, [&suite, wanted](benchmark::State& state) {
    OperatorTable table;
    impl::PyHandleCache cache;
    impl::PyInterpreter* owner = suite.main_interpreter().pyinterpreter();
    auto slow = [&] { return table.lookup(wanted); };
    PyObject* expected = cache.ptr_or(owner, slow);  // fills the cache
    for (auto _ : state) {
      repeat<kCalls>([&] {
        PyObject* twin = cache.ptr_or(owner, slow);
        benchmark::DoNotOptimize(twin);
      });
    }
    if (table.lookups.load() != 1 || cache.owner() != owner ||
        cache.ptr_or(owner, slow) != expected) {
      state.SkipWithError("the cache did not serve its owner");
    }
  });

  suite.add("handle_cache/slow accessor", kCalls, [wanted](benchmark::State& state) {
    OperatorTable table;
    for (auto _ : state) {
      repeat<kCalls>([&] {
        PyObject* twin = table.lookup(wanted);
        benchmark::DoNotOptimize(twin);
      });
    }
  });

  suite.add("handle_cache/ptr_or, not the owner", kCalls,
            [&suite, wanted](benchmark::State& state) {
              OperatorTable table;
              impl::PyHandleCache cache;
              auto slow = [&] { return table.lookup(wanted); };
              (void)cache.ptr_or(suite.main_interpreter().pyinterpreter(), slow);  // I0 owns it
              impl::PyInterpreter* other = suite.second_interpreter().pyinterpreter();
              for (auto _ : state) {
                repeat<kCalls>([&] {
                  PyObject* twin = cache.ptr_or(other, slow);
                  benchmark::DoNotOptimize(twin);
                });
              }
            });

  suite.compare(section, "ptr_or hit vs the slow accessor (GIL + map of 16 names)",
                "handle_cache/ptr_or hit", "handle_cache/slow accessor");
  suite.compare(section, "ptr_or from a non-owner vs the slow accessor alone",
                "handle_cache/ptr_or, not the owner", "handle_cache/slow accessor");
}

}  // namespace revive::bench
