// The tour's scenarios: The cycle collector meets preservation (T7), and the era's bugs broken next to fixed.
#include "scenarios.h"

#include <string>
#include <vector>

#include "revive/binding/tensor_methods.h"

namespace revive::tour {

using namespace revive::interp;
using namespace revive::binding;

void gc_cycle(Pictures* pics, Era era) {
  Scene scene(pics, "gc-cycle",
              {"a cycle through a preserved wrapper (T7, test_tensor_cycle_via_dict, _via_slots)", "T1 T7", LifeState::D},
              {"a cycle through a shared wrapper in E4: C++'s reference is a real one, the "
               "collector sees it from outside",
               "T1 share unshare share unshare T7", LifeState::D},
              era);
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
  },
            InE2{"Two wrappers; y's class declares __slots__ = ['_loop']. The table follows x's tensor.",
                 "L n=1 r=1 tag=I0 owns=0 cdata=owned via=T1 fin=0"},
            InE4{"Two wrappers; y's class declares __slots__ = ['_loop']. The table follows x's tensor. "
                 "torch.empty() made it in C++ and wrapped it while its temporary handle still shared "
                 "it: share, then unshare as the temporary went, the GIL both times.",
                 "L n=1 r=1 tag=I0 owns=0 cdata=owned via=T1,share,unshare fin=0"});
  tour.step("Py: x._loop = y; y._loop = x", [&] {
    I->setattr(x, "_loop", y);
    I->setattr(y, "_loop", x);
  },
            InE2{"A reference cycle, through x.__dict__ one way and y's slot the other: reference "
                 "counting alone can never free it.",
                 "L n=1 r=2 tag=I0 owns=0 cdata=owned fin=0"},
            InE4{"A reference cycle, through x.__dict__ one way and y's slot the other.",
                 "L n=1 r=2 tag=I0 owns=0 cdata=owned fin=0"});
  tour.step("Py: z = torch.empty(2); z.grad = x", [&] {
    z = I->empty(2);
    set_grad(*I, z, x);
  },
            InE2{"C++ (z's grad) now holds x's tensor too: n = 2.",
                 "L n=2 r=2 tag=I0 owns=0 cdata=owned fin=0"},
            InE4{"C++ (z's grad) now shares x's tensor: n = 2, and C++ takes a reference to x: r = 3.",
                 "L n=2 r=3 tag=I0 owns=0 cdata=owned via=share fin=0"});
  tour.step("Py: del x, y", [&] {
    x.reset();
    y.reset();
  },
            InE2{"Only the cycle holds the wrappers (r = 1: y._loop); no dealloc, so no resurrection yet.",
                 "L n=2 r=1 tag=I0 owns=0 cdata=owned fin=0"},
            InE4{"Left: y._loop and C++'s reference, r = 2.",
                 "L n=2 r=2 tag=I0 owns=0 cdata=owned fin=0"});
  tour.step("Py: gc.collect()", [&] { (void)I->gc_collect(); },
            InE2{"x is resurrectable, so its traverse reports nothing: the reference x holds to y is "
                 "never subtracted, y counts as referenced from outside (a root), and x is reachable "
                 "from y. Nothing is garbage.",
                 "L n=2 r=1 tag=I0 owns=0 cdata=owned fin=0"},
            InE4{"x's traverse reports everything, as any object's; but C++'s reference is one no "
                 "traverse reports, so x counts as referenced from outside: the cycle is reachable, "
                 "nothing is garbage. No special case, no bug to have.",
                 "L n=2 r=2 tag=I0 owns=0 cdata=owned fin=0"});
  tour.step("Py: del z", [&] { z.reset(); },
            InE2{"z's tensor dies and drops its grad: n = 1. x is no longer resurrectable.",
                 "L n=1 r=1 tag=I0 owns=0 cdata=owned fin=0"},
            InE4{"z's tensor dies and drops its grad (n from 2 to 1): C++ gives x back (unshare), r = 1.",
                 "L n=1 r=1 tag=I0 owns=0 cdata=owned via=unshare fin=0"});
  tour.step("Py: gc.collect()", [&] { (void)I->gc_collect(); },
            InE2{"Now x reports its __dict__: the cycle is found, cleared, and both wrappers die (T7).",
                 "D via=T7 fin=0"},
            InE4{"Now only the cycle holds x: found, cleared, both wrappers die (T7), and x's tensor "
                 "with them.",
                 "D via=T7 fin=0"});
}

