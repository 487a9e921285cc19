// The tour's narrator: tables, pictures, and the checks of narrator.h.
#include "narrator.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <iostream>
#include <regex>
#include <stdexcept>
#include <system_error>

extern char** environ;

namespace revive::tour {

using namespace revive::pictures;
using trace::Event;
using trace::EventKind;
namespace fs = std::filesystem;

namespace {

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

// Breaks `text` into lines of at most `width` characters, at spaces.
std::string wrap_text(std::string_view text, std::size_t width) {
  std::string out, line;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find(' ', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view word = text.substr(pos, end - pos);
    // Separators are appended apart from the text: here, g++ 12 at -O3 warned falsely
    // on `"\n" + string` (-Wrestrict, GCC PR 105329).
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      if (!out.empty()) out += '\n';
      out += line;
      line.clear();
    }
    if (!line.empty()) line += ' ';
    line += word;
    pos = end + 1;
  }
  if (!line.empty()) {
    if (!out.empty()) out += '\n';
    out += line;
  }
  return out;
}

}  // namespace

// ---- pictures -------------------------------------------------------------------------------

Pictures::Pictures(fs::path dir) : dir_(std::move(dir)) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec || !fs::is_directory(dir_)) {
    throw std::runtime_error("cannot write pictures into " + dir_.string() + ": " +
                             (ec ? ec.message() : std::string("not a directory")));
  }
  render_ = run_program({"dot", "-V"}, /*quiet=*/true);
}

fs::path Pictures::write(const std::string& sub, const std::string& name, const std::string& text) {
  const fs::path folder = sub.empty() ? dir_ : dir_ / sub;
  fs::create_directories(folder);
  const fs::path file = folder / name;
  std::ofstream out(file);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + file.string());
  return file;
}

bool Pictures::render(const fs::path& dot_file) const {
  if (!render_) return false;
  bool ok = true;
  for (const char* format : {"svg", "png"}) {
    if (for_site_ && std::string_view(format) == "png") continue;
    fs::path out = dot_file;
    out.replace_extension(format);
    ok = run_program({"dot", std::string("-T") + format, "-o", out.string(), dot_file.string()},
                     /*quiet=*/false) && ok;
  }
  return ok;
}

// ---- checks ---------------------------------------------------------------------------------

std::vector<std::string>& narration_failures() {
  static std::vector<std::string> failures;
  return failures;
}

bool& rows_only() {
  static bool rows = false;
  return rows;
}

RowReceiver& row_receiver() {
  static RowReceiver receiver;
  return receiver;
}

std::string caught(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return std::string("RuntimeError: ") + e.what();
  }
  return "no error";
}

namespace {

// The claims a step's sentence makes that the narrator can read (narrator.h).
struct Claims {
  std::vector<std::string> transitions;  // "(T3)", "(T6, T7)"
  std::optional<std::string> n, r;       // counts after the step
  std::optional<bool> finalizes;         // "__del__ runs" / "no __del__"
};

Claims read_claims(std::string_view why) {
  Claims c;
  const std::string text(why);
  static const std::regex group(R"(\((T\d+'?(?:, T\d+'?)*)\))");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), group); it != std::sregex_iterator(); ++it) {
    static const std::regex one(R"(T\d+'?)");
    const std::string inner = (*it)[1];
    for (auto t = std::sregex_iterator(inner.begin(), inner.end(), one); t != std::sregex_iterator(); ++t) {
      c.transitions.push_back(t->str());
    }
  }
  static const std::regex n_is(R"((?:^|[^a-z_.])n = (\d+))");
  static const std::regex n_goes(R"((?:^|[^a-z_.])n:? (\d+) -> (\d+))");
  static const std::regex r_is(R"((?:^|[^a-z_.])r = (\d+))");
  static const std::regex r_goes(R"((?:^|[^a-z_.])r:? (\d+) -> (\d+))");
  std::smatch m;
  if (std::regex_search(text, m, n_goes)) {
    c.n = m[2];
  } else if (std::regex_search(text, m, n_is)) {
    c.n = m[1];
  }
  if (std::regex_search(text, m, r_goes)) {
    c.r = m[2];
  } else if (std::regex_search(text, m, r_is)) {
    c.r = m[1];
  }
  if (text.find("no __del__") != std::string::npos) {
    c.finalizes = false;
  } else if (text.find("__del__ runs") != std::string::npos) {
    c.finalizes = true;
  }
  return c;
}

