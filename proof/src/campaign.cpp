// revive-campaign: long randomized differential campaigns, and seed replay.
//
//   revive-campaign [--steps N] [--seed S] [--length L]   N steps (default 1,000,000) of
//                                                         random scenarios from seed S
//   revive-campaign --replay S [--length L]               run scenario S alone and print it
//   revive-campaign --ops "K,A,B,C K,A,B,C ..."            run the ops given (as printed in
//                                                         braces by a failure report)
//   --planted                                             switch the planted bug on (builds
//                                                         with REVIVE_PLANTED_BUG only)
//
// Exit status: 0 when the real code and the model agreed throughout, 1 on a mismatch
// (the seed, the failure and the shrunk sequence are printed), 2 on bad arguments.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>
#include <optional>
#include <vector>

#include "revive/proof/differential.h"

using namespace revive::proof;

namespace {
int usage() {
  std::cerr << "usage: revive-campaign [--steps N] [--seed S] [--length L] [--planted]\n"
               "       revive-campaign --replay S [--length L] [--planted]\n";
  return 2;
}
}  // namespace

int main(int argc, char** argv) {
  std::uint64_t seed = 1;
  std::size_t steps = 1'000'000;
  std::size_t length = 200;
  bool replay = false;
  std::optional<std::vector<Op>> given;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> std::uint64_t {
      if (i + 1 >= argc) std::exit(usage());
      return std::strtoull(argv[++i], nullptr, 10);
    };
    if (arg == "--steps") steps = value();
    else if (arg == "--seed") seed = value();
    else if (arg == "--length") length = value();
    else if (arg == "--replay") { seed = value(); replay = true; }
    else if (arg == "--ops") {
      if (i + 1 >= argc) return usage();
      std::istringstream in(argv[++i]);
      std::vector<Op> ops;
      int k, a, b, c;
      char comma;
      while (in >> k >> comma >> a >> comma >> b >> comma >> c) {
        ops.push_back(Op{static_cast<OpKind>(k % static_cast<int>(OpKind::kCount)), static_cast<std::uint8_t>(a),
                         static_cast<std::uint8_t>(b), static_cast<std::uint8_t>(c)});
      }
      given = std::move(ops);
    }
    else if (arg == "--planted") {
      if (!planted_bug_available()) {
        std::cerr << "this build has no planted bug (configure with -DREVIVE_PLANTED_BUG=ON)\n";
        return 2;
      }
      set_planted_bug(true);
    } else return usage();
  }
  if (length == 0) return usage();
  if (replay || given) {
    const auto ops = given ? *given : random_scenario(seed, length);
    if (given) std::cout << "the given scenario (" << ops.size() << " steps):\n";
    else std::cout << "scenario " << seed << " (" << length << " steps):\n";
    print_scenario(std::cout, ops);
    if (auto failure = run_scenario(ops)) {
      std::cout << "FAILS at step " << failure->step << ": " << failure->message << "\n";
      const auto shrunk = shrink(ops);
      std::cout << "shrunk to " << shrunk.size() << " steps:\n";
      print_scenario(std::cout, shrunk);
      return 1;
    }
    std::cout << "the real code and the model agree at every step\n";
    return 0;
  }
  const CampaignReport r = campaign(seed, steps, std::cerr, length);
  const Coverage& c = r.coverage;
  std::cout << r.scenarios << " scenarios, " << r.steps << " steps from seed " << seed << ": "
            << (r.failure || r.failing_seed ? "MISMATCH (see above)" : "the real code and the model agree") << "\n"
            << "covered: " << c.resurrections << " resurrections, " << c.flips << " flips back, " << c.real_deaths
            << " real deaths, " << c.hole_warnings << " weakref-hole warnings, " << c.gc_clears
            << " collector clears, " << c.hermetic_wrappers << " hermetic wrappers, " << c.teardowns
            << " teardowns, " << c.refusals << " refused ops\n";
  return r.failing_seed ? 1 : 0;
}
