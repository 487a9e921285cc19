// Pictures: the Graph and its DOT text (graph.h), one target's owners (diagram.h), and
// the state machine with a path (state_machine.h).  The pictures are data first, so
// each case asserts on nodes, edges and labels, and on the exact DOT lines Graphviz
// gets.  See Note [Ownership pictures].
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "revive/pictures/diagram.h"
#include "revive/pictures/graph.h"
#include "revive/pictures/inspect.h"
#include "revive/pictures/state_machine.h"
#include "revive_test.h"
#include "revive/binding/tensor_methods.h"

using namespace revive;
using namespace revive::interp;
using namespace revive::binding;
using namespace revive::pictures;
using namespace revive::trace;
using EK = EventKind;
namespace bdata = boost::unit_test::data;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

bool has_line(const std::string& text, const std::string& line) {
  const auto lines = lines_of(text);
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The node or edge a picture must have (the case stops here if it has not).
const Node& node_of(const Graph& g, std::string_view id) {
  const Node* n = g.node(id);
  BOOST_TEST_REQUIRE(n != nullptr, "no node " << id);
  return *n;
}
const Edge& edge_of(const Graph& g, std::string_view from, std::string_view to) {
  const Edge* e = g.edge(from, to);
  BOOST_TEST_REQUIRE(e != nullptr, "no edge " << from << " -> " << to);
  return *e;
}

struct Fixture : revive::testing::LeakCheck {
  Interpreter::Owner I = Interpreter::create("I0");
  Graph picture(const Tensor& t, std::vector<const PyObject*> extra = {}) {
    const RuntimeView* seen_from[] = {&I->view()};
    return ownership_graph(look_at(t.unsafeGetTensorImpl(), seen_from, extra));
  }
  std::string tensor_label(const Tensor& t, std::uint32_t n) {
    return "TensorImpl #" + std::to_string(t.unsafeGetTensorImpl()->id()) + "\nn = " + std::to_string(n);
  }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(graph_dot, revive::testing::LeakCheck, *utf::label("diagram"))

// The example of graph.h: ids and labels are quoted, quotes in labels escaped.
BOOST_AUTO_TEST_CASE(dot_text_quotes_ids_and_escapes_labels) {
  Graph g{.name = "tiny"};
  g.nodes.push_back({.id = "a", .label = "A", .kind = NodeKind::Target});
  g.nodes.push_back({.id = "b", .label = "B \"quoted\"", .kind = NodeKind::Wrapper});
  g.edges.push_back({.from = "b", .to = "a", .label = "cdata", .kind = EdgeKind::Owning});
  const std::string dot = to_dot(g);
  const auto lines = lines_of(dot);
  BOOST_TEST_REQUIRE(lines.size() >= 2u);
  BOOST_TEST(lines.front() == "digraph \"tiny\" {");
  BOOST_TEST(lines.back() == "}");
  BOOST_TEST(has_line(dot, R"(  "a" [label="A", shape=box, style="rounded,filled,bold", fillcolor="#cfe2f3"];)"));
  BOOST_TEST(has_line(dot, R"(  "b" [label="B \"quoted\"", shape=box, style="rounded,filled", fillcolor="#fce5cd"];)"));
  BOOST_TEST(has_line(dot, R"(  "b" -> "a" [label="cdata", style=solid, penwidth=2, color="#000000"];)"));
  BOOST_TEST(to_dot(g) == dot);  // deterministic
}

// A backslash is escaped; a newline becomes DOT's centred line break in a label and a
// left-justified one in the caption.
BOOST_AUTO_TEST_CASE(newlines_and_backslashes_are_dot_escapes) {
  Graph g{.name = "n", .caption = "first\nsecond"};
  g.nodes.push_back({.id = "x", .label = "one\ntwo \\ three", .kind = NodeKind::Owners});
  const std::string dot = to_dot(g);
  BOOST_TEST(contains(dot, R"("x" [label="one\ntwo \\ three")"));
  BOOST_TEST(contains(dot, R"(label="first\lsecond\l")"));
}

// Every edge kind has its own line style: solid, dashed, dotted, the tag's colour.
BOOST_AUTO_TEST_CASE(each_edge_kind_has_its_own_style) {
  Graph g{.name = "kinds"};
  for (EdgeKind k : {EdgeKind::Owning, EdgeKind::Borrowed, EdgeKind::NonOwning, EdgeKind::Tag,
                     EdgeKind::Embeds, EdgeKind::Transition}) {
    g.edges.push_back({.from = std::string(to_string(k)), .to = "t", .label = "", .kind = k});
  }
  const std::string dot = to_dot(g);
  BOOST_TEST(contains(dot, R"("owning" -> "t" [label="", style=solid, penwidth=2)"));
  BOOST_TEST(contains(dot, R"("borrowed" -> "t" [label="", style=dashed,)"));
  BOOST_TEST(contains(dot, R"("non-owning" -> "t" [label="", style=dotted,)"));
  BOOST_TEST(contains(dot, R"("tag" -> "t" [label="", style=solid, color="#7b3fa0")"));
  BOOST_TEST(contains(dot, R"("embeds" -> "t" [label="", style=solid, color="#5b7fa6", dir=back, arrowtail=diamond])"));
  BOOST_TEST(contains(dot, R"("transition" -> "t" [label="", style=solid, color="#999999")"));
}

// A node is written inside the subgraph of its cluster, whose DOT name starts with
// "cluster_" (Graphviz draws a box only around those).
BOOST_AUTO_TEST_CASE(nodes_are_written_inside_their_cluster) {
  Graph g{.name = "c"};
  g.clusters.push_back({"cpp", "C++"});
  g.nodes.push_back({.id = "in", .label = "inside", .kind = NodeKind::Target, .cluster = "cpp"});
  g.nodes.push_back({.id = "out", .label = "outside", .kind = NodeKind::Target});
  const auto lines = lines_of(to_dot(g));
  auto at = [&lines](const std::string& prefix) {
    return std::find_if(lines.begin(), lines.end(),
                        [&](const std::string& l) { return l.rfind(prefix, 0) == 0; }) - lines.begin();
  };
  const auto open = at("  subgraph \"cluster_cpp\" {");
  const auto close = at("  }");
  BOOST_TEST(open < at("    \"in\" [label=\"inside\""));
  BOOST_TEST(at("    \"in\" [label=\"inside\"") < close);
  BOOST_TEST(close < at("  \"out\" [label=\"outside\""));
}

// A highlighted arrow of the state machine is red and thick; a highlighted state filled.
BOOST_AUTO_TEST_CASE(highlighted_elements_stand_out) {
  Graph g{.name = "h"};
  g.nodes.push_back({.id = "s", .label = "S", .kind = NodeKind::State, .highlighted = true});
  g.edges.push_back({.from = "s", .to = "s", .label = "loop", .kind = EdgeKind::Transition, .highlighted = true});
  const std::string dot = to_dot(g);
  BOOST_TEST(contains(dot, R"("s" [label="S", shape=box, style="rounded,filled,bold", fillcolor="#ffe599")"));
  BOOST_TEST(has_line(dot, R"(  "s" -> "s" [label="loop", style=solid, penwidth=3, color="#c0392b", fontcolor="#c0392b"];)"));
}

// Names become ids: anything but letters, digits and '_' turns into '_'.
BOOST_AUTO_TEST_CASE(id_part_keeps_only_id_characters) {
  BOOST_TEST(id_part("I0") == "I0");
  BOOST_TEST(id_part("E2-75932") == "E2_75932");
  BOOST_TEST(id_part("<unloaded interpreter>") == "_unloaded_interpreter_");
  BOOST_TEST(id_part("") == "_");
}

// Graph::node, edge and edges_between find what they are asked for, or nothing.
BOOST_AUTO_TEST_CASE(lookups_find_nodes_and_parallel_edges) {
  Graph g{.name = "l"};
  g.nodes.push_back({.id = "a", .label = "A"});
  g.edges.push_back({.from = "a", .to = "b", .label = "first"});
  g.edges.push_back({.from = "a", .to = "b", .label = "second"});
  BOOST_TEST(node_of(g, "a").label == "A");
  BOOST_TEST(g.node("b") == nullptr);
  BOOST_TEST(edge_of(g, "a", "b").label == "first");
  BOOST_TEST(g.edge("b", "a") == nullptr);
  BOOST_TEST(g.edges_between("a", "b").size() == 2u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(runtime_view, Fixture, *utf::label("diagram"))

// The header example of trace/target.h: a target's facts, read through the concept.
BOOST_AUTO_TEST_CASE(a_target_is_read_through_the_concept) {
  Tensor t = Tensor::empty(2);
  Target x = target_of(t.unsafeGetTensorImpl());
  BOOST_TEST(x.type_name == "TensorImpl");
  BOOST_TEST(x.strong == 1u);
  BOOST_TEST(x.slot == t.unsafeGetTensorImpl()->pyobj_slot());
  BOOST_TEST(x.address == static_cast<const void*>(t.unsafeGetTensorImpl()));
  Target gone = target_of<TensorImpl>(nullptr);
  BOOST_TEST(gone.type_name == "TensorImpl");
  BOOST_TEST(gone.address == nullptr);
}

// The header example of trace/runtime_view.h: what the pictures can learn of a wrapper
// through the view alone, live (L) and as a zombie (Z).
BOOST_AUTO_TEST_CASE(the_view_reads_a_wrapper) {
  Tensor t = Tensor::empty(2);
  Ref p = I->wrap(t);
  I->setattr(p, "foo", std::int64_t{2});
  const RuntimeView& v = I->view();
  BOOST_TEST(v.name() == "I0");
  BOOST_TEST(v.tag() == I->pyinterpreter());
  const PyObject* raw = p.get();
  v.lock();
  WrapperFacts f = v.facts(raw);
  v.unlock();
  BOOST_TEST(f.refcnt == 1);
  BOOST_TEST(f.cdata == CdataKind::Owned);
  BOOST_TEST(f.target == static_cast<const void*>(t.unsafeGetTensorImpl()));
  BOOST_TEST(f.type == "Tensor");
  BOOST_TEST(f.interpreter == "I0");
  BOOST_TEST((f.attributes == std::vector<std::string>{"foo"}));
  BOOST_TEST(&v.home_of(raw) == &v);
  p.reset();  // T3: the zombie stays, borrowed
  {
    ViewLock gil(v);
    f = v.facts(raw);
  }
  BOOST_TEST(f.refcnt == 1);
  BOOST_TEST(f.cdata == CdataKind::Borrowed);
  BOOST_TEST(!v.is_finalized());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(ownership_pictures, Fixture, *utf::label("diagram") *utf::label("lifecycle"))

// U: C++ alone owns the tensor; the slot is empty and points nowhere.
BOOST_AUTO_TEST_CASE(untagged_tensor_has_an_empty_slot_and_no_wrapper) {
  Tensor t = Tensor::empty(2);
  Graph g = picture(t);
  BOOST_TEST(node_of(g, "target").label == tensor_label(t, 1));
  BOOST_TEST(node_of(g, "slot").label == "PyObjectSlot\ntag: -\nowns: -");
  BOOST_TEST(g.node("wrapper") == nullptr);
  BOOST_TEST(g.edge("slot", "interp_I0") == nullptr);  // no tag yet
  BOOST_TEST(edge_of(g, "cpp_owners", "target").label == "1 strong ref");
  BOOST_TEST(edge_of(g, "target", "slot").kind == EdgeKind::Embeds);
  BOOST_TEST(node_of(g, "interp_I0").label == "PyInterpreter I0\nalive");
  BOOST_TEST(node_of(g, "interp_I0").cluster == "py_I0");
}

// L (the example of diagram.h): the wrapper owns the target, the slot points at the
// wrapper without owning it, the tag names I0, Python holds the wrapper.
BOOST_AUTO_TEST_CASE(live_wrapper_owns_the_target_and_the_slot_only_points) {
  Tensor t = Tensor::empty(2);
  Ref p = I->wrap(t);
  I->setattr(p, "foo", std::int64_t{2});
  Graph g = picture(t);
  const Edge* cdata = g.edge("wrapper", "target");
  BOOST_TEST_REQUIRE(cdata != nullptr);
  BOOST_TEST(cdata->kind == EdgeKind::Owning);
  BOOST_TEST(cdata->label == "cdata (owned)\n+1 to n");
  BOOST_TEST(edge_of(g, "slot", "wrapper").kind == EdgeKind::NonOwning);
  BOOST_TEST(edge_of(g, "slot", "wrapper").label == "pyobj_ (owns = 0)\ncounts nothing");
  BOOST_TEST(edge_of(g, "slot", "interp_I0").kind == EdgeKind::Tag);
  BOOST_TEST(edge_of(g, "python_I0", "wrapper").label == "1 ref");
  BOOST_TEST(edge_of(g, "cpp_owners", "target").label == "1 strong ref");  // n = 2: t and cdata
  BOOST_TEST(node_of(g, "target").label == tensor_label(t, 2));
  BOOST_TEST(node_of(g, "wrapper").label == "Tensor #" + std::to_string(p->id) + "\nr = 1\nattributes: foo");
  BOOST_TEST(node_of(g, "wrapper").kind == NodeKind::Wrapper);
  BOOST_TEST(node_of(g, "wrapper").cluster == "py_I0");
  BOOST_TEST(node_of(g, "slot").label == "PyObjectSlot\ntag: I0\nowns: 0");
  BOOST_TEST(contains(g.caption, "state L, live (Python owns C++), seen from I0: n = 2, r = 1, cdata owned, owns = 0"));
}

// Z: the slot owns the wrapper (the only reference), the wrapper borrows the target,
// and no Python reference is left.
BOOST_AUTO_TEST_CASE(zombie_is_owned_by_the_slot_and_borrows_the_target) {
  Tensor t = Tensor::empty(2);
  Ref p = I->wrap(t);
  const std::uint64_t id = p->id;
  p.reset();
  Graph g = picture(t);
  BOOST_TEST(edge_of(g, "slot", "wrapper").kind == EdgeKind::Owning);
  BOOST_TEST(edge_of(g, "slot", "wrapper").label == "pyobj_ (owns = 1)\nthe slot's ref");
  BOOST_TEST(edge_of(g, "wrapper", "target").kind == EdgeKind::Borrowed);
  BOOST_TEST(edge_of(g, "wrapper", "target").label == "cdata (borrowed)\ncounts nothing");
  BOOST_TEST(g.node("python_I0") == nullptr);
  BOOST_TEST(node_of(g, "wrapper").kind == NodeKind::Zombie);
  BOOST_TEST(node_of(g, "wrapper").label ==
             "Tensor #" + std::to_string(id) + "\nr = 1\nzombie: kept alive by C++");
  BOOST_TEST(node_of(g, "target").label == tensor_label(t, 1));
}

// The invariant the pictures make visible: while a wrapper is recorded, exactly one of
// wrapper -> target and slot -> wrapper is an owning edge (two would be the
// uncollectable cycle).  Checked along U L Z L Z.
BOOST_AUTO_TEST_CASE(exactly_one_reference_between_wrapper_and_target_owns) {
  Tensor t = Tensor::empty(2);
  auto owning = [](const Edge* e) { return e != nullptr && e->kind == EdgeKind::Owning; };
  Ref p;
  for (int round = 0; round < 4; ++round) {
    if (round % 2 == 0) {
      p = I->wrap(t);
    } else {
      p.reset();
    }
    BOOST_TEST_CONTEXT("round " << round << ", state " << inspect(*I, t.unsafeGetTensorImpl()).state) {
      Graph g = picture(t);
      BOOST_TEST(owning(g.edge("wrapper", "target")) + owning(g.edge("slot", "wrapper")) == 1);
    }
  }
}

// T8: a weakref deref of a zombie is one more Python reference; nothing flips.
BOOST_AUTO_TEST_CASE(weakref_revived_zombie_has_a_python_reference_and_stays_owned_by_the_slot,
                     *utf::label("weakref-hole")) {
  Tensor t = Tensor::empty(2);
  Ref p = I->wrap(t);
  Ref w = I->weakref(p);
  p.reset();
  Ref x = I->deref(w);
  Graph g = picture(t, {x.get()});  // naming the recorded wrapper again draws it once
  BOOST_TEST(g.node("extra1") == nullptr);
  BOOST_TEST(edge_of(g, "slot", "wrapper").kind == EdgeKind::Owning);
  BOOST_TEST(edge_of(g, "wrapper", "target").kind == EdgeKind::Borrowed);
  BOOST_TEST(edge_of(g, "python_I0", "wrapper").label == "1 ref");
  BOOST_TEST(contains(node_of(g, "wrapper").label, "\nr = 2\n1 weakref\n"));
}

// D after the weakref hole: the target is gone, the stubbed wrapper lives on without
// any edge to it.
BOOST_AUTO_TEST_CASE(dead_target_and_its_stubbed_wrapper, *utf::label("weakref-hole")) {
  Tensor t = Tensor::empty(2);
  Ref p = I->wrap(t);
  Ref w = I->weakref(p);
  p.reset();
  Ref x = I->deref(w);
  t.reset();  // T6 with r = 2: warning, cdata stubbed
  const RuntimeView* seen_from[] = {&I->view()};
  const PyObject* extra[] = {x.get()};
  OwnershipView v = look_at(static_cast<const TensorImpl*>(nullptr), seen_from, extra);
  BOOST_TEST(v.state == LifeState::D);
  BOOST_TEST(!v.alive);
  BOOST_TEST_REQUIRE(v.extra.size() == 1u);
  BOOST_TEST((v.extra[0].role == WrapperView::Role::Stubbed));
  Graph g = ownership_graph(v);
  BOOST_TEST(node_of(g, "target").kind == NodeKind::Gone);
  BOOST_TEST(node_of(g, "target").label == "TensorImpl\nfreed (D)");
  BOOST_TEST(g.node("slot") == nullptr);
  BOOST_TEST(node_of(g, "extra1").kind == NodeKind::Stub);
  BOOST_TEST(contains(node_of(g, "extra1").label, "cdata undefined (stubbed)"));
  BOOST_TEST(g.edge("extra1", "target") == nullptr);
  BOOST_TEST(edge_of(g, "python_I0", "extra1").label == "1 ref");
  BOOST_TEST(contains(g.caption, "state D, dead, seen from I0"));
  x.reset();
}

// T10: a hermetic wrapper owns the target too, and the slot knows nothing of it.
BOOST_AUTO_TEST_CASE(hermetic_wrapper_owns_the_target_without_being_recorded, *utf::label("hermetic")) {
  Tensor t = Tensor::empty(2);
  Ref p = I->wrap(t);
  Ref h;
  {
    impl::EnableHermeticPyObject hermetic;
    h = I->wrap(t);
  }
  Graph g = picture(t, {h.get()});
  BOOST_TEST(node_of(g, "extra1").kind == NodeKind::Hermetic);
  BOOST_TEST(contains(node_of(g, "extra1").label, "hermetic: never recorded"));
  BOOST_TEST(edge_of(g, "extra1", "target").kind == EdgeKind::Owning);
  BOOST_TEST(g.edge("slot", "extra1") == nullptr);
  BOOST_TEST(g.edge("slot", "wrapper") != nullptr);
  BOOST_TEST(edge_of(g, "python_I0", "extra1").label == "1 ref");
  BOOST_TEST(edge_of(g, "cpp_owners", "target").label == "1 strong ref");  // n = 3: t, p, h
}

// X: seen from another interpreter.  With the tagger listed, its wrapper is drawn
// (read under its GIL); without it, the slot's pyobj_ is not read at all.
BOOST_AUTO_TEST_CASE(tagged_elsewhere_is_x_and_the_tag_names_the_tagger, *utf::label("interpreter-tag")) {
  Interpreter::Owner J = Interpreter::create("I1");
  Tensor t = Tensor::empty(2);
  Ref p = I->wrap(t);
  const RuntimeView* both[] = {&J->view(), &I->view()};
  OwnershipView v = look_at(t.unsafeGetTensorImpl(), both);
  BOOST_TEST(v.state == LifeState::X);
  BOOST_TEST(v.recorded.has_value());
  Graph g = ownership_graph(v);
  BOOST_TEST(edge_of(g, "slot", "interp_I0").kind == EdgeKind::Tag);
  BOOST_TEST(node_of(g, "interp_I1").label == "PyInterpreter I1\nalive\nseen from here");
  BOOST_TEST(node_of(g, "wrapper").cluster == "py_I0");

  const RuntimeView* only_j[] = {&J->view()};
  OwnershipView blind = look_at(t.unsafeGetTensorImpl(), only_j);
  BOOST_TEST(blind.state == LifeState::X);
  BOOST_TEST(!blind.owns.has_value());
  BOOST_TEST(!blind.recorded.has_value());
  Graph h = ownership_graph(blind);
  BOOST_TEST(node_of(h, "slot").label == "PyObjectSlot\ntag: I0\nowns: ? (tagger not shown)");
  BOOST_TEST(edge_of(h, "slot", "interp_other").kind == EdgeKind::Tag);
  BOOST_TEST(node_of(h, "interp_other").label == "PyInterpreter I0\n(not shown)");
}

// T9: after teardown the interpreter is drawn disarmed, its zombie abandoned in place.
BOOST_AUTO_TEST_CASE(torn_down_interpreter_is_drawn_disarmed, *utf::label("disarm")) {
  Tensor t = Tensor::empty(2);
  Interpreter::Owner J = Interpreter::create("J");
  Interpreter* raw = J.get();
  { Ref p = J->wrap(t); }
  J.reset();  // disarmed; the Interpreter object lives on in the graveyard
  const RuntimeView* seen_from[] = {&raw->view()};
  Graph g = ownership_graph(look_at(t.unsafeGetTensorImpl(), seen_from));
  BOOST_TEST(node_of(g, "interp_J").kind == NodeKind::Disarmed);
  BOOST_TEST(node_of(g, "interp_J").label == "PyInterpreter J\ndisarmed (torn down)");
  BOOST_TEST(std::any_of(g.clusters.begin(), g.clusters.end(), [](const Cluster& c) {
    return c.id == "py_J" && c.label == "interpreter J (torn down)";
  }));
  BOOST_TEST(node_of(g, "slot").label == "PyObjectSlot\ntag: <unloaded interpreter>\nowns: 1");
  BOOST_TEST(edge_of(g, "slot", "wrapper").kind == EdgeKind::Owning);  // abandoned, still owned
  t.reset();  // decref through the disarmed vtable: nothing runs
}

// Storages are drawn the same way, under their own name.
BOOST_AUTO_TEST_CASE(storage_pictures_name_the_storage, *utf::label("storage")) {
  Ref a = I->empty(4);
  Ref s = untyped_storage(*I, a);
  Storage st = I->unpack_storage(s);
  const RuntimeView* seen_from[] = {&I->view()};
  Graph g = ownership_graph(look_at(st.unsafeGetStorageImpl(), seen_from));
  BOOST_TEST(node_of(g, "target").label ==
             "StorageImpl #" + std::to_string(st.unsafeGetStorageImpl()->id()) + "\nn = 3");
  BOOST_TEST(node_of(g, "cpp_owners").label == "C++ references\n(tensors, Storage handles)");
  BOOST_TEST(edge_of(g, "cpp_owners", "target").label == "2 strong refs");  // a's tensor, st
  BOOST_TEST(node_of(g, "wrapper").label == "UntypedStorage #" + std::to_string(s->id) + "\nr = 1");
}

// The preserved scenario (the tour's first), step by step: the DOT lines Graphviz gets
// for the target, the slot and the wrapper, and the edges between them.
BOOST_AUTO_TEST_CASE(dot_of_the_preserved_scenario) {
  const PyType* my_tensor = I->new_class("MyTensor", I->tensor_type());
  std::optional<Tensor> t = Tensor::empty(2);
  const TensorImpl* impl = t->unsafeGetTensorImpl();
  const std::string target_id = std::to_string(impl->id());
  auto dot = [&] {
    const RuntimeView* seen_from[] = {&I->view()};
    return to_dot(ownership_graph(look_at(t ? impl : nullptr, seen_from)));
  };
  const std::string owned = R"(  "wrapper" -> "target" [label="cdata (owned)\n+1 to n", style=solid, penwidth=2, color="#000000"];)";
  const std::string borrowed = R"(  "wrapper" -> "target" [label="cdata (borrowed)\ncounts nothing", style=dashed, color="#1f5fa8", fontcolor="#1f5fa8"];)";
  const std::string slot_points = R"(  "slot" -> "wrapper" [label="pyobj_ (owns = 0)\ncounts nothing", style=dotted, color="#777777", fontcolor="#555555"];)";
  const std::string slot_owns = R"(  "slot" -> "wrapper" [label="pyobj_ (owns = 1)\nthe slot's ref", style=solid, penwidth=2, color="#000000"];)";
  const std::string tag = R"(  "slot" -> "interp_I0" [label="tag", style=solid, color="#7b3fa0", fontcolor="#7b3fa0", arrowhead=vee];)";

  std::string u = dot();  // U
  BOOST_TEST(has_line(u, R"(    "target" [label="TensorImpl #)" + target_id + R"(\nn = 1", shape=box, style="rounded,filled,bold", fillcolor="#cfe2f3"];)"));
  BOOST_TEST(has_line(u, R"(    "slot" [label="PyObjectSlot\ntag: -\nowns: -", shape=box, style=filled, fillcolor="#e8f0fa", color="#5b7fa6"];)"));
  BOOST_TEST(!contains(u, "\"wrapper\""));

  Ref p = I->make_subclass(my_tensor, *t);  // L
  const std::string wrapper_id = std::to_string(p->id);
  std::string l = dot();
  BOOST_TEST(has_line(l, R"(    "wrapper" [label="MyTensor #)" + wrapper_id + R"(\nr = 1", shape=box, style="rounded,filled", fillcolor="#fce5cd"];)"));
  BOOST_TEST(has_line(l, owned));
  BOOST_TEST(has_line(l, slot_points));
  BOOST_TEST(has_line(l, tag));
  BOOST_TEST(has_line(l, R"(  "python_I0" -> "wrapper" [label="1 ref", style=solid, penwidth=2, color="#000000"];)"));

  p.reset();  // Z
  std::string z = dot();
  BOOST_TEST(has_line(z, R"(    "wrapper" [label="MyTensor #)" + wrapper_id + R"(\nr = 1\nzombie: kept alive by C++", shape=box, style="rounded,filled", fillcolor="#d9d2e9"];)"));
  BOOST_TEST(has_line(z, borrowed));
  BOOST_TEST(has_line(z, slot_owns));
  BOOST_TEST(!has_line(z, owned));
  BOOST_TEST(!contains(z, "\"python_I0\" ->"));

  p = I->wrap(*t);  // L again: the same wrapper
  std::string l2 = dot();
  BOOST_TEST(contains(l2, "\"wrapper\" [label=\"MyTensor #" + wrapper_id + "\\nr = 1\""));
  BOOST_TEST(has_line(l2, owned));
  BOOST_TEST(has_line(l2, slot_points));

  p.reset();
  t.reset();  // D
  std::string d = dot();
  BOOST_TEST(has_line(d, R"x(    "target" [label="TensorImpl\nfreed (D)", shape=box, style="rounded,dashed", color="#999999", fontcolor="#777777"];)x"));
  BOOST_TEST(!contains(d, "\"slot\""));
  BOOST_TEST(!contains(d, "\"wrapper\""));
}

BOOST_AUTO_TEST_SUITE_END()

// ---- the state machine ---------------------------------------------------------------------

namespace {

// One row of the transition table: a state, the events about the target, the state
// after, and the arrows transitions_taken must name.
struct Walk {
  const char* what;
  LifeState before;
  std::vector<EventKind> events;
  LifeState after;
  std::vector<Transition> expected;
};

std::ostream& operator<<(std::ostream& os, const Walk& w) { return os << w.what; }

const std::vector<Walk> kWalks = {
    {"T1 first wrap", LifeState::U, {EK::Tagged, EK::NewWrapper}, LifeState::L, {Transition::T1}},
    {"T1' wrap of a tagged slot", LifeState::V, {EK::NewWrapper}, LifeState::L, {Transition::T1Prime}},
    {"T2 wrap again", LifeState::L, {EK::Rewrapped}, LifeState::L, {Transition::T2}},
    {"T3 resurrection", LifeState::L, {EK::Resurrected}, LifeState::Z, {Transition::T3}},
    {"T4 real death", LifeState::L, {EK::Finalized, EK::WeakrefCleared, EK::Freed}, LifeState::D, {Transition::T4}},
    {"T5 flip back", LifeState::Z, {EK::FlippedBack}, LifeState::L, {Transition::T5}},
    {"T6 C++ lets go", LifeState::Z, {EK::DecrefFromCpp, EK::Finalized, EK::Freed}, LifeState::D, {Transition::T6}},
    {"T6 with the weakref hole", LifeState::Z, {EK::DecrefFromCpp, EK::Warning, EK::Stubbed}, LifeState::D, {Transition::T6}},
    {"T7 freed by the collector, reported after", LifeState::L, {EK::Freed, EK::GcCollect}, LifeState::D, {Transition::T7}},
    {"T8 weakref deref", LifeState::Z, {EK::WeakrefDeref}, LifeState::Z, {Transition::T8}},
    {"T9 teardown", LifeState::Z, {EK::GcCollect, EK::Disarmed}, LifeState::Z, {Transition::T9}},
    {"T10 hermetic wrap in L", LifeState::L, {EK::HermeticWrap}, LifeState::L, {Transition::T10}},
    {"T10 hermetic wrap in Z", LifeState::Z, {EK::HermeticWrap}, LifeState::Z, {Transition::T10}},
    {"T11 tagged elsewhere (no event)", LifeState::U, {}, LifeState::X, {Transition::T11}},
    {"refused: a wrap here raises", LifeState::X, {EK::WrapRefused}, LifeState::X, {Transition::Refused}},
    {"another interpreter refused, seen from the tagger", LifeState::L, {EK::WrapRefused}, LifeState::L, {}},
    {"forgotten: a recorded wrapper really dies", LifeState::L, {EK::Freed}, LifeState::V, {Transition::SlotCleared}},
    {"C++ drops a foreign tensor", LifeState::X, {}, LifeState::D, {Transition::Released}},
    {"C++ drops an untagged tensor", LifeState::U, {}, LifeState::D, {Transition::Released}},
    {"wrap, then del, in one step", LifeState::U, {EK::Tagged, EK::NewWrapper, EK::Resurrected}, LifeState::Z, {Transition::T1, Transition::T3}},
    {"T3 racing T6", LifeState::L, {EK::Resurrected, EK::DecrefFromCpp, EK::Finalized, EK::Freed}, LifeState::D, {Transition::T3, Transition::T6}},
    {"y.grad read and dropped", LifeState::Z, {EK::FlippedBack, EK::Resurrected}, LifeState::Z, {Transition::T5, Transition::T3}},
    {"setattr: no transition", LifeState::L, {}, LifeState::L, {}},
    {"a wrap of another tensor is no T1 here", LifeState::L, {EK::Tagged}, LifeState::L, {}},
};

}  // namespace

BOOST_TEST_DONT_PRINT_LOG_VALUE(std::vector<Transition>)

BOOST_FIXTURE_TEST_SUITE(state_machine_path, revive::testing::LeakCheck, *utf::label("diagram"))

// Every transition of §3 the machine draws has an arrow from and to the states §2 says.
BOOST_AUTO_TEST_CASE(every_transition_has_its_arrow) {
  auto arrows = [](Transition t) {
    std::vector<std::pair<LifeState, LifeState>> out;
    for (const MachineEdge& e : state_machine()) {
      if (e.transition == t) out.emplace_back(e.from, e.to);
    }
    return out;
  };
  using P = std::vector<std::pair<LifeState, LifeState>>;
  using enum LifeState;
  BOOST_TEST((arrows(Transition::T1) == P{{U, L}}));
  BOOST_TEST((arrows(Transition::T1Prime) == P{{V, L}}));
  BOOST_TEST((arrows(Transition::T2) == P{{L, L}}));
  BOOST_TEST((arrows(Transition::T3) == P{{L, Z}}));
  BOOST_TEST((arrows(Transition::T4) == P{{L, D}}));
  BOOST_TEST((arrows(Transition::T5) == P{{Z, L}}));
  BOOST_TEST((arrows(Transition::T6) == P{{Z, D}}));
  BOOST_TEST((arrows(Transition::T7) == P{{L, D}}));
  BOOST_TEST((arrows(Transition::T8) == P{{Z, Z}}));
  BOOST_TEST((arrows(Transition::T9) == P{{Z, Z}}));
  BOOST_TEST((arrows(Transition::T10) == P{{L, L}, {Z, Z}}));
  BOOST_TEST((arrows(Transition::T11) == P{{U, X}}));
  BOOST_TEST((arrows(Transition::Refused) == P{{X, X}}));
  BOOST_TEST((arrows(Transition::SlotCleared) == P{{L, V}}));
  BOOST_TEST((arrows(Transition::Released) == P{{U, D}, {V, D}, {X, D}}));
}

// Labels go into Mermaid unquoted, so they avoid the characters its grammar uses, and
// each starts with its transition's name (except the two unnamed ones).
BOOST_AUTO_TEST_CASE(labels_are_mermaid_safe_and_named) {
  for (const MachineEdge& e : state_machine()) {
    BOOST_TEST_CONTEXT(e.label) {
      BOOST_TEST(e.label.find_first_of(":;#<>\"") == std::string_view::npos);
      if (e.transition != Transition::SlotCleared && e.transition != Transition::Released) {
        BOOST_TEST(e.label.starts_with(std::string(to_string(e.transition)) + " "));
      }
    }
  }
}

// The table of steps: which arrows a state change and its events name.
BOOST_DATA_TEST_CASE(transitions_are_read_from_the_events, bdata::make(kWalks), walk) {
  std::vector<Transition> got;
  for (const TakenTransition& t : transitions_taken(walk.before, walk.events, walk.after, 7)) {
    BOOST_TEST(t.step == 7);
    got.push_back(t.transition);
  }
  BOOST_TEST((got == walk.expected));
}

// The example of state_machine.h.
BOOST_AUTO_TEST_CASE(header_example) {
  auto taken = transitions_taken(LifeState::L, std::vector{EventKind::Resurrected}, LifeState::Z);
  BOOST_TEST_REQUIRE(taken.size() == 1u);
  BOOST_TEST((taken[0] == TakenTransition{Transition::T3, LifeState::L, LifeState::Z, 0}));
  std::string text = state_machine_mermaid(std::vector{TakenTransition{Transition::T3, LifeState::L, LifeState::Z, 6}});
  BOOST_TEST(has_line(text, "    L --> Z : T3 Python lets go, C++ holds it - resurrect, flip (step 6)"));
}

// TargetEvents keeps the events about one tensor: those naming it, those naming its
// recorded wrapper (until it is freed), and teardowns and collections.  Another
// tensor's events and a hermetic wrapper's death are not about it.
BOOST_AUTO_TEST_CASE(target_events_follow_the_recorded_wrapper_only) {
  Interpreter::Owner I = Interpreter::create("I0");
  EventLog log;
  I->set_observer(&log);
  Tensor t = Tensor::empty(2), other = Tensor::empty(2);
  TargetEvents filter(t.unsafeGetTensorImpl());
  {
    Ref p = I->wrap(t);
    Ref q = I->wrap(other);
    impl::EnableHermeticPyObject hermetic;
    Ref h = I->wrap(t);
  }  // h dies for real; q and p become zombies
  (void)I->gc_collect();
  t.reset();
  I->set_observer(nullptr);
  std::vector<EventKind> kept;
  for (const Event& e : log.events()) {
    if (filter.concerns(e)) kept.push_back(e.kind);
  }
  BOOST_TEST((kept == std::vector{EK::Tagged, EK::NewWrapper, EK::HermeticWrap, EK::Resurrected,
                                  EK::GcCollect, EK::DecrefFromCpp, EK::Freed}));
  other.reset();
}

// Read off a real run: the preserved path, T1 T2 T3 T5 T3 T6, from inspect() before and
// after each step and the events about the tensor.
BOOST_AUTO_TEST_CASE(the_path_of_a_real_run) {
  Interpreter::Owner I = Interpreter::create("I0");
  EventLog log;
  I->set_observer(&log);
  std::optional<Tensor> t = Tensor::empty(2);
  TargetEvents filter(t->unsafeGetTensorImpl());
  weak_intrusive_ptr<TensorImpl> alive(t->getIntrusivePtr());
  const TensorImpl* impl = t->unsafeGetTensorImpl();
  auto state = [&] {
    return alive.expired() ? LifeState::D : to_life_state(inspect(*I, impl).state);
  };
  std::vector<TakenTransition> path;
  int step = 0;
  auto run = [&](auto&& action) {
    const LifeState before = state();
    log.clear();
    action();
    std::vector<EventKind> kinds;
    for (const Event& e : log.events()) {
      if (filter.concerns(e)) kinds.push_back(e.kind);
    }
    auto taken = transitions_taken(before, kinds, state(), ++step);
    path.insert(path.end(), taken.begin(), taken.end());
  };
  Ref p, q;
  run([&] { p = I->wrap(*t); });
  run([&] { q = I->wrap(*t); });
  run([&] { q.reset(); });
  run([&] { p.reset(); });
  run([&] { p = I->wrap(*t); });
  run([&] { p.reset(); });
  run([&] { t.reset(); });
  I->set_observer(nullptr);
  using enum LifeState;
  BOOST_TEST((path == std::vector<TakenTransition>{{Transition::T1, U, L, 1}, {Transition::T2, L, L, 2},
                                                   {Transition::T3, L, Z, 4}, {Transition::T5, Z, L, 5},
                                                   {Transition::T3, L, Z, 6}, {Transition::T6, Z, D, 7}}));
}

// The machine as a Graph: the taken arrows and visited states are highlighted, the
// taken arrows carry their steps; the rest is drawn plain.
BOOST_AUTO_TEST_CASE(graph_highlights_the_path_with_its_steps) {
  using enum LifeState;
  const std::vector<TakenTransition> path = {{Transition::T1, U, L, 2}, {Transition::T3, L, Z, 6},
                                             {Transition::T5, Z, L, 7}, {Transition::T3, L, Z, 9},
                                             {Transition::T6, Z, D, 10}};
  Graph g = state_machine_graph(path, "preserved");
  BOOST_TEST(g.nodes.size() == 7u);  // start and six states
  BOOST_TEST(g.edges.size() == state_machine().size() + 1);
  BOOST_TEST(node_of(g, "Z").label == "Z\nzombie (C++ owns Python)");
  BOOST_TEST(node_of(g, "L").highlighted);
  BOOST_TEST(node_of(g, "D").highlighted);
  BOOST_TEST(!node_of(g, "X").highlighted);
  BOOST_TEST(!node_of(g, "V").highlighted);
  BOOST_TEST(edge_of(g, "start", "U").highlighted);
  const Edge* t3 = &edge_of(g, "L", "Z");
  BOOST_TEST(t3->highlighted);
  BOOST_TEST(t3->label == "T3 Python lets go, C++ holds it - resurrect, flip (steps 6, 9)");
  BOOST_TEST(edge_of(g, "U", "L").label == "T1 first wrap - tag, record P, cdata owned (step 2)");
  const auto deaths = g.edges_between("L", "D");  // T4 and T7
  BOOST_TEST_REQUIRE(deaths.size() == 2u);
  BOOST_TEST(!deaths[0]->highlighted);
  BOOST_TEST(!deaths[1]->highlighted);
  BOOST_TEST(deaths[0]->label == "T4 Python lets go, n = 1 - real death");
  const std::string dot = to_dot(g);
  BOOST_TEST(has_line(dot, R"x(  "L" -> "Z" [label="T3 Python lets go, C++ holds it - resurrect, flip (steps 6, 9)", style=solid, penwidth=3, color="#c0392b", fontcolor="#c0392b"];)x"));
  BOOST_TEST(has_line(dot, R"(  "L" -> "D" [label="T4 Python lets go, n = 1 - real death", style=solid, color="#999999", fontcolor="#666666"];)"));
  BOOST_TEST(has_line(dot, R"(  "start" [label="", shape=point, width=0.15];)"));
}

// The machine as Mermaid: states with their meaning, every arrow, the path's states in
// the `visited` class; with no path, no class at all.
BOOST_AUTO_TEST_CASE(mermaid_lists_states_arrows_and_the_visited_class) {
  using enum LifeState;
  const std::vector<TakenTransition> path = {{Transition::T1, U, L, 1}, {Transition::T4, L, D, 2}};
  const std::string text = state_machine_mermaid(path);
  const auto lines = lines_of(text);
  BOOST_TEST_REQUIRE(lines.size() > 2u);
  BOOST_TEST(lines[0] == "stateDiagram-v2");
  BOOST_TEST(lines[1] == "    direction LR");
  BOOST_TEST(has_line(text, "    state \"L - live (Python owns C++)\" as L"));
  BOOST_TEST(has_line(text, "    [*] --> U"));
  BOOST_TEST(has_line(text, "    D --> [*]"));
  BOOST_TEST(has_line(text, "    U --> L : T1 first wrap - tag, record P, cdata owned (step 1)"));
  BOOST_TEST(has_line(text, "    L --> D : T4 Python lets go, n = 1 - real death (step 2)"));
  BOOST_TEST(has_line(text, "    L --> D : T7 the collector frees a dead cycle"));
  BOOST_TEST(has_line(text, "    class U,L,D visited"));
  const auto arrows = std::count_if(lines.begin(), lines.end(),
                                    [](const std::string& l) { return contains(l, " --> "); });
  BOOST_TEST(static_cast<std::size_t>(arrows) == state_machine().size() + 2);
  BOOST_TEST(!contains(state_machine_mermaid({}), "class "));
}

BOOST_AUTO_TEST_SUITE_END()
