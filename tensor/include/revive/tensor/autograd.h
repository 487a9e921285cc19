// autograd.h: the autograd graph, with PyTorch's ownership and nothing else.
//
// Defines:
//   Node            a grad_fn (torch::autograd::Node): its edges to the nodes of its
//                   inputs, what its formula saved, and its Python object two ways (a
//                   non-owning cache, or a PyObjectSlot like a tensor's).
//   NodeHandle      the owning handle of a Node (std::shared_ptr<Node> in PyTorch).
//   SavedVariable   one saved tensor: an input held strongly, an output saved without
//                   its grad_fn.  See Note [Saving an output without its grad_fn].
//   AutogradMeta    what a tensor that takes part in autograd carries: requires_grad,
//                   grad_fn, its grad accumulator (weakly) and the Python hooks C++ holds.
//   clone, pow, sigmoid, mul   the operations: each output of an operation on a tensor
//                   that requires grad gets a Node.
//
// No gradient is ever computed: the graph exists here for who owns whom.
//
// Example (compiled in test/tensor/autograd_test.cpp):
//   Tensor x = Tensor::empty(2);
//   x.set_requires_grad(true);                       // a leaf
//   Tensor y = autograd::pow(x, 2);                  // y.grad_fn() is a PowBackward0
//   assert(y.grad_fn()->saved_self().unpack(y.grad_fn()) == x);   // saved: strongly
//   assert(x.use_count() == 3);  // x, the saved self, the AccumulateGrad behind the edge
//
// Owns: Note [The autograd graph's ownership], Note [Saving an output without its
// grad_fn].
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "revive/pyslot/py_object_slot.h"
#include "revive/pyslot/safe_py_object.h"
#include "revive/tensor/intrusive_ptr.h"
#include "revive/tensor/tensor_impl.h"

namespace revive::autograd {

// Note [The autograd graph's ownership]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// PyTorch (torch/csrc/autograd: function.h, variable.h, saved_variable.h,
// functions/accumulate_grad.h).  The commonest C++ owner of a tensor is not `.grad` but
// the graph an operation records when an input requires grad:
//   - the output owns its grad_fn (AutogradMeta::grad_fn_);
//   - a node owns the nodes of its inputs through its edges (next_edges): an input that
//     has a grad_fn is reached through it, a leaf that requires grad through its
//     AccumulateGrad node, which owns the leaf (AccumulateGrad::variable).  The leaf
//     holds its accumulator only weakly (grad_accumulator_), so the two do not own
//     each other, and one accumulator is shared by every operation on the leaf;
//   - a node owns the inputs its formula saved (PowBackward0 saves self, MulBackward0
//     self and other): `y = x ** 2` makes C++ an owner of x, which is what turns a
//     later `del x` into a resurrection in era E2 and a C++ reference to x's wrapper in
//     E4 (test_tensor_ressurecting_clear keeps its tensor this way);
//   - an output the formula needs (SigmoidBackward0 saves result) is saved without its
//     grad_fn: Note [Saving an output without its grad_fn];
//   - the Python hooks registered on a tensor (`t._backward_hooks`, post-accumulate-
//     grad hooks) are Python objects held by C++ (PyFunctionTensorPreHook's dict):
//     SafePyObject here, given back through the interpreter that made them.
// So the graph holds Python objects (hooks, and a node's own Python object: its
// grad_fn) and is held by Python objects (wrappers), which is how cycles through C++
// are made.  Which ones the collector can free is the wrapper's traverse: Note [Seeing
// through C++ in traverse] (binding/include/revive/binding/python_variable.h).
// A long graph is released in a loop, not by nested calls: PyTorch's deleteNode moves a
// dying node's edges onto a stack; here every intrusive_ptr_target is released so
// (Note [Releasing a long chain in bounded stack], tensor/src/intrusive_ptr.cpp).
// Model simplifications: one output per node (no output_nr), no version counters, no
// views, no grad mode; the graph's nodes are intrusively counted (PyTorch: shared_ptr),
// which is what lets a node embed a PyObjectSlot and take part in era E4's bit like a
// tensor; use_count() means the same in both.

class Node;
}  // namespace revive::autograd

template <>
struct revive::TargetTraits<revive::autograd::Node> {
  static constexpr bool can_have_pyobject = true;  // a preserved grad_fn: the bit, in E4
};

