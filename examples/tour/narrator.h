// narrator.h: what the tour's scenarios are told with, and checked by.
//
// Defines:
//   Pictures    a folder of pictures, rendered with Graphviz's `dot` when it is there.
//   Narrator    prints one table per scenario (a row per Python or C++ action: state,
//               n, r, tag, owns, cdata, the transitions taken, the events) and draws
//               each step; and checks the narration as it runs: each step's row against
//               the expected row written next to it, each step's sentence against what
//               happened, and the scenario's path against the one its declaration names.
//   Expected    a scenario table's declaration: title, expected path, end state.
//   narration_failures()  every check that failed so far (the tour and its test read it).
//   caught()    run a function and return the C++ error it raised, printed as the
//               RuntimeError PyTorch's binding turns it into.
//
// Example (examples/tour/lifecycle.cpp, through its Scene):
//   Narrator tour(pics, "plain-death", {"plain death: ...", "T1 T4", LifeState::D});
//   tour.step("Py: del x", [&] { x.reset(); },
//             "n == 1: not resurrectable ... wrapper freed (T4).",
//             "D via=T4 fin=0");
//
// The expected row lists the columns that are not "-": the state, then n=, r=, tag=,
// owns=, cdata=, via= (transitions, comma-separated), and fin= (finalizers run during
// the step, counted from the interpreters' events).  The sentence is checked for the
// claims it makes in a form the narrator can read: "(T3)" (the step took T3), "n = 2",
// "n: 2 -> 1", "r = 1", "r: 2 -> 1" (the counts after the step), "no __del__" and
// "__del__ runs" (finalizer runs).  A step whose row or sentence disagrees with what
// happened is a narration failure: the tour prints it and exits 1, and the tour's test
// (test/tour/tour_test.cpp) fails.
#pragma once

#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "revive/binding/interpreter.h"
#include "revive/pictures/diagram.h"
#include "revive/pictures/state_machine.h"
#include "revive/tensor/autograd.h"
#include "revive/tensor/death_watch.h"
#include "revive/tensor/intrusive_ptr.h"

namespace revive::tour {

using binding::Interpreter;
using interp::Ref;
using pictures::LifeState;

class Pictures {
 public:
  // Creates `dir`; throws with the path and the reason if it cannot.
  explicit Pictures(std::filesystem::path dir);
  [[nodiscard]] bool renders() const noexcept { return render_; }
  [[nodiscard]] const std::filesystem::path& dir() const noexcept { return dir_; }
  // Writes dir/sub/name (sub may be empty) and returns its path.
  std::filesystem::path write(const std::string& sub, const std::string& name, const std::string& text);
  // dot -Tsvg and -Tpng next to `dot_file` (-Tsvg only for a site); false if dot is
  // missing or failed.
  bool render(const std::filesystem::path& dot_file) const;
  // For the explorer (site.h): SVG only, and the state machine after every step too
  // (states-NN.dot: the path so far), not only after the last.
  void for_site() noexcept { for_site_ = true; }
  [[nodiscard]] bool machine_every_step() const noexcept { return for_site_; }

 private:
  std::filesystem::path dir_;
  bool render_ = false;
  bool for_site_ = false;
};

// What a scenario's table declares about itself.
struct Expected {
  std::string title;
  std::string path;         // the transitions, in order, space-separated ("T1 T3 T6")
  LifeState end;            // the watched object's state after the last step
  pictures::Machine machine = pictures::Machine::E2;  // whose state machine: the era's
};

// A step as one era tells it: the sentence the tour prints and the row it expects.  A
// scenario told in both eras writes each action once and gives it both tellings,
// step(action, run, InE2{why, row}, InE4{why, row}), so that the eras line up step by
// step by construction; the narrator uses its own era's.
struct InE2 {
  std::string_view why;
  std::string_view row;
};
struct InE4 {
  std::string_view why;
  std::string_view row;
};

class Narrator final : public trace::Observer {
 public:
  Narrator(Pictures* pictures, std::string slug, Expected expected);
  Narrator(const Narrator&) = delete;
  Narrator& operator=(const Narrator&) = delete;
  // Prints the path, checks it and the end state, and writes the state machine with
  // the path highlighted.
  ~Narrator() override;

