// preserved.h: a C++ type whose Python wrapper is preserved, described once.
//
// Defines:
//   HermeticRule, ForeignRule   the two ways PyTorch's preserved types differ.
//   Preserved<Handle>           the description a preserved type gives by specializing
//                               this template: its Python name, its rules, its texts.
//                               Tensor and Storage are PyTorch's two; NodeHandle (a
//                               grad_fn, when an interpreter preserves them) is the
//                               library's third; another needs nothing else
//                               (docs/extending.md; test/binding/third_type_test.cpp
//                               adds one from a test).
//   PreservedHandle             the concept a handle and its description satisfy; the
//                               compiler names whatever a new type forgot.
//   WrapperObject<Handle>       the wrapper: THPVariable for Tensor (TensorObject),
//                               THPStorage for Storage (StorageObject).
//   WrapperOps                  what code that does not know the handle type needs of a
//                               wrapper (the slot's decref, the pictures): one table per
//                               preserved type, generated from its description and
//                               stored in its Python types (PyType::native).
//   wrapper_ops(o)              that table for a wrapper; null for any other object.
//
// Every per-type difference of the protocol is a field here, read with `if constexpr`
// in python_variable.h; nothing in the binding branches on which type a wrapper is.
//
// Example (test/binding/lifecycle_test.cpp, a_wrapper_is_a_tensor_object):
//   Ref p = I->empty(2);
//   assert(wrapper_ops(p.get()) == &wrapper_ops_for<Tensor>());
//   auto* self = static_cast<TensorObject*>(p.get());   // self->cdata is owned (L)
#pragma once

#include <concepts>
#include <cstdint>
#include <map>
#include <unordered_map>
#include <utility>
#include <vector>
#include <string>
#include <string_view>

#include "revive/interp/object.h"
#include "revive/pyslot/py_object_slot.h"
#include "revive/tensor/autograd.h"
#include "revive/tensor/maybe_owned.h"
#include "revive/tensor/wrapper_texts.h"
#include "revive/tensor/storage_impl.h"
#include "revive/tensor/tensor_impl.h"
#include "revive/trace/runtime_view.h"

