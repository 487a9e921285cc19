// The tour's scenarios: Several interpreters (torchdeploy): the tag, hermetic wraps, routed operators, the
// tagging race, and teardown.
#include "scenarios.h"

#include <atomic>
#include <latch>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "revive/pyslot/hermetic_tls.h"
#include "revive/pyslot/python_op_registration_trampoline.h"
#include "revive/tensor/dispatcher.h"

namespace revive::tour {

using namespace revive::interp;
using namespace revive::binding;

void interpreters(Pictures* pics, Era) {
  Narrator tour(pics, "interpreters", {"two interpreters: tags, hermetic wraps, routed operators (T10, T11)", "T1 refused T10", LifeState::L});
  impl::PythonOpRegistrationTrampoline::unsafe_reset_for_testing();
  Interpreter::Owner I0 = Interpreter::create("I0");
  Interpreter::Owner I1 = Interpreter::create("I1");
  I0->set_observer(&tour);
  I1->set_observer(&tour);
  std::optional<Tensor> t = Tensor::empty(2);
  tour.watch(*I0, *t);
  tour.also_show(*I1);
  Ref p, h;
  tour.step("I0: p = wrap(t)", [&] { p = I0->wrap(*t); }, "I0 tags t (first wrap).",
            "L n=2 r=1 tag=I0 owns=0 cdata=owned via=T1 fin=0");
  tour.watch(*I1, *t);  // seen from I1, the tensor is X: tagged by another interpreter
  tour.step("I1: wrap(t)", [&] { tour.say(caught([&] { (void)I1->wrap(*t); })); },
            "TensorSharingNotAllowed: the tag is I0's for good (T11: I0 tagged it); I1's wrap is "
            "refused and nothing changes. This row is seen from I1.",
            "X n=2 r=1 tag=I0 owns=0 cdata=owned via=refused fin=0");
  tour.watch(*I0, *t);
  tour.step("I0, hermetic: h = wrap(t)", [&] {
    impl::EnableHermeticPyObject hermetic;
    h = I0->wrap(*t);
    tour.show(h);
    tour.say(std::string("h is p: ") + (h == p ? "yes" : "no"));
  }, "Hermetic mode skips the slot: a fresh wrapper, never recorded, never resurrected (T10).",
            "L n=3 r=1 tag=I0 owns=0 cdata=owned via=T10 fin=0");
  tour.step("Py: del h", [&] { h.reset(); },
            "h dies normally, though C++ still holds t: only the recorded wrapper is preserved.",
            "L n=2 r=1 tag=I0 owns=0 cdata=owned fin=0");
  auto twice = [&tour](Interpreter& interp, const std::vector<Ref>& args) {
    tour.say("twice() runs in " + interp.name());
    return interp.empty(2 * interp.unpack(args.at(0)).numel());
  };
  tour.step("I0, I1: torch.library define tour::twice", [&] {
    tour.say(std::string("I0 is main: ") + (I0->register_python_op("tour::twice", twice) ? "yes" : "no"));
    tour.say(std::string("I1 is main: ") + (I1->register_python_op("tour::twice", twice) ? "yes" : "no"));
  }, "I0 loaded torch first, so it won the trampoline's CAS: it registers, I1 only "
     "verifies. (Since I1 loaded torch, hermetic checks read the thread's state instead "
     "of assuming it off: See Note [The hermetic fast path].)",
            "L n=2 r=1 tag=I0 owns=0 cdata=owned fin=0");
  tour.step("C++: twice(fresh tensor)", [&] {
    Stack stack{{Tensor::empty(3)}};
    Dispatcher::singleton().call(*Dispatcher::singleton().findOp("tour::twice"), &stack);
    tour.say("result has " + std::to_string(stack.values.at(0).numel()) + " elements, tag: " +
             (stack.values[0].unsafeGetTensorImpl()->pyobj_slot()->pyobj_interpreter() ? "set" : "none"));
  }, "No input carries Python behaviour: main (I0) runs it in hermetic mode; nothing gets tagged.",
            "L n=2 r=1 tag=I0 owns=0 cdata=owned fin=0");
  Ref x;  // I1's tensor: drawn beside t, in I1's cluster
  tour.step("I1: twice(x) with x a __torch_dispatch__ subclass", [&] {
    const PyType* sub = I1->new_class("Sub", I1->tensor_type(), ClassSpec{std::nullopt, {}, true});
    x = I1->empty(2, sub);
    tour.show(x, "x");
    Ref y = I1->call_op("tour::twice", {x});
  }, "x is tagged by I1 and carries Python behaviour: the kernel forwards to I1's vtable.",
            "L n=2 r=1 tag=I0 owns=0 cdata=owned fin=0");
  x.reset();
  p.reset();
  t.reset();
  I0->set_observer(nullptr);
  I1->set_observer(nullptr);
  Dispatcher::singleton().unsafe_reset_kernels_for_testing("tour::");
  impl::PythonOpRegistrationTrampoline::unsafe_reset_for_testing();
}

void tagging_race(Pictures* pics, Era) {
  Narrator tour(pics, "tagging-race", {"sixteen interpreters race to tag one tensor (T11, TaggingRace)", "T1 T3 T6", LifeState::D});
  constexpr int kThreads = 16;
  std::vector<Interpreter::Owner> interps;
  for (int i = 0; i < kThreads; ++i) {
    std::string name = "I";  // not "I" + ...: here g++ 12 -O3 warned falsely (PR 105329)
    name += std::to_string(i);
    interps.push_back(Interpreter::create(name));
  }
  std::optional<Tensor> t = Tensor::empty(1);
  std::vector<Ref> results(kThreads);
  Interpreter* winner = nullptr;
  tour.step("I0..I15, one thread each: wrap(t)", [&] {
    std::atomic<int> cannot_allocate{0}, cannot_access{0};
    std::latch start(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i, mine = *t] {
        const auto k = static_cast<std::size_t>(i);
        start.arrive_and_wait();
        try {
          results[k] = interps[k]->wrap(mine);
        } catch (const Error& e) {
          const std::string what = e.what();
          (what.find("cannot allocate") == 0 ? cannot_allocate : cannot_access).fetch_add(1);
        }
      });
    }
    for (auto& th : threads) th.join();
    for (int i = 0; i < kThreads; ++i) {
      if (results[static_cast<std::size_t>(i)]) winner = interps[static_cast<std::size_t>(i)].get();
    }
    if (winner == nullptr) throw std::runtime_error("tagging race: no interpreter won");
    tour.watch(*winner, *t);
    for (auto& in : interps) tour.also_show(*in);  // the winner and every loser
    tour.say("winner: " + winner->name() + "; refused: " + std::to_string(cannot_allocate.load()) +
             " with \"cannot allocate PyObject ...\" (lost the CAS), " +
             std::to_string(cannot_access.load()) + " with \"cannot access PyObject ...\" (came after it)");
  }, "Each thread holds its own handle (n > 1: MAYBE_UNINITIALIZED), so each tries the CAS on "
     "the tag: exactly one wins (T1); the others raise and leak nothing. (No observer is "
     "attached here: the threads' events are not traced.)",
            "L n=2 r=1 tag=? owns=0 cdata=owned via=T1 fin=0");
  tour.step("winner: del p", [&] { results.clear(); },
            "The winner's wrapper becomes a zombie (T3); seen from any other interpreter, t is X.",
            "Z n=1 r=1 tag=? owns=1 cdata=borrowed via=T3 fin=0");
  tour.step("C++: t.reset()", [&] { t.reset(); }, "The winner's slot lets its zombie go (T6).",
            "D via=T6 fin=0");
}

