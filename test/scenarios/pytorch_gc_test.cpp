// PyTorch's cycle-collector tests (test/test_torch.py), ported, with storage twins; and
// the era's collector bugs, each run broken and fixed side by side.
// See Note [Cycle collection and preservation].
//
// "Kept alive from C++" is `z.grad = x` for tensors (PyTorch's tests use that or an
// autograd graph) and a tensor viewing the storage for storages (PyTorch's storage
// tests set a Python attribute instead, which tests plain cycles only).
#include <boost/test/unit_test.hpp>

#include "revive/pictures/inspect.h"
#include "revive/binding/tensor_methods.h"
#include "scenario_fixture.h"

using namespace revive;
using namespace revive::interp;
using namespace revive::binding;
using namespace revive::pictures;
using namespace revive::trace;

// Named, not anonymous: the suites' cases live in pytorch_gc_cases.h, and a type with
// internal linkage may not be their base.
namespace gc_scenarios {

template <Era E>
struct Fixture : revive::testing::ScenarioFixtureFor<E> {
  // A class whose __del__ sets *flag.
  const PyType* finalized_class(const std::string& name, const PyType* base,
                                std::vector<std::string> slots, const std::shared_ptr<bool>& flag) {
    return this->I->new_class(name, base,
                        ClassSpec{std::move(slots), [flag](Runtime&, const Ref&) { *flag = true; }});
  }
  // `l = []; l.append(l)`: a plain object in a cycle with itself.
  Ref self_cycle() {
    Ref l = this->I->new_object(this->I->new_class("list", this->I->object_type()));
    this->I->setattr(l, "self", l);
    return l;
  }
};

}  // namespace gc_scenarios

using gc_scenarios::Fixture;

namespace {

// o.foo in an interpreter of the test's own (the bug suite makes one per case).
std::int64_t int_attr_in(Interpreter& I, const Ref& o, const std::string& name) {
  return std::get<std::int64_t>(I.getattr(o, name));
}

}  // namespace

// The cases run once per era, in two suites of the same test names: PyTorch's
// expectations of each (E4: PyTorch #167564, November 2025; `era` says which runs).
BOOST_FIXTURE_TEST_SUITE(pytorch_gc, Fixture<Era::E2>, *utf::label("scenario") *utf::label("e2") *utf::label("gc"))
#include "pytorch_gc_cases.h"
BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(pytorch_gc_e4, Fixture<Era::E4>, *utf::label("scenario") *utf::label("e4") *utf::label("gc"))
#include "pytorch_gc_cases.h"
BOOST_AUTO_TEST_SUITE_END()

// ---- the era's collector bugs --------------------------------------------------------------

namespace {

// The situation of #75932 and #145253: `c` is kept alive from C++ (z.grad = c) and
// otherwise only referenced from a dead cycle A <-> B (B.c = c).  `c` is made first, so
// it comes first in the unreachable list and is cleared before B drops it.
struct HeldByDeadCycle {
  Ref z;                // z.grad = c: the C++ owner
  std::uint64_t c = 0;  // the wrapper's id, for identity checks (not a reference)

  HeldByDeadCycle(Interpreter& I, const PyType* cls = nullptr) {
    Ref c_ref = I.empty(2, cls);
    I.setattr(c_ref, "foo", std::int64_t{2});
    c = c_ref->id;
    z = I.empty(2);
    set_grad(I, z, c_ref);
    const PyType* list = I.new_class("list", I.object_type());
    Ref a = I.new_object(list);
    Ref b = I.new_object(list);
    I.setattr(a, "b", b);
    I.setattr(b, "a", a);
    I.setattr(b, "c", c_ref);
  }
};

}  // namespace

using BugFixture = revive::testing::LeakCheck;

BOOST_FIXTURE_TEST_SUITE(gc_bugs, BugFixture, *utf::label("scenario") *utf::label("gc") *utf::label("bugs"))

// PyTorch #75932, broken: the wrapper's clear does not ask whether it is
// resurrectable.  The collection clears c (its dict, and its cdata: the slot forgets
// it) while C++ still holds the tensor; then B's clear frees c for real.  C++'s next
// wrap makes a stranger: a new wrapper without `foo`.
BOOST_AUTO_TEST_CASE(issue_75932_broken_clear_loses_the_wrapper) {
  auto I = Interpreter::create("E2-75932", GcBugs{.issue_75932 = true, .issue_136358 = false});
  GcDisabled no_gc(*I);
  HeldByDeadCycle s(*I);
  BOOST_TEST(I->gc_collect() == 3u);
  Ref g = grad(*I, s.z);
  BOOST_TEST(g->id != s.c);  // a new wrapper (the old one was freed)
  BOOST_TEST(!I->hasattr(g, "foo"));
}

// PyTorch #75932, fixed (#75933): clear does nothing to a resurrectable wrapper; B's
// clear drops c, whose dealloc resurrects it, intact.
BOOST_AUTO_TEST_CASE(issue_75932_fixed_clear_keeps_the_wrapper) {
  auto I = Interpreter::create("E2");
  GcDisabled no_gc(*I);
  HeldByDeadCycle s(*I);
  EventLog log;
  I->set_observer(&log);
  BOOST_TEST(I->gc_collect() == 3u);
  I->set_observer(nullptr);
  const auto& events = log.events();
  const bool skipped = std::any_of(events.begin(), events.end(), [&](const Event& e) {
    return e.kind == EventKind::GcClear && e.object != nullptr && e.object->id == s.c && e.detail == "resurrectable: nothing cleared";
  });
  const bool resurrected = std::any_of(events.begin(), events.end(), [&](const Event& e) {
    return e.kind == EventKind::Resurrected && e.object != nullptr && e.object->id == s.c;
  });
  BOOST_TEST(skipped);
  BOOST_TEST(resurrected);
  Ref g = grad(*I, s.z);
  BOOST_TEST(g->id == s.c);
  BOOST_TEST(int_attr_in(*I, g, "foo") == 2);
}

