// The ownership tour: one tensor and its Python wrapper through every state of PyTorch's
// resurrection design (era E2), printed step by step, and drawn if asked.
//
//   revive-tour                              run every scenario
//   revive-tour --list                       list the scenarios and the tests they port
//   revive-tour NAME...                      run the named scenarios
//   revive-tour --pictures DIR [NAME...]     also write pictures into DIR
//
// Each row shows, after one Python or C++ action: the state of ../shared/semantics.md §2,
// the tensor's strong count n, the wrapper's refcount r, the interpreter tag, the owns
// bit, whether the wrapper's cdata is owned or borrowed, the transitions of §3 the step
// took (`via`), and the events that happened.
//
// With --pictures, each scenario gets a folder DIR/<scenario>/ with step-NN.dot (who
// owns whom after step NN; see Note [Ownership pictures]) and states.dot / states.mmd
// (the state machine with the scenario's path highlighted); DIR/state-machine.{dot,mmd}
// is the machine alone.  If Graphviz's `dot` is on the PATH, every .dot file is also
// rendered to .svg and .png.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <latch>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

#include "revive/pictures/diagram.h"
#include "revive/pictures/inspect.h"
#include "revive/binding/interpreter.h"
#include "revive/binding/tensor_methods.h"
#include "revive/pictures/state_machine.h"
#include "revive/pyslot/python_op_registration_trampoline.h"

extern char** environ;

using namespace revive;
using namespace revive::interp;
using namespace revive::binding;
using namespace revive::pictures;
using namespace revive::trace;
namespace fs = std::filesystem;

namespace {

// ---- pictures: files, and Graphviz when it is there ------------------------------------

// Runs a program found on the PATH and waits for it; true if it ran and exited with 0.
// `quiet` sends its output to /dev/null.
bool run_program(const std::vector<std::string>& args, bool quiet) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (quiet) {
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  }
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return false;  // not found, or could not start
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

class Pictures {
 public:
  explicit Pictures(fs::path dir) : dir_(std::move(dir)) {
    fs::create_directories(dir_);
    render_ = run_program({"dot", "-V"}, /*quiet=*/true);
  }

  [[nodiscard]] bool renders() const noexcept { return render_; }
  [[nodiscard]] const fs::path& dir() const noexcept { return dir_; }

  // Writes dir/sub/name (sub may be empty) and returns its path.
  fs::path write(const std::string& sub, const std::string& name, const std::string& text) {
    const fs::path folder = sub.empty() ? dir_ : dir_ / sub;
    fs::create_directories(folder);
    const fs::path file = folder / name;
    std::ofstream out(file);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + file.string());
    return file;
  }

  // dot -Tsvg and -Tpng next to `dot_file`; false if dot is missing or failed.
  bool render(const fs::path& dot_file) const {
    if (!render_) return false;
    bool ok = true;
    for (const char* format : {"svg", "png"}) {
      fs::path out = dot_file;
      out.replace_extension(format);
      ok = run_program({"dot", std::string("-T") + format, "-o", out.string(), dot_file.string()},
                       /*quiet=*/false) && ok;
    }
    return ok;
  }

 private:
  fs::path dir_;
  bool render_ = false;
};

// Breaks `text` into lines of at most `width` characters, at spaces.
std::string wrap_text(std::string_view text, std::size_t width) {
  std::string out, line;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find(' ', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view word = text.substr(pos, end - pos);
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      out += (out.empty() ? "" : "\n") + line;
      line.clear();
    }
    line += (line.empty() ? "" : " ") + std::string(word);
    pos = end + 1;
  }
  if (!line.empty()) out += (out.empty() ? "" : "\n") + line;
  return out;
}

// ---- the narrator --------------------------------------------------------------------------

// Prints one table per scenario, and draws each step if asked.  Watches one C++ object
// (through a C++ weak reference, so that it can tell when the object is gone; the
// pictures leave that reference out of the target's weak refs) as seen from one
// interpreter, the viewpoint; other interpreters and extra wrappers can be added to the
// pictures.  It is the interpreters' Observer and follows the target's path through
// the state machine from their events.
class Narrator final : public Observer {
 public:
  Narrator(Pictures* pictures, std::string slug, std::string title)
      : pictures_(pictures), slug_(std::move(slug)), title_(std::move(title)) {
    std::cout << "\n== " << title_ << " ==\n\n";
    std::printf("%-4s %-46s %-5s %3s %3s %-24s %-4s %-9s %-8s %s\n", "step", "action", "state",
                "n", "r", "tag", "owns", "cdata", "via", "events");
  }
  Narrator(const Narrator&) = delete;
  Narrator& operator=(const Narrator&) = delete;

