#!/usr/bin/env python3
"""exercise: switch off one rule of the design and let the tests say what it was for.

    python3 tools/exercise.py ROOT --list
    python3 tools/exercise.py ROOT NAME [--build DIR]      # run one exercise
    python3 tools/exercise.py ROOT --check [--build DIR]
    python3 tools/exercise.py ROOT --discover NAME [--build DIR]

`bash scripts/dev exercise ...` builds what is needed and calls this.  docs/exercises.md
tells each exercise (its title, the question, what to look at, the answer) and is read
here for them; test/exercises.json says what each one runs and which tests its answer
names, and nothing else, so the two cannot say different things.  An exercise
runs its Boost.Test cases, its Python tests and its tour scenario with the environment
variable REVIVE_EXERCISE naming the rule (pyslot/include/revive/pyslot/exercise.h), and
prints which of them failed.

--check runs every exercise (CI): with its rule off, exactly the tests its answer names
must fail, and the tour must disagree with its narration.  (That every test passes with
every rule on is the test command's job, which CI runs first.)  It also checks that
docs/exercises.md tells every exercise and no other, and that each answer names every
test the exercise expects to fail.
--discover prints the failing set of one exercise, to write its entry.
"""
import json
import os
import re
import subprocess
import sys

TIMEOUT = 300


def sections(root):
    """docs/exercises.md's exercises: name -> title, question, look, answer."""
    with open(os.path.join(root, "docs", "exercises.md"), encoding="utf-8") as f:
        text = f.read()
    told = {}
    for part in re.split(r"^## ", text, flags=re.M)[1:]:
        m = re.search(r"^bash scripts/dev exercise ([\w-]+)$", part, re.M)
        if not m:
            continue
        def paragraph(label):
            found = re.search(r"\*\*" + label + r"\*\*\s*(.*?)\n\s*\n", part, re.S)
            return " ".join(found.group(1).split()) if found else ""
        answer = re.search(r"<details>(.*?)</details>", part, re.S)
        told[m.group(1)] = {"title": part.splitlines()[0].strip(), "question": paragraph("Before you run it:"),
                            "look": paragraph("Look at:"), "answer": answer.group(1) if answer else ""}
    return told


def load(root):
    with open(os.path.join(root, "test", "exercises.json"), encoding="utf-8") as f:
        exercises = json.load(f)
    told = sections(root)
    for ex in exercises:
        ex.update(told.get(ex["name"], {"title": "(not in docs/exercises.md)", "question": "", "look": "",
                                         "answer": ""}))
    return exercises


def boost_cases(build, exe, spec):
    """The cases a --run_test spec names ("suite", "suite/a,b", several joined by ':')."""
    path = os.path.join(build, "test", exe)
    listing = subprocess.run([path, "--list_content"], capture_output=True, text=True).stderr
    suites, suite = {}, None
    for line in listing.splitlines():
        name = line.strip().rstrip("*")
        if not name:
            continue
        if not line.startswith(" "):
            suite = name
            suites[suite] = []
        elif suite is not None:
            suites[suite].append(name)
    cases = []
    for part in spec.split(":"):
        suite, _, named = part.partition("/")
        if named:
            cases += [f"{suite}/{case}" for case in named.split(",")]
            continue
        for one in suite.split(","):  # "a,b": suites a and b, whole
            if one not in suites:
                raise SystemExit(f"{exe} has no suite {one}")
            cases += [f"{one}/{case}" for case in suites[one]]
    return cases


def run_boost(build, exe, spec, env):
    """Each case in a process of its own: a rule switched off may end a case with an
    internal assertion (an abort), which must not take the next cases with it."""
    path = os.path.join(build, "test", exe)
    return run_each({case: [path, f"--run_test={case}", "--log_level=error", "--report_level=no",
                            "--color_output=no"] for case in boost_cases(build, exe, spec)}, env)


def run_python(root, build, tests, env):
    """Each test in a process of its own, as the Boost cases: a crash fails that test only."""
    env = dict(env)
    env.pop("REVIVE_ERA", None)  # the tests named are E2's
    module_dir = os.path.join(build, "cpython", "python")
    env["PYTHONPATH"] = os.pathsep.join(p for p in [module_dir, env.get("PYTHONPATH", "")] if p)
    return run_each({"python:" + test.split(".")[-1]: [sys.executable, "-m", "unittest", test] for test in tests},
                    env, cwd=os.path.join(root, "test", "python"))


def run_each(commands, env, cwd=None):
    """Runs each named command; the names of those that failed (or timed out), and their output."""
    failed, outs = set(), []
    for name, cmd in commands.items():
        try:
            r = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            failed.add(name + " (timed out)")
            continue
        if r.returncode != 0:
            failed.add(name)
            outs.append(r.stdout + r.stderr)
    return failed, "\n".join(outs)


