#!/usr/bin/env python3
"""check_docs: every file, program, command, test, label and link a document names exists.

    python3 tools/check_docs.py ROOT BUILD [DOC...]
    python3 tools/check_docs.py --self-test ROOT BUILD

Reads README.md and docs/*.md (or the DOCs given) and fails (exit 1), listing each
problem as FILE:LINE, on:
  - a Markdown link to a file that does not exist, or to a heading the target lacks;
  - a path of this repository (`binding/src/torch.cpp`, `test/python/`) that does not
    exist, or a `build/dev/...` program the dev build did not make;
  - a bare file name (`e2_vs_e4_test.cpp`) no file of the tree has, unless the source
    writes it as a string (a file the tour writes, like `states.dot`);
  - a program `revive-...` no CMake target builds;
  - `bash scripts/dev CMD ...` whose CMD scripts/dev does not have, whose tour scenario
    `revive-tour --list` does not list, or whose option the program's --help lacks;
  - `ctest ... -L REGEX` matching no label, `-R REGEX` matching no test, `--preset P`
    naming no test preset; `--run_test=suite/case` naming a suite or case no test has;
  - a test name (`test_subclass_preserved`, `a_cycle_through_cpp_grads_leaks_as_in_pytorch`)
    that no file under test/ defines or mentions, unless it is one of the other projects'
    names listed in EXTERNAL below;
  - a document that does not link to the glossary (docs/glossary.md).
A document holding the FOREIGN line below is about other projects: its paths and file
names are theirs and are not checked.
Notes (`Note [...]`) are checked by revive_notes_check, which also reads the documents.
--self-test writes a document with one mistake of each kind and checks that each is found,
and nothing else.
"""
import fnmatch
import json
import os
import re
import subprocess
import sys
import tempfile

TOP = ("pyslot", "tensor", "trace", "interp", "binding", "pictures", "cpython", "proof",
       "examples", "test", "tools", "bench", "docs", "scripts", ".ci", "cmake")

# Tests of other projects that documents name and this tree does not have (read about,
# not ported).  Keep it short: each entry is a name a reader will look for there, not here.
EXTERNAL = {
    "test_storage_use_count",  # PyTorch's, changed by #167564; not ported (reference.md §9)
}

# Paths in other projects that look like ours.
# PyTorch's, whose preservation tests test/scenarios/ and test/python/ port.
EXTERNAL_PATHS = {"test/test_torch.py", "test/test_tsan.py"}

FOREIGN = "<!-- check_docs: the paths in this document are other projects' -->"

SPAN = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")
IDENT = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+){2,}$")


def slug(heading):
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


class Tree:
    def __init__(self, root, build):
        self.root, self.build = root, build
        self.files, self.basenames, self.text = [], set(), {}
        for d, dirs, names in os.walk(root):
            rel = os.path.relpath(d, root)
            dirs[:] = [x for x in dirs if not (rel == "." and x in ("build", ".git")) and not x.startswith(".git")]
            for n in names:
                p = os.path.normpath(os.path.join(rel, n))
                self.files.append(p)
                self.basenames.add(n)
                if n.endswith((".h", ".cpp", ".py", ".cmake", ".txt", ".sh")) or n == "dev" or n == "run":
                    try:
                        with open(os.path.join(root, p), encoding="utf-8") as f:
                            self.text[p] = f.read()
                    except (OSError, UnicodeDecodeError):
                        pass
        self.tests_text = "\n".join(t for p, t in self.text.items() if p.startswith("test" + os.sep))
        self.all_text = "\n".join(t for p, t in self.text.items() if not p.endswith("check_docs.py"))
        self.programs = set()
        for t in (t for p, t in self.text.items() if p.endswith("CMakeLists.txt")):
            self.programs.update(re.findall(r"add_executable\(\s*([\w-]+)", t))
            self.programs.update(re.findall(r"OUTPUT_NAME\s+([\w-]+)", t))
        dev = self.text.get(os.path.join("scripts", "dev"), "")
        self.dev_commands = set(re.findall(r"^  ([a-z][\w-]*(?: \| [a-z][\w-]*)*)\)", dev, re.M))
        self.dev_commands = {c for group in self.dev_commands for c in group.split(" | ")}
        with open(os.path.join(root, "CMakePresets.json"), encoding="utf-8") as f:
            presets = json.load(f)
        self.test_presets = {p["name"] for p in presets.get("testPresets", [])}
        self.presets = {p["name"] for p in presets.get("configurePresets", [])}
        self.labels, self.ctests = self._ctest()
        # Labels a configuration may leave out (debian-python exists only where Debian's
        # python3 differs from the module's): those CMake writes literally count too.
        for t in (t for p, t in self.text.items() if p.endswith(("CMakeLists.txt", ".cmake"))):
            self.labels += re.findall(r"list\(APPEND labels ([\w-]+)\)", t)
        self.scenarios = self._scenarios()
        self.help = {}

    def _ctest(self):
        labels = subprocess.run(["ctest", "--test-dir", self.build, "--print-labels"],
                                capture_output=True, text=True).stdout
        labels = [l.strip() for l in labels.splitlines()
                  if l.startswith("  ") and not l.strip().startswith("Test")]
        tests = subprocess.run(["ctest", "--test-dir", self.build, "-N"], capture_output=True, text=True).stdout
        tests = re.findall(r"Test\s+#\d+: (\S+)", tests)
        return labels, tests

    def _scenarios(self):
        tour = os.path.join(self.build, "examples", "revive-tour")
        out = subprocess.run([tour, "--list"], capture_output=True, text=True).stdout
        return {l.split()[0] for l in out.splitlines() if l.strip() and not l.startswith(" ")}

    def program_help(self, program):
        if program not in self.help:
            exe = {"revive-tour": "examples/revive-tour", "revive-campaign": "proof/revive-campaign",
                   "revive-against-cpython": "proof/revive-against-cpython"}.get(program)
            text = ""
            if exe and os.path.exists(os.path.join(self.build, exe)):
                r = subprocess.run([os.path.join(self.build, exe), "--help"], capture_output=True, text=True)
                text = r.stdout + r.stderr
            self.help[program] = text
        return self.help[program]


