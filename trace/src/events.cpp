#include "revive/trace/events.h"

#include <ostream>

namespace revive::trace {

std::string_view to_string(EventKind kind) noexcept {
  switch (kind) {
    case EventKind::Tagged: return "tagged";
    case EventKind::NewWrapper: return "new wrapper";
    case EventKind::HermeticWrap: return "hermetic wrap";
    case EventKind::Rewrapped: return "rewrapped";
    case EventKind::Resurrected: return "resurrected";
    case EventKind::FlippedBack: return "flipped back";
    case EventKind::DecrefFromCpp: return "decref from C++";
    case EventKind::Stubbed: return "cdata stubbed";
    case EventKind::WeakrefDeref: return "weakref deref";
    case EventKind::Finalized: return "finalized";
    case EventKind::WeakrefCleared: return "weakref cleared";
    case EventKind::Freed: return "freed";
    case EventKind::Warning: return "warning";
    case EventKind::Disarmed: return "disarmed";
    case EventKind::RoutedOp: return "routed op";
    case EventKind::GcClear: return "gc clear";
    case EventKind::GcCollect: return "gc collect";
    case EventKind::SlotCleared: return "slot cleared";
    case EventKind::WrapRefused: return "wrap refused";
    case EventKind::StorageAliased: return "storage aliased";
    case EventKind::CppIncref: return "C++ took the wrapper";
    case EventKind::CppDecref: return "C++ let the wrapper go";
  }
  return "?";
}

std::ostream& operator<<(std::ostream& os, EventKind kind) { return os << to_string(kind); }

void EventLog::on_event(std::string_view /*interpreter*/, const Event& event) noexcept {
  events_.push_back(event);
}

std::vector<EventKind> EventLog::kinds() const {
  std::vector<EventKind> out;
  out.reserve(events_.size());
  for (const Event& e : events_) out.push_back(e.kind);
  return out;
}

}  // namespace revive::trace
