// tracker.h: PyTorch's test helper `Tracker.make()`, for the ported scenarios.
//
//   auto [m, t] = make_tracker(*I);   // m: shared flag, t: a Tracker object
//   ... del t ...                      // *m becomes true when the Tracker is finalized
#pragma once

#include <memory>

#include "revive/interp/runtime.h"

namespace revive::testing {

struct Tracked {
  std::shared_ptr<bool> marker;  // m[0]
  interp::Ref tracker;           // t
};

inline Tracked make_tracker(interp::Runtime& I) {
  auto marker = std::make_shared<bool>(false);
  const interp::PyType* cls = I.new_class(
      "Tracker", I.object_type(),
      interp::ClassSpec{std::nullopt, [marker](interp::Runtime&, const interp::Ref&) { *marker = true; }});
  return {marker, I.new_object(cls)};
}

}  // namespace revive::testing
