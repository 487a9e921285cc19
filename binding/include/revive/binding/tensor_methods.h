// tensor_methods.h: the Python-level tensor methods beyond wrapping, as free functions.
//
// Defines: grad (`t.grad`), set_grad (`t.grad = g`), untyped_storage
// (`t.untyped_storage()`), tensor_from_storage (`torch.tensor(s)`), `s.nbytes()`, and
// autograd's face (src/autograd.cpp): `t.requires_grad`, `t.is_leaf`, `t.grad_fn`, the
// operations clone, pow, sigmoid and mul, a grad_fn's `name()`, `_saved_self`,
// `_saved_result`, `next_functions` and `variable`, and the hooks
// (`t._backward_hooks`, `t._post_accumulate_grad_hooks`); each on top of
// Interpreter's wrap and unpack.
//
// They are free functions, not members of Interpreter, so a new one (docs/extending.md,
// "A new operation") is a declaration here and a definition in src/tensor_methods.cpp:
// only the files that include this header rebuild.  Found by argument-dependent lookup:
//   Ref y = I->empty(2), x = I->empty(2);
//   set_grad(*I, y, x);          // y.grad = x: C++ now co-owns x's tensor
//   Ref g = grad(*I, y);         // y.grad is x (test/binding/lifecycle_test.cpp)
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "revive/binding/interpreter.h"

namespace revive::binding {

[[nodiscard]] Ref grad(Interpreter& I, const Ref& t);              // `t.grad`
void set_grad(Interpreter& I, const Ref& t, const Ref& grad);      // `t.grad = grad`
[[nodiscard]] Ref untyped_storage(Interpreter& I, const Ref& t);   // `t.untyped_storage()`
[[nodiscard]] Ref tensor_from_storage(Interpreter& I, const Ref& storage);  // `torch.tensor(s)`

// Autograd (src/autograd.cpp; tensor/autograd.h for the graph itself).
[[nodiscard]] bool requires_grad(Interpreter& I, const Ref& t);          // `t.requires_grad`
void set_requires_grad(Interpreter& I, const Ref& t, bool requires_grad);  // leaves only
[[nodiscard]] bool is_leaf(Interpreter& I, const Ref& t);                // `t.is_leaf`
[[nodiscard]] Ref grad_fn(Interpreter& I, const Ref& t);                 // `t.grad_fn` (or None)
// Operations: the output's grad_fn saves what PyTorch's formula saves (tensor/autograd.h).
[[nodiscard]] Ref clone(Interpreter& I, const Ref& t);                   // `t.clone()`
[[nodiscard]] Ref pow(Interpreter& I, const Ref& t, double exponent);    // `t ** exponent`
[[nodiscard]] Ref sigmoid(Interpreter& I, const Ref& t);                 // `t.sigmoid()`
[[nodiscard]] Ref mul(Interpreter& I, const Ref& a, const Ref& b);       // `a * b`
// A grad_fn: `g.name()`, `g._saved_self` (the input itself), `g._saved_result` (a new
// tensor each time), `g.next_functions` (None where an input needs no grad), and an
// AccumulateGrad's `g.variable`.  AttributeError where the node has no such field.
[[nodiscard]] std::string node_name(Interpreter& I, const Ref& g);
[[nodiscard]] Ref saved_self(Interpreter& I, const Ref& g);
[[nodiscard]] Ref saved_result(Interpreter& I, const Ref& g);
[[nodiscard]] std::vector<Ref> next_functions(Interpreter& I, const Ref& g);
[[nodiscard]] Ref accumulated_variable(Interpreter& I, const Ref& g);
// `t._backward_hooks = hooks` (None clears it) and `t._backward_hooks`: the wrapper's
// field, and the same object held in C++ by the tensor (AutogradMeta::backward_hooks).
void set_backward_hooks(Interpreter& I, const Ref& t, const Ref& hooks);
[[nodiscard]] Ref backward_hooks(Interpreter& I, const Ref& t);
// `t._post_accumulate_grad_hooks`: the same two places; None clears the field only, as
// in PyTorch.
void set_post_accumulate_grad_hooks(Interpreter& I, const Ref& t, const Ref& hooks);
[[nodiscard]] Ref post_accumulate_grad_hooks(Interpreter& I, const Ref& t);
// `s.nbytes()` on an UntypedStorage; a stubbed storage raises "Got a null Storage"
// (THPStorage_assertNotNull, as every storage method does).
[[nodiscard]] std::size_t storage_nbytes(Interpreter& I, const Ref& s);

// The error of every tensor method called on an undefined tensor (THPVariable's
// "Expected a proper Tensor ...").
[[noreturn]] void undefined_self();

}  // namespace revive::binding