  // Writes the state machine with this scenario's path.
  ~Narrator() override {
    std::string path;
    for (const TakenTransition& t : path_) path += (path.empty() ? "" : " ") + std::string(to_string(t.transition));
    std::printf("\npath: %s\n", path.empty() ? "(no transition)" : path.c_str());
    if (pictures_ == nullptr) return;
    try {
      const Graph machine = state_machine_graph(path_, title_ + "\npath: " + path);
      pictures_->render(pictures_->write(slug_, "states.dot", to_dot(machine)));
      (void)pictures_->write(slug_, "states.mmd", state_machine_mermaid(path_));
      std::printf("pictures: %s/step-01..%02d.dot, states.dot, states.mmd%s\n",
                  (pictures_->dir() / slug_).string().c_str(), count_,
                  pictures_->renders() ? " (and .svg, .png)" : "");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "pictures: %s\n", e.what());
    }
  }

  // Follow `target` as seen from `viewpoint`.  Called inside a step, the target is
  // taken to be born in that step (its path starts at U).
  void watch(Interpreter& viewpoint, const Tensor& t) {
    set_target(t.unsafeGetTensorImpl());
    target_ = weak_intrusive_ptr<TensorImpl>(t.getIntrusivePtr());
    set_viewpoint(viewpoint);
  }
  void watch(Interpreter& viewpoint, const Storage& s) {
    set_target(s.unsafeGetStorageImpl());
    target_ = weak_intrusive_ptr<StorageImpl>(s.getIntrusivePtr());
    set_viewpoint(viewpoint);
  }
  // Draw `other` too (after the viewpoint).
  void also_show(Interpreter& other) {
    if (std::find(interps_.begin(), interps_.end(), &other) == interps_.end()) {
      interps_.push_back(&other);
    }
  }
  // Draw this wrapper too, for as long as it lives (a hermetic or stubbed one).
  void show(const Ref& wrapper) { shown_.push_back({wrapper->interp, wrapper.get(), wrapper->id}); }

  // Output of the current step, printed under its row.
  void say(std::string line) { notes_.push_back(std::move(line)); }

  void on_event(std::string_view /*interpreter*/, const Event& e) noexcept override {
    trace_.push_back(e);
    if (e.kind == EventKind::Warning) {
      notes_.push_back("warning: " + e.detail);
      events_.push_back("warning");
      return;
    }
    if (e.kind == EventKind::GcClear || e.kind == EventKind::GcCollect ||
        e.kind == EventKind::RoutedOp || e.kind == EventKind::Disarmed ||
        e.kind == EventKind::StorageAliased) {
      events_.push_back(std::string(to_string(e.kind)) + " (" + e.detail + ")");
      return;
    }
    events_.emplace_back(to_string(e.kind));
  }

  // Run `action`, then print the row and draw the picture.  `why` is printed under it.
  void step(std::string_view action, const std::function<void()>& run, std::string_view why) {
    events_.clear();
    trace_.clear();
    born_in_step_ = false;
    in_step_ = true;
    LifeState before = state_;
    run();
    in_step_ = false;
    if (born_in_step_) before = LifeState::U;
    ++count_;

    std::string state = "-", n = "-", r = "-", tag = "-", owns = "-", cdata = "-", via;
    std::optional<OwnershipView> view = look();
    if (view) {
      std::vector<EventKind> kinds;
      for (const Event& e : trace_) {
        if (filter_->concerns(e)) kinds.push_back(e.kind);
      }
      const auto taken = transitions_taken(before, kinds, view->state, count_);
      path_.insert(path_.end(), taken.begin(), taken.end());
      for (const TakenTransition& t : taken) via += (via.empty() ? "" : ",") + std::string(to_string(t.transition));
      state_ = view->state;
      state = std::string(to_string(view->state));
      if (view->alive) {
        n = std::to_string(view->strong);
        tag = view->tag;
      }
      if (view->state == LifeState::L || view->state == LifeState::Z || view->state == LifeState::T0) {
        owns = view->owns.value_or(false) ? "1" : "0";
        if (view->recorded) {
          r = std::to_string(view->recorded->refcnt);
          cdata = std::string(to_string(view->recorded->cdata));
        }
      }
    }
    std::string ev;
    for (const auto& e : events_) ev += (ev.empty() ? "" : ", ") + e;
    char row[512];
    std::snprintf(row, sizeof row, "%-4d %-46.46s %-5s %3s %3s %-24.24s %-4s %-9s %-8s ", count_,
                  std::string(action).c_str(), state.c_str(), n.c_str(), r.c_str(), tag.c_str(),
                  owns.c_str(), cdata.c_str(), via.c_str());
    std::string printed = row + ev;
    printed.erase(printed.find_last_not_of(' ') + 1);
    std::printf("%s\n", printed.c_str());
    std::printf("     %s\n", std::string(why).c_str());
    for (const auto& line : notes_) std::printf("     -> %s\n", line.c_str());
    if (pictures_ != nullptr && view) draw(*view, action, why, via, ev);
    notes_.clear();
  }

 private:
  void set_target(const void* raw) {
    if (raw != raw_) {
      raw_ = raw;
      filter_.emplace(raw);
    }
    born_in_step_ = in_step_;
  }

  void set_viewpoint(Interpreter& viewpoint) {
    std::erase(interps_, &viewpoint);
    interps_.insert(interps_.begin(), &viewpoint);
    if (!in_step_) {
      if (std::optional<OwnershipView> v = look()) state_ = v->state;
    }
  }

  // The picture's data, or nothing if no target is watched yet.
  std::optional<OwnershipView> look() {
    if (interps_.empty() || std::holds_alternative<std::monostate>(target_)) return std::nullopt;
    std::vector<const PyObject*> extra;
    for (const Shown& w : shown_) {
      // Alive (still in its interpreter's registry: nothing of it is read before that)
      // and the same object, not a new one at a reused address.
      if (w.interp->is_alive(w.object) && w.object->id == w.id) extra.push_back(w.object);
    }
    std::vector<const trace::RuntimeView*> views;
    for (const Interpreter* in : interps_) views.push_back(&in->view());
    OwnershipView v;
    if (const auto* t = std::get_if<weak_intrusive_ptr<TensorImpl>>(&target_)) {
      v = look_at(t->expired() ? nullptr : static_cast<const TensorImpl*>(raw_), views, extra);
    } else {
      const auto& s = std::get<weak_intrusive_ptr<StorageImpl>>(target_);
      v = look_at(s.expired() ? nullptr : static_cast<const StorageImpl*>(raw_), views, extra);
    }
    if (v.weak_refs > 0) --v.weak_refs;  // the narrator's own: not part of the scenario
    return v;
  }

  void draw(const OwnershipView& view, std::string_view action, std::string_view why,
            const std::string& via, const std::string& events) {
    std::string caption = title_ + "\nstep " + std::to_string(count_) + ": " + std::string(action);
    if (!via.empty()) caption += "   (via " + via + ")";
    caption += "\n" + wrap_text(why, 100);
    if (!events.empty()) caption += "\n" + wrap_text("events: " + events, 100);
    for (const std::string& note : notes_) caption += "\n" + wrap_text("-> " + note, 100);
    char name[32];
    std::snprintf(name, sizeof name, "step-%02d.dot", count_);
    try {
      pictures_->render(pictures_->write(slug_, name, to_dot(ownership_graph(view, caption))));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "pictures: %s\n", e.what());
    }
  }

  Pictures* pictures_;
  std::string slug_;
  std::string title_;
  std::vector<Interpreter*> interps_;  // [0] is the viewpoint
  std::variant<std::monostate, weak_intrusive_ptr<TensorImpl>, weak_intrusive_ptr<StorageImpl>>
      target_;
  const void* raw_ = nullptr;
  std::optional<TargetEvents> filter_;
  struct Shown {
    Runtime* interp;  // where to look it up: `object` may be freed by now
    const PyObject* object;
    std::uint64_t id;
  };
  std::vector<Shown> shown_;
  std::vector<std::string> events_;  // this step's events, as printed
  std::vector<Event> trace_;         // this step's events, as emitted
  std::vector<std::string> notes_;
  std::vector<TakenTransition> path_;
  LifeState state_ = LifeState::U;  // after the last step
  bool in_step_ = false;
  bool born_in_step_ = false;
  int count_ = 0;
};

