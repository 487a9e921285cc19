// state_machine.h: the state machine of docs/reference.md §2 and §3, the path one
// target takes through it, and the machine drawn with that path highlighted.
//
// Defines:
//   LifeState          the six states of §2: U, V (vacant), L, Z, X (as inspect() reads
//                      them) and D.
//   Transition         the transitions of §3 the machine draws: T1 ... T11, and the three
//                      named ones: a wrap refused in X, a recorded wrapper really dying
//                      while C++ holds the target, and C++ letting go of a target that
//                      has no wrapper.
//   MachineEdge        one arrow of the machine: a transition from one state to another.
//   state_machine()    every arrow, in drawing order.
//   TargetEvents       picks, out of an interpreter's event stream, the events about one
//                      target and its recorded wrappers.
//   transitions_taken  names the transitions behind a state change and its events.
//   state_machine_graph, state_machine_mermaid   the machine as a Graph (for to_dot) and
//                      as Mermaid text, with the taken arrows highlighted.
//
// Example (compiled in test/pictures/diagram_test.cpp):
//   auto taken = transitions_taken(LifeState::L, std::vector{EventKind::Resurrected}, LifeState::Z);
//   assert(taken.size() == 1 && taken[0].transition == Transition::T3);
//   std::string text = state_machine_mermaid(
//       std::vector{TakenTransition{Transition::T3, LifeState::L, LifeState::Z, 6}});
//   // one of its lines: "    L --> Z : T3 Python lets go, C++ holds it - resurrect, flip (step 6)"
//
// Self-loops (T2, T8, T9, T10, refused) are drawn on the states where the scenarios meet
// them: T10 on L and Z, T9 on Z only, although a teardown can happen in any state (its
// label says so), refused on X.  Pictures are drawn as Note [Ownership pictures] describes.
#pragma once

#include <iosfwd>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "revive/trace/events.h"
#include "revive/pictures/graph.h"
#include "revive/pictures/inspect.h"

namespace revive::pictures {

using trace::Event;
using trace::EventKind;

enum class LifeState {
  U,   // untagged: never crossed into Python
  V,  // tagged by the viewing interpreter, no wrapper recorded (transient in T1)
  L,   // live: the recorded wrapper owns the target (Python owns C++)
  Z,   // zombie: the target owns the recorded wrapper (C++ owns Python)
  X,   // tagged by another interpreter (as seen from the viewing one)
  D,   // dead: the target is gone
};

[[nodiscard]] LifeState to_life_state(SlotState s) noexcept;
[[nodiscard]] std::string_view to_string(LifeState s) noexcept;
// "live: Python owns C++", ...: what the state means, in a few words.
[[nodiscard]] std::string_view describe(LifeState s) noexcept;
std::ostream& operator<<(std::ostream& os, LifeState s);

enum class Transition {
  T1,           // U -> L: first wrap (tag, record, cdata owned)
  T1Prime,      // V -> L: wrap of a tagged slot with no wrapper (TAGGED_BY_US)
  T2,           // L -> L: wrap again, r + 1
  T3,           // L -> Z: resurrection (the ownership flip)
  T4,           // L -> D: Python drops the only owner: real death
  T5,           // Z -> L: wrap of a zombie flips ownership back
  T6,           // Z -> D: C++ drops the last reference; the slot decrefs the zombie
  T7,           // L -> D: the cycle collector frees a dead cycle through the wrapper
  T8,           // Z -> Z: a weakref deref revives the zombie without a flip (r = 2)
  T9,           // Z -> Z: the tagging interpreter is torn down; the zombie is abandoned
  T10,          // L -> L, Z -> Z: hermetic wrap, the slot untouched
  T11,          // U -> X: another interpreter tags the target
  Refused,      // X -> X: a wrap from this interpreter raises (check_pyobj); nothing changes
  SlotCleared,  // L -> V: the recorded wrapper dies for real while C++ holds the target
                //          (Note [A recorded wrapper that really dies]; #75932's clear)
  Released,     // U, V, X -> D: C++ drops a target this interpreter has no wrapper for
  // Era E4 (Note [Era E4 in the binding]):
  Share,        // L -> L: n 1 -> 2, C++ takes a reference to the wrapper
  Unshare,      // L -> L: n 2 -> 1, C++ gives it back (the wrapper may then die: T4)
};

// Which design's machine: E2 (resurrection, the zombie state) or E4 (PyTorch #167564:
// no zombie; C++ holds the wrapper while it shares the target).
enum class Machine { E2, E4 };

// "T1", "T1'", ..., "T11", "refused", "forgotten", "released", "share", "unshare".
[[nodiscard]] std::string_view to_string(Transition t) noexcept;
std::ostream& operator<<(std::ostream& os, Transition t);

struct MachineEdge {
  Transition transition;
  LifeState from;
  LifeState to;
  std::string_view label;  // Mermaid-safe: no ':', ';', '#', '<', '>' or quotes
};

// Every arrow of the machine.  A (transition, from) pair names at most one arrow.
[[nodiscard]] std::span<const MachineEdge> state_machine(Machine machine = Machine::E2) noexcept;

// One arrow a scenario took, and at which of its steps.
struct TakenTransition {
  Transition transition;
  LifeState from;
  LifeState to;
  int step = 0;  // 1-based step of the narration; 0 when not known

