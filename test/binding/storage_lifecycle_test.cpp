// Storages are preserved like tensors, with the is_hermetic twist.
#include <boost/test/unit_test.hpp>

#include "revive/pictures/inspect.h"
#include "revive_test.h"

using namespace revive;
using namespace revive::interp;
using namespace revive::binding;
using namespace revive::pictures;
using namespace revive::trace;
using EK = EventKind;

namespace {
struct Fixture : revive::testing::LeakCheck {
  EventLog log;
  Interpreter::Owner I = Interpreter::create("I0");
  Fixture() { I->set_observer(&log); }
  ~Fixture() { I->set_observer(nullptr); }
  Snapshot at(const Storage& s) { return inspect(*I, s.unsafeGetStorageImpl()); }
};
}  // namespace

BOOST_FIXTURE_TEST_SUITE(storage_lifecycle, Fixture, *utf::label("storage") *utf::label("resurrection"))

// L -> Z -> L for a storage held by a tensor.
BOOST_AUTO_TEST_CASE(storage_wrapper_is_preserved_and_flipped_back) {
  Tensor t = Tensor::empty(4);
  Storage s = t.storage();
  Ref p = I->wrap(s);
  const PyObject* raw = p.get();
  BOOST_TEST(at(s).state == SlotState::L);
  p.reset();
  BOOST_TEST(at(s).state == SlotState::Z);
  BOOST_TEST(at(s).cdata == CdataKind::Borrowed);
  Ref q = I->wrap(s);
  BOOST_TEST(q.get() == raw);
  BOOST_TEST(at(s).refcnt == 1);
  BOOST_TEST(at(s).state == SlotState::L);
}

// A hermetic storage wrapper is never recorded and never preserved.
BOOST_AUTO_TEST_CASE(hermetic_storage_wrapper_is_never_preserved, *utf::label("hermetic")) {
  Storage s = Storage::create(8);
  Ref h;
  {
    impl::EnableHermeticPyObject hermetic;
    h = I->wrap(s);
  }
  BOOST_TEST(static_cast<StorageObject*>(h.get())->is_hermetic);
  BOOST_TEST(at(s).state == SlotState::U);
  log.clear();
  h.reset();  // dies for real although C++ still holds the storage
  BOOST_TEST((log.kinds() == std::vector{EK::Freed}));
  BOOST_TEST(at(s).state == SlotState::U);
}

// test_storage_preserve_nonhermetic_in_hermetic_context: a storage wrapper made
// outside hermetic mode is preserved even when its last Python reference is dropped
// inside it (the decision ignores the TLS and reads is_hermetic instead).
BOOST_AUTO_TEST_CASE(nonhermetic_storage_dying_in_hermetic_mode_is_preserved, *utf::label("hermetic")) {
  Storage s = Storage::create(8);
  Ref p = I->wrap(s);
  I->setattr(p, "tag", std::int64_t{7});
  {
    impl::EnableHermeticPyObject hermetic;
    p.reset();
  }
  BOOST_TEST(at(s).state == SlotState::Z);
  Ref q = I->wrap(s);
  BOOST_TEST(std::get<std::int64_t>(I->getattr(q, "tag")) == 7);
}

// The storage twin of the weakref hole warning.
BOOST_AUTO_TEST_CASE(storage_weakref_hole_warns_with_the_storage_text, *utf::label("weakref-hole")) {
  Storage s = Storage::create(8);
  Ref p = I->wrap(s);
  Ref w = I->weakref(p);
  p.reset();
  Ref x = I->deref(w);
  s.reset();
  BOOST_TEST_REQUIRE(I->warnings().size() == 1u);
  BOOST_TEST(I->warnings()[0] ==
             "Deallocating UntypedStorage that still has live PyObject references.  This "
             "probably happened because you took out a weak reference to UntypedStorage and "
             "didn't call _fix_weakref() after dereferencing it.  Subsequent accesses to this "
             "storage via the PyObject will now fail.");
  BOOST_TEST(!I->unpack_storage(x).defined());
}

// c10's StorageImpl::release_resources frees only the bytes: with a C++ weak reference
// alive, the zombie wrapper outlives the storage's last strong reference and is given
// back (T6, its __del__ running then) only when the weak reference goes.  A tensor
// gives its wrapper back at strong 0 (lifecycle_test.cpp).
BOOST_AUTO_TEST_CASE(a_storage_zombie_waits_for_the_last_weak_reference, *utf::label("weakref")) {
  int runs = 0;
  const PyType* fin = I->new_class("FinStorage", I->storage_type(),
                                   ClassSpec{std::nullopt, [&runs](Runtime&, const Ref&) { ++runs; }});
  Storage s = Storage::create(8);
  { Ref p = I->new_with_var(fin, s); }  // Z: s holds it
  BOOST_TEST(at(s).state == SlotState::Z);
  weak_intrusive_ptr<StorageImpl> weak(s.getIntrusivePtr());
  StorageImpl* impl = s.unsafeGetStorageImpl();
  s.reset();  // strong 0: release_resources frees the bytes only
  BOOST_TEST(runs == 0);
  BOOST_TEST(I->live_objects() == 1u);
  BOOST_TEST(impl->nbytes() == 0u);
  BOOST_TEST(!weak.lock());
  weak.reset();  // ~StorageImpl, ~PyObjectSlot: T6
  BOOST_TEST(runs == 1);
  BOOST_TEST(I->live_objects() == 0u);
}

// THPStorage_NewWithStorage refuses a storage that already has a wrapper here, and a
// class that is not a storage class, with PyTorch's texts (RuntimeErrors).
BOOST_AUTO_TEST_CASE(new_with_storage_checks_like_pytorch, *utf::label("errors")) {
  Storage s = Storage::create(8);
  Ref p = I->wrap(s);
  const PyType* sub = I->new_class("MyStorage", I->storage_type());
  BOOST_CHECK_EXCEPTION((void)I->new_with_var(sub, s), Error,
                        revive::testing::message_is(
                            "Creating a new Storage subclass MyStorage but the raw Storage object "
                            "is already associated to a python object of type UntypedStorage"));
  const PyType* plain = I->new_class("Plain", I->object_type());
  BOOST_CHECK_EXCEPTION((void)I->new_storage(8, plain), Error,
                        revive::testing::message_is(
                            "Creating a Storage subclass from a class that does not inherit from "
                            "Storage is not possible. Make sure your class inherits from Storage."));
}

// THPStorage_Wrap checks what the slot records: an object of another kind there (only
// corrupt state could put it there) is refused with PyTorch's text, not trusted.
BOOST_AUTO_TEST_CASE(a_slot_recording_a_non_storage_is_refused, *utf::label("errors")) {
  Storage s = Storage::create(8);
  Ref t = I->empty(2);
  impl::PyObjectSlot* slot = s.unsafeGetStorageImpl()->pyobj_slot();
  slot->init_pyobj(I->pyinterpreter(), t.get(), impl::PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  BOOST_CHECK_EXCEPTION((void)I->wrap(s), Error,
                        revive::testing::message_is("Expected a storage type, but got Tensor"));
  slot->unchecked_clear_pyobj(I->pyinterpreter());
}

BOOST_AUTO_TEST_SUITE_END()
