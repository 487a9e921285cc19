// T9: interpreter teardown disarms it and abandons what is left, on purpose.
#include <boost/test/unit_test.hpp>

#include <string>

#include <chrono>
#include <thread>

#include "revive/pictures/inspect.h"
#include "revive_test.h"

using namespace revive;
using namespace revive::interp;
using namespace revive::binding;
using namespace revive::pictures;
using namespace revive::trace;
using revive::testing::message_is;

BOOST_FIXTURE_TEST_SUITE(teardown, revive::testing::LeakCheck, *utf::label("disarm") *utf::label("interpreter-tag"))

// DisarmHook (torchdeploy), within one process: wrap in an interpreter, destroy it,
// wrap in a new one: a clear error, not a crash.  The zombie is abandoned, and C++
// dropping the tensor afterwards calls nothing in the dead interpreter.
BOOST_AUTO_TEST_CASE(disarm_hook_wrap_after_the_tagging_interpreter_died) {
  const auto abandoned_before = Interpreter::abandoned_object_count();
  Tensor t = Tensor::empty(2);
  impl::PyInterpreter* dead = nullptr;
  {
    Interpreter::Owner I = Interpreter::create("I0");
    dead = I->pyinterpreter();
    { Ref p = I->wrap(t); }  // Z: C++ holds the tensor
  }
  BOOST_TEST(dead->is_disarmed());
  BOOST_TEST(t.unsafeGetTensorImpl()->pyobj_slot()->pyobj_interpreter() == dead);  // never cleared
  BOOST_TEST(Interpreter::abandoned_object_count() == abandoned_before + 1);

  Interpreter::Owner J = Interpreter::create("I1");
  BOOST_CHECK_EXCEPTION((void)J->wrap(t), Error,
                        message_is("cannot access PyObject for Tensor on interpreter I1 that has "
                                   "already been used by another torch deploy interpreter "
                                   "<unloaded interpreter>"));
  BOOST_TEST(inspect(*J, t.unsafeGetTensorImpl()).state == SlotState::X);
  t.reset();  // maybe_destroy_pyobj -> the no-op vtable: the zombie leaks, nothing runs
  BOOST_TEST(TensorImpl::live_count() == 0);
}

// Teardown releases the interpreter's globals first: a wrapper they alone kept alive
// dies normally (or becomes a zombie if C++ holds its tensor).
BOOST_AUTO_TEST_CASE(teardown_releases_globals_before_disarming) {
  int runs = 0;
  Tensor t = Tensor::empty(2);
  {
    Interpreter::Owner I = Interpreter::create("I0");
    const PyType* fin = I->new_class("Fin", I->object_type(),
                                     ClassSpec{std::nullopt, [&runs](Runtime&, const Ref&) { ++runs; }});
    I->set_global("obj", I->new_object(fin));
    I->set_global("t", I->wrap(t));
  }
  BOOST_TEST(runs == 1);                  // the plain object died for real
  BOOST_TEST(t.use_count() == 1u);        // the tensor's wrapper became an abandoned zombie
  BOOST_TEST(t.unsafeGetTensorImpl()->pyobj_slot()->owns_pyobj());
}

// A Ref that outlives its interpreter is inert: dropping it does nothing.
BOOST_AUTO_TEST_CASE(refs_outliving_their_interpreter_are_inert) {
  const auto abandoned_before = Interpreter::abandoned_object_count();
  Ref survivor;
  {
    Interpreter::Owner I = Interpreter::create("I0");
    survivor = I->new_object(I->new_class("C", I->object_type()));
  }
  BOOST_TEST(Interpreter::abandoned_object_count() == abandoned_before + 1);
  survivor.reset();  // no crash, no call into the dead interpreter
}

// The disarmed vtable: decref is a no-op, name is a placeholder, the rest throws.
BOOST_AUTO_TEST_CASE(disarmed_vtable_refuses_calls_into_dead_code) {
  impl::PyInterpreter* dead = nullptr;
  Ref kept;
  {
    Interpreter::Owner I = Interpreter::create("I0");
    dead = I->pyinterpreter();
    kept = I->new_object(I->new_class("C", I->object_type()));
  }
  BOOST_TEST((*dead)->name() == "<unloaded interpreter>");
  (*dead)->decref(kept.get(), /*has_pyobj_slot=*/false);  // nothing happens
  BOOST_CHECK_EXCEPTION((void)(*dead)->type_name(kept.get()), Error,
                        message_is("attempted to call type_name on a Tensor with nontrivial "
                                   "PyObject after corresponding interpreter died"));
}

// Teardown racing a C++ release on another thread: the releasing thread waits for the
// GIL while the interpreter is torn down under it; once it gets the GIL it must see the
// teardown and run nothing (no __del__, no free of an abandoned object).
BOOST_AUTO_TEST_CASE(release_waiting_for_the_gil_during_teardown_runs_nothing,
                     *utf::timeout(60) *utf::label("threads")) {
  const auto abandoned_before = Interpreter::abandoned_object_count();
  int runs = 0;
  auto t = std::make_unique<Tensor>(Tensor::empty(2));
  std::thread releaser;
  {
    Interpreter::Owner I = Interpreter::create("I0");
    const PyType* fin = I->new_class("Fin", I->tensor_type(),
                                     ClassSpec{std::nullopt, [&runs](Runtime&, const Ref&) { ++runs; }});
    { Ref p = I->make_subclass(fin, *t); }  // Z
    GilGuard hold(I->gil());                // keep the releaser waiting
    releaser = std::thread([&t] { t.reset(); });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    I.reset();  // teardown under our GIL (re-entrant), while the releaser may wait
  }
  releaser.join();
  BOOST_TEST(runs == 0);
  BOOST_TEST(Interpreter::abandoned_object_count() == abandoned_before + 1);
}

// See Note [One way into an interpreter]: a call that waited for the GIL while another
// thread tore the interpreter down is refused once it gets the GIL, and changes nothing.
BOOST_AUTO_TEST_CASE(a_call_waiting_for_the_gil_during_teardown_is_refused, *utf::label("threads")) {
  auto J = Interpreter::create("J");
  Ref box = J->new_object(J->new_class("Box", J->object_type()));
  interp::Runtime& runtime = *J;
  std::string seen;
  std::thread caller;
  {
    GilGuard hold(runtime.gil());
    caller = std::thread([&] {
      try {
        runtime.setattr(box, "x", std::int64_t{1});
        seen = "no error";
      } catch (const Error& e) {
        seen = e.what();
      }
    });
    while (runtime.gil().waiting() == 0) std::this_thread::yield();  // it waits for the GIL
    J.reset();  // teardown, under the GIL the caller waits for
  }
  caller.join();
  BOOST_TEST(seen == "setattr(): interpreter J has been torn down");
  BOOST_TEST(!box->dict.has_value());  // nothing was written to the abandoned object
}

BOOST_AUTO_TEST_SUITE_END()
