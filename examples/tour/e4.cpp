// The tour's scenarios in era E4 (PyTorch #167564, November 2025): the same actions as
// their E2 tellings (preserved, weakref-hole, gc-cycle), on an E4 interpreter, where
// C++ holds a real reference to the wrapper while it shares the tensor and nothing is
// ever resurrected (Note [Era E4 in the binding]).  `revive-tour --side-by-side NAME`
// prints the two tellings' rows next to each other.
#include "scenarios.h"

#include <optional>
#include <string>

#include "revive/binding/tensor_methods.h"

namespace revive::tour {

using namespace revive::interp;
using namespace revive::binding;

void preserved_e4(Pictures* pics) {
  Scene scene(pics, "preserved-e4",
              {"preserved in E4: C++ holds the wrapper while it shares the tensor; nothing dies until the end",
               "T1 share T2 T2 unshare T4", LifeState::D},
              Era::E4);
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
  }, "A C++ tensor that never crossed into Python: no tag, no wrapper, no bit.",
            "U n=1 fin=0");
  tour.step("Py: p = MyTensor wrapper of t", [&] { p = I->make_subclass(my_tensor, *t); },
            "First wrap: tag, record p, p.cdata owns t (n = 2), and set the has-PyObject bit. "
            "C++ (t) already shares the tensor, so C++ takes a reference to p at once: r = 2.",
            "L n=2 r=2 tag=I0 owns=0 cdata=owned via=T1,share fin=0");
  tour.step("Py: p.foo = 2", [&] { I->setattr(p, "foo", std::int64_t{2}); },
            "State that must survive: an attribute in p.__dict__.",
            "L n=2 r=2 tag=I0 owns=0 cdata=owned fin=0");
  tour.step("Py: q = wrap(t)", [&] { q = I->wrap(*t); },
            "Wrap again: the same object, one more reference (T2).",
            "L n=2 r=3 tag=I0 owns=0 cdata=owned via=T2 fin=0");
  tour.step("Py: del q", [&] { q.reset(); }, "r: 3 -> 2.",
            "L n=2 r=2 tag=I0 owns=0 cdata=owned fin=0");
  tour.step("Py: del p", [&] { p.reset(); },
            "Python's last reference goes, but C++'s reference keeps p alive: r = 1, no dealloc, "
            "no resurrection, no flip. p still owns t.",
            "L n=2 r=1 tag=I0 owns=0 cdata=owned fin=0");
  tour.step("Py: p = wrap(t)", [&] { p = I->wrap(*t); },
            "Wrap finds the recorded p, alive all along: an ordinary incref (T2).",
            "L n=2 r=2 tag=I0 owns=0 cdata=owned via=T2 fin=0");
  tour.step("Py: p.foo, type(p)", [&] {
    tour.say("p.foo == " + std::to_string(std::get<std::int64_t>(I->getattr(p, "foo"))) +
             ", type(p) is " + I->type_of(p)->name);
  }, "Same object, same subclass, same __dict__: what E2 bought with resurrection, E4 gets "
     "by never letting p die.",
            "L n=2 r=2 tag=I0 owns=0 cdata=owned fin=0");
  tour.step("Py: del p", [&] { p.reset(); }, "C++'s reference is the only one left: r = 1.",
            "L n=2 r=1 tag=I0 owns=0 cdata=owned fin=0");
  tour.step("C++: t.reset()", [&] {
    t.reset();
    tour.say("MyTensor.__del__ has run " + std::to_string(finalized) + " time(s)");
  }, "C++ lets go of its share (n from 2 to 1) and gives its reference to p back, under the "
     "GIL (unshare). p's refcount reaches 0 while p alone owns the tensor: an ordinary death "
     "(T4), __del__ runs, and p's cdata was the last reference to the tensor.",
            "D via=unshare,T4 fin=1");
}

