// Tests for revive/tensor/tensor_impl.h and revive/tensor/storage_impl.h: lifetimes and
// counts of the two refcounted targets, the handles' contracts, and the C++ half of T6
// (a slot that owns its wrapper gives it back exactly once when the target dies, on
// both paths of Note [Two counts and release_resources]).
//
// The wrappers here are fakes: aligned bytes tagged with a recording vtable, so these
// tests need no interpreter.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "revive/pyslot/py_interpreter.h"
#include "revive/pyslot/py_object_slot.h"
#include "revive/tensor/intrusive_ptr.h"
#include "revive/tensor/storage_impl.h"
#include "revive/tensor/death_watch.h"
#include "revive/tensor/live_count.h"
#include "revive/tensor/tensor_impl.h"
#include "fake_interpreter.h"
#include "revive_test.h"

namespace {

using revive::testing::DecrefCall;
using revive::testing::RecordingVTable;
using revive::testing::FakeInterpreter;
using revive::testing::FakeWrapper;

using revive::PyObject;
using revive::Storage;
using revive::StorageImpl;
using revive::Tensor;
using revive::TensorImpl;
using revive::impl::PyInterpreter;
using revive::impl::PyInterpreterStatus;
using revive::impl::PyInterpreterVTable;

// Compile-time contracts.
static_assert(std::is_nothrow_default_constructible_v<Tensor> &&
                  std::is_nothrow_default_constructible_v<Storage>,
              "an undefined handle costs nothing");
static_assert(!std::is_convertible_v<revive::intrusive_ptr<TensorImpl>, Tensor>,
              "wrapping an impl into a handle is explicit");
static_assert(!std::is_copy_constructible_v<TensorImpl> &&
                  !std::is_copy_constructible_v<StorageImpl>,
              "targets are identity; handles are the values");

// Puts `slot` in state Z: tagged by `i`, recording `w`, owning it.
void make_zombie(revive::impl::PyObjectSlot* slot, FakeInterpreter& i, FakeWrapper& w) {
  slot->init_pyobj(&i.interp, w.get(), PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  slot->set_owns_pyobj(true);
}

// The text c10 uses when a count that reached zero is asked to rise again.
const char* const kReachedZero =
    "intrusive_ptr: Cannot increase refcount after it reached zero.";

}  // namespace

BOOST_FIXTURE_TEST_SUITE(tensor_impl, revive::testing::LeakCheck, *utf::label("refcount") *utf::label("slot"))

// The example in tensor_impl.h's header comment: set_grad makes C++ co-own the grad.
BOOST_AUTO_TEST_CASE(header_example_set_grad_makes_cpp_co_own_the_tensor) {
  Tensor y = Tensor::empty(2), x = Tensor::empty(2);
  y.set_grad(x);
  BOOST_TEST(x.use_count() == 2u);
  BOOST_TEST(y.grad().unsafeGetTensorImpl() == x.unsafeGetTensorImpl());
}

// Tensor::empty makes one TensorImpl over one fresh StorageImpl, and both die with it.
BOOST_AUTO_TEST_CASE(empty_makes_one_tensor_impl_and_one_storage_impl) {
  const std::int64_t tensors = TensorImpl::live_count();
  const std::int64_t storages = StorageImpl::live_count();
  Tensor t = Tensor::empty(3);
  BOOST_TEST(TensorImpl::live_count() == tensors + 1);
  BOOST_TEST(StorageImpl::live_count() == storages + 1);
  BOOST_TEST(t.defined());
  BOOST_TEST(t.use_count() == 1u);
  BOOST_TEST(t.numel() == 3);
  BOOST_TEST(t.storage().nbytes() == 3 * sizeof(float));
  BOOST_TEST(t.storage().use_count() == 2u);  // the tensor's and the copy returned here
  BOOST_TEST(t.unsafeGetTensorImpl() == t.getIntrusivePtr().get());
  t.reset();
  BOOST_TEST(!t.defined());
  BOOST_TEST(TensorImpl::live_count() == tensors);
  BOOST_TEST(StorageImpl::live_count() == storages);
}

// Each TensorImpl gets its own id.
BOOST_AUTO_TEST_CASE(tensor_ids_are_distinct) {
  Tensor a = Tensor::empty(1);
  Tensor b = Tensor::empty(1);
  BOOST_TEST(a.unsafeGetTensorImpl()->id() != b.unsafeGetTensorImpl()->id());
  BOOST_TEST(!(a == b));
  Tensor a2 = a;
  BOOST_TEST((a2 == a));
}

// from_storage views an existing storage: it adds a reference, not a StorageImpl.
BOOST_AUTO_TEST_CASE(from_storage_shares_the_storage) {
  Storage s = Storage::create(8);
  const std::int64_t storages = StorageImpl::live_count();
  {
    Tensor t = Tensor::from_storage(s, 2);
    BOOST_TEST(StorageImpl::live_count() == storages);
    BOOST_TEST(s.use_count() == 2u);
    BOOST_TEST(t.storage().unsafeGetStorageImpl() == s.unsafeGetStorageImpl());
    BOOST_TEST(t.numel() == 2);
  }
  BOOST_TEST(s.use_count() == 1u);
}

// A tensor needs a defined storage and a non-negative size; a refused tensor leaks nothing.
BOOST_AUTO_TEST_CASE(invalid_tensors_are_refused) {
  const std::int64_t tensors = TensorImpl::live_count();
  BOOST_CHECK_EXCEPTION(static_cast<void>(Tensor::from_storage(Storage(), 1)), revive::Error,
                        revive::testing::message_is("a tensor needs a defined storage"));
  BOOST_CHECK_EXCEPTION(static_cast<void>(Tensor::empty(-1)), revive::Error,
                        revive::testing::message_is("a tensor cannot have -1 elements"));
  Storage s = Storage::create(4);
  BOOST_CHECK_EXCEPTION(static_cast<void>(Tensor::from_storage(s, -2)), revive::Error,
                        revive::testing::message_is("a tensor cannot have -2 elements"));
  BOOST_TEST(s.use_count() == 1u);  // the refused TensorImpl gave its storage back
  BOOST_TEST(TensorImpl::live_count() == tensors);
}

// set_grad makes C++ co-own the grad (use_count 2) until the owner dies.
BOOST_AUTO_TEST_CASE(set_grad_co_owns_the_grad_until_the_owner_dies) {
  Tensor x = Tensor::empty(1);
  {
    Tensor y = Tensor::empty(1);
    y.set_grad(x);
    BOOST_TEST(x.use_count() == 2u);
    BOOST_TEST((y.grad() == x));
    BOOST_TEST(y.unsafeGetTensorImpl()->grad().get() == x.unsafeGetTensorImpl());
  }
  BOOST_TEST(x.use_count() == 1u);
}

// Replacing the grad releases the old one; an undefined grad clears it.
BOOST_AUTO_TEST_CASE(set_grad_releases_the_previous_grad) {
  Tensor y = Tensor::empty(1);
  Tensor first = Tensor::empty(1);
  Tensor second = Tensor::empty(1);
  y.set_grad(first);
  y.set_grad(second);
  BOOST_TEST(first.use_count() == 1u);
  BOOST_TEST(second.use_count() == 2u);
  y.set_grad(Tensor());
  BOOST_TEST(second.use_count() == 1u);
  BOOST_TEST(!y.grad().defined());
}

// A tensor cannot be its own grad (it would keep itself alive forever).
BOOST_AUTO_TEST_CASE(a_tensor_cannot_be_its_own_grad) {
  Tensor t = Tensor::empty(1);
  BOOST_CHECK_EXCEPTION(t.set_grad(t), revive::Error,
                        revive::testing::message_is("a tensor cannot be its own grad"));
  BOOST_TEST(!t.grad().defined());
  BOOST_TEST(t.use_count() == 1u);
}

// Every use of an undefined tensor raises, naming the method.
BOOST_AUTO_TEST_CASE(undefined_tensor_methods_throw) {
  Tensor u;
  BOOST_TEST(!u.defined());
  BOOST_TEST(u.use_count() == 0u);
  BOOST_TEST(u.unsafeGetTensorImpl() == nullptr);
  BOOST_CHECK_EXCEPTION(static_cast<void>(u.numel()), revive::Error,
                        revive::testing::message_is("numel() called on an undefined Tensor"));
  BOOST_CHECK_EXCEPTION(static_cast<void>(u.storage()), revive::Error,
                        revive::testing::message_is("storage() called on an undefined Tensor"));
  BOOST_CHECK_EXCEPTION(static_cast<void>(u.grad()), revive::Error,
                        revive::testing::message_is("grad() called on an undefined Tensor"));
  Tensor g = Tensor::empty(1);
  BOOST_CHECK_EXCEPTION(u.set_grad(g), revive::Error,
                        revive::testing::message_is("set_grad() called on an undefined Tensor"));
  BOOST_TEST(g.use_count() == 1u);
}

// Dying with a weak reference outstanding: release_resources() gives back storage and
// grad at once, and the TensorImpl's memory waits for the weak reference.
BOOST_AUTO_TEST_CASE(weak_reference_keeps_the_impl_but_not_its_resources) {
  const std::int64_t tensors = TensorImpl::live_count();
  Storage s = Storage::create(4);
  Tensor g = Tensor::empty(1);
  Tensor t = Tensor::from_storage(s, 1);
  t.set_grad(g);
  revive::weak_intrusive_ptr<TensorImpl> weak(t.getIntrusivePtr());
  BOOST_TEST(s.use_count() == 2u);
  BOOST_TEST(g.use_count() == 2u);
  t.reset();
  BOOST_TEST(s.use_count() == 1u);
  BOOST_TEST(g.use_count() == 1u);
  BOOST_TEST(TensorImpl::live_count() == tensors + 2);  // g and the released t
  BOOST_TEST(!weak.lock());
  weak.reset();
  BOOST_TEST(TensorImpl::live_count() == tensors + 1);  // only g
}

// A slot that owns its wrapper (Z) gives it back exactly once when the tensor dies with
// no weak reference: the destructor path (~PyObjectSlot).
BOOST_AUTO_TEST_CASE(owned_wrapper_is_decrefed_once_on_the_destructor_path) {
  FakeInterpreter i("interp-0");
  FakeWrapper w;
  Tensor t = Tensor::empty(1);
  make_zombie(t.unsafeGetTensorImpl()->pyobj_slot(), i, w);
  BOOST_TEST(t.unsafeGetTensorImpl()->pyobj_slot()->owns_pyobj());
  t.reset();
  BOOST_TEST_REQUIRE(i.vtable.decrefs().size() == 1u);
  BOOST_TEST(i.vtable.decrefs()[0].pyobj == w.get());
  BOOST_TEST(i.vtable.decrefs()[0].has_pyobj_slot);
}

// With a weak reference alive, the wrapper is given back by release_resources() when
// the strong count reaches 0, and nothing more at the final deletion.
BOOST_AUTO_TEST_CASE(owned_wrapper_is_decrefed_once_on_the_release_resources_path) {
  FakeInterpreter i("interp-0");
  FakeWrapper w;
  Tensor t = Tensor::empty(1);
  TensorImpl* impl = t.unsafeGetTensorImpl();
  make_zombie(impl->pyobj_slot(), i, w);
  revive::weak_intrusive_ptr<TensorImpl> weak(t.getIntrusivePtr());
  t.reset();
  BOOST_TEST_REQUIRE(i.vtable.decrefs().size() == 1u);
  BOOST_TEST(i.vtable.decrefs()[0].pyobj == w.get());
  BOOST_TEST(i.vtable.decrefs()[0].has_pyobj_slot);
  BOOST_TEST(!impl->pyobj_slot()->owns_pyobj());   // memory still alive through `weak`
  BOOST_TEST(impl->pyobj_slot()->pyobj_interpreter() == &i.interp);
  weak.reset();  // ~TensorImpl, ~PyObjectSlot: the slot already forgot the wrapper
  BOOST_TEST(i.vtable.decrefs().size() == 1u);
}

// A wrapper the slot does not own (L: the wrapper owns the tensor) is never decrefed by
// the tensor's death, on either path.
BOOST_AUTO_TEST_CASE(wrapper_not_owned_is_left_alone_at_death) {
  FakeInterpreter i("interp-0");
  FakeWrapper w1;
  FakeWrapper w2;
  Tensor a = Tensor::empty(1);
  a.unsafeGetTensorImpl()->pyobj_slot()->init_pyobj(&i.interp, w1.get(),
                                                    PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  a.reset();
  Tensor b = Tensor::empty(1);
  b.unsafeGetTensorImpl()->pyobj_slot()->init_pyobj(&i.interp, w2.get(),
                                                    PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
  revive::weak_intrusive_ptr<TensorImpl> weak(b.getIntrusivePtr());
  b.reset();
  weak.reset();
  BOOST_TEST(i.vtable.decrefs().empty());
}

// Which goes first depends on the path, as in c10 (Note [Two counts and
// release_resources]): without a weak reference the destructor gives the wrapper back
// first (pyobj_slot_ is destroyed before the other members), while storage and grad
// are still intact; with one, release_resources() drops the grad, then the storage,
// then gives the wrapper back.
BOOST_AUTO_TEST_CASE(the_path_decides_whether_the_wrapper_goes_first_or_last) {
  for (const bool with_weak : {false, true}) {
    BOOST_TEST_CONTEXT("with a weak reference: " << with_weak) {
      FakeInterpreter i("interp-0");
      FakeWrapper w;
      Tensor g = Tensor::empty(1);
      Tensor t = Tensor::empty(1);
      t.set_grad(g);
      TensorImpl* impl = t.unsafeGetTensorImpl();
      make_zombie(impl->pyobj_slot(), i, w);
      bool storage_defined = false;
      std::uint32_t grad_count = 0;
      i.vtable.on_decref = [&] {
        storage_defined = impl->storage().defined();
        grad_count = g.use_count();
      };
      revive::weak_intrusive_ptr<TensorImpl> weak;
      if (with_weak) weak = revive::weak_intrusive_ptr<TensorImpl>(t.getIntrusivePtr());
      t.reset();
      BOOST_TEST(i.vtable.decrefs().size() == 1u);  // at strong 0 on both paths
      weak.reset();
      BOOST_TEST(i.vtable.decrefs().size() == 1u);
      BOOST_TEST(storage_defined == !with_weak);
      BOOST_TEST(grad_count == (with_weak ? 1u : 2u));  // the dying tensor's grad: gone, or held
      BOOST_TEST(g.use_count() == 1u);
    }
  }
}

// Borrowed -> owned through Tensor::unsafe_reclaim_from_nonowning, refused once the
// strong count reached zero.
BOOST_AUTO_TEST_CASE(unsafe_reclaim_from_nonowning_refuses_a_dying_tensor) {
  Tensor t = Tensor::empty(1);
  TensorImpl* raw = t.unsafeGetTensorImpl();
  Tensor again = Tensor::unsafe_reclaim_from_nonowning(raw);
  BOOST_TEST(t.use_count() == 2u);
  again.reset();
  revive::weak_intrusive_ptr<TensorImpl> keep_memory(t.getIntrusivePtr());
  t.reset();
  BOOST_CHECK_EXCEPTION(static_cast<void>(Tensor::unsafe_reclaim_from_nonowning(raw)),
                        revive::Error, revive::testing::message_is(kReachedZero));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(storage_impl, revive::testing::LeakCheck, *utf::label("refcount") *utf::label("slot"))

// The example in storage_impl.h's header comment: share_data aliases the bytes with a
// new StorageImpl.  (The comment writes `alias.get() != s.get()`; Storage spells it
// unsafeGetStorageImpl().)
BOOST_AUTO_TEST_CASE(header_example_share_data_makes_a_new_impl_over_the_same_bytes) {
  const std::int64_t storages = StorageImpl::live_count();
  Storage s = Storage::create(16);
  BOOST_TEST(StorageImpl::live_count() == storages + 1);
  Storage alias = s.share_data();
  BOOST_TEST(StorageImpl::live_count() == storages + 2);
  BOOST_TEST(alias.data() == s.data());
  BOOST_TEST(alias.unsafeGetStorageImpl() != s.unsafeGetStorageImpl());
  BOOST_TEST(alias.unsafeGetStorageImpl()->data() == s.unsafeGetStorageImpl()->data());
  BOOST_TEST(alias.use_count() == 1u);
  BOOST_TEST(s.use_count() == 1u);
}

// create makes one StorageImpl of nbytes zero bytes, gone with its last reference.
BOOST_AUTO_TEST_CASE(create_makes_zeroed_bytes_with_strong_count_one) {
  const std::int64_t storages = StorageImpl::live_count();
  Storage s = Storage::create(5);
  BOOST_TEST(s.defined());
  BOOST_TEST(s.use_count() == 1u);
  BOOST_TEST(s.nbytes() == 5u);
  BOOST_TEST(s.unsafeGetStorageImpl()->nbytes() == 5u);
  const auto is_zero = [](std::byte b) { return b == std::byte{0}; };
  BOOST_TEST(std::all_of(s.data(), s.data() + s.nbytes(), is_zero));
  BOOST_TEST(s.unsafeGetStorageImpl() == s.getIntrusivePtr().get());
  s.reset();
  BOOST_TEST(!s.defined());
  BOOST_TEST(StorageImpl::live_count() == storages);
}

// Each StorageImpl gets its own id, aliases included.
BOOST_AUTO_TEST_CASE(storage_ids_are_distinct) {
  Storage a = Storage::create(1);
  Storage b = a.share_data();
  BOOST_TEST(a.unsafeGetStorageImpl()->id() != b.unsafeGetStorageImpl()->id());
}

// The data block is shared, not owned: an alias keeps the bytes alive after the
// original StorageImpl died.
BOOST_AUTO_TEST_CASE(share_data_keeps_the_bytes_alive_after_the_original_dies) {
  const std::int64_t storages = StorageImpl::live_count();
  Storage s = Storage::create(8);
  const std::byte* bytes = s.data();
  Storage alias = s.share_data();
  BOOST_TEST(s.unsafeGetStorageImpl()->data().use_count() == 2);
  s.reset();
  BOOST_TEST(StorageImpl::live_count() == storages + 1);
  BOOST_TEST(alias.data() == bytes);
  BOOST_TEST(alias.nbytes() == 8u);
  BOOST_TEST(alias.unsafeGetStorageImpl()->data().use_count() == 1);
}

// Every use of an undefined storage raises, naming the method.
BOOST_AUTO_TEST_CASE(undefined_storage_methods_throw) {
  Storage u;
  BOOST_TEST(!u.defined());
  BOOST_TEST(u.use_count() == 0u);
  BOOST_CHECK_EXCEPTION(static_cast<void>(u.share_data()), revive::Error,
                        revive::testing::message_is("share_data() on an undefined storage"));
  BOOST_CHECK_EXCEPTION(static_cast<void>(u.data()), revive::Error,
                        revive::testing::message_is("data() on an undefined storage"));
  BOOST_CHECK_EXCEPTION(static_cast<void>(u.nbytes()), revive::Error,
                        revive::testing::message_is("nbytes() on an undefined storage"));
}

// A StorageImpl needs a data block; a refused one leaks nothing.
BOOST_AUTO_TEST_CASE(storage_impl_without_a_data_block_is_refused) {
  const std::int64_t storages = StorageImpl::live_count();
  BOOST_CHECK_EXCEPTION(static_cast<void>(revive::make_intrusive<StorageImpl>(nullptr)),
                        revive::Error,
                        revive::testing::message_is("a StorageImpl needs a data block"));
  BOOST_TEST(StorageImpl::live_count() == storages);
}

// A storage slot that owns its wrapper gives it back exactly once at death with no weak
// reference (the destructor path).
BOOST_AUTO_TEST_CASE(owned_wrapper_is_decrefed_once_on_the_destructor_path) {
  FakeInterpreter i("interp-0");
  FakeWrapper w;
  Storage s = Storage::create(4);
  make_zombie(s.unsafeGetStorageImpl()->pyobj_slot(), i, w);
  s.reset();
  BOOST_TEST_REQUIRE(i.vtable.decrefs().size() == 1u);
  BOOST_TEST(i.vtable.decrefs()[0].pyobj == w.get());
  BOOST_TEST(i.vtable.decrefs()[0].has_pyobj_slot);
}

// The example of death_watch.h: a watch holds no reference, so the target dies as it
// would unwatched, and the watch sees the destructor.
BOOST_AUTO_TEST_CASE(death_watch_sees_the_destructor) {
  Tensor t = Tensor::empty(1);
  revive::DeathWatch watch(t.unsafeGetTensorImpl());
  BOOST_TEST(watch.alive());
  BOOST_TEST(t.unsafeGetTensorImpl()->weakcount() == 1u);  // no weak reference taken
  t.reset();
  BOOST_TEST(!watch.alive());
}

// With a weak reference alive, a storage's release_resources() frees only its bytes
// (c10's StorageImpl): the zombie wrapper is given back at the last weak release, by
// the slot's destructor, once.
BOOST_AUTO_TEST_CASE(owned_wrapper_waits_for_the_last_weak_reference) {
  FakeInterpreter i("interp-0");
  FakeWrapper w;
  Storage s = Storage::create(4);
  StorageImpl* impl = s.unsafeGetStorageImpl();
  make_zombie(impl->pyobj_slot(), i, w);
  revive::weak_intrusive_ptr<StorageImpl> weak(s.getIntrusivePtr());
  s.reset();
  BOOST_TEST(i.vtable.decrefs().empty());
  BOOST_TEST(impl->nbytes() == 0u);  // the bytes are gone, the object is still in memory
  BOOST_TEST(impl->pyobj_slot()->owns_pyobj());
  weak.reset();
  BOOST_TEST_REQUIRE(i.vtable.decrefs().size() == 1u);
  BOOST_TEST(i.vtable.decrefs()[0].pyobj == w.get());
  BOOST_TEST(i.vtable.decrefs()[0].has_pyobj_slot);
}

// A tensor's death releases its storage, and a zombie wrapper on each is given back
// once (two slots, two decrefs, through the same interpreter).
BOOST_AUTO_TEST_CASE(tensor_death_releases_both_zombie_wrappers_once) {
  FakeInterpreter i("interp-0");
  FakeWrapper tensor_wrapper;
  FakeWrapper storage_wrapper;
  Tensor t = Tensor::empty(2);
  make_zombie(t.unsafeGetTensorImpl()->pyobj_slot(), i, tensor_wrapper);
  make_zombie(t.storage().unsafeGetStorageImpl()->pyobj_slot(), i, storage_wrapper);
  t.reset();
  BOOST_TEST_REQUIRE(i.vtable.decrefs().size() == 2u);
  BOOST_TEST(i.vtable.decrefs()[0].pyobj == tensor_wrapper.get());  // the tensor's slot first
  BOOST_TEST(i.vtable.decrefs()[1].pyobj == storage_wrapper.get());
}

// Borrowed -> owned through Storage::unsafe_reclaim_from_nonowning, refused once the
// strong count reached zero.
BOOST_AUTO_TEST_CASE(unsafe_reclaim_from_nonowning_refuses_a_dying_storage) {
  Storage s = Storage::create(1);
  StorageImpl* raw = s.unsafeGetStorageImpl();
  Storage again = Storage::unsafe_reclaim_from_nonowning(raw);
  BOOST_TEST(s.use_count() == 2u);
  again.reset();
  revive::weak_intrusive_ptr<StorageImpl> keep_memory(s.getIntrusivePtr());
  s.reset();
  BOOST_CHECK_EXCEPTION(static_cast<void>(Storage::unsafe_reclaim_from_nonowning(raw)),
                        revive::Error, revive::testing::message_is(kReachedZero));
}

// The header example of live_count.h: every preserved type's counter is registered,
// and a tensor with its storage leaves the total as it found it.
BOOST_AUTO_TEST_CASE(live_counts_cover_every_type) {
  const auto before = revive::LiveCount::total();
  {
    Tensor t = Tensor::empty(2);  // a TensorImpl and a StorageImpl
    BOOST_TEST(revive::LiveCount::total() == before + 2);
  }
  BOOST_TEST(revive::LiveCount::total() == before);
  BOOST_TEST(revive::LiveCount::of("TensorImpl") != nullptr);
  BOOST_TEST(revive::LiveCount::of("StorageImpl") != nullptr);
  BOOST_TEST(revive::LiveCount::of("NoSuchImpl") == nullptr);
}

BOOST_AUTO_TEST_SUITE_END()
