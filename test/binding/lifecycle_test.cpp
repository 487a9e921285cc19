// The transitions of docs/reference.md §3 for tensors, one at a time, each checked
// against the state table of §2 (inspect()) and the event trace.
#include <boost/test/unit_test.hpp>

#include "revive/pictures/inspect.h"
#include "revive_test.h"
#include "tracker.h"
#include "revive/binding/tensor_methods.h"

using namespace revive;
using namespace revive::interp;
using namespace revive::binding;
using namespace revive::pictures;
using namespace revive::trace;
using revive::testing::LeakCheck;
using revive::testing::message_is;
using EK = EventKind;

namespace {

struct Fixture : LeakCheck {
  EventLog log;  // declared before I: it must outlive the interpreter's teardown event
  Interpreter::Owner I = Interpreter::create("I0");
  Fixture() { I->set_observer(&log); }
  ~Fixture() { I->set_observer(nullptr); }
  Snapshot at(const Tensor& t) { return inspect(*I, t.unsafeGetTensorImpl()); }
  const PyType* with_finalizer(int* runs) {
    return I->new_class("Fin", I->tensor_type(),
                        ClassSpec{std::nullopt, [runs](Runtime&, const Ref&) { ++*runs; }});
  }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(wrap, Fixture, *utf::label("wrap") *utf::label("lifecycle"))

// T1: the first wrap tags the slot and records a wrapper that owns the tensor.
BOOST_AUTO_TEST_CASE(first_wrap_tags_and_records_an_owning_wrapper) {
  Tensor t = Tensor::empty(2);
  BOOST_TEST(at(t).state == SlotState::U);
  Ref p = I->wrap(t);
  Snapshot s = at(t);
  BOOST_TEST(s.state == SlotState::L);
  BOOST_TEST(s.strong == 2u);  // C++ (t) and the wrapper's cdata
  BOOST_TEST(s.refcnt == 1);
  BOOST_TEST(s.tag == "I0");
  BOOST_TEST(!s.owns);
  BOOST_TEST(s.recorded == p.get());
  BOOST_TEST(s.cdata == CdataKind::Owned);
  BOOST_TEST((log.kinds() == std::vector{EK::Tagged, EK::NewWrapper}));
}

// The header example of preserved.h: a tensor's wrapper is a TensorObject whose cdata
// owns the tensor; each preserved type has its own table; a plain object has none.
BOOST_AUTO_TEST_CASE(a_wrapper_is_a_tensor_object) {
  Ref p = I->empty(2);
  BOOST_TEST(wrapper_ops(p.get()) == &wrapper_ops_for<Tensor>());
  BOOST_TEST(!static_cast<TensorObject*>(p.get())->cdata.unsafeIsBorrowed());
  Ref s = I->new_storage(4);
  BOOST_TEST(wrapper_ops(s.get()) == &wrapper_ops_for<Storage>());
  BOOST_TEST(std::string(wrapper_ops(s.get())->python_name) == "UntypedStorage");
  Ref o = I->new_object(I->new_class("Plain", I->object_type()));
  BOOST_TEST(wrapper_ops(o.get()) == nullptr);
}

// T2: wrapping again gives the same object with one more reference.
BOOST_AUTO_TEST_CASE(rewrap_of_a_live_wrapper_returns_it_with_an_incref) {
  Tensor t = Tensor::empty(2);
  Ref p = I->wrap(t);
  Ref q = I->wrap(t);
  BOOST_TEST(p == q);
  BOOST_TEST(at(t).refcnt == 2);
  BOOST_TEST(at(t).strong == 2u);  // no new C++ reference: one wrapper, one cdata
  BOOST_TEST(log.kinds().back() == EK::Rewrapped);
}

// THPVariable_Wrap returns None for an undefined tensor before anything else can run:
// not even an automatic collection that is due.
BOOST_AUTO_TEST_CASE(wrapping_an_undefined_tensor_runs_nothing, *utf::label("gc")) {
  const PyType* node = I->new_class("Node", I->object_type());
  I->gc_set_threshold(1);
  (void)revive::testing::make_cycle(*I, node);  // dead at once; a collection is due at
                                                // the next allocating operation
  const auto live = I->live_objects();
  log.clear();
  BOOST_TEST(I->wrap(Tensor()).is_none());
  BOOST_TEST(I->live_objects() == live);
  BOOST_TEST(log.events().empty());
  Tensor t = Tensor::empty(1);
  Ref p = I->wrap(t);  // this one collects first
  BOOST_TEST(I->live_objects() == 1u);
}

// THPVariable_Wrap of an undefined tensor is None.
BOOST_AUTO_TEST_CASE(wrapping_an_undefined_tensor_gives_none) {
  BOOST_TEST(I->wrap(Tensor()).is_none());
  BOOST_TEST(I->wrap(Storage()).is_none());
  BOOST_TEST(log.events().empty());
}

// A tensor made from Python and held only by Python: n == 1 counts only the cdata.
BOOST_AUTO_TEST_CASE(a_tensor_made_in_python_is_owned_only_by_its_wrapper) {
  Ref x = I->empty(3);
  Tensor t = I->unpack(x);
  BOOST_TEST(at(t).strong == 2u);  // the wrapper's cdata and our `t`
  t.reset();
  BOOST_TEST(I->live_objects() == 1u);
}

// T1': a tagged slot with no wrapper (V) gets a new wrapper without re-tagging.  V is
// reached here through Note [A recorded wrapper that really dies]: the wrapper dies for
// real in hermetic mode while C++ still holds the tensor, and the slot is cleared.
BOOST_AUTO_TEST_CASE(tagged_slot_without_wrapper_is_wrapped_as_tagged_by_us,
                     *utf::label("hermetic")) {
  Tensor t = Tensor::empty(2);
  Ref p = I->wrap(t);
  I->setattr(p, "foo", 1);
  {
    impl::EnableHermeticPyObject hermetic;
    p.reset();  // not resurrectable: check_pyobj says "no object" in hermetic mode
  }
  BOOST_TEST(at(t).state == SlotState::V);
  BOOST_TEST(at(t).strong == 1u);
  log.clear();
  Ref q = I->wrap(t);
  BOOST_TEST(at(t).state == SlotState::L);
  BOOST_TEST(!I->hasattr(q, "foo"));  // the old wrapper's state is gone
  BOOST_TEST((log.kinds() == std::vector{EK::NewWrapper}));  // no Tagged: TAGGED_BY_US
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(resurrection, Fixture, *utf::label("resurrection") *utf::label("lifecycle"))

// T3: Python drops the wrapper while C++ holds the tensor: ownership flips.
BOOST_AUTO_TEST_CASE(wrapper_is_resurrected_while_cpp_holds_the_tensor) {
  Tensor t = Tensor::empty(2);
  Ref p = I->wrap(t);
  const PyObject* raw = p.get();
  I->setattr(p, "foo", 2);
  log.clear();
  p.reset();
  Snapshot s = at(t);
  BOOST_TEST(s.state == SlotState::Z);
  BOOST_TEST(s.recorded == raw);
  BOOST_TEST(s.owns);
  BOOST_TEST(s.refcnt == 1);  // the slot's reference
  BOOST_TEST(s.strong == 1u);  // the cdata is borrowed now
  BOOST_TEST(s.cdata == CdataKind::Borrowed);
  BOOST_TEST((log.kinds() == std::vector{EK::Resurrected}));  // nothing else ran
}

// T3 runs before anything else in dealloc: no finalizer, weakrefs untouched.
BOOST_AUTO_TEST_CASE(resurrection_runs_no_finalizer_and_keeps_weakrefs) {
  int runs = 0;
  Tensor t = Tensor::empty(2);
  Ref p = I->make_subclass(with_finalizer(&runs), t);
  Ref w = I->weakref(p);
  p.reset();
  BOOST_TEST(runs == 0);
  BOOST_TEST(at(t).state == SlotState::Z);
  Ref back = I->deref(w);
  BOOST_TEST(!back.is_none());
  back.reset();  // r back to 1; still Z (deref never flips)
  BOOST_TEST(at(t).state == SlotState::Z);
}

// T5: wrapping a zombie flips ownership back and does not incref.
BOOST_AUTO_TEST_CASE(rewrap_of_a_zombie_flips_back_without_incref) {
  Tensor t = Tensor::empty(2);
  Ref p = I->wrap(t);
  const PyObject* raw = p.get();
  p.reset();
  log.clear();
  Ref q = I->wrap(t);
  BOOST_TEST(q.get() == raw);
  Snapshot s = at(t);
  BOOST_TEST(s.state == SlotState::L);
  BOOST_TEST(s.refcnt == 1);  // the caller took over the slot's reference
  BOOST_TEST(s.strong == 2u);
  BOOST_TEST(s.cdata == CdataKind::Owned);
  BOOST_TEST((log.kinds() == std::vector{EK::FlippedBack}));
}

// L -> Z -> L -> Z many times: the counts do not drift.
BOOST_AUTO_TEST_CASE(repeated_flips_leave_counts_unchanged) {
  Tensor t = Tensor::empty(2);
  for (int i = 0; i < 100; ++i) {
    Ref p = I->wrap(t);
    BOOST_TEST_REQUIRE(at(t).refcnt == 1);
    BOOST_TEST_REQUIRE(at(t).strong == 2u);
  }
  BOOST_TEST(at(t).state == SlotState::Z);
  BOOST_TEST(I->live_objects() == 1u);
}

// T6: C++ drops the last reference to a zombie: the slot gives P back and P dies for
// real, finalizer included (once in P's life).
BOOST_AUTO_TEST_CASE(cpp_dropping_a_zombie_frees_the_wrapper_and_finalizes_it_once) {
  int runs = 0;
  Tensor t = Tensor::empty(2);
  Ref p = I->make_subclass(with_finalizer(&runs), t);
  bool called = false;
  Ref w = I->weakref(p, [&called](Runtime&, const Ref&) { called = true; });
  p.reset();
  BOOST_TEST(runs == 0);
  log.clear();
  t.reset();
  BOOST_TEST(runs == 1);
  BOOST_TEST(called);
  BOOST_TEST(I->deref(w).is_none());
  BOOST_TEST((log.kinds() ==
              std::vector{EK::DecrefFromCpp, EK::Finalized, EK::WeakrefCleared, EK::Freed}));
}

// T6 with a C++ weak reference alive: the slot is released by release_resources, and
// again (as a no-op) by the slot's destructor at the last weak release.
BOOST_AUTO_TEST_CASE(zombie_is_released_through_release_resources_when_weak_refs_exist) {
  Tensor t = Tensor::empty(2);
  Ref p = I->wrap(t);
  p.reset();
  weak_intrusive_ptr<TensorImpl> weak(t.getIntrusivePtr());
  t.reset();
  BOOST_TEST(I->live_objects() == 0u);  // freed at strong 0, not at weak 0
  BOOST_TEST(TensorImpl::live_count() == 1);  // memory kept by the weak reference
  BOOST_TEST(!weak.lock());
  weak.reset();
}

// c10's TensorImpl::release_resources order (a C++ weak reference takes that path):
// the grad first, then the storage, then the wrapper.  So the zombie grad's __del__
// runs before its tensor's, and the tensor's __del__ finds its grad already gone.
BOOST_AUTO_TEST_CASE(release_resources_drops_the_grad_before_the_wrapper) {
  std::vector<std::string> order;
  auto fin = [&order](std::string name) {
    return ClassSpec{std::nullopt, [&order, name](Runtime&, const Ref&) { order.push_back(name); }};
  };
  const PyType* outer = I->new_class("Outer", I->tensor_type(), fin("y"));
  const PyType* inner = I->new_class("Inner", I->tensor_type(), fin("x"));
  Tensor y = Tensor::empty(2);
  {
    Ref yp = I->make_subclass(outer, y);
    Ref xp = I->empty(2, inner);
    set_grad(*I, yp, xp);  // y.grad = x: x's tensor is held only by y from now on
  }  // both wrappers are zombies
  weak_intrusive_ptr<TensorImpl> weak(y.getIntrusivePtr());
  y.reset();  // release_resources: grad (x dies: T6), storage, then y's wrapper (T6)
  BOOST_TEST((order == std::vector<std::string>{"x", "y"}));
  weak.reset();
  BOOST_TEST(I->live_objects() == 0u);
}

// T4: the wrapper is the only owner: real death, in CPython's order.
BOOST_AUTO_TEST_CASE(wrapper_that_alone_owns_its_tensor_dies_for_real) {
  int runs = 0;
  Ref p = I->empty(2, with_finalizer(&runs));
  Ref w = I->weakref(p);
  log.clear();
  p.reset();
  BOOST_TEST(runs == 1);
  BOOST_TEST((log.kinds() == std::vector{EK::Finalized, EK::WeakrefCleared, EK::Freed}));
  BOOST_TEST(I->deref(w).is_none());
}

// T4: a finalizer that stores `self` resurrects the wrapper (PEP 442); it is never
// finalized again, and the wrapper still owns its tensor.
BOOST_AUTO_TEST_CASE(finalizer_may_resurrect_and_never_runs_twice) {
  int runs = 0;
  const PyType* keeper = I->new_class(
      "Keeper", I->tensor_type(), ClassSpec{std::nullopt, [&runs](Runtime& interp, const Ref& self) {
        ++runs;
        interp.set_global("saved", self);
      }});
  Ref p = I->empty(2, keeper);
  const PyObject* raw = p.get();
  p.reset();
  BOOST_TEST(runs == 1);
  Value saved = I->get_global("saved");
  BOOST_TEST(std::get<Ref>(saved).get() == raw);
  Tensor t = I->unpack(std::get<Ref>(saved));
  BOOST_TEST(t.defined());  // cdata still owned: the tensor lived through it
  BOOST_TEST(inspect(*I, t.unsafeGetTensorImpl()).state == SlotState::L);
  t.reset();
  saved = None{};
  I->del_global("saved");  // the last reference: real death, no second __del__
  BOOST_TEST(runs == 1);
}

// T3 racing T6: between the decision to resurrect and the flip, the other C++ owner
// lets go (as another thread may).  The flip's own release then kills the tensor and
// the wrapper, nested inside the dealloc, and nothing touches the freed wrapper.
BOOST_AUTO_TEST_CASE(last_cpp_reference_dropped_during_resurrection_frees_everything) {
  int runs = 0;
  auto t = std::make_unique<Tensor>(Tensor::empty(2));
  Ref p = I->make_subclass(with_finalizer(&runs), *t);
  binding::testing::set_resurrection_hook(*I, [&t] { t.reset(); });
  log.clear();
  p.reset();
  binding::testing::set_resurrection_hook(*I, nullptr);
  BOOST_TEST(runs == 1);
  BOOST_TEST(I->live_objects() == 0u);
  BOOST_TEST((log.kinds() ==
              std::vector{EK::Resurrected, EK::DecrefFromCpp, EK::Finalized, EK::Freed}));
}

// The whole tour path: U -> L -> Z -> L -> Z -> D.
BOOST_AUTO_TEST_CASE(full_single_interpreter_lifecycle) {
  Tensor t = Tensor::empty(4);
  std::vector<SlotState> path{at(t).state};
  Ref p = I->wrap(t);
  path.push_back(at(t).state);
  p.reset();
  path.push_back(at(t).state);
  p = I->wrap(t);
  path.push_back(at(t).state);
  p.reset();
  path.push_back(at(t).state);
  t.reset();
  BOOST_TEST((path == std::vector{SlotState::U, SlotState::L, SlotState::Z, SlotState::L,
                                  SlotState::Z}));
  BOOST_TEST(I->live_objects() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(weakref_hole, Fixture, *utf::label("weakref-hole") *utf::label("resurrection"))

// T8: dereferencing a weakref to a zombie is a plain incref: r == 2, no flip.
BOOST_AUTO_TEST_CASE(weakref_deref_of_a_zombie_does_not_flip) {
  Tensor t = Tensor::empty(2);
  Ref p = I->wrap(t);
  Ref w = I->weakref(p);
  p.reset();
  Ref x = I->deref(w);
  Snapshot s = at(t);
  BOOST_TEST(s.state == SlotState::Z);
  BOOST_TEST(s.refcnt == 2);
  BOOST_TEST(s.cdata == CdataKind::Borrowed);
}

// T8 then T6: C++ dies, the wrapper survives with a stubbed cdata and a warning.
BOOST_AUTO_TEST_CASE(cpp_death_under_a_weakref_revived_zombie_warns_and_stubs) {
  Tensor t = Tensor::empty(2);
  Ref p = I->wrap(t);
  Ref w = I->weakref(p);
  p.reset();
  Ref x = I->deref(w);
  log.clear();
  t.reset();
  BOOST_TEST(TensorImpl::live_count() == 0);
  BOOST_TEST_REQUIRE(I->warnings().size() == 1u);
  BOOST_TEST(I->warnings()[0] ==
             "Deallocating Tensor that still has live PyObject references.  This probably "
             "happened because you took out a weak reference to Tensor and didn't call "
             "_fix_weakref() after dereferencing it.  Subsequent accesses to this tensor via "
             "the PyObject will now fail.");
  BOOST_TEST((log.kinds() == std::vector{EK::DecrefFromCpp, EK::Warning, EK::Stubbed}));
  BOOST_TEST(!I->unpack(x).defined());
  BOOST_CHECK_EXCEPTION((void)sigmoid(*I, x), Error,
                        message_is("Expected a proper Tensor but got None (or an undefined "
                                   "Tensor in C++) for argument #0 'self'"));
  x.reset();  // now the stub dies; releasing an undefined cdata touches nothing
  BOOST_TEST(I->live_objects() == 1u);  // only the weakref object
}

// _fix_weakref closes the hole: wrap flips back, then the extra reference is dropped.
BOOST_AUTO_TEST_CASE(fix_weakref_flips_a_revived_zombie_back_to_live) {
  Tensor t = Tensor::empty(2);
  Ref p = I->wrap(t);
  Ref w = I->weakref(p);
  p.reset();
  Ref x = I->deref(w);
  I->fix_weakref(x);
  Snapshot s = at(t);
  BOOST_TEST(s.state == SlotState::L);
  BOOST_TEST(s.refcnt == 1);
  BOOST_TEST(s.strong == 2u);
  t.reset();
  BOOST_TEST(I->warnings().empty());
  BOOST_TEST(I->unpack(x).defined());
}

BOOST_AUTO_TEST_SUITE_END()
