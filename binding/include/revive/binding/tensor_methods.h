// tensor_methods.h: the Python-level tensor methods beyond wrapping, as free functions.
//
// Defines: grad (`t.grad`), set_grad (`t.grad = g`), untyped_storage
// (`t.untyped_storage()`), tensor_from_storage (`torch.tensor(s)`), sigmoid (a stand-in
// for any operator: it raises on an undefined tensor), `t._backward_hooks` and
// `s.nbytes()`, each on top of Interpreter's wrap and unpack.
//
// They are free functions, not members of Interpreter, so a new one (docs/extending.md,
// "A new operation") is a declaration here and a definition in src/tensor_methods.cpp:
// only the files that include this header rebuild.  Found by argument-dependent lookup:
//   Ref y = I->empty(2), x = I->empty(2);
//   set_grad(*I, y, x);          // y.grad = x: C++ now co-owns x's tensor
//   Ref g = grad(*I, y);         // y.grad is x (test/binding/lifecycle_test.cpp)
#pragma once

#include <cstddef>

#include "revive/binding/interpreter.h"

namespace revive::binding {

[[nodiscard]] Ref grad(Interpreter& I, const Ref& t);              // `t.grad`
void set_grad(Interpreter& I, const Ref& t, const Ref& grad);      // `t.grad = grad`
[[nodiscard]] Ref untyped_storage(Interpreter& I, const Ref& t);   // `t.untyped_storage()`
[[nodiscard]] Ref tensor_from_storage(Interpreter& I, const Ref& storage);  // `torch.tensor(s)`
[[nodiscard]] Ref sigmoid(Interpreter& I, const Ref& t);           // any op on a tensor
// `t._backward_hooks = hooks` (None clears it) and `t._backward_hooks`.
void set_backward_hooks(Interpreter& I, const Ref& t, const Ref& hooks);
[[nodiscard]] Ref backward_hooks(Interpreter& I, const Ref& t);
// `s.nbytes()` on an UntypedStorage; a stubbed storage raises "Got a null Storage"
// (THPStorage_assertNotNull, as every storage method does).
[[nodiscard]] std::size_t storage_nbytes(Interpreter& I, const Ref& s);

// The error of every tensor method called on an undefined tensor (THPVariable's
// "Expected a proper Tensor ...").
[[noreturn]] void undefined_self();

}  // namespace revive::binding
