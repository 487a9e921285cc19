// 9. E2 against E4: what PyTorch's 2025 redesign (#167564, Note [Era E4 in the binding])
//    saves and what it costs, on the same operations, one interpreter of each era.
//
//   round trip    Python wraps a tensor C++ keeps, then drops it.  E2: T5 (flip the
//                 zombie back) then T3 (resurrect it again); E4: the wrapper never died,
//                 so an incref and a decref.
//   share         C++ takes a reference to a tensor only Python holds, then drops it
//                 (unpack + release).  E2: two atomic count changes; E4: each crosses
//                 1 <-> 2 with the has-PyObject bit set, so each takes the GIL to
//                 incref or decref the wrapper.
//   GIL entries   counted, not timed: how many times C++ entered the interpreter for
//                 10^6 shares (Torch::gil_entries_from_cpp).
#include "suite.h"

namespace revive::bench {

void register_era(Suite& suite) {
  const std::string section = "9. E2 against E4 (PyTorch #167564)";
  // One E4 interpreter for the timed rows, kept until the fixtures are released.
  auto e4 = std::make_shared<binding::Interpreter::Owner>(binding::Interpreter::create("bench-E4", binding::Era::E4));
  (*e4)->gc_disable();
  suite.on_release([e4] { e4->reset(); });

  suite.add("era/E4 re-wrap + drop while C++ holds", 1, [e4](benchmark::State& state) {
    binding::Interpreter& I = **e4;
    Tensor t = Tensor::empty(1);  // C++ keeps the tensor for the whole benchmark
    const PyObject* id = nullptr;
    {
      interp::Ref p = I.wrap(t);  // recorded; C++'s reference keeps it when p goes
      id = p.get();
    }
    for (auto _ : state) {
      interp::Ref q = I.wrap(t);  // the same wrapper, one more reference
      benchmark::DoNotOptimize(q.get());
    }  // and its decref
    if (I.wrap(t).get() != id) state.SkipWithError("E4 made another wrapper");
  });

  for (const bool e4_side : {false, true}) {
    suite.add(e4_side ? "era/E4 share + release (unpack)" : "era/E2 share + release (unpack)", 1,
              [&suite, e4, e4_side](benchmark::State& state) {
                binding::Interpreter& I = e4_side ? **e4 : suite.main_interpreter();
                interp::Ref x = I.empty(1);  // only Python holds it: n == 1
                for (auto _ : state) {
                  Tensor shared = I.unpack(x);  // 1 -> 2
                  benchmark::DoNotOptimize(shared.unsafeGetTensorImpl());
                }  // 2 -> 1
                if (I.unpack(x).use_count() != 2) state.SkipWithError("a reference leaked");
              });
  }

  suite.compare(section, "re-wrap + drop of a tensor C++ holds: E4 (incref, decref) vs E2 (T5 + T3)",
                "era/E4 re-wrap + drop while C++ holds", "wrap/T5+T3 re-wrap zombie + drop");
  suite.compare(section, "C++ shares and releases a tensor only Python holds: E2 vs E4 (the GIL, twice)",
                "era/E2 share + release (unpack)", "era/E4 share + release (unpack)");
}

void count_era_gil_entries(Suite& suite) {
  const std::string section = "9. E2 against E4 (PyTorch #167564)";
  const std::int64_t shares = suite.options().smoke ? 1000 : 1000000;
  std::int64_t entries[2] = {0, 0};
  for (const binding::Era era : {binding::Era::E2, binding::Era::E4}) {
    auto I = binding::Interpreter::create(std::string("count-") + binding::to_string(era), era);
    interp::Ref x = I->empty(1);
    const std::int64_t before = I->gil_entries_from_cpp();
    for (std::int64_t i = 0; i < shares; ++i) {
      Tensor shared = I->unpack(x);
    }
    entries[era == binding::Era::E4 ? 1 : 0] = I->gil_entries_from_cpp() - before;
  }
  Row row;
  row.section = section;
  row.measure = "GIL entries from C++ per " + power_of_ten(static_cast<std::size_t>(shares)) +
                " share + release: E2 vs E4";
  row.design_text = std::to_string(entries[0]);
  row.alternative_text = std::to_string(entries[1]);
  row.target_text = "E4 = 2 per share";
  row.met = entries[0] == 0 && entries[1] == 2 * shares;
  suite.count(row);
}

}  // namespace revive::bench
