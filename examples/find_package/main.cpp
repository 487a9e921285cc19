// Uses the installed package: wraps a tensor, drops the wrapper, wraps it again.
#include <cstdio>

#include "revive/binding/interpreter.h"

int main() {
  using namespace revive;
  auto I = binding::Interpreter::create("consumer");
  Tensor t = Tensor::empty(2);
  interp::Ref p = I->wrap(t);
  I->setattr(p, "foo", std::int64_t{2});
  const PyObject* first = p.get();
  p.reset();  // resurrected: C++ still holds t
  p = I->wrap(t);
  const bool same = p.get() == first && std::get<std::int64_t>(I->getattr(p, "foo")) == 2;
  std::printf("same wrapper after a round trip: %s\n", same ? "yes" : "no");
  return same ? 0 : 1;
}
