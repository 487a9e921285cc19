// The event trace of the tour's main scenarios (events.h): every transition of
// docs/reference.md §3 that a scenario goes through is reported, in order, with the
// wrapper and the C++ object it concerns.  lifecycle_test.cpp checks single
// transitions; these check whole stories, as the tour tells them.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "revive/pictures/inspect.h"
#include "revive_test.h"
#include "revive/binding/tensor_methods.h"

using namespace revive;
using namespace revive::interp;
using namespace revive::binding;
using namespace revive::pictures;
using namespace revive::trace;
using EK = EventKind;

namespace {

// One expected event: its kind, and the wrapper and target it names (nullptr: none).
struct Expected {
  EK kind;
  const void* object = nullptr;
  const void* target = nullptr;
};

void check_trace(const std::vector<Event>& got, const std::vector<Expected>& want) {
  BOOST_TEST_REQUIRE(got.size() == want.size(), "the trace has " << got.size() << " events");
  for (std::size_t i = 0; i < want.size(); ++i) {
    BOOST_TEST_CONTEXT("event " << i << " (" << want[i].kind << ")") {
      BOOST_TEST(got[i].kind == want[i].kind);
      BOOST_TEST(static_cast<const void*>(got[i].object) == want[i].object);
      BOOST_TEST(got[i].target == want[i].target);
    }
  }
}

struct Fixture : revive::testing::LeakCheck {
  EventLog log;  // declared before I: it must outlive the interpreter's teardown event
  Interpreter::Owner I = Interpreter::create("I0");
  Fixture() { I->set_observer(&log); }
  ~Fixture() { I->set_observer(nullptr); }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(event_trace, Fixture, *utf::label("events") *utf::label("lifecycle"))

// The tour's `preserved`: U L L Z L Z D with a MyTensor that has __del__.  Each
// transition is one event; __del__ runs only at the end (T6), never at resurrection.
BOOST_AUTO_TEST_CASE(preserved_scenario_trace) {
  const PyType* my_tensor = I->new_class("MyTensor", I->tensor_type(),
                                         ClassSpec{std::nullopt, [](Runtime&, const Ref&) {}});
  std::optional<Tensor> t = Tensor::empty(2);
  const TensorImpl* impl = t->unsafeGetTensorImpl();
  Ref p = I->make_subclass(my_tensor, *t);      // T1
  const PyObject* P = p.get();
  I->setattr(p, "foo", std::int64_t{2});        // no event
  Ref q = I->wrap(*t);                          // T2
  q.reset();                                    // r 2 -> 1: no event
  p.reset();                                    // T3
  p = I->wrap(*t);                              // T5
  p.reset();                                    // T3
  t.reset();                                    // T6
  check_trace(log.events(), {{EK::Tagged, nullptr, impl},
                             {EK::NewWrapper, P, impl},
                             {EK::Rewrapped, P, impl},
                             {EK::Resurrected, P, impl},
                             {EK::FlippedBack, P, impl},
                             {EK::Resurrected, P, impl},
                             {EK::DecrefFromCpp, P},
                             {EK::Finalized, P},
                             {EK::Freed, P}});
  BOOST_TEST(log.events()[0].detail == "I0");        // who tagged
  BOOST_TEST(log.events()[1].detail == "MyTensor");  // the new wrapper's class
}

// `plain-death` with `dict-dealloc`: real death in CPython's order.  Weakrefs are
// cleared and their callbacks run, then the dict goes (the Tracker it held is
// finalized and freed), then cdata (the tensor dies), then the wrapper is freed.
BOOST_AUTO_TEST_CASE(plain_death_scenario_trace) {
  bool callback_ran = false;
  const PyType* tracker = I->new_class("Tracker", I->object_type(),
                                       ClassSpec{std::nullopt, [](Runtime&, const Ref&) {}});
  Ref x = I->empty(2);
  const PyObject* X = x.get();
  Ref w = I->weakref(x, [&callback_ran](Runtime&, const Ref&) { callback_ran = true; });
  Ref t = I->new_object(tracker);
  const PyObject* T = t.get();
  I->setattr(x, "arf", t);
  t.reset();
  log.clear();
  x.reset();  // T4
  check_trace(log.events(), {{EK::WeakrefCleared, w.get()},
                             {EK::Finalized, T},
                             {EK::Freed, T},
                             {EK::Freed, X}});
  BOOST_TEST(callback_ran);
  BOOST_TEST(I->live_objects() == 1u);  // only the weakref object
}

// `weakref-hole` (test_tensor_dead_weak_ref): the deref is reported (that is how T8
// starts), then T6 finds two references: decref from C++, the warning, the stub.  The
// stub dies later, from Python, as an ordinary object.
BOOST_AUTO_TEST_CASE(weakref_hole_scenario_trace, *utf::label("weakref-hole")) {
  std::optional<Tensor> t = Tensor::empty(2);
  const TensorImpl* impl = t->unsafeGetTensorImpl();
  Ref p = I->wrap(*t);
  const PyObject* P = p.get();
  Ref w = I->weakref(p);
  p.reset();             // T3
  Ref x = I->deref(w);   // T8
  t.reset();             // T6 with r = 2
  x.reset();
  check_trace(log.events(), {{EK::Tagged, nullptr, impl},
                             {EK::NewWrapper, P, impl},
                             {EK::Resurrected, P, impl},
                             {EK::WeakrefDeref, P},
                             {EK::DecrefFromCpp, P},
                             {EK::Warning},
                             {EK::Stubbed, P},
                             {EK::WeakrefCleared, w.get()},
                             {EK::Freed, P}});
  BOOST_TEST(log.events()[5].detail.starts_with("Deallocating Tensor that still has live PyObject references."));
}

// `fix-weakref`: _fix_weakref is a wrap (T5: flipped back) and a plain decref (no
// event); afterwards C++ lets go without any T6, and the real death is T4's.
BOOST_AUTO_TEST_CASE(fix_weakref_scenario_trace, *utf::label("weakref-hole")) {
  std::optional<Tensor> t = Tensor::empty(2);
  const TensorImpl* impl = t->unsafeGetTensorImpl();
  Ref p = I->wrap(*t);
  const PyObject* P = p.get();
  Ref w = I->weakref(p);
  p.reset();
  Ref x = I->deref(w);
  log.clear();
  I->fix_weakref(x);
  t.reset();  // n 2 -> 1: x owns the tensor, nothing to report
  x.reset();
  check_trace(log.events(), {{EK::FlippedBack, P, impl},
                             {EK::WeakrefCleared, w.get()},
                             {EK::Freed, P}});
  BOOST_TEST(I->warnings().empty());
}

// `hermetic-storage` (test_storage_preserve_nonhermetic_in_hermetic_context): the
// recorded storage wrapper is preserved although it dies in hermetic mode; a hermetic
// wrap never touches the slot (no Tagged, no NewWrapper) and its wrapper dies for real.
BOOST_AUTO_TEST_CASE(hermetic_storage_scenario_trace, *utf::label("hermetic") *utf::label("storage")) {
  Ref a = I->empty(4);
  Ref s = untyped_storage(*I, a);
  const PyObject* S = s.get();
  const void* impl = I->unpack_storage(s).unsafeGetStorageImpl();
  log.clear();
  Ref h;
  {
    impl::EnableHermeticPyObject hermetic;
    s.reset();                   // T3, although hermetic
    h = untyped_storage(*I, a);   // T10
  }
  const PyObject* H = h.get();
  h.reset();                     // dies for real: never preserved
  s = untyped_storage(*I, a);     // T5
  check_trace(log.events(), {{EK::Resurrected, S, impl},
                             {EK::HermeticWrap, H, impl},
                             {EK::Freed, H},
                             {EK::FlippedBack, S, impl}});
  s.reset();
  a.reset();
}

// `disarm` (DisarmHook): teardown runs its last collection and reports the disarm with
// what it abandoned; after that the dead interpreter reports nothing, and a refused
// wrap from another interpreter reports nothing either (a refused wrap changes nothing).
BOOST_AUTO_TEST_CASE(disarm_scenario_trace, *utf::label("disarm")) {
  EventLog mine;
  Interpreter::Owner J = Interpreter::create("J");
  J->set_observer(&mine);
  std::optional<Tensor> t = Tensor::empty(2);
  { Ref p = J->wrap(*t); }  // T1, T3
  J.reset();                // T9
  const std::size_t at_teardown = mine.events().size();
  BOOST_TEST((mine.kinds() == std::vector{EK::Tagged, EK::NewWrapper, EK::Resurrected,
                                          EK::GcCollect, EK::Disarmed}));
  BOOST_TEST(mine.events().back().detail == "1 object(s) abandoned");
  log.clear();
  BOOST_CHECK_THROW((void)I->wrap(*t), Error);
  t.reset();  // decref through the disarmed vtable
  BOOST_TEST(mine.events().size() == at_teardown);
  // I's refusal is in I's trace; the dead interpreter's code never ran.
  BOOST_TEST((log.kinds() == std::vector{EK::WrapRefused}));
}

// `gc-cycle` (test_tensor_cycle_via_dict): while C++ holds x's tensor the collector
// finds nothing; once it lets go, one collection clears the cycle and frees both
// wrappers (T7), reporting each clear and the count it found.
BOOST_AUTO_TEST_CASE(gc_cycle_scenario_trace, *utf::label("gc")) {
  GcDisabled manual(*I);
  Ref x = I->empty(2);
  Ref y = I->empty(2);
  const PyObject* X = x.get();
  const PyObject* Y = y.get();
  I->setattr(x, "_loop", y);
  I->setattr(y, "_loop", x);
  Ref z = I->empty(2);
  set_grad(*I, z, x);
  x.reset();
  y.reset();
  log.clear();
  BOOST_TEST(I->gc_collect() == 0u);
  BOOST_TEST((log.kinds() == std::vector{EK::GcCollect}));
  BOOST_TEST(log.events()[0].detail == "generation 2: 0 unreachable");
  z.reset();
  log.clear();
  BOOST_TEST(I->gc_collect() == 2u);
  const auto& events = log.events();
  BOOST_TEST_REQUIRE(!events.empty());
  BOOST_TEST(events.front().kind == EK::GcClear);
  BOOST_TEST(events.front().detail == "__slots__, __dict__ and cdata dropped");
  BOOST_TEST(events.back().kind == EK::GcCollect);
  BOOST_TEST(events.back().detail == "generation 2: 2 unreachable");
  auto freed = [&events](const PyObject* o) {
    return std::count_if(events.begin(), events.end(), [o](const Event& e) {
      return e.kind == EK::Freed && e.object == o;
    });
  };
  BOOST_TEST(freed(X) == 1);
  BOOST_TEST(freed(Y) == 1);
}

// `interpreters`: a routed Python operator reports where it ran and how (hermetic on
// main for an untagged input); its hermetic wrappers are reported and die.
BOOST_AUTO_TEST_CASE(routed_operator_trace, *utf::label("trampoline") *utf::label("hermetic")) {
  impl::PythonOpRegistrationTrampoline::unsafe_reset_for_testing();
  BOOST_TEST(I->register_python_op("trace::same", [](Interpreter& in, const std::vector<Ref>& args) {
    return in.empty(in.unpack(args.at(0)).numel());
  }));
  log.clear();
  Stack stack{{Tensor::empty(3)}};
  Dispatcher::singleton().call(*Dispatcher::singleton().findOp("trace::same"), &stack);
  BOOST_TEST((log.kinds() == std::vector{EK::RoutedOp, EK::HermeticWrap, EK::HermeticWrap,
                                         EK::Freed, EK::Freed}));
  BOOST_TEST(log.events()[0].detail == "trace::same (hermetic)");
  stack.values.clear();
  Dispatcher::singleton().unsafe_reset_kernels_for_testing("trace::");
}

// With no observer attached nothing is delivered (emit is one pointer test), and
// detaching in the middle stops the trace there.
// A recorded wrapper that dies in hermetic mode while C++ holds its tensor is not
// resurrected: the slot forgets it (L -> V), then it is freed.
BOOST_AUTO_TEST_CASE(slot_cleared_trace, *utf::label("hermetic")) {
  Tensor t = Tensor::empty(2);
  const TensorImpl* impl = t.unsafeGetTensorImpl();
  Ref p = I->wrap(t);
  const PyObject* P = p.get();
  log.clear();
  {
    impl::EnableHermeticPyObject hermetic;
    p.reset();
  }
  check_trace(log.events(), {{EK::SlotCleared, P, impl}, {EK::Freed, P}});
  BOOST_TEST(inspect(*I, impl).state == SlotState::V);
}

// Another interpreter's wrap is refused, and says so in the trace (refused: X -> X).
BOOST_AUTO_TEST_CASE(wrap_refused_trace, *utf::label("interpreter-tag")) {
  Interpreter::Owner J = Interpreter::create("I1");
  EventLog other;
  J->set_observer(&other);
  Tensor t = Tensor::empty(2);
  Ref p = I->wrap(t);
  BOOST_CHECK_THROW((void)J->wrap(t), Error);
  J->set_observer(nullptr);
  check_trace(other.events(), {{EK::WrapRefused, nullptr, t.unsafeGetTensorImpl()}});
  BOOST_TEST(other.events()[0].detail.find("already been used by another torch deploy interpreter I0") !=
             std::string::npos);
}

// A storage tagged by another interpreter is aliased, not refused.
BOOST_AUTO_TEST_CASE(storage_aliased_trace, *utf::label("interpreter-tag") *utf::label("storage")) {
  Interpreter::Owner J = Interpreter::create("I1");
  EventLog other;
  J->set_observer(&other);
  Storage s = Storage::create(8);
  Ref p = I->wrap(s);
  Ref q = J->wrap(s);
  J->set_observer(nullptr);
  BOOST_TEST_REQUIRE(other.events().size() == 3u);
  BOOST_TEST(other.events()[0].kind == EK::StorageAliased);
  BOOST_TEST(other.events()[0].target == s.unsafeGetStorageImpl());
  BOOST_TEST(other.events()[1].kind == EK::Tagged);
  BOOST_TEST(other.events()[2].kind == EK::NewWrapper);
  BOOST_TEST(other.events()[2].target != s.unsafeGetStorageImpl());  // the alias
}

BOOST_AUTO_TEST_CASE(a_detached_observer_receives_nothing) {
  Tensor t = Tensor::empty(2);
  Ref p = I->wrap(t);
  BOOST_TEST(log.events().size() == 2u);
  I->set_observer(nullptr);
  p.reset();
  p = I->wrap(t);
  BOOST_TEST(log.events().size() == 2u);
  I->set_observer(&log);
  p.reset();
  BOOST_TEST(log.kinds().back() == EK::Resurrected);
}

BOOST_AUTO_TEST_SUITE_END()
