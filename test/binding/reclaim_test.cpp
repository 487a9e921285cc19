// Note [Reclaiming a dead interpreter]: a torn-down interpreter stays in the graveyard,
// exactly as teardown left it, while anything can reach it, and is freed (its abandoned
// objects too) at the first sweep after the last thing that reached it let go.
#include <boost/test/unit_test.hpp>

#include <optional>

#include "revive/pictures/inspect.h"
#include "revive_test.h"

using namespace revive;
using namespace revive::interp;
using namespace revive::binding;
using revive::testing::message_is;

namespace {

// The first interpreter a test makes is main, which the trampoline keeps for the life
// of the process (never reclaimed), so every test makes one first and keeps it.
struct WithMain : revive::testing::LeakCheck {
  Interpreter::Owner main = Interpreter::create("main");
  std::size_t dead_before = Runtime::dead_interpreter_count();
  std::int64_t abandoned_before = Runtime::abandoned_object_count();

  // How many interpreters this test left in the graveyard, after a sweep.
  static std::size_t dead_after_sweep() {
    (void)Runtime::reclaim_dead_interpreters();
    return Runtime::dead_interpreter_count();
  }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(reclaim, WithMain, *utf::label("disarm") *utf::label("reclaim"))

// Nothing abandoned, nothing tagged: the teardown's own sweep frees it at once.
BOOST_AUTO_TEST_CASE(an_interpreter_that_left_nothing_is_freed_at_teardown) {
  BOOST_TEST(main->is_main_interpreter());
  {
    Interpreter::Owner I = Interpreter::create("I0");
    Ref p = I->empty(2);
    p.reset();  // dies for real: nothing is left
  }
  BOOST_TEST(Runtime::dead_interpreter_count() == dead_before);
  BOOST_TEST(Runtime::abandoned_object_count() == abandoned_before);
}

// A zombie whose tensor C++ still holds: the tag reaches the interpreter, which stays
// exactly as teardown left it (X from anyone else, its name "<unloaded interpreter>").
// When the tensor goes, the slot's release is one the dead interpreter cannot see
// (the no-op decref); the PyInterpreter counted it, and the next sweep frees everything.
BOOST_AUTO_TEST_CASE(a_zombie_keeps_its_interpreter_until_its_tensor_dies) {
  Tensor t = Tensor::empty(2);
  impl::PyInterpreter* dead = nullptr;
  {
    Interpreter::Owner I = Interpreter::create("I0");
    dead = I->pyinterpreter();
    { Ref p = I->wrap(t); }  // Z: the slot owns the wrapper
  }
  BOOST_TEST(dead_after_sweep() == dead_before + 1);
  BOOST_TEST(Runtime::abandoned_object_count() == abandoned_before + 1);
  BOOST_TEST(dead->tagged_count() == 1);
  BOOST_TEST(pictures::inspect(*main, t.unsafeGetTensorImpl()).state == pictures::SlotState::X);
  BOOST_TEST(pictures::inspect(*main, t.unsafeGetTensorImpl()).tag == "<unloaded interpreter>");

  t.reset();  // T6 through the no-op vtable
  BOOST_TEST(Runtime::dead_interpreter_count() == dead_before + 1);  // no sweep ran yet
  BOOST_TEST(dead_after_sweep() == dead_before);
  BOOST_TEST(Runtime::abandoned_object_count() == abandoned_before);
}

// A C++ Ref to an abandoned object reaches the interpreter; dropping it does nothing to
// the object (it is abandoned) but the graveyard counts it, and the next sweep frees
// the object and every object only it kept (a cycle of plain objects here).
BOOST_AUTO_TEST_CASE(a_ref_held_from_outside_keeps_it_until_dropped) {
  Ref kept;
  {
    Interpreter::Owner I = Interpreter::create("I0");
    const PyType* box = I->new_class("Box", I->object_type());
    Ref a = I->new_object(box);
    Ref b = I->new_object(box);
    I->setattr(a, "other", b);
    I->setattr(b, "other", a);
    kept = a;
    Ref copy = kept;  // a copy made and dropped before teardown changes nothing
  }
  BOOST_TEST(dead_after_sweep() == dead_before + 1);
  BOOST_TEST(Runtime::abandoned_object_count() == abandoned_before + 2);
  {
    Ref again = kept;  // copies made after teardown count too
    BOOST_TEST(dead_after_sweep() == dead_before + 1);
  }
  BOOST_TEST(dead_after_sweep() == dead_before + 1);
  kept.reset();
  BOOST_TEST(dead_after_sweep() == dead_before);
  BOOST_TEST(Runtime::abandoned_object_count() == abandoned_before);
}

// A wrapper alive at teardown owns its tensor.  While C++ holds that tensor too, the
// tag reaches the interpreter; once only the abandoned wrapper holds it, nothing does,
// and reclaiming releases the tensor (its slot forgets the wrapper first).
BOOST_AUTO_TEST_CASE(a_tensor_only_its_abandoned_wrapper_holds_is_released) {
  Tensor t = Tensor::empty(2);
  Ref p;
  {
    Interpreter::Owner I = Interpreter::create("I0");
    p = I->wrap(t);  // L: the wrapper owns the tensor
  }
  p.reset();  // the variable goes; the wrapper stays abandoned
  BOOST_TEST(t.use_count() == 2u);
  BOOST_TEST(dead_after_sweep() == dead_before + 1);  // t, held by C++, carries the tag
  BOOST_TEST(Runtime::abandoned_object_count() == abandoned_before + 1);
  const std::int64_t tensors = TensorImpl::live_count();
  t.reset();  // now only the abandoned wrapper holds it
  BOOST_TEST(TensorImpl::live_count() == tensors);
  BOOST_TEST(dead_after_sweep() == dead_before);
  BOOST_TEST(TensorImpl::live_count() == tensors - 1);
}

// Reaching a tagged tensor through one the dead interpreter did not tag counts: u is
// untagged, held by C++ and by an abandoned hermetic wrapper; its grad g is tagged and
// its wrapper a zombie.  g is reachable from C++ through u, so the interpreter stays
// until C++ lets u go; then u, g and the zombie go together.
BOOST_AUTO_TEST_CASE(a_tagged_grad_reached_through_an_untagged_tensor_keeps_it) {
  Tensor u = Tensor::empty(2);
  {
    Tensor g = Tensor::empty(2);
    u.set_grad(g);
    Interpreter::Owner I = Interpreter::create("I0");
    { Ref z = I->wrap(g); }  // g's wrapper: Z, owned by g's slot
    impl::HermeticPyObjectTLS::set_state(true);
    Ref h = I->wrap(u);  // hermetic: owns u, recorded nowhere
    impl::HermeticPyObjectTLS::set_state(false);
    I->set_global("h", h);  // teardown clears globals, so keep it another way:
    I->del_global("h");
    Ref keep = h;           // held from outside through teardown,
    I.reset();              // abandoned with the zombie
    keep.reset();           // then let go
  }
  BOOST_TEST(u.unsafeGetTensorImpl()->pyobj_slot()->pyobj_interpreter() == nullptr);
  BOOST_TEST(dead_after_sweep() == dead_before + 1);  // C++ -> u -> g (tagged)
  BOOST_TEST(Runtime::abandoned_object_count() == abandoned_before + 2);  // untouched
  const std::int64_t tensors = TensorImpl::live_count();
  u.reset();  // the hermetic wrapper is all that holds u now
  BOOST_TEST(dead_after_sweep() == dead_before);
  BOOST_TEST(TensorImpl::live_count() == tensors - 2);
  BOOST_TEST(Runtime::abandoned_object_count() == abandoned_before);
}

// A zombie's slot is not "outside" when its tensor is itself held only by another
// abandoned wrapper (a hermetic one here): both go at the first sweep after C++ lets go.
BOOST_AUTO_TEST_CASE(a_zombie_of_a_tensor_held_by_an_abandoned_wrapper_goes_with_it) {
  Tensor t = Tensor::empty(2);
  Ref h;
  {
    Interpreter::Owner I = Interpreter::create("I0");
    { Ref p = I->wrap(t); }  // Z
    impl::HermeticPyObjectTLS::set_state(true);
    h = I->wrap(t);  // a second, hermetic wrapper that owns t
    impl::HermeticPyObjectTLS::set_state(false);
  }
  h.reset();
  t.reset();  // t lives on: the abandoned hermetic wrapper owns it
  BOOST_TEST(dead_after_sweep() == dead_before);
  BOOST_TEST(Runtime::abandoned_object_count() == abandoned_before);
}

// Reclaiming one dead interpreter can free what kept another: a tensor of J, tagged
// by J, held as the grad of a tensor that only I's abandoned wrapper holds.
BOOST_AUTO_TEST_CASE(reclaiming_one_can_free_another) {
  Tensor t = Tensor::empty(2);
  Ref p;
  {
    Interpreter::Owner J = Interpreter::create("J");
    Tensor g = Tensor::empty(2);
    { Ref z = J->wrap(g); }  // Z in J
    t.set_grad(g);
  }
  {
    Interpreter::Owner I = Interpreter::create("I");
    p = I->wrap(t);
  }
  p.reset();
  BOOST_TEST(dead_after_sweep() == dead_before + 2);
  BOOST_TEST(Runtime::abandoned_object_count() == abandoned_before + 2);
  t.reset();  // I's wrapper holds t, t holds g, g's slot holds J's zombie
  BOOST_TEST(dead_after_sweep() == dead_before);
  BOOST_TEST(Runtime::abandoned_object_count() == abandoned_before);
}

// Two dead interpreters that reach each other: I's abandoned wrapper owns a, whose
// grad c carries J's tag (J's zombie), and J's abandoned wrapper owns d, whose grad e
// carries I's tag.  Judged one at a time, each is reached from outside itself and
// both would stay for good; judged as a group, nothing outside the two reaches
// either, and both go at the same sweep.  Until C++ lets go of a, neither can.
BOOST_AUTO_TEST_CASE(dead_interpreters_that_reach_each_other_go_together) {
  Tensor a = Tensor::empty(2), c = Tensor::empty(2), d = Tensor::empty(2), e = Tensor::empty(2);
  a.set_grad(c);
  d.set_grad(e);
  Ref wa, wd;  // held from outside through the teardowns, so that they are abandoned
  {
    Interpreter::Owner I = Interpreter::create("I");
    Interpreter::Owner J = Interpreter::create("J");
    wa = I->wrap(a);
    wd = J->wrap(d);
    { Ref z = J->wrap(c); }  // Z in J: a's grad holds c
    { Ref z = I->wrap(e); }  // Z in I: d's grad holds e
  }
  c.reset();
  d.reset();
  e.reset();
  wa.reset();
  wd.reset();
  BOOST_TEST(dead_after_sweep() == dead_before + 2);  // C++ still holds a
  const std::int64_t tensors = TensorImpl::live_count();
  a.reset();  // now only I's wrapper holds a, only J's holds d
  BOOST_TEST(dead_after_sweep() == dead_before);
  BOOST_TEST(TensorImpl::live_count() == tensors - 4);
  BOOST_TEST(Runtime::abandoned_object_count() == abandoned_before);
}

// Torn down by a thread that holds its GIL (re-entrant, so teardown's own sweep runs
// under it): the sweep must not free it while that thread still holds its mutex.  It
// goes at the first sweep after the GIL is let go.
BOOST_AUTO_TEST_CASE(an_interpreter_torn_down_under_its_own_gil_waits_for_the_gil) {
  Interpreter::Owner I = Interpreter::create("I0");
  {
    GilGuard hold(I->gil());
    I.reset();
    BOOST_TEST(dead_after_sweep() == dead_before + 1);
  }
  BOOST_TEST(dead_after_sweep() == dead_before);
}

// The main interpreter is the trampoline's for the life of the process: torn down, it
// stays in the graveyard even with nothing left in it.
BOOST_AUTO_TEST_CASE(the_main_interpreter_is_never_reclaimed) {
  const impl::PyInterpreter* pyinterpreter = main->pyinterpreter();
  main.reset();
  BOOST_TEST(dead_after_sweep() == dead_before + 1);
  BOOST_TEST(pyinterpreter->is_disarmed());
}

// Reclaiming runs no Python code: no __del__, no weakref callback, however the
// abandoned objects were linked.
BOOST_AUTO_TEST_CASE(reclaiming_runs_no_python_code) {
  int finalizers = 0, callbacks = 0;
  Ref kept;
  {
    Interpreter::Owner I = Interpreter::create("I0");
    const PyType* fin = I->new_class(
        "Fin", I->object_type(), ClassSpec{std::nullopt, [&finalizers](Runtime&, const Ref&) { ++finalizers; }});
    Ref a = I->new_object(fin);
    Ref w = I->weakref(a, [&callbacks](Runtime&, const Ref&) { ++callbacks; });
    I->setattr(a, "w", w);  // a holds its own weakref
    kept = a;
  }
  kept.reset();
  BOOST_TEST(dead_after_sweep() == dead_before);
  BOOST_TEST(finalizers == 0);
  BOOST_TEST(callbacks == 0);
}

BOOST_AUTO_TEST_SUITE_END()
