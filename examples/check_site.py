"""check_site: revive-tour --html writes the explorer as the tour tells it.

    python3 examples/check_site.py REVIVE_TOUR OUT_DIR [PYTHON TOUR_PY]

Writes the site for every scenario into OUT_DIR (with PYTHON and TOUR_PY, the real
CPython's rows too: TOUR_PY --rows in era E2 and, REVIVE_ERA=E4, in E4, saved as
OUT_DIR/real-rows.tsv), then checks, without a browser:
  - the index links a page for every scenario of `revive-tour --list`;
  - each page's data (the ERAS it hands its script) holds, for every table the scenario
    tells, exactly the rows, actions and order `revive-tour --rows` prints for it, E4's
    where the scenario has an E4 telling and nowhere else;
  - where the real CPython told the table, each step carries its row, marked equal to
    the fake one (via aside), and every table tour.py tells is shown;
  - every picture a step names exists (who owns whom, and the state machine so far),
    and every step names both when Graphviz is installed (otherwise the index says the
    pictures are missing);
  - every transition a row names links to a Note that notes.html defines and to a line
    of a source page that holds the function's name;
  - the pages load only local files;
  - every picture of docs/lifecycle.md, and those of README.md that link, lead to their
    step in the explorer (build/explorer/<scenario>.html#step-N): the step the picture's
    caption names, with its action, or the last step for a state machine.
The browser test (check_browser.py) then uses OUT_DIR.
"""
import html
import json
import os
import re
import shutil
import subprocess
import sys


def parse_rows(text):
    """--rows output (revive-tour's or tour.py's): {slug: [(action, row), ...]}."""
    told = {}
    for line in text.splitlines():
        slug, _, row, action = line.split("\t")
        told.setdefault(slug, []).append((action, row))
    return told


def rows(tour, *args):
    """revive-tour --rows ARGS, parsed."""
    return parse_rows(subprocess.run([tour, "--rows", *args], capture_output=True, text=True, check=True).stdout)


def real_rows(python, tour_py, out):
    """tour.py --rows in both eras, into OUT/real-rows.tsv; {slug: [(action, row)]}."""
    text = ""
    for era in ("E2", "E4"):
        env = dict(os.environ, REVIVE_ERA=era)
        done = subprocess.run([*python.split(";"), tour_py, "--rows"], capture_output=True, text=True, env=env)
        if done.returncode != 0:
            sys.exit(f"{tour_py} --rows (REVIVE_ERA={era}) exited {done.returncode}:\n{done.stderr}")
        text += done.stdout
    path = os.path.join(out + ".real-rows.tsv")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path, parse_rows(text)


def fields(row):
    """A row's fields: {"state": "Z", "n": "1", ...}; a value may hold spaces (tag=<unloaded
    interpreter>), so it runs up to the next key=."""
    state, _, rest = row.partition(" ")
    out = {"state": state}
    out.update(re.findall(r"(\w+)=(.*?)(?= \w+=|$)", rest))
    return out


def without_via(row):
    return " ".join(w for w in row.split() if not w.startswith("via="))


def mask_tags(steps):
    """tagging-race: which of sixteen threads wins differs from run to run."""
    return [(a, re.sub(r"tag=I\d+", "tag=I?", row)) for a, row in steps or []]


def check_links(out, links, problems):
    notes = open(os.path.join(out, "notes.html"), encoding="utf-8").read()
    anchors = set(re.findall(r'<h2 id="([^"]+)">', notes))
    for era, table in links.items():
        for via, info in table.items():
            page, _, anchor = info["note_href"].partition("#")
            if page != "notes.html" or anchor not in anchors:
                problems.append(f"{era} {via}: the Note link {info['note_href']} leads nowhere")
            page, _, line = info["function_href"].partition("#")
            path = os.path.join(out, page)
            if not os.path.exists(path):
                problems.append(f"{era} {via}: {page} was not written")
                continue
            source = open(path, encoding="utf-8").read()
            m = re.search(rf'<span id="{re.escape(line)}">(.*?)</span>', source)
            name = info["function"].split("::")[-1]
            if not m or name not in m.group(1):
                problems.append(f"{era} {via}: {info['function_href']} is not the line that defines {name}")


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PICTURE = re.compile(r"!\[[^\]]*\]\(([^)\s]+\.svg)\)")
LINKED = re.compile(r"\[!\[[^\]]*\]\(([^)\s]+\.svg)\)\]\(([^)\s#]+)#step-(\d+)\)")