  // Follow a tensor or storage as seen from `viewpoint`.  Called inside a step, the
  // object is taken to be born in that step (its path starts at U).
  // `name` is the Python variable that holds its wrapper (the picture labels the
  // recorded wrapper with it).
  void watch(Interpreter& viewpoint, const Tensor& t, std::string name = {});
  void watch(Interpreter& viewpoint, const Storage& s, std::string name = {});
  // Follow an autograd node (a preserved grad_fn), read through the handle given.
  void watch(Interpreter& viewpoint, const autograd::NodeHandle& node, std::string name = {});
  // Follow the tensor or storage a wrapper owns, without taking a C++ reference to it:
  // in E4 a handle taken only to watch would cross 1 <-> 2 and show in the row.
  void watch_wrapped(Interpreter& viewpoint, const Ref& wrapper, std::string name = {});
  // Draw `other` too (after the viewpoint).
  void also_show(Interpreter& other);
  // Draw this wrapper too, for as long as it lives (a hermetic or stubbed one, another
  // object the story names), labelled with `name`.  A step whose action names a shown,
  // living object must draw it: a narration check.
  void show(const Ref& wrapper, std::string name = {});
  // Draw the grad_fn of tensor wrapper `tensor` too, with the nodes it reaches, for as
  // long as the node lives, labelled with `name` ("y.grad_fn").  Read through the
  // wrapper's own reference: no count changes.
  void show_grad_fn(const Ref& tensor, std::string name);
  // Output of the current step, printed under its row.
  void say(std::string line);

  void on_event(std::string_view interpreter, const trace::Event& e) noexcept override;

  // Run `action`, print its row and `why`, draw the picture, and check the row against
  // `expected_row` and `why` against what happened.
  void step(std::string_view action, const std::function<void()>& run, std::string_view why,
            std::string_view expected_row);
  // The same, for a scenario told in both eras: the telling of this narrator's era.
  void step(std::string_view action, const std::function<void()>& run, InE2 e2, InE4 e4) {
    if (expected_.machine == pictures::Machine::E4) step(action, run, e4.why, e4.row);
    else step(action, run, e2.why, e2.row);
  }

 private:
  void set_target(const intrusive_ptr_target* target, const void* raw);
  void set_viewpoint(Interpreter& viewpoint);
  std::optional<pictures::OwnershipView> look();
  void draw(const pictures::OwnershipView& view, std::string_view action, std::string_view why,
            const std::string& via, const std::string& events);
  void fail(std::string what);

  Pictures* pictures_;
  std::string slug_;
  Expected expected_;
  // [0] is the viewpoint.  Raw pointers stay valid after a teardown: See Note
  // [Interpreter teardown leaks on purpose].
  std::vector<Interpreter*> interps_;
  // The watched object, followed without a reference (a C++ weak reference would
  // change when a storage gives its wrapper back): see revive/tensor/death_watch.h.
  std::variant<std::monostate, const TensorImpl*, const StorageImpl*, const autograd::Node*> target_;
  std::unique_ptr<DeathWatch> watch_;
  const void* raw_ = nullptr;
  std::optional<pictures::TargetEvents> filter_;
  struct Shown {
    interp::Runtime* interp;  // where to look it up: `object` may be freed by now (the
                              // runtime is not: Note [Interpreter teardown leaks on purpose])
    const PyObject* object;
    std::uint64_t id;
    std::string name;
    bool gone = false;  // its Freed event was seen
  };
  std::string target_name_;  // names the recorded wrapper
  // Object numbers as this scenario shows them: 1, 2, ... in order of appearance, so a
  // reader's run and the docs show the same numbers whatever ran before.
  std::uint64_t local_id(std::map<std::uint64_t, std::uint64_t>& ids, std::uint64_t id);
  std::map<std::uint64_t, std::uint64_t> wrapper_ids_, target_ids_, node_ids_;
  std::vector<Shown> shown_;
  // Followed weakly, so that drawing them changes no count.
  std::vector<std::pair<weak_intrusive_ptr<autograd::Node>, std::string>> shown_nodes_;
  std::vector<std::string> events_;  // this step's events, as printed
  std::vector<trace::Event> trace_;  // this step's events, as emitted
  std::vector<bool> event_shown_;    // for each of trace_: about a shown object
  std::vector<std::string> notes_;
  std::vector<pictures::TakenTransition> path_;
  LifeState state_ = LifeState::U;  // after the last step
  bool in_step_ = false;
  bool born_in_step_ = false;
  int count_ = 0;
};

// Every narration check that failed since the last clear, as "scenario, step N: ...".
[[nodiscard]] std::vector<std::string>& narration_failures();

// The rows mode (revive-tour --rows): instead of the tables, one line per step,
// "scenario<TAB>step<TAB>row<TAB>action", the row in the expected-row form above (what
// happened, not what was expected).  The Python tour (examples/cpython/tour.py) runs the
// same scenarios on the real CPython and compares its rows with these.
[[nodiscard]] bool& rows_only();

// Where the rows mode's lines go: printed unless a receiver is set (the side-by-side
// mode and the quiz collect them): the scenario's slug, the step, the row, the action,
// and the step's sentence.
using RowReceiver = std::function<void(const std::string& slug, int step, const std::string& row,
                                       std::string_view action, std::string_view why)>;
[[nodiscard]] RowReceiver& row_receiver();

// Run `f`; the C++ error it raised as the RuntimeError Python would print, or "no error".
[[nodiscard]] std::string caught(const std::function<void()>& f);

}  // namespace revive::tour
