// Autograd from Python, in the fake interpreter: `t.grad_fn` and what it saved, a
// grad_fn's Python object both ways (Note [Two ways to give a grad_fn a Python object]),
// and which cycles through the graph the collector frees and which leak, in both eras
// (Note [Seeing through C++ in traverse]; docs/reference.md lists the same cases).
// PyTorch's own tests of this (test_tensor_ressurecting_clear, test_backward_hooks_traverse)
// are ported in test/scenarios/pytorch_gc_cases.h.
#include <boost/test/unit_test.hpp>

#include <functional>
#include <string>

#include "revive/binding/tensor_methods.h"
#include "revive/pyslot/hermetic_tls.h"
#include "revive/tensor/autograd.h"
#include "revive_test.h"
#include "tracker.h"

using namespace revive;
using namespace revive::interp;
using namespace revive::binding;

namespace {

// Each of the four interpreters a case runs in: both eras, both ways of giving a
// grad_fn its Python object.
struct Kind {
  Era era;
  GradFnObjects grad_fn;
};
constexpr Kind kKinds[] = {{Era::E2, GradFnObjects::Cache},
                           {Era::E2, GradFnObjects::Preserved},
                           {Era::E4, GradFnObjects::Cache},
                           {Era::E4, GradFnObjects::Preserved}};

void in_each(const std::function<void(Interpreter& I, Kind kind)>& body) {
  for (const Kind& kind : kKinds) {
    BOOST_TEST_CONTEXT(to_string(kind.era) << ", grad_fn " << to_string(kind.grad_fn)) {
      auto I = Interpreter::create("I0", kind.era, kind.grad_fn);
      body(*I, kind);
    }
  }
}

Ref leaf(Interpreter& I) {
  Ref x = I.empty(2);
  set_requires_grad(I, x, true);
  return x;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(autograd, revive::testing::LeakCheck, *utf::label("autograd") *utf::label("gc"))

BOOST_AUTO_TEST_CASE(an_operation_records_its_node_and_what_it_saved) {
  in_each([](Interpreter& I, Kind) {
    Ref x = leaf(I);
    BOOST_TEST(requires_grad(I, x));
    BOOST_TEST(is_leaf(I, x));
    BOOST_TEST(grad_fn(I, x).is_none());
    Ref y = pow(I, x, 2);
    BOOST_TEST(requires_grad(I, y));
    BOOST_TEST(!is_leaf(I, y));
    Ref g = grad_fn(I, y);
    BOOST_TEST(node_name(I, g) == "PowBackward0");
    BOOST_TEST(g->ob_type->name == "PowBackward0");
    BOOST_TEST(saved_self(I, g) == x);  // the input itself: `is`
    std::vector<Ref> next = next_functions(I, g);
    BOOST_REQUIRE(next.size() == 1u);
    BOOST_TEST(node_name(I, next[0]) == "AccumulateGrad");
    BOOST_TEST(accumulated_variable(I, next[0]) == x);
    BOOST_CHECK_EXCEPTION((void)saved_result(I, g), PythonError,
                          revive::testing::message_has("'PowBackward0' object has no attribute '_saved_result'"));
    // An output is saved without its grad_fn: a new tensor each time, not `is` y.
    Ref s = sigmoid(I, x);
    Ref sg = grad_fn(I, s);
    Ref r1 = saved_result(I, sg);
    BOOST_TEST(!(r1 == s));
    BOOST_TEST(!(saved_result(I, sg) == r1));
    BOOST_TEST(node_name(I, grad_fn(I, r1)) == "SigmoidBackward0");
    // Nothing requires grad: nothing is recorded.
    Ref plain = I.empty(2);
    BOOST_TEST(grad_fn(I, mul(I, plain, plain)).is_none());
    BOOST_CHECK_EXCEPTION(set_requires_grad(I, y, false), revive::Error,
                          revive::testing::message_has("you can only change requires_grad flags of leaf variables."));
  });
}

BOOST_AUTO_TEST_CASE(the_graph_keeps_a_saved_input_preserved_after_python_lets_go) {
  in_each([](Interpreter& I, Kind) {
    Ref x = leaf(I);
    I.setattr(x, "foo", std::int64_t{2});
    Ref y = pow(I, x, 2);
    x.reset();  // E2: resurrected (the node holds its tensor); E4: C++ holds the wrapper
    Ref again = saved_self(I, grad_fn(I, y));
    BOOST_TEST(std::get<std::int64_t>(I.getattr(again, "foo")) == 2);
  });
}

// The difference between the two ways: what `t.grad_fn` is after Python let go of it.
BOOST_AUTO_TEST_CASE(a_cached_grad_fn_forgets_a_preserved_one_keeps) {
  in_each([](Interpreter& I, Kind kind) {
    Ref y = pow(I, leaf(I), 2);
    Ref g = grad_fn(I, y);
    BOOST_TEST(grad_fn(I, y) == g);  // one object while Python holds it, both ways
    I.setattr(g, "note", std::int64_t{7});
    Ref w = I.weakref(g);
    const auto id = g->id;
    g.reset();
    Ref again = grad_fn(I, y);
    if (kind.grad_fn == GradFnObjects::Cache) {
      // The object died with Python's last reference; the node lives on for y.
      BOOST_TEST(I.deref(w).is_none());
      BOOST_TEST(again->id != id);
      BOOST_TEST(!I.hasattr(again, "note"));
    } else {
      // Preserved like a tensor: E2 resurrected it (the node's slot owned it), E4's node
      // held a reference to it.  The same object, its attribute and weakrefs intact.
      BOOST_TEST(again->id == id);
      BOOST_TEST(I.deref(w) == again);
      BOOST_TEST(std::get<std::int64_t>(I.getattr(again, "note")) == 7);
    }
  });
}

// ---- which cycles through the graph the collector frees -------------------------------------

// x's wrapper -> hooks object -> x's wrapper, the hooks held a second time by x's
// tensor in C++.  The traverse reports the C++ copy, so the cycle is garbage.
BOOST_AUTO_TEST_CASE(a_cycle_through_backward_hooks_is_freed) {
  in_each([](Interpreter& I, Kind) {
    auto [m, tracker] = revive::testing::make_tracker(I);
    Ref x = leaf(I);
    I.setattr(x, "tracker", tracker);
    tracker.reset();
    Ref hooks = I.new_object(I.new_class("dict", I.object_type()));
    I.setattr(hooks, "x", x);
    set_backward_hooks(I, x, hooks);
    hooks.reset();
    x.reset();
    BOOST_TEST(!*m);
    BOOST_TEST(I.gc_collect() == 3u);  // x, its hooks, the tracker
    BOOST_TEST(*m);
  });
}

// The same through the post-accumulate-grad hooks leaks, in PyTorch too: its traverse
// reports the wrapper's field but not C++'s copy (PyFunctionTensorPostAccGradHooks), so
// the hooks object keeps one reference the collector cannot explain.
BOOST_AUTO_TEST_CASE(a_cycle_through_post_accumulate_grad_hooks_leaks_as_in_pytorch) {
  in_each([](Interpreter& I, Kind) {
    const auto tensors = TensorImpl::live_count();
    Ref x = leaf(I);
    Ref hooks = I.new_object(I.new_class("dict", I.object_type()));
    I.setattr(hooks, "x", x);
    set_post_accumulate_grad_hooks(I, x, hooks);
    Tensor raw = I.unpack(x);
    hooks.reset();
    x.reset();
    BOOST_TEST(I.gc_collect() == 0u);
    BOOST_TEST(I.live_objects() == 2u);
    // Not part of the port: break the cycle by hand so the leak check means something.
    { Runtime::Entry entered(I, "test"); raw.unsafeGetTensorImpl()->autograd_meta()->post_accumulate_grad_hooks.reset(); }
    raw.reset();
    BOOST_TEST(I.gc_collect() == 2u);
    BOOST_TEST(TensorImpl::live_count() == tensors);
  });
}

// y's grad_fn object -> y's wrapper -> y -> node -> y's grad_fn object.  Cache: no
// cycle at all (the node does not own its object), so refcounting frees it.  Preserved
// in E2: the object is a zombie the node's slot owns, and y's traverse reports it (y
// and its node have one owner each), so the collector frees the cycle.  Preserved in
// E4: the object holds the node, so the node has two owners, the only-owner rule does
// not hold, and the cycle leaks.
BOOST_AUTO_TEST_CASE(a_cycle_through_a_grad_fn_object_depends_on_the_way_and_the_era) {
  in_each([](Interpreter& I, Kind kind) {
    auto [m, tracker] = revive::testing::make_tracker(I);
    Ref y = sigmoid(I, leaf(I));
    I.setattr(y, "tracker", tracker);
    tracker.reset();
    Ref g = grad_fn(I, y);
    I.setattr(g, "y", y);
    Ref w = I.weakref(g);
    g.reset();
    y.reset();
    if (kind.grad_fn == GradFnObjects::Cache) {
      BOOST_TEST(*m);  // freed by refcounting: g died, then y
      BOOST_TEST(I.gc_collect() == 0u);
    } else if (kind.era == Era::E2) {
      BOOST_TEST(!*m);
      BOOST_TEST(I.gc_collect() == 3u);  // y, its grad_fn's zombie, the tracker
      BOOST_TEST(*m);
    } else {
      BOOST_TEST(I.gc_collect() == 0u);
      BOOST_TEST(!*m);
    }
    if (kind.grad_fn == GradFnObjects::Preserved && kind.era == Era::E4) {
      Ref again = I.deref(w);  // break it by hand (not part of the case)
      I.delattr(again, "y");
    }
    BOOST_TEST(*m);
  });
}

// x's wrapper -> __dict__ -> y's wrapper -> y -> PowBackward0 -> x (saved).  x's tensor
// has two owners (its wrapper and the node), so x's wrapper is a root for the collector
// (E2: resurrectable, its traverse reports nothing; E4: C++'s reference), in PyTorch
// too: a cycle through a saved tensor leaks (pytorch#7343's kind).
BOOST_AUTO_TEST_CASE(a_cycle_through_a_saved_input_leaks_as_in_pytorch) {
  in_each([](Interpreter& I, Kind) {
    const auto tensors = TensorImpl::live_count();
    Ref x = leaf(I);
    Ref y = pow(I, x, 2);
    I.setattr(x, "y", y);
    Tensor raw_x = I.unpack(x);
    y.reset();
    x.reset();
    BOOST_TEST(I.gc_collect() == 0u);
    BOOST_TEST(I.live_objects() == 2u);
    // Break it by hand (not part of the case).
    Ref again = I.wrap(raw_x);
    raw_x.reset();
    I.delattr(again, "y");
    again.reset();
    BOOST_TEST(TensorImpl::live_count() == tensors);
  });
}

BOOST_AUTO_TEST_CASE(a_grad_fn_refuses_other_objects_and_other_interpreters) {
  in_each([](Interpreter& I, Kind kind) {
    Ref x = leaf(I);
    BOOST_CHECK_THROW((void)node_name(I, x), PythonError);  // a tensor is not a grad_fn
    Ref y = clone(I, x);
    Ref g = grad_fn(I, y);
    auto other = Interpreter::create("I1", kind.era, kind.grad_fn);
    Tensor t = I.unpack(y);
    // The node's object belongs to I0: I1 cannot have one of its own for it.
    BOOST_CHECK_THROW((void)other->grad_fn_object(t.grad_fn()), revive::Error);
  });
}

// A node outlives the interpreter that cached its Python object (C++ holds the tensor,
// and the object survives the teardown, abandoned: another tensor's hooks hold it):
// teardown makes the node forget it, so another interpreter gets an object of its own,
// and once C++ lets go the dead interpreter is reclaimed.
BOOST_AUTO_TEST_CASE(a_node_forgets_a_dead_interpreters_cached_object) {
  // The first interpreter of a process is the trampoline's main, never reclaimed: make
  // sure it is not I0.
  auto first = Interpreter::create("first");
  const std::size_t dead_before = interp::Runtime::dead_interpreter_count();
  Tensor t, z;
  {
    auto I0 = Interpreter::create("I0", Era::E2, GradFnObjects::Cache);
    impl::HermeticPyObjectTLS::set_state(true);  // wrappers that tag nothing
    Ref y = pow(*I0, leaf(*I0), 2);
    Ref g = grad_fn(*I0, y);
    I0->setattr(g, "note", std::int64_t{1});
    Ref zw = I0->empty(1);
    set_backward_hooks(*I0, zw, g);  // z's tensor holds g in C++
    t = I0->unpack(y);
    z = I0->unpack(zw);
    impl::HermeticPyObjectTLS::set_state(false);
    BOOST_CHECK_EXCEPTION((void)Interpreter::create("I2")->grad_fn_object(t.grad_fn()), revive::Error,
                          revive::testing::message_has("another interpreter holds it"));
  }  // teardown: g, held by z's tensor, is abandoned
  auto I1 = Interpreter::create("I1", Era::E2, GradFnObjects::Cache);
  Ref g1 = I1->grad_fn_object(t.grad_fn());
  BOOST_TEST(node_name(*I1, g1) == "PowBackward0");
  BOOST_TEST(!I1->hasattr(g1, "note"));
  g1.reset();
  t.reset();
  z.reset();  // g's last reference, given back through a disarmed vtable (counted)
  (void)interp::Runtime::reclaim_dead_interpreters();
  BOOST_TEST(interp::Runtime::dead_interpreter_count() == dead_before);
}

BOOST_AUTO_TEST_SUITE_END()