std::string caught(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return std::string("RuntimeError: ") + e.what();
  }
  return "no error";
}

// ---- the scenarios -------------------------------------------------------------------------

void preserved(Pictures* pics) {
  Narrator tour(pics, "preserved", "preserved: C++ keeps the tensor, Python keeps coming back (U L Z L Z D)");
  Interpreter::Owner I = Interpreter::create("I0");
  I->set_observer(&tour);
  int finalized = 0;
  const PyType* my_tensor = I->new_class(
      "MyTensor", I->tensor_type(),
      ClassSpec{std::nullopt, [&finalized](Runtime&, const Ref&) { ++finalized; }});
  std::optional<Tensor> t;
  Ref p, q;
  tour.step("C++: t = at::empty({2})", [&] {
    t = Tensor::empty(2);
    tour.watch(*I, *t);
  }, "A C++ tensor that never crossed into Python: no tag, no wrapper.");
  tour.step("Py: p = MyTensor wrapper of t", [&] { p = I->make_subclass(my_tensor, *t); },
            "First wrap tags the slot with I0 and records p; p.cdata owns t (n: 1 -> 2).");
  tour.step("Py: p.foo = 2", [&] { I->setattr(p, "foo", std::int64_t{2}); },
            "State that must survive: an attribute in p.__dict__.");
  tour.step("Py: q = wrap(t)", [&] { q = I->wrap(*t); },
            "Wrap again: the same object, one more reference (T2).");
  tour.step("Py: del q", [&] { q.reset(); }, "r: 2 -> 1.");
  tour.step("Py: del p", [&] { p.reset(); },
            "r hit 0 but C++ still holds t: dealloc resurrects p and flips ownership (T3): "
            "the slot owns p (owns=1), p.cdata is borrowed (n: 2 -> 1). No __del__.");
  tour.step("Py: p = wrap(t)", [&] { p = I->wrap(*t); },
            "Wrap finds owns=1: flip back without incref; p takes over the slot's reference (T5).");
  tour.step("Py: p.foo, type(p)", [&] {
    tour.say("p.foo == " + std::to_string(std::get<std::int64_t>(I->getattr(p, "foo"))) +
             ", type(p) is " + I->type_of(p)->name);
  }, "Same object, same subclass, same __dict__: that is what preservation buys.");
  tour.step("Py: del p", [&] { p.reset(); }, "Zombie again (T3).");
  tour.step("C++: t.reset()", [&] {
    t.reset();
    tour.say("MyTensor.__del__ has run " + std::to_string(finalized) + " time(s)");
  }, "Last C++ reference: the slot hands p back to I0 (T6); p dies for real and "
     "__del__ runs now, once in p's life.");
  I->set_observer(nullptr);
}

void subclass_preserved(Pictures* pics) {
  Narrator tour(pics, "subclass-preserved", "a subclass survives a trip through C++ (test_subclass_preserved)");
  Interpreter::Owner I = Interpreter::create("I0");
  I->set_observer(&tour);
  const PyType* my_tensor = I->new_class("MyTensor", I->tensor_type());
  Ref x, y;
  tour.step("Py: x = MyTensor(torch.empty(2)); x.foo = 2", [&] {
    x = I->empty(2, my_tensor);
    I->setattr(x, "foo", std::int64_t{2});
    tour.watch(*I, I->unpack(x));
  }, "A wrapper of a Python subclass, with an attribute.");
  tour.step("Py: y = torch.empty(2); y.grad = x", [&] {
    y = I->empty(2);
    set_grad(*I, y, x);
  }, "y's TensorImpl now holds x's tensor as its grad: a C++ owner (n = 2).");
  tour.step("Py: del x", [&] { x.reset(); },
            "Python's last reference goes; C++ still holds the tensor: resurrection (T3).");
  tour.step("Py: type(y.grad), y.grad.foo", [&] {
    Ref g = grad(*I, y);
    tour.say("type(y.grad) is " + I->type_of(g)->name + ", y.grad.foo == " +
             std::to_string(std::get<std::int64_t>(I->getattr(g, "foo"))));
  }, "y.grad wraps the tensor: the zombie flips back (T5), the same MyTensor comes out; "
     "the temporary dies and it is a zombie again (T3).");
  tour.step("Py: del y", [&] { y.reset(); },
            "y's tensor dies and releases its grad: x's tensor has no C++ owner left (T6).");
  I->set_observer(nullptr);
}

