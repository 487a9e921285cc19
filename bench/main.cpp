// revive-bench: the design side by side with its alternatives, in one run.
//
//   revive-bench [--smoke] [--max-live=N] [--cycles=N] [--benchmark_... flags]
//
// Runs every benchmark through Google Benchmark (its console output first), then the
// counted checks (memory per object, live objects after many wrap cycles), then prints
// the ratio table: one row per comparison, alternative / design, with its target.
// Exit status: 1 if a benchmark reported an error or a counted check failed; timing
// targets are reported, not enforced (a slow machine is not a bug).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "suite.h"

namespace revive::bench {

// ---- Suite ----------------------------------------------------------------------------

Suite::Suite(Options options)
    : options_(options),
      i0_(binding::Interpreter::create("I0")),
      i1_(binding::Interpreter::create("I1")) {
  i0_->gc_disable();
  i1_->gc_disable();
  // A process that has never started a second thread lets libstdc++'s shared_ptr use
  // plain increments (glibc's __libc_single_threaded); intrusive_ptr always uses
  // atomics.  Any process that shares tensors between threads (PyTorch starts thread
  // pools) has had a second thread, so have one here too, whatever the filter runs.
  std::thread([] {}).join();
}

Suite::~Suite() { release_fixtures(); }

void Suite::release_fixtures() {
  for (auto& f : releases_) f();
  releases_.clear();
}

benchmark::internal::Benchmark* Suite::add(const std::string& name, double ops, Body body) {
  ops_[name] = ops;
  return benchmark::RegisterBenchmark(name.c_str(), std::move(body))
      ->Unit(benchmark::kNanosecond);
}

double Suite::ops_per_iteration(const std::string& name) const {
  auto it = ops_.find(name);
  return it == ops_.end() ? 1.0 : it->second;
}

void Suite::compare(std::string section, std::string measure, std::string design,
                    std::string alternative, std::optional<double> min_ratio) {
  Row row;
  row.section = std::move(section);
  row.measure = std::move(measure);
  row.design = std::move(design);
  row.alternative = std::move(alternative);
  row.min_ratio = min_ratio;
  rows_.push_back(std::move(row));
}

void Suite::count(Row row) {
  row.counted = true;
  rows_.push_back(std::move(row));
}

std::string power_of_ten(std::size_t n) {
  int e = 0;
  std::size_t m = n;
  while (m >= 10 && m % 10 == 0) {
    m /= 10;
    ++e;
  }
  if (m != 1 || e < 3) return std::to_string(n);
  return "10^" + std::to_string(e);
}

namespace {

// ---- the reporter: Google Benchmark's console output, and a copy of each result ------

struct Result {
  double ns_per_op = 0;
  bool from_median = false;
  std::string error;
};

class CollectingReporter : public benchmark::ConsoleReporter {
 public:
  CollectingReporter(const Suite& suite, bool color)
      : ConsoleReporter(color ? OO_ColorTabular : OO_Tabular), suite_(suite) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) record(run);
    ConsoleReporter::ReportRuns(runs);
  }

  [[nodiscard]] const Result* find(const std::string& name) const {
    auto it = results_.find(name);
    return it == results_.end() ? nullptr : &it->second;
  }
  [[nodiscard]] bool any_error() const {
    return std::any_of(results_.begin(), results_.end(),
                       [](const auto& kv) { return !kv.second.error.empty(); });
  }

 private:
  static double to_ns(double t, benchmark::TimeUnit unit) {
    switch (unit) {
      case benchmark::kNanosecond: return t;
      case benchmark::kMicrosecond: return t * 1e3;
      case benchmark::kMillisecond: return t * 1e6;
      case benchmark::kSecond: return t * 1e9;
    }
    return t;
  }

  void record(const Run& run) {
    const std::string& name = run.run_name.function_name;
    Result& r = results_[name];
    if (run.error_occurred) {
      r.error = run.error_message.empty() ? "error" : run.error_message;
      return;
    }
    const bool median =
        run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
    if (run.run_type == Run::RT_Aggregate && !median) return;  // mean, stddev, cv
    if (r.from_median && !median) return;
    // Google Benchmark divides a multi-threaded run's real time by the thread count
    // and counts every thread's iterations: per thread, one iteration took
    // adjusted * threads.
    const double per_iteration =
        to_ns(run.GetAdjustedRealTime(), run.time_unit) * static_cast<double>(run.threads);
    r.ns_per_op = per_iteration / suite_.ops_per_iteration(name);
    r.from_median = median;
  }

