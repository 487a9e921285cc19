// A Graph as DOT text.  The look of each kind of node and edge is decided here, once;
// what the kinds mean is Note [Ownership pictures] (diagram.h).
#include "revive/pictures/graph.h"

#include <algorithm>
#include <ostream>

namespace revive::pictures {
namespace {

// A DOT quoted string.  `line_end` is what a '\n' in the text becomes: "\\n" centres
// the line, "\\l" left-justifies it.
std::string quoted(std::string_view text, std::string_view line_end = "\\n") {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += line_end; break;
      default: out += c;
    }
  }
  return out + "\"";
}

std::string_view node_style(NodeKind k) noexcept {
  switch (k) {
    case NodeKind::Owners:
      return R"(shape=ellipse, style=filled, fillcolor="#ffffff", color="#888888")";
    case NodeKind::Target:
      return R"(shape=box, style="rounded,filled,bold", fillcolor="#cfe2f3")";
    case NodeKind::Gone:
      return R"(shape=box, style="rounded,dashed", color="#999999", fontcolor="#777777")";
    case NodeKind::Slot:
      return R"(shape=box, style=filled, fillcolor="#e8f0fa", color="#5b7fa6")";
    case NodeKind::Wrapper:
      return R"(shape=box, style="rounded,filled", fillcolor="#fce5cd")";
    case NodeKind::Zombie:
      return R"(shape=box, style="rounded,filled", fillcolor="#d9d2e9")";
    case NodeKind::Stub:
      return R"(shape=box, style="rounded,filled,dashed", fillcolor="#f4cccc")";
    case NodeKind::Hermetic:
      return R"(shape=box, style="rounded,filled", fillcolor="#fff2cc")";
    case NodeKind::Interpreter:
      return R"(shape=component, style=filled, fillcolor="#d9ead3")";
    case NodeKind::Disarmed:
      return R"(shape=component, style="filled,dashed", fillcolor="#eeeeee", fontcolor="#666666")";
    case NodeKind::State:
      return R"(shape=box, style="rounded,filled", fillcolor="#ffffff", color="#888888")";
    case NodeKind::Start:
      return R"(shape=point, width=0.15)";
    case NodeKind::GradFn:
      return R"(shape=hexagon, style=filled, fillcolor="#d0e0e3", color="#45818e")";
  }
  return "";
}

std::string_view edge_style(EdgeKind k) noexcept {
  switch (k) {
    case EdgeKind::Owning: return R"(style=solid, penwidth=2, color="#000000")";
    case EdgeKind::Borrowed: return R"(style=dashed, color="#1f5fa8", fontcolor="#1f5fa8")";
    case EdgeKind::NonOwning: return R"(style=dotted, color="#777777", fontcolor="#555555")";
    case EdgeKind::Tag: return R"(style=solid, color="#7b3fa0", fontcolor="#7b3fa0", arrowhead=vee)";
    case EdgeKind::Embeds:
      return R"(style=solid, color="#5b7fa6", dir=back, arrowtail=diamond)";
    case EdgeKind::Transition: return R"(style=solid, color="#999999", fontcolor="#666666")";
  }
  return "";
}

// Highlighted: a state the path visits (the other kinds keep their colours and get a
// thicker border).
std::string highlighted_node_style(NodeKind k) {
  if (k == NodeKind::State) {
    return R"(shape=box, style="rounded,filled,bold", fillcolor="#ffe599", color="#c0392b", penwidth=2)";
  }
  return std::string(node_style(k)) + ", penwidth=3";
}

// Highlighted: an arrow the path took.
std::string highlighted_edge_style(EdgeKind k) {
  if (k == EdgeKind::Transition) {
    return R"(style=solid, penwidth=3, color="#c0392b", fontcolor="#c0392b")";
  }
  return std::string(edge_style(k)) + ", penwidth=3";
}

void append_node(std::string& out, const Node& n, std::string_view indent) {
  out += indent;
  out += quoted(n.id) + " [label=" + quoted(n.label) + ", ";
  out += n.highlighted ? highlighted_node_style(n.kind) : std::string(node_style(n.kind));
  out += "];\n";
}

}  // namespace