namespace revive::binding {

// Whether a wrapper made in hermetic mode, or dying in it, is preserved.
enum class HermeticRule {
  // Tensors: the thread's hermetic state at the wrapper's death decides (check_pyobj
  // answers "no object" while it is on), so a recorded wrapper dying inside hermetic
  // code really dies (Note [A recorded wrapper that really dies]).
  FollowsThread,
  // Storages: the wrapper remembers whether it was made in hermetic mode
  // (is_hermetic); the state at its death does not matter
  // (test_storage_preserve_nonhermetic_in_hermetic_context).
  RememberedAtCreation,
};

// What wrap does when another interpreter tagged the C++ object.
enum class ForeignRule {
  Refuse,  // Tensors: check_pyobj raises "cannot access PyObject ..." (T11)
  Alias,   // Storages: wrap a new C++ object sharing the bytes (Note [Storage wrap
           // across interpreters]); Preserved<H>::alias makes it
};

// Specialize for each preserved handle type.  Every member is required:
//   python_name            the Python class torch defines ("Tensor", torch/_tensor.py)
//   base_name              the C type under it ("TensorBase": torch._C.TensorBase), which
//                          has no __dict__ of its own; the Python class adds it
//   error_name             the word PyTorch's error texts use ("Tensor", "Storage")
//   noun                   the word its assertions use ("tensor", "storage")
//   hermetic, foreign      the rules above
//   release_gil_on_drop    true if a dying wrapper drops its owned cdata with the GIL
//                          released (Note [GIL order across interpreters])
//   python_dispatch        true if a __torch_dispatch__ subclass marks the C++ object
//                          (Impl::set_python_dispatch) so operators route to its
//                          interpreter (Note [Python op registration trampoline])
//   weakref_hole_warning   the warning of Note [The weakref hole]
//   subclass_error         the RuntimeError text for a class that does not inherit from it
//   wrong_kind_error       the text when the slot records an object of another kind
//   alias(h)               ForeignRule::Alias only: a new C++ object sharing h's data
// And one optional member:
//   autograd               true for the type whose C++ object carries autograd meta
//                          (Tensor): its traverse and clear also see what that meta
//                          holds (Note [Seeing through C++ in traverse])
template <class Handle>
struct Preserved;

template <class H>
inline constexpr bool carries_autograd = [] {
  if constexpr (requires { Preserved<H>::autograd; }) {
    return Preserved<H>::autograd;
  } else {
    return false;
  }
}();

template <class H>
concept PreservedHandle = requires(const H& h, const typename H::impl_type* impl) {
  { h.defined() } -> std::same_as<bool>;
  { h.use_count() } -> std::convertible_to<std::uint32_t>;
  { h.getIntrusivePtr().get() } -> std::same_as<typename H::impl_type*>;
  { impl->pyobj_slot() } -> std::same_as<const impl::PyObjectSlot*>;
  { impl->refcount() } -> std::convertible_to<std::uint32_t>;
  { impl->id() } -> std::convertible_to<std::uint64_t>;
  { H::impl_type::kTypeName } -> std::convertible_to<std::string_view>;
  { Preserved<H>::python_name } -> std::convertible_to<const char*>;
  { Preserved<H>::base_name } -> std::convertible_to<const char*>;
  { Preserved<H>::error_name } -> std::convertible_to<const char*>;
  { Preserved<H>::noun } -> std::convertible_to<const char*>;
  { Preserved<H>::hermetic } -> std::convertible_to<HermeticRule>;
  { Preserved<H>::foreign } -> std::convertible_to<ForeignRule>;
  { Preserved<H>::python_dispatch } -> std::convertible_to<bool>;
  { Preserved<H>::release_gil_on_drop } -> std::convertible_to<bool>;
  { Preserved<H>::weakref_hole_warning } -> std::convertible_to<const char*>;
  { Preserved<H>::subclass_error } -> std::convertible_to<const char*>;
  { Preserved<H>::wrong_kind_error } -> std::convertible_to<const char*>;
} && (Preserved<H>::foreign != ForeignRule::Alias || requires(const H& h) {
  { Preserved<H>::alias(h) } -> std::same_as<H>;
}) && TargetTraits<typename H::impl_type>::can_have_pyobject;  // E4: its handles test the bit

template <>
struct Preserved<Tensor> {
  static constexpr const char* python_name = "Tensor";
  static constexpr const char* base_name = "TensorBase";
  static constexpr const char* error_name = "Tensor";
  static constexpr const char* noun = "tensor";
  static constexpr HermeticRule hermetic = HermeticRule::FollowsThread;
  static constexpr ForeignRule foreign = ForeignRule::Refuse;
  static constexpr bool python_dispatch = true;
  static constexpr bool release_gil_on_drop = true;  // THPVariable_clear
  static constexpr const char* weakref_hole_warning = texts::kTensorWeakrefHoleWarning;
  // THPVariable_NewWithVar (a TORCH_CHECK: RuntimeError; E4 made it a TypeError).
  static constexpr const char* subclass_error =
      "Creating a Tensor subclass from a class that does not inherit from Tensor is not "
      "possible. Make sure your class inherits from Tensor.";
  // THPVariable_Wrap checks the recorded object with an internal assert; the model
  // raises, in the words THPStorage_Wrap uses for storages.
  static constexpr const char* wrong_kind_error = "Expected a tensor type, but got ";
  static constexpr bool autograd = true;
};

template <>
struct Preserved<Storage> {
  static constexpr const char* python_name = "UntypedStorage";
  static constexpr const char* base_name = "StorageBase";
  static constexpr const char* error_name = "Storage";
  static constexpr const char* noun = "storage";
  static constexpr HermeticRule hermetic = HermeticRule::RememberedAtCreation;
  static constexpr ForeignRule foreign = ForeignRule::Alias;
  static constexpr bool python_dispatch = false;
  // THPStorage's dealloc drops cdata under the GIL; a storage's death cannot reach
  // another interpreter (its one slot is this interpreter's, and was cleared).
  static constexpr bool release_gil_on_drop = false;
  static constexpr const char* weakref_hole_warning = texts::kStorageWeakrefHoleWarning;
  // THPStorage_NewWithStorage.
  static constexpr const char* subclass_error =
      "Creating a Storage subclass from a class that does not inherit from Storage is not "
      "possible. Make sure your class inherits from Storage.";
  // THPStorage_Wrap and THPStorage_tryPreserve.
  static constexpr const char* wrong_kind_error = "Expected a storage type, but got ";
  static Storage alias(const Storage& s) { return s.share_data(); }
};

// A grad_fn whose Python object is preserved like a tensor's (PyTorch #179764, April
// 2026, prepares this for autograd Nodes through PyObjectPreservation; until then a
// grad_fn's Python object was a non-owning cache: Note [Two ways to give a grad_fn a
// Python object], torch.h).  Used only by interpreters created with
// GradFnObjects::Preserved.  Its Python classes are per node kind ("PowBackward0"),
// subclasses of `Node`.
template <>
struct Preserved<autograd::NodeHandle> {
  static constexpr const char* python_name = "Node";
  static constexpr const char* base_name = "NodeBase";
  static constexpr const char* error_name = "Node";
  static constexpr const char* noun = "node";
  static constexpr HermeticRule hermetic = HermeticRule::FollowsThread;
  static constexpr ForeignRule foreign = ForeignRule::Refuse;
  static constexpr bool python_dispatch = false;  // no operator takes a node
  // A node's death releases tensors, which may belong to another interpreter's wrappers.
  static constexpr bool release_gil_on_drop = true;
  static constexpr const char* weakref_hole_warning = texts::kNodeWeakrefHoleWarning;
  static constexpr const char* subclass_error =
      "Creating a Node subclass from a class that does not inherit from Node is not possible.";
  static constexpr const char* wrong_kind_error = "Expected a node type, but got ";
};

// THPVariable (Handle = Tensor) and THPStorage (Handle = Storage).  Every field is
// protected by the owning interpreter's GIL.
template <class Handle>
struct WrapperObject final : PyObject {
  using PyObject::PyObject;
  // Owned while Python owns the C++ object (L), borrowed while the C++ object owns this
  // wrapper (Z), undefined once stubbed (T6 with the weakref hole) or cleared.
  // See Note [PyObject preservation].
  MaybeOwned<Handle> cdata;
  // Made in hermetic mode: never recorded in the slot, never preserved.  Read only
  // under HermeticRule::RememberedAtCreation.
  bool is_hermetic = false;
  // THPVariable's backward_hooks (`t._backward_hooks`, tensor_methods.h) and
  // post_accumulate_grad_hooks: fields of the C struct, not __dict__ entries, so the
  // wrapper's traverse visits them and its clear and dealloc drop them themselves.  The
  // tensor's autograd meta holds the same objects a second time (AutogradMeta).
  // Only tensors set them.
  interp::Ref backward_hooks;
  interp::Ref post_accumulate_grad_hooks;
};
using TensorObject = WrapperObject<Tensor>;
using StorageObject = WrapperObject<Storage>;

class Torch;

// Which C++ objects the abandoned wrappers of a group of dead interpreters keep alive,
// and whether anything else reaches one that a given interpreter tagged: the module's
// answer to Note [Reclaiming a dead interpreter] (interp/runtime.h), condition 2.  Each
// add() is one owning reference, from an abandoned wrapper of the group (parent null)
// or from an object already added (a tensor's grad, grad_fn and storage; what an
// autograd node saved, its leaf and its edges).  An object is held
// from outside when its strong count is more than the references found, or when one
// that holds it is; objects an interpreter did not tag do not matter to it in
// themselves, only as a way to reach one it did.  Built once for the whole group
// (finish() walks what is reached from outside once), then asked about each member:
// linear in the objects added, whatever the number of dead interpreters.
class CxxReach {
 public:
  template <class Impl>
  void add(const Impl* impl, const void* parent = nullptr) {
    auto [it, fresh] = nodes_.try_emplace(impl);
    Node& node = it->second;
    ++node.held;
    if (parent != nullptr) nodes_[parent].children.push_back(impl);
    if (!fresh) return;
    node.uses = impl->refcount();
    const impl::PyObjectSlot* slot = impl->pyobj_slot();
    node.tag = slot->pyobj_interpreter();
    // E2: the slot owns a zombie.  E4: while the target is shared (n >= 2) C++ holds one
    // real reference to its wrapper (Note [Era E4 in the binding]); either way a
    // reference to the tagging interpreter's wrapper, held from the C++ side.
    node.owns_wrapper = node.tag != nullptr &&
                        (slot->owns_pyobj() || (impl->has_pyobject() && node.uses >= 2 &&
                                                slot->_unchecked_untagged_pyobj() != nullptr));
    if constexpr (requires { impl->grad(); }) {
      if (impl->grad()) add(impl->grad().get(), impl);
    }
    if constexpr (requires { impl->autograd_meta(); }) {
      if (const autograd::AutogradMeta* meta = impl->autograd_meta()) {
        if (meta->grad_fn.defined()) add(meta->grad_fn.get(), impl);
        // The Python hooks it holds are given back through their interpreter.
        for (const auto* hooks : {&meta->backward_hooks, &meta->post_accumulate_grad_hooks}) {
          if (*hooks) nodes_[impl].safe.push_back(&(*hooks)->pyinterpreter());
        }
      }
    }
    if constexpr (std::is_same_v<Impl, autograd::Node>) {  // what a node holds
      for (const autograd::SavedVariable* saved : {&impl->saved_self(), &impl->saved_other(), &impl->saved_result()}) {
        if (saved->defined()) add(saved->data().unsafeGetTensorImpl(), impl);
      }
      if (impl->variable().defined()) add(impl->variable().unsafeGetTensorImpl(), impl);
      for (const autograd::NodeHandle& edge : impl->next_edges()) {
        if (edge.defined()) add(edge.get(), impl);
      }
    }
    if constexpr (requires { impl->storage().getIntrusivePtr(); }) {
      if (impl->storage().defined()) add(impl->storage().getIntrusivePtr().get(), impl);
    }
  }

