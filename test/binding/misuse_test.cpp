// Every misuse a user can cause with one interpreter gets a clear error, and nothing
// changes: each case checks the state after the throw.
#include <boost/test/unit_test.hpp>

#include <cstdint>

#include "revive/pictures/inspect.h"
#include "revive_test.h"
#include "revive/binding/tensor_methods.h"

using namespace revive;
using namespace revive::interp;
using namespace revive::binding;
using namespace revive::pictures;
using namespace revive::trace;
using revive::testing::message_has;
using revive::testing::message_is;

using Fixture = revive::testing::WithInterpreter;

BOOST_FIXTURE_TEST_SUITE(misuse, Fixture, *utf::label("errors"))

// THPVariable_NewWithVar refuses a tensor that already has a wrapper; the old wrapper
// stays recorded and nothing leaks.
BOOST_AUTO_TEST_CASE(new_subclass_wrapper_for_a_wrapped_tensor_is_refused) {
  const PyType* mine = I->new_class("MyTensor", I->tensor_type());
  Tensor t = Tensor::empty(2);
  Ref p = I->wrap(t);
  BOOST_CHECK_EXCEPTION((void)I->make_subclass(mine, t), Error,
                        message_is("Creating a new Tensor subclass MyTensor but the raw Tensor "
                                   "object is already associated to a python object of type "
                                   "Tensor"));
  BOOST_TEST(inspect(*I, t.unsafeGetTensorImpl()).recorded == p.get());
  BOOST_TEST(t.use_count() == 2u);
  BOOST_TEST(I->live_objects() == 1u);
}

// The same for a zombie: the recorded wrapper still counts.
BOOST_AUTO_TEST_CASE(new_subclass_wrapper_for_a_zombie_is_refused) {
  const PyType* mine = I->new_class("MyTensor", I->tensor_type());
  Tensor t = Tensor::empty(2);
  { Ref p = I->wrap(t); }
  BOOST_CHECK_EXCEPTION((void)I->make_subclass(mine, t), Error,
                        message_has("already associated to a python object of type Tensor"));
  BOOST_TEST(inspect(*I, t.unsafeGetTensorImpl()).state == SlotState::Z);
}

// A class that is not a Tensor subclass cannot wrap a tensor.
BOOST_AUTO_TEST_CASE(non_tensor_class_cannot_wrap_a_tensor) {
  const PyType* plain = I->new_class("Plain", I->object_type());
  Tensor t = Tensor::empty(2);
  // A RuntimeError in PyTorch (THPVariable_NewWithVar's TORCH_CHECK; test_as_subclass).
  BOOST_CHECK_EXCEPTION((void)I->make_subclass(plain, t), Error,
                        message_is("Creating a Tensor subclass from a class that does "
                                   "not inherit from Tensor is not possible. Make sure your class "
                                   "inherits from Tensor."));
  bool type_error = false;  // not a Python TypeError (E4 made it one)
  try {
    (void)I->make_subclass(plain, t);
  } catch (const PythonError&) {
    type_error = true;
  } catch (const Error&) {
  }
  BOOST_TEST(!type_error);
  BOOST_TEST(inspect(*I, t.unsafeGetTensorImpl()).state == SlotState::U);
  BOOST_TEST(t.use_count() == 1u);
}

// Tensor operations on non-tensors and None are TypeErrors.
BOOST_AUTO_TEST_CASE(tensor_operations_check_their_arguments) {
  Ref o = I->new_object(I->new_class("C", I->object_type()));
  BOOST_CHECK_EXCEPTION((void)I->unpack(o), PythonError,
                        message_is("TypeError: unpack(): expected Tensor but got C"));
  BOOST_CHECK_EXCEPTION((void)I->unpack(Ref()), PythonError,
                        message_is("TypeError: unpack() got None"));
  BOOST_CHECK_EXCEPTION((void)I->new_object(I->tensor_type()), Error,
                        message_has("use empty() or new_storage()"));
}

