"""Executes docs/walkthrough.ipynb and holds it to what it shows, so that it cannot rot.

    python3 tools/check_notebook.py NOTEBOOK [--write]

Runs every cell with Jupyter (Debian's jupyter-nbconvert and python3-ipykernel: the
kernel is /usr/bin/python3) from the notebook's folder, with `revive` found as the
environment says (PYTHONPATH=build/dev/cpython/python; CTest's docs.notebook sets it).
Then checks:
  - no cell raised, and the first cell's interpreter runs E2, the %%E4 ones E4;
  - every cell printed what the saved notebook shows (the text of its streams and the
    text form of each row: the saved outputs are the executed ones, not hand-written);
  - each row shown has its picture (Graphviz installed), or none was drawn (not installed).
--write saves the executed notebook over NOTEBOOK instead (after changing its cells).

Exit status: 0 when it holds, 1 with the differences, 77 when Jupyter is not installed
(unless REVIVE_REQUIRE_PYTHON_TOOLS=1, as scripts/dev test sets: then 1).
"""
import os
import shutil
import sys


def outputs_as_text(cell):
    """A code cell's outputs as the lines a reader sees: streams, and each display's
    text form (a picture is the line its text form gives)."""
    lines = []
    for out in cell.get("outputs", []):
        kind = out["output_type"]
        if kind == "stream":
            lines += [f"{out['name']}: {line}" for line in out["text"].rstrip("\n").split("\n")]
        elif kind in ("display_data", "execute_result"):
            lines.append(out["data"].get("text/plain", "(no text form)"))
        elif kind == "error":
            lines.append(f"error: {out['ename']}: {out['evalue']}")
    return lines


def main():
    args = sys.argv[1:]
    write = "--write" in args
    args = [a for a in args if a != "--write"]
    if len(args) != 1:
        sys.exit("usage: python3 tools/check_notebook.py NOTEBOOK [--write]")
    path = os.path.abspath(args[0])
    try:
        import nbformat
        from nbconvert.preprocessors import CellExecutionError, ExecutePreprocessor
    except ImportError as e:
        print(f"check_notebook: Jupyter is not installed ({e}); Debian: apt-get install jupyter-nbconvert "
              "python3-ipykernel python3-nbformat (scripts/dev test installs them)")
        sys.exit(1 if os.environ.get("REVIVE_REQUIRE_PYTHON_TOOLS") == "1" else 77)

    saved = nbformat.read(path, as_version=4)
    executed = nbformat.read(path, as_version=4)
    # ipykernel's debugger complains about frozen modules on stderr; it is not the notebook's.
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    runner = ExecutePreprocessor(timeout=300, kernel_name="python3")
    try:
        runner.preprocess(executed, {"metadata": {"path": os.path.dirname(path)}})
    except CellExecutionError as e:
        sys.exit(f"check_notebook: a cell raised:\n{e}")

    if write:
        nbformat.write(executed, path)
        print(f"check_notebook: executed and saved {path}")
        return 0

    problems = []
    code_cells = [(s, e) for s, e in zip(saved.cells, executed.cells) if e.cell_type == "code"]
    pictures = shutil.which("dot") is not None
    rows = 0
    for number, (before, after) in enumerate(code_cells, start=1):
        first = after.source.splitlines()[0] if after.source else ""
        where = f"code cell {number} ({first[:50]!r})"
        now, then = outputs_as_text(after), outputs_as_text(before)
        if any(line.startswith("error: ") for line in now):
            problems.append(f"{where} raised: {[l for l in now if l.startswith('error: ')]}")
        if now != then:
            problems.append(f"{where} prints other things than the saved notebook shows:\n"
                            f"      saved:    {then}\n      executed: {now}")
        era = "E4" if after.source.startswith("%%E4") else "E2"
        for line in now:
            if " | " in line and line.split(" | ")[0] in ("E2", "E4") and not line.startswith("("):
                rows += 1
                if line.split(" | ")[0] != era:
                    problems.append(f"{where}: a row of era {line.split(' | ')[0]} in a cell of era {era}")
        drawn = sum(1 for out in after.get("outputs", []) if "image/svg+xml" in out.get("data", {}))
        shown = sum(1 for line in now if line.startswith(("E2 | ", "E4 | ")))
        if drawn != (shown if pictures else 0):
            problems.append(f"{where}: {shown} rows and {drawn} pictures (Graphviz {'is' if pictures else 'is not'} "
                            "installed)")
        if "this interpreter:" in after.source and f"stdout: this interpreter: {era}" not in now:
            problems.append(f"{where}: its interpreter should run era {era}: {now}")
    if rows == 0:
        problems.append("no cell showed a row: is show() still called?")
    if problems:
        print(f"check_notebook: {path} does not hold ({len(problems)}):")
        for p in problems:
            print("  - " + p)
        print("(after changing cells on purpose: python3 tools/check_notebook.py NOTEBOOK --write)")
        return 1
    print(f"check_notebook: {len(code_cells)} code cells executed, {rows} rows as saved, "
          f"{'each with its picture' if pictures else 'no pictures (Graphviz not installed)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
