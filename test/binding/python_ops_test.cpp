// Python-implemented operators across interpreters: the trampoline decides who runs
// them, hermetic mode keeps main from tagging tensors, PyHandleCache finds the twins.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <thread>

#include "revive/pictures/inspect.h"
#include "revive/pyslot/python_op_registration_trampoline.h"
#include "revive_test.h"

using namespace revive;
using namespace revive::interp;
using namespace revive::binding;
using namespace revive::pictures;
using namespace revive::trace;
using revive::testing::message_has;
using revive::testing::message_is;
using EK = EventKind;

namespace {

// Every case starts with no main interpreter and no test:: kernels.
struct Fresh : revive::testing::LeakCheck {
  Fresh() {
    impl::PythonOpRegistrationTrampoline::unsafe_reset_for_testing();
    impl::HermeticPyObjectTLS::unsafe_reset_have_state_for_testing();
    Dispatcher::singleton().unsafe_reset_kernels_for_testing("test::");
  }
  ~Fresh() { Dispatcher::singleton().unsafe_reset_kernels_for_testing("test::"); }
};

// `def twice(x): return torch.empty(2 * x.numel())`, counting where it ran.
PythonOpImpl twice(std::atomic<int>* runs) {
  return [runs](Interpreter& interp, const std::vector<Ref>& args) {
    runs->fetch_add(1);
    return interp.empty(2 * interp.unpack(args.at(0)).numel());
  };
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(python_ops, Fresh, *utf::label("trampoline") *utf::label("hermetic"))

// The first interpreter to load torch is main (PyInterpreterHolder registers it when
// torch loads); loading a second turns hermetic state on for the process; main
// registers operators, the others only verify.
BOOST_AUTO_TEST_CASE(first_interpreter_is_main_and_others_verify) {
  std::atomic<int> runs0{0}, runs1{0};
  Interpreter::Owner I0 = Interpreter::create("I0");
  BOOST_TEST(I0->is_main_interpreter());
  BOOST_TEST(!impl::HermeticPyObjectTLS::have_state());
  Interpreter::Owner I1 = Interpreter::create("I1");
  BOOST_TEST(!I1->is_main_interpreter());
  BOOST_TEST(impl::HermeticPyObjectTLS::have_state());
  BOOST_TEST(I0->register_python_op("test::twice", twice(&runs0)));
  BOOST_TEST(!I1->register_python_op("test::twice", twice(&runs1)));
  BOOST_TEST(impl::PythonOpRegistrationTrampoline::getInterpreter() == I0->pyinterpreter());
}

// A non-main interpreter cannot define an operator main does not have.
BOOST_AUTO_TEST_CASE(non_main_cannot_define_a_new_operator, *utf::label("errors")) {
  std::atomic<int> runs{0};
  Interpreter::Owner I0 = Interpreter::create("I0");
  Interpreter::Owner I1 = Interpreter::create("I1");
  BOOST_TEST(I0->register_python_op("test::a", twice(&runs)));
  BOOST_CHECK_EXCEPTION(I1->register_python_op("test::b", twice(&runs)), Error,
                        message_has("operator test::b was not registered by the main interpreter"));
}

// Plain inputs: main runs the operator hermetically; the inputs get no tag and no
// wrapper recorded by main.
BOOST_AUTO_TEST_CASE(plain_inputs_run_on_main_hermetically) {
  std::atomic<int> runs0{0}, runs1{0};
  EventLog log;
  Interpreter::Owner I0 = Interpreter::create("I0");
  Interpreter::Owner I1 = Interpreter::create("I1");
  (void)I0->register_python_op("test::twice", twice(&runs0));
  (void)I1->register_python_op("test::twice", twice(&runs1));
  I0->set_observer(&log);
  // C++ code (no interpreter) calls it with an untagged tensor.
  Stack stack{{Tensor::empty(3)}};
  Tensor input = stack.values[0];
  Dispatcher::singleton().call(*Dispatcher::singleton().findOp("test::twice"), &stack);
  BOOST_TEST(runs0.load() == 1);
  BOOST_TEST(runs1.load() == 0);
  BOOST_TEST(stack.values.at(0).numel() == 6);
  BOOST_TEST(input.unsafeGetTensorImpl()->pyobj_slot()->pyobj_interpreter() == nullptr);
  BOOST_TEST(stack.values[0].unsafeGetTensorImpl()->pyobj_slot()->pyobj_interpreter() == nullptr);
  const auto kinds = log.kinds();
  BOOST_TEST(std::count(kinds.begin(), kinds.end(), EK::HermeticWrap) == 2);  // arg, result
  BOOST_TEST(std::count(kinds.begin(), kinds.end(), EK::Tagged) == 0);
  I0->set_observer(nullptr);
}

// A tensor of a __torch_dispatch__ subclass tagged by I1 sends the call to I1, which
// runs its own implementation (not hermetic: the tensors are its own).
BOOST_AUTO_TEST_CASE(python_dispatch_input_routes_to_its_interpreter) {
  std::atomic<int> runs0{0}, runs1{0};
  Interpreter::Owner I0 = Interpreter::create("I0");
  Interpreter::Owner I1 = Interpreter::create("I1");
  (void)I0->register_python_op("test::twice", twice(&runs0));
  (void)I1->register_python_op("test::twice", twice(&runs1));
  const PyType* sub = I1->new_class("Sub", I1->tensor_type(), ClassSpec{std::nullopt, {}, true});
  Ref x = I1->empty(2, sub);
  Ref y = I1->call_op("test::twice", {x});
  BOOST_TEST(runs1.load() == 1);
  BOOST_TEST(runs0.load() == 0);
  Tensor result = I1->unpack(y);
  BOOST_TEST(result.numel() == 4);
  BOOST_TEST(inspect(*I1, result.unsafeGetTensorImpl()).state == SlotState::L);
}

// As in PyTorch: a plain tensor already tagged by a non-main interpreter cannot be run
// hermetically on main (main's wrap refuses it), and the refusal changes nothing.
BOOST_AUTO_TEST_CASE(plain_tensor_tagged_elsewhere_is_refused_by_main, *utf::label("errors")) {
  std::atomic<int> runs0{0}, runs1{0};
  Interpreter::Owner I0 = Interpreter::create("I0");
  Interpreter::Owner I1 = Interpreter::create("I1");
  (void)I0->register_python_op("test::twice", twice(&runs0));
  (void)I1->register_python_op("test::twice", twice(&runs1));
  Ref x = I1->empty(2);
  BOOST_CHECK_EXCEPTION((void)I1->call_op("test::twice", {x}), Error,
                        message_has("cannot access PyObject for Tensor on interpreter I0"));
  BOOST_TEST(runs0.load() == 0);
  BOOST_TEST(inspect(*I1, I1->unpack(x).unsafeGetTensorImpl()).recorded == x.get());
}

// An argument that is another interpreter's object is refused before anything runs,
// and the error names the operator.
BOOST_AUTO_TEST_CASE(argument_of_another_interpreter_is_refused, *utf::label("errors")) {
  std::atomic<int> runs0{0};
  Interpreter::Owner I0 = Interpreter::create("I0");
  Interpreter::Owner I1 = Interpreter::create("I1");
  (void)I0->register_python_op("test::twice", twice(&runs0));
  Ref x = I1->empty(2);
  BOOST_CHECK_EXCEPTION((void)I0->call_op("test::twice", {x}), Error,
                        message_is("test::twice(): object " + std::to_string(x->id) +
                                   " belongs to interpreter I1, not I0"));
  BOOST_TEST(runs0.load() == 0);
  BOOST_TEST(inspect(*I1, I1->unpack(x).unsafeGetTensorImpl()).recorded == x.get());
}

// A torn-down main refuses to run its operators instead of calling dead code.
BOOST_AUTO_TEST_CASE(operator_of_a_torn_down_main_is_refused, *utf::label("disarm") *utf::label("errors")) {
  std::atomic<int> runs{0};
  {
    Interpreter::Owner I0 = Interpreter::create("I0");
    (void)I0->register_python_op("test::twice", twice(&runs));
  }
  Stack stack{{Tensor::empty(1)}};
  BOOST_CHECK_EXCEPTION(
      Dispatcher::singleton().call(*Dispatcher::singleton().findOp("test::twice"), &stack),
      Error, message_has("interpreter I0 has been torn down"));
  BOOST_TEST(runs.load() == 0);
}

// Two interpreters on two threads call routed operators at once (ThreadSanitizer
// checks the GIL hand-offs and the handle cache).
BOOST_AUTO_TEST_CASE(concurrent_calls_from_two_interpreters, *utf::timeout(120) *utf::label("threads")) {
  std::atomic<int> runs0{0}, runs1{0};
  Interpreter::Owner I0 = Interpreter::create("I0");
  Interpreter::Owner I1 = Interpreter::create("I1");
  (void)I0->register_python_op("test::twice", twice(&runs0));
  (void)I1->register_python_op("test::twice", twice(&runs1));
  const PyType* sub = I1->new_class("Sub", I1->tensor_type(), ClassSpec{std::nullopt, {}, true});
  std::thread t1([&] {
    for (int i = 0; i < 200; ++i) {
      Ref x = I1->empty(1, sub);
      Ref y = I1->call_op("test::twice", {x});
    }
  });
  for (int i = 0; i < 200; ++i) {
    Stack stack{{Tensor::empty(1)}};
    Dispatcher::singleton().call(*Dispatcher::singleton().findOp("test::twice"), &stack);
  }
  t1.join();
  BOOST_TEST(runs0.load() == 200);
  BOOST_TEST(runs1.load() == 200);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(operator_twins, Fresh, *utf::label("handle-cache"))

// The first interpreter to ask for an operator's twin caches it; the other one takes
// the slow path every time but still gets its own twin.
BOOST_AUTO_TEST_CASE(first_interpreter_to_ask_caches_the_twin) {
  std::atomic<int> runs{0};
  Interpreter::Owner I0 = Interpreter::create("I0");
  Interpreter::Owner I1 = Interpreter::create("I1");
  (void)I0->register_python_op("test::twin", twice(&runs));
  (void)I1->register_python_op("test::twin", twice(&runs));
  Ref a = I1->op_object("test::twin");  // I1 asks first: it claims the cache
  Ref b = I1->op_object("test::twin");
  BOOST_TEST(a == b);
  BOOST_TEST(I1->twin_slow_lookups() == 1);
  Ref c = I0->op_object("test::twin");
  Ref d = I0->op_object("test::twin");
  BOOST_TEST(c == d);
  BOOST_TEST(c != a);  // each interpreter has its own twin
  BOOST_TEST(I0->twin_slow_lookups() == 2);
  BOOST_TEST(Dispatcher::singleton().findOp("test::twin")->python_twin().owner() ==
             I1->pyinterpreter());
}

BOOST_AUTO_TEST_SUITE_END()