void plain_death(Pictures* pics) {
  Narrator tour(pics, "plain-death", "plain death: Python alone owns the tensor (U L D, test_tensor_weakref_dealloc)");
  Interpreter::Owner I = Interpreter::create("I0");
  I->set_observer(&tour);
  Ref x;
  tour.step("Py: x = torch.empty(2)", [&] {
    x = I->empty(2);
    tour.watch(*I, I->unpack(x));
  }, "The wrapper's cdata is the tensor's only owner (n = 1).");
  Ref w;
  tour.step("Py: w = weakref.ref(x, cb)", [&] {
    w = I->weakref(x, [&tour](Runtime&, const Ref&) { tour.say("weakref callback ran"); });
  }, "A Python weak reference with a callback.");
  tour.step("Py: del x", [&] { x.reset(); },
            "n == 1: not resurrectable. CPython's order: weakrefs cleared (callback runs), "
            "dict released, cdata released (the tensor dies), wrapper freed (T4).");
  tour.step("Py: w()", [&] { tour.say(I->deref(w).is_none() ? "w() is None" : "w() is alive"); },
            "The weakref now reads None.");
  I->set_observer(nullptr);
}

void dict_dealloc(Pictures* pics) {
  Narrator tour(pics, "dict-dealloc", "a __dict__ is released at real death, no GC needed (test_tensor_dict_dealloc)");
  Interpreter::Owner I = Interpreter::create("I0");
  I->set_observer(&tour);
  bool finalized = false;
  const PyType* tracker = I->new_class(
      "Tracker", I->object_type(),
      ClassSpec{std::nullopt, [&finalized](Runtime&, const Ref&) { finalized = true; }});
  Ref x;
  tour.step("Py: x = torch.empty(2); x.arf = Tracker()", [&] {
    x = I->empty(2);
    tour.watch(*I, I->unpack(x));
    I->setattr(x, "arf", I->new_object(tracker));
  }, "Only x.__dict__ holds the Tracker.");
  tour.step("Py: del x", [&] {
    x.reset();
    tour.say(std::string("Tracker finalized: ") + (finalized ? "yes" : "no"));
  }, "Real death (T4): the dealloc releases the dict, so the Tracker dies with it.");
  I->set_observer(nullptr);
}

void slot_dealloc(Pictures* pics) {
  Narrator tour(pics, "slot-dealloc", "__slots__ of every class level are released (test_tensor_slot_dealloc)");
  Interpreter::Owner I = Interpreter::create("I0");
  I->set_observer(&tour);
  bool m1 = false, m2 = false;
  const PyType* t1_cls = I->new_class("Tracker1", I->object_type(),
                                      ClassSpec{std::nullopt, [&m1](Runtime&, const Ref&) { m1 = true; }});
  const PyType* t2_cls = I->new_class("Tracker2", I->object_type(),
                                      ClassSpec{std::nullopt, [&m2](Runtime&, const Ref&) { m2 = true; }});
  const PyType* s1 = I->new_class("SlotTensor1", I->tensor_type(), ClassSpec{std::vector<std::string>{"slot1"}, {}});
  const PyType* s2 = I->new_class("SlotTensor2", s1, ClassSpec{std::vector<std::string>{"slot2"}, {}});
  Ref s;
  auto report = [&] {
    tour.say(std::string("t1 finalized: ") + (m1 ? "yes" : "no") + ", t2 finalized: " + (m2 ? "yes" : "no"));
  };
  tour.step("Py: s = SlotTensor2(torch.empty(2))", [&] {
    s = I->empty(2, s2);
    tour.watch(*I, I->unpack(s));
  }, "SlotTensor1 declares __slots__ = ['slot1'], its subclass SlotTensor2 ['slot2'].");
  tour.step("Py: s.slot1 = t1; s.slot2 = t2; del t1, t2", [&] {
    I->setattr(s, "slot1", I->new_object(t1_cls));
    I->setattr(s, "slot2", I->new_object(t2_cls));
    report();
  }, "Each Tracker is now held only by one slot of s.");
  tour.step("Py: del s", [&] {
    s.reset();
    report();
  }, "Real death (T4): the dealloc clears __slots__ level by level, most derived first.");
  I->set_observer(nullptr);
}

void finalizer_dealloc(Pictures* pics) {
  Narrator tour(pics, "finalizer-dealloc", "__del__ runs at real death, not before (test_tensor_finalizer_dealloc)");
  Interpreter::Owner I = Interpreter::create("I0");
  I->set_observer(&tour);
  bool m = false;
  const PyType* fin = I->new_class("FinalizerTensor", I->tensor_type(),
                                   ClassSpec{std::nullopt, [&m](Runtime&, const Ref&) { m = true; }});
  Ref f;
  tour.step("Py: f = FinalizerTensor(torch.empty(2))", [&] {
    f = I->empty(2, fin);
    tour.watch(*I, I->unpack(f));
    tour.say(std::string("__del__ ran: ") + (m ? "yes" : "no"));
  }, "A subclass that defines __del__.");
  tour.step("Py: del f", [&] {
    f.reset();
    tour.say(std::string("__del__ ran: ") + (m ? "yes" : "no"));
  }, "n == 1: real death (T4); the finalizer runs first in CPython's dealloc order. "
     "(In `preserved`, __del__ waits until C++ lets go: resurrection never finalizes.)");
  I->set_observer(nullptr);
}

void weakref_hole(Pictures* pics) {
  Narrator tour(pics, "weakref-hole", "the weakref hole: a zombie revived through a weakref (T8, test_tensor_dead_weak_ref)");
  Interpreter::Owner I = Interpreter::create("I0");
  I->set_observer(&tour);
  std::optional<Tensor> t = Tensor::empty(2);
  tour.watch(*I, *t);
  Ref p, w, x;
  tour.step("Py: p = wrap(t); w = weakref.ref(p)", [&] {
    p = I->wrap(*t);
    w = I->weakref(p);
  }, "Live wrapper with a weak reference.");
  tour.step("Py: del p", [&] { p.reset(); }, "Zombie (T3).");
  tour.step("Py: x = w()", [&] {
    x = I->deref(w);
    tour.show(x);
  }, "A weakref deref is a plain incref: r = 2 with no flip. C++ does not know.");
  tour.step("C++: t.reset()", [&] { t.reset(); },
            "T6 finds r > 1: too late to rescue x; warn and stub x.cdata (undefined).");
  tour.step("Py: x.sigmoid()", [&] { tour.say(caught([&] { (void)sigmoid(*I, x); })); },
            "Every later use fails. x._fix_weakref() right after w() would have flipped it back "
            "(scenario fix-weakref).");
  x.reset();
  I->set_observer(nullptr);
}

