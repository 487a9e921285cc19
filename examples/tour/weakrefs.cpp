// The tour's scenarios: The weakref hole (T8) and _fix_weakref, the one way out of it.
#include "scenarios.h"

#include <optional>
#include <string>

#include "revive/binding/tensor_methods.h"

namespace revive::tour {

using namespace revive::interp;
using namespace revive::binding;

void weakref_hole(Pictures* pics) {
  Scene scene(pics, "weakref-hole", {"the weakref hole: a zombie revived through a weakref (T8, test_tensor_dead_weak_ref)", "T1 T3 T8 T6", LifeState::D});
  Narrator& tour = scene.tour;
  Interpreter::Owner& I = scene.I;
  std::optional<Tensor> t = Tensor::empty(2);
  tour.watch(*I, *t);
  Ref p, w, x;
  tour.step("Py: p = wrap(t); w = weakref.ref(p)", [&] {
    p = I->wrap(*t);
    w = I->weakref(p);
  }, "Live wrapper with a weak reference.",
            "L n=2 r=1 tag=I0 owns=0 cdata=owned via=T1 fin=0");
  tour.step("Py: del p", [&] { p.reset(); }, "Zombie (T3).",
            "Z n=1 r=1 tag=I0 owns=1 cdata=borrowed via=T3 fin=0");
  tour.step("Py: x = w()", [&] {
    x = I->deref(w);
    tour.show(x);
  }, "A weakref deref is a plain incref: r = 2 with no flip. C++ does not know.",
            "Z n=1 r=2 tag=I0 owns=1 cdata=borrowed via=T8 fin=0");
  tour.step("C++: t.reset()", [&] { t.reset(); },
            "T6 finds r > 1: too late to rescue x; warn and stub x.cdata (undefined).",
            "D via=T6 fin=0");
  tour.step("Py: x.sigmoid()", [&] { tour.say(caught([&] { (void)sigmoid(*I, x); })); },
            "Every later use fails. x._fix_weakref() right after w() would have flipped it back "
            "(scenario fix-weakref).",
            "D fin=0");
  x.reset();
}

void fix_weakref(Pictures* pics) {
  Scene scene(pics, "fix-weakref", {"_fix_weakref closes the hole by hand (test_tensor_resurrected_weak_ref, _fix_weakref_no_leak)", "T1 T3 T8 T5 T4", LifeState::D});
  Narrator& tour = scene.tour;
  Interpreter::Owner& I = scene.I;
  Ref x, w, y;
  tour.step("Py: x = empty(2); w = weakref.ref(x, cb)", [&] {
    x = I->empty(2);
    tour.watch(*I, I->unpack(x));
    w = I->weakref(x, [&tour](Runtime&, const Ref&) { tour.say("weakref callback ran"); });
  }, "A tensor with a weak reference whose callback reports.",
            "L n=1 r=1 tag=I0 owns=0 cdata=owned via=T1 fin=0");
  tour.step("Py: y = torch.empty(2); y.grad = x; del x", [&] {
    y = I->empty(2);
    set_grad(*I, y, x);
    x.reset();
  }, "C++ (y's grad) holds the tensor; Python lets go: zombie (T3).",
            "Z n=1 r=1 tag=I0 owns=1 cdata=borrowed via=T3 fin=0");
  tour.step("Py: x = w()", [&] { x = I->deref(w); },
            "The hole opens: r = 2, no flip (T8).",
            "Z n=1 r=2 tag=I0 owns=1 cdata=borrowed via=T8 fin=0");
  tour.step("Py: x._fix_weakref()", [&] { I->fix_weakref(x); },
            "Wrap, then decref: the wrap sees owns = 1 and flips back (T5); r is 1 again.",
            "L n=2 r=1 tag=I0 owns=0 cdata=owned via=T5 fin=0");
  tour.step("Py: del y", [&] { y.reset(); },
            "C++ lets go: n 2 -> 1, and x owns the tensor, so nothing is stubbed, no warning.",
            "L n=1 r=1 tag=I0 owns=0 cdata=owned fin=0");
  tour.step("Py: x.sigmoid()", [&] { tour.say(caught([&] { (void)sigmoid(*I, x); })); },
            "x works.",
            "L n=1 r=1 tag=I0 owns=0 cdata=owned fin=0");
  tour.step("Py: del x", [&] { x.reset(); },
            "Real death (T4); the callback runs: _fix_weakref leaked nothing.",
            "D via=T4 fin=0");
}

}  // namespace revive::tour
