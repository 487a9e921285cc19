// Tensor methods: `t.grad`, `t.grad = g`, `t.untyped_storage()`, `torch.tensor(s)`,
// `s.nbytes()`, each a few lines on top of Interpreter's wrap and unpack.  The autograd
// ones (`t.grad_fn`, the operations, the hooks) are src/autograd.cpp.
// See docs/extending.md for adding one.
#include "revive/binding/tensor_methods.h"

#include <utility>

#include "revive/pyslot/move_out.h"
#include "revive/tensor/wrapper_texts.h"

namespace revive::binding {

void undefined_self() { throw Error(texts::kUndefinedSelf); }

Ref tensor_from_storage(Interpreter& I, const Ref& storage) {
  Storage s = I.unpack_as<Storage>(storage, "tensor");
  REVIVE_CHECK(s.defined(), texts::kNullStorage);
  const auto numel = static_cast<std::int64_t>(s.nbytes() / sizeof(float));
  return I.wrap(Tensor::from_storage(std::move(s), numel));
}

Ref untyped_storage(Interpreter& I, const Ref& t) {
  Tensor x = I.unpack_as<Tensor>(t, "untyped_storage");
  if (!x.defined()) undefined_self();
  return I.wrap(x.storage());
}

void set_grad(Interpreter& I, const Ref& t, const Ref& grad) {
  Tensor x = I.unpack_as<Tensor>(t, "grad");
  if (!x.defined()) undefined_self();
  if (!grad.is_none() && wrapper_ops(grad.get()) != &wrapper_ops_for<Tensor>()) {
    // THPVariable_set_grad's TORCH_CHECK_TYPE.
    throw interp::PythonError("TypeError", detail::str_cat("assigned grad expected to be a Tensor or None but got grad of ",
                                                          grad->ob_type->name));
  }
  Tensor g = grad.is_none() ? Tensor() : I.unpack_as<Tensor>(grad, "grad");
  // A stubbed wrapper (the weakref hole) has no tensor to give: PyTorch's setter fails
  // on it too (its checks read the undefined grad), never sets None in its place.
  REVIVE_CHECK(grad.is_none() || g.defined(), "grad(): the Tensor is undefined (Note [The weakref hole])");
  Tensor old;  // dropped after the GIL: See Note [GIL order across interpreters]
  {
    interp::Runtime::Entry entered(I, "grad");  // grad_ is protected by the GIL
    old = x.grad();
    x.set_grad(std::move(g));
  }
}

Ref grad(Interpreter& I, const Ref& t) {
  Tensor x = I.unpack_as<Tensor>(t, "grad");
  if (!x.defined()) undefined_self();
  interp::Runtime::Entry entered(I, "grad");  // grad_ is protected by the GIL (set_grad holds it too)
  return I.wrap(x.grad());
}

std::size_t storage_nbytes(Interpreter& I, const Ref& s) {
  Storage storage = I.unpack_as<Storage>(s, "nbytes");
  REVIVE_CHECK(storage.defined(), texts::kNullStorage);
  return storage.nbytes();
}

}  // namespace revive::binding