void fix_weakref(Pictures* pics) {
  Narrator tour(pics, "fix-weakref",
                "_fix_weakref closes the hole by hand (test_tensor_resurrected_weak_ref, _fix_weakref_no_leak)");
  Interpreter::Owner I = Interpreter::create("I0");
  I->set_observer(&tour);
  Ref x, w, y;
  tour.step("Py: x = empty(2); w = weakref.ref(x, cb)", [&] {
    x = I->empty(2);
    tour.watch(*I, I->unpack(x));
    w = I->weakref(x, [&tour](Runtime&, const Ref&) { tour.say("weakref callback ran"); });
  }, "A tensor with a weak reference whose callback reports.");
  tour.step("Py: y = torch.empty(2); y.grad = x; del x", [&] {
    y = I->empty(2);
    set_grad(*I, y, x);
    x.reset();
  }, "C++ (y's grad) holds the tensor; Python lets go: zombie (T3).");
  tour.step("Py: x = w()", [&] { x = I->deref(w); },
            "The hole opens: r = 2, no flip (T8).");
  tour.step("Py: x._fix_weakref()", [&] { I->fix_weakref(x); },
            "Wrap, then decref: the wrap sees owns = 1 and flips back (T5); r is 1 again.");
  tour.step("Py: del y", [&] { y.reset(); },
            "C++ lets go: n 2 -> 1, and x owns the tensor, so nothing is stubbed, no warning.");
  tour.step("Py: x.sigmoid()", [&] { tour.say(caught([&] { (void)sigmoid(*I, x); })); },
            "x works.");
  tour.step("Py: del x", [&] { x.reset(); },
            "Real death (T4); the callback runs: _fix_weakref leaked nothing.");
  I->set_observer(nullptr);
}

void storage(Pictures* pics) {
  Narrator tour(pics, "storage",
                "storages are preserved too (test_storage_dealloc_subclass_zombie, _resurrected)");
  Interpreter::Owner I = Interpreter::create("I0");
  I->set_observer(&tour);
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
    tour.watch(*I, I->unpack_storage(s));
  }, "A storage wrapper of a Python subclass with a __del__; only its dict holds the Tracker.");
  tour.step("Py: a = torch.tensor(s)", [&] { a = tensor_from_storage(*I, s); },
            "a's TensorImpl holds the storage: a C++ owner (n = 2).");
  tour.step("Py: del s", [&] {
    s.reset();
    report();
  }, "The storage wrapper is resurrected (T3): no __del__, the Tracker lives on.");
  tour.step("Py: s = a.untyped_storage(); type(s)", [&] {
    s = untyped_storage(*I, a);
    tour.say("type(s) is " + I->type_of(s)->name + ", s._tracker is a " +
             I->type_of(std::get<Ref>(I->getattr(s, "_tracker")))->name);
  }, "Flip back (T5): the same MyStorage, with its attribute.");
  tour.step("Py: del s", [&] { s.reset(); }, "Zombie again (T3).");
  tour.step("Py: del a", [&] {
    a.reset();
    report();
  }, "The tensor dies and drops the storage: the slot lets the zombie go (T6); __del__ runs "
     "once, and the dict's release finalizes the Tracker.");
  I->set_observer(nullptr);
}

void hermetic_storage(Pictures* pics) {
  Narrator tour(pics, "hermetic-storage",
                "a storage made outside hermetic mode dies inside it (test_storage_preserve_nonhermetic_in_hermetic_context)");
  Interpreter::Owner I = Interpreter::create("I0");
  I->set_observer(&tour);
  Ref a, s, h;
  tour.step("Py: a = torch.empty(4); s = a.untyped_storage()", [&] {
    a = I->empty(4);
    s = untyped_storage(*I, a);
    I->setattr(s, "foo", std::int64_t{1});
    tour.watch(*I, I->unpack_storage(s));
  }, "A recorded storage wrapper (is_hermetic = false) with s.foo = 1.");
  tour.step("hermetic: del s", [&] {
    impl::EnableHermeticPyObject hermetic;
    s.reset();
  }, "Dies inside hermetic code, but a storage's test ignores the thread's mode and reads "
     "is_hermetic: preserved (T3). A tensor here would really die.");
  tour.step("hermetic: h = a.untyped_storage()", [&] {
    impl::EnableHermeticPyObject hermetic;
    h = untyped_storage(*I, a);
    tour.show(h);
  }, "In hermetic mode wrap skips the slot: a fresh wrapper h, is_hermetic = true (T10).");
  tour.step("Py: del h", [&] { h.reset(); },
            "h dies for real although C++ holds the storage: hermetic wrappers are never preserved.");
  tour.step("Py: s = a.untyped_storage(); s.foo", [&] {
    s = untyped_storage(*I, a);
    tour.say("s.foo == " + std::to_string(std::get<std::int64_t>(I->getattr(s, "foo"))));
  }, "The recorded wrapper flips back (T5) with its attribute.");
  tour.step("Py: del s, a", [&] {
    s.reset();
    a.reset();
  }, "Zombie (T3), then the tensor's death releases the storage (T6).");
  I->set_observer(nullptr);
}