namespace revive::autograd {

// What C++ holds of a node: std::shared_ptr<Node> in PyTorch.
class NodeHandle {
 public:
  using impl_type = Node;
  NodeHandle() noexcept = default;
  explicit NodeHandle(intrusive_ptr<Node> impl) noexcept : impl_(std::move(impl)) {}
  [[nodiscard]] static NodeHandle unsafe_reclaim_from_nonowning(Node* raw) {
    return NodeHandle(intrusive_ptr<Node>::unsafe_reclaim_from_nonowning(raw));
  }
  [[nodiscard]] bool defined() const noexcept { return impl_.defined(); }
  [[nodiscard]] std::uint32_t use_count() const noexcept { return impl_.use_count(); }
  [[nodiscard]] const intrusive_ptr<Node>& getIntrusivePtr() const noexcept { return impl_; }
  [[nodiscard]] Node* get() const noexcept { return impl_.get(); }
  Node* operator->() const noexcept { return impl_.get(); }
  Node& operator*() const noexcept { return *impl_.get(); }
  void reset() noexcept { impl_.reset(); }
  friend bool operator==(const NodeHandle& a, const NodeHandle& b) noexcept { return a.impl_ == b.impl_; }

 private:
  intrusive_ptr<Node> impl_;
};

// Note [Saving an output without its grad_fn]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// PyTorch (SavedVariable's constructor and unpack).  A node saving an input holds the
// input tensor itself.  A node saving its own output cannot: the output owns the node
// (grad_fn), so the node owning the output would be a cycle made of C++ references
// only, which nothing could ever free, for every `y = x.sigmoid()`.  So an output is
// saved as its data alone: a new tensor over the same storage with no grad_fn
// (tensor_data()), and unpacking it (`y.grad_fn._saved_result`) makes a new tensor with
// the node as its grad_fn, each time.  That is why, in PyTorch,
// `y.grad_fn._saved_result is y` is False while `x.grad_fn._saved_self is x` is True.
class SavedVariable {
 public:
  SavedVariable() noexcept = default;
  SavedVariable(const Tensor& t, bool is_output);

  [[nodiscard]] bool defined() const noexcept { return data_.defined(); }
  [[nodiscard]] bool is_output() const noexcept { return is_output_; }
  // What the node holds: the input itself, or the output's data.
  [[nodiscard]] const Tensor& data() const noexcept { return data_; }
  // `grad_fn._saved_self` / `_saved_result`.  `owner` is the node that saved it.
  [[nodiscard]] Tensor unpack(const NodeHandle& owner) const;
  void reset() noexcept;

 private:
  Tensor data_;
  bool is_output_ = false;
};

class Node final : public intrusive_ptr_target {
 public:
  static constexpr std::string_view kTypeName = "Node";
  static constexpr std::string_view kHeldBy = "grad_fn of tensors, edges of nodes";

  enum class Kind : std::uint8_t { AccumulateGrad, Clone, Pow, Sigmoid, Mul };

  Node(Kind kind, std::vector<NodeHandle> next_edges);
  ~Node() override;

  // "PowBackward0", "AccumulateGrad", ... (Node::name()).
  [[nodiscard]] std::string_view name() const noexcept;
  [[nodiscard]] Kind kind() const noexcept { return kind_; }
  [[nodiscard]] std::uint64_t id() const noexcept { return id_; }
  // The nodes of the inputs (an undefined handle for an input that needs no grad).
  [[nodiscard]] const std::vector<NodeHandle>& next_edges() const noexcept { return next_edges_; }
  [[nodiscard]] const SavedVariable& saved_self() const noexcept { return saved_self_; }
  [[nodiscard]] const SavedVariable& saved_other() const noexcept { return saved_other_; }
  [[nodiscard]] const SavedVariable& saved_result() const noexcept { return saved_result_; }
  // AccumulateGrad: the leaf it accumulates into (owned).
  [[nodiscard]] const Tensor& variable() const noexcept { return variable_; }