def run_tour(build, scenario, env):
    """The narration checks that failed, as "scenario, step N: ...", from the tour's
    closing list (the inline "!!" lines carry no step number)."""
    if not scenario:
        return None, ""
    tour = os.path.join(build, "examples", "revive-tour")
    try:
        r = subprocess.run([tour, scenario], env=env, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return [f"{scenario}: timed out"], ""
    out = r.stdout + r.stderr
    failures = re.findall(r"^  (\S+, step \d+: .*)$", r.stderr, re.M)
    if r.returncode != 0 and not failures:
        failures = [f"{scenario}: exit {r.returncode}"]
    return failures, out


def run(root, build, ex, quiet=False):
    env = dict(os.environ)
    env["REVIVE_EXERCISE"] = ex["name"]
    failed, logs = set(), []
    for exe, run_test in ex.get("boost", {}).items():
        f, out = run_boost(build, exe, run_test, env)
        failed |= f
        logs.append(out)
    f, out = run_python(root, build, ex.get("python", []), env)
    failed |= f
    logs.append(out)
    tour, out = run_tour(build, ex.get("tour"), env)
    logs.append(out)
    return failed, tour, "\n".join(logs)


def count_cases(build, ex):
    return (sum(len(boost_cases(build, e, spec)) for e, spec in ex.get("boost", {}).items())
            + len(ex.get("python", [])))


def describe(ex, failed, tour):
    print(f"exercise {ex['name']}: {ex['rule']} is switched off")
    print(f"  ran: {', '.join(f'{e} --run_test={t}' for e, t in ex.get('boost', {}).items())}"
          + (f"; python -m unittest {' '.join(ex['python'])}" if ex.get("python") else "")
          + (f"; revive-tour {ex['tour']}" if ex.get("tour") else ""))
    if failed:
        print(f"  {len(failed)} failed:")
        for name in sorted(failed):
            print(f"    {name}")
    else:
        print("  nothing failed")
    if tour is not None:
        if tour:
            print(f"  the tour's {ex['tour']}: {len(tour)} narration check(s) failed; the first:")
            print(f"    {tour[0]}")
        else:
            print(f"  the tour's {ex['tour']}: every step as narrated")
    print(f"  look at: {ex['look']}")
    print(f"  the answer: docs/exercises.md, \"{ex['title']}\"")


def check_docs(root, exercises):
    told = sections(root)
    names = [ex["name"] for ex in exercises]
    problems = []
    if sorted(told) != sorted(names):
        problems.append(f"docs/exercises.md tells {sorted(told)}, test/exercises.json has {sorted(names)}")
    for ex in exercises:
        if ex["name"] not in told:
            continue
        if not ex["question"] or not ex["look"] or not ex["answer"]:
            problems.append(f"{ex['name']}: its section lacks a question, a 'Look at' or a folded answer")
        for name in ex["expect"]:
            short = name.split("/")[-1].replace("python:", "")
            if short not in ex["answer"]:
                problems.append(f"{ex['name']}: its answer in docs/exercises.md does not name {short}")
    return problems


def has_switches(build):
    try:
        with open(os.path.join(build, "CMakeCache.txt"), encoding="utf-8") as f:
            return "REVIVE_PLANTED_BUG:BOOL=ON" in f.read()
    except OSError:
        return False


def main(argv):
    if not argv:
        print(__doc__)
        return 2
    root = os.path.abspath(argv[0])
    args = argv[1:]
    build = os.path.join(root, "build", "dev")
    if "--build" in args:
        i = args.index("--build")
        if i + 1 >= len(args):
            print("exercise: --build needs a directory", file=sys.stderr)
            return 2
        build = os.path.abspath(args[i + 1])
        del args[i:i + 2]
    exercises = load(root)
    by_name = {ex["name"]: ex for ex in exercises}
    if not args or args == ["--list"]:
        for n, ex in enumerate(exercises, 1):
            print(f"{n:2}. {ex['name']:<26} {re.sub(r'^[0-9]+[.] ', '', ex['title'])}")
            print(f"    {'':<26} {ex['question']}")
        print("\nbash scripts/dev exercise NAME runs one; docs/exercises.md has the answers.")
        return 0
    if not has_switches(build):
        print(f"exercise: {build} was not built with the exercises' switches (REVIVE_PLANTED_BUG, the dev "
              "preset has it)", file=sys.stderr)
        return 2
    if args[0] == "--check":
        problems = check_docs(root, exercises)
        for ex in exercises:
            failed, tour, logs = run(root, build, ex)
            expect = set(ex["expect"])
            ok = failed == expect and (ex.get("tour") is None or bool(tour))
            print(f"{'ok  ' if ok else 'FAIL'} {ex['name']}: {len(failed)} of {count_cases(build, ex)} failed"
                  + (f", {len(tour)} of the tour's narration checks failed" if tour else ""))
            if not ok:
                if failed - expect:
                    problems.append(f"{ex['name']}: failed but not named by its answer: {sorted(failed - expect)}")
                if expect - failed:
                    problems.append(f"{ex['name']}: named by its answer but passed: {sorted(expect - failed)}")
                if ex.get("tour") and not tour:
                    problems.append(f"{ex['name']}: the tour's {ex['tour']} did not notice")
                print(logs[-4000:])
        for p in problems:
            print("problem:", p)
        return 1 if problems else 0
    if args[0] == "--discover":
        if len(args) < 2 or args[1] not in by_name:
            print("exercise: --discover needs an exercise's name", file=sys.stderr)
            return 2
        ex = by_name[args[1]]
        failed, tour, logs = run(root, build, ex)
        print(json.dumps(sorted(failed), indent=2))
        print("tour:", tour[:3] if tour else tour)
        return 0
    name = args[0]
    if name not in by_name:
        print(f"no exercise named {name}; bash scripts/dev exercise --list lists them", file=sys.stderr)
        return 2
    ex = by_name[name]
    failed, tour, _ = run(root, build, ex)
    describe(ex, failed, tour)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
