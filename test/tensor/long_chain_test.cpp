// Tests for Note [Releasing a long chain in bounded stack] (tensor/src/intrusive_ptr.cpp):
// a chain of 10^6 tensors, each owning the next through its grad, is released on a
// thread whose whole stack is 256 KiB, on both paths of Note [Two counts and
// release_resources] and with every tensor owning a zombie wrapper.  Without the rule,
// each of these overflows the stack (a release nests once per link).
//
// REVIVE_CHAIN_LENGTH shortens the chains (the valgrind run: 10^5).
#include <pthread.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "fake_interpreter.h"
#include "revive/tensor/intrusive_ptr.h"
#include "revive/tensor/storage_impl.h"
#include "revive/tensor/tensor_impl.h"
#include "revive_test.h"
#include "small_stack.h"

namespace {

using revive::Storage;
using revive::Tensor;
using revive::TensorImpl;
using revive::testing::FakeInterpreter;
using revive::testing::chain_length;
using revive::testing::kSmallStack;
using revive::testing::on_small_stack;
using revive::testing::FakeWrapper;




// n tensors over one storage, each the grad of the next: the last one returned owns
// all the others (building it nests nothing).
Tensor grad_chain(std::size_t n, const Storage& storage) {
  Tensor head = Tensor::from_storage(storage, 1);
  for (std::size_t i = 1; i < n; ++i) {
    Tensor t = Tensor::from_storage(storage, 1);
    t.set_grad(head);
    head = std::move(t);
  }
  return head;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(long_chain, revive::testing::LeakCheck, *utf::label("refcount") *utf::label("bounded-stack"))

// Weak count 1 everywhere: each tensor is deleted at once, its destructor letting the
// grad go.
BOOST_AUTO_TEST_CASE(a_chain_through_grads_is_released_in_bounded_stack_by_destructors) {
  const std::int64_t before = TensorImpl::live_count();
  const std::size_t n = chain_length();
  Storage storage = Storage::create(4);
  Tensor head = grad_chain(n, storage);
  BOOST_TEST(TensorImpl::live_count() - before == static_cast<std::int64_t>(n));
  on_small_stack(kSmallStack, [&] { head.reset(); });
  // Complete when the outermost release returned: nothing is left for later.
  BOOST_TEST(TensorImpl::live_count() == before);
  BOOST_TEST(storage.use_count() == 1u);
}

// A weak reference to every tensor: each gives up what it owns in release_resources
// (the other path), and its memory goes with the weak reference.
BOOST_AUTO_TEST_CASE(a_chain_through_grads_is_released_in_bounded_stack_by_release_resources) {
  const std::int64_t before = TensorImpl::live_count();
  const std::size_t n = chain_length();
  Storage storage = Storage::create(4);
  Tensor head = grad_chain(n, storage);
  std::vector<revive::weak_intrusive_ptr<TensorImpl>> weak;
  weak.reserve(n);
  for (revive::intrusive_ptr<TensorImpl> t = head.getIntrusivePtr(); t; t = t->grad()) weak.emplace_back(t);
  BOOST_TEST(weak.size() == n);
  on_small_stack(kSmallStack, [&] { head.reset(); });
  BOOST_TEST(storage.use_count() == 1u);  // every tensor let its storage go
  std::size_t expired = 0;
  for (const auto& w : weak) expired += w.lock() ? 0 : 1;
  BOOST_TEST(expired == n);
  weak.clear();
  BOOST_TEST(TensorImpl::live_count() == before);
}

// Every tensor's slot owns a wrapper (state Z): each is given back exactly once, all of
// them while the outermost release runs.
BOOST_AUTO_TEST_CASE(a_chain_of_zombies_gives_every_wrapper_back_once_in_bounded_stack) {
  const std::size_t n = chain_length();
  FakeInterpreter i("I0");
  std::vector<FakeWrapper> wrappers(n);
  Storage storage = Storage::create(4);
  Tensor head;
  for (std::size_t k = 0; k < n; ++k) {
    Tensor t = Tensor::from_storage(storage, 1);
    if (head.defined()) t.set_grad(head);
    revive::impl::PyObjectSlot* slot = t.unsafeGetTensorImpl()->pyobj_slot();
    slot->init_pyobj(&i.interp, wrappers[k].get(), revive::impl::PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
    slot->set_owns_pyobj(true);
    head = std::move(t);
  }
  on_small_stack(kSmallStack, [&] { head.reset(); });
  const auto& decrefs = i.vtable.decrefs();
  BOOST_TEST(decrefs.size() == n);
  std::set<revive::PyObject*> given_back;
  for (const auto& call : decrefs) given_back.insert(call.pyobj);
  BOOST_TEST(given_back.size() == n);
}

// Below the unwind depth nothing is deferred: c10's order holds, the grad's wrapper is
// given back before its owner's.
BOOST_AUTO_TEST_CASE(a_short_chain_keeps_the_grad_first_order) {
  FakeInterpreter i("I0");
  FakeWrapper owner_w, grad_w;
  Tensor owner = Tensor::empty(1), grad = Tensor::empty(1);
  owner.set_grad(grad);
  for (auto [t, w] : {std::pair{&owner, &owner_w}, std::pair{&grad, &grad_w}}) {
    revive::impl::PyObjectSlot* slot = t->unsafeGetTensorImpl()->pyobj_slot();
    slot->init_pyobj(&i.interp, w->get(), revive::impl::PyInterpreterStatus::DEFINITELY_UNINITIALIZED);
    slot->set_owns_pyobj(true);
  }
  grad.reset();
  // Through release_resources (a weak reference exists), which lets the grad go first.
  revive::weak_intrusive_ptr<TensorImpl> weak(owner.getIntrusivePtr());
  owner.reset();
  const auto& decrefs = i.vtable.decrefs();
  BOOST_TEST_REQUIRE(decrefs.size() == 2u);
  BOOST_TEST(decrefs[0].pyobj == grad_w.get());
  BOOST_TEST(decrefs[1].pyobj == owner_w.get());
}

BOOST_AUTO_TEST_SUITE_END()
