// The ownership tour: one tensor and its Python wrapper through every state of PyTorch's
// resurrection design (era E2), printed step by step.
//
//   tour            run every scenario
//   tour --list     list the scenarios
//   tour NAME...    run the named scenarios
//
// Each row shows, after one Python or C++ action: the state of ../shared/semantics.md §2,
// the tensor's strong count n, the wrapper's refcount r, the interpreter tag, the owns
// bit, whether the wrapper's cdata is owned or borrowed, and the events that happened.
#include <cstdio>
#include <functional>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "revive/interp/inspect.h"
#include "revive/interp/interpreter.h"
#include "revive/pyslot/python_op_registration_trampoline.h"

using namespace revive;
using namespace revive::interp;

namespace {

// Prints one table per scenario.  Watches one C++ object (through a weak reference, so
// it can tell when the object is gone) as seen from one interpreter.
class Narrator final : public Observer {
 public:
  explicit Narrator(std::string title) {
    std::cout << "\n== " << title << " ==\n\n";
    std::printf("%-4s %-46s %-5s %3s %3s %-24s %-4s %-9s %s\n", "step", "action", "state", "n",
                "r", "tag", "owns", "cdata", "events");
  }

  void watch(Interpreter& interp, const Tensor& t) {
    interp_ = &interp;
    target_ = weak_intrusive_ptr<TensorImpl>(t.getIntrusivePtr());
    raw_ = t.unsafeGetTensorImpl();
  }

  // Output of the current step, printed under its row.
  void say(std::string line) { notes_.push_back(std::move(line)); }

  void on_event(const Interpreter& /*interp*/, const Event& e) noexcept override {
    if (e.kind == EventKind::Warning) {
      notes_.push_back("warning: " + e.detail);
      events_.push_back("warning");
      return;
    }
    if (e.kind == EventKind::GcClear || e.kind == EventKind::GcCollect) {
      events_.push_back(std::string(to_string(e.kind)) + " (" + e.detail + ")");
      return;
    }
    events_.emplace_back(to_string(e.kind));
  }

  // Run `action`, then print the row.  `why` is printed under it.
  void step(std::string_view action, const std::function<void()>& run, std::string_view why) {
    events_.clear();
    run();
    std::string state = "D", n = "-", r = "-", tag = "-", owns = "-", cdata = "-";
    if (interp_ != nullptr && !target_.expired()) {
      Snapshot s = inspect(*interp_, raw_);
      state = std::string(to_string(s.state));
      n = std::to_string(s.strong);
      tag = s.tag;
      if (s.state == SlotState::L || s.state == SlotState::Z || s.state == SlotState::T0) {
        owns = s.owns ? "1" : "0";
      }
      if (s.recorded != nullptr) r = std::to_string(s.refcnt);
      cdata = std::string(to_string(s.cdata));
    }
    std::string ev;
    for (const auto& e : events_) ev += (ev.empty() ? "" : ", ") + e;
    std::printf("%-4d %-46.46s %-5s %3s %3s %-24.24s %-4s %-9s %s\n", ++count_,
                std::string(action).c_str(), state.c_str(), n.c_str(), r.c_str(), tag.c_str(),
                owns.c_str(), cdata.c_str(), ev.c_str());
    std::printf("     %s\n", std::string(why).c_str());
    for (const auto& line : notes_) std::printf("     -> %s\n", line.c_str());
    notes_.clear();
  }