  // Room for `objects` C++ objects (a tensor and its storage per abandoned wrapper).
  void reserve(std::size_t objects) { nodes_.reserve(objects); }

  // After the last add(): what is reached from outside, and each tag's totals.
  void finish() {
    std::vector<const void*> outside;
    for (const auto& [impl, node] : nodes_) {
      if (node.uses != node.held) outside.push_back(impl);
    }
    while (!outside.empty()) {
      Node& node = nodes_.at(outside.back());
      outside.pop_back();
      if (std::exchange(node.reached, true)) continue;
      outside.insert(outside.end(), node.children.begin(), node.children.end());
    }
    for (const auto& [impl, node] : nodes_) {
      // A SafePyObject in an object nothing outside reaches goes with the group.
      if (!node.reached) {
        for (const impl::PyInterpreter* owner : node.safe) ++per_tag_[owner].internal_safe;
      }
      if (node.tag == nullptr) continue;
      PerTag& t = per_tag_[node.tag];
      ++t.tagged;
      t.reached_from_outside = t.reached_from_outside || node.reached;
      t.owned_wrappers += node.owns_wrapper ? 1 : 0;
    }
  }

  // True when no object `self` tagged is reachable from outside, and the objects added
  // carry every one of its live tags.
  // And every SafePyObject holding one of its objects (a tensor's Python hooks) is in
  // an object nothing outside reaches: each goes with the group, through a PyInterpreter
  // that still exists.
  [[nodiscard]] bool only_internal(const impl::PyInterpreter* self) const {
    const auto it = per_tag_.find(self);
    if (it == per_tag_.end()) return self->tagged_count() == 0 && self->safe_objects() == 0;
    return !it->second.reached_from_outside && it->second.tagged == self->tagged_count() &&
           it->second.internal_safe == self->safe_objects();
  }
  // References to `self`'s wrappers held from the C++ side of the objects added: E2's
  // zombies (owned by their slots), E4's shared targets (C++'s reference).
  [[nodiscard]] std::int64_t owned_wrappers(const impl::PyInterpreter* self) const {
    const auto it = per_tag_.find(self);
    return it == per_tag_.end() ? 0 : it->second.owned_wrappers;
  }
  // References to `self`'s objects that SafePyObjects in the objects added hold (a
  // tensor's Python hooks): references from outside the interpreter, explained.
  [[nodiscard]] std::int64_t safe_held(const impl::PyInterpreter* self) const {
    const auto it = per_tag_.find(self);
    return it == per_tag_.end() ? 0 : it->second.internal_safe;
  }