// Whether `text` has `word` as a whole word (an identifier not part of a longer one).
bool names_word(std::string_view text, const std::string& word) {
  auto ident = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; };
  for (std::size_t pos = text.find(word); pos != std::string_view::npos; pos = text.find(word, pos + 1)) {
    const bool before = pos > 0 && ident(text[pos - 1]);
    const bool after = pos + word.size() < text.size() && ident(text[pos + word.size()]);
    if (!before && !after) return true;
  }
  return false;
}

// `actual` and `expected` list the same keys with the same values; "key=?" in
// `expected` accepts any value (a race's winner, say).
bool row_matches(const std::string& actual, std::string_view expected) {
  auto split = [](std::string_view text) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos <= text.size()) {
      std::size_t end = text.find(' ', pos);
      if (end == std::string_view::npos) end = text.size();
      if (end > pos) out.emplace_back(text.substr(pos, end - pos));
      pos = end + 1;
    }
    return out;
  };
  const std::vector<std::string> a = split(actual), e = split(expected);
  if (a.size() != e.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] == e[i]) continue;
    const std::size_t eq = e[i].find('=');
    if (eq == std::string::npos || e[i].substr(eq) != "=?" || a[i].compare(0, eq + 1, e[i], 0, eq + 1) != 0) {
      return false;
    }
  }
  return true;
}

}  // namespace

// ---- the narrator -------------------------------------------------------------------------

Narrator::Narrator(Pictures* pictures, std::string slug, Expected expected)
    : pictures_(pictures), slug_(std::move(slug)), expected_(std::move(expected)) {
  if (rows_only()) return;
  std::cout << "\n== " << expected_.title << " ==\n\n";
  std::printf("%-4s %-46s %-5s %3s %3s %-24s %-4s %-9s %-8s %s\n", "step", "action", "state",
              "n", "r", "tag", "owns", "cdata", "via", "events");
}

Narrator::~Narrator() {
  std::string path;
  for (const TakenTransition& t : path_) path += (path.empty() ? "" : " ") + std::string(to_string(t.transition));
  if (!rows_only()) std::printf("\npath: %s\n", path.empty() ? "(no transition)" : path.c_str());
  if (path != expected_.path) fail("the path is \"" + path + "\", the declaration says \"" + expected_.path + "\"");
  if (state_ != expected_.end) {
    fail("ends in " + std::string(to_string(state_)) + ", the declaration says " +
         std::string(to_string(expected_.end)));
  }
  if (pictures_ == nullptr) return;
  try {
    const Graph machine = state_machine_graph(path_, expected_.title + "\npath: " + path, expected_.machine);
    pictures_->render(pictures_->write(slug_, "states.dot", to_dot(machine)));
    (void)pictures_->write(slug_, "states.mmd", state_machine_mermaid(path_, expected_.machine));
    if (rows_only()) return;
    std::printf("pictures: %s/step-01..%02d.dot, states.dot, states.mmd%s\n",
                (pictures_->dir() / slug_).string().c_str(), count_,
                pictures_->renders() ? " (and .svg, .png)" : "");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pictures: %s\n", e.what());
  }
}

void Narrator::fail(std::string what) {
  std::string where = slug_ + (in_step_ || count_ == 0 ? "" : ", step " + std::to_string(count_));
  std::fprintf(rows_only() ? stderr : stdout, "     !! narration check failed: %s\n", what.c_str());
  narration_failures().push_back(where + ": " + std::move(what));
}

void Narrator::watch(Interpreter& viewpoint, const Tensor& t, std::string name) {
  target_name_ = std::move(name);
  set_target(t.unsafeGetTensorImpl(), t.unsafeGetTensorImpl());
  target_ = static_cast<const TensorImpl*>(t.unsafeGetTensorImpl());
  set_viewpoint(viewpoint);
}

void Narrator::watch(Interpreter& viewpoint, const Storage& s, std::string name) {
  target_name_ = std::move(name);
  set_target(s.unsafeGetStorageImpl(), s.unsafeGetStorageImpl());
  target_ = static_cast<const StorageImpl*>(s.unsafeGetStorageImpl());
  set_viewpoint(viewpoint);
}

void Narrator::watch(Interpreter& viewpoint, const autograd::NodeHandle& node, std::string name) {
  target_name_ = std::move(name);
  set_target(node.get(), node.get());
  target_ = static_cast<const autograd::Node*>(node.get());
  set_viewpoint(viewpoint);
}

