// revive-campaign: long randomized differential campaigns, and replays.
//
//   revive-campaign [--steps N] [--seed S] [--length L]   N steps (default 1,000,000) of
//                                                         random scenarios from seed S
//   revive-campaign --replay S [--length L]               run scenario S alone and print it
//   revive-campaign --ops "K,A,B,C K,A,B,C ..."            run the ops given: the "replay:"
//                                                         line of a failure report, or its
//                                                         "{K, A, B, C}" lines pasted as is
//   --threads                                             each op on its interpreter's thread,
//                                                         several at once where they commute
//                                                         (Note [Threaded scenarios])
//   --planted [NAME]                                      switch a planted bug on (builds with
//                                                         REVIVE_PLANTED_BUG only): NAME, or
//                                                         hermetic-resurrection
//   --progress / --quiet                                  progress every 2 s on stderr
//                                                         (default: on a terminal only)
//
// Exit status: 0 when the real code and the model agreed throughout, 1 on a mismatch
// (the seed, the failure, the shrunk sequence and a command that replays it are
// printed), 2 on bad arguments (refused before anything runs, with the reason).
//
// Built a second time as revive-against-cpython (REVIVE_AGAINST_CPYTHON): the same
// campaigns with the real CPython as a witness beside the fake interpreter (Note [The
// fake against the real CPython], cpython_witness.cpp); default 10,000 steps, and no
// --threads (the witness runs on one thread).
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "revive/proof/differential.h"
#ifdef REVIVE_AGAINST_CPYTHON
#include "revive/proof/cpython_witness.h"
#endif

using namespace revive::proof;

namespace {

#ifdef REVIVE_AGAINST_CPYTHON
constexpr const char* kProgram = "revive-against-cpython";
constexpr std::size_t kDefaultSteps = 10'000;
#else
constexpr const char* kProgram = "revive-campaign";
constexpr std::size_t kDefaultSteps = 1'000'000;
#endif

#ifdef REVIVE_AGAINST_CPYTHON
constexpr const char* kUsage =
    "usage: revive-against-cpython [--steps N] [--seed S] [--length L] [--planted [NAME]] [--progress|--quiet]\n"
    "       revive-against-cpython --replay S [--length L] [--planted [NAME]]\n"
    "       revive-against-cpython --ops \"K,A,B,C K,A,B,C ...\" [--planted [NAME]]\n"
    "  the fake interpreter and two real CPython subinterpreters, each compared with the model after every step\n"
    "  --steps N    ops to run, 1 to 10^12 (default 10000)\n"
#else
constexpr const char* kUsage =
    "usage: revive-campaign [--steps N] [--seed S] [--length L] [--threads] [--planted [NAME]] [--progress|--quiet]\n"
    "       revive-campaign --replay S [--length L] [--threads] [--planted [NAME]]\n"
    "       revive-campaign --ops \"K,A,B,C K,A,B,C ...\" [--threads] [--planted [NAME]]\n"
    "  --steps N    ops to run, 1 to 10^12 (default 1000000)\n"
    "  --threads    run each op on the thread of its interpreter, several at once where they commute\n"
#endif
    "  --seed S     first scenario's seed, 0 to 2^64-1 (default 1)\n"
    "  --length L   ops per scenario, 1 to 100000 (default 200)\n"
    "  --replay S   run scenario S alone (in the eras the campaign gives it), print it, shrink it if it fails\n"
    "  --eras A,B   the eras of the two interpreter slots for --replay or --ops, E2 or E4 each\n"
    "               (campaigns give each scenario E2,E2, E4,E4, E2,E4 or E4,E2 in turn)\n"
    "  --ops \"...\"  run these ops (a failure report's replay line, or its {K, A, B, C} lines)\n"
    "  --planted [NAME]  switch a planted bug on (builds with REVIVE_PLANTED_BUG): hermetic-resurrection\n"
    "               (the default), storage-follows-thread or callback-before-clear\n"
    "  --progress   report progress every 2 s on stderr (default on a terminal); --quiet: never\n";

[[noreturn]] void refuse(const std::string& why) {
  std::cerr << kProgram << ": " << why << "\n" << kUsage;
  std::exit(2);
}

// A whole decimal number in [lo, hi], or refuse naming the option.
std::uint64_t whole_number(std::string_view option, const char* text, std::uint64_t lo, std::uint64_t hi) {
  const std::string_view s(text);
  bool digits = !s.empty() && s.size() <= 20;
  for (char c : s) digits = digits && c >= '0' && c <= '9';
  errno = 0;
  const unsigned long long v = digits ? std::strtoull(text, nullptr, 10) : 0;
  if (!digits || errno == ERANGE || v < lo || v > hi) {
    refuse(std::string(option) + " takes a whole number from " + std::to_string(lo) + " to " +
           std::to_string(hi) + ", not \"" + text + "\"");
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t seed = 1;
  std::size_t steps = kDefaultSteps;
  std::size_t length = 200;
  bool replay = false;
  std::optional<PlantedBug> planted;
  Threading threading = Threading::One;
  std::optional<bool> progress;
  std::optional<std::vector<Op>> given;
  std::optional<Eras> given_eras;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) refuse(std::string(arg) + " needs a value");
      return argv[++i];
    };
    if (arg == "--steps") {
      steps = whole_number(arg, next(), 1, 1'000'000'000'000ULL);
    } else if (arg == "--seed") {
      seed = whole_number(arg, next(), 0, UINT64_MAX);
    } else if (arg == "--length") {
      length = whole_number(arg, next(), 1, 100'000);
    } else if (arg == "--replay") {
      seed = whole_number(arg, next(), 0, UINT64_MAX);
      replay = true;
    } else if (arg == "--ops") {
      std::string error;
      given = parse_ops(next(), &error);
      if (!given) refuse("--ops: " + error);
    } else if (arg == "--planted") {
      planted = PlantedBug::HermeticResurrection;
      if (i + 1 < argc && argv[i + 1][0] != '-') {
        planted = planted_bug_named(argv[++i]);
        if (!planted) {
          refuse(std::string("--planted: no planted bug \"") + argv[i] +
                 "\" (hermetic-resurrection, storage-follows-thread, callback-before-clear)");
        }
      }
    } else if (arg == "--eras") {
      given_eras = eras_named(next());
      if (!given_eras) refuse(std::string("--eras takes two eras, as E2,E4, not \"") + argv[i] + "\"");
    } else if (arg == "--threads") {
      threading = Threading::PerInterpreter;
    } else if (arg == "--progress") {
      progress = true;
    } else if (arg == "--quiet") {
      progress = false;
    } else if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    } else {
      refuse("unknown argument \"" + std::string(arg) + "\"");
    }
  }
  if (replay && given) refuse("--replay and --ops each name a scenario: give one");
  if (given_eras && !replay && !given) refuse("--eras goes with --replay or --ops (a campaign runs every mix of eras)");
