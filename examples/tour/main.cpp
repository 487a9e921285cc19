// The ownership tour: one tensor and its Python wrapper through every state of PyTorch's
// resurrection design (era E2), printed step by step, and drawn if asked.
//
//   revive-tour                              run every scenario
//   revive-tour --list                       list the scenarios and the tests they port
//   revive-tour NAME...                      run the named scenarios
//   revive-tour --pictures DIR [NAME...]     also write pictures into DIR
//   revive-tour --era e4 [NAME...]           the scenarios' E4 tellings (PyTorch's design
//                                            since November 2025), where they exist
//   revive-tour --side-by-side [NAME...]     each E2 row next to its E4 twin's
//   revive-tour --quiz NAME                  ask for each step's row before showing it
//   revive-tour --rows [NAME...]             one line per step instead of the tables (the
//                                            Python tour on the real CPython checks its
//                                            rows against these: examples/cpython/tour.py)
//   revive-tour --html DIR [--real-rows FILE] [NAME...]
//                                            the explorer: a static site to step through
//                                            (site.h); FILE is tour.py --rows's output
//
// Each row shows, after one Python or C++ action: the state of docs/lifecycle.md, the
// tensor's strong count n, the wrapper's refcount r, the interpreter tag, the owns bit,
// whether the wrapper's cdata is owned or borrowed, the transitions the step took
// (`via`), and the events that happened.  Every row and sentence is checked as it runs
// (narrator.h); a failed check makes the tour exit 1.
//
// With --pictures, each scenario gets a folder DIR/<scenario>/ with step-NN.dot (who
// owns whom after step NN; see Note [Ownership pictures]) and states.dot / states.mmd
// (the state machine with the scenario's path highlighted); DIR/state-machine.{dot,mmd}
// is the machine alone.  If Graphviz's `dot` is on the PATH, every .dot file is also
// rendered to .svg and .png.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "revive/tensor/live_count.h"
#include "scenarios.h"
#include "site.h"

using namespace revive;
using namespace revive::tour;
using namespace revive::pictures;
using revive::binding::Era;
using revive::binding::Interpreter;
namespace fs = std::filesystem;

