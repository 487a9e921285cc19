// The explorer: the tour written as a static site.  See site.h.
#include "site.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>

#include "scenarios.h"

namespace revive::tour {

namespace fs = std::filesystem;

namespace {

struct Step {
  std::string action, row, why;
};

// Where the explorer links a transition: the Note that explains it, and the function
// that performs it, found in its file by the text that begins its definition.  E4 reads
// some transitions in its own Note (Note [Era E4 in the binding]).
struct TransitionDoc {
  std::string_view via;       // as the row's via column names it
  std::string_view note;      // the Note's title
  std::string_view function;  // as shown
  std::string_view file;      // relative to the source tree
  std::string_view defines;   // the text its definition's first line holds
};

constexpr std::string_view kProtocol = "binding/include/revive/binding/python_variable.h";
constexpr std::string_view kSlot = "pyslot/src/py_object_slot.cpp";

constexpr TransitionDoc kE2Docs[] = {
    {"T1", "Python interpreter tag", "Torch::new_with_var", kProtocol, "Ref Torch::new_with_var("},
    {"T1'", "Python interpreter tag", "Torch::new_with_var", kProtocol, "Ref Torch::new_with_var("},
    {"T2", "PyObject preservation", "Torch::wrap", kProtocol, "Ref Torch::wrap("},
    {"T3", "Ownership flip on resurrection", "Torch::resurrect", kProtocol, "void Torch::resurrect("},
    {"T4", "A recorded wrapper that really dies", "Torch::dealloc_wrapper", kProtocol, "void Torch::dealloc_wrapper("},
    {"T5", "Flipping ownership back on wrap", "Torch::rewrap_recorded", kProtocol, "Ref Torch::rewrap_recorded("},
    {"T6", "Two counts and release_resources", "PyObjectSlot::maybe_destroy_pyobj", kSlot,
     "void PyObjectSlot::maybe_destroy_pyobj("},
    {"T7", "Cycle collection and preservation", "Torch::wrapper_traverse", kProtocol, "void Torch::wrapper_traverse("},
    {"T8", "The weakref hole", "Torch::decref_from_cpp", kProtocol, "inline void Torch::decref_from_cpp("},
    {"T9", "Disarming a dead interpreter", "PyInterpreter::disarm", "pyslot/src/py_interpreter.cpp",
     "void PyInterpreter::disarm("},
    {"T10", "Hermetic PyObject mode", "Torch::new_with_var", kProtocol, "Ref Torch::new_with_var("},
    {"T11", "Python interpreter tag", "PyObjectSlot::init_pyobj", kSlot, "void PyObjectSlot::init_pyobj("},
    {"refused", "Python interpreter tag", "PyObjectSlot::check_pyobj", "pyslot/include/revive/pyslot/py_object_slot.h",
     "std::optional<PyObject*> check_pyobj("},
    {"forgotten", "A recorded wrapper that really dies", "Torch::release_cdata", kProtocol, "void Torch::release_cdata("},
    {"released", "Two counts and release_resources", "intrusive_ptr_target::decref_strong", "tensor/src/intrusive_ptr.cpp",
     "void intrusive_ptr_target::decref_strong("},
};

constexpr TransitionDoc kE4Docs[] = {
    {"T1", "Era E4 in the binding", "Torch::new_with_var", kProtocol, "Ref Torch::new_with_var("},
    {"T2", "Era E4 in the binding", "Torch::wrap", kProtocol, "Ref Torch::wrap("},
    {"T4", "Era E4 in the binding", "Torch::dealloc_wrapper", kProtocol, "void Torch::dealloc_wrapper("},
    {"T7", "Era E4 in the binding", "Torch::wrapper_traverse", kProtocol, "void Torch::wrapper_traverse("},
    {"share", "The has-PyObject bit", "Torch::incref_from_cpp", kProtocol, "inline void Torch::incref_from_cpp("},
    {"unshare", "The has-PyObject bit", "Torch::decref_from_cpp", kProtocol, "inline void Torch::decref_from_cpp("},
};

// The folders whose Notes the site shows (the library and its ways of seeing).
constexpr std::string_view kNoteFolders[] = {"pyslot", "tensor", "trace", "interp", "binding",
                                             "pictures", "cpython", "proof", "examples"};

struct Note {
  std::string title, file;
  int line = 0;
  std::vector<std::string> body;
};

std::string anchor(std::string_view title) {
  std::string out = "note-";
  for (const char c : title) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) out += c;
    else if (c >= 'A' && c <= 'Z') out += static_cast<char>(c - 'A' + 'a');
    else if (out.back() != '-') out += '-';
  }
  while (out.back() == '-') out.pop_back();
  return out;
}

