// The explorer: the tour written as a static site.  See site.h.
#include "site.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>

#include "scenarios.h"

namespace revive::tour {

namespace fs = std::filesystem;

namespace {

struct Step {
  std::string action, row, why;
};

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

// One era's telling, as the page's data: the steps, and which pictures exist.
std::string telling_json(const fs::path& dir, const std::string& slug, const std::vector<Step>& steps) {
  std::string out = "{\"slug\":" + json(slug) + ",\"steps\":[";
  for (std::size_t i = 0; i < steps.size(); ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "step-%02zu.svg", i + 1);
    const bool picture = fs::exists(dir / "pictures" / slug / name);
    out += std::string(i == 0 ? "" : ",") + "{\"action\":" + json(steps[i].action) + ",\"row\":" +
           json(steps[i].row) + ",\"why\":" + json(steps[i].why) + ",\"picture\":" +
           (picture ? json(std::string("pictures/") + slug + "/" + name) : "null") + "}";
  }
  const bool machine = fs::exists(dir / "pictures" / slug / "states.svg");
  return out + "],\"machine\":" + (machine ? json("pictures/" + slug + "/states.svg") : "null") + "}";
}

constexpr std::string_view kCss = R"(body { font-family: sans-serif; margin: 1.5em; max-width: 1400px; }
nav a { margin-right: 1em; }
.controls button { font-size: 1em; margin-right: .5em; }
.eras { display: flex; gap: 1.5em; align-items: flex-start; }
.era { flex: 1; min-width: 0; border: 1px solid #ccc; padding: .8em; border-radius: 6px; }
.era h2 { margin-top: 0; font-size: 1.1em; }
table.row { border-collapse: collapse; margin: .5em 0; }
table.row th, table.row td { border: 1px solid #bbb; padding: .2em .5em; font-family: monospace; }
.why { margin: .5em 0; }
.missing { color: #a33; font-style: italic; }
img.picture { max-width: 100%; border: 1px solid #eee; }
.action { font-family: monospace; font-size: 1.1em; background: #f4f4f4; padding: .3em .5em; }
.via a { margin-right: .4em; }
)";

// Each transition a row can name, the Note that explains it, and the function of the
// protocol file (binding/include/revive/binding/python_variable.h) that performs it.
constexpr std::string_view kJs = R"JS('use strict';
const TRANSITIONS = {
  "T1": ["Python interpreter tag", "Torch::new_with_var"],
  "T1'": ["Python interpreter tag", "Torch::new_with_var"],
  "T2": ["Flipping ownership back on wrap", "Torch::rewrap_recorded"],
  "T3": ["Ownership flip on resurrection", "Torch::resurrect"],
  "T4": ["A recorded wrapper that really dies", "Torch::dealloc_wrapper"],
  "T5": ["Flipping ownership back on wrap", "Torch::rewrap_recorded"],
  "T6": ["Two counts and release_resources", "PyObjectSlot::maybe_destroy_pyobj"],
  "T7": ["Cycle collection and preservation", "Torch::wrapper_traverse, Torch::wrapper_clear"],
  "T8": ["The weakref hole", "Torch::decref (the vtable's)"],
  "T9": ["Disarming a dead interpreter", "PyInterpreter::disarm"],
  "T10": ["Hermetic PyObject mode", "Torch::new_with_var"],
  "T11": ["Python interpreter tag", "PyObjectSlot::init_pyobj"],
  "refused": ["Python interpreter tag", "PyObjectSlot::check_pyobj"],
  "forgotten": ["A recorded wrapper that really dies", "Torch::release_cdata"],
  "released": ["Two counts and release_resources", "intrusive_ptr_target::decref_strong"],
  "share": ["The has-PyObject bit", "intrusive_ptr_target::incref_strong"],
  "unshare": ["The has-PyObject bit", "intrusive_ptr_target::decref_strong"],
};
const KEYS = ["state", "n", "r", "tag", "owns", "cdata", "via", "fin"];
function fields(row) {
  const out = {state: row.split(" ")[0]};
  for (const word of row.split(" ").slice(1)) {
    const eq = word.indexOf("=");
    if (eq > 0) out[word.slice(0, eq)] = word.slice(eq + 1);
  }
  return out;
}
function render(era, i, box) {
  const step = era.steps[i];
  box.querySelector(".action").textContent = step ? step.action : "(no such step in this era)";
  const table = box.querySelector("table.row");
  table.innerHTML = "";
  if (!step) return;
  const f = fields(step.row);
  const head = table.insertRow(), body = table.insertRow();
  for (const k of KEYS) {
    const th = document.createElement("th");
    th.textContent = k;
    head.appendChild(th);
    const td = body.insertCell();
    td.textContent = f[k] === undefined ? "-" : f[k];
    td.dataset.key = k;
  }
  box.querySelector(".why").textContent = step.why;
  const via = box.querySelector(".via");
  via.innerHTML = "";
  for (const t of (f.via || "").split(",").filter(x => x)) {
    const info = TRANSITIONS[t];
    const span = document.createElement("span");
    span.textContent = info ? `${t}: ${info[0]} (the Note), ${info[1]}` : t;
    span.className = "transition";
    via.appendChild(span);
    via.appendChild(document.createElement("br"));
  }
  const pic = box.querySelector(".picture-box");
  pic.innerHTML = "";
  if (step.picture) {
    const img = document.createElement("img");
    img.className = "picture";
    img.src = step.picture;
    img.alt = `who owns whom after step ${i + 1}`;
    pic.appendChild(img);
  } else {
    pic.innerHTML = '<p class="missing">picture missing (Graphviz was not installed when the site was written)</p>';
  }
}
function show(i) {
  const count = Math.max(...ERAS.map(e => e.steps.length));
  i = Math.min(Math.max(i, 0), count - 1);
  current = i;
  document.getElementById("position").textContent = `step ${i + 1} of ${count}`;
  ERAS.forEach((era, k) => render(era, i, document.getElementById("era-" + k)));
  if (location.hash !== `#step-${i + 1}`) history.replaceState(null, "", `#step-${i + 1}`);
}
let current = 0;
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

}  // namespace

int write_site(const fs::path& dir, const std::vector<std::string_view>& names) {
  fs::create_directories(dir);
  Pictures pictures(dir / "pictures");
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

  write_file(dir / "explorer.css", std::string(kCss));
  write_file(dir / "explorer.js", std::string(kJs));
  std::string index =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>revive: the explorer</title>\n"
      "<link rel=\"stylesheet\" href=\"explorer.css\"></head><body>\n<h1>revive: the explorer</h1>\n"
      "<p>Each scenario of the ownership tour, one step at a time: the action, the row, the sentence, "
      "who owns whom, in era E2 (resurrection) and, where it has one, in era E4 (the has-PyObject bit). "
      "Step with the buttons or the arrow keys.</p>\n<table class=\"row\"><tr><th>scenario</th><th>what it "
      "shows</th><th>PyTorch tests it walks through</th><th>E4 telling</th></tr>\n";
  for (const Scenario* s : picked) {
    const std::string name(s->name);
    index += "<tr><td><a href=\"" + html(name) + ".html\">" + html(name) + "</a></td><td>" + html(s->summary) +
             "</td><td>" + html(s->ports) + "</td><td>" + (s->told_in_e4 ? "yes" : "") + "</td></tr>\n";
    // The tables this scenario told: usually one per era; gc-bugs tells three in E2
    // ("gc-bugs/75932-broken", ...), each its own column.
    std::vector<std::pair<std::string, std::string>> columns;  // slug, heading
    for (const auto& [slug, steps] : tellings) {
      if (slug == name || slug.rfind(name + "/", 0) == 0) {
        columns.emplace_back(slug, slug == name ? "E2: resurrection" : "E2: " + slug.substr(name.size() + 1));
      }
    }
    if (s->told_in_e4) columns.emplace_back(name + "-e4", "E4: the has-PyObject bit");
    std::string eras = "[";
    std::string boxes;
    for (std::size_t k = 0; k < columns.size(); ++k) {
      // Appended piece by piece: g++ 12 at -O3 warns falsely (-Wrestrict, GCC PR 105329)
      // on a literal added to a std::string.
      if (k > 0) eras += ',';
      eras += telling_json(dir, columns[k].first, tellings[columns[k].first]);
      boxes += "<div class=\"era\" id=\"era-" + std::to_string(k) + "\"><h2>" + html(columns[k].second) +
               "</h2><div class=\"action\"></div><table class=\"row\"></table><p class=\"why\"></p>"
               "<p class=\"via\"></p><div class=\"picture-box\"></div></div>\n";
    }
    eras += "]";
    std::string machines;
    for (const auto& [slug, heading] : columns) {
      machines += fs::exists(dir / "pictures" / slug / "states.svg")
                      ? "<img class=\"picture\" alt=\"the state machine, with the path\" src=\"pictures/" + html(slug) +
                            "/states.svg\">"
                      : "<p class=\"missing\">state machine picture missing (no Graphviz)</p>";
    }
    write_file(dir / (name + ".html"),
               "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>revive: " + html(name) +
                   "</title>\n<link rel=\"stylesheet\" href=\"explorer.css\"></head><body>\n<nav><a "
                   "href=\"index.html\">all scenarios</a></nav>\n<h1>" + html(name) + "</h1><p>" + html(s->summary) +
                   " (ports " + html(s->ports) + ")</p>\n<div class=\"controls\"><button id=\"prev\">&larr; back</button>"
                   "<button id=\"next\">forward &rarr;</button><span id=\"position\"></span></div>\n<div class=\"eras\">\n" +
                   boxes + "</div>\n<h2>The state machine, with the whole path</h2>\n<div class=\"eras\">" + machines +
                   "</div>\n<script>const ERAS = " + eras + ";</script>\n<script src=\"explorer.js\"></script>\n"
                   "</body></html>\n");
  }
  index += "</table>\n";
  if (!pictures.renders()) {
    index += "<p class=\"missing\">Graphviz's dot was not found when this site was written: the pictures are "
             "missing (apt-get install graphviz, then write the site again).</p>\n";
  }
  write_file(dir / "index.html", index + "</body></html>\n");
  return static_cast<int>(narration_failures().size());
}

}  // namespace revive::tour
