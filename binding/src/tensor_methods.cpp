// Tensor methods: `t.grad`, `t.grad = g`, `t.untyped_storage()`, `torch.tensor(s)`, and
// one stand-in operator, each a few lines on top of Interpreter's wrap and unpack.
// See docs/extending.md for adding one.
#include "revive/binding/tensor_methods.h"

namespace revive::binding {

using interp::GilGuard;

void undefined_self() {
  throw Error(
      "Expected a proper Tensor but got None (or an undefined Tensor in C++) for argument "
      "#0 'self'");
}

Ref tensor_from_storage(Interpreter& I, const Ref& storage) {
  Storage s = I.unpack_storage(storage);
  REVIVE_CHECK(s.defined(), "torch.tensor(): the storage was stubbed (see the warning above)");
  GilGuard gil(I.gil());
  const auto numel = static_cast<std::int64_t>(s.nbytes() / sizeof(float));
  return I.wrap(Tensor::from_storage(std::move(s), numel));
}

Ref untyped_storage(Interpreter& I, const Ref& t) {
  Tensor x = I.unpack(t);
  if (!x.defined()) undefined_self();
  return I.wrap(x.storage());
}

void set_grad(Interpreter& I, const Ref& t, const Ref& grad) {
  Tensor x = I.unpack(t);
  if (!x.defined()) undefined_self();
  Tensor g = grad.is_none() ? Tensor() : I.unpack(grad);
  Tensor old;  // dropped after the GIL: See Note [GIL order across interpreters]
  {
    GilGuard gil(I.gil());  // grad_ is protected by the GIL
    old = x.grad();
    x.set_grad(std::move(g));
  }
}

Ref grad(Interpreter& I, const Ref& t) {
  Tensor x = I.unpack(t);
  if (!x.defined()) undefined_self();
  GilGuard gil(I.gil());  // grad_ is protected by the GIL (set_grad holds it too)
  return I.wrap(x.grad());
}

Ref sigmoid(Interpreter& I, const Ref& t) {
  Tensor x = I.unpack(t);
  if (!x.defined()) undefined_self();
  return I.wrap(Tensor::empty(x.numel()));
}

}  // namespace revive::binding
