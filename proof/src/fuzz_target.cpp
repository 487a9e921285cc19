// libFuzzer target: bytes -> a scenario (four bytes per op, see decode()) -> the
// differential runner.  A mismatch prints the scenario, shrunk, and aborts, which
// libFuzzer reports as a crash with the input saved.
//
//   build/fuzz/proof/revive_fuzz -max_total_time=60        (preset `fuzz`, clang)
//   REVIVE_PLANTED_BUG=1 build/fuzz/proof/revive_fuzz ...   with the planted bug on
#include <cstdint>
#include <cstdlib>
#include <iostream>

#include "revive/proof/differential.h"

using namespace revive::proof;

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  if (const char* planted = std::getenv("REVIVE_PLANTED_BUG"); planted != nullptr && planted[0] == '1') {
    if (!planted_bug_available()) {
      std::cerr << "REVIVE_PLANTED_BUG=1 but this build has no planted bug\n";
      std::abort();
    }
    set_planted_bug(true);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4 * 256) return -1;  // keep scenarios short; -1: not added to the corpus
  const std::vector<Op> ops = decode(data, size);
  if (auto failure = run_scenario(ops)) {
    std::cerr << "differential mismatch at step " << failure->step << ": " << failure->message << "\n";
    const std::vector<Op> shrunk = shrink(ops, 500);
    std::cerr << "reproducing sequence (" << shrunk.size() << " of " << ops.size() << " steps):\n";
    print_scenario(std::cerr, shrunk);
    std::cerr << "replay: " << replay_command(shrunk) << "\n";
    std::abort();
  }
  return 0;
}
