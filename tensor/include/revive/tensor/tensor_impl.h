// tensor_impl.h: the C++ tensor whose Python wrapper this project keeps one-to-one.
//
// Defines:
//   TensorImpl   intrusively refcounted; holds its storage, a grad (`y.grad = x`: the
//                simplest way Python code makes C++ own a tensor), its autograd meta
//                (requires_grad, grad_fn, hooks: revive/tensor/autograd.h) and a
//                PyObjectSlot.
//   Tensor       the owning handle (at::Tensor); may be undefined, and every use of
//                an undefined tensor raises.
//
// Example (compiled in test/tensor/tensor_test.cpp):
//   Tensor y = Tensor::empty(2), x = Tensor::empty(2);
//   y.set_grad(x);                 // C++ now co-owns x: x.use_count() == 2
//   assert(y.grad().unsafeGetTensorImpl() == x.unsafeGetTensorImpl());
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>

#include "revive/pyslot/py_object_slot.h"
#include "revive/tensor/intrusive_ptr.h"
#include "revive/tensor/live_count.h"
#include "revive/tensor/storage_impl.h"

namespace revive {

namespace autograd {
struct AutogradMeta;
class NodeHandle;
}  // namespace autograd
class TensorImpl;
// A TensorImpl can have a Python wrapper: its handles test E4's bit (Note [The has-PyObject bit]).
template <>
struct TargetTraits<TensorImpl> {
  static constexpr bool can_have_pyobject = true;
};

class TensorImpl final : public intrusive_ptr_target {
 public:
  // What the pictures and the leak checks call this type, and who holds one in C++.
  static constexpr std::string_view kTypeName = "TensorImpl";
  static constexpr std::string_view kHeldBy = "Tensor handles, grads, autograd nodes";

  TensorImpl(Storage storage, std::int64_t numel);
  ~TensorImpl() override;

  [[nodiscard]] impl::PyObjectSlot* pyobj_slot() noexcept { return &pyobj_slot_; }
  [[nodiscard]] const impl::PyObjectSlot* pyobj_slot() const noexcept { return &pyobj_slot_; }
  [[nodiscard]] const Storage& storage() const noexcept { return storage_; }
  [[nodiscard]] std::int64_t numel() const noexcept { return numel_; }
  [[nodiscard]] std::uint64_t id() const noexcept { return id_; }

  // The grad: an owning C++ reference to another tensor.  Not synchronised, like
  // autograd meta: callers serialise (the fake interpreter holds its GIL).
  [[nodiscard]] const intrusive_ptr<TensorImpl>& grad() const noexcept { return grad_; }
  void set_grad(intrusive_ptr<TensorImpl> g);

  // Autograd (autograd.h): null until the tensor takes part.  Protected like grad_.
  [[nodiscard]] autograd::AutogradMeta* autograd_meta() const noexcept { return autograd_meta_.get(); }
  autograd::AutogradMeta& materialize_autograd_meta();

  // "Carries Python behaviour" (PyTorch: DispatchKey::Python in the key set): its
  // wrapper's class overrides __torch_dispatch__, so Python-implemented operators on it
  // must run in the interpreter that tagged it.  Set once, by that interpreter's wrap.
  [[nodiscard]] bool is_python_dispatch() const noexcept {
    return python_dispatch_.load(std::memory_order_acquire);
  }
  void set_python_dispatch() noexcept { python_dispatch_.store(true, std::memory_order_release); }

  // Instances constructed and not yet destroyed, process-wide (leak checks).
  [[nodiscard]] static std::int64_t live_count() noexcept;

 protected:
  // Gives up grad, then storage, then (if the slot owns it) the Python wrapper.
  // See Note [Two counts and release_resources].
  void release_resources() override;

  // Era E4: See Note [The has-PyObject bit] (intrusive_ptr.h).  Through the slot.
  void incref_pyobject() const noexcept override;
  void decref_pyobject() const noexcept override;
  [[nodiscard]] bool try_incref_pyobject() const noexcept override;

 private:
  std::uint64_t id_;
  std::int64_t numel_;
  Storage storage_;                 // owned; released by release_resources or ~
  intrusive_ptr<TensorImpl> grad_;  // owned; released by release_resources or ~
  std::unique_ptr<autograd::AutogradMeta> autograd_meta_;  // owned; released with grad_
  std::atomic<bool> python_dispatch_{false};
  // Declared last so it is destroyed first: see StorageImpl::pyobj_slot_.
  impl::PyObjectSlot pyobj_slot_;
};

class Tensor {
 public:
  using impl_type = TensorImpl;

  Tensor() noexcept = default;  // undefined
  explicit Tensor(intrusive_ptr<TensorImpl> impl) noexcept : impl_(std::move(impl)) {}

  // A fresh tensor of `numel` elements over a fresh storage (strong count 1).
  [[nodiscard]] static Tensor empty(std::int64_t numel);
  // A fresh tensor viewing `storage` (torch.tensor(storage)).
  [[nodiscard]] static Tensor from_storage(Storage storage, std::int64_t numel);

  // Borrowed -> owned: throws if the tensor is already being destroyed.
  [[nodiscard]] static Tensor unsafe_reclaim_from_nonowning(TensorImpl* raw) {
    return Tensor(intrusive_ptr<TensorImpl>::unsafe_reclaim_from_nonowning(raw));
  }

  [[nodiscard]] bool defined() const noexcept { return impl_.defined(); }
  [[nodiscard]] std::uint32_t use_count() const noexcept { return impl_.use_count(); }
  [[nodiscard]] TensorImpl* unsafeGetTensorImpl() const noexcept { return impl_.get(); }
  [[nodiscard]] const intrusive_ptr<TensorImpl>& getIntrusivePtr() const noexcept { return impl_; }
  void reset() noexcept { impl_.reset(); }

  // Each throws "... on an undefined tensor" when !defined().
  [[nodiscard]] std::int64_t numel() const;
  [[nodiscard]] Storage storage() const;
  [[nodiscard]] Tensor grad() const;
  void set_grad(Tensor g) const;
  // Autograd (autograd.h).  A leaf is a tensor no operation recorded (no grad_fn).
  [[nodiscard]] bool requires_grad() const;
  void set_requires_grad(bool requires_grad) const;  // leaves only, as PyTorch
  [[nodiscard]] bool is_leaf() const;
  [[nodiscard]] autograd::NodeHandle grad_fn() const;

  friend bool operator==(const Tensor& a, const Tensor& b) noexcept { return a.impl_ == b.impl_; }

 private:
  intrusive_ptr<TensorImpl> impl_;
};

}  // namespace revive
