"""check_browser: the explorer in a real browser (headless Chromium through Selenium).

    python3 examples/check_browser.py SITE_DIR REVIVE_TOUR [--screenshot PNG]

SITE_DIR is a site revive-tour --html wrote (check_site.py writes one, with the real
CPython's rows beside SITE_DIR as SITE_DIR.real-rows.tsv).  For every scenario page,
the browser opens it, steps to the end with the arrow key and back with the button,
and at each step checks what is displayed:
  - each column's row equals the tour's row for that step (revive-tour --rows, and
    --era e4 for the E4 column), and the real CPython's row, where shown, equals
    tour.py's and is marked equal;
  - the column headings: an E4 column exactly where the scenario has an E4 telling;
  - the ownership picture and the state machine are loaded images (not broken);
  - each transition of the row shows two links, its Note and its function;
  - the position ("step i of n") and the URL fragment (#step-i) follow;
then that every distinct Note and function link leads to an element that exists, that
opening a page at #step-N shows step N, and that the browser logged no error.  Saves
a screenshot of preserved.html at step 6 (SITE_DIR/explorer.png, or PNG).

Needs Debian's chromium, chromium-driver and python3-selenium (scripts/dev test installs
them).  Without them it says what is missing and exits 77, which CTest counts as
skipped, unless REVIVE_REQUIRE_BROWSER=1 (scripts/dev sets it): then it fails.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import time

SKIP = 77
CHROMIUM = "/usr/bin/chromium"
DRIVER = "/usr/bin/chromedriver"


def unavailable(why):
    if os.environ.get("REVIVE_REQUIRE_BROWSER") == "1":
        sys.exit(f"check_browser: {why} (REVIVE_REQUIRE_BROWSER=1: the browser test must run)")
    print(f"check_browser: skipped: {why}")
    sys.exit(SKIP)


try:
    import selenium  # noqa: F401
except ImportError:
    # Debian's python3-selenium, for a Python that is not Debian's (a pyenv one).
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        import selenium  # noqa: F401
    except ImportError:
        unavailable("Selenium is not installed (apt-get install python3-selenium)")
from check_site import parse_rows, rows  # noqa: E402  (this folder's)
from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

KEYS = ["n", "r", "tag", "owns", "cdata", "via"]

# Everything displayed at this moment, read in one call.
READ = """
const eras = [...document.querySelectorAll(".era")].map(box => {
  const cells = cls => {
    const tr = box.querySelector("table.row tr." + cls);
    if (!tr) return null;
    const out = {};
    for (const td of tr.querySelectorAll("td[data-key]")) out[td.dataset.key] = td.textContent;
    return out;
  };
  const loaded = sel => {
    const img = box.querySelector(sel + " img");
    if (img === null) return "none";
    if (!img.complete) return "loading";
    return img.naturalWidth > 0 ? "loaded" : "broken";
  };
  return {heading: box.querySelector("h2").textContent, action: box.querySelector(".action").textContent,
          fake: cells("fake"), real: cells("real"),
          mark: box.querySelector(".real-mark").textContent,
          transitions: box.querySelectorAll(".via .transition").length,
          links: [...box.querySelectorAll(".via a")].map(a => a.getAttribute("href")),
          picture: loaded(".picture-box"), machine: loaded(".machine-box")};
});
return {position: document.getElementById("position").textContent, hash: location.hash, eras};
"""


def row_of(cells):
    """The displayed cells as a row of revive-tour --rows ("L n=2 ... via=T1 fin=0")."""
    parts = [cells["state"]]
    parts += [f"{k}={cells[k]}" for k in KEYS if cells[k] != "-"]
    return " ".join(parts + [f"fin={cells['fin']}"])


def real_told(site):
    """The real CPython's rows check_site.py saved beside the site, if it did."""
    path = site.rstrip("/") + ".real-rows.tsv"
    return parse_rows(open(path, encoding="utf-8").read()) if os.path.exists(path) else {}


def mask(row, name):
    return re.sub(r"tag=I\d+", "tag=I?", row) if name == "tagging-race" else row