void interpreters(Pictures* pics) {
  Narrator tour(pics, "interpreters", "two interpreters: tags, hermetic wraps, routed operators (T10, T11)");
  impl::PythonOpRegistrationTrampoline::unsafe_reset_for_testing();
  Interpreter::Owner I0 = Interpreter::create("I0");
  Interpreter::Owner I1 = Interpreter::create("I1");
  I0->set_observer(&tour);
  I1->set_observer(&tour);
  std::optional<Tensor> t = Tensor::empty(2);
  tour.watch(*I0, *t);
  tour.also_show(*I1);
  Ref p, h;
  tour.step("I0: p = wrap(t)", [&] { p = I0->wrap(*t); }, "I0 tags t (first wrap).");
  tour.step("I1: wrap(t)", [&] { tour.say(caught([&] { (void)I1->wrap(*t); })); },
            "TensorSharingNotAllowed: the tag is I0's for good; I1 is refused and nothing changes.");
  tour.step("I0, hermetic: h = wrap(t)", [&] {
    impl::EnableHermeticPyObject hermetic;
    h = I0->wrap(*t);
    tour.show(h);
    tour.say(std::string("h is p: ") + (h == p ? "yes" : "no"));
  }, "Hermetic mode skips the slot: a fresh wrapper, never recorded, never resurrected (T10).");
  tour.step("Py: del h", [&] { h.reset(); },
            "h dies normally, though C++ still holds t: only the recorded wrapper is preserved.");
  auto twice = [&tour](Interpreter& interp, const std::vector<Ref>& args) {
    tour.say("twice() runs in " + interp.name());
    return interp.empty(2 * interp.unpack(args.at(0)).numel());
  };
  tour.step("I0, I1: torch.library define tour::twice", [&] {
    tour.say(std::string("I0 is main: ") + (I0->register_python_op("tour::twice", twice) ? "yes" : "no"));
    tour.say(std::string("I1 is main: ") + (I1->register_python_op("tour::twice", twice) ? "yes" : "no"));
  }, "The first to register wins the trampoline's CAS; I1 only verifies (and hermetic state turns on).");
  tour.step("C++: twice(fresh tensor)", [&] {
    Stack stack{{Tensor::empty(3)}};
    Dispatcher::singleton().call(*Dispatcher::singleton().findOp("tour::twice"), &stack);
    tour.say("result has " + std::to_string(stack.values.at(0).numel()) + " elements, tag: " +
             (stack.values[0].unsafeGetTensorImpl()->pyobj_slot()->pyobj_interpreter() ? "set" : "none"));
  }, "No input carries Python behaviour: main (I0) runs it in hermetic mode; nothing gets tagged.");
  tour.step("I1: twice(x) with x a __torch_dispatch__ subclass", [&] {
    const PyType* sub = I1->new_class("Sub", I1->tensor_type(), ClassSpec{std::nullopt, {}, true});
    Ref x = I1->empty(2, sub);
    Ref y = I1->call_op("tour::twice", {x});
  }, "x is tagged by I1 and carries Python behaviour: the kernel forwards to I1's vtable.");
  p.reset();
  t.reset();
  I0->set_observer(nullptr);
  I1->set_observer(nullptr);
  Dispatcher::singleton().unsafe_reset_kernels_for_testing("tour::");
  impl::PythonOpRegistrationTrampoline::unsafe_reset_for_testing();
}

void tagging_race(Pictures* pics) {
  Narrator tour(pics, "tagging-race", "sixteen interpreters race to tag one tensor (T11, TaggingRace)");
  constexpr int kThreads = 16;
  std::vector<Interpreter::Owner> interps;
  for (int i = 0; i < kThreads; ++i) interps.push_back(Interpreter::create("I" + std::to_string(i)));
  std::optional<Tensor> t = Tensor::empty(1);
  std::vector<Ref> results(kThreads);
  Interpreter* winner = nullptr;
  tour.step("I0..I15, one thread each: wrap(t)", [&] {
    std::atomic<int> cannot_allocate{0}, cannot_access{0};
    std::latch start(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i, mine = *t] {
        const auto k = static_cast<std::size_t>(i);
        start.arrive_and_wait();
        try {
          results[k] = interps[k]->wrap(mine);
        } catch (const Error& e) {
          const std::string what = e.what();
          (what.find("cannot allocate") == 0 ? cannot_allocate : cannot_access).fetch_add(1);
        }
      });
    }
    for (auto& th : threads) th.join();
    for (int i = 0; i < kThreads; ++i) {
      if (results[static_cast<std::size_t>(i)]) winner = interps[static_cast<std::size_t>(i)].get();
    }
    if (winner == nullptr) throw std::runtime_error("tagging race: no interpreter won");
    tour.watch(*winner, *t);
    tour.also_show(*interps[winner == interps[0].get() ? 1 : 0]);
    tour.say("winner: " + winner->name() + "; refused: " + std::to_string(cannot_allocate.load()) +
             " with \"cannot allocate PyObject ...\" (lost the CAS), " +
             std::to_string(cannot_access.load()) + " with \"cannot access PyObject ...\" (came after it)");
  }, "Each thread holds its own handle (n > 1: MAYBE_UNINITIALIZED), so each tries the CAS on "
     "the tag: exactly one wins (T1); the others raise and leak nothing. (No observer is "
     "attached here: the threads' events are not traced.)");
  tour.step("winner: del p", [&] { results.clear(); },
            "The winner's wrapper becomes a zombie (T3); seen from any other interpreter, t is X.");
  tour.step("C++: t.reset()", [&] { t.reset(); }, "The winner's slot lets its zombie go (T6).");
}

void disarm(Pictures* pics) {
  Narrator tour(pics, "disarm", "teardown: the tagging interpreter dies (T9, DisarmHook)");
  std::optional<Tensor> t = Tensor::empty(2);
  {
    Interpreter::Owner I = Interpreter::create("I0");
    I->set_observer(&tour);
    tour.watch(*I, *t);
    tour.step("I0: p = wrap(t); del p", [&] { Ref p = I->wrap(*t); },
              "A zombie of I0, held by C++.");
    tour.step("tear down I0", [&] { I.reset(); },
              "I0 is disarmed: its vtable is swapped for a no-op one; the zombie is abandoned.");
  }
  Interpreter::Owner J = Interpreter::create("I1");
  tour.watch(*J, *t);
  tour.step("I1: wrap(t)", [&] { tour.say(caught([&] { (void)J->wrap(*t); })); },
            "The tag never changes: another interpreter is refused with a clear error (X).");
  tour.step("C++: t.reset()", [&] { t.reset(); },
            "The slot calls decref through the disarmed vtable: nothing runs, nothing crashes.");
}