std::vector<std::string> read_lines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

// A comment line's text, or nullopt for a line that is not a // comment.
std::optional<std::string> comment_text(const std::string& line) {
  const auto first = line.find_first_not_of(" \t");
  if (first == std::string::npos || line.compare(first, 2, "//") != 0) return std::nullopt;
  std::string text = line.substr(first + 2);
  if (!text.empty() && text[0] == ' ') text.erase(0, 1);
  return text;
}

// Every Note defined under the source tree: a comment line holding the word Note and
// the title in square brackets, directly followed by a line of tildes (the form
// tools/notes_check.cpp checks), with its body.  (kNoteOpen spells the opening apart so
// that the Notes check does not read this file's strings as mentions.)
constexpr std::string_view kNoteOpen = "Note\x20[";

std::vector<Note> find_notes(const fs::path& root) {
  std::vector<fs::path> files;
  for (const std::string_view folder : kNoteFolders) {
    if (!fs::is_directory(root / folder)) continue;
    for (const auto& entry : fs::recursive_directory_iterator(root / folder)) {
      const std::string ext = entry.path().extension().string();
      if (entry.is_regular_file() && (ext == ".h" || ext == ".cpp")) files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<Note> notes;
  for (const fs::path& path : files) {
    const std::vector<std::string> lines = read_lines(path);
    for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
      const auto text = comment_text(lines[i]);
      const auto tildes = comment_text(lines[i + 1]);
      if (!text || !tildes || text->rfind(kNoteOpen, 0) != 0 || text->back() != ']' || tildes->empty() ||
          tildes->find_first_not_of('~') != std::string::npos) {
        continue;
      }
      Note note{text->substr(6, text->size() - 7), fs::relative(path, root).generic_string(),
                static_cast<int>(i + 1), {}};
      for (std::size_t j = i + 2; j < lines.size(); ++j) {
        const auto body = comment_text(lines[j]);
        if (!body) break;
        note.body.push_back(*body);
      }
      notes.push_back(std::move(note));
    }
  }
  return notes;
}

std::string source_page(std::string_view file) { return "source/" + std::string(file) + ".html"; }

// JSON string literal for `s`.
std::string json(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '<': out += "\\u003c"; break;  // never close the <script> by accident
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string html(std::string_view s) {
  std::string out;
  for (const char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

// A row without its via field: what the real CPython's row is compared on (CPython has
// no event trace to read transitions from; examples/cpython/tour.py compares the same).
std::string without_via(const std::string& row) {
  std::istringstream in(row);
  std::string out, word;
  while (in >> word) {
    if (word.rfind("via=", 0) == 0) continue;
    out += (out.empty() ? "" : " ") + word;
  }
  return out;
}

std::string picture_or_null(const fs::path& dir, const std::string& slug, const std::string& name) {
  return fs::exists(dir / "pictures" / slug / name) ? json("pictures/" + slug + "/" + name) : std::string("null");
}

// One era's telling, as the page's data: its steps, the pictures that exist (who owns
// whom, and the state machine with the path so far), and, where the real CPython told
// the same table, its row.
std::string telling_json(const fs::path& dir, const std::string& slug, std::string_view era,
                         const std::vector<Step>& steps, const std::vector<std::string>* real) {
  std::string out = "{\"slug\":" + json(slug) + ",\"era\":" + json(era) + ",\"steps\":[";
  for (std::size_t i = 0; i < steps.size(); ++i) {
    char picture[32], machine[32];
    std::snprintf(picture, sizeof picture, "step-%02zu.svg", i + 1);
    std::snprintf(machine, sizeof machine, "states-%02zu.svg", i + 1);
    if (i > 0) out += ',';
    out += "{\"action\":" + json(steps[i].action) + ",\"row\":" + json(steps[i].row) +
           ",\"why\":" + json(steps[i].why) + ",\"picture\":" + picture_or_null(dir, slug, picture) +
           ",\"machine\":" + picture_or_null(dir, slug, machine);
    if (real != nullptr && i < real->size()) {
      out += ",\"real\":" + json((*real)[i]) + ",\"real_equal\":" +
             (without_via(steps[i].row) == (*real)[i] ? "true" : "false");
    }
    out += '}';
  }
  return out + "]}";
}

constexpr std::string_view kCss = R"(body { font-family: sans-serif; margin: 1.5em; max-width: 1500px; }
nav a { margin-right: 1em; }
.controls button { font-size: 1em; margin-right: .5em; }
.eras { display: flex; gap: 1.5em; align-items: flex-start; }
.era { flex: 1; min-width: 0; border: 1px solid #ccc; padding: .8em; border-radius: 6px; }
.era h2 { margin-top: 0; font-size: 1.1em; }
table.row { border-collapse: collapse; margin: .5em 0; }
table.row th, table.row td { border: 1px solid #bbb; padding: .2em .5em; font-family: monospace; }
table.row td.label { font-family: sans-serif; font-style: italic; }
.equal { color: #176117; }
.differs { color: #a33; font-weight: bold; }
.why { margin: .5em 0; }
.missing { color: #a33; font-style: italic; }
img.picture { max-width: 100%; border: 1px solid #eee; }
.action { font-family: monospace; font-size: 1.1em; background: #f4f4f4; padding: .3em .5em; }
.via { font-size: .95em; }
pre.source { line-height: 1.35; }
pre.source span:target { background: #fff3b0; display: inline-block; width: 100%; }
pre.source a.n { color: #999; text-decoration: none; display: inline-block; width: 4em; }
.note { border-top: 1px solid #ddd; }
)";

constexpr std::string_view kJs = R"JS('use strict';
// The page's data: ERAS (one telling per column, see site.cpp's telling_json) and LINKS
// (for each era, each transition's Note and the function that performs it).
const KEYS = ["state", "n", "r", "tag", "owns", "cdata", "via", "fin"];
// "Z n=1 r=1 tag=I0 ..." -> {state: "Z", n: "1", ...}.  A value may hold spaces
// (tag=<unloaded interpreter>): it runs up to the next " key=".
function fields(row) {
  const space = row.indexOf(" ");
  const out = {state: space < 0 ? row : row.slice(0, space)};
  if (space < 0) return out;
  for (const m of row.slice(space + 1).matchAll(/(\w+)=(.*?)(?= \w+=|$)/g)) out[m[1]] = m[2];
  return out;
}
function addRow(table, label, f, cls) {
  const tr = table.insertRow();
  if (cls) tr.className = cls;
  const td0 = tr.insertCell();
  td0.textContent = label;
  td0.className = "label";
  for (const k of KEYS) {
    const td = tr.insertCell();
    td.textContent = f[k] === undefined ? "-" : f[k];
    td.dataset.key = k;
  }
}
function link(href, text) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  return a;
}
function image(src, alt) {
  const img = document.createElement("img");
  img.className = "picture";
  img.src = src;
  img.alt = alt;
  return img;
}
function missing(what) {
  const p = document.createElement("p");
  p.className = "missing";
  p.textContent = what + " missing (Graphviz was not installed when the site was written)";
  return p;
}
function render(era, i, box) {
  const step = era.steps[i];
  box.querySelector(".action").textContent = step ? step.action : "(no such step in this era)";
  const table = box.querySelector("table.row");
  table.innerHTML = "";
  for (const sel of [".why", ".via", ".real-mark", ".picture-box", ".machine-box"]) box.querySelector(sel).textContent = "";
  if (!step) return;
  const head = table.insertRow();
  for (const k of [""].concat(KEYS)) {
    const th = document.createElement("th");
    th.textContent = k;
    head.appendChild(th);
  }
  const f = fields(step.row);
  addRow(table, "fake", f, "fake");
  if (step.real !== undefined) {
    addRow(table, "real CPython", fields(step.real), "real");
    const mark = box.querySelector(".real-mark");
    mark.textContent = step.real_equal ? "the real CPython's row equals the fake one (via aside)"
                                       : "the real CPython's row differs from the fake one";
    mark.className = "real-mark " + (step.real_equal ? "equal" : "differs");
  }
  box.querySelector(".why").textContent = step.why;
  const via = box.querySelector(".via");
  for (const t of (f.via || "").split(",").filter(x => x)) {
    const info = LINKS[era.era][t];
    const line = document.createElement("div");
    line.className = "transition";
    line.appendChild(document.createTextNode(t + ": "));
    if (info) {
      line.appendChild(link(info.note_href, `Note\x20[${info.note}]`));
      line.appendChild(document.createTextNode(", performed by "));
      line.appendChild(link(info.function_href, info.function));
    }
    via.appendChild(line);
  }
  box.querySelector(".picture-box").appendChild(
      step.picture ? image(step.picture, `who owns whom after step ${i + 1}`) : missing("picture"));
  box.querySelector(".machine-box").appendChild(
      step.machine ? image(step.machine, `the state machine, the path up to step ${i + 1}`)
                   : missing("state machine picture"));
}
let current = 0;
function show(i) {
  const count = Math.max(...ERAS.map(e => e.steps.length));
  i = Math.min(Math.max(i, 0), count - 1);
  current = i;
  document.getElementById("position").textContent = `step ${i + 1} of ${count}`;
  ERAS.forEach((era, k) => render(era, i, document.getElementById("era-" + k)));
  if (location.hash !== `#step-${i + 1}`) history.replaceState(null, "", `#step-${i + 1}`);
}
function fromHash() {
  const m = /^#step-(\d+)$/.exec(location.hash);
  show(m ? parseInt(m[1], 10) - 1 : 0);
}
document.addEventListener("keydown", e => {
  if (e.key === "ArrowRight") show(current + 1);
  if (e.key === "ArrowLeft") show(current - 1);
});
window.addEventListener("hashchange", fromHash);
window.addEventListener("DOMContentLoaded", () => {
  document.getElementById("next").onclick = () => show(current + 1);
  document.getElementById("prev").onclick = () => show(current - 1);
  fromHash();
});
)JS";

std::string page_head(std::string_view title, std::string_view root) {
  return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + html(title) +
         "</title>\n<link rel=\"stylesheet\" href=\"" + std::string(root) + "explorer.css\"></head><body>\n";
}

// What the site links to in the sources: the Notes, and the files that hold them or a
// transition's function, each as a page with a line anchor per line.  Problems (a Note
// or a function the tables name and the sources do not have) go to `problems`.
class Sources {
 public:
  Sources(fs::path root, std::vector<std::string>& problems) : root_(std::move(root)), problems_(problems) {
    if (!fs::is_directory(root_ / "binding")) {
      problems_.push_back("the sources are not at " + root_.string() + " (REVIVE_SOURCE_DIR)");
      return;
    }
    for (Note& n : find_notes(root_)) notes_.emplace(n.title, std::move(n));
  }

  // LINKS[era]: each transition's Note and function, as JSON.
  std::string links(std::span<const TransitionDoc> docs, std::span<const TransitionDoc> over) {
    std::map<std::string_view, const TransitionDoc*> chosen;
    for (const TransitionDoc& d : docs) chosen[d.via] = &d;
    for (const TransitionDoc& d : over) chosen[d.via] = &d;
    std::string out = "{";
    for (const auto& [via, d] : chosen) {
      if (out.size() > 1) out += ',';
      out += json(via) + ":{\"note\":" + json(d->note) + ",\"note_href\":" + json(note_href(d->note)) +
             ",\"function\":" + json(d->function) + ",\"function_href\":" + json(function_href(*d)) + "}";
    }
    return out + "}";
  }

  void write(const fs::path& dir) {
    std::string page = page_head("revive: the Notes", "") +
                       "<nav><a href=\"index.html\">all scenarios</a></nav>\n<h1>The Notes</h1>\n<p>Every rule "
                       "that several places depend on is explained once, in a Note where the rule is "
                       "established; code that relies on it cites the Note by its title. These are the "
                       "Notes of the sources this site was written from.</p>\n";
    for (const auto& [title, n] : notes_) {
      files_.insert(n.file);
      page += "<div class=\"note\"><h2 id=\"" + anchor(title) + "\">" + std::string(kNoteOpen) + html(title) + "]</h2>\n<p><a href=\"" +
              source_page(n.file) + "#L" + std::to_string(n.line) + "\">" + html(n.file) + ":" +
              std::to_string(n.line) + "</a></p>\n<pre>";
      for (const std::string& line : n.body) page += html(line) + "\n";
      page += "</pre></div>\n";
    }
    write_file(dir / "notes.html", page + "</body></html>\n");
    for (const std::string& file : files_) {
      const fs::path out = dir / source_page(file);
      fs::create_directories(out.parent_path());
      std::string root;
      const auto depth = std::count(file.begin(), file.end(), '/') + 1;
      for (auto k = depth; k > 0; --k) root += "../";
      std::string text = page_head(file, root) + "<nav><a href=\"" + root + "index.html\">all scenarios</a><a href=\"" +
                         root + "notes.html\">the Notes</a></nav>\n<h1>" + html(file) + "</h1>\n<pre class=\"source\">";
      int number = 0;
      for (const std::string& line : read_lines(root_ / file)) {
        std::string id = std::to_string(++number);
        id.insert(0, 1, 'L');  // not "L" + ...: g++ 12 -O3 warns falsely (-Wrestrict, PR 105329)
        text += "<span id=\"" + id + "\"><a class=\"n\" href=\"#" + id + "\">" + std::to_string(number) + "</a>" +
                html(line) + "</span>\n";
      }
      write_file(out, text + "</pre></body></html>\n");
    }
  }

 private:
  std::string note_href(std::string_view title) {
    if (!notes_.empty() && !notes_.contains(std::string(title))) {
      problems_.push_back("no " + std::string(kNoteOpen) + std::string(title) + "] in the sources");
    }
    return "notes.html#" + anchor(title);
  }

  std::string function_href(const TransitionDoc& d) {
    const std::string file(d.file);
    if (notes_.empty()) return source_page(file);  // no sources: the problem is already said
    int number = 0;
    for (const std::string& line : read_lines(root_ / file)) {
      ++number;
      if (line.find(d.defines) != std::string::npos && !comment_text(line)) {
        files_.insert(file);
        return source_page(file) + "#L" + std::to_string(number);
      }
    }
    problems_.push_back(std::string(d.function) + ": no line of " + file + " holds \"" + std::string(d.defines) + "\"");
    return source_page(file);
  }

  fs::path root_;
  std::vector<std::string>& problems_;
  std::map<std::string, Note> notes_;
  std::set<std::string> files_;
};

// examples/cpython/tour.py --rows: "scenario<TAB>step<TAB>row<TAB>action" per line.
std::map<std::string, std::vector<std::string>> read_real_rows(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error("cannot read " + file.string());
  std::map<std::string, std::vector<std::string>> rows;
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> cells;
    std::istringstream split(line);
    for (std::string cell; std::getline(split, cell, '\t');) cells.push_back(cell);
    if (cells.size() != 4 || std::to_string(rows[cells[0]].size() + 1) != cells[1]) {
      throw std::runtime_error(file.string() + ": not examples/cpython/tour.py --rows output: " + line.substr(0, 60));
    }
    rows[cells[0]].push_back(cells[2]);
  }
  return rows;
}

}  // namespace

int write_site(const fs::path& dir, const std::vector<std::string_view>& names, const fs::path& real_rows) {
  fs::create_directories(dir);
  const auto real = real_rows.empty() ? std::map<std::string, std::vector<std::string>>{} : read_real_rows(real_rows);
  Pictures pictures(dir / "pictures");
  pictures.for_site();
  std::map<std::string, std::vector<Step>> tellings;  // by slug
  rows_only() = true;
  row_receiver() = [&tellings](const std::string& slug, int, const std::string& row, std::string_view action,
                               std::string_view why) {
    tellings[slug].push_back(Step{std::string(action), row, std::string(why)});
  };
  std::vector<const Scenario*> picked;
  for (const Scenario& s : all_scenarios()) {
    if (names.empty() || std::find(names.begin(), names.end(), s.name) != names.end()) picked.push_back(&s);
  }
  for (const Scenario* s : picked) {
    s->run(&pictures, binding::Era::E2);
    if (s->told_in_e4) s->run(&pictures, binding::Era::E4);
  }
  row_receiver() = nullptr;

  std::vector<std::string> problems;
  Sources sources(REVIVE_SOURCE_DIR, problems);
  const std::string links =
      "{\"E2\":" + sources.links(kE2Docs, {}) + ",\"E4\":" + sources.links(kE2Docs, kE4Docs) + "}";
  write_file(dir / "explorer.css", std::string(kCss));
  write_file(dir / "explorer.js", std::string(kJs));
  std::string index =
      page_head("revive: the explorer", "") +
      "<h1>revive: the explorer</h1>\n<p>Each scenario of the ownership tour, one step at a time: the action, the "
      "row, the sentence, who owns whom, in era E2 (resurrection) and, where it has one, in era E4 (the has-PyObject "
      "bit)" +
      (real.empty() ? std::string() : std::string(", with the real CPython's row under the fake interpreter's")) +
      ". Step with the buttons or the arrow keys. Each transition links to <a href=\"notes.html\">the Note</a> that "
      "explains it and the function that performs it.</p>\n<table class=\"row\"><tr><th>scenario</th><th>what it "
      "shows</th><th>PyTorch tests it walks through</th><th>E4 telling</th><th>real CPython</th></tr>\n";
  for (const Scenario* s : picked) {
    const std::string name(s->name);
    index += "<tr><td><a href=\"" + html(name) + ".html\">" + html(name) + "</a></td><td>" + html(s->summary) +
             "</td><td>" + html(s->ports) + "</td><td>" + (s->told_in_e4 ? "yes" : "") + "</td><td>" +
             (real.contains(name) ? "yes" : "") + "</td></tr>\n";
    // The tables this scenario told: usually one per era; gc-bugs tells three in E2
    // ("gc-bugs/75932-broken", ...), each its own column.
    struct Column {
      std::string slug, heading;
      std::string_view era;
    };
    std::vector<Column> columns;
    for (const auto& [slug, steps] : tellings) {
      if (slug == name || slug.rfind(name + "/", 0) == 0) {
        columns.push_back({slug, slug == name ? "E2: resurrection" : "E2: " + slug.substr(name.size() + 1), "E2"});
      }
    }
    if (s->told_in_e4) columns.push_back({name + "-e4", "E4: the has-PyObject bit", "E4"});
    std::string eras = "[";
    std::string boxes;
    for (std::size_t k = 0; k < columns.size(); ++k) {
      // Appended piece by piece: g++ 12 at -O3 warns falsely (-Wrestrict, GCC PR 105329)
      // on a literal added to a std::string.
      if (k > 0) eras += ',';
      const auto told_real = real.find(columns[k].slug);
      eras += telling_json(dir, columns[k].slug, columns[k].era, tellings[columns[k].slug],
                           told_real == real.end() ? nullptr : &told_real->second);
      boxes += "<div class=\"era\" id=\"era-" + std::to_string(k) + "\"><h2>" + html(columns[k].heading) +
               "</h2><div class=\"action\"></div><table class=\"row\"></table><p class=\"real-mark\"></p>"
               "<p class=\"why\"></p><div class=\"via\"></div><div class=\"picture-box\"></div>"
               "<h3>The state machine, the path so far</h3><div class=\"machine-box\"></div></div>\n";
    }
    eras += "]";
    write_file(dir / (name + ".html"),
               page_head("revive: " + name, "") +
                   "<nav><a href=\"index.html\">all scenarios</a><a href=\"notes.html\">the Notes</a></nav>\n<h1>" +
                   html(name) + "</h1><p>" + html(s->summary) + " (ports " + html(s->ports) +
                   ")</p>\n<div class=\"controls\"><button id=\"prev\">&larr; back</button>"
                   "<button id=\"next\">forward &rarr;</button><span id=\"position\"></span></div>\n<div "
                   "class=\"eras\">\n" +
                   boxes + "</div>\n<script>const ERAS = " + eras + ";\nconst LINKS = " + links +
                   ";</script>\n<script src=\"explorer.js\"></script>\n</body></html>\n");
  }
  index += "</table>\n";
  if (!pictures.renders()) {
    index += "<p class=\"missing\">Graphviz's dot was not found when this site was written: the pictures are "
             "missing (apt-get install graphviz, then write the site again).</p>\n";
  }
  if (real.empty()) {
    index += "<p>The real CPython's rows are not shown: <code>bash scripts/dev tour --html DIR</code> adds them "
             "(it runs examples/cpython/tour.py --rows).</p>\n";
  }
  write_file(dir / "index.html", index + "</body></html>\n");
  sources.write(dir);
  for (const std::string& p : problems) std::fprintf(stderr, "explorer: %s\n", p.c_str());
  return static_cast<int>(narration_failures().size() + problems.size());
}

}  // namespace revive::tour
