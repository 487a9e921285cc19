// site.h: the explorer, the tour as a static site a learner steps through
// (revive-tour --html DIR).
//
// Defines:
//   write_site(dir, names)   runs the named scenarios (all if none), in E2 and, where they
//                            have one, in E4, drawing every step, and writes DIR/index.html,
//                            DIR/<scenario>.html, DIR/explorer.css, DIR/explorer.js and the
//                            pictures under DIR/pictures/.  Plain HTML, CSS and a little
//                            JavaScript, all written here: no network, no build step; the
//                            pages open from file://.  Returns the number of narration
//                            checks that failed (0: every row is as its scenario says).
//
// A scenario page shows one step at a time: the action, the row (state, n, r, tag, owns,
// cdata, via, events), the sentence, the ownership picture, and the state machine; both
// eras side by side where the scenario has an E4 telling, aligned by step because a
// scenario's actions are written once (scenarios.h).  Buttons and the arrow keys step
// forward and back, and each step has its own URL fragment (#step-6).
#pragma once

#include <filesystem>
#include <string_view>
#include <vector>

namespace revive::tour {

int write_site(const std::filesystem::path& dir, const std::vector<std::string_view>& names);

}  // namespace revive::tour
