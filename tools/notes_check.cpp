// notes_check: keeps the Notes of this codebase honest (the GHC habit).
//
//   revive_notes_check SOURCE_DIR
//
// A Note is defined by a comment line holding the word Note and its title in square
// brackets, directly followed by a line of tildes.  Any other mention of a Note must
// name a defined one, and a code site that relies on the rule cites it with "See"
// before the mention.  Fails (exit 1) on:
//   - a mention of a Note that is defined nowhere,
//   - a Note defined more than once,
//   - a Note that no "See" mention cites,
//   - a Note whose body is shorter than two lines of prose, or says TODO/TBD.
// Scans *.h, *.cpp and *.md under pyslot/, tensor/, trace/, interp/, binding/, pictures/,
// proof/, examples/, test/, bench/, docs/ and README.md.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

struct Place {
  std::string file;
  int line;
};

std::string where(const Place& p) { return p.file + ":" + std::to_string(p.line); }

bool scanned(const fs::path& p) {
  const auto ext = p.extension().string();
  return ext == ".h" || ext == ".cpp" || ext == ".md";
}

std::string strip_comment(const std::string& line) {
  auto pos = line.find_first_not_of(" \t");
  if (pos == std::string::npos) return "";
  std::string s = line.substr(pos);
  if (s.rfind("//", 0) == 0) s = s.substr(2);
  if (!s.empty() && s[0] == ' ') s = s.substr(1);
  return s;
}

struct Mention {
  std::string title;
  bool cited;  // preceded by "See" (or "see")
};

// Every Note mention on a line (the word, a space, the title in brackets).  (std::regex is avoided: g++ 12 warns inside it under
// sanitizers, and this is simple enough by hand.)
std::vector<Mention> mentions(const std::string& line) {
  std::vector<Mention> out;
  const std::string open = "Note [";
  for (std::size_t pos = line.find(open); pos != std::string::npos; pos = line.find(open, pos + 1)) {
    const std::size_t start = pos + open.size();
    const std::size_t end = line.find(']', start);
    if (end == std::string::npos || end == start) break;
    const bool cited = pos >= 4 && (line.compare(pos - 4, 4, "See ") == 0 ||
                                    line.compare(pos - 4, 4, "see ") == 0);
    out.push_back({line.substr(start, end - start), cited});
  }
  return out;
}

// A line like `// ~~~~~~~~` (at least five tildes and nothing else).
bool is_tilde_line(const std::string& line) {
  const std::string s = strip_comment(line);
  std::size_t tildes = 0;
  for (char c : s) {
    if (c == '~') {
      ++tildes;
    } else if (c != ' ' && c != '\t') {
      return false;
    }
  }
  return tildes >= 5;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: revive_notes_check SOURCE_DIR\n";
    return 2;
  }
  const fs::path root = argv[1];
  std::vector<fs::path> files;
  for (const char* dir : {"pyslot", "tensor", "trace", "interp", "binding", "cpython", "pictures", "proof", "examples", "test", "bench", "docs"}) {
    if (!fs::exists(root / dir)) continue;
    for (const auto& e : fs::recursive_directory_iterator(root / dir)) {
      if (e.is_regular_file() && scanned(e.path())) files.push_back(e.path());
    }
  }
  if (fs::exists(root / "README.md")) files.push_back(root / "README.md");

  std::map<std::string, std::vector<Place>> defined, referenced;
  std::set<std::string> cited_titles;
  std::vector<std::string> problems;

  for (const auto& path : files) {
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    const std::string rel = fs::relative(path, root).string();
    for (std::size_t i = 0; i < lines.size(); ++i) {
      for (const auto& [title, cited] : mentions(lines[i])) {
        const Place here{rel, static_cast<int>(i + 1)};
        const bool is_definition = strip_comment(lines[i]) == "Note [" + title + "]" &&
                                   i + 1 < lines.size() &&
                                   is_tilde_line(lines[i + 1]);
        if (!is_definition) {
          referenced[title].push_back(here);
          if (cited) cited_titles.insert(title);
          continue;
        }
        defined[title].push_back(here);
        // The body: comment lines after the tildes, up to a blank or non-comment line.
        int prose = 0;
        for (std::size_t j = i + 2; j < lines.size(); ++j) {
          const auto first = lines[j].find_first_not_of(" \t");
          if (first == std::string::npos || lines[j].compare(first, 2, "//") != 0) break;
          const std::string text = strip_comment(lines[j]);
          if (text.empty()) break;
          if (text.find("TODO") != std::string::npos || text.find("TBD") != std::string::npos) {
            problems.push_back(where(here) + ": Note [" + title + "] is unfinished (TODO/TBD)");
          }
          ++prose;
        }
        if (prose < 2) {
          problems.push_back(where(here) + ": Note [" + title + "] has no real body");
        }
      }
    }
  }

  for (const auto& [title, places] : referenced) {
    if (!defined.contains(title)) {
      for (const auto& p : places) {
        problems.push_back(where(p) + ": reference to Note [" + title + "], which is not defined");
      }
    }
  }
  for (const auto& [title, places] : defined) {
    if (places.size() > 1) {
      std::string all;
      for (const auto& p : places) all += " " + where(p);
      problems.push_back("Note [" + title + "] is defined " + std::to_string(places.size()) +
                         " times:" + all);
    }
    if (!cited_titles.contains(title)) {
      problems.push_back(where(places.front()) + ": Note [" + title + "] is never referenced");
    }
  }

  for (const auto& p : problems) std::cout << p << "\n";
  std::cout << defined.size() << " notes, "
            << [&] {
                 std::size_t n = 0;
                 for (const auto& [t, ps] : referenced) n += ps.size();
                 return n;
               }()
            << " references, " << problems.size() << " problems\n";
  return problems.empty() ? 0 : 1;
}
