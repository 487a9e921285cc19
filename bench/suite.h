// suite.h: what every benchmark file of revive-bench shares.
//
// The suite puts each piece of the design next to the alternative it replaced or that
// other bindings use, in the same run, and ends with a table of ratios (main.cpp).
//
//   Options            --smoke, --max-live=N, --cycles=N (parsed in main.cpp).
//   Suite              registers benchmarks (each with the number of operations one
//                      iteration performs), the rows of the ratio table, counted
//                      (untimed) results, and owns the interpreters benchmarks share.
//   ProcessFlagsGuard  puts back the process-wide switches a benchmark raised: hermetic
//                      mode's haveState_ and the trampoline's main interpreter.
//   repeat<N>(f)       calls f N times in straight-line code, for operations so short
//                      that the benchmark loop itself would be a visible share.
//
// Conventions: times are nanoseconds per operation (real time); a ratio is always
// alternative / design, so a ratio above 1 means the design is faster (or smaller).
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "revive/binding/interpreter.h"
#include "revive/pyslot/hermetic_tls.h"
#include "revive/pyslot/python_op_registration_trampoline.h"

namespace revive::bench {

struct Options {
  // Largest population for the lookup benchmarks (10^3 .. 10^6, those <= max_live run).
  std::size_t max_live = 1'000'000;
  // wrap -> re-wrap -> drop cycles for the live-object growth check.
  std::int64_t cycles = 1'000'000;
  // CI: every benchmark once, very briefly; timings are not meaningful.
  bool smoke = false;
};

// One row of the ratio table.  Timed rows name two benchmarks; counted rows carry
// their values directly (bytes, object counts).
struct Row {
  std::string section;  // "1. check_pyobj", ...
  std::string measure;  // what is compared, in words
  // Timed rows.
  std::string design;       // benchmark name
  std::string alternative;  // benchmark name
  std::optional<double> min_ratio;  // target: alternative / design >= this
  // Counted rows.
  bool counted = false;
  std::string design_text;             // e.g. "16 B"
  std::string alternative_text = "-";  // e.g. "40.1 B"
  std::optional<double> ratio;   // alternative / design, if meaningful
  std::string target_text;       // e.g. "= 0", or "" for none
  std::optional<bool> met;       // nullopt: no target
};

class Suite {
 public:
  using Body = std::function<void(benchmark::State&)>;

  explicit Suite(Options options);
  ~Suite();
  Suite(const Suite&) = delete;
  Suite& operator=(const Suite&) = delete;

  [[nodiscard]] const Options& options() const noexcept { return options_; }

  // "I0", with the cycle collector disabled so no collection lands inside a timing.
  [[nodiscard]] binding::Interpreter& main_interpreter() { return *i0_; }
  // "I1": only used as "another interpreter" (tags, the trampoline).
  [[nodiscard]] binding::Interpreter& second_interpreter() { return *i1_; }

  // Register benchmark `name`; one iteration of `body` performs `ops` operations.
  benchmark::internal::Benchmark* add(const std::string& name, double ops, Body body);
  [[nodiscard]] double ops_per_iteration(const std::string& name) const;

  // A timed row: design and alternative are names given to add().
  void compare(std::string section, std::string measure, std::string design,
               std::string alternative, std::optional<double> min_ratio = std::nullopt);
  // A counted row.
  void count(Row row);
  [[nodiscard]] const std::vector<Row>& rows() const noexcept { return rows_; }

  // Run `f` before the interpreters are torn down (release populations that hold
  // wrappers, so that they die normally instead of being abandoned by teardown).
  void on_release(std::function<void()> f) { releases_.push_back(std::move(f)); }
  void release_fixtures();

 private:
  Options options_;
  binding::Interpreter::Owner i0_;
  binding::Interpreter::Owner i1_;
  std::map<std::string, double> ops_;
  std::vector<Row> rows_;
  std::vector<std::function<void()>> releases_;
};

// The library only ever raises these two process-wide switches (Note [The hermetic
// fast path], Note [Python op registration trampoline]); a benchmark that raises them
// puts them back, as the test fixture does, so benchmarks that need "no second
// interpreter yet" see it whatever ran before them.
class ProcessFlagsGuard {
 public:
  ProcessFlagsGuard() noexcept
      : have_state_(impl::HermeticPyObjectTLS::have_state()),
        main_(impl::PythonOpRegistrationTrampoline::getInterpreter()) {}
  ~ProcessFlagsGuard() {
    if (have_state_) {
      impl::HermeticPyObjectTLS::init_state();
    } else {
      impl::HermeticPyObjectTLS::unsafe_reset_have_state_for_testing();
    }
    if (impl::PythonOpRegistrationTrampoline::getInterpreter() != main_) {
      impl::PythonOpRegistrationTrampoline::unsafe_reset_for_testing();
      if (main_ != nullptr) {
        (void)impl::PythonOpRegistrationTrampoline::registerInterpreter(main_);
      }
    }
  }
  ProcessFlagsGuard(const ProcessFlagsGuard&) = delete;
  ProcessFlagsGuard& operator=(const ProcessFlagsGuard&) = delete;

 private:
  bool have_state_;
  impl::PyInterpreter* main_;
};

template <int N, class F>
inline void repeat(F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) { ((static_cast<void>(I), f()), ...); }(
      std::make_integer_sequence<int, N>{});
}

// "10^5" for 100000 (population sizes in names and rows).
std::string power_of_ten(std::size_t n);

// One registration function per file, in the order of the list.
void register_lookup(Suite& suite);        // 1. check_pyobj against map registries
void register_wrap(Suite& suite);          // 2. wrap round trips against E0
void register_hermetic(Suite& suite);      // 3. HermeticPyObjectTLS::get_state
void register_handle_cache(Suite& suite);  // 4. PyHandleCache::ptr_or
void register_tag(Suite& suite);           // 5. init_pyobj: relaxed store, CAS, contention
void register_refcount(Suite& suite);      // 6. intrusive_ptr against std::shared_ptr
void register_era(Suite& suite);           // 9. E2 against E4 (timed)
void count_era_gil_entries(Suite& suite);  // 9. E2 against E4 (counted)
void count_reclaim(Suite& suite);          // 10. one sweep's time against abandoned objects

// Counted results, run after the timed benchmarks.
void count_memory(Suite& suite);       // 7. bytes per object: slot against map entry
void count_wrap_cycles(Suite& suite);  // live objects after many wrap/drop cycles

// The refcounted object of items 6 and 7: an 8-byte payload behind intrusive_ptr, and
// the same behind std::shared_ptr.
struct IntrusiveThing final : intrusive_ptr_target {
  std::int64_t payload = 0;
};
struct SharedThing {
  std::int64_t payload = 0;
};

}  // namespace revive::bench