#ifdef REVIVE_AGAINST_CPYTHON
  if (threading != Threading::One) refuse("--threads: the real CPython witness runs on one thread");
  start_cpython();
  const WitnessKind cpython = cpython_witness();
  const WitnessKind* witness = &cpython;
#else
  const WitnessKind* witness = nullptr;
#endif
  if (planted) {
    if (!planted_bugs_available()) refuse("this build has no planted bug (configure with -DREVIVE_PLANTED_BUG=ON)");
    set_planted_bug(*planted);
  }
  if (replay || given) {
    const auto ops = given ? *given : random_scenario(seed, length);
    // A replayed seed runs in the eras the campaign gave it; given ops in E2 unless --eras.
    const Eras eras = given_eras ? *given_eras : given ? kE2Only : eras_for_seed(seed);
    if (given) std::cout << "the given scenario (" << ops.size() << " ops, eras " << to_string(eras) << "):\n";
    else std::cout << "scenario " << seed << " (" << length << " ops, eras " << to_string(eras) << "):\n";
    print_scenario(std::cout, ops);
    if (auto failure = run_scenario(ops, nullptr, threading, witness, eras)) {
      std::cout << "FAILS at step " << failure->step << ": " << failure->message << "\n";
      const auto shrunk = shrink(ops, 4000, threading, witness, eras);
      std::cout << "shrunk to " << shrunk.size() << " ops:\n";
      print_scenario(std::cout, shrunk);
      std::cout << "replay: " << replay_command(shrunk, threading, witness, eras) << "\n";
      return 1;
    }
    std::cout << (witness != nullptr ? "the fake runtime, the real CPython and the model agree at every step\n"
                                     : "the real code and the model agree at every step\n");
    return 0;
  }
  // Progress on a terminal by default; CI logs stay quiet unless asked.
  const bool show = progress.value_or(isatty(STDERR_FILENO) != 0);
  const auto start = std::chrono::steady_clock::now();
  auto last = start;
  auto report_progress = [&](const CampaignReport& r) {
    const auto now = std::chrono::steady_clock::now();
    if (now - last < std::chrono::seconds(2)) return;
    last = now;
    const double secs = std::chrono::duration<double>(now - start).count();
    const double rate = static_cast<double>(r.steps) / secs;
    const double left = static_cast<double>(steps > r.steps ? steps - r.steps : 0) / rate;
    std::fprintf(stderr, "%s: %zu of %zu steps (%.0f%%), %.0f steps/s, about %.0f s left\n", kProgram, r.steps, steps, 100.0 * static_cast<double>(r.steps) / static_cast<double>(steps), rate, left);
  };
  const CampaignReport r = campaign(seed, steps, std::cerr, length,
                                    show ? std::function<void(const CampaignReport&)>(report_progress) : nullptr,
                                    threading, witness);
  std::cout << r.scenarios << " scenarios, " << r.steps << " steps from seed " << seed << ": "
            << (r.failure || r.failing_seed ? "MISMATCH (see above)"
                : witness != nullptr      ? "the fake runtime, the real CPython and the model agree"
                                          : "the real code and the model agree")
            << "\n"
            << "covered: " << to_string(r.coverage) << "\n";
  // How fast, and in how much memory: flat, however many steps (Note [Reclaiming a
  // dead interpreter]).
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf("%.1f s, %.0f steps/s, peak RSS %ld MB\n", secs, static_cast<double>(r.steps) / secs,
              usage.ru_maxrss / 1024);
  return r.failing_seed ? 1 : 0;
}
