// site.h: the explorer, the tour as a static site a learner steps through
// (revive-tour --html DIR).
//
// Defines:
//   write_site(dir, names, real_rows)
//       runs the named scenarios (all if none), in E2 and, where they have one, in E4,
//       drawing every step, and writes DIR/index.html, DIR/<scenario>.html,
//       DIR/notes.html (every Note of the sources), DIR/source/<file>.html (the files the
//       pages link into, a line anchor per line), DIR/explorer.css, DIR/explorer.js and
//       the pictures under DIR/pictures/.  Plain HTML, CSS and a little JavaScript, all
//       written here: no network, no build step; the pages open from file://.
//       `real_rows`, when not empty, is the output of examples/cpython/tour.py --rows:
//       the real CPython's row is shown under the fake one, marked equal or not.
//       Returns the number of problems: narration checks that failed (a row that is not
//       as its scenario says), and links the sources cannot back (a Note or a function
//       the transition tables name and the sources do not have).
//
// A scenario page shows one step at a time: the action, the row (state, n, r, tag, owns,
// cdata, via, fin), the sentence, each transition of via with a link to its Note and to
// the function that performs it, the ownership picture, and the state machine with the
// path so far; both eras side by side where the scenario has an E4 telling, aligned by
// step because a scenario's actions are written once (scenarios.h).  Buttons and the arrow keys step
// forward and back, and each step has its own URL fragment (#step-6).
#pragma once

#include <filesystem>
#include <string_view>
#include <vector>

namespace revive::tour {

int write_site(const std::filesystem::path& dir, const std::vector<std::string_view>& names,
               const std::filesystem::path& real_rows = {});

}  // namespace revive::tour