def words_of(command):
    return [w.strip("'\"") for w in command.split()]


class Checker:
    def __init__(self, tree):
        self.t = tree
        self.problems = []
        self.foreign_paths = False

    def bad(self, doc, line, what):
        self.problems.append(f"{os.path.relpath(doc, self.t.root)}:{line}: {what}")

    # --- one kind each -------------------------------------------------------------
    def link(self, doc, line, target):
        if re.match(r"^[a-z]+:", target):
            return
        path, _, anchor = target.partition("#")
        dest = doc if not path else os.path.normpath(os.path.join(os.path.dirname(doc), path))
        if os.path.relpath(dest, self.t.root).startswith("build" + os.sep + "explorer" + os.sep):
            return  # the explorer's site, written on demand: tour.html checks these links
        if not os.path.exists(dest):
            self.bad(doc, line, f"link to a missing file: {target}")
            return
        if anchor and dest.endswith(".md"):
            with open(dest, encoding="utf-8") as f:
                slugs = {slug(m) for m in re.findall(r"^#+ (.*)$", f.read(), re.M)}
            if anchor not in slugs:
                self.bad(doc, line, f"link to a missing heading: {target}")

    def path(self, doc, line, p):
        p = re.sub(r":\d+$", "", p.rstrip(".,;:)"))
        if "<" in p or "NN" in p or "DIR" in p or "..." in p:
            return
        m = re.match(r"^(.*)\{([^}]*)\}(.*)$", p)
        variants = [m.group(1) + v + m.group(3) for v in m.group(2).split(",")] if m else [p]
        for v in variants:
            if v.startswith("build/dev/"):
                if not os.path.exists(os.path.join(self.t.build, v[len("build/dev/"):])):
                    self.bad(doc, line, f"the dev build has no {v}")
            elif v.startswith("build/"):
                continue  # another preset's build, which may not have been made yet
            elif "*" in v:
                if not fnmatch.filter(self.t.files, v.rstrip("/")):
                    self.bad(doc, line, f"no file matches {v}")
            elif v not in EXTERNAL_PATHS and not os.path.exists(os.path.join(self.t.root, v)):
                self.bad(doc, line, f"no such file or folder: {v}")

    def bare_file(self, doc, line, name):
        if name in self.t.basenames or "NN" in name or "<" in name:
            return
        stem, ext = os.path.splitext(name)
        if ext in (".svg", ".png"):
            name = stem + ".dot"  # rendered from the .dot file the code writes
        if f'"{name}"' in self.t.all_text or f"/ \"{name}" in self.t.all_text:
            return  # a file the code writes
        self.bad(doc, line, f"no file of the tree is named {name}")

    def program(self, doc, line, name):
        if name not in self.t.programs:
            self.bad(doc, line, f"no CMake target builds {name}")

    def test_name(self, doc, line, name):
        if name in EXTERNAL:
            return
        if name + ".py" in self.t.basenames:
            return  # a Python test module
        if not re.search(r"\b" + re.escape(name) + r"\b", self.t.tests_text):
            self.bad(doc, line, f"no test under test/ is named {name}")

    def ctest(self, doc, line, words):
        for flag, value in zip(words, words[1:]):
            if flag == "-L" and not any(re.search(value, l) for l in self.t.labels):
                self.bad(doc, line, f"ctest -L {value} matches no label")
            if flag == "-R" and not any(re.search(value, n) for n in self.t.ctests):
                self.bad(doc, line, f"ctest -R {value} matches no test")
            if flag == "--preset" and value not in self.t.test_presets:
                self.bad(doc, line, f"no test preset {value}")

    def run_test(self, doc, line, spec):
        for part in spec.split("/"):
            if part.startswith("@"):
                if not any(part[1:] == l for l in self.t.labels) and f'label("{part[1:]}")' not in self.t.tests_text:
                    self.bad(doc, line, f"no Boost.Test label {part}")
            elif not re.search(r"BOOST_(?:AUTO_TEST_SUITE|AUTO_TEST_CASE|FIXTURE_TEST_SUITE|FIXTURE_TEST_CASE|DATA_TEST_CASE)\(\s*"
                               + re.escape(part) + r"\b", self.t.tests_text):
                self.bad(doc, line, f"no Boost.Test suite or case {part}")

    def dev(self, doc, line, words):
        if len(words) < 3:
            return
        cmd, args = words[2], words[3:]
        if cmd.startswith("-"):
            return
        if cmd not in self.t.dev_commands:
            self.bad(doc, line, f"scripts/dev has no command {cmd}")
            return
        if cmd == "test" and args and not args[0].startswith("-") and args[0] not in self.t.presets:
            self.bad(doc, line, f"no preset {args[0]}")
        program = {"tour": "revive-tour", "campaign": "revive-campaign"}.get(cmd)
        if program:
            self.program_args(doc, line, program, args)

    def program_args(self, doc, line, program, args):
        help_text = self.t.program_help(program)
        takes_value = False
        for a in args:
            if a.startswith("#") or a in ("...", "[...]") or "<" in a or a.startswith("["):
                break
            if a.startswith("--"):
                flag = a.split("=")[0]
                if help_text and flag != "--help" and flag not in help_text:
                    self.bad(doc, line, f"{program} --help does not know {flag}")
                takes_value = flag in ("--pictures", "--era", "--steps", "--seed", "--replay", "--ops",
                                       "--planted", "--length", "--eras", "--minutes", "--html")
                continue
            if takes_value:
                takes_value = False
                continue
            if program == "revive-tour" and a.upper() != a and a not in self.t.scenarios:
                self.bad(doc, line, f"revive-tour has no scenario {a}")

    # --- a document ----------------------------------------------------------------
    def commands_in(self, doc, line, text):
        for m in re.finditer(r"(?:^|[;&|(]\s*|`)((?:bash scripts/dev|ctest|build/dev/\S+)[^`;&|#\n]*)", text):
            cmd = m.group(1).strip()
            words = words_of(cmd)
            if words[0] == "bash":
                self.dev(doc, line, words)
            elif words[0] == "ctest":
                self.ctest(doc, line, words)
            if words[0].startswith("build/dev/"):
                name = os.path.basename(words[0])
                if name in ("revive-tour", "revive-campaign"):
                    self.program_args(doc, line, name, words[1:])

    def token(self, doc, line, tok):
        if self.foreign_paths and ("/" in tok or "." in tok):
            return
        if tok.startswith("--run_test="):
            self.run_test(doc, line, tok[len("--run_test="):].rstrip(".,;:`"))
            return
        tok = tok.strip().rstrip(".,;:")
        if not tok or " " in tok:
            return
        first = tok.split("/")[0]
        if "/" in tok and (first in TOP or first == "build"):
            self.path(doc, line, tok)
        elif re.fullmatch(r"[\w.+-]+\.(?:cpp|h|py|cmake|md|sh|dot|mmd|svg|png|json)", tok):
            self.bare_file(doc, line, tok)
        elif re.fullmatch(r"revive-[a-z][\w-]*", tok):
            self.program(doc, line, tok)
        elif re.fullmatch(r"test_[a-z0-9_]+", tok) or (IDENT.fullmatch(tok) and tok.count("_") >= 4):
            self.test_name(doc, line, tok)

    def document(self, doc):
        with open(doc, encoding="utf-8") as f:
            lines = f.read().splitlines()
        if os.path.basename(doc) != "glossary.md" and not any("glossary.md" in l for l in lines):
            self.bad(doc, 1, "no link to the glossary (docs/glossary.md)")
        # A document about other projects (docs/other-bindings.md) says so once; its paths
        # and file names are theirs, and only its links, commands and tests are checked.
        self.foreign_paths = FOREIGN in lines
        fence = None
        for i, text in enumerate(lines, 1):
            if text.lstrip().startswith("```"):
                fence = None if fence is not None else text.strip()[3:]
                continue
            if fence is not None:
                if fence in ("sh", "bash", "", "console"):
                    command = text.lstrip("$ ").split("  #")[0]
                    self.commands_in(doc, i, command)
                    for tok in command.split():
                        self.token(doc, i, tok)
                continue
            for m in LINK.finditer(text):
                self.link(doc, i, m.group(1))
            for m in SPAN.finditer(text):
                span = m.group(1)
                self.commands_in(doc, i, span)
                if " " not in span.strip():
                    self.token(doc, i, span)
            for m in re.finditer(r"\b(test_[a-z0-9_]+)\b", SPAN.sub("", LINK.sub("", text))):
                self.test_name(doc, i, m.group(1))