// Objects of one interpreter cannot be used or stored in another.
BOOST_AUTO_TEST_CASE(objects_cannot_cross_interpreters, *utf::label("interpreter-tag")) {
  Interpreter::Owner J = Interpreter::create("I1");
  Ref o = J->new_object(J->new_class("C", J->object_type()));
  Ref mine = I->new_object(I->new_class("D", I->object_type()));
  BOOST_CHECK_EXCEPTION(I->setattr(o, "x", std::int64_t{1}), Error,
                        message_has("belongs to interpreter I1, not I0"));
  BOOST_CHECK_EXCEPTION(I->setattr(mine, "x", o), Error,
                        message_has("of interpreter I1 in interpreter I0"));
  BOOST_TEST(!I->hasattr(mine, "x"));
  BOOST_CHECK_EXCEPTION((void)I->new_class("E", J->object_type()), Error,
                        message_has("belongs to another interpreter"));
}

// A finalizer that touches the tensor of a zombie being destroyed gets an error, not
// a resurrected C++ object (counts never rise from zero).
BOOST_AUTO_TEST_CASE(finalizer_cannot_revive_a_dying_tensor, *utf::label("resurrection")) {
  std::string seen;
  const PyType* nosy = I->new_class(
      "Nosy", I->tensor_type(), ClassSpec{std::nullopt, [&seen](Runtime& interp, const Ref& self) {
        try {
          Tensor t = Interpreter::of(interp).unpack(self);
        } catch (const Error& e) {
          seen = e.what();
        }
      }});
  Tensor t = Tensor::empty(2);
  { Ref p = I->make_subclass(nosy, t); }  // Z
  t.reset();                               // T6: __del__ runs while the tensor dies
  BOOST_TEST(seen == "intrusive_ptr: Cannot increase refcount after it reached zero.");
  BOOST_TEST(TensorImpl::live_count() == 0);
}