namespace {

// One run of the situation behind #75932, #136358 and #145253: `c` is held from C++
// (z.grad = c) and otherwise only by a dead cycle A <-> B (B.c = c).  The rows expected
// after the collection and after `z.grad` differ between the variants.
void held_by_dead_cycle(Narrator& tour, Interpreter& I, const PyType* cls,
                        std::string_view after_collect, std::string_view after_grad) {
  Ref z, c, w;
  tour.step(cls == nullptr ? "Py: c = torch.empty(2); c.foo = 2" : "Py: c = MyTensor(empty(2)); c.foo = 2", [&] {
    c = I.empty(2, cls);
    I.setattr(c, "foo", std::int64_t{2});
    tour.watch(I, I.unpack(c));
  }, "The tensor to watch, with an attribute that must survive.",
            "L n=1 r=1 tag=I0 owns=0 cdata=owned via=T1 fin=0");
  tour.step("Py: z.grad = c; w = weakref.ref(c, cb)", [&] {
    z = I.empty(2);
    set_grad(I, z, c);
    w = I.weakref(c, [&tour](Runtime&, const Ref&) { tour.say("weakref callback ran"); });
  }, "C++ holds c's tensor (n = 2); Python holds a weak reference to c.",
            "L n=2 r=1 tag=I0 owns=0 cdata=owned fin=0");
  tour.step("Py: A = []; B = [A, c]; A.append(B); del c", [&] {
    const PyType* list = I.new_class("list", I.object_type());
    Ref a = I.new_object(list);
    Ref b = I.new_object(list);
    I.setattr(a, "b", b);
    I.setattr(b, "a", a);
    I.setattr(b, "c", c);
    c.reset();
  }, "A <-> B is dead already; only B refers to c, so c is unreachable without being in a cycle.",
            "L n=2 r=1 tag=I0 owns=0 cdata=owned fin=0");
  tour.step("Py: gc.collect()", [&] { (void)I.gc_collect(); },
            "c is first in the unreachable list (oldest). Its weakrefs are cleared first "
            "(#145253, in every variant), then clear runs on c, then on A.",
            after_collect);
  tour.step("Py: g = z.grad; g.foo", [&] {
    Ref g = grad(I, z);
    tour.say(std::string("w() is ") + (I.deref(w).is_none() ? "None" : "alive") + "; g.foo: " +
             (I.hasattr(g, "foo") ? std::to_string(std::get<std::int64_t>(I.getattr(g, "foo")))
                                  : std::string("AttributeError")));
  }, "What C++ hands back to Python afterwards.",
            after_grad);
  z.reset();
}

}  // namespace

void gc_bugs(Pictures* pics, Era) {
  // One variant of the era's collector support per table: the scene, whether the
  // wrapper is of a Python subclass, and the rows after the collection and after `z.grad`.
  struct Variant {
    const char* slug;
    Expected expected;
    GcBugs bugs;
    bool subclass;
    const char* after_collect;
    const char* after_grad;
  };
  const Variant variants[] = {
      {"gc-bugs/75932-broken",
       {"#75932 reproduced: clear ignores preservation (GcBugs::issue_75932)", "T1 forgotten T1' T3",
        LifeState::Z},
       GcBugs{.issue_75932 = true, .issue_136358 = false}, false,
       "V n=1 tag=I0 owns=0 via=forgotten fin=0", "Z n=1 r=1 tag=I0 owns=1 cdata=borrowed via=T1',T3 fin=0"},
      {"gc-bugs/136358-broken",
       {"#136358 reproduced: a subclass's default clear wipes __dict__ (GcBugs::issue_136358)",
        "T1 T3 T5 T3", LifeState::Z},
       GcBugs{.issue_75932 = false, .issue_136358 = true}, true,
       "Z n=1 r=1 tag=I0 owns=1 cdata=borrowed via=T3 fin=0", "Z n=1 r=1 tag=I0 owns=1 cdata=borrowed via=T5,T3 fin=0"},
      {"gc-bugs/fixed",
       {"both fixed: clear leaves a resurrectable wrapper alone (test_tensor_ressurecting_clear; "
        "#145253 remains)",
        "T1 T3 T5 T3", LifeState::Z},
       GcBugs{}, true,
       "Z n=1 r=1 tag=I0 owns=1 cdata=borrowed via=T3 fin=0", "Z n=1 r=1 tag=I0 owns=1 cdata=borrowed via=T5,T3 fin=0"},
  };
  for (const Variant& v : variants) {
    Scene scene(pics, v.slug, v.expected, v.bugs);
    GcDisabled manual(*scene.I);
    const PyType* cls = v.subclass ? scene.I->new_class("MyTensor", scene.I->tensor_type()) : nullptr;
    held_by_dead_cycle(scene.tour, *scene.I, cls, v.after_collect, v.after_grad);
  }
}

