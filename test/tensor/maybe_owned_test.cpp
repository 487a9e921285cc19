// Tests for revive/tensor/maybe_owned.h: a wrapper's cdata, owned (counts 1) or borrowed
// (counts nothing), and the checked way back from borrowed to owned.
#include <cstdint>
#include <type_traits>
#include <utility>

#include "revive/tensor/intrusive_ptr.h"
#include "revive/tensor/maybe_owned.h"
#include "revive/tensor/storage_impl.h"
#include "revive/tensor/tensor_impl.h"
#include "revive_test.h"

namespace {

using revive::MaybeOwned;
using revive::Storage;
using revive::StorageImpl;
using revive::Tensor;
using revive::TensorImpl;

// Compile-time contracts: a cdata has one holder, and moving it never throws (a wrapper's
// dealloc moves it).
static_assert(!std::is_copy_constructible_v<MaybeOwned<Tensor>> &&
                  !std::is_copy_assignable_v<MaybeOwned<Tensor>>,
              "copying would duplicate an owned reference or a borrow");
static_assert(std::is_nothrow_move_constructible_v<MaybeOwned<Tensor>> &&
                  std::is_nothrow_move_assignable_v<MaybeOwned<Tensor>>);
static_assert(std::is_same_v<MaybeOwned<Tensor>::Impl, TensorImpl> &&
                  std::is_same_v<MaybeOwned<Storage>::Impl, StorageImpl>);

// The text c10 uses when a count that reached zero is asked to rise again.
const char* const kReachedZero =
    "intrusive_ptr: Cannot increase refcount after it reached zero.";

}  // namespace

BOOST_FIXTURE_TEST_SUITE(maybe_owned, revive::testing::LeakCheck, *utf::label("refcount"))

// The example in maybe_owned.h's header comment.
BOOST_AUTO_TEST_CASE(header_example_borrow_then_own) {
  Tensor t = Tensor::empty(1);
  auto b = MaybeOwned<Tensor>::borrowed(t.unsafeGetTensorImpl());
  BOOST_TEST(t.use_count() == 1u);
  BOOST_TEST(b.unsafeIsBorrowed());
  Tensor again = b.to_owned();
  BOOST_TEST(t.use_count() == 2u);
}

// A default MaybeOwned is owned and undefined; to_owned() gives an undefined tensor.
BOOST_AUTO_TEST_CASE(default_is_an_owned_undefined_handle) {
  MaybeOwned<Tensor> m;
  BOOST_TEST(!m.unsafeIsBorrowed());
  BOOST_TEST(!m.defined());
  BOOST_TEST(m.get() == nullptr);
  BOOST_TEST(!m.to_owned().defined());
}

// An owned handle counts 1 in the strong count, and gives it back when it dies.
BOOST_AUTO_TEST_CASE(owned_handle_counts_one) {
  Tensor t = Tensor::empty(1);
  {
    auto m = MaybeOwned<Tensor>::owned(t);
    BOOST_TEST(t.use_count() == 2u);
    BOOST_TEST(!m.unsafeIsBorrowed());
    BOOST_TEST(m.defined());
    BOOST_TEST(m.get() == t.unsafeGetTensorImpl());
  }
  BOOST_TEST(t.use_count() == 1u);
}

// An owned handle adopts a moved-in tensor and is then its only owner: its death
// destroys the tensor.
BOOST_AUTO_TEST_CASE(owned_handle_can_be_the_only_owner) {
  const std::int64_t tensors = TensorImpl::live_count();
  {
    auto m = MaybeOwned<Tensor>::owned(Tensor::empty(1));
    BOOST_TEST(m.get()->refcount() == 1u);
    BOOST_TEST(TensorImpl::live_count() == tensors + 1);
  }
  BOOST_TEST(TensorImpl::live_count() == tensors);
}

// A borrowed handle counts nothing: neither making nor dropping it touches the count.
BOOST_AUTO_TEST_CASE(borrowed_handle_counts_nothing) {
  Tensor t = Tensor::empty(1);
  {
    auto m = MaybeOwned<Tensor>::borrowed(t.unsafeGetTensorImpl());
    BOOST_TEST(t.use_count() == 1u);
    BOOST_TEST(m.unsafeIsBorrowed());
    BOOST_TEST(m.defined());
    BOOST_TEST(m.get() == t.unsafeGetTensorImpl());
  }
  BOOST_TEST(t.use_count() == 1u);
}

// to_owned() on a borrowed handle increments; on an owned one it copies.  Either way the
// result is a new owner of the same object.
BOOST_AUTO_TEST_CASE(to_owned_makes_a_new_owner) {
  Tensor t = Tensor::empty(1);
  auto b = MaybeOwned<Tensor>::borrowed(t.unsafeGetTensorImpl());
  auto o = MaybeOwned<Tensor>::owned(t);
  BOOST_TEST(t.use_count() == 2u);
  {
    Tensor from_borrowed = b.to_owned();
    BOOST_TEST(t.use_count() == 3u);
    Tensor from_owned = o.to_owned();
    BOOST_TEST(t.use_count() == 4u);
    BOOST_TEST((from_borrowed == t));
    BOOST_TEST((from_owned == t));
  }
  BOOST_TEST(t.use_count() == 2u);
  BOOST_TEST(b.unsafeIsBorrowed());  // to_owned() leaves the handle as it was
  BOOST_TEST(!o.unsafeIsBorrowed());
}

