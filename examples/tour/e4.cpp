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

void subclass_preserved_e4(Pictures* pics) {
  Scene scene(pics, "subclass-preserved-e4",
              {"a subclass survives a trip through C++ in E4: the wrapper never dies while C++ holds it",
               "T1 share unshare share T2 unshare T4", LifeState::D},
              Era::E4);
  Narrator& tour = scene.tour;
  Interpreter::Owner& I = scene.I;
  const PyType* my_tensor = I->new_class("MyTensor", I->tensor_type());
  Ref x, y;
  tour.step("Py: x = MyTensor(torch.empty(2)); x.foo = 2", [&] {
    x = I->empty(2, my_tensor);
    I->setattr(x, "foo", std::int64_t{2});
    tour.watch_wrapped(*I, x);
  }, "A wrapper of a Python subclass, with an attribute. Made from a temporary C++ handle: "
     "share, then unshare as it went.",
            "L n=1 r=1 tag=I0 owns=0 cdata=owned via=T1,share,unshare fin=0");
  tour.step("Py: y = torch.empty(2); y.grad = x", [&] {
    y = I->empty(2);
    set_grad(*I, y, x);
  }, "y's TensorImpl now holds x's tensor as its grad (n = 2): C++ takes a reference to x.",
            "L n=2 r=2 tag=I0 owns=0 cdata=owned via=share fin=0");
  tour.step("Py: del x", [&] { x.reset(); },
            "Python lets go; C++'s reference keeps x (r = 1): no resurrection.",
            "L n=2 r=1 tag=I0 owns=0 cdata=owned fin=0");
  tour.step("Py: type(y.grad), y.grad.foo", [&] {
    Ref g = grad(*I, y);
    tour.say("type(y.grad) is " + I->type_of(g)->name + ", y.grad.foo == " +
             std::to_string(std::get<std::int64_t>(I->getattr(g, "foo"))));
  }, "y.grad wraps the tensor: the same MyTensor, alive all along (T2); the temporary goes.",
            "L n=2 r=1 tag=I0 owns=0 cdata=owned via=T2 fin=0");
  tour.step("Py: del y", [&] { y.reset(); },
            "y's tensor dies and releases its grad: C++ lets go of x (unshare), x's refcount "
            "reaches 0 and it dies for real (T4), its tensor with it.",
            "D via=unshare,T4 fin=0");
}

void plain_death_e4(Pictures* pics) {
  Scene scene(pics, "plain-death-e4",
              {"plain death in E4: Python alone owns the tensor, as in E2", "T1 share unshare T4",
               LifeState::D},
              Era::E4);
  Narrator& tour = scene.tour;
  Interpreter::Owner& I = scene.I;
  Ref x;
  tour.step("Py: x = torch.empty(2)", [&] {
    x = I->empty(2);
    tour.watch_wrapped(*I, x);
  }, "The wrapper's cdata is the tensor's only owner (n = 1), once torch.empty's temporary "
     "handle went (share, unshare).",
            "L n=1 r=1 tag=I0 owns=0 cdata=owned via=T1,share,unshare fin=0");
  Ref w;
  tour.step("Py: w = weakref.ref(x, cb)", [&] {
    w = I->weakref(x, [&tour](Runtime&, const Ref&) { tour.say("weakref callback ran"); });
  }, "A Python weak reference with a callback.",
            "L n=1 r=1 tag=I0 owns=0 cdata=owned fin=0");
  tour.step("Py: del x", [&] { x.reset(); },
            "n == 1: the same real death as in E2 (T4): weakrefs cleared (callback runs), dict "
            "released, cdata released, wrapper freed.",
            "D via=T4 fin=0");
  tour.step("Py: w()", [&] { tour.say(I->deref(w).is_none() ? "w() is None" : "w() is alive"); },
            "The weakref now reads None.",
            "D fin=0");
}

void finalizer_dealloc_e4(Pictures* pics) {
  Scene scene(pics, "finalizer-dealloc-e4",
              {"__del__ runs at real death in E4, as in E2", "T1 share unshare T4", LifeState::D}, Era::E4);
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
  }, "A subclass that defines __del__.",
            "L n=1 r=1 tag=I0 owns=0 cdata=owned via=T1,share,unshare fin=0");
  tour.step("Py: del f", [&] {
    f.reset();
    tour.say(std::string("__del__ ran: ") + (m ? "yes" : "no"));
  }, "n == 1: real death (T4); the finalizer runs first. In E4 __del__ always runs when the "
     "wrapper dies, which it does only as its tensor's last owner.",
            "D via=T4 fin=1");
}