// A finalizer receives the Runtime; asking a bare runtime (no torch) for its torch
// raises instead of casting blindly.
BOOST_AUTO_TEST_CASE(a_bare_runtime_has_no_torch) {
  auto bare = interp::Runtime::create("bare");
  BOOST_CHECK_EXCEPTION((void)Interpreter::of(*bare), Error,
                        message_is("interpreter bare has no torch loaded"));
  BOOST_TEST(&Interpreter::of(*I) == I.get());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(edges, Fixture, *utf::label("errors"))

// State reading answers for an undefined handle (D) and for a target released but kept
// in memory by a C++ weak reference (R), instead of reading through a null pointer.
BOOST_AUTO_TEST_CASE(inspect_answers_for_undefined_and_released_targets) {
  BOOST_TEST(inspect(*I, Tensor()).state == SlotState::D);
  BOOST_TEST(inspect(*I, Storage()).state == SlotState::D);
  Storage s = Storage::create(4);
  { Ref p = I->wrap(s); }
  Tensor holder = Tensor::from_storage(s, 1);
  { Ref p = I->wrap(s); }  // Z: the tensor holds the storage
  weak_intrusive_ptr<StorageImpl> weak(s.getIntrusivePtr());
  const StorageImpl* impl = s.unsafeGetStorageImpl();
  s.reset();
  holder.reset();  // n == 0: c10 keeps a storage's zombie until the weak reference goes
  const Snapshot r = inspect(*I, impl);
  BOOST_TEST(r.state == SlotState::R);
  BOOST_TEST(r.strong == 0u);
  BOOST_TEST(r.owns);
  BOOST_TEST(r.recorded != nullptr);
  weak.reset();
}

// Tearing an interpreter down twice (its deleter called twice) is refused: the second
// does nothing, and the counts stay true.
BOOST_AUTO_TEST_CASE(a_second_teardown_does_nothing) {
  auto J = Interpreter::create("J");
  Tensor t = Tensor::empty(2);
  { Ref p = J->wrap(t); }  // a zombie, abandoned at teardown
  Interpreter* raw = J.release();
  interp::Runtime::Teardown{}(raw);
  const auto live = Interpreter::live_object_count();
  const auto abandoned = Interpreter::abandoned_object_count();
  interp::Runtime::Teardown{}(raw);
  BOOST_TEST(Interpreter::live_object_count() == live);
  BOOST_TEST(Interpreter::abandoned_object_count() == abandoned);
}

// An impossible size names what was asked for, as PyTorch's allocator does.
BOOST_AUTO_TEST_CASE(an_impossible_size_is_refused_with_the_size) {
  BOOST_CHECK_EXCEPTION((void)I->new_storage(SIZE_MAX), Error,
                        message_has("DefaultCPUAllocator: can't allocate memory: you tried to "
                                    "allocate 18446744073709551615 bytes."));
  BOOST_CHECK_EXCEPTION((void)I->empty(INT64_MAX), Error,
                        message_is("Storage size calculation overflowed with sizes=[9223372036854775807]"));
  BOOST_TEST(I->live_objects() == 0u);
}

// Errors name the operation the user called, in PyTorch's words where it has them.
BOOST_AUTO_TEST_CASE(errors_name_the_operation) {
  Ref x = I->empty(2);
  Ref point = I->new_object(I->new_class("Point", I->object_type()));
  BOOST_CHECK_EXCEPTION(set_grad(*I, x, point), PythonError,
                        message_is("TypeError: assigned grad expected to be a Tensor or None but "
                                   "got grad of Point"));
  BOOST_CHECK_EXCEPTION((void)sigmoid(*I, point), PythonError,
                        message_is("TypeError: sigmoid(): expected Tensor but got Point"));
  BOOST_CHECK_EXCEPTION((void)tensor_from_storage(*I, x), PythonError,
                        message_is("TypeError: tensor(): expected UntypedStorage but got Tensor"));
}

// Two live interpreters with one name would make every refusal unreadable: refused; the
// name is free again once the first is torn down.
BOOST_AUTO_TEST_CASE(a_live_name_cannot_be_taken_twice) {
  BOOST_CHECK_EXCEPTION((void)Interpreter::create("I0"), Error,
                        message_is("an interpreter named I0 already exists; give each live "
                                   "interpreter its own name"));
  { auto J = Interpreter::create("J"); }
  auto again = Interpreter::create("J");
  BOOST_TEST(again->name() == "J");
}

// A class of another interpreter is refused wherever a class is taken, before anything
// is allocated.
BOOST_AUTO_TEST_CASE(a_class_of_another_interpreter_is_refused) {
  auto J = Interpreter::create("J");
  const PyType* theirs = J->new_class("Theirs", J->tensor_type());
  const PyType* their_box = J->new_class("Box", J->object_type());
  BOOST_CHECK_EXCEPTION((void)I->empty(2, theirs), Error,
                        message_is("make_subclass(): class Theirs belongs to another interpreter, not I0"));
  BOOST_CHECK_EXCEPTION((void)I->new_object(their_box), Error,
                        message_is("new_object(): class Box belongs to another interpreter, not I0"));
  BOOST_CHECK_EXCEPTION((void)I->new_storage(4, J->storage_type()), Error,
                        message_is("new_storage(): class UntypedStorage belongs to another "
                                   "interpreter, not I0"));
  BOOST_TEST(I->live_objects() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(finalizer_keeps_zombie, Fixture, *utf::label("resurrection") *utf::label("errors"))

// See Note [A finalizer that keeps a dying zombie]: __del__ of a zombie whose tensor
// is being destroyed stores `self`; the wrapper survives with a stubbed cdata, and
// using it raises instead of touching the freed tensor.
BOOST_AUTO_TEST_CASE(zombie_kept_alive_by_its_finalizer_is_stubbed) {
  const PyType* keeper = I->new_class(
      "Keeper", I->tensor_type(), ClassSpec{std::nullopt, [](Runtime& interp, const Ref& self) {
        interp.set_global("saved", self);
      }});
  Ref y = I->empty(2);
  Ref x = I->empty(2, keeper);
  set_grad(*I, y, x);
  x.reset();              // Z: no finalizer yet
  set_grad(*I, y, Ref());  // T6: the tensor dies, __del__ keeps the wrapper
  BOOST_TEST(TensorImpl::live_count() == 1);  // only y's tensor
  Ref saved = std::get<Ref>(I->get_global("saved"));
  BOOST_TEST(!I->unpack(saved).defined());
  BOOST_CHECK_EXCEPTION((void)sigmoid(*I, saved), Error,
                        message_has("Expected a proper Tensor but got None"));
  saved.reset();
  I->del_global("saved");  // dies now; its __del__ already ran, so it does not run again
}

BOOST_AUTO_TEST_SUITE_END()