def start_browser():
    """Chromium under its WebDriver, headless.  The driver is started here, on 127.0.0.1:
    Selenium's own Service would wait for it at "localhost", which a minimal Debian root
    without /etc/hosts cannot resolve."""
    for path, package in ((CHROMIUM, "chromium"), (DRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            unavailable(f"{path} is missing (apt-get install {package})")
    try:
        socket.getaddrinfo("localhost", None)
    except OSError:
        # The driver talks to the browser at "localhost" (scripts/dev adds it when missing).
        unavailable("'localhost' does not resolve (no /etc/hosts?; bash scripts/dev test adds it)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    driver_process = subprocess.Popen([DRIVER, f"--port={port}"], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if driver_process.poll() is not None or time.monotonic() > deadline:
                driver_process.kill()
                sys.exit(f"check_browser: {DRIVER} did not start listening on 127.0.0.1:{port}")
            time.sleep(0.1)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--hide-scrollbars"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        return webdriver.Remote(command_executor=f"http://127.0.0.1:{port}", options=options), driver_process
    except Exception:
        driver_process.kill()
        raise


def main():
    args = sys.argv[1:]
    screenshot = None
    if "--screenshot" in args:
        k = args.index("--screenshot")
        screenshot = args[k + 1]
        del args[k:k + 2]
    if len(args) != 2:
        sys.exit(__doc__)
    site, tour = os.path.abspath(args[0]), args[1]
    if not os.path.exists(os.path.join(site, "index.html")):
        sys.exit(f"check_browser: {site}/index.html is missing: write the site first (check_site.py)")
    listing = subprocess.run([tour, "--list"], capture_output=True, text=True, check=True).stdout
    names = [l.split()[0] for l in listing.splitlines() if l and not l.startswith(" ")]
    e4 = {b.split()[0] for b in re.split(r"\n(?=\S)", listing) if "also told in era E4" in b}
    fake = rows(tour)
    fake.update(rows(tour, "--era", "e4"))
    real = real_told(site)
    problems, links, steps_seen = [], set(), 0
    # With Graphviz the site has every picture; without, none (and says so).
    pictures = "loaded" if shutil.which("dot") else "none"
    driver, driver_process = start_browser()
    try:
        for name in names:
            driver.get(f"file://{site}/{name}.html")
            first = driver.execute_script(READ)
            headings = [e["heading"] for e in first["eras"]]
            has_e4 = any(h.startswith("E4") for h in headings)
            if has_e4 != (name in e4):
                problems.append(f"{name}: columns {headings}, but the scenario "
                                f"{'has' if name in e4 else 'has no'} E4 telling")
            slugs = sorted(s for s in fake if s == name or s.startswith(name + "/"))
            slugs += [name + "-e4"] if name in e4 else []
            count = max(len(fake[s]) for s in slugs)
            body = driver.find_element(By.TAG_NAME, "body")

            def check(i, how):
                shown = driver.execute_script(READ)
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and any(
                        "loading" in (e["picture"], e["machine"]) for e in shown["eras"]):
                    time.sleep(0.05)  # the step's pictures are still loading
                    shown = driver.execute_script(READ)
                where = f"{name}, step {i + 1} ({how})"
                if shown["position"] != f"step {i + 1} of {count}" or shown["hash"] != f"#step-{i + 1}":
                    problems.append(f"{where}: position {shown['position']!r}, fragment {shown['hash']!r}")
                for slug, era in zip(slugs, shown["eras"]):
                    steps = fake[slug]
                    if i >= len(steps):
                        continue
                    action, row = steps[i]
                    if era["fake"] is None or mask(row_of(era["fake"]), name) != mask(row, name):
                        problems.append(f"{where}, {slug}: shows {era['fake'] and row_of(era['fake'])!r}, "
                                        f"the tour's row is {row!r}")
                    if era["action"] != action:
                        problems.append(f"{where}, {slug}: shows the action {era['action']!r}, not {action!r}")
                    if slug in real:
                        want = real[slug][i][1]
                        if era["real"] is None or row_of(era["real"]) != want:
                            problems.append(f"{where}, {slug}: the real CPython row is not tour.py's {want!r}")
                        if "equals" not in era["mark"]:
                            problems.append(f"{where}, {slug}: marked {era['mark']!r}")
                    elif era["real"] is not None:
                        problems.append(f"{where}, {slug}: shows a real row tour.py did not tell")
                    if era["picture"] != pictures or era["machine"] != pictures:
                        problems.append(f"{where}, {slug}: the picture is {era['picture']}, "
                                        f"the state machine {era['machine']}")
                    via = re.search(r"via=(\S+)", row)
                    taken = len(via.group(1).split(",")) if via else 0
                    if era["transitions"] != taken or len(era["links"]) != 2 * taken:
                        problems.append(f"{where}, {slug}: {era['transitions']} transitions and "
                                        f"{len(era['links'])} links shown for via={via and via.group(1)}")
                    links.update(era["links"])

            check(0, "opened")
            for i in range(1, count):
                body.send_keys(Keys.ARROW_RIGHT)
                check(i, "arrow key forward")
                steps_seen += 1
            body.send_keys(Keys.ARROW_RIGHT)  # past the end: stays
            check(count - 1, "forward at the end")
            back = driver.find_element(By.ID, "prev")
            for i in range(count - 2, -1, -1):
                back.click()
                check(i, "back button")
            # A link into the middle, as a document would give it.
            middle = (count + 1) // 2
            driver.get(f"file://{site}/{name}.html#step-{middle}")
            check(middle - 1, "opened at its fragment")
        for href in sorted(links):
            page, _, anchor = href.partition("#")
            driver.get(f"file://{site}/{page}#{anchor}")
            if not driver.execute_script("return document.getElementById(arguments[0]) !== null", anchor):
                problems.append(f"the link {href} leads to no element")
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        for e in errors:
            problems.append(f"the browser logged: {e['message']}")
        driver.get(f"file://{site}/preserved.html#step-6")
        time.sleep(0.3)  # let the pictures paint
        for path in filter(None, [os.path.join(site, "explorer.png"), screenshot]):
            if not driver.save_screenshot(path) or os.path.getsize(path) == 0:
                problems.append(f"no screenshot was saved to {path}")
    finally:
        driver.quit()
        driver_process.terminate()
        driver_process.wait()
    for p in problems[:40]:
        print("problem:", p)
    if problems:
        print(f"{len(problems)} problem(s)")
        return 1
    print(f"the explorer in Chromium: {len(names)} pages, {steps_seen} steps forward and as many back, "
          f"{len(links)} Note and function links, no console error; screenshot {os.path.join(site, 'explorer.png')}"
          + (f" and {screenshot}" if screenshot else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
