// State reading: §2 off a slot, through any runtime's view.
#include "revive/pictures/inspect.h"

#include <ostream>

#include "revive/pyslot/error.h"

namespace revive::pictures {
namespace {

Snapshot snapshot(const trace::RuntimeView& interp, const impl::PyObjectSlot* slot,
                  std::uint32_t strong) {
  trace::ViewLock gil(interp);
  Snapshot s;
  s.strong = strong;
  impl::PyInterpreter* tag = slot->pyobj_interpreter();
  if (tag == nullptr) {  // s.tag is "-" from its initializer: assigning it here trips
                        // g++ 12's false -Wrestrict at -O2 (GCC PR 105329)
    s.state = SlotState::U;
    return s;
  }
  s.tag = (*tag)->name();
  if (tag != interp.tag()) {
    s.state = SlotState::X;  // pyobj_ belongs to another GIL: do not read it
    return s;
  }
  s.owns = slot->owns_pyobj();
  s.recorded = slot->_unchecked_untagged_pyobj();
  if (s.recorded == nullptr) {
    s.state = SlotState::V;
    return s;
  }
  const trace::WrapperFacts facts = interp.facts(s.recorded);
  s.refcnt = facts.refcnt;
  s.cdata = facts.cdata;
  s.state = s.owns ? SlotState::Z : SlotState::L;
  return s;
}

}  // namespace

Snapshot inspect(const trace::RuntimeView& interp, const Target& target) {
  if (target.slot == nullptr) return Snapshot{.state = SlotState::D};
  Snapshot s = snapshot(interp, target.slot, target.strong);
  if (target.strong == 0) s.state = SlotState::R;
  return s;
}

std::string_view to_string(SlotState s) noexcept {
  switch (s) {
    case SlotState::U: return "U";
    case SlotState::V: return "V";
    case SlotState::L: return "L";
    case SlotState::Z: return "Z";
    case SlotState::X: return "X";
    case SlotState::R: return "R";
    case SlotState::D: return "D";
  }
  return "?";
}

std::ostream& operator<<(std::ostream& os, SlotState s) { return os << to_string(s); }

}  // namespace revive::pictures
