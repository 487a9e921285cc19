#!/usr/bin/env python3
"""exercise: switch off one rule of the design and let the tests say what it was for.

    python3 tools/exercise.py ROOT --list
    python3 tools/exercise.py ROOT NAME [--build DIR]      # run one exercise
    python3 tools/exercise.py ROOT --check [--build DIR] [--preset P]
    python3 tools/exercise.py ROOT --discover NAME [--build DIR]

`bash scripts/dev exercise ...` builds what is needed and calls this.  The exercises are
in test/exercises.json (what each switches off, what it runs, which tests its answer
names) and docs/exercises.md (the question, what to look at, the answer).  An exercise
runs its Boost.Test cases, its Python tests and its tour scenario with the environment
variable REVIVE_EXERCISE naming the rule (pyslot/include/revive/pyslot/exercise.h), and
prints which of them failed.

--check runs every exercise of the build's preset (CI): with its rule off, exactly the
tests its answer names must fail and the tour must disagree with its narration; with
every rule on (the plain suite, run by the test command) everything passes.  It also
checks that docs/exercises.md tells every exercise and no other.
--discover prints the failing set of one exercise, to write its entry.
"""
import json
import os
import re
import subprocess
import sys

TIMEOUT = 300


def load(root):
    with open(os.path.join(root, "test", "exercises.json"), encoding="utf-8") as f:
        return json.load(f)


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
    failed, outs = set(), []
    for case in boost_cases(build, exe, spec):
        cmd = [path, f"--run_test={case}", "--log_level=error", "--report_level=no", "--color_output=no"]
        try:
            r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            failed.add(case + " (timed out)")
            continue
        if r.returncode != 0:
            failed.add(case)
            outs.append(r.stdout + r.stderr)
    return failed, "\n".join(outs)


def run_python(root, build, tests, env):
    if not tests:
        return set(), ""
    env = dict(env)
    pythonpath = [os.path.join(build, "cpython", "python"), "/usr/lib/python3/dist-packages"]
    env["PYTHONPATH"] = os.pathsep.join(pythonpath)
    cmd = [sys.executable, "-m", "unittest"] + tests
    try:
        r = subprocess.run(cmd, env=env, cwd=os.path.join(root, "test", "python"), capture_output=True,
                           text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"python: timed out"}, ""
    out = r.stdout + r.stderr
    failed = {"python:" + m for m in re.findall(r"^(?:FAIL|ERROR): (\w+) \(", out, re.M)}
    if r.returncode != 0 and not failed:
        failed.add(f"python: exit {r.returncode}")
    return failed, out


def run_tour(build, scenario, env):
    if not scenario:
        return None, ""
    tour = os.path.join(build, "examples", "revive-tour")
    r = subprocess.run([tour, scenario], env=env, capture_output=True, text=True, timeout=TIMEOUT)
    out = r.stdout + r.stderr
    return [l.strip() for l in out.splitlines() if "!! narration check failed" in l], out


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
            print(f"  the tour's {ex['tour']}: {len(tour)} step(s) disagree with the narration; the first:")
            print(f"    {tour[0]}")
        else:
            print(f"  the tour's {ex['tour']}: every step as narrated")
    print(f"  look at: {ex['look']}")
    print(f"  the answer: docs/exercises.md, \"{ex['title']}\"")


def check_docs(root, exercises):
    with open(os.path.join(root, "docs", "exercises.md"), encoding="utf-8") as f:
        text = f.read()
    told = re.findall(r"^bash scripts/dev exercise ([\w-]+)$", text, re.M)
    names = [ex["name"] for ex in exercises]
    problems = []
    if sorted(told) != sorted(names):
        problems.append(f"docs/exercises.md tells {sorted(told)}, test/exercises.json has {sorted(names)}")
    for ex in exercises:
        if ex["title"] not in text:
            problems.append(f"docs/exercises.md has no exercise titled \"{ex['title']}\"")
        for name in ex["expect"]:
            short = name.split("/")[-1].replace("python:", "")
            if short not in text:
                problems.append(f"{ex['name']}: the answer in docs/exercises.md does not name {short}")
    return problems


def main(argv):
    root = os.path.abspath(argv[0])
    args = argv[1:]
    build = os.path.join(root, "build", "dev")
    if "--build" in args:
        i = args.index("--build")
        build = os.path.abspath(args[i + 1])
        del args[i:i + 2]
    preset = None
    if "--preset" in args:
        i = args.index("--preset")
        preset = args[i + 1]
        del args[i:i + 2]
    exercises = load(root)
    by_name = {ex["name"]: ex for ex in exercises}
    if not args or args == ["--list"]:
        for n, ex in enumerate(exercises, 1):
            print(f"{n:2}. {ex['name']:<26} {ex['title']}")
            print(f"    {'':<26} {ex['question']}")
        print("\nbash scripts/dev exercise NAME runs one; docs/exercises.md has the answers.")
        return 0
    if args[0] == "--check":
        problems = check_docs(root, exercises)
        for ex in exercises:
            if preset and ex.get("preset", "dev") != preset:
                continue
            failed, tour, logs = run(root, build, ex)
            expect = set(ex["expect"])
            ok = failed == expect and (ex.get("tour") is None or bool(tour))
            print(f"{'ok  ' if ok else 'FAIL'} {ex['name']}: {len(failed)} of {count_cases(build, ex)} failed"
                  + (f", the tour disagrees at {len(tour)} step(s)" if tour else ""))
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