void disarm(Pictures* pics, Era) {
  Narrator tour(pics, "disarm", {"teardown: the tagging interpreter dies (T9, DisarmHook)", "T1 T3 T9 released", LifeState::D});
  std::optional<Tensor> t = Tensor::empty(2);
  {
    Interpreter::Owner I = Interpreter::create("I0");
    I->set_observer(&tour);
    tour.watch(*I, *t);
    tour.step("I0: p = wrap(t); del p", [&] { Ref p = I->wrap(*t); },
              "A zombie of I0, held by C++.",
            "Z n=1 r=1 tag=I0 owns=1 cdata=borrowed via=T1,T3 fin=0");
    tour.step("tear down I0", [&] { I.reset(); },
              "I0 is disarmed: its vtable is swapped for a no-op one; the zombie is abandoned.",
            "Z n=1 r=1 tag=<unloaded interpreter> owns=1 cdata=borrowed via=T9 fin=0");
  }
  Interpreter::Owner J = Interpreter::create("I1");
  tour.watch(*J, *t);
  tour.step("I1: wrap(t)", [&] { tour.say(caught([&] { (void)J->wrap(*t); })); },
            "The tag never changes: another interpreter is refused with a clear error (X).",
            "X n=1 r=1 tag=<unloaded interpreter> owns=1 cdata=borrowed fin=0");
  tour.step("C++: t.reset()", [&] { t.reset(); },
            "The slot calls decref through the disarmed vtable: nothing runs, nothing crashes.",
            "D via=released fin=0");
}

}  // namespace revive::tour
