// diagram.h: pictures of who owns whom, for the tour, the docs and the tests.
//
// Defines:
//   WrapperView      one wrapper as a picture shows it: type, id, r, cdata, attributes.
//   OwnershipView    one target as seen from a list of interpreters: n, weak refs, the
//                    slot (tag, owns bit), the recorded wrapper, extra wrappers the
//                    caller names (hermetic ones, stubbed ones), the interpreters.
//   look_at()        take an OwnershipView through the interpreters' views
//                    (trace::RuntimeView), each part under the right GIL.
//   ownership_graph  an OwnershipView as a Graph, drawn as Note [Ownership pictures] says.
//
// Example (compiled in test/pictures/diagram_test.cpp):
//   Tensor t = Tensor::empty(2);
//   Ref p = I->wrap(t);
//   const trace::RuntimeView* seen_from[] = {&I->view()};
//   Graph g = ownership_graph(look_at(t.unsafeGetTensorImpl(), seen_from));
//   assert(g.edge("wrapper", "target")->kind == EdgeKind::Owning);   // cdata owned (L)
//   std::string dot = to_dot(g);                                      // for Graphviz
//
// The Graph and its DOT text are in graph.h; the state machine in state_machine.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "revive/pictures/graph.h"
#include "revive/pictures/inspect.h"
#include "revive/pictures/state_machine.h"
#include "revive/tensor/autograd.h"
#include "revive/trace/runtime_view.h"

namespace revive::pictures {

// Note [Ownership pictures]
// ~~~~~~~~~~~~~~~~~~~~~~~~~
// Not a PyTorch mechanism: how this project draws §2's states, so that a picture can
// be read without the counts and checked by a test.  One picture shows one target:
//   - nodes, with fixed ids: "cpp_owners" (C++ references: Tensor handles, grads),
//     "target" (the TensorImpl or StorageImpl, with n and its weak references),
//     "slot" (its PyObjectSlot: tag and owns bit), "wrapper" (the recorded wrapper P),
//     "extra1", "extra2", ... (wrappers the caller names: hermetic H, stubbed ones),
//     "interp_<name>" (each interpreter: alive or disarmed) and "python_<name>"
//     (the Python references held in that interpreter);
//   - an edge per reference, from holder to held, labelled with what it counts:
//       solid   (Owning)     holds a counted reference: n or r goes down when it goes;
//       dashed  (Borrowed)   P.cdata while borrowed (Z): a pointer that counts nothing
//                            but that the wrapper still uses;
//       dotted  (NonOwning)  the slot's pyobj_ while the owns bit is clear (L);
//       purple  (Tag)        the slot's interpreter tag: which GIL guards pyobj_;
//       diamond (Embeds)     the target embeds its slot;
//   - so the cycle that preservation avoids is visible: of the two references
//     between wrapper and target, wrapper -> target (cdata) and slot -> wrapper
//     (pyobj_), exactly one is solid while a wrapper is recorded:
//       L:  wrapper -> target solid (owned cdata),  slot -> wrapper dotted;
//       Z:  wrapper -> target dashed (borrowed),    slot -> wrapper solid (owns = 1).
//     Two solid ones would be the uncollectable cycle; none, a wrapper nobody owns.
//   - autograd nodes the caller names (a grad_fn, hexagons in the C++ cluster) and the
//     nodes their edges reach: "node1", "node2", ..., each with its n, a solid edge to
//     every node it holds (next edge) and to the target where it holds that (the input
//     it saved, an AccumulateGrad's variable), labelled with what holds it.  Those
//     references are then not in "cpp_owners"' count.
//     Era E4 adds one more, cpp_owners -> wrapper, solid, while the has-PyObject bit is
//     set and n >= 2: C++'s real reference to the wrapper (Note [Era E4 in the binding]).
//     It is not a cycle the collector must break: C++ drops it when it stops sharing.
// The counts on "cpp_owners" and "python_<name>" are what is left of n and r once the
// drawn edges are counted, so they include references from objects not drawn (another
// wrapper's dict, a weakref deref).

struct WrapperView {
  enum class Role {
    Recorded,  // the slot records it (P)
    Hermetic,  // owns the target, never recorded (H, T10)
    Stubbed,   // its cdata is undefined: stubbed by T6/T8, or cleared by the collector
    Other,     // not recorded here and not owning this target (e.g. a storage wrapper
               // of another interpreter, which wraps an alias: another StorageImpl)
  };
  std::uint64_t id = 0;  // the runtime's object number (WrapperFacts::id)
  std::string type;      // its class's name
  std::string name;      // the Python variable a caller named it by, if any (the label
                         // starts with it)
  std::string interpreter;
  std::ptrdiff_t refcnt = 0;  // r
  CdataKind cdata = CdataKind::NoWrapper;
  Role role = Role::Recorded;
  std::vector<std::string> attributes;  // __dict__ keys, then set __slots__ names
  std::size_t weakrefs = 0;             // Python weakrefs pointing at it
};

// An autograd node as a picture shows it.
struct NodeView {
  std::uint64_t id = 0;       // Node::id
  std::string name;           // "PowBackward0", "AccumulateGrad", ...
  std::string label;          // what the caller named it by ("y.grad_fn"), if anything
  std::uint32_t strong = 0;   // its n
  std::vector<std::string> holds_target;  // its owning references to the target: "_saved_self", "variable", ...
  std::vector<std::size_t> edges;         // the nodes it holds (indices into OwnershipView::nodes)
};

struct InterpreterView {
  std::string name;
  bool disarmed = false;   // torn down (T9)
  bool tagged_it = false;  // the target's tag is this interpreter
  bool viewpoint = false;  // the state is read as seen from this one (the first)
};

struct OwnershipView {
  std::string kind;            // the target's type: "TensorImpl", "StorageImpl", ...
  std::string held_by;         // who holds one in C++ (its kHeldBy)
  std::uint64_t target_id = 0; // TensorImpl::id / StorageImpl::id; 0 when gone
  LifeState state = LifeState::D;  // as seen from the first interpreter
  bool alive = false;          // false: D, and the fields below up to `recorded` are empty
  std::uint32_t strong = 0;    // n
  std::uint32_t weak_refs = 0; // weak_intrusive_ptrs to it (c10's weak count minus one)
  bool has_pyobject = false;   // era E4's bit: while n >= 2, C++ holds one reference to
                               // the recorded wrapper (drawn cpp_owners -> wrapper, solid)
  std::string tag;             // the tag's name, "-" when untagged
  std::optional<bool> owns;    // the owns bit; false when untagged (drawn "-", as the
                               // tour's table prints it); empty when tagged by an
                               // interpreter not listed (pyobj_ is guarded by its GIL)
  std::optional<WrapperView> recorded;
  std::vector<WrapperView> extra;  // the wrappers the caller named, in order
  std::vector<NodeView> nodes;     // the autograd nodes the caller named, then those they reach
  std::vector<InterpreterView> interpreters;

