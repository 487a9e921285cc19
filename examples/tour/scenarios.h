// scenarios.h: the tour's scenarios, and the set-up they share.
//
// Defines:
//   Scene         a narrator and one interpreter "I0" it observes: what most scenarios
//                 start with (the others build their own interpreters).
//   Scenario      one entry of the tour: its name on the command line, a summary, the
//                 PyTorch tests it walks through, and the function that tells it.
//   all_scenarios()  every entry, in the tour's order (scenarios.cpp).
//
// A scenario is a function that builds a Narrator (usually through a Scene) whose
// declaration names the table's title, its expected path and its end state, then
// calls tour.step() once per action with the sentence and the row it expects
// (narrator.h).  A scenario told in both eras is one function too: its actions are
// written once, and each step carries each era's sentence and row (InE2, InE4), so the
// E2 and E4 tellings line up step by step by construction.  The tour and test/tour/tour_test.cpp run every entry and fail on any
// narration check, so a new scenario is checked by being listed here
// (docs/extending.md, "A new scenario").
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "narrator.h"

namespace revive::tour {

struct Scene {
  Scene(Pictures* pictures, std::string slug, Expected expected, binding::GcBugs bugs = {})
      : tour(pictures, std::move(slug), std::move(expected)), I(Interpreter::create("I0", bugs)) {
    I->set_observer(&tour);
  }
  // An interpreter of era E4 (Note [Era E4 in the binding]), read against E4's machine.
  Scene(Pictures* pictures, std::string slug, Expected expected, binding::Era era,
        binding::GradFnObjects grad_fn = binding::GradFnObjects::Cache)
      : tour(pictures, std::move(slug), e4_machine(std::move(expected), era)),
        I(Interpreter::create("I0", era, grad_fn)) {
    I->set_observer(&tour);
  }
  // A scenario told in both eras: each era's declaration, and the era to tell it in
  // (an E4 telling's table is "<slug>-e4"); `grad_fn` says how its grad_fns get their
  // Python objects (Note [Two ways to give a grad_fn a Python object]).
  Scene(Pictures* pictures, const std::string& slug, Expected e2, Expected e4, binding::Era era,
        binding::GradFnObjects grad_fn = binding::GradFnObjects::Cache)
      : Scene(pictures, era == binding::Era::E4 ? slug + "-e4" : slug,
              era == binding::Era::E4 ? std::move(e4) : std::move(e2), era, grad_fn) {}
  ~Scene() { I->set_observer(nullptr); }
  Scene(const Scene&) = delete;
  Scene& operator=(const Scene&) = delete;

  Narrator tour;           // declared first, destroyed last; teardown is not narrated
  Interpreter::Owner I;

 private:
  static Expected e4_machine(Expected e, binding::Era era) {
    if (era == binding::Era::E4) e.machine = pictures::Machine::E4;
    return e;
  }
};

struct Scenario {
  std::string_view name;
  std::string_view summary;
  std::string_view ports;  // the PyTorch tests (docs/reference.md §9) it walks through
  // Tells it in an era; a scenario without an E4 telling is only ever asked for E2.
  void (*run)(Pictures*, binding::Era);
  std::string_view same_story = {};  // twins that tell the same story, not walked through
  // Whether it has an E4 telling (revive-tour --era e4, --side-by-side): the same
  // actions, written once, with E4's sentences and rows (Narrator::step with InE2, InE4).
  bool told_in_e4 = false;
};

[[nodiscard]] std::span<const Scenario> all_scenarios();

// Each tells one scenario in `era`; those with told_in_e4 have an E4 telling (the others
// are only ever asked for E2).
// lifecycle.cpp
void preserved(Pictures* pics, binding::Era era = binding::Era::E2);
void subclass_preserved(Pictures* pics, binding::Era era = binding::Era::E2);
void plain_death(Pictures* pics, binding::Era era = binding::Era::E2);
void dict_dealloc(Pictures* pics, binding::Era era = binding::Era::E2);
void slot_dealloc(Pictures* pics, binding::Era era = binding::Era::E2);
void finalizer_dealloc(Pictures* pics, binding::Era era = binding::Era::E2);
// weakrefs.cpp
void weakref_hole(Pictures* pics, binding::Era era = binding::Era::E2);
void fix_weakref(Pictures* pics, binding::Era era = binding::Era::E2);
// storages.cpp
void storage(Pictures* pics, binding::Era era = binding::Era::E2);
void hermetic_storage(Pictures* pics, binding::Era era = binding::Era::E2);
// interpreters.cpp
void interpreters(Pictures* pics, binding::Era era = binding::Era::E2);
void tagging_race(Pictures* pics, binding::Era era = binding::Era::E2);
void disarm(Pictures* pics, binding::Era era = binding::Era::E2);
// collector.cpp
void gc_cycle(Pictures* pics, binding::Era era = binding::Era::E2);
void gc_bugs(Pictures* pics, binding::Era era = binding::Era::E2);
void autograd(Pictures* pics, binding::Era era = binding::Era::E2);
void grad_fn_objects(Pictures* pics, binding::Era era = binding::Era::E2);

}  // namespace revive::tour
