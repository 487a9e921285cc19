// differential.h: run the same scenario on the real implementation and on the
// reference model, compare after every step, check docs/reference.md §7.
//
// Defines:
//   run_scenario(ops)   one scenario from fresh interpreters: each op is resolved
//                       against the model, applied to both, then every observable is
//                       compared (per tensor: n, tag, owns bit, the recorded wrapper, its
//                       refcount and cdata; per variable: which wrapper, its refcount,
//                       its `foo`, its finalizer runs; per weakref: its referent and
//                       its callback's runs (and their total); per
//                       interpreter: live objects and warnings) and the §7 invariants
//                       are checked.  At the end everything is dropped and collected,
//                       and whatever is left must be explained by teardown.  Returns
//                       the first failure, or nothing.
//   random_scenario()   a scenario drawn from a seed.
//   decode(bytes)       a scenario from arbitrary bytes (the fuzzer's input).
//                       With Threading::PerInterpreter, each op runs on the thread
//                       of its interpreter, several at once where they commute, and
//                       the comparison runs after each round.
//   shrink(ops)         the shortest failing scenario found by removing steps.
//   Witness             another runtime that follows the same scenario beside the fake
//                       one and is compared with the model after every step too (the
//                       real CPython: cpython_witness.h).
//   campaign(...)       many random scenarios; on failure, the seed and the shrunk
//                       sequence, printed.
//
// Example (test/proof/differential_test.cpp):
//   auto report = revive::proof::campaign(/*seed=*/1, /*steps=*/100000, std::cerr);
//   assert(!report.failure);
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "revive/interp/testing.h"
#include "revive/proof/model.h"

namespace revive::proof {

struct Failure {
  std::size_t step;     // index of the op after which it showed (ops.size(): at the end)
  std::string message;  // what differed, or which invariant broke
};

// What a run went through: the ops that were not skipped, and the model's coverage.
struct ScenarioStats {
  std::size_t steps = 0;
  Coverage coverage;
};

// How a scenario runs: every op on the calling thread, or each op on the thread of
// its interpreter, several at once where they commute (Note [Threaded scenarios] in
// src/differential.cpp; hermetic switches and teardowns run alone, AutoGc ops are
// skipped).
enum class Threading : std::uint8_t { One, PerInterpreter };

// Another runtime run beside the fake one, op for op, on the calling thread: the real
// CPython (cpython_witness.h).  The model is the common reference: after every step
// the fake runtime and the witness are each compared with it, on every observable the
// model names, and when an op raises in both, their error texts are compared with each
// other.  So when a scenario passes, the two runtimes agreed with each other at every
// step.  Ops the witness cannot perform are skipped in all three.
class Witness {
 public:
  virtual ~Witness() = default;
  // Whether it can perform `op` (resolved; `before` is the model before it).
  [[nodiscard]] virtual bool performs(const Op& op, const Model& before) const = 0;
  // As the fake's apply: `before` is the model before the step; on Raised, *error is
  // the text of what was raised.
  virtual Outcome apply(const Op& op, const Model& before, std::string* error) = 0;
  // What differs from the model, or nothing.
  [[nodiscard]] virtual std::optional<std::string> compare(const Model& m) = 0;
  // The model's finish(): drop everything held, then `rounds` rounds of collections.
  virtual void finish(int rounds) = 0;
  // End the runtime's interpreters.  Returns how many TensorImpls it leaves alive for
  // good (a real interpreter cannot be reclaimed as the fake's is, so a leak the model
  // explains stays); the fake's process-wide count discounts them.
  virtual std::int64_t close() = 0;
};

// `text` with each interpreter name in `names` written as the slot it fills ("I0",
// "I1"), so that two runtimes' error texts can be compared (their names differ).
[[nodiscard]] std::string with_slot_names(std::string text, const std::array<std::string, kInterpreters>& names);

struct WitnessKind {
  std::string program;  // the program that replays a scenario with it
  std::function<std::unique_ptr<Witness>(Eras)> make;  // its interpreters in these eras
};

// With a witness, `threading` must be Threading::One.  `eras`: each interpreter slot's
// era, in the model, the fake runtime and the witness.
[[nodiscard]] std::optional<Failure> run_scenario(const std::vector<Op>& ops, ScenarioStats* stats = nullptr,
                                                  Threading threading = Threading::One,
                                                  const WitnessKind* witness = nullptr, Eras eras = kE2Only);

// The eras a campaign gives scenario `seed`: E2/E2, E4/E4, E2/E4 and E4/E2 in turn.
[[nodiscard]] Eras eras_for_seed(std::uint64_t seed);

[[nodiscard]] std::vector<Op> random_scenario(std::uint64_t seed, std::size_t length);
[[nodiscard]] std::vector<Op> decode(const std::uint8_t* data, std::size_t size);

// Removes steps while the scenario still fails; at most `budget` reruns.
[[nodiscard]] std::vector<Op> shrink(std::vector<Op> ops, int budget = 4000,
                                     Threading threading = Threading::One, const WitnessKind* witness = nullptr,
                                     Eras eras = kE2Only);

// The scenario as numbered lines, each op as given and (when it ran) as resolved.
void print_scenario(std::ostream& os, const std::vector<Op>& ops);

// The ops as revive-campaign's --ops takes them: "K,A,B,C K,A,B,C ...".
[[nodiscard]] std::string ops_argument(const std::vector<Op>& ops);
// The inverse: accepts what ops_argument writes and the "{K, A, B, C}" lines of
// print_scenario (anything else between ops is ignored only if it is whitespace or a
// line's "N:" number).  Each value must be an integer in [0, 255] and K a known op kind;
// on anything else, nothing, and `error` says what is wrong (one line).
[[nodiscard]] std::optional<std::vector<Op>> parse_ops(std::string_view text, std::string* error);
// The command line that replays `ops` as they are (with --threads for a threaded run,
// and --planted NAME when a planted bug is on now).
// (With a witness, its program instead of revive-campaign.)
[[nodiscard]] std::string replay_command(const std::vector<Op>& ops, Threading threading = Threading::One,
                                         const WitnessKind* witness = nullptr, Eras eras = kE2Only);

struct CampaignReport {
  std::size_t scenarios = 0;
  std::size_t steps = 0;      // ops applied (skipped ones not counted)
  Coverage coverage;          // summed over the scenarios
  std::optional<std::uint64_t> failing_seed;
  Eras failing_eras = kE2Only;
  std::optional<Failure> failure;    // of the shrunk scenario
  std::vector<Op> reproducer;        // the shrunk scenario
};

// Scenarios of `length` ops with seeds seed, seed+1, ... until `steps` ops ran or one
// failed; each in the eras eras_for_seed gives it.  On failure, prints the seed, the failure, the shrunk scenario and a command
// line that replays it to `log`.  `progress`, if given, is called after each scenario.
CampaignReport campaign(std::uint64_t seed, std::size_t steps, std::ostream& log,
                        std::size_t length = 200,
                        const std::function<void(const CampaignReport&)>& progress = {},
                        Threading threading = Threading::One, const WitnessKind* witness = nullptr);

// The planted bugs of the REVIVE_PLANTED_BUG build option
// (interp/include/revive/interp/testing.h): whether this build has them, switching one
// on (PlantedBug::None: off), which one is on, and their names.
using interp::testing::planted_bug;
using interp::testing::planted_bug_named;
using interp::testing::planted_bugs_available;
using interp::testing::PlantedBug;
using interp::testing::set_planted_bug;
using interp::testing::kPlantedBugs;

}  // namespace revive::proof