void gc_cycle(Pictures* pics) {
  Narrator tour(pics, "gc-cycle",
                "a cycle through a preserved wrapper (T7, test_tensor_cycle_via_dict, _via_slots)");
  Interpreter::Owner I = Interpreter::create("I0");
  I->set_observer(&tour);
  GcDisabled manual(*I);  // collections only when the tour asks
  const PyType* slot_tensor =
      I->new_class("SlotTensor", I->tensor_type(), ClassSpec{std::vector<std::string>{"_loop"}, {}});
  Ref x, y, z;
  tour.step("Py: x = torch.empty(2); y = SlotTensor(...)", [&] {
    x = I->empty(2);
    y = I->empty(2, slot_tensor);
    tour.watch(*I, I->unpack(x));
  }, "Two wrappers; y's class declares __slots__ = ['_loop']. The table follows x's tensor.");
  tour.step("Py: x._loop = y; y._loop = x", [&] {
    I->setattr(x, "_loop", y);
    I->setattr(y, "_loop", x);
  }, "A reference cycle, through x.__dict__ one way and y's slot the other: reference "
     "counting alone can never free it.");
  tour.step("Py: z = torch.empty(2); z.grad = x", [&] {
    z = I->empty(2);
    set_grad(*I, z, x);
  }, "C++ (z's grad) now holds x's tensor too: n = 2.");
  tour.step("Py: del x, y", [&] {
    x.reset();
    y.reset();
  }, "Only the cycle holds the wrappers (r = 1: y._loop); no dealloc, so no resurrection yet.");
  tour.step("Py: gc.collect()", [&] { (void)I->gc_collect(); },
            "x is resurrectable, so its traverse reports no references: C++ acts as its root, "
            "and y is reachable from it. Nothing is garbage.");
  tour.step("Py: del z", [&] { z.reset(); },
            "z's tensor dies and drops its grad: n = 1. x is no longer resurrectable.");
  tour.step("Py: gc.collect()", [&] { (void)I->gc_collect(); },
            "Now x reports its __dict__: the cycle is found, cleared, and both wrappers die (T7).");
  I->set_observer(nullptr);
}

// One run of the situation behind #75932, #136358 and #145253: `c` is held from C++
// (z.grad = c) and otherwise only by a dead cycle A <-> B (B.c = c).
void held_by_dead_cycle(Narrator& tour, Interpreter& I, const PyType* cls = nullptr) {
  Ref z, c, w;
  tour.step(cls == nullptr ? "Py: c = torch.empty(2); c.foo = 2" : "Py: c = MyTensor(empty(2)); c.foo = 2", [&] {
    c = I.empty(2, cls);
    I.setattr(c, "foo", std::int64_t{2});
    tour.watch(I, I.unpack(c));
  }, "The tensor to watch, with an attribute that must survive.");
  tour.step("Py: z.grad = c; w = weakref.ref(c, cb)", [&] {
    z = I.empty(2);
    set_grad(I, z, c);
    w = I.weakref(c, [&tour](Runtime&, const Ref&) { tour.say("weakref callback ran"); });
  }, "C++ holds c's tensor (n = 2); Python holds a weak reference to c.");
  tour.step("Py: A = []; B = [A, c]; A.append(B); del c", [&] {
    const PyType* list = I.new_class("list", I.object_type());
    Ref a = I.new_object(list);
    Ref b = I.new_object(list);
    I.setattr(a, "b", b);
    I.setattr(b, "a", a);
    I.setattr(b, "c", c);
    c.reset();
  }, "A <-> B is dead already; only B refers to c, so c is unreachable without being in a cycle.");
  tour.step("Py: gc.collect()", [&] { (void)I.gc_collect(); },
            "c is first in the unreachable list (oldest). Its weakrefs are cleared first "
            "(#145253, in every variant), then clear runs on c, then on A.");
  tour.step("Py: g = z.grad; g.foo", [&] {
    Ref g = grad(I, z);
    tour.say(std::string("w() is ") + (I.deref(w).is_none() ? "None" : "alive") + "; g.foo: " +
             (I.hasattr(g, "foo") ? std::to_string(std::get<std::int64_t>(I.getattr(g, "foo")))
                                  : std::string("AttributeError")));
  }, "What C++ hands back to Python afterwards.");
  z.reset();
}

void gc_bugs(Pictures* pics) {
  {
    Narrator tour(pics, "gc-bugs-75932-broken",
                  "#75932 reproduced: clear ignores preservation (GcBugs::issue_75932)");
    Interpreter::Owner I = Interpreter::create("I0", GcBugs{.issue_75932 = true, .issue_136358 = false});
    I->set_observer(&tour);
    GcDisabled manual(*I);
    held_by_dead_cycle(tour, *I);
    I->set_observer(nullptr);
  }
  {
    Narrator tour(pics, "gc-bugs-136358-broken",
                  "#136358 reproduced: a subclass's default clear wipes __dict__ (GcBugs::issue_136358)");
    Interpreter::Owner I = Interpreter::create("I0", GcBugs{.issue_75932 = false, .issue_136358 = true});
    I->set_observer(&tour);
    GcDisabled manual(*I);
    held_by_dead_cycle(tour, *I, I->new_class("MyTensor", I->tensor_type()));
    I->set_observer(nullptr);
  }
  {
    Narrator tour(pics, "gc-bugs-fixed",
                  "both fixed: clear leaves a resurrectable wrapper alone (test_tensor_ressurecting_clear; #145253 remains)");
    Interpreter::Owner I = Interpreter::create("I0");
    I->set_observer(&tour);
    GcDisabled manual(*I);
    held_by_dead_cycle(tour, *I, I->new_class("MyTensor", I->tensor_type()));
    I->set_observer(nullptr);
  }
}