  // The Python object, the first way: PyTorch's Node::pyobj_ until 2026, a plain
  // pointer the node does not own.  The Python object owns the node and clears this in
  // its dealloc; `interpreter` says whose object it is.  Protected by that GIL.
  // Atomic only so that another interpreter may ask whose it is without that GIL; the
  // pointer itself is read and written under its interpreter's.
  [[nodiscard]] PyObject* cached_pyobj(const impl::PyInterpreter* interpreter) const noexcept {
    return interpreter == cache_interpreter_.load(std::memory_order_acquire) ? cached_pyobj_ : nullptr;
  }
  [[nodiscard]] const impl::PyInterpreter* cache_interpreter() const noexcept {
    return cache_interpreter_.load(std::memory_order_acquire);
  }
  void set_cached_pyobj(const impl::PyInterpreter* interpreter, PyObject* o) noexcept {
    cached_pyobj_ = o;
    cache_interpreter_.store(o == nullptr ? nullptr : interpreter, std::memory_order_release);
  }
  // The object `o` of `interpreter` is going (its clear, or teardown): forget it if it is
  // the one recorded.
  void forget_cached_pyobj(const impl::PyInterpreter* interpreter, const PyObject* o) noexcept {
    if (cached_pyobj(interpreter) == o) set_cached_pyobj(nullptr, nullptr);
  }
  // The second way (#179764's direction): preserved like a tensor's wrapper.
  [[nodiscard]] impl::PyObjectSlot* pyobj_slot() noexcept { return &pyobj_slot_; }
  [[nodiscard]] const impl::PyObjectSlot* pyobj_slot() const noexcept { return &pyobj_slot_; }

  // Nodes constructed and not yet destroyed, process-wide (leak checks).
  [[nodiscard]] static std::int64_t live_count() noexcept;

 private:
  friend Tensor pow(const Tensor&, double);
  friend Tensor sigmoid(const Tensor&);
  friend Tensor mul(const Tensor&, const Tensor&);
  friend NodeHandle grad_accumulator(const Tensor&);

 protected:
  // Gives up what the formula saved, the leaf, the edges, then (if its slot owns one)
  // its preserved Python object.
  void release_resources() override;
  void incref_pyobject() const noexcept override { pyobj_slot_.incref_pyobj(); }
  void decref_pyobject() const noexcept override { pyobj_slot_.decref_pyobj(); }
  [[nodiscard]] bool try_incref_pyobject() const noexcept override { return pyobj_slot_.try_incref_pyobj(); }

 private:
  std::uint64_t id_;
  Kind kind_;
  std::vector<NodeHandle> next_edges_;
  SavedVariable saved_self_;
  SavedVariable saved_other_;
  SavedVariable saved_result_;
  Tensor variable_;  // AccumulateGrad only
  std::atomic<const impl::PyInterpreter*> cache_interpreter_{nullptr};
  PyObject* cached_pyobj_ = nullptr;  // not owned
  // Declared last so it is destroyed first: see StorageImpl::pyobj_slot_.
  impl::PyObjectSlot pyobj_slot_;
};

// The autograd part of a tensor (torch::autograd::AutogradMeta), made on first need.
// Not synchronised, like PyTorch's: callers serialise (an interpreter's GIL).
struct AutogradMeta {
  bool requires_grad = false;                // a leaf's flag; an output's comes from grad_fn
  NodeHandle grad_fn;                        // an operation's output: the node that made it
  weak_intrusive_ptr<Node> grad_accumulator; // a leaf: its AccumulateGrad, weakly
  // `t._backward_hooks`'s object, as PyFunctionTensorPreHook holds it (one reference).
  std::optional<impl::SafePyObject> backward_hooks;
  // The post-accumulate-grad hooks' object (PyFunctionTensorPostAccGradHooks), a leaf's.
  std::optional<impl::SafePyObject> post_accumulate_grad_hooks;
};

// Operations: each output of an operation on an input that requires grad gets a node
// whose edges reach the inputs' nodes; the node saves what PyTorch's formula saves.
[[nodiscard]] Tensor clone(const Tensor& self);                 // CloneBackward0: nothing
[[nodiscard]] Tensor pow(const Tensor& self, double exponent);  // PowBackward0: self
[[nodiscard]] Tensor sigmoid(const Tensor& self);               // SigmoidBackward0: result
[[nodiscard]] Tensor mul(const Tensor& self, const Tensor& other);  // MulBackward0: both
// A leaf's AccumulateGrad, made on first use and shared while it lives
// (torch::autograd::impl::grad_accumulator).  Undefined for a tensor that needs no grad
// or is not a leaf.
[[nodiscard]] NodeHandle grad_accumulator(const Tensor& leaf);

}  // namespace revive::autograd
