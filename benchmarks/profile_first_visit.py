"""Where a page's first visit spends the server's time: cProfile of every script run of the visit (issue 19).

For each page, a fresh server (`streamlit run app.py` through `benchmarks/cold_start_marks.py`, which adds
time marks and nothing else) and a fresh Chromium page that opens the page directly, as `bench_ui.py` does.
Two cases per page:

- `cold`: the warm-up off (`COMPRESS_LAB_WARMUP=0`), so the visit pays for every import and cache itself;
- `warm`: a Home visit first, then the timed visit once the warm-up has logged that it is done.

The server profiles every script run of the visit (a deep link on a fresh server runs the page alone once,
then app.py with it: `common.ensure_navigation`) with a `cProfile.Profile` per run in the script thread (the
Home visit's runs left out), and the script lists the total and the lab's functions and imports with the most
cumulative time: what the visit still computes (imports, the baseline from disk, lookups, histograms, figures;
the rest is Streamlit). It also reports the visit's wall time in the browser (to the page's numbers, as
bench_ui), the server's CPU over the visit, and the script runs' wall time (the marks).

    python benchmarks/profile_first_visit.py [--pages prune,quantize,distill,learn] [--home DIR] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_ui  # noqa: E402  (the benchmarks' shared helpers: e2e server/browser, page table, cpu)

e2e = bench_ui.e2e

# What the listing keeps: the lab's own functions and imports (Streamlit's and the libraries' calls are inside them)
OWN = (str(ROOT) + "/", "<frozen importlib._bootstrap>:_find_and_load")
SKIP = ("benchmarks/", "ui/profile.py")  # this script's own wrappers
TOP = 14

SERVE = r"""
import cProfile, os, sys, threading
sys.path.insert(0, os.path.join(os.getcwd(), "benchmarks"))
import cold_start_marks
cold_start_marks.install()
from streamlit.runtime.scriptrunner.script_runner import ScriptRunner
path, lock, count = os.environ["VISIT_CPROFILE"], threading.Lock(), [0]
original = ScriptRunner._run_script

def profiled(*args, **kwargs):  # every script run, its own profile file (path.N; the server is killed at the end)
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        return original(*args, **kwargs)
    finally:
        profiler.disable()
        with lock:
            count[0] += 1
            profiler.dump_stats(f"{path}.{count[0]}")

ScriptRunner._run_script = profiled
from streamlit.web import cli
sys.argv = ["streamlit", *sys.argv[1:]]
sys.exit(cli.main())
"""


def top_functions(stats_path: Path) -> dict:
    """The profiled runs' total time and the lab's functions (and all imports) with the most cumulative time.

    Cumulative times are inclusive, so nested entries overlap (the page module holds its preview panel); a
    recursive function (imports) counts its outermost calls only. cProfile's per-call overhead inflates
    call-heavy code (Streamlit, `inspect`) about two to four times against the server's CPU time.
    """
    stats = pstats.Stats(str(stats_path)).stats  # (file, line, fn) -> (cc, nc, tt, ct, callers)
    rows = []
    for (file, _line, fn), (_cc, _nc, _tt, ct, _callers) in stats.items():
        name = f"{file}:{fn}"
        if any(name.startswith(o) for o in OWN) and not any(k in name for k in SKIP):
            rows.append((round(ct, 3), name.replace(str(ROOT) + "/", "")))
    rows.sort(reverse=True)
    return {"total profiled": round(sum(v[2] for v in stats.values()), 3), **{n: t for t, n in rows[:TOP]}}


def visit(browser, home: Path, name: str, warm: bool) -> dict:
    """One fresh server, one first visit to `name`; returns the browser's and the server's times."""
    port = e2e.free_port()
    url = f"http://localhost:{port}"
    stats_path, marks_path, log = (home / f"visit_{name}_{port}.{ext}" for ext in ("prof", "jsonl", "log"))
    env = {**os.environ, "COMPRESS_LAB_HOME": str(home), "COMPRESS_LAB_LATENCY_REPEATS": "5",
           "COMPRESS_LAB_WORKER_IDLE": "30", "VISIT_CPROFILE": str(stats_path), "COLD_MARKS": str(marks_path)}
    if not warm:
        env["COMPRESS_LAB_WARMUP"] = "0"
    launched = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "localhost", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        e2e.wait_healthy(url, process)
        warmup_s = None
        if warm:
            landing = browser.new_page()
            landing.goto(url)
            landing.get_by_role("heading", name="Compression Lab", exact=True).wait_for(timeout=60_000)
            landing.close()
            bench_ui.wait_warmup_done(log, process)
            warmup_s = round(time.perf_counter() - launched, 2)
        time.sleep(0.5)  # the Home visit's last profile written
        before = set(home.glob(stats_path.name + ".*"))  # the Home visit's runs are not the page's
        goto_wall = time.time()
        (numbers_s, figure_s, server_cpu_s), _ = bench_ui.page_moves(browser, url, name, 0, None, None, process.pid)
        time.sleep(0.5)  # the last run's profile dump
        runs = sorted(set(home.glob(stats_path.name + ".*")) - before)
        if runs:
            pstats.Stats(*map(str, runs)).dump_stats(str(stats_path))
        marks = [json.loads(line) for line in marks_path.read_text().splitlines()]
        runs = [m for m in marks if m["mark"].startswith("script.") and m["t"] >= goto_wall]
        starts, ends = [m["t"] for m in runs if m["mark"] == "script.start"], [m["t"] for m in runs
                                                                                if m["mark"] == "script.end"]
        return {"page": name, "case": "warm" if warm else "cold", "numbers_s": round(numbers_s, 2),
                "figure_s": round(figure_s, 2), "server_cpu_s": round(server_cpu_s, 2), "warmup_done_s": warmup_s,
                "script_runs": len(starts), "script_runs_wall_s": round(sum(e - s for s, e in zip(starts, ends)), 2),
                "first_run_starts_after_goto_s": round(starts[0] - goto_wall, 2) if starts else None,
                "profile_s": top_functions(stats_path) if stats_path.exists() else None}
    finally:
        e2e.stop_app(process, home)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", default="prune,quantize,distill,learn")
    parser.add_argument("--cases", default="cold,warm", help="cold (warm-up off), warm (after the warm-up), or both")
    parser.add_argument("--home", help="a lab home whose digits baseline is cached (default: a new one)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from compress_core.context import RunContext
    from compress_core.specs import PruneSpec
    from compress_core.training.baseline import get_baseline

    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="profile_visit_"))
    get_baseline(PruneSpec().baseline_spec(), RunContext.create(home=home))
    load_before = os.getloadavg()
    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=e2e.CHROMIUM, args=e2e.CHROMIUM_ARGS)
        for name in [n for n in args.pages.split(",") if n]:
            for case in [c for c in args.cases.split(",") if c]:
                rows.append(visit(browser, home, name, case == "warm"))
        browser.close()
    load = {"load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()]}
    if args.json:
        print(json.dumps({"visits": rows, **load}))
        return 0
    for r in rows:
        print(f"{r['page']:9s} {r['case']:4s} numbers {r['numbers_s']:.2f} s, figure {r['figure_s']:.2f} s, server CPU "
              f"{r['server_cpu_s']:.2f} s, {r['script_runs']} script runs {r['script_runs_wall_s']:.2f} s wall, first "
              f"run {r['first_run_starts_after_goto_s']} s after goto" + (
                  f", warm-up done {r['warmup_done_s']} s after launch" if r["warmup_done_s"] else ""))
        print(f"          profiled script runs, s: {r['profile_s']}")
    print(f"load average before {load['load_average_before']}, after {load['load_average_after']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