  const Suite& suite_;
  std::map<std::string, Result> results_;
};

// ---- the table --------------------------------------------------------------------------

std::string format_ns(double ns) {
  char buf[64];
  if (ns < 10) {
    std::snprintf(buf, sizeof buf, "%.2f ns", ns);
  } else if (ns < 100) {
    std::snprintf(buf, sizeof buf, "%.1f ns", ns);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f ns", ns);
  }
  return buf;
}

std::string format_ratio(double r) {
  char buf[64];
  if (r < 10) {
    std::snprintf(buf, sizeof buf, "%.2fx", r);
  } else {
    std::snprintf(buf, sizeof buf, "%.1fx", r);
  }
  return buf;
}

struct Line {
  std::string cells[6];
};

// Cells are assigned std::string values, never bare literals: g++ 12 at -O2 reports a
// false -Wrestrict on assigning a short literal to a std::string (GCC PR 105329).
const std::string kNone = "-";

struct Tally {
  int targets = 0;
  int met = 0;
  int failed_counts = 0;
};

std::vector<Line> table_lines(const Suite& suite, const CollectingReporter& reporter,
                              Tally& tally) {
  std::vector<Line> lines;
  std::string section;
  for (const Row& row : suite.rows()) {
    if (row.section != section) {
      section = row.section;
      lines.push_back(Line{{"**" + section + "**", "", "", "", "", ""}});
    }
    Line line;
    line.cells[0] = row.measure;
    if (row.counted) {
      line.cells[1] = row.design_text;
      line.cells[2] = row.alternative_text;
      line.cells[3] = row.ratio ? format_ratio(*row.ratio) : kNone;
      line.cells[4] = row.target_text.empty() ? kNone : row.target_text;
      if (row.met) {
        ++tally.targets;
        if (*row.met) {
          ++tally.met;
        } else {
          ++tally.failed_counts;
        }
        line.cells[5] = std::string(*row.met ? "yes" : "NO");
      } else {
        line.cells[5] = kNone;
      }
      lines.push_back(std::move(line));
      continue;
    }
    const Result* d = reporter.find(row.design);
    const Result* a = reporter.find(row.alternative);
    line.cells[4] = row.min_ratio ? ">= " + format_ratio(*row.min_ratio) : kNone;
    if (d == nullptr || a == nullptr) {
      line.cells[1] = d ? format_ns(d->ns_per_op) : std::string("not run");
      line.cells[2] = a ? format_ns(a->ns_per_op) : std::string("not run");
      line.cells[3] = kNone;
      line.cells[5] = kNone;
    } else if (!d->error.empty() || !a->error.empty()) {
      line.cells[1] = d->error.empty() ? format_ns(d->ns_per_op) : std::string("error");
      line.cells[2] = a->error.empty() ? format_ns(a->ns_per_op) : std::string("error");
      line.cells[3] = kNone;
      line.cells[5] = kNone;
    } else {
      const double ratio = a->ns_per_op / d->ns_per_op;
      line.cells[1] = format_ns(d->ns_per_op);
      line.cells[2] = format_ns(a->ns_per_op);
      line.cells[3] = format_ratio(ratio);
      if (row.min_ratio) {
        ++tally.targets;
        const bool met = ratio >= *row.min_ratio;
        if (met) ++tally.met;
        line.cells[5] = std::string(met ? "yes" : "NO");
      } else {
        line.cells[5] = kNone;
      }
    }
    lines.push_back(std::move(line));
  }
  return lines;
}

void print_table(const Suite& suite, const CollectingReporter& reporter, Tally& tally) {
  std::vector<Line> lines = table_lines(suite, reporter, tally);
  const Line header{{"measure", "design", "alternative", "ratio", "target", "met?"}};
  std::size_t width[6] = {};
  for (int c = 0; c < 6; ++c) width[c] = header.cells[c].size();
  for (const Line& l : lines) {
    for (int c = 0; c < 6; ++c) width[c] = std::max(width[c], l.cells[c].size());
  }
  auto print = [&](const Line& l) {
    std::string out = "|";
    for (int c = 0; c < 6; ++c) {
      const std::string& cell = l.cells[c];
      const bool right = c >= 1 && c <= 3;
      const std::string pad(width[c] - cell.size(), ' ');
      out += ' ';
      out += right ? pad : cell;
      out += right ? cell : pad;
      out += " |";
    }
    std::cout << out << '\n';
  };
  std::cout << "\n## revive-bench: the design against its alternatives\n\n"
            << "ratio = alternative / design (above 1: the design is faster, or smaller).\n"
            << "Times are real time per operation, one thread unless the row says two.\n\n";
  print(header);
  std::string rule = "|";
  for (int c = 0; c < 6; ++c) {
    const bool right = c >= 1 && c <= 3;
    rule += right ? std::string(width[c] + 1, '-') + ":|" : std::string(width[c] + 2, '-') + "|";
  }
  std::cout << rule << '\n';
  for (const Line& l : lines) print(l);
  std::cout << '\n';
}