struct Scenario {
  std::string_view name;
  std::string_view summary;
  std::string_view ports;  // the PyTorch tests (../shared/semantics.md §8) it walks through
  void (*run)(Pictures*);
  std::string_view same_story = {};  // twins that tell the same story, not walked through
};

constexpr Scenario kScenarios[] = {
    {"preserved", "U -> L -> Z -> L -> Z -> D: resurrection and flip back",
     "test_pyobj_preserved", preserved},
    {"subclass-preserved", "a Python subclass and its __dict__ survive C++ holding the tensor",
     "test_subclass_preserved", subclass_preserved},
    {"plain-death", "U -> L -> D: a wrapper that alone owns its tensor; its weakref clears",
     "test_tensor_weakref_dealloc", plain_death},
    {"dict-dealloc", "real death releases __dict__", "test_tensor_dict_dealloc", dict_dealloc},
    {"slot-dealloc", "real death releases the __slots__ of every class level",
     "test_tensor_slot_dealloc", slot_dealloc},
    {"finalizer-dealloc", "__del__ runs at real death", "test_tensor_finalizer_dealloc",
     finalizer_dealloc},
    {"weakref-hole", "T8: a weakref revives a zombie, C++ dies, the wrapper is stubbed",
     "test_tensor_dead_weak_ref", weakref_hole},
    {"fix-weakref", "T8 then T5: _fix_weakref() flips the revived zombie back",
     "test_tensor_resurrected_weak_ref, test_tensor_fix_weakref_no_leak", fix_weakref},
    {"storage", "storages: resurrection, flip back, release with their tensor",
     "test_storage_dealloc_subclass_zombie, test_storage_dealloc_subclass_resurrected", storage,
     "test_storage_dealloc, test_storage_dealloc_resurrected, test_storage_from_tensor_dealloc, "
     "test_storage_from_tensor_dealloc_zombie, test_storage_from_tensor_dealloc_resurrected "
     "(test/scenarios/pytorch_storage_test.cpp)"},
    {"hermetic-storage", "T10: is_hermetic decides, not the mode a storage dies in",
     "test_storage_preserve_nonhermetic_in_hermetic_context", hermetic_storage},
    {"interpreters", "T10, T11: a second interpreter refused, a hermetic wrap, routed operators",
     "TensorSharingNotAllowed (torchdeploy)", interpreters},
    {"tagging-race", "T11: sixteen threads race to tag one tensor; exactly one wins",
     "TaggingRace (torchdeploy)", tagging_race},
    {"disarm", "T9: teardown disarms the interpreter; a new one is refused",
     "DisarmHook (torchdeploy)", disarm},
    {"gc-cycle", "T7: the cycle collector cannot see through a preserved wrapper",
     "test_tensor_cycle_via_dict, test_tensor_cycle_via_slots", gc_cycle},
    {"gc-bugs", "#75932 and #136358 broken, then fixed; #145253's cleared weakref in all three",
     "test_tensor_ressurecting_clear, #75932, #136358, #145253", gc_bugs},
};

void usage(std::FILE* to) {
  std::fprintf(to,
               "usage: revive-tour [--pictures DIR] [SCENARIO...]\n"
               "       revive-tour --list\n"
               "Runs the named scenarios (all of them if none is named) and prints a table per\n"
               "scenario. --pictures DIR also writes DIR/<scenario>/step-NN.dot (who owns whom\n"
               "after each step), states.dot and states.mmd (the state machine, the scenario's\n"
               "path highlighted), and DIR/state-machine.{dot,mmd}; with Graphviz's `dot` on the\n"
               "PATH each .dot file is rendered to .svg and .png as well.\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> wanted;
  std::optional<fs::path> pictures_dir;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--list" || arg == "-l") {
      for (const auto& s : kScenarios) {
        std::printf("%-19s %s\n%-19s ports %s\n", s.name.data(), s.summary.data(), "", s.ports.data());
        if (!s.same_story.empty()) std::printf("%-19s same story: %s\n", "", s.same_story.data());
      }
      return 0;
    }
    if (arg == "--help" || arg == "-h") {
      usage(stdout);
      return 0;
    }
    if (arg == "--pictures") {
      if (i + 1 >= argc) {
        usage(stderr);
        return 2;
      }
      pictures_dir = argv[++i];
      continue;
    }
    if (arg.starts_with("-")) {
      usage(stderr);
      return 2;
    }
    bool known = false;
    for (const auto& s : kScenarios) known = known || s.name == arg;
    if (!known) {
      std::fprintf(stderr, "no scenario named '%s'; try --list\n", argv[i]);
      return 2;
    }
    wanted.push_back(arg);
  }
  try {
    std::optional<Pictures> pictures;
    if (pictures_dir) {
      pictures.emplace(*pictures_dir);
      const Graph machine = state_machine_graph(
          {}, "The states of a C++ object and its recorded wrapper (semantics.md section 2)");
      pictures->render(pictures->write("", "state-machine.dot", to_dot(machine)));
      (void)pictures->write("", "state-machine.mmd", state_machine_mermaid({}));
    }
    std::printf("revive tour: PyTorch's PyObject preservation (era E2) on a fake interpreter\n");
    std::printf("columns: n = C++ strong count, r = wrapper refcount, owns = slot owns the "
                "wrapper, cdata = the wrapper's reference to the tensor, via = transitions of "
                "semantics.md section 3\n");
    if (pictures && !pictures->renders()) {
      std::printf("pictures: Graphviz's `dot` was not found, so only .dot and .mmd files are "
                  "written (apt-get install graphviz to get .svg and .png)\n");
    }
    for (const auto& s : kScenarios) {
      const bool pick =
          wanted.empty() || std::find(wanted.begin(), wanted.end(), s.name) != wanted.end();
      if (pick) s.run(pictures ? &*pictures : nullptr);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "revive-tour: %s\n", e.what());
    return 1;
  }
  // Every preserved C++ type counts its live objects (LiveCount), so this line covers
  // TensorImpl, StorageImpl and any type added later, by name.
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
