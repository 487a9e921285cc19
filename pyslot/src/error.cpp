#include "revive/pyslot/error.h"

#include <cstdio>
#include <cstdlib>

namespace revive::detail {

void internal_assert_fail(const char* file, int line, const char* cond,
                          const std::string& msg) noexcept {
  std::fprintf(stderr, "revive: internal invariant broken at %s:%d: %s%s%s\n", file, line,
               cond, msg.empty() ? "" : ": ", msg.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace revive::detail
