// The tour's scenarios: Storages: preserved like tensors, with is_hermetic deciding in hermetic code.
#include "scenarios.h"

#include <optional>
#include <string>

#include "revive/binding/tensor_methods.h"
#include "revive/pyslot/hermetic_tls.h"

namespace revive::tour {

using namespace revive::interp;
using namespace revive::binding;

void storage(Pictures* pics, Era era) {
  Scene scene(pics, "storage",
              {"storages are preserved too (test_storage_dealloc_subclass_zombie, _resurrected)", "T1 T3 T5 T3 T6", LifeState::D},
              {"storages in E4: the same bit, the same story", "T1 share unshare share T2 unshare T4",
               LifeState::D},
              era);
  Narrator& tour = scene.tour;
  Interpreter::Owner& I = scene.I;
  int finalized = 0;
  bool tracker_finalized = false;
  const PyType* my_storage = I->new_class(
      "MyStorage", I->storage_type(),
      ClassSpec{std::nullopt, [&finalized](Runtime&, const Ref&) { ++finalized; }});
  const PyType* tracker = I->new_class(
      "Tracker", I->object_type(),
      ClassSpec{std::nullopt, [&tracker_finalized](Runtime&, const Ref&) { tracker_finalized = true; }});
  auto report = [&] {
    tour.say("MyStorage.__del__ ran " + std::to_string(finalized) + " time(s); Tracker finalized: " +
             (tracker_finalized ? "yes" : "no"));
  };
  Ref s, a;
  tour.step("Py: s = MyStorage(16); s._tracker = Tracker()", [&] {
    s = I->new_storage(16, my_storage);
    I->setattr(s, "_tracker", I->new_object(tracker));
    tour.watch_wrapped(*I, s);
  },
            InE2{"A storage wrapper of a Python subclass with a __del__; only its dict holds the Tracker.",
                 "L n=1 r=1 tag=I0 owns=0 cdata=owned via=T1 fin=0"},
            InE4{"A storage wrapper of a Python subclass with a __del__, made from a temporary handle "
                 "(share, unshare); only its dict holds the Tracker.",
                 "L n=1 r=1 tag=I0 owns=0 cdata=owned via=T1,share,unshare fin=0"});
  tour.step("Py: a = torch.tensor(s)", [&] { a = tensor_from_storage(*I, s); },
            InE2{"a's TensorImpl holds the storage: a C++ owner (n = 2).",
                 "L n=2 r=1 tag=I0 owns=0 cdata=owned fin=0"},
            InE4{"a's TensorImpl holds the storage (n = 2): C++ takes a reference to s.",
                 "L n=2 r=2 tag=I0 owns=0 cdata=owned via=share fin=0"});
  tour.step("Py: del s", [&] {
    s.reset();
    report();
  },
            InE2{"The storage wrapper is resurrected (T3): no __del__, the Tracker lives on.",
                 "Z n=1 r=1 tag=I0 owns=1 cdata=borrowed via=T3 fin=0"},
            InE4{"C++'s reference keeps s: no resurrection, no __del__, the Tracker lives on.",
                 "L n=2 r=1 tag=I0 owns=0 cdata=owned fin=0"});
  tour.step("Py: s = a.untyped_storage(); type(s)", [&] {
    s = untyped_storage(*I, a);
    tour.say("type(s) is " + I->type_of(s)->name + ", s._tracker is a " +
             I->type_of(std::get<Ref>(I->getattr(s, "_tracker")))->name);
  },
            InE2{"Flip back (T5): the same MyStorage, with its attribute.",
                 "L n=2 r=1 tag=I0 owns=0 cdata=owned via=T5 fin=0"},
            InE4{"The same MyStorage, alive all along (T2).",
                 "L n=2 r=2 tag=I0 owns=0 cdata=owned via=T2 fin=0"});
  tour.step("Py: del s", [&] { s.reset(); },
            InE2{"Zombie again (T3).",
                 "Z n=1 r=1 tag=I0 owns=1 cdata=borrowed via=T3 fin=0"},
            InE4{"r = 1: C++'s reference.",
                 "L n=2 r=1 tag=I0 owns=0 cdata=owned fin=0"});
  tour.step("Py: del a", [&] {
    a.reset();
    report();
  },
            InE2{"The tensor dies and drops the storage: the slot lets the zombie go (T6); __del__ runs "
                 "once, and the dict's release finalizes the Tracker.",
                 "D via=T6 fin=2"},
            InE4{"The tensor dies and drops the storage: C++ lets s go (unshare), s dies for real (T4): "
                 "__del__ runs once, and the dict's release finalizes the Tracker.",
                 "D via=unshare,T4 fin=2"});
}

void hermetic_storage(Pictures* pics, Era) {
  Scene scene(pics, "hermetic-storage", {"a storage made outside hermetic mode dies inside it (test_storage_preserve_nonhermetic_in_hermetic_context)", "T1 T3 T10 T5 T3 T6", LifeState::D});
  Narrator& tour = scene.tour;
  Interpreter::Owner& I = scene.I;
  Ref a, s, h;
  tour.step("Py: a = torch.empty(4); s = a.untyped_storage()", [&] {
    a = I->empty(4);
    s = untyped_storage(*I, a);
    I->setattr(s, "foo", std::int64_t{1});
    tour.watch(*I, I->unpack_storage(s));
  }, "A recorded storage wrapper (is_hermetic = false) with s.foo = 1.",
            "L n=2 r=1 tag=I0 owns=0 cdata=owned via=T1 fin=0");
  tour.step("hermetic: del s", [&] {
    impl::EnableHermeticPyObject hermetic;
    s.reset();
  }, "Dies inside hermetic code, but a storage's test ignores the thread's mode and reads "
     "is_hermetic: preserved (T3). A tensor here would really die.",
            "Z n=1 r=1 tag=I0 owns=1 cdata=borrowed via=T3 fin=0");
  tour.step("hermetic: h = a.untyped_storage()", [&] {
    impl::EnableHermeticPyObject hermetic;
    h = untyped_storage(*I, a);
    tour.show(h);
  }, "In hermetic mode wrap skips the slot: a fresh wrapper h, is_hermetic = true (T10).",
            "Z n=2 r=1 tag=I0 owns=1 cdata=borrowed via=T10 fin=0");
  tour.step("Py: del h", [&] { h.reset(); },
            "h dies for real although C++ holds the storage: hermetic wrappers are never preserved.",
            "Z n=1 r=1 tag=I0 owns=1 cdata=borrowed fin=0");
  tour.step("Py: s = a.untyped_storage(); s.foo", [&] {
    s = untyped_storage(*I, a);
    tour.say("s.foo == " + std::to_string(std::get<std::int64_t>(I->getattr(s, "foo"))));
  }, "The recorded wrapper flips back (T5) with its attribute.",
            "L n=2 r=1 tag=I0 owns=0 cdata=owned via=T5 fin=0");
  tour.step("Py: del s, a", [&] {
    s.reset();
    a.reset();
  }, "Zombie (T3), then the tensor's death releases the storage (T6).",
            "D via=T3,T6 fin=0");
}

}  // namespace revive::tour
