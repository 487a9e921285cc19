#include "revive/pyslot/hermetic_tls.h"

namespace revive::impl {
namespace {
thread_local bool hermeticState = false;
}  // namespace

std::atomic<bool> HermeticPyObjectTLS::haveState_{false};

void HermeticPyObjectTLS::set_state(bool state) noexcept {
  if (state) {
    init_state();  // See Note [The hermetic fast path].
  }
  hermeticState = state;
}

bool HermeticPyObjectTLS::get_tls_state() noexcept { return hermeticState; }

}  // namespace revive::impl