def self_test(root, build):
    broken = """# A document with one mistake of each kind (and no link to the glossary)

See [the story](lifecycle.md#no-such-heading) and [nothing](missing.md).
The protocol is in `binding/src/no_such_file.cpp`; `e2_vs_e5_test.cpp` does not exist;
`revive-nonesuch` is not built; `bash scripts/dev nonesuch` is not a command;
`bash scripts/dev tour no-such-scenario`; `bash scripts/dev tour --no-such-flag`;
`ctest --preset dev -L no-such-label`; `ctest --preset dev -R no_such_test`;
`ctest --preset nonesuch`; `--run_test=no_such_suite`; `test_no_such_test` and
`a_test_case_that_does_not_exist_anywhere`; `build/dev/proof/revive-nonesuch`.

```sh
ctest --preset dev -L fenced-no-such-label   # a command in a block
```
"""
    expected = ["missing heading", "missing file: missing.md", "binding/src/no_such_file.cpp",
                "e2_vs_e5_test.cpp", "builds revive-nonesuch", "no command nonesuch",
                "no scenario no-such-scenario", "does not know --no-such-flag", "-L no-such-label",
                "-R no_such_test", "no test preset nonesuch", "suite or case no_such_suite",
                "named test_no_such_test", "named a_test_case_that_does_not_exist_anywhere",
                "no build/dev/proof/revive-nonesuch", "-L fenced-no-such-label", "no link to the glossary"]
    with tempfile.TemporaryDirectory() as d:
        doc = os.path.join(root, "docs", f".check_docs_self_test_{os.getpid()}.md")
        try:
            with open(doc, "w", encoding="utf-8") as f:
                f.write(broken)
            checker = Checker(Tree(root, build))
            checker.document(doc)
        finally:
            os.remove(doc)
        del d
    report = "\n".join(checker.problems)
    missed = [e for e in expected if e not in report]
    if missed or len(checker.problems) != len(expected):
        print("check_docs missed:", missed, "\nit reported:\n" + report)
        return 1
    print(f"check_docs finds all {len(expected)} kinds of mistake")
    return 0


def main(argv):
    if argv[:1] == ["--self-test"]:
        return self_test(os.path.abspath(argv[1]), os.path.abspath(argv[2]))
    if len(argv) < 2:
        print(__doc__)
        return 2
    root, build = os.path.abspath(argv[0]), os.path.abspath(argv[1])
    docs = [os.path.abspath(d) for d in argv[2:]] or (
        [os.path.join(root, "README.md")] +
        sorted(os.path.join(root, "docs", n) for n in os.listdir(os.path.join(root, "docs")) if n.endswith(".md")))
    checker = Checker(Tree(root, build))
    for doc in docs:
        checker.document(doc)
    for p in checker.problems:
        print(p)
    if checker.problems:
        print(f"check_docs: {len(checker.problems)} problems")
        return 1
    print(f"check_docs: {len(docs)} documents name only what exists")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