// The autograd graph: the C++ owner PyTorch's tensors really have, and the one place the
// collector sees through C++ (Note [The autograd graph's ownership], tensor/autograd.h;
// Note [Seeing through C++ in traverse], binding/python_variable.h).
void autograd(Pictures* pics, Era era) {
  Scene scene(pics, "autograd",
              {"the autograd graph keeps a zombie; the collector sees through C++ once the wrapper is the only owner",
               "T1 T3 T5 T3 T5 T7", LifeState::D},
              {"the autograd graph in E4: C++ holds the wrapper while the graph shares the tensor",
               "T1 share unshare share unshare share T2 T2 unshare share unshare T7", LifeState::D},
              era);
  Narrator& tour = scene.tour;
  Interpreter::Owner& I = scene.I;
  GcDisabled manual(*I);  // collections only when the tour asks
  Ref x, y, h;
  tour.step("Py: x = torch.empty(2, requires_grad=True); x.foo = 2", [&] {
    x = I->empty(2);
    tour.watch_wrapped(*I, x, "x");
    set_requires_grad(*I, x, true);
    I->setattr(x, "foo", std::int64_t{2});
  },
            InE2{"A leaf: operations on it will record a graph. x.foo is the state that must survive.",
                 "L n=1 r=1 tag=I0 owns=0 cdata=owned via=T1 fin=0"},
            InE4{"A leaf: operations on it will record a graph. Making it, and setting requires_grad "
                 "through a handle copied from x, each shared the tensor for a moment: share, unshare, "
                 "twice (the fake binding copies handles; PyTorch reads through the wrapper's own).",
                 "L n=1 r=1 tag=I0 owns=0 cdata=owned via=T1,share,unshare,share,unshare fin=0"});
  tour.step("Py: y = x ** 2", [&] {
    y = pow(*I, x, 2);
    tour.show_grad_fn(y, "y.grad_fn");
  },
            InE2{"y's grad_fn, a PowBackward0, saves its input: C++ now holds x's tensor twice more, "
                 "once as _saved_self and once through its edge to x's AccumulateGrad, which owns its "
                 "leaf. So n = 3, and the picture draws both nodes and their references.",
                 "L n=3 r=1 tag=I0 owns=0 cdata=owned fin=0"},
            InE4{"y's grad_fn, a PowBackward0, saves x (_saved_self) and reaches x's AccumulateGrad, "
                 "which owns its leaf: n = 3. The first of them took n from 1 to 2 with the bit set, so C++ "
                 "took a reference to x's wrapper: r = 2.",
                 "L n=3 r=2 tag=I0 owns=0 cdata=owned via=share fin=0"});
  tour.step("Py: del x", [&] { x.reset(); },
            InE2{"Python's last reference goes while the graph holds the tensor: the dealloc resurrects "
                 "x (T3), and the slot owns it. This is how test_tensor_ressurecting_clear keeps its "
                 "tensor: through grad_fn, not .grad.",
                 "Z n=2 r=1 tag=I0 owns=1 cdata=borrowed via=T3 fin=0"},
            InE4{"Python's last reference goes; C++'s keeps x alive (r = 1): no resurrection.",
                 "L n=3 r=1 tag=I0 owns=0 cdata=owned fin=0"});
  tour.step("Py: y.grad_fn._saved_self.foo", [&] {
    Ref saved = saved_self(*I, grad_fn(*I, y));
    tour.say("y.grad_fn._saved_self.foo == " + std::to_string(std::get<std::int64_t>(I->getattr(saved, "foo"))));
  },
            InE2{"_saved_self wraps the saved tensor: the same object, flipped back (T5) with its "
                 "attribute; the temporary goes at the end of the expression and x is resurrected "
                 "again (T3).",
                 "Z n=2 r=1 tag=I0 owns=1 cdata=borrowed via=T5,T3 fin=0"},
            InE4{"_saved_self wraps the saved tensor: the recorded wrapper, one more reference (T2), "
                 "given back at the end of the expression.",
                 "L n=3 r=1 tag=I0 owns=0 cdata=owned via=T2 fin=0"});
  tour.step("Py: x = y.grad_fn._saved_self; del y", [&] {
    x = saved_self(*I, grad_fn(*I, y));
    y.reset();
  },
            InE2{"x again (T5); then y dies, its PowBackward0 with it, and that node's saved x and its "
                 "edge to the AccumulateGrad, which lets go of x too: n = 1, the wrapper is the "
                 "tensor's only owner.",
                 "L n=1 r=1 tag=I0 owns=0 cdata=owned via=T5 fin=0"},
            InE4{"x again (T2); then y dies, its graph with it: n = 1, and C++ gives x's wrapper back "
                 "(unshare).",
                 "L n=1 r=1 tag=I0 owns=0 cdata=owned via=T2,unshare fin=0"});
  tour.step("Py: h = Hooks(); h.x = x; x._backward_hooks = h; del h, x", [&] {
    h = I->new_object(I->new_class("Hooks", I->object_type()));
    I->setattr(h, "x", x);
    set_backward_hooks(*I, x, h);
    h.reset();
    x.reset();
  },
            InE2{"A cycle through C++: x holds h twice, in its _backward_hooks field and in its tensor's "
                 "Python pre-hook (C++), and h holds x. Only h.x is left of x's references: r = 1.",
                 "L n=1 r=1 tag=I0 owns=0 cdata=owned fin=0"},
            InE4{"A cycle through C++: x holds h twice, in its _backward_hooks field and in its tensor's "
                 "Python pre-hook (C++), and h holds x. The setter's handle copy shared the tensor for a "
                 "moment (share, unshare).",
                 "L n=1 r=1 tag=I0 owns=0 cdata=owned via=share,unshare fin=0"});
  tour.step("Py: gc.collect()", [&] { (void)I->gc_collect(); },
            InE2{"x's wrapper is its tensor's only owner, so its traverse reports what the tensor holds "
                 "in C++ as well: h, twice. Both of h's references are explained, x's one (h.x) too: "
                 "the cycle is garbage, cleared and freed (T7). The same graph while y was alive would "
                 "have been left alone: x resurrectable, its traverse silent.",
                 "D via=T7 fin=0"},
            InE4{"x's wrapper was its tensor's only owner (C++ held no reference to it), and "
                 "its traverse reports h twice, the field and the C++ pre-hook: the cycle is garbage "
                 "(T7).",
                 "D via=T7 fin=0"});
}