 private:
  Interpreter* interp_ = nullptr;
  weak_intrusive_ptr<TensorImpl> target_;
  const TensorImpl* raw_ = nullptr;
  std::vector<std::string> events_;
  std::vector<std::string> notes_;
  int count_ = 0;
};

void preserved() {
  Narrator tour("preserved: C++ keeps the tensor, Python keeps coming back (U L Z L Z D)");
  Interpreter::Owner I = Interpreter::create("I0");
  I->set_observer(&tour);
  int finalized = 0;
  const PyType* my_tensor = I->new_class(
      "MyTensor", I->tensor_type(),
      ClassSpec{std::nullopt, [&finalized](Interpreter&, const Ref&) { ++finalized; }});
  std::optional<Tensor> t;
  Ref p, q;
  tour.step("C++: t = at::empty({2})", [&] {
    t = Tensor::empty(2);
    tour.watch(*I, *t);
  }, "A C++ tensor that never crossed into Python: no tag, no wrapper.");
  tour.step("Py: p = MyTensor wrapper of t", [&] { p = I->make_subclass(my_tensor, *t); },
            "First wrap tags the slot with I0 and records p; p.cdata owns t (n: 1 -> 2).");
  tour.step("Py: p.foo = 2", [&] { I->setattr(p, "foo", std::int64_t{2}); },
            "State that must survive: an attribute in p.__dict__.");
  tour.step("Py: q = wrap(t)", [&] { q = I->wrap(*t); },
            "Wrap again: the same object, one more reference (T2).");
  tour.step("Py: del q", [&] { q.reset(); }, "r: 2 -> 1.");
  tour.step("Py: del p", [&] { p.reset(); },
            "r hit 0 but C++ still holds t: dealloc resurrects p and flips ownership (T3): "
            "the slot owns p (owns=1), p.cdata is borrowed (n: 2 -> 1). No __del__.");
  tour.step("Py: p = wrap(t)", [&] { p = I->wrap(*t); },
            "Wrap finds owns=1: flip back without incref; p takes over the slot's reference (T5).");
  tour.step("Py: p.foo, type(p)", [&] {
    tour.say("p.foo == " + std::to_string(std::get<std::int64_t>(I->getattr(p, "foo"))) +
             ", type(p) is " + I->type_of(p)->name);
  }, "Same object, same subclass, same __dict__: that is what preservation buys.");
  tour.step("Py: del p", [&] { p.reset(); }, "Zombie again (T3).");
  tour.step("C++: t.reset()", [&] {
    t.reset();
    tour.say("MyTensor.__del__ has run " + std::to_string(finalized) + " time(s)");
  }, "Last C++ reference: the slot hands p back to I0 (T6); p dies for real and "
     "__del__ runs now, once in p's life.");
  I->set_observer(nullptr);
}

void plain_death() {
  Narrator tour("plain death: Python alone owns the tensor (U L D)");
  Interpreter::Owner I = Interpreter::create("I0");
  I->set_observer(&tour);
  Ref x;
  tour.step("Py: x = torch.empty(2)", [&] {
    x = I->empty(2);
    tour.watch(*I, I->unpack(x));
  }, "The wrapper's cdata is the tensor's only owner (n = 1).");
  Ref w;
  tour.step("Py: w = weakref.ref(x, cb)", [&] {
    w = I->weakref(x, [&tour](Interpreter&, const Ref&) { tour.say("weakref callback ran"); });
  }, "A Python weak reference with a callback.");
  tour.step("Py: del x", [&] { x.reset(); },
            "n == 1: not resurrectable. CPython's order: weakrefs cleared (callback runs), "
            "dict released, cdata released (the tensor dies), wrapper freed (T4).");
  tour.step("Py: w()", [&] { tour.say(I->deref(w).is_none() ? "w() is None" : "w() is alive"); },
            "The weakref now reads None.");
  I->set_observer(nullptr);
}

void weakref_hole() {
  Narrator tour("the weakref hole: a zombie revived through a weakref (T8)");
  Interpreter::Owner I = Interpreter::create("I0");
  I->set_observer(&tour);
  std::optional<Tensor> t = Tensor::empty(2);
  tour.watch(*I, *t);
  Ref p, w, x;
  tour.step("Py: p = wrap(t); w = weakref.ref(p)", [&] {
    p = I->wrap(*t);
    w = I->weakref(p);
  }, "Live wrapper with a weak reference.");
  tour.step("Py: del p", [&] { p.reset(); }, "Zombie (T3).");
  tour.step("Py: x = w()", [&] { x = I->deref(w); },
            "A weakref deref is a plain incref: r = 2 with no flip. C++ does not know.");
  tour.step("C++: t.reset()", [&] { t.reset(); },
            "T6 finds r > 1: too late to rescue x; warn and stub x.cdata (undefined).");
  tour.step("Py: x.sigmoid()", [&] {
    try {
      (void)I->sigmoid(x);
    } catch (const Error& e) {
      tour.say(std::string("RuntimeError: ") + e.what());
    }
  }, "Every later use fails. x._fix_weakref() right after w() would have flipped it back.");
  x.reset();
  I->set_observer(nullptr);
}

void disarm() {
  Narrator tour("teardown: the tagging interpreter dies (T9, DisarmHook)");
  std::optional<Tensor> t = Tensor::empty(2);
  {
    Interpreter::Owner I = Interpreter::create("I0");
    I->set_observer(&tour);
    tour.watch(*I, *t);
    tour.step("I0: p = wrap(t); del p", [&] { Ref p = I->wrap(*t); },
              "A zombie of I0, held by C++.");
    tour.step("tear down I0", [&] { I.reset(); },
              "I0 is disarmed: its vtable is swapped for a no-op one; the zombie is abandoned.");
  }
  Interpreter::Owner J = Interpreter::create("I1");
  tour.watch(*J, *t);
  tour.step("I1: wrap(t)", [&] {
    try {
      (void)J->wrap(*t);
    } catch (const Error& e) {
      tour.say(std::string("RuntimeError: ") + e.what());
    }
  }, "The tag never changes: another interpreter is refused with a clear error (X).");
  tour.step("C++: t.reset()", [&] { t.reset(); },
            "The slot calls decref through the disarmed vtable: nothing runs, nothing crashes.");
}

void interpreters() {
  Narrator tour("two interpreters: tags, hermetic wraps, routed operators (T10, T11)");
  impl::PythonOpRegistrationTrampoline::unsafe_reset_for_testing();
  Interpreter::Owner I0 = Interpreter::create("I0");
  Interpreter::Owner I1 = Interpreter::create("I1");
  I0->set_observer(&tour);
  I1->set_observer(&tour);
  std::optional<Tensor> t = Tensor::empty(2);
  tour.watch(*I0, *t);
  Ref p;
  tour.step("I0: p = wrap(t)", [&] { p = I0->wrap(*t); }, "I0 tags t (first wrap).");
  tour.step("I1: wrap(t)", [&] {
    try {
      (void)I1->wrap(*t);
    } catch (const Error& e) {
      tour.say(std::string("RuntimeError: ") + e.what());
    }
  }, "TensorSharingNotAllowed: the tag is I0's for good; I1 is refused and nothing changes.");
  tour.step("I0, hermetic: h = wrap(t)", [&] {
    impl::EnableHermeticPyObject hermetic;
    Ref h = I0->wrap(*t);
    tour.say(std::string("h is p: ") + (h == p ? "yes" : "no") + "; h dies at the end of the scope");
  }, "Hermetic mode skips the slot: a fresh wrapper, never recorded, never resurrected (T10).");
  auto twice = [&tour](Interpreter& interp, const std::vector<Ref>& args) {
    tour.say("twice() runs in " + interp.name());
    return interp.empty(2 * interp.unpack(args.at(0)).numel());
  };
  tour.step("I0, I1: torch.library define tour::twice", [&] {
    tour.say(std::string("I0 is main: ") + (I0->register_python_op("tour::twice", twice) ? "yes" : "no"));
    tour.say(std::string("I1 is main: ") + (I1->register_python_op("tour::twice", twice) ? "yes" : "no"));
  }, "The first to register wins the trampoline's CAS; I1 only verifies (and hermetic state turns on).");
  tour.step("C++: twice(fresh tensor)", [&] {
    Stack stack{{Tensor::empty(3)}};
    Dispatcher::singleton().call(*Dispatcher::singleton().findOp("tour::twice"), &stack);
    tour.say("result has " + std::to_string(stack.values.at(0).numel()) + " elements, tag: " +
             (stack.values[0].unsafeGetTensorImpl()->pyobj_slot()->pyobj_interpreter() ? "set" : "none"));
  }, "No input carries Python behaviour: main (I0) runs it in hermetic mode; nothing gets tagged.");
  tour.step("I1: twice(x) with x a __torch_dispatch__ subclass", [&] {
    const PyType* sub = I1->new_class("Sub", I1->tensor_type(), ClassSpec{std::nullopt, {}, true});
    Ref x = I1->empty(2, sub);
    Ref y = I1->call_op("tour::twice", {x});
  }, "x is tagged by I1 and carries Python behaviour: the kernel forwards to I1's vtable.");
  p.reset();
  t.reset();
  I0->set_observer(nullptr);
  I1->set_observer(nullptr);
  Dispatcher::singleton().unsafe_reset_kernels_for_testing("tour::");
  impl::PythonOpRegistrationTrampoline::unsafe_reset_for_testing();
}

void gc_cycle() {
  Narrator tour("a cycle through a preserved wrapper (T7, test_tensor_cycle_via_dict)");
  Interpreter::Owner I = Interpreter::create("I0");
  I->set_observer(&tour);
  GcDisabled manual(*I);  // collections only when the tour asks
  Ref x, y, z;
  tour.step("Py: x = torch.empty(2); y = torch.empty(2)", [&] {
    x = I->empty(2);
    y = I->empty(2);
    tour.watch(*I, I->unpack(x));
  }, "Two wrappers; the table follows x's tensor.");
  tour.step("Py: x._loop = y; y._loop = x", [&] {
    I->setattr(x, "_loop", y);
    I->setattr(y, "_loop", x);
  }, "A reference cycle: reference counting alone can never free it.");
  tour.step("Py: z = torch.empty(2); z.grad = x", [&] {
    z = I->empty(2);
    I->set_grad(z, x);
  }, "C++ (z's grad) now holds x's tensor too: n = 2.");
  tour.step("Py: del x, y", [&] {
    x.reset();
    y.reset();
  }, "Only the cycle holds the wrappers (r = 1: y._loop); no dealloc, so no resurrection yet.");
  tour.step("Py: gc.collect()", [&] { (void)I->gc_collect(); },
            "x is resurrectable, so its traverse reports no references: C++ acts as its root, "
            "and y is reachable from it. Nothing is garbage.");
  tour.step("Py: del z", [&] { z.reset(); },
            "z's tensor dies and drops its grad: n = 1. x is no longer resurrectable.");
  tour.step("Py: gc.collect()", [&] { (void)I->gc_collect(); },
            "Now x reports its __dict__: the cycle is found, cleared, and both wrappers die (D).");
  I->set_observer(nullptr);
}

// One run of the situation behind #75932 and #145253: `c` is held from C++ (z.grad = c)
// and otherwise only by a dead cycle A <-> B (B.c = c).
void held_by_dead_cycle(Narrator& tour, Interpreter& I) {
  Ref z, c, w;
  tour.step("Py: c = torch.empty(2); c.foo = 2", [&] {
    c = I.empty(2);
    I.setattr(c, "foo", std::int64_t{2});
    tour.watch(I, I.unpack(c));
  }, "The tensor to watch, with an attribute that must survive.");
  tour.step("Py: z.grad = c; w = weakref.ref(c, cb)", [&] {
    z = I.empty(2);
    I.set_grad(z, c);
    w = I.weakref(c, [&tour](Interpreter&, const Ref&) { tour.say("weakref callback ran"); });
  }, "C++ holds c's tensor (n = 2); Python holds a weak reference to c.");
  tour.step("Py: A = []; B = [A, c]; A.append(B); del c", [&] {
    const PyType* list = I.new_class("list", I.object_type());
    Ref a = I.new_object(list);
    Ref b = I.new_object(list);
    I.setattr(a, "b", b);
    I.setattr(b, "a", a);
    I.setattr(b, "c", c);
    c.reset();
  }, "A <-> B is dead already; only B refers to c, so c is unreachable without being in a cycle.");
  tour.step("Py: gc.collect()", [&] { (void)I.gc_collect(); },
            "c is first in the unreachable list (oldest). Its weakrefs are cleared first "
            "(#145253, in every variant), then clear runs on c, then on A.");
  tour.step("Py: g = z.grad; g.foo", [&] {
    Ref g = I.grad(z);
    tour.say(std::string("w() is ") + (I.deref(w).is_none() ? "None" : "alive") + "; g.foo: " +
             (I.hasattr(g, "foo") ? std::to_string(std::get<std::int64_t>(I.getattr(g, "foo")))
                                  : std::string("AttributeError")));
  }, "What C++ hands back to Python afterwards.");
  z.reset();
}

void gc_bugs() {
  {
    Narrator tour("#75932 reproduced: clear ignores preservation (GcBugs::issue_75932)");
    Interpreter::Owner I = Interpreter::create("I0", GcBugs{.issue_75932 = true, .issue_136358 = false});
    I->set_observer(&tour);
    GcDisabled manual(*I);
    held_by_dead_cycle(tour, *I);
    I->set_observer(nullptr);
  }
  {
    Narrator tour("#75932 fixed: clear leaves a resurrectable wrapper alone (#145253 remains)");
    Interpreter::Owner I = Interpreter::create("I0");
    I->set_observer(&tour);
    GcDisabled manual(*I);
    held_by_dead_cycle(tour, *I);
    I->set_observer(nullptr);
  }
}

struct Scenario {
  std::string_view name;
  std::string_view summary;
  void (*run)();
};

constexpr Scenario kScenarios[] = {
    {"preserved", "U -> L -> Z -> L -> Z -> D: resurrection and flip back", preserved},
    {"plain-death", "U -> L -> D: a wrapper that alone owns its tensor", plain_death},
    {"weakref-hole", "T8: a weakref revives a zombie, C++ dies, the wrapper is stubbed",
     weakref_hole},
    {"disarm", "T9: teardown disarms the interpreter; a new one is refused", disarm},
    {"interpreters", "T10, T11: a second interpreter refused, a hermetic wrap, routed operators",
     interpreters},
    {"gc-cycle", "T7: the cycle collector cannot see through a preserved wrapper", gc_cycle},
    {"gc-bugs", "#75932 broken and fixed side by side; #145253's cleared weakref in both",
     gc_bugs},
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> wanted(argv + 1, argv + argc);
  if (!wanted.empty() && (wanted[0] == "--list" || wanted[0] == "-l")) {
    for (const auto& s : kScenarios) std::printf("%-14s %s\n", s.name.data(), s.summary.data());
    return 0;
  }
  std::printf("revive tour: PyTorch's PyObject preservation (era E2) on a fake interpreter\n");
  std::printf("columns: n = C++ strong count, r = wrapper refcount, owns = slot owns the "
              "wrapper, cdata = the wrapper's reference to the tensor\n");
  bool ran = false;
  for (const auto& s : kScenarios) {
    bool pick = wanted.empty();
    for (auto w : wanted) pick = pick || w == s.name;
    if (pick) {
      s.run();
      ran = true;
    }
  }
  if (!ran) {
    std::fprintf(stderr, "no such scenario; try --list\n");
    return 2;
  }
  std::printf("\nlive objects left: %lld tensors, %lld wrappers (abandoned on purpose: %lld)\n",
              static_cast<long long>(TensorImpl::live_count()),
              static_cast<long long>(Interpreter::live_object_count()),
              static_cast<long long>(Interpreter::abandoned_object_count()));
  return 0;
}
