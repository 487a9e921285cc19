// 3. HermeticPyObjectTLS::get_state(), which every wrap and every check_pyobj calls:
//    the fast path (a process-wide relaxed flag first) against the plain TLS read.
//
//   design       get_state_fast(): haveState_ is false until a second interpreter
//                registers with the trampoline (or a thread turns hermetic mode on), and
//                then the answer is "false" without touching thread-local storage.
//   alternative  get_state_slow(): always the thread-local read.
//
// Both are compiled in every build (see Note [The hermetic fast path]); the build switch
// REVIVE_HERMETIC_FAST_PATH only chooses which one get_state() calls.  Measured with
// one interpreter registered (the fast path's case) and with a second one registered,
// where the flag is up and the fast path pays the flag *and* the TLS read.  Eight calls
// per iteration, so the benchmark loop is not a visible share of a nanosecond.
#include "suite.h"

namespace revive::bench {
namespace {

using impl::HermeticPyObjectTLS;
using impl::PythonOpRegistrationTrampoline;

constexpr int kCalls = 8;

// Register I0 (and I1, if `second`) with the trampoline, as loading torch in them does,
// and check the flag says what the case needs.  The suite's interpreters registered
// when they were made; the case starts from a process where none has.
bool register_interpreters(Suite& suite, bool second, benchmark::State& state) {
  PythonOpRegistrationTrampoline::unsafe_reset_for_testing();
  HermeticPyObjectTLS::unsafe_reset_have_state_for_testing();
  (void)PythonOpRegistrationTrampoline::registerInterpreter(
      suite.main_interpreter().pyinterpreter());
  if (second) {
    (void)PythonOpRegistrationTrampoline::registerInterpreter(
        suite.second_interpreter().pyinterpreter());
  }
  if (HermeticPyObjectTLS::have_state() != second) {
    state.SkipWithError(second ? "a second interpreter did not raise haveState_"
                               : "haveState_ is already up: something left it raised");
    return false;
  }
  return true;
}

template <bool (*GetState)() noexcept>
void get_state_loop(Suite& suite, bool second, benchmark::State& state) {
  ProcessFlagsGuard restore;
  if (!register_interpreters(suite, second, state)) return;
  for (auto _ : state) {
    repeat<kCalls>([] {
      bool hermetic = GetState();
      benchmark::DoNotOptimize(hermetic);
    });
  }
}

}  // namespace

void register_hermetic(Suite& suite) {
  const std::string section = "3. HermeticPyObjectTLS::get_state()";
  suite.add("hermetic/fast path, one interpreter", kCalls, [&suite](benchmark::State& s) {
    get_state_loop<&HermeticPyObjectTLS::get_state_fast>(suite, false, s);
  });
  suite.add("hermetic/TLS read, one interpreter", kCalls, [&suite](benchmark::State& s) {
    get_state_loop<&HermeticPyObjectTLS::get_state_slow>(suite, false, s);
  });
  suite.add("hermetic/fast path, two interpreters", kCalls, [&suite](benchmark::State& s) {
    get_state_loop<&HermeticPyObjectTLS::get_state_fast>(suite, true, s);
  });
  suite.add("hermetic/TLS read, two interpreters", kCalls, [&suite](benchmark::State& s) {
    get_state_loop<&HermeticPyObjectTLS::get_state_slow>(suite, true, s);
  });
  suite.compare(section, "fast path vs TLS read, no second interpreter",
                "hermetic/fast path, one interpreter", "hermetic/TLS read, one interpreter",
                2.0);
  suite.compare(section, "fast path vs TLS read, second interpreter registered",
                "hermetic/fast path, two interpreters", "hermetic/TLS read, two interpreters");
}

}  // namespace revive::bench
