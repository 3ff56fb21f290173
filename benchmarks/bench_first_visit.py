"""First visit to a page on a fresh server: seconds to its first screen, and whether torch was imported.

Issue 19 asks for the first visit to each page within 1 s of the server being up, with no torch import
on pages that do not need it. `bench_ui.py` times the preview pages (to their slider's numbers); this
times any page to a text that its first screen ends with, two ways, each round on a fresh process:

- `--mode browser`: `streamlit run app.py` of each `--app-root`, Chromium opens the page as soon as the
  server answers its health check, and the time runs from `page.goto` to the marker text on screen
  (`first_screen_s`) and, where the page has one, to its Plotly figure drawn (`figure_s`). The server's
  CPU seconds (its process tree, /proc) from start to the first screen are read too, since on a shared
  machine they move less with the load than the wall times.
- `--mode apptest`: Streamlit's AppTest in a fresh Python process: `at.run()` of the page, its wall and
  process CPU seconds, and whether `torch` was in `sys.modules` afterwards.

With two or more `--app-root`s (e.g. a `git archive` of the code before a change, and this tree) the
rounds alternate between them (A, B, A, B, ...), so both see the same load; the 1-minute load average
is printed before and after. The lab (`--home`) should hold finished runs for the pages that list them.

    python benchmarks/bench_first_visit.py --home DIR [--pages compare,report] [--rounds 3]
                                           [--app-root /tmp/before --app-root .] [--mode browser|apptest]
                                           [--no-warmup] [--json]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_spec = importlib.util.spec_from_file_location("e2e_support", ROOT / "tests" / "e2e" / "conftest.py")
e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(e2e)
_spec = importlib.util.spec_from_file_location("bench_ui", ROOT / "benchmarks" / "bench_ui.py")
bench_ui = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_ui)

# page -> (url path, the text its first screen ends with, the key of its first Plotly figure or None)
PAGES = {
    "compare": ("compare", "Export a model", "compare_pareto"),
    "report": ("report", "Build report", None),
    "speed": ("speed", "Speed", None),
    "runs": ("runs", "Runs", None),
}

APPTEST = """
import json, sys, time
from streamlit.testing.v1 import AppTest
app, page = sys.argv[1], sys.argv[2]
at = AppTest.from_file(app, default_timeout=300)
at.switch_page(page)
wall, cpu = time.perf_counter(), time.process_time()
at.run()
print(json.dumps({"run_s": time.perf_counter() - wall, "run_cpu_s": time.process_time() - cpu,
                  "exceptions": [e.message for e in at.exception], "torch": "torch" in sys.modules}))
"""


def start_server(app_root: Path, home: Path, port: int, warmup: bool = True) -> subprocess.Popen:
    """`streamlit run app.py` in `app_root` (as `tests/e2e`'s `start_app`, but any tree); `warmup=False` turns the
    server's background warm-up (`ui/warmup.py`, which imports torch among others) off."""
    env = {**os.environ, "COMPRESS_LAB_HOME": str(home), "PYTHONPATH": str(app_root),
           **({} if warmup else {"COMPRESS_LAB_WARMUP": "0"})}
    return subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "localhost", "--browser.gatherUsageStats", "false"],
        cwd=app_root, env=env, stdout=open(home / "bench_first_visit.log", "ab"), stderr=subprocess.STDOUT,
        start_new_session=True)


def browser_visit(browser, app_root: Path, home: Path, name: str, warmup: bool = True) -> dict:
    path, marker, figure = PAGES[name]
    port = e2e.free_port()
    url = f"http://localhost:{port}"
    process = start_server(app_root, home, port, warmup)
    try:
        e2e.wait_healthy(url, process)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        began = time.perf_counter()
        page.goto(f"{url}/{path}")
        page.get_by_text(marker, exact=True).first.wait_for(timeout=300_000)
        out = {"first_screen_s": round(time.perf_counter() - began, 3),
               "server_cpu_s": round(bench_ui.tree_cpu_s(process.pid), 3)}
        if figure:
            page.wait_for_function(bench_ui.DRAWN, arg=figure, timeout=120_000, polling="raf")
            out["figure_s"] = round(time.perf_counter() - began, 3)
        page.close()
        return out
    finally:
        e2e.stop_app(process, home)


def apptest_visit(app_root: Path, home: Path, name: str) -> dict:
    env = {**os.environ, "COMPRESS_LAB_HOME": str(home), "COMPRESS_LAB_WARMUP": "0", "PYTHONPATH": str(app_root)}
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", APPTEST, str(app_root / "app.py"), f"pages/{name}.py"],
                          cwd=app_root, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return {"process_s": round(time.perf_counter() - began, 3), "run_s": round(out["run_s"], 3),
            "run_cpu_s": round(out["run_cpu_s"], 3), "torch": out["torch"], "exceptions": out["exceptions"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--pages", default="compare,report")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--app-root", type=Path, action="append", help="a tree to serve (repeat to alternate)")
    parser.add_argument("--mode", choices=("browser", "apptest"), default="browser")
    parser.add_argument("--no-warmup", action="store_true", help="browser mode: the server's warm-up off")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    roots = [r.resolve() for r in (args.app_root or [ROOT])]
    names = args.pages.split(",")
    results = {str(r): {n: [] for n in names} for r in roots}
    load_before = os.getloadavg()
    if args.mode == "browser":
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=e2e.CHROMIUM, args=e2e.CHROMIUM_ARGS)
            for _ in range(args.rounds):
                for name in names:
                    for root in roots:
                        results[str(root)][name].append(browser_visit(browser, root, args.home, name,
                                                                             not args.no_warmup))
            browser.close()
    else:
        for _ in range(args.rounds):
            for name in names:
                for root in roots:
                    results[str(root)][name].append(apptest_visit(root, args.home, name))
    out = {"mode": args.mode, "rounds": args.rounds, "warmup": not args.no_warmup and args.mode == "browser", "load_average_before": [round(x, 2) for x in load_before],
           "load_average_after": [round(x, 2) for x in os.getloadavg()], "results": results}
    if args.json:
        print(json.dumps(out))
        return
    print(f"load average before {out['load_average_before']}, after {out['load_average_after']}")
    for root, pages in results.items():
        for name, rows in pages.items():
            keys = [k for k in rows[0] if isinstance(rows[0][k], float)]
            medians = ", ".join(f"{k} {statistics.median(r[k] for r in rows):.2f}" for k in keys)
            extra = f", torch imported in {sum(r['torch'] for r in rows)} of {len(rows)}" if "torch" in rows[0] else ""
            print(f"{root} {name}: median of {len(rows)}: {medians}{extra}; all: {rows}")


if __name__ == "__main__":
    main()
