// 10. Reclaiming dead interpreters: how the time of one sweep grows with the objects it
//     examines (Note [Reclaiming a dead interpreter], interp/runtime.h), counted with a
//     clock rather than by Google Benchmark (a sweep's subject is built once and kept).
//
//   setup    an interpreter makes N tensors, their wrappers kept as attributes of one
//            object that C++ holds a reference to from outside, then is torn down: its
//            N + 2 objects are abandoned, each wrapper owning its tensor, and the
//            outside reference keeps them, so every sweep judges the interpreter again,
//            reading what the N wrappers own in C++ (N tensors and N storages).
//   measure  the mean time of reclaim_dead_interpreters() over a few sweeps, and that
//            per abandoned object, for N = 10^3, 10^4, 10^5: flat per object means
//            linear (a sweep once read the group's objects once per dead interpreter).
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "suite.h"

namespace revive::bench {

void count_reclaim(Suite& suite) {
  const std::string section = "10. Reclaiming dead interpreters";
  const std::vector<std::size_t> sizes =
      suite.options().smoke ? std::vector<std::size_t>{1000} : std::vector<std::size_t>{1000, 10000, 100000};
  double first_per_object = 0;
  for (const std::size_t n : sizes) {
    interp::Ref kept;  // from outside: the sweep can never free the interpreter
    {
      binding::Interpreter::Owner I = binding::Interpreter::create("reclaim-" + power_of_ten(n));
      I->gc_disable();
      kept = I->new_object(I->new_class("Holder", I->object_type()));
      for (std::size_t i = 0; i < n; ++i) {
        std::string name = "t";  // appended, not "t" + ...: g++ 12 -O3 warns falsely (GCC PR 105329)
        name += std::to_string(i);
        I->setattr(kept, name, interp::Value{I->empty(1)});
      }
    }  // torn down: the holder and the N wrappers are abandoned
    const int sweeps = suite.options().smoke ? 2 : 10;
    const auto start = std::chrono::steady_clock::now();
    for (int s = 0; s < sweeps; ++s) (void)interp::Runtime::reclaim_dead_interpreters();
    const std::chrono::duration<double, std::nano> took = std::chrono::steady_clock::now() - start;
    const double per_sweep = took.count() / sweeps;
    const double per_object = per_sweep / static_cast<double>(n);
    if (first_per_object == 0) first_per_object = per_object;
    kept.reset();  // nothing reaches it now: the next sweep frees it
    const std::size_t freed = interp::Runtime::reclaim_dead_interpreters();

    Row row;
    row.section = section;
    row.measure = "one sweep over " + power_of_ten(n) + " abandoned objects (per object)";
    char text[64];
    std::snprintf(text, sizeof text, "%.0f us (%.0f ns)", per_sweep / 1000.0, per_object);
    row.design_text = text;
    // Against the smallest size's cost per object: near 1 for a linear sweep.
    std::snprintf(text, sizeof text, "%.2fx per object vs 10^3", per_object / first_per_object);
    row.alternative_text = text;
    row.target_text = "freed once unreached";
    row.met = freed >= 1;
    suite.count(row);
  }
}

}  // namespace revive::bench