// PyTorch #136358, broken: a subclass keeps CPython's subtype_clear, which wipes the
// dict before the wrapper's own clear says "resurrectable: leave it".  c survives (it
// is resurrected as usual) but its attributes are gone.
BOOST_AUTO_TEST_CASE(issue_136358_broken_subclass_clear_wipes_dict) {
  auto I = Interpreter::create("E2-136358", GcBugs{.issue_75932 = false, .issue_136358 = true});
  GcDisabled no_gc(*I);
  HeldByDeadCycle s(*I, I->new_class("MyTensor", I->tensor_type()));
  BOOST_TEST(I->gc_collect() == 3u);
  Ref g = grad(*I, s.z);
  BOOST_TEST(g->id == s.c);  // the same wrapper, preserved...
  BOOST_TEST(!I->hasattr(g, "foo"));  // ...with an empty __dict__
}

// PyTorch #136358 reached plain tensors too: torch.Tensor is itself a Python class over
// the C base (TensorBase), its __dict__ the Python level's, and it kept subtype_clear as
// well (test_tensor_ressurecting_clear is the plain-tensor case).
BOOST_AUTO_TEST_CASE(issue_136358_broken_plain_tensor_clear_wipes_dict) {
  auto I = Interpreter::create("E2-136358", GcBugs{.issue_75932 = false, .issue_136358 = true});
  const PyType* base = I->tensor_type()->base;
  BOOST_TEST(base->name == "TensorBase");
  BOOST_TEST(!base->has_dict);
  BOOST_TEST(I->tensor_type()->has_dict);
  GcDisabled no_gc(*I);
  HeldByDeadCycle s(*I);
  BOOST_TEST(I->gc_collect() == 3u);
  Ref g = grad(*I, s.z);
  BOOST_TEST(g->id == s.c);
  BOOST_TEST(!I->hasattr(g, "foo"));
}

// PyTorch #136358, fixed (#137267): the wrapper's clear is installed on every subclass.
BOOST_AUTO_TEST_CASE(issue_136358_fixed_subclass_keeps_dict) {
  auto I = Interpreter::create("E2");
  GcDisabled no_gc(*I);
  HeldByDeadCycle s(*I, I->new_class("MyTensor", I->tensor_type()));
  BOOST_TEST(I->gc_collect() == 3u);
  Ref g = grad(*I, s.z);
  BOOST_TEST(g->id == s.c);
  BOOST_TEST(int_attr_in(*I, g, "foo") == 2);
}

// PyTorch #145253, not fixed in this era: the collector clears the weakrefs of every
// unreachable object before anything is cleared, so a preserved tensor held only by a
// dead cycle comes back with its weakrefs dead and their callbacks run.
//   a = torch.tensor(1.); param.grad = a; b = [a]; b.append(b)
//   a_ref = weakref.ref(a, callback); del a, b; gc.collect(); assert a_ref() is None
BOOST_AUTO_TEST_CASE(issue_145253_weakrefs_of_a_preserved_tensor_are_cleared) {
  auto I = Interpreter::create("E2");
  GcDisabled no_gc(*I);
  Tensor param_grad;  // param.grad = a, as the C++ owner
  Ref a_ref;
  int callbacks = 0;
  {
    Ref a = I->empty(2);
    I->setattr(a, "foo", std::int64_t{2});
    param_grad = I->unpack(a);
    Ref b = I->new_object(I->new_class("list", I->object_type()));
    I->setattr(b, "a", a);
    I->setattr(b, "self", b);
    a_ref = I->weakref(a, [&callbacks](Runtime&, const Ref&) { ++callbacks; });
  }
  BOOST_TEST(I->gc_collect() == 2u);
  BOOST_TEST(I->deref(a_ref).is_none());  // the hole: documented, expected
  BOOST_TEST(callbacks == 1);
  // Yet the tensor's wrapper was preserved, attributes and all.
  BOOST_TEST(inspect(*I, param_grad.unsafeGetTensorImpl()).state == SlotState::Z);
  BOOST_TEST(int_attr_in(*I, I->wrap(param_grad), "foo") == 2);
}

// The order-dependent twin (see the Note): when the garbage that holds c is older than
// c, it is cleared first; c is resurrected while still in the unreachable list, then
// cleared as a zombie.  It comes back (same wrapper) without its attributes.
BOOST_AUTO_TEST_CASE(resurrected_during_clear_then_cleared_as_zombie) {
  auto I = Interpreter::create("E2");
  GcDisabled no_gc(*I);
  Ref l = I->new_object(I->new_class("list", I->object_type()));  // older than t
  I->setattr(l, "self", l);
  Ref t = I->empty(2);
  I->setattr(t, "foo", std::int64_t{2});
  const std::uint64_t original = t->id;
  Ref t2 = I->empty(2);
  set_grad(*I, t2, t);
  I->setattr(l, "t", t);
  t.reset();
  l.reset();
  BOOST_TEST(I->gc_collect() == 2u);
  Ref g = grad(*I, t2);
  BOOST_TEST(g->id == original);
  BOOST_TEST(!I->hasattr(g, "foo"));
}

BOOST_AUTO_TEST_SUITE_END()
