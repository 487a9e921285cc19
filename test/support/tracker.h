// tracker.h: PyTorch's test helper `Tracker.make()`, and a two-object cycle, for the
// collector's tests and the ported scenarios.
//
//   auto [m, t] = make_tracker(*I);   // m: shared flag, t: a Tracker object
//   ... del t ...                      // *m becomes true when the Tracker is finalized
//   auto [a, b] = make_cycle(*I, node);  // a.peer = b; b.peer = a
#pragma once

#include <memory>
#include <utility>

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

// Two new objects of class `node` that refer to each other: a.peer = b; b.peer = a.
inline std::pair<interp::Ref, interp::Ref> make_cycle(interp::Runtime& I, const interp::PyType* node) {
  interp::Ref a = I.new_object(node);
  interp::Ref b = I.new_object(node);
  I.setattr(a, "peer", b);
  I.setattr(b, "peer", a);
  return {a, b};
}

}  // namespace revive::testing