// Our flags come out of argv before Google Benchmark sees it.
bool take_flag(std::string_view arg, std::string_view name, std::string* value) {
  if (arg.substr(0, name.size()) != name) return false;
  if (value == nullptr) return arg.size() == name.size();
  if (arg.size() <= name.size() || arg[name.size()] != '=') return false;
  *value = std::string(arg.substr(name.size() + 1));
  return true;
}

[[noreturn]] void usage_error(const std::string& what) {
  std::cerr << "revive-bench: " << what << "\n"
            << "usage: revive-bench [--smoke] [--max-live=N] [--cycles=N] "
               "[--benchmark_filter=REGEX] [--benchmark_... ]\n";
  std::exit(2);
}

long long parse_count(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || end == nullptr || *end != '\0' || v <= 0) {
    usage_error(flag + " needs a positive integer, got '" + text + "'");
  }
  return v;
}

}  // namespace
}  // namespace revive::bench

int main(int argc, char** argv) {
  using namespace revive::bench;
  Options options;
  bool max_live_given = false;
  bool cycles_given = false;
  bool min_time_given = false;
  bool color = isatty(STDOUT_FILENO) != 0;
  std::vector<char*> args;
  args.push_back(argv[0]);
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    std::string value;
    if (take_flag(arg, "--smoke", nullptr)) {
      options.smoke = true;
    } else if (take_flag(arg, "--max-live", &value)) {
      options.max_live = static_cast<std::size_t>(parse_count("--max-live", value));
      max_live_given = true;
    } else if (take_flag(arg, "--cycles", &value)) {
      options.cycles = parse_count("--cycles", value);
      cycles_given = true;
    } else {
      if (arg.substr(0, 21) == "--benchmark_min_time=") min_time_given = true;
      // Google Benchmark's own reporter reads this flag; ours is built here, so it
      // reads it too: colour on a terminal, unless told otherwise.
      if (arg.substr(0, 18) == "--benchmark_color=") {
        const std::string_view v = arg.substr(18);
        color = v == "auto" ? color : (v == "true" || v == "yes" || v == "1");
      }
      args.push_back(argv[i]);
    }
  }
  // --smoke: every benchmark, each for about a millisecond, on small populations.
  static char smoke_min_time[] = "--benchmark_min_time=0.001";
  if (options.smoke) {
    if (!max_live_given) options.max_live = 1'000;
    if (!cycles_given) options.cycles = 10'000;
    if (!min_time_given) args.push_back(smoke_min_time);
  }
  int bench_argc = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&bench_argc, args.data());
  if (benchmark::ReportUnrecognizedArguments(bench_argc, args.data())) return 2;

  int status = 0;
  {
    Suite suite(options);
    register_lookup(suite);
    register_wrap(suite);
    register_hermetic(suite);
    register_handle_cache(suite);
    register_tag(suite);
    register_refcount(suite);
    register_era(suite);

    CollectingReporter reporter(suite, color);
    benchmark::RunSpecifiedBenchmarks(&reporter);
    suite.release_fixtures();

    count_memory(suite);
    count_wrap_cycles(suite);
    count_era_gil_entries(suite);
    count_reclaim(suite);

    Tally tally;
    print_table(suite, reporter, tally);
    std::cout << "targets met: " << tally.met << " of " << tally.targets << " that ran";
    if (options.smoke) std::cout << " (smoke run: timings mean nothing, only that it runs)";
    std::cout << '\n';
    if (reporter.any_error()) {
      std::cout << "a benchmark reported an error (see above)\n";
      status = 1;
    }
    if (tally.failed_counts > 0) {
      std::cout << "a counted check failed\n";
      status = 1;
    }
  }  // interpreters torn down here
  benchmark::Shutdown();
  return status;
}
