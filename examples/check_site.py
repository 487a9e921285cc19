"""check_site: revive-tour --html writes the explorer as the tour tells it.

    python3 examples/check_site.py REVIVE_TOUR OUT_DIR

Writes the site for every scenario into OUT_DIR, then checks, without a browser: the
index links a page for every scenario of `revive-tour --list`; each page's data (the
ERAS it hands its script) holds, for every table the scenario tells, exactly the rows,
actions and order `revive-tour --rows` prints for it, E4's where the scenario has an E4
telling and nowhere else; every picture a step names exists, and a step names one for
every step when Graphviz is installed (otherwise the index says the pictures are
missing); the pages load only local files.
"""
import json
import os
import re
import shutil
import subprocess
import sys


def rows(tour, *args):
    out = subprocess.run([tour, "--rows", *args], capture_output=True, text=True, check=True).stdout
    told = {}
    for line in out.splitlines():
        slug, step, row, action = line.split("\t")
        told.setdefault(slug, []).append((action, row))
    return told


def main(tour, out):
    shutil.rmtree(out, ignore_errors=True)
    r = subprocess.run([tour, "--html", out], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"revive-tour --html exited {r.returncode}:\n{r.stdout}{r.stderr}")
    listing = subprocess.run([tour, "--list"], capture_output=True, text=True, check=True).stdout
    names = [l.split()[0] for l in listing.splitlines() if l and not l.startswith(" ")]
    e4 = set()
    for block in re.split(r"\n(?=\S)", listing):
        if "also told in era E4" in block:
            e4.add(block.split()[0])
    told = rows(tour)
    told.update(rows(tour, "--era", "e4"))
    index = open(os.path.join(out, "index.html"), encoding="utf-8").read()
    rendered = shutil.which("dot") is not None
    problems = []
    if not rendered and "pictures are missing" not in index:
        problems.append("without Graphviz the index must say the pictures are missing")
    for name in names:
        if f'href="{name}.html"' not in index:
            problems.append(f"the index does not link {name}.html")
        page = open(os.path.join(out, name + ".html"), encoding="utf-8").read()
        if re.search(r'(src|href)="(https?:)?//', page):
            problems.append(f"{name}.html loads something from the network")
        eras = json.loads(re.search(r"const ERAS = (.*?);</script>", page, re.S).group(1))
        slugs = [e["slug"] for e in eras]
        want = sorted(s for s in told if s == name or s.startswith(name + "/")) + ([name + "-e4"] if name in e4 else [])
        if sorted(slugs) != sorted(want):
            problems.append(f"{name}.html shows {slugs}, the tour tells {want}")
        for era in eras:
            got = [(st["action"], st["row"]) for st in era["steps"]]
            want_rows = told.get(era["slug"])
            if name == "tagging-race":  # which of sixteen threads wins differs from run to run
                def mask(steps):
                    return [(a, re.sub(r"tag=I\d+", "tag=I?", row)) for a, row in steps or []]
                got, want_rows = mask(got), mask(want_rows)
            if got != want_rows:
                problems.append(f"{name}.html: the steps of {era['slug']} are not the tour's rows")
            for i, st in enumerate(era["steps"], 1):
                if st["picture"] and not os.path.exists(os.path.join(out, st["picture"])):
                    problems.append(f"{name}.html: step {i} names a missing picture {st['picture']}")
                if rendered and not st["picture"]:
                    problems.append(f"{name}.html: {era['slug']} step {i} has no picture although dot is installed")
    for p in problems:
        print("problem:", p)
    if problems:
        return 1
    print(f"the explorer: {len(names)} pages, every step as the tour tells it"
          + ("" if rendered else " (no Graphviz: pictures missing, and the index says so)"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