// A grad_fn's Python object, preserved like a tensor's wrapper (the interpreter I0 is made
// with GradFnObjects::Preserved), told beside PyTorch's cache (an interpreter of its own,
// whose results are said under the rows).  See Note [Two ways to give a grad_fn a Python
// object] (binding/torch.h).
void grad_fn_objects(Pictures* pics, Era era) {
  Scene scene(pics, "grad-fn",
              {"a grad_fn preserved like a tensor (T1 T3 T5 T3 T6), beside PyTorch's cache", "T1 T3 T5 T3 T6",
               LifeState::D},
              {"a grad_fn preserved in E4: the node holds its object while a tensor shares the node",
               "T1 share T2 unshare T4", LifeState::D},
              era, GradFnObjects::Preserved);
  Narrator& tour = scene.tour;
  Interpreter::Owner& I = scene.I;
  auto cache = Interpreter::create("cache", era);  // PyTorch until 2026, for contrast
  Ref y, g, cy, cg;
  auto note_of = [](Interpreter& in, const Ref& o) {
    return in.hasattr(o, "note") ? "note == " + std::get<std::string>(in.getattr(o, "note"))
                                 : std::string("no attribute 'note'");
  };
  tour.step("Py: y = torch.empty(2, requires_grad=True).sigmoid()", [&] {
    Ref x = I->empty(2);
    set_requires_grad(*I, x, true);
    y = sigmoid(*I, x);
    const auto* w = static_cast<const TensorObject*>(y.get());
    tour.watch(*I, w->cdata.get()->autograd_meta()->grad_fn, "g");
    Ref cx = cache->empty(2);
    set_requires_grad(*cache, cx, true);
    cy = sigmoid(*cache, cx);
  },
            InE2{"The table follows y's grad_fn, a SigmoidBackward0 node: y owns it (n = 1), and no Python "
                 "object has been made for it yet. The same is done in a second interpreter whose grad_fn "
                 "objects are PyTorch's cache, for contrast.",
                 "U n=1 fin=0"},
            InE4{"The table follows y's grad_fn, a SigmoidBackward0 node: y owns it (n = 1), and no Python "
                 "object has been made for it yet. The same is done in a second interpreter whose grad_fn "
                 "objects are PyTorch's cache, for contrast.",
                 "U n=1 fin=0"});
  tour.step("Py: g = y.grad_fn; g.note = 'kept'", [&] {
    g = grad_fn(*I, y);
    I->setattr(g, "note", std::string("kept"));
    cg = grad_fn(*cache, cy);
    cache->setattr(cg, "note", std::string("kept"));
  },
            InE2{"A preserved node is wrapped like a tensor: its slot is tagged and records g, which owns "
                 "the node (T1). Its class, SigmoidBackward0, is a subclass of Node.",
                 "L n=2 r=1 tag=I0 owns=0 cdata=owned via=T1 fin=0"},
            InE4{"Wrapped like a tensor (T1), with the has-PyObject bit; y shares the node, so C++ takes a "
                 "reference to g at once: r = 2.",
                 "L n=2 r=2 tag=I0 owns=0 cdata=owned via=T1,share fin=0"});
  tour.step("Py: del g", [&] {
    g.reset();
    cg.reset();
  },
            InE2{"y still holds the node, so g is resurrected (T3): the node's slot owns it. The cache's "
                 "object dies here: its node never owned it.",
                 "Z n=1 r=1 tag=I0 owns=1 cdata=borrowed via=T3 fin=0"},
            InE4{"C++'s reference keeps g: r = 1, no resurrection. The cache's object dies here: its node "
                 "never owned it.",
                 "L n=2 r=1 tag=I0 owns=0 cdata=owned fin=0"});
  tour.step("Py: y.grad_fn.note", [&] {
    tour.say("preserved: " + note_of(*I, grad_fn(*I, y)));
    tour.say("the cache (PyTorch until 2026): " + note_of(*cache, grad_fn(*cache, cy)));
  },
            InE2{"y.grad_fn flips g back (T5) with its note, and the temporary's end resurrects it again "
                 "(T3). The cache made a new object: the note is gone, and so would be a weakref's referent.",
                 "Z n=1 r=1 tag=I0 owns=1 cdata=borrowed via=T5,T3 fin=0"},
            InE4{"y.grad_fn is g again (T2), note and all. The cache made a new object: the note is gone.",
                 "L n=2 r=1 tag=I0 owns=0 cdata=owned via=T2 fin=0"});
  tour.step("Py: del y", [&] {
    y.reset();
    cy.reset();
  },
            InE2{"y dies and lets its node go; the node's slot gives g back (T6): g dies with it.",
                 "D via=T6 fin=0"},
            InE4{"y dies and lets go of the node (unshare: C++ gives g back), and g, the node's last "
                 "owner, dies with it (T4).",
                 "D via=unshare,T4 fin=0"});
}

}  // namespace revive::tour