void Narrator::watch_wrapped(Interpreter& viewpoint, const Ref& wrapper, std::string name) {
  const void* target = nullptr;
  const binding::WrapperOps* ops = binding::wrapper_ops(wrapper.get());
  REVIVE_CHECK(ops != nullptr && ops->read_cdata(wrapper.get(), &target) != trace::CdataKind::Undefined,
               "watch_wrapped(): not a wrapper with a defined C++ object");
  target_name_ = std::move(name);
  if (ops == &binding::wrapper_ops_for<Storage>()) {
    const auto* impl = static_cast<const StorageImpl*>(target);
    set_target(impl, impl);
    target_ = impl;
  } else {
    REVIVE_CHECK(ops == &binding::wrapper_ops_for<Tensor>(), "watch_wrapped(): a tensor or storage wrapper");
    const auto* impl = static_cast<const TensorImpl*>(target);
    set_target(impl, impl);
    target_ = impl;
  }
  set_viewpoint(viewpoint);
}

void Narrator::also_show(Interpreter& other) {
  if (std::find(interps_.begin(), interps_.end(), &other) == interps_.end()) {
    interps_.push_back(&other);
  }
}

void Narrator::show_grad_fn(const Ref& tensor, std::string name) {
  const auto* w = static_cast<const binding::TensorObject*>(tensor.get());
  const TensorImpl* t = w->cdata.get();
  const autograd::AutogradMeta* meta = t == nullptr ? nullptr : t->autograd_meta();
  if (meta == nullptr || !meta->grad_fn.defined()) return;
  shown_nodes_.emplace_back(weak_intrusive_ptr<autograd::Node>(meta->grad_fn.getIntrusivePtr()), std::move(name));
}

void Narrator::show(const Ref& wrapper, std::string name) {
  shown_.push_back({wrapper->interp, wrapper.get(), wrapper->id, std::move(name)});
}

std::uint64_t Narrator::local_id(std::map<std::uint64_t, std::uint64_t>& ids, std::uint64_t id) {
  return ids.try_emplace(id, ids.size() + 1).first->second;
}

void Narrator::say(std::string line) { notes_.push_back(std::move(line)); }