 private:
  struct Node {
    std::uint32_t uses = 0;  // the strong count when first seen
    std::uint32_t held = 0;  // owning references found from the abandoned side
    const impl::PyInterpreter* tag = nullptr;
    bool owns_wrapper = false;
    bool reached = false;  // from outside (finish)
    std::vector<const void*> children;
    std::vector<const impl::PyInterpreter*> safe;  // whose SafePyObjects it holds
  };
  struct PerTag {
    std::int64_t tagged = 0;
    bool reached_from_outside = false;
    std::int64_t owned_wrappers = 0;
    std::int64_t internal_safe = 0;
  };
  std::unordered_map<const void*, Node> nodes_;
  std::unordered_map<const impl::PyInterpreter*, PerTag> per_tag_;
};

// One per preserved type: what the binding needs of a wrapper whose handle type it
// does not know statically.
struct WrapperOps {
  const char* python_name;
  const char* weakref_hole_warning;
  // What the wrapper's cdata is, and (when defined) the C++ object it refers to.
  trace::CdataKind (*read_cdata)(const PyObject* o, const void** target) noexcept;
  // Stub cdata to undefined: every later use of the wrapper raises.
  void (*stub_cdata)(PyObject* o) noexcept;
  // `o._fix_weakref()`: wrap the wrapper's C++ object again, then drop the result.
  void (*fix_weakref)(Torch& torch, const interp::Ref& o);
  // Reclaiming a dead interpreter (Note [Reclaiming a dead interpreter]): the reference
  // _backward_hooks holds; the C++ object an owned cdata keeps alive; letting it go
  // (the slot forgets the wrapper first, if it records it).
  void (*visit_fields)(PyObject* o, interp::VisitProc visit, void* arg);
  void (*reach)(const PyObject* o, CxxReach& reach);
  void (*release)(PyObject* o, impl::PyInterpreter* self) noexcept;
};

namespace ops_detail {
template <class H>
trace::CdataKind read_cdata(const PyObject* o, const void** target) noexcept {
  const auto* w = static_cast<const WrapperObject<H>*>(o);
  if (!w->cdata.defined()) return trace::CdataKind::Undefined;
  *target = w->cdata.get();
  return w->cdata.unsafeIsBorrowed() ? trace::CdataKind::Borrowed : trace::CdataKind::Owned;
}
template <class H>
void stub_cdata(PyObject* o) noexcept {
  static_cast<WrapperObject<H>*>(o)->cdata = MaybeOwned<H>();
}
template <class H>
void fix_weakref(Torch& torch, const interp::Ref& o);  // defined in python_variable.h
template <class H>
void visit_fields(PyObject* o, interp::VisitProc visit, void* arg) {
  auto* w = static_cast<WrapperObject<H>*>(o);
  if (PyObject* hooks = w->backward_hooks.get()) visit(hooks, arg);
  if (PyObject* hooks = w->post_accumulate_grad_hooks.get()) visit(hooks, arg);
}
template <class H>
void reach(const PyObject* o, CxxReach& reach) {
  const auto& cdata = static_cast<const WrapperObject<H>*>(o)->cdata;
  if (cdata.defined() && !cdata.unsafeIsBorrowed()) reach.add(cdata.get());
}
template <class H>
void release(PyObject* o, impl::PyInterpreter* self) noexcept {
  (void)static_cast<WrapperObject<H>*>(o)->backward_hooks.release();  // forgotten: see ReclaimHooks
  (void)static_cast<WrapperObject<H>*>(o)->post_accumulate_grad_hooks.release();
  auto& cdata = static_cast<WrapperObject<H>*>(o)->cdata;
  if (!cdata.defined() || cdata.unsafeIsBorrowed()) return;  // a borrowed one counts nothing
  impl::PyObjectSlot* slot = cdata.get()->pyobj_slot();
  if (slot->pyobj_interpreter() == self && slot->_unchecked_untagged_pyobj() == o) {
    slot->unchecked_clear_pyobj(self);
  }
  cdata = MaybeOwned<H>();
}
}  // namespace ops_detail

template <PreservedHandle H>
[[nodiscard]] const WrapperOps& wrapper_ops_for() noexcept {
  static constexpr WrapperOps ops{Preserved<H>::python_name, Preserved<H>::weakref_hole_warning,
                                  &ops_detail::read_cdata<H>, &ops_detail::stub_cdata<H>,
                                  &ops_detail::fix_weakref<H>, &ops_detail::visit_fields<H>,
                                  &ops_detail::reach<H>, &ops_detail::release<H>};
  return ops;
}

// The table of a wrapper of any preserved type; null for any other object.
[[nodiscard]] inline const WrapperOps* wrapper_ops(const PyObject* o) noexcept {
  if (o->ob_type->layout != interp::Layout::Native) return nullptr;
  return static_cast<const WrapperOps*>(o->ob_type->native);
}

}  // namespace revive::binding
