// The tour's scenarios: One tensor's lifecycle: resurrection and the flip back, and the real deaths that release
// __dict__, __slots__ and run __del__ (docs/reference.md §9).
#include "scenarios.h"

#include <optional>
#include <string>
#include <vector>

#include "revive/binding/tensor_methods.h"

namespace revive::tour {

using namespace revive::interp;
using namespace revive::binding;

void preserved(Pictures* pics, Era era) {
  Scene scene(pics, "preserved",
              {"preserved: C++ keeps the tensor, Python keeps coming back (U L Z L Z D)", "T1 T2 T3 T5 T3 T6", LifeState::D},
              {"preserved in E4: C++ holds the wrapper while it shares the tensor; nothing dies until the end",
               "T1 share T2 T2 unshare T4", LifeState::D},
              era);
  Narrator& tour = scene.tour;
  Interpreter::Owner& I = scene.I;
  int finalized = 0;
  const PyType* my_tensor = I->new_class(
      "MyTensor", I->tensor_type(),
      ClassSpec{std::nullopt, [&finalized](Runtime&, const Ref&) { ++finalized; }});
  std::optional<Tensor> t;
  Ref p, q;
  tour.step("C++: t = at::empty({2})", [&] {
    t = Tensor::empty(2);
    tour.watch(*I, *t);
  },
            InE2{"A C++ tensor that never crossed into Python: no tag, no wrapper.",
                 "U n=1 fin=0"},
            InE4{"A C++ tensor that never crossed into Python: no tag, no wrapper, no bit.",
                 "U n=1 fin=0"});
  tour.step("Py: p = MyTensor wrapper of t", [&] { p = I->make_subclass(my_tensor, *t); },
            InE2{"First wrap tags the slot with I0 and records p; p.cdata owns t (n: 1 -> 2).",
                 "L n=2 r=1 tag=I0 owns=0 cdata=owned via=T1 fin=0"},
            InE4{"First wrap: tag, record p, p.cdata owns t (n = 2), and set the has-PyObject bit. "
                 "C++ (t) already shares the tensor, so C++ takes a reference to p at once: r = 2.",
                 "L n=2 r=2 tag=I0 owns=0 cdata=owned via=T1,share fin=0"});
  tour.step("Py: p.foo = 2", [&] { I->setattr(p, "foo", std::int64_t{2}); },
            InE2{"State that must survive: an attribute in p.__dict__.",
                 "L n=2 r=1 tag=I0 owns=0 cdata=owned fin=0"},
            InE4{"State that must survive: an attribute in p.__dict__.",
                 "L n=2 r=2 tag=I0 owns=0 cdata=owned fin=0"});
  tour.step("Py: q = wrap(t)", [&] { q = I->wrap(*t); },
            InE2{"Wrap again: the same object, one more reference (T2).",
                 "L n=2 r=2 tag=I0 owns=0 cdata=owned via=T2 fin=0"},
            InE4{"Wrap again: the same object, one more reference (T2).",
                 "L n=2 r=3 tag=I0 owns=0 cdata=owned via=T2 fin=0"});
  tour.step("Py: del q", [&] { q.reset(); },
            InE2{"r: 2 -> 1.",
                 "L n=2 r=1 tag=I0 owns=0 cdata=owned fin=0"},
            InE4{"r: 3 -> 2.",
                 "L n=2 r=2 tag=I0 owns=0 cdata=owned fin=0"});
  tour.step("Py: del p", [&] { p.reset(); },
            InE2{"r hit 0 but C++ still holds t: dealloc resurrects p and flips ownership (T3): "
                 "the slot owns p (owns=1), p.cdata is borrowed (n: 2 -> 1). No __del__.",
                 "Z n=1 r=1 tag=I0 owns=1 cdata=borrowed via=T3 fin=0"},
            InE4{"Python's last reference goes, but C++'s reference keeps p alive: r = 1, no dealloc, "
                 "no resurrection, no flip. p still owns t.",
                 "L n=2 r=1 tag=I0 owns=0 cdata=owned fin=0"});
  tour.step("Py: p = wrap(t)", [&] { p = I->wrap(*t); },
            InE2{"Wrap finds owns=1: flip back without incref; p takes over the slot's reference (T5).",
                 "L n=2 r=1 tag=I0 owns=0 cdata=owned via=T5 fin=0"},
            InE4{"Wrap finds the recorded p, alive all along: an ordinary incref (T2).",
                 "L n=2 r=2 tag=I0 owns=0 cdata=owned via=T2 fin=0"});
  tour.step("Py: p.foo, type(p)", [&] {
    tour.say("p.foo == " + std::to_string(std::get<std::int64_t>(I->getattr(p, "foo"))) +
             ", type(p) is " + I->type_of(p)->name);
  },
            InE2{"Same object, same subclass, same __dict__: that is what preservation buys.",
                 "L n=2 r=1 tag=I0 owns=0 cdata=owned fin=0"},
            InE4{"Same object, same subclass, same __dict__: what E2 bought with resurrection, E4 gets "
                 "by never letting p die.",
                 "L n=2 r=2 tag=I0 owns=0 cdata=owned fin=0"});
  tour.step("Py: del p", [&] { p.reset(); },
            InE2{"Zombie again (T3).",
                 "Z n=1 r=1 tag=I0 owns=1 cdata=borrowed via=T3 fin=0"},
            InE4{"C++'s reference is the only one left: r = 1.",
                 "L n=2 r=1 tag=I0 owns=0 cdata=owned fin=0"});
  tour.step("C++: t.reset()", [&] {
    t.reset();
    tour.say("MyTensor.__del__ has run " + std::to_string(finalized) + " time(s)");
  },
            InE2{"Last C++ reference: the slot hands p back to I0 (T6); p dies for real and "
                 "__del__ runs now, once in p's life.",
                 "D via=T6 fin=1"},
            InE4{"C++ lets go of its share (n from 2 to 1) and gives its reference to p back, under the "
                 "GIL (unshare). p's refcount reaches 0 while p alone owns the tensor: an ordinary death "
                 "(T4), __del__ runs, and p's cdata was the last reference to the tensor.",
                 "D via=unshare,T4 fin=1"});
}

void subclass_preserved(Pictures* pics, Era era) {
  Scene scene(pics, "subclass-preserved",
              {"a subclass survives a trip through C++ (test_subclass_preserved)", "T1 T3 T5 T3 T6", LifeState::D},
              {"a subclass survives a trip through C++ in E4: the wrapper never dies while C++ holds it",
               "T1 share unshare share T2 unshare T4", LifeState::D},
              era);
  Narrator& tour = scene.tour;
  Interpreter::Owner& I = scene.I;
  const PyType* my_tensor = I->new_class("MyTensor", I->tensor_type());
  Ref x, y;
  tour.step("Py: x = MyTensor(torch.empty(2)); x.foo = 2", [&] {
    x = I->empty(2, my_tensor);
    I->setattr(x, "foo", std::int64_t{2});
    tour.watch_wrapped(*I, x);
  },
            InE2{"A wrapper of a Python subclass, with an attribute.",
                 "L n=1 r=1 tag=I0 owns=0 cdata=owned via=T1 fin=0"},
            InE4{"A wrapper of a Python subclass, with an attribute. Made from a temporary C++ handle: "
                 "share, then unshare as it went.",
                 "L n=1 r=1 tag=I0 owns=0 cdata=owned via=T1,share,unshare fin=0"});
  tour.step("Py: y = torch.empty(2); y.grad = x", [&] {
    y = I->empty(2);
    set_grad(*I, y, x);
  },
            InE2{"y's TensorImpl now holds x's tensor as its grad: a C++ owner (n = 2).",
                 "L n=2 r=1 tag=I0 owns=0 cdata=owned fin=0"},
            InE4{"y's TensorImpl now holds x's tensor as its grad (n = 2): C++ takes a reference to x.",
                 "L n=2 r=2 tag=I0 owns=0 cdata=owned via=share fin=0"});
  tour.step("Py: del x", [&] { x.reset(); },
            InE2{"Python's last reference goes; C++ still holds the tensor: resurrection (T3).",
                 "Z n=1 r=1 tag=I0 owns=1 cdata=borrowed via=T3 fin=0"},
            InE4{"Python lets go; C++'s reference keeps x (r = 1): no resurrection.",
                 "L n=2 r=1 tag=I0 owns=0 cdata=owned fin=0"});
  tour.step("Py: type(y.grad), y.grad.foo", [&] {
    Ref g = grad(*I, y);
    tour.say("type(y.grad) is " + I->type_of(g)->name + ", y.grad.foo == " +
             std::to_string(std::get<std::int64_t>(I->getattr(g, "foo"))));
  },
            InE2{"y.grad wraps the tensor: the zombie flips back (T5), the same MyTensor comes out; "
                 "the temporary dies and it is a zombie again (T3).",
                 "Z n=1 r=1 tag=I0 owns=1 cdata=borrowed via=T5,T3 fin=0"},
            InE4{"y.grad wraps the tensor: the same MyTensor, alive all along (T2); the temporary goes.",
                 "L n=2 r=1 tag=I0 owns=0 cdata=owned via=T2 fin=0"});
  tour.step("Py: del y", [&] { y.reset(); },
            InE2{"y's tensor dies and releases its grad: x's tensor has no C++ owner left (T6).",
                 "D via=T6 fin=0"},
            InE4{"y's tensor dies and releases its grad: C++ lets go of x (unshare), x's refcount "
                 "reaches 0 and it dies for real (T4), its tensor with it.",
                 "D via=unshare,T4 fin=0"});
}

void plain_death(Pictures* pics, Era era) {
  Scene scene(pics, "plain-death",
              {"plain death: Python alone owns the tensor (U L D, test_tensor_weakref_dealloc)", "T1 T4", LifeState::D},
              {"plain death in E4: Python alone owns the tensor, as in E2", "T1 share unshare T4",
               LifeState::D},
              era);
  Narrator& tour = scene.tour;
  Interpreter::Owner& I = scene.I;
  Ref x;
  tour.step("Py: x = torch.empty(2)", [&] {
    x = I->empty(2);
    tour.watch_wrapped(*I, x);
  },
            InE2{"The wrapper's cdata is the tensor's only owner (n = 1).",
                 "L n=1 r=1 tag=I0 owns=0 cdata=owned via=T1 fin=0"},
            InE4{"The wrapper's cdata is the tensor's only owner (n = 1), once torch.empty's temporary "
                 "handle went (share, unshare).",
                 "L n=1 r=1 tag=I0 owns=0 cdata=owned via=T1,share,unshare fin=0"});
  Ref w;
  tour.step("Py: w = weakref.ref(x, cb)", [&] {
    w = I->weakref(x, [&tour](Runtime&, const Ref&) { tour.say("weakref callback ran"); });
  },
            InE2{"A Python weak reference with a callback.",
                 "L n=1 r=1 tag=I0 owns=0 cdata=owned fin=0"},
            InE4{"A Python weak reference with a callback.",
                 "L n=1 r=1 tag=I0 owns=0 cdata=owned fin=0"});
  tour.step("Py: del x", [&] { x.reset(); },
            InE2{"n == 1: not resurrectable. CPython's order: weakrefs cleared (callback runs), "
                 "dict released, cdata released (the tensor dies), wrapper freed (T4).",
                 "D via=T4 fin=0"},
            InE4{"n == 1: the same real death as in E2 (T4): weakrefs cleared (callback runs), dict "
                 "released, cdata released, wrapper freed.",
                 "D via=T4 fin=0"});
  tour.step("Py: w()", [&] { tour.say(I->deref(w).is_none() ? "w() is None" : "w() is alive"); },
            InE2{"The weakref now reads None.",
                 "D fin=0"},
            InE4{"The weakref now reads None.",
                 "D fin=0"});
}

void dict_dealloc(Pictures* pics, Era) {
  Scene scene(pics, "dict-dealloc", {"a __dict__ is released at real death, no GC needed (test_tensor_dict_dealloc)", "T1 T4", LifeState::D});
  Narrator& tour = scene.tour;
  Interpreter::Owner& I = scene.I;
  bool finalized = false;
  const PyType* tracker = I->new_class(
      "Tracker", I->object_type(),
      ClassSpec{std::nullopt, [&finalized](Runtime&, const Ref&) { finalized = true; }});
  Ref x;
  tour.step("Py: x = torch.empty(2); x.arf = Tracker()", [&] {
    x = I->empty(2);
    tour.watch(*I, I->unpack(x));
    I->setattr(x, "arf", I->new_object(tracker));
  }, "Only x.__dict__ holds the Tracker.",
            "L n=1 r=1 tag=I0 owns=0 cdata=owned via=T1 fin=0");
  tour.step("Py: del x", [&] {
    x.reset();
    tour.say(std::string("Tracker finalized: ") + (finalized ? "yes" : "no"));
  }, "Real death (T4): the dealloc releases the dict, so the Tracker dies with it.",
            "D via=T4 fin=1");
}

void slot_dealloc(Pictures* pics, Era) {
  Scene scene(pics, "slot-dealloc", {"__slots__ of every class level are released (test_tensor_slot_dealloc)", "T1 T4", LifeState::D});
  Narrator& tour = scene.tour;
  Interpreter::Owner& I = scene.I;
  bool m1 = false, m2 = false;
  const PyType* t1_cls = I->new_class("Tracker1", I->object_type(),
                                      ClassSpec{std::nullopt, [&m1](Runtime&, const Ref&) { m1 = true; }});
  const PyType* t2_cls = I->new_class("Tracker2", I->object_type(),
                                      ClassSpec{std::nullopt, [&m2](Runtime&, const Ref&) { m2 = true; }});
  const PyType* s1 = I->new_class("SlotTensor1", I->tensor_type(), ClassSpec{std::vector<std::string>{"slot1"}, {}});
  const PyType* s2 = I->new_class("SlotTensor2", s1, ClassSpec{std::vector<std::string>{"slot2"}, {}});
  Ref s;
  auto report = [&] {
    tour.say(std::string("t1 finalized: ") + (m1 ? "yes" : "no") + ", t2 finalized: " + (m2 ? "yes" : "no"));
  };
  tour.step("Py: s = SlotTensor2(torch.empty(2))", [&] {
    s = I->empty(2, s2);
    tour.watch(*I, I->unpack(s));
  }, "SlotTensor1 declares __slots__ = ['slot1'], its subclass SlotTensor2 ['slot2'].",
            "L n=1 r=1 tag=I0 owns=0 cdata=owned via=T1 fin=0");
  tour.step("Py: s.slot1 = t1; s.slot2 = t2; del t1, t2", [&] {
    I->setattr(s, "slot1", I->new_object(t1_cls));
    I->setattr(s, "slot2", I->new_object(t2_cls));
    report();
  }, "Each Tracker is now held only by one slot of s.",
            "L n=1 r=1 tag=I0 owns=0 cdata=owned fin=0");
  tour.step("Py: del s", [&] {
    s.reset();
    report();
  }, "Real death (T4): the dealloc clears __slots__ level by level, most derived first.",
            "D via=T4 fin=2");
}

void finalizer_dealloc(Pictures* pics, Era era) {
  Scene scene(pics, "finalizer-dealloc",
              {"__del__ runs at real death, not before (test_tensor_finalizer_dealloc)", "T1 T4", LifeState::D},
              {"__del__ runs at real death in E4, as in E2", "T1 share unshare T4", LifeState::D},
              era);
  Narrator& tour = scene.tour;
  Interpreter::Owner& I = scene.I;
  bool m = false;
  const PyType* fin = I->new_class("FinalizerTensor", I->tensor_type(),
                                   ClassSpec{std::nullopt, [&m](Runtime&, const Ref&) { m = true; }});
  Ref f;
  tour.step("Py: f = FinalizerTensor(torch.empty(2))", [&] {
    f = I->empty(2, fin);
    tour.watch_wrapped(*I, f);
    tour.say(std::string("__del__ ran: ") + (m ? "yes" : "no"));
  },
            InE2{"A subclass that defines __del__.",
                 "L n=1 r=1 tag=I0 owns=0 cdata=owned via=T1 fin=0"},
            InE4{"A subclass that defines __del__.",
                 "L n=1 r=1 tag=I0 owns=0 cdata=owned via=T1,share,unshare fin=0"});
  tour.step("Py: del f", [&] {
    f.reset();
    tour.say(std::string("__del__ ran: ") + (m ? "yes" : "no"));
  },
            InE2{"n == 1: real death (T4); the finalizer runs first in CPython's dealloc order. "
                 "(In `preserved`, __del__ waits until C++ lets go: resurrection never finalizes.)",
                 "D via=T4 fin=1"},
            InE4{"n == 1: real death (T4); the finalizer runs first. In E4 __del__ always runs when the "
                 "wrapper dies, which it does only as its tensor's last owner.",
                 "D via=T4 fin=1"});
}

}  // namespace revive::tour