void Narrator::on_event(std::string_view /*interpreter*/, const Event& e) noexcept {
  trace_.push_back(e);
  // About a shown object?  Its entry stops matching once it is freed: the address may
  // be reused by a new object.
  bool shown = false;
  for (Shown& sh : shown_) {
    if (!sh.gone && e.object != nullptr && e.object == sh.object) {
      shown = true;
      if (e.kind == EventKind::Freed) sh.gone = true;
    }
  }
  event_shown_.push_back(shown);
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

void Narrator::step(std::string_view action, const std::function<void()>& run, std::string_view why,
                    std::string_view expected_row) {
  events_.clear();
  trace_.clear();
  event_shown_.clear();
  born_in_step_ = false;
  in_step_ = true;
  LifeState before = state_;
  run();
  in_step_ = false;
  if (born_in_step_) before = LifeState::U;
  ++count_;

  std::string state = "-", n = "-", r = "-", tag = "-", owns = "-", cdata = "-", via;
  std::size_t taken_now = 0;
  std::vector<bool> concerned(trace_.size(), false);
  std::optional<OwnershipView> view = look();
  if (view) {
    std::vector<EventKind> kinds;
    for (std::size_t k = 0; k < trace_.size(); ++k) {
      concerned[k] = filter_->concerns(trace_[k]);
      if (concerned[k]) kinds.push_back(trace_[k].kind);
    }
    const auto taken = transitions_taken(before, kinds, view->state, count_, expected_.machine);
    taken_now = taken.size();
    path_.insert(path_.end(), taken.begin(), taken.end());
    for (const TakenTransition& t : taken) via += (via.empty() ? "" : ",") + std::string(to_string(t.transition));
    state_ = view->state;
    state = std::string(to_string(view->state));
    if (view->alive) {
      n = std::to_string(view->strong);
      tag = view->tag;
    }
    // The same facts the picture draws (one source for both): the slot as its tagger
    // sees it, whenever the tagger is one of the interpreters shown.
    if (view->alive && view->tag != "-" && view->owns) {
      owns = *view->owns ? "1" : "0";
      if (view->recorded) {
        r = std::to_string(view->recorded->refcnt);
        cdata = std::string(to_string(view->recorded->cdata));
      }
    }
  }
  // The events column: the watched object's events and the shown objects', the
  // interpreters' own (collections, teardowns, routed operators, warnings), and a count
  // of the others.
  std::string ev;
  std::size_t others = 0;
  for (std::size_t k = 0; k < trace_.size(); ++k) {
    if (concerned[k] || event_shown_[k] || trace_[k].kind == EventKind::Warning ||
        trace_[k].kind == EventKind::RoutedOp || trace_[k].kind == EventKind::StorageAliased) {
      ev += (ev.empty() ? "" : ", ") + events_[k];
    } else {
      ++others;
    }
  }
  if (others > 0) ev += (ev.empty() ? "" : ", ") + std::string("+") + std::to_string(others) + " of other objects";
  char row[512];
  // An action too long for its column is cut with a marker; the picture's caption has it whole.
  const std::string shown_action =
      action.size() > 46 ? std::string(action.substr(0, 44)) + ".." : std::string(action);
  std::snprintf(row, sizeof row, "%-4d %-46s %-5s %3s %3s %-24.24s %-4s %-9s %-8s ", count_,
                shown_action.c_str(), state.c_str(), n.c_str(), r.c_str(), tag.c_str(),
                owns.c_str(), cdata.c_str(), via.c_str());
  std::string printed = row + ev;
  printed.erase(printed.find_last_not_of(' ') + 1);
  if (!rows_only()) {
    std::printf("%s\n", printed.c_str());
    std::printf("     %s\n", std::string(why).c_str());
    for (const auto& line : notes_) std::printf("     -> %s\n", line.c_str());
  }
  if (pictures_ != nullptr && view) draw(*view, action, why, via, ev);
  if (pictures_ != nullptr && pictures_->machine_every_step()) {
    char name[32];
    std::snprintf(name, sizeof name, "states-%02d.dot", count_);
    const Graph machine =
        state_machine_graph(path_, expected_.title + "\nafter step " + std::to_string(count_), expected_.machine);
    pictures_->render(pictures_->write(slug_, name, to_dot(machine)));
  }
  notes_.clear();

  // The checks of narrator.h: the expected row, then the sentence's claims.
  int finalized = 0;
  for (const Event& e : trace_) finalized += e.kind == EventKind::Finalized ? 1 : 0;
  std::string actual = state;
  auto add = [&actual](const char* key, const std::string& value) {
    if (value != "-" && !value.empty()) actual += std::string(" ") + key + "=" + value;
  };
  add("n", n);
  add("r", r);
  add("tag", tag);
  add("owns", owns);
  add("cdata", cdata);
  add("via", via);
  actual += " fin=" + std::to_string(finalized);
  if (rows_only()) {
    if (row_receiver()) row_receiver()(slug_, count_, actual, action, why);
    else std::printf("%s\t%d\t%s\t%s\n", slug_.c_str(), count_, actual.c_str(), std::string(action).c_str());
  }
  if (expected_row.empty()) {
    fail("the step declares no expected row; it saw \"" + actual + "\"");
  } else if (!row_matches(actual, expected_row)) {
    fail("the row is \"" + actual + "\", the scenario expects \"" + std::string(expected_row) + "\"");
  }
  // A shown object the action names, still alive, must be in the picture.
  if (view) {
    for (const Shown& sh : shown_) {
      if (sh.name.empty() || !names_word(action, sh.name) || !sh.interp->is_alive(sh.object) ||
          sh.object->id != sh.id) {
        continue;
      }
      const bool drawn = std::any_of(view->extra.begin(), view->extra.end(),
                                     [&sh](const WrapperView& w) { return w.name == sh.name; }) ||
                         (view->recorded && view->recorded->name == sh.name);
      if (!drawn) fail("the action names " + sh.name + " but the picture does not draw it");
    }
  }
  const Claims claims = read_claims(why);
  const auto first_taken = path_.end() - static_cast<std::ptrdiff_t>(taken_now);
  for (const std::string& t : claims.transitions) {
    const bool taken = std::any_of(first_taken, path_.end(), [&t](const TakenTransition& x) {
      return to_string(x.transition) == t;
    });
    if (!taken) fail("the sentence says (" + t + ") but the step took \"" + via + "\"");
  }
  if (claims.n && *claims.n != n) fail("the sentence says n = " + *claims.n + " but n is " + n);
  if (claims.r && *claims.r != r) fail("the sentence says r = " + *claims.r + " but r is " + r);
  if (claims.finalizes && *claims.finalizes != (finalized > 0)) {
    fail(std::string("the sentence says ") + (*claims.finalizes ? "__del__ runs" : "no __del__") +
         " but " + std::to_string(finalized) + " finalizer(s) ran");
  }
}

void Narrator::set_target(const intrusive_ptr_target* target, const void* raw) {
  if (raw != raw_ || watch_ == nullptr || !watch_->alive()) {  // a new object, maybe at an old address
    raw_ = raw;
    filter_.emplace(raw);
    watch_ = std::make_unique<DeathWatch>(target);
  }
  born_in_step_ = in_step_;
}

void Narrator::set_viewpoint(Interpreter& viewpoint) {
  std::erase(interps_, &viewpoint);
  interps_.insert(interps_.begin(), &viewpoint);
  if (!in_step_) {
    if (std::optional<OwnershipView> v = look()) state_ = v->state;
  }
}

// The picture's data, or nothing if no target is watched yet.
std::optional<OwnershipView> Narrator::look() {
  if (interps_.empty() || std::holds_alternative<std::monostate>(target_)) return std::nullopt;
  std::vector<const PyObject*> extra;
  for (const Shown& w : shown_) {
    // Alive (still in its interpreter's registry: nothing of it is read before that)
    // and the same object, not a new one at a reused address.
    if (w.interp->is_alive(w.object) && w.object->id == w.id) extra.push_back(w.object);
  }
  std::vector<const trace::RuntimeView*> views;
  for (const Interpreter* in : interps_) views.push_back(&in->view());
  // A node still alive is read through the weak reference's pointer: nothing else runs
  // while the tour reads (one thread), and lock() would count.
  std::vector<const autograd::Node*> nodes;
  std::vector<std::pair<std::uint64_t, std::string>> node_names;
  for (const auto& [weak, name] : shown_nodes_) {
    if (weak.expired()) continue;
    nodes.push_back(weak.unsafe_get());
    node_names.emplace_back(nodes.back()->id(), name);
  }
  OwnershipView v;
  const bool alive = watch_ != nullptr && watch_->alive();
  if (const auto* t = std::get_if<const TensorImpl*>(&target_)) {
    v = look_at(alive ? *t : nullptr, views, extra, nodes);
  } else if (const auto* n = std::get_if<const autograd::Node*>(&target_)) {
    v = look_at(alive ? *n : nullptr, views, extra, nodes);
  } else {
    v = look_at(alive ? std::get<const StorageImpl*>(target_) : nullptr, views, extra, nodes);
  }
  for (pictures::NodeView& n : v.nodes) {
    for (const auto& [id, name] : node_names) {
      if (id == n.id) n.label = name;
    }
    n.id = local_id(node_ids_, n.id);
  }
  // Names, and this scenario's own numbering.
  if (v.alive) v.target_id = local_id(target_ids_, v.target_id);
  if (v.recorded) {
    v.recorded->name = target_name_;
    v.recorded->id = local_id(wrapper_ids_, v.recorded->id);
  }
  for (WrapperView& w : v.extra) {
    for (const Shown& s : shown_) {
      if (s.id == w.id) w.name = s.name;
    }
    w.id = local_id(wrapper_ids_, w.id);
  }
  return v;
}

void Narrator::draw(const OwnershipView& view, std::string_view action, std::string_view why,
                    const std::string& via, const std::string& events) {
  std::string caption = expected_.title + "\nstep " + std::to_string(count_) + ": " + std::string(action);
  if (!via.empty()) caption += "   (via " + via + ")";
  // Appended piece by piece: g++ 12 at -O3 warns falsely about `"\n" + string`
  // (-Wrestrict, GCC PR 105329).
  caption += '\n';
  caption += wrap_text(why, 100);
  if (!events.empty()) {
    caption += '\n';
    caption += wrap_text(std::string("events: ").append(events), 100);
  }
  for (const std::string& note : notes_) {
    caption += '\n';
    caption += wrap_text(std::string("-> ").append(note), 100);
  }
  char name[32];
  std::snprintf(name, sizeof name, "step-%02d.dot", count_);
  try {
    pictures_->render(pictures_->write(slug_, name, to_dot(ownership_graph(view, caption))));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pictures: %s\n", e.what());
  }
}


}  // namespace revive::tour
