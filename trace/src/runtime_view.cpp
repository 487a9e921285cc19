#include "revive/trace/runtime_view.h"

#include <ostream>

namespace revive::trace {

std::string_view to_string(CdataKind c) noexcept {
  switch (c) {
    case CdataKind::NoWrapper: return "-";
    case CdataKind::Owned: return "owned";
    case CdataKind::Borrowed: return "borrowed";
    case CdataKind::Undefined: return "undefined";
  }
  return "?";
}

std::ostream& operator<<(std::ostream& os, CdataKind c) { return os << to_string(c); }

}  // namespace revive::trace
