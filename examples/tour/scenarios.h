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
// (narrator.h).  The tour and test/tour/tour_test.cpp run every entry and fail on any
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
  Scene(Pictures* pictures, std::string slug, Expected expected, binding::Era era)
      : tour(pictures, std::move(slug), e4_machine(std::move(expected), era)),
        I(Interpreter::create("I0", era)) {
    I->set_observer(&tour);
  }
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
  void (*run)(Pictures*);
  std::string_view same_story = {};  // twins that tell the same story, not walked through
  // The same story in era E4 (revive-tour --era e4, --side-by-side), step for step with
  // the same actions; null when there is none yet.
  void (*run_e4)(Pictures*) = nullptr;
};

[[nodiscard]] std::span<const Scenario> all_scenarios();

// lifecycle.cpp
void preserved(Pictures* pics);
void subclass_preserved(Pictures* pics);
void plain_death(Pictures* pics);
void dict_dealloc(Pictures* pics);
void slot_dealloc(Pictures* pics);
void finalizer_dealloc(Pictures* pics);
// weakrefs.cpp
void weakref_hole(Pictures* pics);
void fix_weakref(Pictures* pics);
// storages.cpp
void storage(Pictures* pics);
void hermetic_storage(Pictures* pics);
// interpreters.cpp
void interpreters(Pictures* pics);
void tagging_race(Pictures* pics);
void disarm(Pictures* pics);
// collector.cpp
void gc_cycle(Pictures* pics);
void gc_bugs(Pictures* pics);
// e4.cpp: E4's tellings (Note [Era E4 in the binding])
void preserved_e4(Pictures* pics);
void weakref_hole_e4(Pictures* pics);
void gc_cycle_e4(Pictures* pics);
void subclass_preserved_e4(Pictures* pics);
void plain_death_e4(Pictures* pics);
void finalizer_dealloc_e4(Pictures* pics);
void fix_weakref_e4(Pictures* pics);
void storage_e4(Pictures* pics);

}  // namespace revive::tour