void weakref_hole_e4(Pictures* pics) {
  Scene scene(pics, "weakref-hole-e4",
              {"no weakref hole in E4: a weakref deref is an ordinary incref of a live wrapper "
               "(test_tensor_dead_weak_ref, E4's text)",
               "T1 share unshare share unshare T4", LifeState::D},
              Era::E4);
  Narrator& tour = scene.tour;
  Interpreter::Owner& I = scene.I;
  std::optional<Tensor> t = Tensor::empty(2);
  tour.watch(*I, *t);
  Ref p, w, x;
  tour.step("Py: p = wrap(t); w = weakref.ref(p)", [&] {
    p = I->wrap(*t);
    w = I->weakref(p);
  }, "Live wrapper with a weak reference; C++ (t) shares the tensor, so C++ holds p too: r = 2.",
            "L n=2 r=2 tag=I0 owns=0 cdata=owned via=T1,share fin=0");
  tour.step("Py: del p", [&] { p.reset(); }, "C++'s reference keeps p: r = 1, no resurrection.",
            "L n=2 r=1 tag=I0 owns=0 cdata=owned fin=0");
  tour.step("Py: x = w()", [&] {
    x = I->deref(w);
    tour.show(x);
  }, "The deref increfs a live object that owns its tensor: r = 2, and nothing is wrong.",
            "L n=2 r=2 tag=I0 owns=0 cdata=owned fin=0");
  tour.step("C++: t.reset()", [&] { t.reset(); },
            "C++ lets go of its share (n from 2 to 1) and gives its reference back (unshare). x "
            "holds p: no warning, no stub.",
            "L n=1 r=1 tag=I0 owns=0 cdata=owned via=unshare fin=0");
  tour.step("Py: x.sigmoid()", [&] {
    tour.say(caught([&] { (void)sigmoid(*I, x); }));
  }, "x works: it owns its tensor (E4's test_tensor_dead_weak_ref asserts exactly this). "
     "sigmoid's C++ side held x's tensor while it ran: share, then unshare, the GIL twice: "
     "what E4 pays instead.",
            "L n=1 r=1 tag=I0 owns=0 cdata=owned via=share,unshare fin=0");
  tour.step("Py: del x", [&] { x.reset(); },
            "The last owner goes: p dies (T4) and the tensor with it; w() reads None.",
            "D via=T4 fin=0");
}

void gc_cycle_e4(Pictures* pics) {
  Scene scene(pics, "gc-cycle-e4",
              {"a cycle through a shared wrapper in E4: C++'s reference is a real one, the "
               "collector sees it from outside",
               "T1 share unshare share unshare T7", LifeState::D},
              Era::E4);
  Narrator& tour = scene.tour;
  Interpreter::Owner& I = scene.I;
  GcDisabled manual(*I);  // collections only when the tour asks
  const PyType* slot_tensor =
      I->new_class("SlotTensor", I->tensor_type(), ClassSpec{std::vector<std::string>{"_loop"}, {}});
  Ref x, y, z;
  tour.step("Py: x = torch.empty(2); y = SlotTensor(...)", [&] {
    x = I->empty(2);
    y = I->empty(2, slot_tensor);
    tour.watch_wrapped(*I, x, "x");
    tour.show(y, "y");
  }, "Two wrappers; y's class declares __slots__ = ['_loop']. The table follows x's tensor. "
     "torch.empty() made it in C++ and wrapped it while its temporary handle still shared "
     "it: share, then unshare as the temporary went, the GIL both times.",
            "L n=1 r=1 tag=I0 owns=0 cdata=owned via=T1,share,unshare fin=0");
  tour.step("Py: x._loop = y; y._loop = x", [&] {
    I->setattr(x, "_loop", y);
    I->setattr(y, "_loop", x);
  }, "A reference cycle, through x.__dict__ one way and y's slot the other.",
            "L n=1 r=2 tag=I0 owns=0 cdata=owned fin=0");
  tour.step("Py: z = torch.empty(2); z.grad = x", [&] {
    z = I->empty(2);
    set_grad(*I, z, x);
  }, "C++ (z's grad) now shares x's tensor: n = 2, and C++ takes a reference to x: r = 3.",
            "L n=2 r=3 tag=I0 owns=0 cdata=owned via=share fin=0");
  tour.step("Py: del x, y", [&] {
    x.reset();
    y.reset();
  }, "Left: y._loop and C++'s reference, r = 2.",
            "L n=2 r=2 tag=I0 owns=0 cdata=owned fin=0");
  tour.step("Py: gc.collect()", [&] { (void)I->gc_collect(); },
            "x's traverse reports everything, as any object's; but C++'s reference is one no "
            "traverse reports, so x counts as referenced from outside: the cycle is reachable, "
            "nothing is garbage. No special case, no bug to have.",
            "L n=2 r=2 tag=I0 owns=0 cdata=owned fin=0");
  tour.step("Py: del z", [&] { z.reset(); },
            "z's tensor dies and drops its grad (n from 2 to 1): C++ gives x back (unshare), r = 1.",
            "L n=1 r=1 tag=I0 owns=0 cdata=owned via=unshare fin=0");
  tour.step("Py: gc.collect()", [&] { (void)I->gc_collect(); },
            "Now only the cycle holds x: found, cleared, both wrappers die (T7), and x's tensor "
            "with them.",
            "D via=T7 fin=0");
}

}  // namespace revive::tour
