"""What docs/walkthrough.ipynb uses besides `revive`: `show(label)` puts the watched
object's row (revive.watched()) and a picture of who owns whom in the notebook, and the
cell magic `%%E4` runs its cell in a second interpreter of the same process, one that
imported revive in era E4.

Why a second interpreter: an interpreter reads REVIVE_ERA once, when it first imports
revive, so one interpreter cannot show both eras.  The notebook's own interpreter runs
E2; `%%E4` cells run in a CPython subinterpreter (3.11's _xxsubinterpreters, as
test/python/test_interpreters.py uses them), which keeps its variables from one cell to
the next and sends its rows and its printed text back over a channel.

The pictures come from revive.tour.dot_source, as `python3 -m revive.tour --pictures`
draws them, rendered by Graphviz's dot when it is installed (each row is also shown as
text, which is what tools/check_notebook.py compares).
"""
import json
import os
import shutil
import subprocess
import textwrap

import _xxsubinterpreters as interpreters
from IPython.core.magic import register_cell_magic
from IPython.display import display

import revive
from revive.tour import dot_source

COLUMNS = ("state", "n", "r", "tag", "owns", "cdata")
ROWS = []  # (era, label, row) of every show(), in order: side_by_side() reads them


def _render(era, label, w):
    ROWS.append((era, label, w))
    cells = {k: ("1" if w[k] else "0") if k == "owns" else str(w[k]) for k in COLUMNS if k in w}
    text = f"{era} | {label}: " + " ".join(f"{k}={cells[k]}" for k in COLUMNS if k in cells)
    html = ("<table><tr><th>era</th><th>step</th>" + "".join(f"<th>{k}</th>" for k in COLUMNS) + "</tr><tr>"
            f"<td>{era}</td><td>{label}</td>" + "".join(f"<td>{cells.get(k, '-')}</td>" for k in COLUMNS) +
            "</tr></table>")
    display({"text/plain": text, "text/html": html}, raw=True)
    if shutil.which("dot"):
        svg = subprocess.run(["dot", "-Tsvg"], input=dot_source("walkthrough", f"{era}: {label}", w),
                             capture_output=True, text=True, check=True).stdout
        display({"image/svg+xml": svg, "text/plain": f"(the picture of {era} | {label})"}, raw=True)


def show(label):
    """The watched object's row and picture, in this (the notebook's) interpreter."""
    _render(revive.era(), label, revive.watched())


def side_by_side():
    """Every step shown so far, E2's row beside E4's where both eras showed a step of
    that name."""
    by_era = {"E2": {}, "E4": {}}
    order = []
    for era, label, w in ROWS:
        if label not in by_era["E2"] and label not in by_era["E4"]:
            order.append(label)
        by_era[era][label] = w

    def cell(w):
        if w is None:
            return ""
        return " ".join(f"{k}={('1' if w[k] else '0') if k == 'owns' else w[k]}" for k in COLUMNS if k in w)

    text = "\n".join(f"{label:<28} E2: {cell(by_era['E2'].get(label)):<60} E4: {cell(by_era['E4'].get(label))}"
                     for label in order)
    html = "<table><tr><th>step</th><th>E2</th><th>E4</th></tr>" + "".join(
        f"<tr><td>{label}</td><td>{cell(by_era['E2'].get(label))}</td><td>{cell(by_era['E4'].get(label))}</td></tr>"
        for label in order) + "</table>"
    display({"text/plain": text, "text/html": html}, raw=True)


# ---- %%E4: a second interpreter, in era E4 ------------------------------------------

_E4_SETUP = """
import contextlib, io, json, traceback, warnings
import _xxsubinterpreters as _interpreters
import revive

_out = io.StringIO()

def _send(*message):
    _interpreters.channel_send(_CHANNEL, json.dumps(message).encode())

def _flush():
    if _out.getvalue():
        _send("text", _out.getvalue())
        _out.seek(0)
        _out.truncate()

def show(label):
    _flush()
    _send("row", revive.era(), label, revive.watched())

def _run(source):
    with contextlib.redirect_stdout(_out), contextlib.redirect_stderr(_out), warnings.catch_warnings():
        warnings.simplefilter("always")
        try:
            exec(compile(source, "<%%E4 cell>", "exec"), globals())
        except Exception as e:
            print(f"{type(e).__name__}: {e}")
    _flush()
    _send("done")
"""

_e4 = {}


def _e4_interpreter():
    if not _e4:
        channel = interpreters.channel_create()
        sub = interpreters.create()
        saved = os.environ.get("REVIVE_ERA")
        os.environ["REVIVE_ERA"] = "E4"  # read by the subinterpreter's first import of revive
        try:
            interpreters.run_string(sub, _E4_SETUP, shared={"_CHANNEL": int(channel)})
        finally:
            if saved is None:
                del os.environ["REVIVE_ERA"]
            else:
                os.environ["REVIVE_ERA"] = saved
        _e4.update(sub=sub, channel=channel)
    return _e4["sub"], _e4["channel"]


@register_cell_magic
def E4(line, cell):
    """%%E4: run this cell in the era-E4 interpreter (its own variables, its own revive)."""
    sub, channel = _e4_interpreter()
    interpreters.run_string(sub, "_run(_SOURCE)", shared={"_SOURCE": textwrap.dedent(cell)})
    while True:
        message = json.loads(interpreters.channel_recv(channel))
        if message[0] == "done":
            break
        if message[0] == "text":
            print(message[1], end="")
        else:
            _render(message[1], message[2], message[3])