  // n minus the owned cdatas drawn (recorded and extra wrappers) and the nodes' references
// drawn: C++'s other references.
  [[nodiscard]] std::uint32_t cpp_strong() const noexcept;
};

// The view of `target` from `interpreters` (the first is the viewpoint; the list must
// not be empty).  The slot's wrapper is read under the GIL of the tagging interpreter,
// if it is listed (a disarmed one too: its objects are abandoned, not freed).  `extra`
// names wrappers to draw besides the recorded one (naming the recorded one too is
// harmless: it is drawn once); each must be alive.  `nodes` names autograd nodes to
// draw, with the nodes their edges reach (at most 8 in all); the caller keeps them
// alive, and holds the GIL that guards them (the viewpoint's).  A null target is a dead
// one (D).  The caller keeps `target` alive meanwhile.
[[nodiscard]] OwnershipView look_at(const Target& target,
                                    std::span<const trace::RuntimeView* const> interpreters,
                                    std::span<const PyObject* const> extra = {},
                                    std::span<const autograd::Node* const> nodes = {});
// The same for any preserved C++ object (TensorImpl, StorageImpl, ...).
template <PreservedTarget Impl>
[[nodiscard]] OwnershipView look_at(const Impl* target,
                                    std::span<const trace::RuntimeView* const> interpreters,
                                    std::span<const PyObject* const> extra = {},
                                    std::span<const autograd::Node* const> nodes = {}) {
  return look_at(trace::target_of(target), interpreters, extra, nodes);
}

// The picture of `view` as Note [Ownership pictures] describes.  `caption` goes first
// in the caption, then a line on the state, then the legend.
[[nodiscard]] Graph ownership_graph(const OwnershipView& view, std::string caption = {});

}  // namespace revive::pictures