void fix_weakref_e4(Pictures* pics) {
  Scene scene(pics, "fix-weakref-e4",
              {"_fix_weakref in E4: nothing to fix, an ordinary wrap and decref",
               "T1 share unshare share T2 unshare share unshare T4", LifeState::D},
              Era::E4);
  Narrator& tour = scene.tour;
  Interpreter::Owner& I = scene.I;
  Ref x, w, y;
  tour.step("Py: x = empty(2); w = weakref.ref(x, cb)", [&] {
    x = I->empty(2);
    tour.watch_wrapped(*I, x);
    w = I->weakref(x, [&tour](Runtime&, const Ref&) { tour.say("weakref callback ran"); });
  }, "A tensor with a weak reference whose callback reports.",
            "L n=1 r=1 tag=I0 owns=0 cdata=owned via=T1,share,unshare fin=0");
  tour.step("Py: y = torch.empty(2); y.grad = x; del x", [&] {
    y = I->empty(2);
    set_grad(*I, y, x);
    x.reset();
  }, "C++ (y's grad) shares the tensor and holds x; Python lets go: r = 1, x lives on.",
            "L n=2 r=1 tag=I0 owns=0 cdata=owned via=share fin=0");
  tour.step("Py: x = w()", [&] { x = I->deref(w); },
            "An ordinary incref of a live wrapper: r = 2. No hole to open.",
            "L n=2 r=2 tag=I0 owns=0 cdata=owned fin=0");
  tour.step("Py: x._fix_weakref()", [&] { I->fix_weakref(x); },
            "Wrap (T2), then decref: there was nothing to flip.",
            "L n=2 r=2 tag=I0 owns=0 cdata=owned via=T2 fin=0");
  tour.step("Py: del y", [&] { y.reset(); },
            "C++ lets go of its share (unshare): r = 1, x owns the tensor.",
            "L n=1 r=1 tag=I0 owns=0 cdata=owned via=unshare fin=0");
  tour.step("Py: x.sigmoid()", [&] { tour.say(caught([&] { (void)sigmoid(*I, x); })); },
            "x works; sigmoid's C++ side held the tensor while it ran (share, unshare).",
            "L n=1 r=1 tag=I0 owns=0 cdata=owned via=share,unshare fin=0");
  tour.step("Py: del x", [&] { x.reset(); },
            "Real death (T4); the callback runs.",
            "D via=T4 fin=0");
}

void storage_e4(Pictures* pics) {
  Scene scene(pics, "storage-e4",
              {"storages in E4: the same bit, the same story", "T1 share unshare share T2 unshare T4",
               LifeState::D},
              Era::E4);
  Narrator& tour = scene.tour;
  Interpreter::Owner& I = scene.I;
  int finalized = 0;
  bool tracker_finalized = false;
  const PyType* my_storage = I->new_class(
      "MyStorage", I->storage_type(),
      ClassSpec{std::nullopt, [&finalized](Runtime&, const Ref&) { ++finalized; }});
  const PyType* tracker = I->new_class(
      "Tracker", I->object_type(),
      ClassSpec{std::nullopt, [&tracker_finalized](Runtime&, const Ref&) { tracker_finalized = true; }});
  auto report = [&] {
    tour.say("MyStorage.__del__ ran " + std::to_string(finalized) + " time(s); Tracker finalized: " +
             (tracker_finalized ? "yes" : "no"));
  };
  Ref s, a;
  tour.step("Py: s = MyStorage(16); s._tracker = Tracker()", [&] {
    s = I->new_storage(16, my_storage);
    I->setattr(s, "_tracker", I->new_object(tracker));
    tour.watch_wrapped(*I, s);
  }, "A storage wrapper of a Python subclass with a __del__, made from a temporary handle "
     "(share, unshare); only its dict holds the Tracker.",
            "L n=1 r=1 tag=I0 owns=0 cdata=owned via=T1,share,unshare fin=0");
  tour.step("Py: a = torch.tensor(s)", [&] { a = tensor_from_storage(*I, s); },
            "a's TensorImpl holds the storage (n = 2): C++ takes a reference to s.",
            "L n=2 r=2 tag=I0 owns=0 cdata=owned via=share fin=0");
  tour.step("Py: del s", [&] {
    s.reset();
    report();
  }, "C++'s reference keeps s: no resurrection, no __del__, the Tracker lives on.",
            "L n=2 r=1 tag=I0 owns=0 cdata=owned fin=0");
  tour.step("Py: s = a.untyped_storage(); type(s)", [&] {
    s = untyped_storage(*I, a);
    tour.say("type(s) is " + I->type_of(s)->name + ", s._tracker is a " +
             I->type_of(std::get<Ref>(I->getattr(s, "_tracker")))->name);
  }, "The same MyStorage, alive all along (T2).",
            "L n=2 r=2 tag=I0 owns=0 cdata=owned via=T2 fin=0");
  tour.step("Py: del s", [&] { s.reset(); }, "r = 1: C++'s reference.",
            "L n=2 r=1 tag=I0 owns=0 cdata=owned fin=0");
  tour.step("Py: del a", [&] {
    a.reset();
    report();
  }, "The tensor dies and drops the storage: C++ lets s go (unshare), s dies for real (T4): "
     "__del__ runs once, and the dict's release finalizes the Tracker.",
            "D via=unshare,T4 fin=2");
}

}  // namespace revive::tour