namespace {

void usage(std::FILE* to) {
  std::fprintf(to,
               "usage: revive-tour [--era e2|e4] [--pictures DIR] [SCENARIO...]\n"
               "       revive-tour --side-by-side [SCENARIO...]\n"
               "       revive-tour [--era e2|e4] --rows [SCENARIO...]\n"
               "       revive-tour [--era e2|e4] --quiz SCENARIO\n"
               "       revive-tour --html DIR [--real-rows FILE] [SCENARIO...]\n"
               "       revive-tour --list\n"
               "Runs the named scenarios (all of them if none is named) and prints a table per\n"
               "scenario. --pictures DIR also writes DIR/<scenario>/step-NN.dot (who owns whom\n"
               "after each step), states.dot and states.mmd (the state machine, the scenario's\n"
               "path highlighted), and DIR/state-machine.{dot,mmd}; with Graphviz's `dot` on the\n"
               "PATH each .dot file is rendered to .svg and .png as well. --rows prints one line\n"
               "per step instead, scenario<TAB>step<TAB>row<TAB>action, for examples/cpython/tour.py.\n"
               "--era e4 tells the scenarios that have an E4 telling (--list marks them) on an E4\n"
               "interpreter; --side-by-side prints each step's E2 and E4 rows. --quiz shows each\n"
               "step's action and asks for its row (STATE N R OWNS) before showing it, then\n"
               "scores the answers; it reads them from a terminal or a pipe. --html DIR writes the\n"
               "explorer, a site to step through (DIR/index.html); --real-rows FILE adds the real\n"
               "CPython's rows, FILE being examples/cpython/tour.py --rows's output.\n");
}

// A one-line reason, then the usage; exit status 2.
int refuse(const std::string& why) {
  std::fprintf(stderr, "revive-tour: %s\n", why.c_str());
  usage(stderr);
  return 2;
}

// --side-by-side: each scenario told in both eras, rows only, step by step.
int print_side_by_side(const std::vector<std::string_view>& wanted) {
  struct Row {
    std::string row;
    std::string action;
  };
  std::vector<Row> rows;
  rows_only() = true;
  row_receiver() = [&rows](const std::string&, int, const std::string& row, std::string_view action,
                           std::string_view) { rows.push_back(Row{row, std::string(action)}); };
  std::printf("revive tour, side by side: era E2 (resurrection) | era E4 (the has-PyObject bit)\n");
  for (const auto& s : all_scenarios()) {
    const bool pick = wanted.empty() || std::find(wanted.begin(), wanted.end(), s.name) != wanted.end();
    if (!pick || !s.told_in_e4) continue;
    rows.clear();
    s.run(nullptr, Era::E2);
    const std::vector<Row> e2 = rows;
    rows.clear();
    s.run(nullptr, Era::E4);
    const std::vector<Row> e4 = rows;
    std::printf("\n== %.*s ==\n%-4s %-44s %-52s %s\n", static_cast<int>(s.name.size()), s.name.data(), "step",
                "action", "E2", "E4");
    for (std::size_t i = 0; i < std::max(e2.size(), e4.size()); ++i) {
      const std::string& action = i < e2.size() ? e2[i].action : e4[i].action;
      std::printf("%-4zu %-44.44s %-52s %s\n", i + 1, action.c_str(), i < e2.size() ? e2[i].row.c_str() : "",
                  i < e4.size() ? e4[i].row.c_str() : "");
    }
  }
  row_receiver() = nullptr;
  if (!narration_failures().empty()) {
    std::fprintf(stderr, "\nrevive-tour: %zu narration check(s) failed:\n", narration_failures().size());
    for (const std::string& f : narration_failures()) std::fprintf(stderr, "  %s\n", f.c_str());
    return 1;
  }
  return 0;
}

// One field of a row in the rows form ("L n=2 r=1 ... owns=0"): the state is the first
// word; a key the row leaves out reads "-", as the table prints it.
std::string field(const std::string& row, const std::string& key) {
  if (key == "state") return row.substr(0, row.find(' '));
  const std::string tag = " " + key + "=";
  const std::size_t at = row.find(tag);
  if (at == std::string::npos) return "-";
  const std::size_t from = at + tag.size();
  return row.substr(from, row.find(' ', from) - from);
}

// --quiz SCENARIO: the tour asks before it tells.  Each step's action is shown, and the
// learner answers the row's state, n, r and owns ("Z 1 1 1"; "-" where the table shows
// "-"; an empty line skips); then the row and its sentence are shown, and each answer is
// marked.  Reads standard input line by line, so a pipe works as well as a terminal.
int run_quiz(const Scenario& s, bool e4) {
  struct Step {
    std::string row, action, why;
  };
  std::vector<Step> steps;
  rows_only() = true;
  row_receiver() = [&steps](const std::string&, int, const std::string& row, std::string_view action,
                            std::string_view why) {
    steps.push_back(Step{row, std::string(action), std::string(why)});
  };
  try {
    s.run(nullptr, e4 ? Era::E4 : Era::E2);
  } catch (const std::exception& e) {
    row_receiver() = nullptr;
    std::fprintf(stderr, "revive-tour: %s\n", e.what());
    return 1;
  }
  row_receiver() = nullptr;
  std::printf("quiz: %.*s (era %s). For each step, type the row you expect: STATE N R OWNS\n"
              "(states U V L Z X D; '-' where the table shows '-'; an empty line skips the step).\n",
              static_cast<int>(s.name.size()), s.name.data(), e4 ? "E4" : "E2");
  static const std::array<std::string, 4> kKeys{"state", "n", "r", "owns"};
  int right = 0, asked = 0, perfect = 0, skipped = 0;
  bool input = true;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const Step& step = steps[i];
    std::printf("\nstep %zu: %s\n  your row> ", i + 1, step.action.c_str());
    std::fflush(stdout);
    std::string line;
    if (input && !std::getline(std::cin, line)) input = false;
    if (!input) std::printf("(no more input)\n");
    else if (!isatty(0)) std::printf("%s\n", line.c_str());  // a pipe: show what was answered
    std::istringstream words(line);
    std::array<std::string, 4> answer;
    std::size_t given = 0;
    while (given < answer.size() && words >> answer[given]) {
      // Accept the row's own form ("n=1") and any case for the state ("z").
      if (const std::size_t eq = answer[given].find('='); eq != std::string::npos) answer[given].erase(0, eq + 1);
      if (given == 0) {
        for (char& c : answer[given]) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      }
      ++given;
    }
    std::string marks;
    if (given == 0) {
      ++skipped;
    } else {
      int ok = 0;
      for (std::size_t k = 0; k < kKeys.size(); ++k) {
        const std::string want = field(step.row, kKeys[k]);
        const bool hit = k < given && answer[k] == want;
        ok += hit ? 1 : 0;
        marks += "  " + kKeys[k] + " " + (hit ? "right" : "wrong (" + want + ")");
      }
      right += ok;
      asked += static_cast<int>(kKeys.size());
      perfect += ok == static_cast<int>(kKeys.size()) ? 1 : 0;
    }
    std::printf("  the row:  %s\n  %s\n", step.row.c_str(), step.why.c_str());
    if (!marks.empty()) std::printf("  %s\n", marks.c_str() + 2);
  }
  std::printf("\nscore: %d of %d answers right; %d of %zu steps entirely right, %d skipped\n", right, asked,
              perfect, steps.size(), skipped);
  // The rows shown are what happened; if that is not what the scenario says, say so.
  if (!narration_failures().empty()) {
    std::fprintf(stderr, "revive-tour: %zu narration check(s) failed: the code does not do what this scenario "
                 "says (is a rule switched off? REVIVE_EXERCISE)\n", narration_failures().size());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> wanted;
  std::optional<fs::path> pictures_dir;
  bool list = false;
  bool e4 = false;
  bool side_by_side = false;
  bool quiz = false;
  std::optional<fs::path> html_dir;
  fs::path real_rows;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--list" || arg == "-l") {
      list = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") {
      usage(stdout);
      return 0;
    }
    if (arg == "--rows") {
      rows_only() = true;
      continue;
    }
    if (arg == "--era") {
      if (i + 1 >= argc) return refuse("--era needs e2 or e4");
      const std::string_view era = argv[++i];
      if (era != "e2" && era != "e4" && era != "E2" && era != "E4") {
        return refuse("--era takes e2 or e4, not '" + std::string(era) + "'");
      }
      e4 = era == "e4" || era == "E4";
      continue;
    }
    if (arg == "--side-by-side") {
      side_by_side = true;
      continue;
    }
    if (arg == "--html") {
      if (i + 1 >= argc || argv[i + 1][0] == '-' || argv[i + 1][0] == '\0') return refuse("--html needs a directory");
      html_dir = argv[++i];
      continue;
    }
    if (arg == "--real-rows") {
      if (i + 1 >= argc || argv[i + 1][0] == '-' || argv[i + 1][0] == '\0') return refuse("--real-rows needs a file");
      real_rows = argv[++i];
      continue;
    }
    if (arg == "--quiz") {
      quiz = true;
      continue;
    }
    if (arg == "--pictures") {
      if (i + 1 >= argc || argv[i + 1][0] == '-') return refuse("--pictures needs a directory");
      if (argv[i + 1][0] == '\0') return refuse("--pictures needs a directory, not an empty name");
      pictures_dir = argv[++i];
      continue;
    }
    if (arg.starts_with("-")) return refuse("unknown option " + std::string(arg));
    bool known = false;
    for (const auto& s : all_scenarios()) known = known || s.name == arg;
    if (!known) return refuse("no scenario named '" + std::string(arg) + "'; --list names them");
    wanted.push_back(arg);
  }
  if (side_by_side && (e4 || rows_only() || pictures_dir)) {
    return refuse("--side-by-side prints both eras' rows: it takes scenario names only");
  }
  if (e4 || side_by_side) {
    for (std::string_view name : wanted) {
      const auto& all = all_scenarios();
      const auto it = std::find_if(all.begin(), all.end(), [&](const Scenario& s) { return s.name == name; });
      if (!it->told_in_e4) {
        std::string told;
        for (const Scenario& t : all) {
          if (t.told_in_e4) told += (told.empty() ? "" : ", ") + std::string(t.name);
        }
        return refuse("scenario '" + std::string(name) + "' has no E4 telling yet (these have one: " + told + ")");
      }
    }
  }
  if (side_by_side) return print_side_by_side(wanted);
  if (!real_rows.empty() && !html_dir) return refuse("--real-rows goes with --html");
  if (html_dir) {
    if (quiz || list || rows_only() || pictures_dir || e4) return refuse("--html takes a directory and scenario names");
    try {
      const int failed = write_site(*html_dir, wanted, real_rows);
      std::printf("explorer: %s/index.html (open it in a browser)\n", html_dir->string().c_str());
      if (failed > 0) {
        std::fprintf(stderr, "revive-tour: %d problem(s) writing the explorer\n", failed);
        return 1;
      }
      return 0;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "revive-tour: %s\n", e.what());
      return 1;
    }
  }
  if (quiz) {
    if (wanted.size() != 1 || rows_only() || pictures_dir || list) {
      return refuse("--quiz takes one scenario (and --era)");
    }
    const auto& all = all_scenarios();
    return run_quiz(*std::find_if(all.begin(), all.end(), [&](const Scenario& s) { return s.name == wanted[0]; }), e4);
  }
  if (list) {
    if (!wanted.empty() || pictures_dir || rows_only() || e4) return refuse("--list takes nothing else");
    for (const auto& s : all_scenarios()) {
      std::printf("%-19s %s\n%-19s ports %s\n", s.name.data(), s.summary.data(), "", s.ports.data());
      if (!s.same_story.empty()) std::printf("%-19s same story: %s\n", "", s.same_story.data());
      if (s.told_in_e4) std::printf("%-19s also told in era E4 (--era e4, --side-by-side)\n", "");
    }
    return 0;
  }
  try {
    std::optional<Pictures> pictures;
    if (pictures_dir) {
      pictures.emplace(*pictures_dir);
      const Graph machine = state_machine_graph(
          {}, "The states of a C++ object and its recorded wrapper (docs/reference.md section 2)");
      pictures->render(pictures->write("", "state-machine.dot", to_dot(machine)));
      (void)pictures->write("", "state-machine.mmd", state_machine_mermaid({}));
      const Graph machine_e4 = state_machine_graph(
          {}, "Era E4 (PyTorch #167564): no zombie; C++ holds the wrapper while it shares the target",
          Machine::E4);
      pictures->render(pictures->write("", "state-machine-e4.dot", to_dot(machine_e4)));
      (void)pictures->write("", "state-machine-e4.mmd", state_machine_mermaid({}, Machine::E4));
    }
    if (!rows_only()) {
      std::printf("revive tour: PyTorch's PyObject preservation (era %s) on a fake interpreter\n",
                  e4 ? "E4, the has-PyObject bit" : "E2, resurrection");
    }
    if (!rows_only()) std::printf("columns: n = C++ strong count, r = wrapper refcount, owns = slot owns the "
                "wrapper, cdata = the wrapper's reference to the tensor, via = transitions of "
                "docs/reference.md section 3\n");
    if (pictures && !pictures->renders()) {
      std::printf("pictures: Graphviz's `dot` was not found, so only .dot and .mmd files are "
                  "written (apt-get install graphviz to get .svg and .png)\n");
    }
    for (const auto& s : all_scenarios()) {
      const bool pick =
          wanted.empty() || std::find(wanted.begin(), wanted.end(), s.name) != wanted.end();
      if (!pick) continue;
      if (!e4 || s.told_in_e4) s.run(pictures ? &*pictures : nullptr, e4 ? Era::E4 : Era::E2);
    }
  } catch (const std::exception& e) {
    // A step raised what its scenario does not expect (a rule switched off, say): the
    // checks that failed before it say where the story went wrong.
    std::fprintf(stderr, "revive-tour: %s\n", e.what());
    if (!narration_failures().empty()) {
      std::fprintf(stderr, "\nrevive-tour: %zu narration check(s) failed before that:\n", narration_failures().size());
      for (const std::string& f : narration_failures()) std::fprintf(stderr, "  %s\n", f.c_str());
    }
    return 1;
  }
  if (!narration_failures().empty()) {
    std::fprintf(stderr, "\nrevive-tour: %zu narration check(s) failed:\n", narration_failures().size());
    for (const std::string& f : narration_failures()) std::fprintf(stderr, "  %s\n", f.c_str());
    return 1;
  }
  // Every preserved C++ type counts its live objects (LiveCount), so this line covers
  // TensorImpl, StorageImpl and any type added later, by name.
  if (rows_only()) return 0;
  std::string per_type;
  for (const LiveCount* c : LiveCount::all()) {
    per_type += (per_type.empty() ? "" : ", ") + c->type_name() + " " + std::to_string(c->get());
  }
  std::printf("\nlive objects left: %lld C++ objects (%s), %lld wrappers (abandoned on purpose: %lld)\n",
              static_cast<long long>(LiveCount::total()), per_type.c_str(),
              static_cast<long long>(Interpreter::live_object_count()),
              static_cast<long long>(Interpreter::abandoned_object_count()));
  return 0;
}
