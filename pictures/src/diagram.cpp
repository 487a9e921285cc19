// One target's owners, read under the right GILs and drawn as a Graph.
// See Note [Ownership pictures].
#include "revive/pictures/diagram.h"

#include <algorithm>
#include <iterator>
#include <optional>
#include <utility>

namespace revive::pictures {
namespace {

// `o` as a picture shows it.  The caller holds o's interpreter's GIL.
WrapperView view_of(const trace::RuntimeView& home, const PyObject* o, const void* target,
                    bool recorded) {
  trace::WrapperFacts f = home.facts(o);
  WrapperView w;
  w.id = f.id;
  w.type = std::move(f.type);
  w.interpreter = std::move(f.interpreter);
  w.refcnt = f.refcnt;
  w.cdata = f.cdata;
  if (recorded) {
    w.role = WrapperView::Role::Recorded;
  } else if (f.cdata == CdataKind::Undefined) {
    w.role = WrapperView::Role::Stubbed;
  } else if (f.cdata == CdataKind::Owned && target != nullptr && f.target == target) {
    w.role = WrapperView::Role::Hermetic;
  } else {
    w.role = WrapperView::Role::Other;
  }
  w.attributes = std::move(f.attributes);
  w.weakrefs = f.weakrefs;
  return w;
}

// The named nodes and those their edges reach, breadth first, at most kMaxNodes.
void add_nodes(OwnershipView& v, const void* target, std::span<const autograd::Node* const> named) {
  constexpr std::size_t kMaxNodes = 8;
  std::vector<const autograd::Node*> seen;
  auto index_of = [&seen](const autograd::Node* n) -> std::optional<std::size_t> {
    for (std::size_t i = 0; i < seen.size(); ++i) {
      if (seen[i] == n) return i;
    }
    return std::nullopt;
  };
  for (const autograd::Node* n : named) {
    if (n != nullptr && !index_of(n) && seen.size() < kMaxNodes) seen.push_back(n);
  }
  for (std::size_t i = 0; i < seen.size(); ++i) {
    const autograd::Node* n = seen[i];
    NodeView nv;
    nv.id = n->id();
    nv.name = std::string(n->name());
    nv.strong = n->refcount();
    auto holds = [&](const Tensor& t, const char* what) {
      if (target != nullptr && t.unsafeGetTensorImpl() == target) nv.holds_target.emplace_back(what);
    };
    if (!n->saved_self().is_output()) holds(n->saved_self().data(), "_saved_self");
    if (!n->saved_other().is_output()) holds(n->saved_other().data(), "_saved_other");
    holds(n->variable(), "variable");
    for (const autograd::NodeHandle& e : n->next_edges()) {
      if (!e.defined()) continue;
      std::optional<std::size_t> at = index_of(e.get());
      if (!at && seen.size() < kMaxNodes) {
        seen.push_back(e.get());
        at = seen.size() - 1;
      }
      if (at) nv.edges.push_back(*at);
    }
    v.nodes.push_back(std::move(nv));
  }
}

}  // namespace

OwnershipView look_at(const Target& target, std::span<const trace::RuntimeView* const> interpreters,
                      std::span<const PyObject* const> extra, std::span<const autograd::Node* const> nodes) {
  REVIVE_CHECK(!interpreters.empty(), "look_at() needs at least one interpreter");
  OwnershipView v;
  v.kind = std::string(target.type_name);
  v.held_by = std::string(target.held_by);
  const bool gone = target.slot == nullptr;
  const impl::PyInterpreter* tag = gone ? nullptr : target.slot->pyobj_interpreter();
  const trace::RuntimeView* tagger = nullptr;
  const PyObject* recorded = nullptr;
  for (std::size_t i = 0; i < interpreters.size(); ++i) {
    const trace::RuntimeView* in = interpreters[i];
    const bool tagged_it = tag != nullptr && tag == in->tag();
    if (tagged_it) tagger = in;
    v.interpreters.push_back(InterpreterView{in->name(), in->is_finalized(), tagged_it, i == 0});
  }
  if (gone) {
    v.state = LifeState::D;
  } else {
    v.alive = true;
    v.target_id = target.id;
    v.strong = target.strong;
    v.has_pyobject = target.has_pyobject;
    const std::uint32_t weak = target.weak;
    v.weak_refs = v.strong > 0 && weak > 0 ? weak - 1 : weak;
    const Snapshot seen = inspect(*interpreters[0], target);
    v.state = to_life_state(seen.state);
    v.tag = seen.tag;
    if (tag == nullptr) {
      v.owns = false;
    } else if (tagger != nullptr) {
      // pyobj_ and the recorded wrapper belong to the tagger's GIL; hold it for both.
      trace::ViewLock gil(*tagger);
      const Snapshot s = inspect(*tagger, target);
      v.owns = s.owns;
      recorded = s.recorded;
      if (recorded != nullptr) {
        v.recorded = view_of(*tagger, recorded, target.address, /*recorded=*/true);
      }
    }
  }
  for (const PyObject* o : extra) {
    if (o == recorded) continue;  // drawn already, as "wrapper"
    const trace::RuntimeView& home = interpreters[0]->home_of(o);
    trace::ViewLock gil(home);
    v.extra.push_back(view_of(home, o, target.address, /*recorded=*/false));
  }
  add_nodes(v, target.slot == nullptr ? nullptr : target.address, nodes);
  return v;
}

namespace {

std::string plural(std::int64_t k, std::string_view one, std::string_view many) {
  return std::to_string(k) + " " + std::string(k == 1 ? one : many);
}

std::string cluster_of(const std::string& interpreter) { return "py_" + id_part(interpreter); }

NodeKind wrapper_kind(const WrapperView& w) {
  if (w.cdata == CdataKind::Undefined) return NodeKind::Stub;
  if (w.role == WrapperView::Role::Hermetic) return NodeKind::Hermetic;
  if (w.cdata == CdataKind::Borrowed) return NodeKind::Zombie;
  return NodeKind::Wrapper;
}

std::string wrapper_label(const WrapperView& w) {
  std::string label = (w.name.empty() ? "" : w.name + ": ") + w.type + " #" + std::to_string(w.id) +
                      "\nr = " + std::to_string(w.refcnt);
  if (!w.attributes.empty()) {
    label += "\nattributes:";
    for (std::size_t i = 0; i < w.attributes.size(); ++i) {
      label += (i == 0 ? " " : ", ") + w.attributes[i];
    }
  }
  if (w.weakrefs > 0) {
    label += '\n';  // appended apart: here g++ 12 -O3 warned falsely on "\n" + ... (PR 105329)
    label += plural(static_cast<std::int64_t>(w.weakrefs), "weakref", "weakrefs");
  }
  switch (w.role) {
    case WrapperView::Role::Recorded:
      if (w.cdata == CdataKind::Borrowed) label += "\nzombie: kept alive by C++";
      break;
    case WrapperView::Role::Hermetic: label += "\nhermetic: never recorded"; break;
    case WrapperView::Role::Stubbed: break;
    case WrapperView::Role::Other: label += "\nnot recorded in this slot"; break;
  }
  if (w.cdata == CdataKind::Undefined) label += "\ncdata undefined (stubbed)";
  return label;
}

// The edge a wrapper's cdata draws to the target, if it refers to it.
void add_cdata_edge(Graph& g, const std::string& id, const WrapperView& w, bool target_alive) {
  if (!target_alive) return;
  if (w.role != WrapperView::Role::Recorded && w.role != WrapperView::Role::Hermetic) return;
  if (w.cdata == CdataKind::Owned) {
    g.edges.push_back(Edge{id, "target", "cdata (owned)\n+1 to n", EdgeKind::Owning, false});
  } else if (w.cdata == CdataKind::Borrowed) {
    g.edges.push_back(Edge{id, "target", "cdata (borrowed)\ncounts nothing", EdgeKind::Borrowed, false});
  }
}

}  // namespace

std::uint32_t OwnershipView::cpp_strong() const noexcept {
  std::uint32_t drawn = 0;
  if (recorded && recorded->cdata == CdataKind::Owned) ++drawn;
  for (const WrapperView& w : extra) {
    if (w.role == WrapperView::Role::Hermetic && w.cdata == CdataKind::Owned) ++drawn;
  }
  for (const NodeView& n : nodes) drawn += static_cast<std::uint32_t>(n.holds_target.size());
  return strong > drawn ? strong - drawn : 0;
}

Graph ownership_graph(const OwnershipView& v, std::string caption) {
  Graph g;
  g.name = "ownership";
  // The caption: the caller's lines, the state in words, the legend.
  std::string state = "state " + std::string(to_string(v.state)) + ", " +
                      std::string(describe(v.state));
  if (!v.interpreters.empty()) state += ", seen from " + v.interpreters.front().name;
  if (v.alive) {
    state += ": n = " + std::to_string(v.strong);
    if (v.recorded) {
      state += ", r = " + std::to_string(v.recorded->refcnt) +
               ", cdata " + std::string(to_string(v.recorded->cdata));
    }
    if (v.owns) state += std::string(", owns = ") + (*v.owns ? "1" : "0");
    if (v.has_pyobject) state += ", has-PyObject bit (E4)";
  }
  g.caption = caption.empty() ? state : caption + "\n" + state;
  g.caption +=
      "\nsolid: owning (counted) reference   dashed: borrowed cdata   dotted: pointer that "
      "counts nothing   purple: interpreter tag";

  g.clusters.push_back(Cluster{"cpp", "C++"});
  // One cluster per interpreter: its PyInterpreter, its wrappers, its Python references.
  auto python_cluster = [&g, &v](const std::string& interpreter) {
    const std::string id = cluster_of(interpreter);
    if (std::none_of(g.clusters.begin(), g.clusters.end(),
                     [&id](const Cluster& c) { return c.id == id; })) {
      const bool disarmed = std::any_of(
          v.interpreters.begin(), v.interpreters.end(),
          [&interpreter](const InterpreterView& in) { return in.name == interpreter && in.disarmed; });
      g.clusters.push_back(Cluster{id, "interpreter " + interpreter + (disarmed ? " (torn down)" : "")});
    }
    return id;
  };
  for (const InterpreterView& in : v.interpreters) {
    const std::string cluster = python_cluster(in.name);
    std::string label = "PyInterpreter " + in.name +
                        (in.disarmed ? "\ndisarmed (torn down)" : "\nalive");
    if (in.viewpoint && v.interpreters.size() > 1) label += "\nseen from here";
    g.nodes.push_back(Node{"interp_" + id_part(in.name), label,
                           in.disarmed ? NodeKind::Disarmed : NodeKind::Interpreter, cluster,
                           false});
  }

  if (v.alive) {
    const std::uint32_t cpp = v.cpp_strong();
    if (cpp > 0) {
      g.nodes.push_back(Node{"cpp_owners", "C++ references\n(" + v.held_by + ")", NodeKind::Owners,
                             "cpp", false});
      g.edges.push_back(Edge{"cpp_owners", "target", plural(cpp, "strong ref", "strong refs"),
                             EdgeKind::Owning, false});
    }
    std::string target = v.kind + " #" + std::to_string(v.target_id) + "\nn = " +
                         std::to_string(v.strong);
    if (v.weak_refs > 0) target += "\n" + plural(v.weak_refs, "weak ref", "weak refs");
    g.nodes.push_back(Node{"target", target, NodeKind::Target, "cpp", false});
    g.nodes.push_back(Node{"slot",
                           "PyObjectSlot\ntag: " + v.tag + "\nowns: " +
                               (v.tag == "-" ? "-" : v.owns ? (*v.owns ? "1" : "0") : "? (tagger not shown)"),
                           NodeKind::Slot, "cpp", false});
    g.edges.push_back(Edge{"target", "slot", "embeds", EdgeKind::Embeds, false});
    if (v.tag != "-") {
      auto tagger = std::find_if(v.interpreters.begin(), v.interpreters.end(),
                                 [](const InterpreterView& in) { return in.tagged_it; });
      std::string to = "interp_other";
      if (tagger != v.interpreters.end()) {
        to = "interp_" + id_part(tagger->name);
      } else {
        g.nodes.push_back(Node{to, "PyInterpreter " + v.tag + "\n(not shown)",
                               NodeKind::Interpreter, "", false});
      }
      g.edges.push_back(Edge{"slot", to, "tag", EdgeKind::Tag, false});
    }
  } else {
    g.nodes.push_back(Node{"target", v.kind + "\nfreed (D)", NodeKind::Gone, "cpp", false});
  }

  // Python references per interpreter, drawn as one node each.
  auto python_refs = [&g, &python_cluster](const std::string& interpreter, const std::string& to,
                                           std::ptrdiff_t k) {
    if (k <= 0) return;
    const std::string cluster = python_cluster(interpreter);
    const std::string id = "python_" + id_part(interpreter);
    if (g.node(id) == nullptr) {
      g.nodes.push_back(Node{id, "Python references\n(variables, containers)", NodeKind::Owners,
                             cluster, false});
    }
    g.edges.push_back(Edge{id, to, plural(k, "ref", "refs"), EdgeKind::Owning, false});
  };

  if (v.recorded) {
    const WrapperView& w = *v.recorded;
    g.nodes.push_back(Node{"wrapper", wrapper_label(w), wrapper_kind(w), python_cluster(w.interpreter),
                           false});
    add_cdata_edge(g, "wrapper", w, v.alive);
    const bool owns = v.owns.value_or(false);
    if (owns) {
      g.edges.push_back(Edge{"slot", "wrapper", "pyobj_ (owns = 1)\nthe slot's ref", EdgeKind::Owning,
                             false});
    } else {
      g.edges.push_back(Edge{"slot", "wrapper", "pyobj_ (owns = 0)\ncounts nothing",
                             EdgeKind::NonOwning, false});
    }
    // E4: while C++ shares the target, it holds the wrapper (Note [Ownership pictures]).
    const bool cpp_holds_wrapper = v.alive && v.has_pyobject && v.strong >= 2 && g.node("cpp_owners") != nullptr;
    if (cpp_holds_wrapper) {
      g.edges.push_back(Edge{"cpp_owners", "wrapper", "C++'s ref (E4, n >= 2)", EdgeKind::Owning, false});
    }
    python_refs(w.interpreter, "wrapper", w.refcnt - (owns ? 1 : 0) - (cpp_holds_wrapper ? 1 : 0));
  }
  for (std::size_t i = 0; i < v.extra.size(); ++i) {
    const WrapperView& w = v.extra[i];
    const std::string id = "extra" + std::to_string(i + 1);
    g.nodes.push_back(Node{id, wrapper_label(w), wrapper_kind(w), python_cluster(w.interpreter), false});
    add_cdata_edge(g, id, w, v.alive);
    python_refs(w.interpreter, id, w.refcnt);
  }
  // Autograd nodes: C++ owners of the target, drawn one by one.
  for (std::size_t i = 0; i < v.nodes.size(); ++i) {
    const NodeView& n = v.nodes[i];
    const std::string id = "node" + std::to_string(i + 1);
    g.nodes.push_back(Node{id,
                           (n.label.empty() ? "" : n.label + ": ") + n.name + " #" + std::to_string(n.id) +
                               "\nn = " + std::to_string(n.strong),
                           NodeKind::GradFn, "cpp", false});
    for (const std::string& what : n.holds_target) {
      if (v.alive) g.edges.push_back(Edge{id, "target", what + "\n+1 to n", EdgeKind::Owning, false});
    }
    for (std::size_t e : n.edges) {
      g.edges.push_back(Edge{id, "node" + std::to_string(e + 1), "next edge\n+1 to n", EdgeKind::Owning, false});
    }
  }
  return g;
}

}  // namespace revive::pictures
