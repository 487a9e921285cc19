// Tests for revive/tensor/autograd.h: who owns whom in the autograd graph (Note [The
// autograd graph's ownership]), an output saved without its grad_fn (Note [Saving an
// output without its grad_fn]), the hooks C++ holds as Python objects, and a long graph
// released in bounded stack.  No interpreter: the Python objects are fakes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>

#include "fake_interpreter.h"
#include "revive/pyslot/safe_py_object.h"
#include "revive/tensor/autograd.h"
#include "revive/tensor/live_count.h"
#include "revive_test.h"
#include "small_stack.h"

namespace {

using revive::autograd::Node;
using revive::autograd::NodeHandle;
using revive::Tensor;
using revive::TensorImpl;
using revive::testing::FakeInterpreter;
using revive::testing::chain_length;
using revive::testing::kSmallStack;
using revive::testing::on_small_stack;
using revive::testing::FakeWrapper;

Tensor leaf(std::int64_t n = 2) {
  Tensor t = Tensor::empty(n);
  t.set_requires_grad(true);
  return t;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(autograd_graph, revive::testing::LeakCheck, *utf::label("autograd") *utf::label("refcount"))

BOOST_AUTO_TEST_CASE(an_operation_on_a_tensor_that_needs_no_grad_records_nothing) {
  Tensor x = Tensor::empty(2);
  Tensor y = revive::autograd::pow(x, 2);
  BOOST_TEST(!y.grad_fn().defined());
  BOOST_TEST(!y.requires_grad());
  BOOST_TEST(y.is_leaf());
  BOOST_TEST(x.use_count() == 1u);  // nothing saved it
}

BOOST_AUTO_TEST_CASE(pow_saves_its_input_strongly_and_reaches_the_leaf_through_its_accumulator) {
  Tensor x = leaf();
  Tensor y = revive::autograd::pow(x, 2);
  NodeHandle fn = y.grad_fn();
  BOOST_REQUIRE(fn.defined());
  BOOST_TEST(fn->name() == "PowBackward0");
  BOOST_TEST(y.requires_grad());
  BOOST_TEST(!y.is_leaf());
  BOOST_TEST((fn->saved_self().unpack(fn) == x));  // _saved_self is x itself
  BOOST_REQUIRE(fn->next_edges().size() == 1u);
  const NodeHandle& acc = fn->next_edges()[0];
  BOOST_TEST(acc->name() == "AccumulateGrad");
  BOOST_TEST((acc->variable() == x));
  // x: this handle, the saved self, the accumulator's variable.
  BOOST_TEST(x.use_count() == 3u);
  // The leaf holds its accumulator weakly: every operation on it shares one.
  Tensor z = revive::autograd::sigmoid(x);
  BOOST_TEST((z.grad_fn()->next_edges()[0] == acc));
  BOOST_TEST(x.use_count() == 3u);  // sigmoid saved its result, not x
}

BOOST_AUTO_TEST_CASE(the_graph_keeps_its_inputs_alive_after_every_handle_let_go) {
  const std::int64_t tensors = TensorImpl::live_count();
  Tensor y;
  {
    Tensor x = leaf();
    Tensor h = revive::autograd::clone(x);
    y = revive::autograd::mul(h, x);
  }
  // y, its MulBackward0's saved h and x, and x again as the accumulator's variable.
  BOOST_TEST(TensorImpl::live_count() == tensors + 3);
  NodeHandle fn = y.grad_fn();
  BOOST_TEST(fn->name() == "MulBackward0");
  BOOST_TEST(fn->next_edges()[0]->name() == "CloneBackward0");
  BOOST_TEST(fn->next_edges()[1]->name() == "AccumulateGrad");
  fn.reset();
  y.reset();
  BOOST_TEST(TensorImpl::live_count() == tensors);
}

BOOST_AUTO_TEST_CASE(an_output_is_saved_without_its_grad_fn) {
  const std::int64_t nodes = Node::live_count();
  {
    Tensor x = leaf();
    Tensor y = revive::autograd::sigmoid(x);
    NodeHandle fn = y.grad_fn();
    BOOST_TEST(fn->name() == "SigmoidBackward0");
    // The node holds y's data, not y: y is owned by this handle only, so the node does
    // not own the tensor that owns it.
    BOOST_TEST(y.use_count() == 1u);
    BOOST_TEST(fn->saved_result().is_output());
    BOOST_TEST(!fn->saved_result().data().grad_fn().defined());
    BOOST_TEST(fn->saved_result().data().storage().getIntrusivePtr().get() == y.storage().getIntrusivePtr().get());
    // Unpacking makes a new tensor each time, whose grad_fn is the node.
    Tensor r1 = fn->saved_result().unpack(fn);
    Tensor r2 = fn->saved_result().unpack(fn);
    BOOST_TEST((!(r1 == y)));
    BOOST_TEST((!(r1 == r2)));
    BOOST_TEST((r1.grad_fn() == fn));
    BOOST_TEST(r1.requires_grad());
  }
  BOOST_TEST(Node::live_count() == nodes);  // no cycle was made
}

BOOST_AUTO_TEST_CASE(requires_grad_changes_only_on_leaves) {
  Tensor x = leaf();
  Tensor y = revive::autograd::clone(x);
  y.set_requires_grad(true);  // already true: allowed
  BOOST_CHECK_EXCEPTION(y.set_requires_grad(false), revive::Error,
                        revive::testing::message_has("you can only change requires_grad flags of leaf variables."));
  x.set_requires_grad(false);
  BOOST_TEST(!revive::autograd::grad_accumulator(x).defined());
  BOOST_CHECK_EXCEPTION((void)revive::autograd::pow(Tensor(), 2), revive::Error,
                        revive::testing::message_is("pow() called on an undefined Tensor"));
  BOOST_CHECK_EXCEPTION((void)revive::autograd::mul(x, Tensor::empty(3)), revive::Error,
                        revive::testing::message_has("must match the size of tensor b (3)"));
}

// The hooks C++ holds are given back through the interpreter that made them, exactly
// once, when the tensor dies.
BOOST_AUTO_TEST_CASE(hooks_held_in_cpp_are_given_back_when_the_tensor_dies) {
  FakeInterpreter i("I0");
  FakeWrapper hooks, post;
  {
    Tensor x = leaf();
    revive::autograd::AutogradMeta& meta = x.unsafeGetTensorImpl()->materialize_autograd_meta();
    meta.backward_hooks.emplace(hooks.get(), &i.interp);
    meta.post_accumulate_grad_hooks.emplace(post.get(), &i.interp);
    Tensor y = revive::autograd::pow(x, 2);  // the graph keeps x (and its hooks) alive
    x.reset();
    BOOST_TEST(i.vtable.decrefs().empty());
  }
  BOOST_TEST(i.vtable.decrefs().size() == 2u);
}

// PyTorch deletes a long graph in a loop (deleteNode); here the trashcan of every
// intrusive_ptr_target does it: x -> pow -> pow -> ... 10^6 times, each node saving the
// tensor before it, released on a 256 KiB stack.
BOOST_AUTO_TEST_CASE(a_long_graph_is_released_in_bounded_stack) {
  const std::int64_t tensors = TensorImpl::live_count();
  const std::int64_t nodes = Node::live_count();
  const std::size_t n = chain_length();
  Tensor t = leaf(1);
  for (std::size_t k = 0; k < n; ++k) t = revive::autograd::pow(t, 2);
  BOOST_TEST(Node::live_count() - nodes == static_cast<std::int64_t>(n) + 1);  // + AccumulateGrad
  on_small_stack(kSmallStack, [&] { t.reset(); });
  BOOST_TEST(TensorImpl::live_count() == tensors);
  BOOST_TEST(Node::live_count() == nodes);
}

BOOST_AUTO_TEST_SUITE_END()