// to_owned() on a borrowed pointer whose object reached strong 0 (its memory kept by a
// weak reference) throws instead of reviving it.
BOOST_AUTO_TEST_CASE(to_owned_on_a_borrowed_dying_tensor_throws) {
  Tensor t = Tensor::empty(1);
  revive::weak_intrusive_ptr<TensorImpl> keep_memory(t.getIntrusivePtr());
  auto b = MaybeOwned<Tensor>::borrowed(t.unsafeGetTensorImpl());
  t.reset();
  BOOST_CHECK_EXCEPTION(static_cast<void>(b.to_owned()), revive::Error,
                        revive::testing::message_is(kReachedZero));
  BOOST_TEST(b.get()->refcount() == 0u);
}

// take_owned() moves the owned tensor out without touching the count, leaving the
// handle owned and undefined.
BOOST_AUTO_TEST_CASE(take_owned_moves_the_reference_out) {
  Tensor t = Tensor::empty(1);
  auto m = MaybeOwned<Tensor>::owned(t);
  Tensor taken = m.take_owned();
  BOOST_TEST(t.use_count() == 2u);
  BOOST_TEST((taken == t));
  BOOST_TEST(!m.defined());
  BOOST_TEST(!m.unsafeIsBorrowed());
}

// Move construction carries the borrow (or the ownership) over and leaves the source
// owned and undefined.
BOOST_AUTO_TEST_CASE(move_construction_carries_the_state_over) {
  Tensor t = Tensor::empty(1);
  auto b = MaybeOwned<Tensor>::borrowed(t.unsafeGetTensorImpl());
  MaybeOwned<Tensor> b2(std::move(b));
  BOOST_TEST(b2.unsafeIsBorrowed());
  BOOST_TEST(b2.get() == t.unsafeGetTensorImpl());
  BOOST_TEST(!b.unsafeIsBorrowed());  // NOLINT(bugprone-use-after-move): checked on purpose
  BOOST_TEST(!b.defined());
  BOOST_TEST(t.use_count() == 1u);

  auto o = MaybeOwned<Tensor>::owned(t);
  MaybeOwned<Tensor> o2(std::move(o));
  BOOST_TEST(t.use_count() == 2u);  // moved, not copied
  BOOST_TEST(!o2.unsafeIsBorrowed());
  BOOST_TEST(o2.get() == t.unsafeGetTensorImpl());
  BOOST_TEST(!o.defined());  // NOLINT(bugprone-use-after-move)
}

// Move assignment releases the old owned value at once and takes over the new one.
BOOST_AUTO_TEST_CASE(move_assignment_releases_the_old_owned_value) {
  Tensor first = Tensor::empty(1);
  Tensor second = Tensor::empty(1);
  auto a = MaybeOwned<Tensor>::owned(first);
  auto b = MaybeOwned<Tensor>::owned(second);
  a = std::move(b);
  BOOST_TEST(first.use_count() == 1u);
  BOOST_TEST(second.use_count() == 2u);
  BOOST_TEST(a.get() == second.unsafeGetTensorImpl());
  BOOST_TEST(!b.defined());  // NOLINT(bugprone-use-after-move)
  BOOST_TEST(!b.unsafeIsBorrowed());
}

// Move assignment between borrowed and owned states: replacing an owned value by a
// borrow releases it, replacing a borrow by an owned value touches no other count.
BOOST_AUTO_TEST_CASE(move_assignment_switches_between_owned_and_borrowed) {
  Tensor owned_t = Tensor::empty(1);
  Tensor borrowed_t = Tensor::empty(1);
  auto m = MaybeOwned<Tensor>::owned(owned_t);
  m = MaybeOwned<Tensor>::borrowed(borrowed_t.unsafeGetTensorImpl());
  BOOST_TEST(owned_t.use_count() == 1u);
  BOOST_TEST(borrowed_t.use_count() == 1u);
  BOOST_TEST(m.unsafeIsBorrowed());
  BOOST_TEST(m.get() == borrowed_t.unsafeGetTensorImpl());
  m = MaybeOwned<Tensor>::owned(owned_t);
  BOOST_TEST(!m.unsafeIsBorrowed());
  BOOST_TEST(owned_t.use_count() == 2u);
  BOOST_TEST(borrowed_t.use_count() == 1u);
  m = MaybeOwned<Tensor>();
  BOOST_TEST(owned_t.use_count() == 1u);
}

// Self move assignment keeps the value and the count.
BOOST_AUTO_TEST_CASE(self_move_assignment_keeps_the_value) {
  Tensor t = Tensor::empty(1);
  auto m = MaybeOwned<Tensor>::owned(t);
  MaybeOwned<Tensor>& alias = m;
  m = std::move(alias);
  BOOST_TEST(t.use_count() == 2u);
  BOOST_TEST(m.get() == t.unsafeGetTensorImpl());
  BOOST_TEST(!m.unsafeIsBorrowed());
}

// The same contract holds for storages (a storage wrapper's cdata).
BOOST_AUTO_TEST_CASE(storage_handles_follow_the_same_rules) {
  Storage s = Storage::create(4);
  auto b = MaybeOwned<Storage>::borrowed(s.unsafeGetStorageImpl());
  BOOST_TEST(s.use_count() == 1u);
  {
    Storage owned = b.to_owned();
    BOOST_TEST(s.use_count() == 2u);
  }
  auto o = MaybeOwned<Storage>::owned(s);
  BOOST_TEST(s.use_count() == 2u);
  revive::weak_intrusive_ptr<StorageImpl> keep_memory(s.getIntrusivePtr());
  o = MaybeOwned<Storage>();
  s.reset();
  BOOST_CHECK_EXCEPTION(static_cast<void>(b.to_owned()), revive::Error,
                        revive::testing::message_is(kReachedZero));
}

BOOST_AUTO_TEST_SUITE_END()