  friend bool operator==(const TakenTransition&, const TakenTransition&) = default;
};
std::ostream& operator<<(std::ostream& os, const TakenTransition& t);

// Follows one target (a TensorImpl or StorageImpl) through an event stream.  An event
// concerns the target when it names it (Event::target), or names a wrapper that was
// recorded for it (NewWrapper taught us which; Freed forgets it), or is about the whole
// interpreter (Disarmed, GcCollect).  Hermetic wrappers are never recorded, so their
// deaths do not concern the target.
class TargetEvents {
 public:
  explicit TargetEvents(const void* target) : target_(target) {}
  [[nodiscard]] bool concerns(const Event& e);

 private:
  const void* target_;
  std::unordered_set<const PyObject*> recorded_;
};

// The arrows behind "the target was in `before`, these events concerning it happened
// (in order), and now it is in `after`".  Events drive the walk: NewWrapper is T1 (or
// T1' from V), Resurrected T3, FlippedBack T5, WeakrefDeref T8, DecrefFromCpp in Z T6,
// Disarmed T9, HermeticWrap T10, WrapRefused in X refused, and Freed in L is T4, or T7 if
// the events include a collection, or SlotCleared if `after` is V.  An event with no
// arrow from the current state is skipped.  If the walk does not end in `after`, the
// direct arrow from where it ended to `after` is added when there is one (U -> X and
// Released: no event reports them).  `step` is copied into every result.
// In E4's machine, CppIncref is Share and CppDecref Unshare.
[[nodiscard]] std::vector<TakenTransition> transitions_taken(
    LifeState before, std::span<const EventKind> events, LifeState after, int step = 0,
    Machine machine = Machine::E2);

// The machine as a Graph: node ids are the state names ("U", "V", ...) plus "start";
// edges carry the MachineEdge label, and the taken ones are highlighted with their step
// numbers appended ("(step 6)", "(steps 6, 9)").  States the path visits are
// highlighted too.
[[nodiscard]] Graph state_machine_graph(std::span<const TakenTransition> path,
                                        std::string caption = {}, Machine machine = Machine::E2);

// The same machine as Mermaid (stateDiagram-v2): one `state "..." as X` line per
// state, one `A --> B : label` line per arrow (taken ones with their steps), and
// `class U,L visited` for the states the path visits.
[[nodiscard]] std::string state_machine_mermaid(std::span<const TakenTransition> path,
                                                Machine machine = Machine::E2);

}  // namespace revive::pictures
