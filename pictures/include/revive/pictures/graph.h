// graph.h: a picture as data: nodes, clusters and edges, and its Graphviz DOT text.
//
// Defines:
//   NodeKind, EdgeKind   what a node or edge stands for; to_dot picks shape, colour
//                        and line style from it (see Note [Ownership pictures]).
//   Node, Edge, Cluster  with stable ids and explicit labels.
//   Graph                what a picture says, before any layout; tests assert on it.
//   to_dot()             a Graph as DOT text (`dot -Tpng` renders it).
//   id_part()            a name made fit for an id.
//
// Example (compiled in test/pictures/diagram_test.cpp):
//   Graph g{.name = "tiny"};
//   g.nodes.push_back({.id = "a", .label = "A", .kind = NodeKind::Target});
//   g.nodes.push_back({.id = "b", .label = "B \"quoted\"", .kind = NodeKind::Wrapper});
//   g.edges.push_back({.from = "b", .to = "a", .label = "cdata", .kind = EdgeKind::Owning});
//   std::string dot = to_dot(g);   // contains: "b" -> "a" [label="cdata", style=solid, ...
//
// Built by diagram.h (one target's owners) and state_machine.h (the §2 machine).
#pragma once

#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

namespace revive::pictures {

// What kind of thing a node is; to_dot chooses shape and colour from it.
enum class NodeKind {
  Owners,       // a group of references (C++ handles, Python variables)
  Target,       // a TensorImpl or StorageImpl
  Gone,         // a target that has been freed (D)
  Slot,         // the PyObjectSlot inside a target
  Wrapper,      // a live wrapper (L), or any wrapper that owns its target
  Zombie,       // a wrapper the slot owns (Z)
  Stub,         // a wrapper whose cdata is undefined (stubbed, cleared)
  Hermetic,     // a wrapper never recorded in the slot (T10)
  Interpreter,  // an interpreter, alive
  Disarmed,     // an interpreter torn down (T9)
  State,        // a state of the state machine
  Start,        // the state machine's entry point
  GradFn,       // an autograd node (a grad_fn), a C++ owner of tensors
};

enum class EdgeKind {
  Owning,      // solid: a counted reference
  Borrowed,    // dashed: a borrowed cdata
  NonOwning,   // dotted: a pointer that counts nothing
  Tag,         // the slot's interpreter tag
  Embeds,      // the target contains the slot
  Transition,  // an arrow of the state machine
};

[[nodiscard]] std::string_view to_string(NodeKind k) noexcept;
[[nodiscard]] std::string_view to_string(EdgeKind k) noexcept;
std::ostream& operator<<(std::ostream& os, NodeKind k);
std::ostream& operator<<(std::ostream& os, EdgeKind k);

struct Node {
  std::string id{};         // [A-Za-z0-9_]+, stable across pictures
  std::string label{};      // lines separated by '\n'
  NodeKind kind = NodeKind::Owners;
  std::string cluster{};    // id of the cluster it is drawn in, or empty
  bool highlighted = false;
};

struct Edge {
  std::string from{};
  std::string to{};
  std::string label{};  // lines separated by '\n'
  EdgeKind kind = EdgeKind::Owning;
  bool highlighted = false;
};

struct Cluster {
  std::string id{};  // [A-Za-z0-9_]+; to_dot names it "cluster_<id>"
  std::string label{};
};

struct Graph {
  std::string name{};     // the DOT graph's name
  std::string caption{};  // drawn under the picture; lines separated by '\n'
  bool left_to_right = true;
  std::vector<Cluster> clusters{};
  std::vector<Node> nodes{};
  std::vector<Edge> edges{};

  [[nodiscard]] const Node* node(std::string_view id) const noexcept;
  // The first edge from `from` to `to`, or null.
  [[nodiscard]] const Edge* edge(std::string_view from, std::string_view to) const noexcept;
  // Every edge from `from` to `to` (a state machine may have several).
  [[nodiscard]] std::vector<const Edge*> edges_between(std::string_view from,
                                                       std::string_view to) const;
};

// DOT text: `digraph "name" {`, graph/node/edge defaults, one line per cluster, node
// and edge, `}`.  Every id and label is quoted; '"' and '\' in labels are escaped and
// '\n' becomes DOT's centred line break.  Deterministic: same Graph, same text.
[[nodiscard]] std::string to_dot(const Graph& g);

// "I0" -> "I0", "E2-75932" -> "E2_75932": an interpreter name as an id part.
[[nodiscard]] std::string id_part(std::string_view name);

}  // namespace revive::pictures
