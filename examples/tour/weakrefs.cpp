// The tour's scenarios: The weakref hole (T8) and _fix_weakref, the one way out of it.
#include "scenarios.h"

#include <optional>
#include <string>

#include "revive/binding/tensor_methods.h"

namespace revive::tour {

using namespace revive::interp;
using namespace revive::binding;

void weakref_hole(Pictures* pics, Era era) {
  Scene scene(pics, "weakref-hole",
              {"the weakref hole: a zombie revived through a weakref (T8, test_tensor_dead_weak_ref)", "T1 T3 T8 T6", LifeState::D},
              {"no weakref hole in E4: a weakref deref is an ordinary incref of a live wrapper "
               "(test_tensor_dead_weak_ref, E4's text)",
               "T1 share unshare share unshare T4", LifeState::D},
              era);
  Narrator& tour = scene.tour;
  Interpreter::Owner& I = scene.I;
  std::optional<Tensor> t = Tensor::empty(2);
  tour.watch(*I, *t);
  Ref p, w, x;
  tour.step("Py: p = wrap(t); w = weakref.ref(p)", [&] {
    p = I->wrap(*t);
    w = I->weakref(p);
  },
            InE2{"Live wrapper with a weak reference.",
                 "L n=2 r=1 tag=I0 owns=0 cdata=owned via=T1 fin=0"},
            InE4{"Live wrapper with a weak reference; C++ (t) shares the tensor, so C++ holds p too: r = 2.",
                 "L n=2 r=2 tag=I0 owns=0 cdata=owned via=T1,share fin=0"});
  tour.step("Py: del p", [&] { p.reset(); },
            InE2{"Zombie (T3).",
                 "Z n=1 r=1 tag=I0 owns=1 cdata=borrowed via=T3 fin=0"},
            InE4{"C++'s reference keeps p: r = 1, no resurrection.",
                 "L n=2 r=1 tag=I0 owns=0 cdata=owned fin=0"});
  tour.step("Py: x = w()", [&] {
    x = I->deref(w);
    tour.show(x);
  },
            InE2{"A weakref deref is a plain incref: r = 2 with no flip. C++ does not know.",
                 "Z n=1 r=2 tag=I0 owns=1 cdata=borrowed via=T8 fin=0"},
            InE4{"The deref increfs a live object that owns its tensor: r = 2, and nothing is wrong.",
                 "L n=2 r=2 tag=I0 owns=0 cdata=owned fin=0"});
  tour.step("C++: t.reset()", [&] { t.reset(); },
            InE2{"T6 finds r > 1: too late to rescue x; warn and stub x.cdata (undefined).",
                 "D via=T6 fin=0"},
            InE4{"C++ lets go of its share (n from 2 to 1) and gives its reference back (unshare). x "
                 "holds p: no warning, no stub.",
                 "L n=1 r=1 tag=I0 owns=0 cdata=owned via=unshare fin=0"});
  tour.step("Py: x.sigmoid()", [&] { tour.say(caught([&] { (void)sigmoid(*I, x); })); },
            InE2{"Every later use fails. x._fix_weakref() right after w() would have flipped it back "
                 "(scenario fix-weakref).",
                 "D fin=0"},
            InE4{"x works: it owns its tensor (E4's test_tensor_dead_weak_ref asserts exactly this). "
                 "sigmoid's C++ side held x's tensor while it ran: share, then unshare, the GIL twice: "
                 "what E4 pays instead.",
                 "L n=1 r=1 tag=I0 owns=0 cdata=owned via=share,unshare fin=0"});
  tour.step("Py: del x", [&] { x.reset(); },
            InE2{"The stubbed x dies for real: it owned nothing, so nothing else goes with it.",
                 "D fin=0"},
            InE4{"The last owner goes: p dies (T4) and the tensor with it; w() reads None.",
                 "D via=T4 fin=0"});
}

void fix_weakref(Pictures* pics, Era era) {
  Scene scene(pics, "fix-weakref",
              {"_fix_weakref closes the hole by hand (test_tensor_resurrected_weak_ref, _fix_weakref_no_leak)", "T1 T3 T8 T5 T4", LifeState::D},
              {"_fix_weakref in E4: nothing to fix, an ordinary wrap and decref",
               "T1 share unshare share T2 unshare share unshare T4", LifeState::D},
              era);
  Narrator& tour = scene.tour;
  Interpreter::Owner& I = scene.I;
  Ref x, w, y;
  tour.step("Py: x = empty(2); w = weakref.ref(x, cb)", [&] {
    x = I->empty(2);
    tour.watch_wrapped(*I, x);
    w = I->weakref(x, [&tour](Runtime&, const Ref&) { tour.say("weakref callback ran"); });
  },
            InE2{"A tensor with a weak reference whose callback reports.",
                 "L n=1 r=1 tag=I0 owns=0 cdata=owned via=T1 fin=0"},
            InE4{"A tensor with a weak reference whose callback reports.",
                 "L n=1 r=1 tag=I0 owns=0 cdata=owned via=T1,share,unshare fin=0"});
  tour.step("Py: y = torch.empty(2); y.grad = x; del x", [&] {
    y = I->empty(2);
    set_grad(*I, y, x);
    x.reset();
  },
            InE2{"C++ (y's grad) holds the tensor; Python lets go: zombie (T3).",
                 "Z n=1 r=1 tag=I0 owns=1 cdata=borrowed via=T3 fin=0"},
            InE4{"C++ (y's grad) shares the tensor and holds x; Python lets go: r = 1, x lives on.",
                 "L n=2 r=1 tag=I0 owns=0 cdata=owned via=share fin=0"});
  tour.step("Py: x = w()", [&] { x = I->deref(w); },
            InE2{"The hole opens: r = 2, no flip (T8).",
                 "Z n=1 r=2 tag=I0 owns=1 cdata=borrowed via=T8 fin=0"},
            InE4{"An ordinary incref of a live wrapper: r = 2. No hole to open.",
                 "L n=2 r=2 tag=I0 owns=0 cdata=owned fin=0"});
  tour.step("Py: x._fix_weakref()", [&] { I->fix_weakref(x); },
            InE2{"Wrap, then decref: the wrap sees owns = 1 and flips back (T5); r is 1 again.",
                 "L n=2 r=1 tag=I0 owns=0 cdata=owned via=T5 fin=0"},
            InE4{"Wrap (T2), then decref: there was nothing to flip.",
                 "L n=2 r=2 tag=I0 owns=0 cdata=owned via=T2 fin=0"});
  tour.step("Py: del y", [&] { y.reset(); },
            InE2{"C++ lets go: n 2 -> 1, and x owns the tensor, so nothing is stubbed, no warning.",
                 "L n=1 r=1 tag=I0 owns=0 cdata=owned fin=0"},
            InE4{"C++ lets go of its share (unshare): r = 1, x owns the tensor.",
                 "L n=1 r=1 tag=I0 owns=0 cdata=owned via=unshare fin=0"});
  tour.step("Py: x.sigmoid()", [&] { tour.say(caught([&] { (void)sigmoid(*I, x); })); },
            InE2{"x works.",
                 "L n=1 r=1 tag=I0 owns=0 cdata=owned fin=0"},
            InE4{"x works; sigmoid's C++ side held the tensor while it ran (share, unshare).",
                 "L n=1 r=1 tag=I0 owns=0 cdata=owned via=share,unshare fin=0"});
  tour.step("Py: del x", [&] { x.reset(); },
            InE2{"Real death (T4); the callback runs: _fix_weakref leaked nothing.",
                 "D via=T4 fin=0"},
            InE4{"Real death (T4); the callback runs.",
                 "D via=T4 fin=0"});
}

}  // namespace revive::tour
