#include "revive/pyslot/move_out.h"
#include "revive/tensor/autograd.h"
#include "revive/tensor/tensor_impl.h"

#include <cstdint>

namespace revive {
namespace {
// Never destroyed: see live_count.h.
LiveCount& liveTensors = *new LiveCount(TensorImpl::kTypeName);
std::atomic<std::uint64_t> nextTensorId{1};

[[noreturn]] void undefined_use(const char* what) {
  throw Error(detail::str_cat(what, "() called on an undefined Tensor"));
}
}  // namespace

TensorImpl::TensorImpl(Storage storage, std::int64_t numel)
    : id_(nextTensorId.fetch_add(1, std::memory_order_relaxed)),
      numel_(numel),
      storage_(std::move(storage)) {
  REVIVE_CHECK(numel >= 0, "a tensor cannot have ", numel, " elements");
  liveTensors.increment();
}

TensorImpl::~TensorImpl() { liveTensors.decrement(); }

std::int64_t TensorImpl::live_count() noexcept {
  return liveTensors.get();
}

void TensorImpl::set_grad(intrusive_ptr<TensorImpl> g) {
  // A tensor owning itself would never die: refuse the cycle here, not only in Tensor.
  REVIVE_CHECK(g.get() != this, "a tensor cannot be its own grad");
  // Dropping the old grad may run arbitrary code (its zombie wrapper's finalizer) that
  // must see a consistent `this`: See Note [Move out, then drop].
  intrusive_ptr<TensorImpl> old = replace(grad_, std::move(g));
  old.reset();
}

autograd::AutogradMeta& TensorImpl::materialize_autograd_meta() {
  if (!autograd_meta_) autograd_meta_ = std::make_unique<autograd::AutogradMeta>();
  return *autograd_meta_;
}

void TensorImpl::release_resources() {
  // c10's order: autograd metadata (the grad, then grad_fn and hooks), then the storage,
  // then the wrapper.  So a
  // zombie grad's __del__ runs before this tensor's, and this tensor's __del__ finds its
  // grad and storage already gone.  See Note [Two counts and release_resources].
  // (The destructor, at weak count 0 without release_resources, gives the wrapper back
  // first: pyobj_slot_ is destroyed before the other members.)
  // A release may run a finalizer that reads this tensor: See Note [Move out, then drop].
  drop(grad_);
  drop(autograd_meta_);  // grad_fn (and through it the graph), hooks
  drop(storage_);
  pyobj_slot_.maybe_destroy_pyobj();
  pyobj_slot_.target_died();
}

Tensor Tensor::empty(std::int64_t numel) {
  REVIVE_CHECK(numel >= 0, "a tensor cannot have ", numel, " elements");
  REVIVE_CHECK(static_cast<std::uint64_t>(numel) <= SIZE_MAX / sizeof(float),
               "Storage size calculation overflowed with sizes=[", numel, "]");
  return from_storage(Storage::create(static_cast<std::size_t>(numel) * sizeof(float)), numel);
}

Tensor Tensor::from_storage(Storage storage, std::int64_t numel) {
  REVIVE_CHECK(storage.defined(), "a tensor needs a defined storage");
  return Tensor(make_intrusive<TensorImpl>(std::move(storage), numel));
}

std::int64_t Tensor::numel() const {
  if (!defined()) undefined_use("numel");
  return impl_->numel();
}

Storage Tensor::storage() const {
  if (!defined()) undefined_use("storage");
  return impl_->storage();
}

Tensor Tensor::grad() const {
  if (!defined()) undefined_use("grad");
  return Tensor(impl_->grad());
}

void Tensor::set_grad(Tensor g) const {
  if (!defined()) undefined_use("set_grad");
  REVIVE_CHECK(g.unsafeGetTensorImpl() != impl_.get(), "a tensor cannot be its own grad");
  impl_->set_grad(intrusive_ptr<TensorImpl>(g.getIntrusivePtr()));
}

bool Tensor::requires_grad() const {
  if (!defined()) undefined_use("requires_grad");
  const autograd::AutogradMeta* meta = impl_->autograd_meta();
  return meta != nullptr && (meta->requires_grad || meta->grad_fn.defined());
}

void Tensor::set_requires_grad(bool requires_grad) const {
  if (!defined()) undefined_use("set_requires_grad");
  // THPVariable_set_requires_grad's text, for a non-leaf asked to stop.
  REVIVE_CHECK(is_leaf() || requires_grad,
               "you can only change requires_grad flags of leaf variables. If you want to use a "
               "computed variable in a subgraph that doesn't require differentiation use "
               "var_no_grad = var.detach().");
  if (!is_leaf()) return;
  impl_->materialize_autograd_meta().requires_grad = requires_grad;
}

bool Tensor::is_leaf() const {
  if (!defined()) undefined_use("is_leaf");
  const autograd::AutogradMeta* meta = impl_->autograd_meta();
  return meta == nullptr || !meta->grad_fn.defined();
}

autograd::NodeHandle Tensor::grad_fn() const {
  if (!defined()) undefined_use("grad_fn");
  const autograd::AutogradMeta* meta = impl_->autograd_meta();
  return meta == nullptr ? autograd::NodeHandle() : meta->grad_fn;
}

// Era E4's hooks: See Note [The has-PyObject bit].  A vtable that throws here (an
// interpreter without E4) would be a bug of the binding: the hooks cannot report it.
void TensorImpl::incref_pyobject() const noexcept { pyobj_slot_.incref_pyobj(); }
void TensorImpl::decref_pyobject() const noexcept { pyobj_slot_.decref_pyobj(); }
bool TensorImpl::try_incref_pyobject() const noexcept { return pyobj_slot_.try_incref_pyobj(); }

}  // namespace revive
