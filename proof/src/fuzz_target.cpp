// libFuzzer target: bytes -> a scenario (four bytes per op, see decode()) -> the
// differential runner.  A mismatch prints the scenario, shrunk, and aborts, which
// libFuzzer reports as a crash with the input saved.
//
//   build/fuzz/proof/revive_fuzz -max_total_time=60        (preset `fuzz`, clang)
//   REVIVE_PLANTED_BUG=1 build/fuzz/proof/revive_fuzz ...   with a planted bug on (1:
//                                                           hermetic-resurrection, or
//                                                           its name: testing.h)
//   bash scripts/dev fuzz --minutes 30                      a long run, its peak RSS
//
// At exit it prints its peak resident set size after the first 10 seconds and at the
// end ("revive_fuzz: peak RSS ..."), which CTest's fuzz.memory_stays_flat compares:
// every scenario's interpreters are reclaimed (Note [Reclaiming a dead interpreter]),
// so memory must not grow with the number of scenarios.
#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string_view>

#include "revive/proof/differential.h"

using namespace revive::proof;

namespace {

long peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024;  // Linux reports kilobytes
}

const auto started = std::chrono::steady_clock::now();
long rss_after_10s = -1;
long scenarios = 0;

void report_memory() {
  std::fprintf(stderr, "revive_fuzz: peak RSS %ld MB after the first 10 s, %ld MB at the end (%ld scenarios)\n",
               rss_after_10s, peak_rss_mb(), scenarios);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  std::atexit(report_memory);
  if (const char* planted = std::getenv("REVIVE_PLANTED_BUG"); planted != nullptr && planted[0] != '\0') {
    const std::optional<PlantedBug> bug =
        std::string_view(planted) == "1" ? PlantedBug::HermeticResurrection : planted_bug_named(planted);
    if (!bug || !planted_bugs_available()) {
      std::cerr << "REVIVE_PLANTED_BUG=" << planted << ": "
                << (bug ? "this build has no planted bug" : "no planted bug of that name") << "\n";
      std::abort();
    }
    set_planted_bug(*bug);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4 * 256) return -1;  // keep scenarios short; -1: not added to the corpus
  if (rss_after_10s < 0 && std::chrono::steady_clock::now() - started >= std::chrono::seconds(10)) {
    rss_after_10s = peak_rss_mb();
  }
  ++scenarios;
  const std::vector<Op> ops = decode(data, size);
  // Both eras: the input's first byte picks the mix (E2,E2, E4,E4, E2,E4, E4,E2).
  const Eras eras = size == 0 ? kE2Only : eras_for_seed(data[0]);
  if (auto failure = run_scenario(ops, nullptr, Threading::One, nullptr, eras)) {
    std::cerr << "differential mismatch at step " << failure->step << " (eras " << to_string(eras)
              << "): " << failure->message << "\n";
    const std::vector<Op> shrunk = shrink(ops, 500, Threading::One, nullptr, eras);
    std::cerr << "reproducing sequence (" << shrunk.size() << " of " << ops.size() << " steps):\n";
    print_scenario(std::cerr, shrunk);
    std::cerr << "replay: " << replay_command(shrunk, Threading::One, nullptr, eras) << "\n";
    std::abort();
  }
  return 0;
}