std::string_view to_string(NodeKind k) noexcept {
  switch (k) {
    case NodeKind::Owners: return "owners";
    case NodeKind::Target: return "target";
    case NodeKind::Gone: return "gone";
    case NodeKind::Slot: return "slot";
    case NodeKind::Wrapper: return "wrapper";
    case NodeKind::Zombie: return "zombie";
    case NodeKind::Stub: return "stub";
    case NodeKind::Hermetic: return "hermetic";
    case NodeKind::Interpreter: return "interpreter";
    case NodeKind::Disarmed: return "disarmed";
    case NodeKind::State: return "state";
    case NodeKind::Start: return "start";
    case NodeKind::GradFn: return "grad_fn";
  }
  return "?";
}

std::string_view to_string(EdgeKind k) noexcept {
  switch (k) {
    case EdgeKind::Owning: return "owning";
    case EdgeKind::Borrowed: return "borrowed";
    case EdgeKind::NonOwning: return "non-owning";
    case EdgeKind::Tag: return "tag";
    case EdgeKind::Embeds: return "embeds";
    case EdgeKind::Transition: return "transition";
  }
  return "?";
}

std::ostream& operator<<(std::ostream& os, NodeKind k) { return os << to_string(k); }
std::ostream& operator<<(std::ostream& os, EdgeKind k) { return os << to_string(k); }

const Node* Graph::node(std::string_view id) const noexcept {
  auto it = std::find_if(nodes.begin(), nodes.end(), [id](const Node& n) { return n.id == id; });
  return it == nodes.end() ? nullptr : &*it;
}

const Edge* Graph::edge(std::string_view from, std::string_view to) const noexcept {
  auto it = std::find_if(edges.begin(), edges.end(),
                         [&](const Edge& e) { return e.from == from && e.to == to; });
  return it == edges.end() ? nullptr : &*it;
}

std::vector<const Edge*> Graph::edges_between(std::string_view from, std::string_view to) const {
  std::vector<const Edge*> out;
  for (const Edge& e : edges) {
    if (e.from == from && e.to == to) out.push_back(&e);
  }
  return out;
}

std::string to_dot(const Graph& g) {
  std::string out = "digraph " + quoted(g.name) + " {\n";
  out += "  graph [";
  if (g.left_to_right) out += "rankdir=LR, ";
  out += R"(fontname="Helvetica", fontsize=11, nodesep=0.35, ranksep=0.55, labelloc=b, labeljust=l)";
  if (!g.caption.empty()) out += ", label=" + quoted(g.caption + "\n", "\\l");
  out += "];\n";
  out += "  node [fontname=\"Helvetica\", fontsize=11];\n";
  out += "  edge [fontname=\"Helvetica\", fontsize=10];\n";
  for (const Cluster& c : g.clusters) {
    out += "  subgraph " + quoted("cluster_" + c.id) + " {\n";
    out += "    label=" + quoted(c.label) + ";\n";
    out += "    style=rounded; color=\"#aaaaaa\"; fontcolor=\"#555555\"; labelloc=t;\n";
    for (const Node& n : g.nodes) {
      if (n.cluster == c.id) append_node(out, n, "    ");
    }
    out += "  }\n";
  }
  for (const Node& n : g.nodes) {
    const bool clustered = std::any_of(g.clusters.begin(), g.clusters.end(),
                                       [&n](const Cluster& c) { return c.id == n.cluster; });
    if (!clustered) append_node(out, n, "  ");
  }
  for (const Edge& e : g.edges) {
    out += "  " + quoted(e.from) + " -> " + quoted(e.to) + " [label=" + quoted(e.label) + ", ";
    out += e.highlighted ? highlighted_edge_style(e.kind) : std::string(edge_style(e.kind));
    out += "];\n";
  }
  out += "}\n";
  return out;
}

std::string id_part(std::string_view name) {
  std::string out;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_';
    out += ok ? c : '_';
  }
  return out.empty() ? std::string("_") : out;
}

}  // namespace revive::pictures
