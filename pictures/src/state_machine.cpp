// The state machine of docs/reference.md §2-§3, and how a path through it is read
// off the event trace.
#include "revive/pictures/state_machine.h"

#include <algorithm>
#include <array>
#include <ostream>

namespace revive::pictures {
namespace {

using enum LifeState;

// Drawing order matters for the layout only.  Labels stay Mermaid-safe (see
// MachineEdge::label).
constexpr std::array kMachine{
    MachineEdge{Transition::T1, U, L, "T1 first wrap - tag, record P, cdata owned"},
    MachineEdge{Transition::T11, U, X, "T11 another interpreter tags it"},
    MachineEdge{Transition::Released, U, D, "C++ lets go, never wrapped"},
    MachineEdge{Transition::T1Prime, V, L, "T1' wrap - TAGGED_BY_US, a new P"},
    MachineEdge{Transition::Released, V, D, "C++ lets go"},
    MachineEdge{Transition::T2, L, L, "T2 wrap again - r + 1"},
    MachineEdge{Transition::T10, L, L, "T10 hermetic wrap - slot untouched"},
    MachineEdge{Transition::T3, L, Z, "T3 Python lets go, C++ holds it - resurrect, flip"},
    MachineEdge{Transition::T4, L, D, "T4 Python lets go, n = 1 - real death"},
    MachineEdge{Transition::T7, L, D, "T7 the collector frees a dead cycle"},
    MachineEdge{Transition::SlotCleared, L, V,
                "forgotten - P dies for real while C++ holds it, the slot forgets P"},
    MachineEdge{Transition::T5, Z, L, "T5 wrap - flip back, no incref"},
    MachineEdge{Transition::T6, Z, D, "T6 C++ lets go - the slot gives P back, P dies unless a weakref revived it"},
    MachineEdge{Transition::T8, Z, Z, "T8 weakref deref - r = 2, no flip"},
    MachineEdge{Transition::T10, Z, Z, "T10 hermetic wrap - slot untouched"},
    MachineEdge{Transition::T9, Z, Z, "T9 teardown (any state) - disarmed, P abandoned"},
    MachineEdge{Transition::Refused, X, X, "refused - a wrap here raises, nothing changes"},
    MachineEdge{Transition::Released, X, D, "C++ lets go - the tagger deals with its P"},
};

constexpr std::array kStates{U, V, L, Z, X, D};

// Era E4's machine: no zombie, no flip, no hole.  The wrapper always owns its target;
// C++ holding the target (n >= 2) holds the wrapper too, so L covers both "Python alone"
// (n == 1) and "shared" (n >= 2), and the only ways out are real deaths.
constexpr std::array kMachineE4{
    MachineEdge{Transition::T1, U, L, "T1 first wrap - tag, record P, set the bit"},
    MachineEdge{Transition::T11, U, X, "T11 another interpreter tags it"},
    MachineEdge{Transition::Released, U, D, "C++ lets go, never wrapped"},
    MachineEdge{Transition::T2, L, L, "T2 wrap again - r + 1"},
    MachineEdge{Transition::T10, L, L, "T10 hermetic wrap - slot untouched"},
    MachineEdge{Transition::Share, L, L, "share - n 1 to 2, C++ increfs P under the GIL"},
    MachineEdge{Transition::Unshare, L, L, "unshare - n 2 to 1, C++ decrefs P under the GIL"},
    MachineEdge{Transition::T4, L, D, "T4 P dies, n = 1 - real death, then the target"},
    MachineEdge{Transition::T7, L, D, "T7 the collector frees a dead cycle"},
    MachineEdge{Transition::Refused, X, X, "refused - a wrap here raises, nothing changes"},
    MachineEdge{Transition::Released, X, D, "C++ lets go - the tagger deals with its P"},
};
constexpr std::array kStatesE4{U, L, X, D};

std::span<const MachineEdge> edges_of(Machine machine) noexcept {
  if (machine == Machine::E4) return kMachineE4;
  return kMachine;
}
std::span<const LifeState> states_of(Machine machine) noexcept {
  if (machine == Machine::E4) return kStatesE4;
  return kStates;
}

const MachineEdge* find_edge(Transition t, LifeState from, Machine machine = Machine::E2) noexcept {
  const auto edges = edges_of(machine);
  auto it = std::find_if(edges.begin(), edges.end(), [&](const MachineEdge& e) {
    return e.transition == t && e.from == from;
  });
  return it == edges.end() ? nullptr : &*it;
}

const MachineEdge* find_edge(LifeState from, LifeState to, Machine machine = Machine::E2) noexcept {
  const auto edges = edges_of(machine);
  auto it = std::find_if(edges.begin(), edges.end(),
                         [&](const MachineEdge& e) { return e.from == from && e.to == to; });
  return it == edges.end() ? nullptr : &*it;
}

// " (step 6)", " (steps 6, 9)", or "" when `edge` was not taken.
std::string steps_suffix(const MachineEdge& edge, std::span<const TakenTransition> path) {
  std::vector<int> steps;
  bool taken = false;
  for (const TakenTransition& t : path) {
    if (t.transition == edge.transition && t.from == edge.from) {
      taken = true;
      if (t.step > 0 && std::find(steps.begin(), steps.end(), t.step) == steps.end()) {
        steps.push_back(t.step);
      }
    }
  }
  if (!taken) return "";
  if (steps.empty()) return " (taken)";
  std::string out = steps.size() == 1 ? " (step " : " (steps ";
  for (std::size_t i = 0; i < steps.size(); ++i) {
    out += (i == 0 ? "" : ", ") + std::to_string(steps[i]);
  }
  return out + ")";
}

bool visited(LifeState s, std::span<const TakenTransition> path) {
  return std::any_of(path.begin(), path.end(),
                     [s](const TakenTransition& t) { return t.from == s || t.to == s; });
}

}  // namespace

LifeState to_life_state(SlotState s) noexcept {
  switch (s) {
    case SlotState::U: return U;
    case SlotState::V: return V;
    case SlotState::L: return L;
    case SlotState::Z: return Z;
    case SlotState::X: return X;
    case SlotState::R:  // the target is dead; its memory is only waiting for weak refs
    case SlotState::D: return D;
  }
  return D;
}

std::string_view to_string(LifeState s) noexcept {
  switch (s) {
    case U: return "U";
    case V: return "V";
    case L: return "L";
    case Z: return "Z";
    case X: return "X";
    case D: return "D";
  }
  return "?";
}

std::string_view describe(LifeState s) noexcept {
  switch (s) {
    case U: return "untagged";
    case V: return "vacant (tagged, no wrapper)";
    case L: return "live (Python owns C++)";
    case Z: return "zombie (C++ owns Python)";
    case X: return "tagged by another interpreter";
    case D: return "dead";
  }
  return "?";
}

std::ostream& operator<<(std::ostream& os, LifeState s) { return os << to_string(s); }

std::string_view to_string(Transition t) noexcept {
  switch (t) {
    case Transition::T1: return "T1";
    case Transition::T1Prime: return "T1'";
    case Transition::T2: return "T2";
    case Transition::T3: return "T3";
    case Transition::T4: return "T4";
    case Transition::T5: return "T5";
    case Transition::T6: return "T6";
    case Transition::T7: return "T7";
    case Transition::T8: return "T8";
    case Transition::T9: return "T9";
    case Transition::T10: return "T10";
    case Transition::T11: return "T11";
    case Transition::Refused: return "refused";
    case Transition::SlotCleared: return "forgotten";
    case Transition::Released: return "released";
    case Transition::Share: return "share";
    case Transition::Unshare: return "unshare";
  }
  return "?";
}

std::ostream& operator<<(std::ostream& os, Transition t) { return os << to_string(t); }

std::ostream& operator<<(std::ostream& os, const TakenTransition& t) {
  os << t.transition << " (" << t.from << " -> " << t.to;
  if (t.step > 0) os << ", step " << t.step;
  return os << ")";
}

std::span<const MachineEdge> state_machine(Machine machine) noexcept { return edges_of(machine); }

bool TargetEvents::concerns(const Event& e) {
  // Events about the whole interpreter: a teardown, a finished collection.
  if (e.kind == EventKind::Disarmed || e.kind == EventKind::GcCollect) return true;
  if (e.target != nullptr && e.target == target_) {
    // A hermetic wrapper names the target too, but is never recorded.
    if (e.kind == EventKind::NewWrapper && e.object != nullptr) recorded_.insert(e.object);
    return true;
  }
  if (e.object != nullptr && recorded_.contains(e.object)) {
    // Forget it: the address may be reused by an unrelated object.
    if (e.kind == EventKind::Freed) recorded_.erase(e.object);
    return true;
  }
  return false;
}

std::vector<TakenTransition> transitions_taken(LifeState before,
                                               std::span<const EventKind> events,
                                               LifeState after, int step, Machine machine) {
  std::vector<TakenTransition> out;
  LifeState at = before;
  auto take = [&](Transition t) {
    if (const MachineEdge* e = find_edge(t, at, machine)) {
      out.push_back({t, e->from, e->to, step});
      at = e->to;
    }
  };
  // A real death inside a collection is the collector's doing (T7), even when the
  // collection reports itself (GcCollect) only after the death.
  const bool collector_ran = std::any_of(events.begin(), events.end(), [](EventKind k) {
    return k == EventKind::GcClear || k == EventKind::GcCollect;
  });
  for (EventKind k : events) {
    switch (k) {
      case EventKind::GcClear:
      case EventKind::GcCollect: break;
      case EventKind::NewWrapper: take(at == V ? Transition::T1Prime : Transition::T1); break;
      case EventKind::HermeticWrap: take(Transition::T10); break;
      case EventKind::Rewrapped: take(Transition::T2); break;
      case EventKind::Resurrected: take(Transition::T3); break;
      case EventKind::FlippedBack: take(Transition::T5); break;
      case EventKind::WeakrefDeref: take(Transition::T8); break;
      case EventKind::DecrefFromCpp: take(Transition::T6); break;
      case EventKind::Disarmed: take(Transition::T9); break;
      case EventKind::SlotCleared: take(Transition::SlotCleared); break;
      case EventKind::Freed:  // each of these leaves L only; elsewhere take() skips it
        take(after == V ? Transition::SlotCleared : (collector_ran ? Transition::T7 : Transition::T4));
        break;
      case EventKind::WrapRefused: take(Transition::Refused); break;  // in X: a self-loop
      case EventKind::CppIncref: take(Transition::Share); break;
      case EventKind::CppDecref: take(Transition::Unshare); break;
      case EventKind::Tagged:
      case EventKind::Stubbed:
      case EventKind::Finalized:
      case EventKind::WeakrefCleared:
      case EventKind::Warning:
      case EventKind::RoutedOp:
      case EventKind::StorageAliased: break;  // part of a transition, or none
    }
  }
  if (at != after) {
    if (const MachineEdge* e = find_edge(at, after, machine)) out.push_back({e->transition, at, after, step});
  }
  return out;
}

Graph state_machine_graph(std::span<const TakenTransition> path, std::string caption, Machine machine) {
  Graph g;
  g.name = "state_machine";
  g.caption = std::move(caption);
  g.nodes.push_back(Node{"start", "", NodeKind::Start, "", false});
  for (LifeState s : states_of(machine)) {
    g.nodes.push_back(Node{std::string(to_string(s)),
                           std::string(to_string(s)) + "\n" + std::string(describe(s)),
                           NodeKind::State, "", visited(s, path)});
  }
  g.edges.push_back(Edge{"start", "U", "", EdgeKind::Transition, visited(U, path)});
  for (const MachineEdge& e : edges_of(machine)) {
    const std::string suffix = steps_suffix(e, path);
    g.edges.push_back(Edge{std::string(to_string(e.from)), std::string(to_string(e.to)),
                           std::string(e.label) + suffix, EdgeKind::Transition, !suffix.empty()});
  }
  return g;
}

std::string state_machine_mermaid(std::span<const TakenTransition> path, Machine machine) {
  std::string out = "stateDiagram-v2\n    direction LR\n";
  for (LifeState s : states_of(machine)) {
    out += "    state \"" + std::string(to_string(s)) + " - " + std::string(describe(s)) +
           "\" as " + std::string(to_string(s)) + "\n";
  }
  out += "    [*] --> U\n";
  for (const MachineEdge& e : edges_of(machine)) {
    out += "    " + std::string(to_string(e.from)) + " --> " + std::string(to_string(e.to)) +
           " : " + std::string(e.label) + steps_suffix(e, path) + "\n";
  }
  out += "    D --> [*]\n";
  std::string seen;
  for (LifeState s : states_of(machine)) {
    if (visited(s, path)) seen += (seen.empty() ? "" : ",") + std::string(to_string(s));
  }
  if (!seen.empty()) {
    out += "    classDef visited fill:#ffe599,stroke:#c0392b,stroke-width:2px\n";
    out += "    class " + seen + " visited\n";
  }
  return out;
}

}  // namespace revive::pictures
