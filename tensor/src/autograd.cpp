#include "revive/tensor/autograd.h"

#include <atomic>
#include <initializer_list>
#include <utility>

#include "revive/pyslot/move_out.h"
#include "revive/tensor/live_count.h"

namespace revive::autograd {
namespace {
// Never destroyed: see live_count.h.
LiveCount& liveNodes = *new LiveCount(Node::kTypeName);
std::atomic<std::uint64_t> nextNodeId{1};

[[noreturn]] void undefined_input(const char* op) {
  throw Error(detail::str_cat(op, "() called on an undefined Tensor"));
}

// The edge to `input`'s node: its grad_fn, or a leaf's accumulator; none if it needs no
// grad (torch::autograd::impl::gradient_edge).
NodeHandle gradient_edge(const Tensor& input) {
  NodeHandle fn = input.grad_fn();
  if (fn.defined()) return fn;
  return grad_accumulator(input);
}

// The output of an operation: a fresh tensor, and, if an input requires grad, its node.
// See Note [The autograd graph's ownership].
template <class Save>
Tensor record(const char* op, Node::Kind kind, std::initializer_list<const Tensor*> inputs,
              Save&& save) {
  bool any = false;
  std::int64_t numel = -1;
  for (const Tensor* in : inputs) {
    if (!in->defined()) undefined_input(op);
    if (numel < 0) numel = in->numel();
    any = any || in->requires_grad();
  }
  Tensor out = Tensor::empty(numel);
  if (!any) return out;
  std::vector<NodeHandle> edges;
  edges.reserve(inputs.size());
  for (const Tensor* in : inputs) edges.push_back(gradient_edge(*in));
  NodeHandle node(make_intrusive<Node>(kind, std::move(edges)));
  save(*node.get(), out);
  out.unsafeGetTensorImpl()->materialize_autograd_meta().grad_fn = std::move(node);
  return out;
}
}  // namespace

// ---- SavedVariable ----------------------------------------------------------------------

SavedVariable::SavedVariable(const Tensor& t, bool is_output) : is_output_(is_output) {
  // See Note [Saving an output without its grad_fn].
  data_ = is_output ? Tensor::from_storage(t.storage(), t.numel()) : t;
}

Tensor SavedVariable::unpack(const NodeHandle& owner) const {
  if (!data_.defined()) return Tensor();
  if (!is_output_) return data_;
  // A new tensor each time, its grad_fn the node that saved it.
  Tensor out = Tensor::from_storage(data_.storage(), data_.numel());
  out.unsafeGetTensorImpl()->materialize_autograd_meta().grad_fn = owner;  // requires grad through it
  return out;
}

void SavedVariable::reset() noexcept { drop(data_); }

// ---- Node -------------------------------------------------------------------------------

Node::Node(Kind kind, std::vector<NodeHandle> next_edges)
    : id_(nextNodeId.fetch_add(1, std::memory_order_relaxed)), kind_(kind), next_edges_(std::move(next_edges)) {
  liveNodes.increment();
}

Node::~Node() { liveNodes.decrement(); }

std::int64_t Node::live_count() noexcept { return liveNodes.get(); }

std::string_view Node::name() const noexcept {
  switch (kind_) {
    case Kind::AccumulateGrad: return "AccumulateGrad";
    case Kind::Clone: return "CloneBackward0";
    case Kind::Pow: return "PowBackward0";
    case Kind::Sigmoid: return "SigmoidBackward0";
    case Kind::Mul: return "MulBackward0";
  }
  return "Node";
}

void Node::release_resources() {
  // PyTorch's deleteNode: the saved variables first (release_variables), then the edges.
  // What each release reaches is bounded by Note [Releasing a long chain in bounded
  // stack].  A release may run a finalizer that reads this node: See Note [Move out,
  // then drop].
  saved_self_.reset();
  saved_other_.reset();
  saved_result_.reset();
  drop(variable_);
  drop(next_edges_);
  pyobj_slot_.maybe_destroy_pyobj();
  pyobj_slot_.target_died();
}

// ---- operations -------------------------------------------------------------------------

NodeHandle grad_accumulator(const Tensor& leaf) {
  if (!leaf.defined()) undefined_input("grad_accumulator");
  TensorImpl* impl = leaf.unsafeGetTensorImpl();
  AutogradMeta* meta = impl->autograd_meta();
  if (meta == nullptr || !meta->requires_grad || meta->grad_fn.defined()) return NodeHandle();
  if (intrusive_ptr<Node> existing = meta->grad_accumulator.lock()) return NodeHandle(std::move(existing));
  NodeHandle acc(make_intrusive<Node>(Node::Kind::AccumulateGrad, std::vector<NodeHandle>{}));
  acc->variable_ = leaf;  // the accumulator owns its leaf; the leaf holds it weakly
  meta->grad_accumulator = weak_intrusive_ptr<Node>(acc.getIntrusivePtr());
  return acc;
}

Tensor clone(const Tensor& self) {
  return record("clone", Node::Kind::Clone, {&self}, [](Node&, const Tensor&) {});
}

Tensor pow(const Tensor& self, double exponent) {
  (void)exponent;  // no values are modelled
  return record("pow", Node::Kind::Pow, {&self},
                [&](Node& n, const Tensor&) { n.saved_self_ = SavedVariable(self, false); });
}

Tensor sigmoid(const Tensor& self) {
  return record("sigmoid", Node::Kind::Sigmoid, {&self},
                [](Node& n, const Tensor& out) { n.saved_result_ = SavedVariable(out, true); });
}

Tensor mul(const Tensor& self, const Tensor& other) {
  REVIVE_CHECK(!self.defined() || !other.defined() || self.numel() == other.numel(),
               "The size of tensor a (", self.numel(), ") must match the size of tensor b (",
               other.numel(), ") at non-singleton dimension 0");
  return record("mul", Node::Kind::Mul, {&self, &other}, [&](Node& n, const Tensor&) {
    n.saved_self_ = SavedVariable(self, false);
    n.saved_other_ = SavedVariable(other, false);
  });
}

}  // namespace revive::autograd