def check_doc_links(out, problems):
    """The documents' pictures lead to their step: (doc, picture, page, step) checked."""
    checked = 0
    for doc, every in (("docs/lifecycle.md", True), ("README.md", False)):
        text = open(os.path.join(ROOT, doc), encoding="utf-8").read()
        linked = {m.group(1): m for m in LINKED.finditer(text)}
        if every:
            for m in PICTURE.finditer(text):
                if m.group(1) not in linked:
                    problems.append(f"{doc}: the picture {m.group(1)} does not link to its step in the explorer")
        base = os.path.dirname(os.path.join(ROOT, doc))
        for picture, m in linked.items():
            target = os.path.relpath(os.path.join(base, m.group(2)), os.path.join(ROOT, "build", "explorer"))
            step = int(m.group(3))
            page = os.path.join(out, target)
            if target.startswith("..") or not os.path.exists(page):
                problems.append(f"{doc}: {m.group(2)} is not a page of the explorer (build/explorer/)")
                continue
            eras = json.loads(re.search(r"const ERAS = (.*?);\n", open(page, encoding="utf-8").read(), re.S).group(1))
            svg = open(os.path.join(base, picture), encoding="utf-8").read()
            texts = [html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]
            era = next((e for e in eras if e["era"] == ("E4" if any(" in E4: " in t for t in texts) else "E2")), None)
            caption = next((re.match(r"step (\d+): (.*?)(?:\s+\(via [^)]*\))?$", t) for t in texts
                            if re.match(r"step \d+: ", t)), None)
            if era is None:
                problems.append(f"{doc}: {picture} is an E4 picture, but {target} has no E4 column")
            elif caption is None:  # a state machine: the whole path, the last step
                if step != len(era["steps"]):
                    problems.append(f"{doc}: {picture} shows the whole path; link step {len(era['steps'])}, not {step}")
            elif int(caption.group(1)) != step:
                problems.append(f"{doc}: {picture} is step {caption.group(1)}, the link says step {step}")
            elif step > len(era["steps"]) or era["steps"][step - 1]["action"] != caption.group(2).strip():
                problems.append(f"{doc}: {picture}'s action \"{caption.group(2).strip()}\" is not step {step} of {target}")
            checked += 1
    return checked


def main(tour, out, python=None, tour_py=None):
    shutil.rmtree(out, ignore_errors=True)
    real = {}
    command = [tour, "--html", out]
    if python:
        path, real = real_rows(python, tour_py, out)
        command += ["--real-rows", path]
    r = subprocess.run(command, capture_output=True, text=True)
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
    shown_real = set()
    links_checked = False
    for name in names:
        if f'href="{name}.html"' not in index:
            problems.append(f"the index does not link {name}.html")
        page = open(os.path.join(out, name + ".html"), encoding="utf-8").read()
        if re.search(r'(src|href)="(https?:)?//', page):
            problems.append(f"{name}.html loads something from the network")
        eras = json.loads(re.search(r"const ERAS = (.*?);\n", page, re.S).group(1))
        links = json.loads(re.search(r"const LINKS = (.*?);</script>", page, re.S).group(1))
        if not links_checked:
            check_links(out, links, problems)
            links_checked = True
        slugs = [e["slug"] for e in eras]
        want = sorted(s for s in told if s == name or s.startswith(name + "/")) + ([name + "-e4"] if name in e4 else [])
        if sorted(slugs) != sorted(want):
            problems.append(f"{name}.html shows {slugs}, the tour tells {want}")
        for era in eras:
            slug = era["slug"]
            got = [(st["action"], st["row"]) for st in era["steps"]]
            want_rows = told.get(slug)
            if name == "tagging-race":
                got, want_rows = mask_tags(got), mask_tags(want_rows)
            if got != want_rows:
                problems.append(f"{name}.html: the steps of {slug} are not the tour's rows")
            if slug in real:
                shown_real.add(slug)
                if [st.get("real") for st in era["steps"]] != [row for _, row in real[slug]]:
                    problems.append(f"{name}.html: {slug}'s real CPython rows are not tour.py's")
                for i, st in enumerate(era["steps"], 1):
                    equal = without_via(st["row"]) == st.get("real")
                    if st.get("real_equal") is not equal:
                        problems.append(f"{name}.html: {slug} step {i} is marked real_equal={st.get('real_equal')}")
                    elif not equal:
                        problems.append(f"{name}.html: {slug} step {i}: the real CPython's row \"{st.get('real')}\" "
                                        f"is not the fake one's \"{without_via(st['row'])}\"")
            elif any("real" in st for st in era["steps"]):
                problems.append(f"{name}.html: {slug} shows real rows tour.py did not print")
            for i, st in enumerate(era["steps"], 1):
                vias = [t for t in fields(st["row"]).get("via", "").split(",") if t]
                for t in vias:
                    if t not in links[era["era"]]:
                        problems.append(f"{name}.html: {slug} step {i} takes {t}, which links nowhere")
                for key in ("picture", "machine"):
                    if st[key] and not os.path.exists(os.path.join(out, st[key])):
                        problems.append(f"{name}.html: step {i} names a missing {key} {st[key]}")
                    if rendered and not st[key]:
                        problems.append(f"{name}.html: {slug} step {i} has no {key} although dot is installed")
    # tour.py runs every scenario in E4 too; the pages show the tables the fake tour tells.
    doc_links = check_doc_links(out, problems)
    if python and (set(real) & set(told)) - shown_real:
        problems.append(f"tour.py told tables no page shows: {sorted((set(real) & set(told)) - shown_real)}")
    for p in problems:
        print("problem:", p)
    if problems:
        return 1
    print(f"the explorer: {len(names)} pages, every step as the tour tells it; {doc_links} pictures of the "
          "documents lead to their step"
          + (f"; the real CPython's rows beside {len(shown_real)} tables, all equal" if python else "")
          + ("" if rendered else " (no Graphviz: pictures missing, and the index says so)"))
    return 0


if __name__ == "__main__":
    if len(sys.argv) not in (3, 5):
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
