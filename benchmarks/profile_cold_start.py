"""Where a cold start and each page's first visit spend their time: imports and wall clock (issue 19).

A real server (`streamlit run app.py`, as `bench_ui.py` starts it) runs with Python's import
profiler on (`PYTHONPROFILEIMPORTTIME=1`, the same as `python -X importtime`) and the
background warm-up off (`COMPRESS_LAB_WARMUP=0`, so every import is charged to the visit that
asked for it). A home folder with the digits baseline and a few finished runs stands in for a
lab in use (Home then draws its run table). For each page, a fresh server is started and a
fresh Chromium page opens that page directly; the script reports

- `server_s`: process launch to `/_stcore/health` answering, and what the server imported;
- `visit_s`: from `goto` to the page's first heading with no script running, and `visit_server_cpu_s`,
  the server process's CPU time over the same span (what a loaded machine delays but does not change);
- what the visit imported: the total import time, the top-level modules by cumulative time,
  and whether torch, transformers, pandas, plotly were among them.

Import times are measured inside the server, so they add up to less than the wall clock (the
script itself, widgets, the websocket and the browser's drawing make up the rest).

`--breakdown N` instead splits N cold starts to the rendered Home page (the warm-up as configured,
no import profiler) into milestones, each in ms since the launch of the server process, median over
the starts: the server's own marks (`benchmarks/cold_start_marks.py`: interpreter up, `import
streamlit`, component manifest scan, runtime, listening, session created, script and Home page start
and end) and the browser's (Navigation/Resource Timing, a wrapped `WebSocket` and a MutationObserver
injected before the page loads: index requested and received, scripts loaded, DOMContentLoaded,
websocket created, open, first and last message, heading drawn, run table or "no runs" box drawn).
The server is polled for health every 20 ms (bench_ui's 100 ms poll adds up to 0.1 s).

    python benchmarks/profile_cold_start.py [--pages home,runs,prune] [--home DIR] [--json]
    python benchmarks/profile_cold_start.py --breakdown 5 [--home DIR] [--json] [--nodelay-at-bind | --serve]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_spec = importlib.util.spec_from_file_location("e2e_support", ROOT / "tests" / "e2e" / "conftest.py")
e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(e2e)

PAGES = ["home", "runs", "report", "compare", "classics", "speed", "sweep", "sensitivity", "planner",
         "deep_compression", "learn", "prune", "quantize", "distill"]
WATCH = ("torch", "transformers", "pandas", "plotly.graph_objects", "onnxruntime", "torch_pruning")
IDLE = """() => !document.querySelector('[data-testid="stStatusWidget"]')
              && !document.querySelector('[data-testid="stSkeleton"]')
              && document.querySelector('[data-testid="stMain"] h1')"""


def prepare_home(home: Path) -> None:
    """The digits baseline (what the method pages load) and three finished runs for Home's table."""
    from compress_core.context import RunContext
    from compress_core.runs import jobs
    from compress_core.specs import PruneSpec
    from compress_core.training.baseline import get_baseline

    get_baseline(PruneSpec().baseline_spec(), RunContext.create(home=home))
    for spec in ({"kind": "train"}, {"kind": "prune", "amount": 0.5, "finetune_epochs": 0},
                 {"kind": "quantize", "scheme": "fake", "bits": 4}):
        jobs.record_foreground(spec, home=home)  # run here and stored, as the CLI does


def parse_imports(lines: list[str]) -> list[tuple[int, int, str]]:
    """(depth, cumulative microseconds, module) of each `import time:` line."""
    rows = []
    for line in lines:
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self, cumulative, module = line.split(":", 1)[1].split("|", 2)
        depth = (len(module) - len(module.lstrip(" ")) - 1) // 2  # one space, then two per level
        rows.append((depth, int(cumulative), module.strip()))
    return rows


def summary(lines: list[str], top: int = 8) -> dict:
    rows = parse_imports(lines)
    roots = [r for r in rows if r[0] == 0]  # what the server's code asked for (children are inside)
    names = {name for _, _, name in rows}
    return {"import_s": round(sum(c for _, c, _ in roots) / 1e6, 3),
            "top": [(name, round(c / 1e6, 3)) for _, c, name in sorted(roots, key=lambda r: -r[1])[:top]],
            "imported": [w for w in WATCH if w in names]}


def log_lines(log: Path) -> list[str]:
    return log.read_text(errors="replace").splitlines()


def profile_page(browser, home: Path, name: str) -> dict:
    port = e2e.free_port()
    url = f"http://localhost:{port}"
    log = home / f"profile_{name}.log"
    began = time.perf_counter()
    process = e2e.start_app(home, port, log, env={"PYTHONPROFILEIMPORTTIME": "1", "COMPRESS_LAB_WARMUP": "0"})
    try:
        e2e.wait_healthy(url, process, timeout=60)
        server_s = time.perf_counter() - began
        mark = len(log_lines(log))
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        cpu_before = _process_cpu_s(process.pid)
        began = time.perf_counter()
        page.goto(f"{url}/{'' if name == 'home' else name}")
        page.wait_for_function(IDLE, timeout=120_000, polling=50)
        if name == "home":  # its run table (or the "no runs" box) is the last thing drawn
            page.locator(e2e.HOME_DRAWN).first.wait_for(timeout=120_000)
        visit_s = time.perf_counter() - began
        page.wait_for_timeout(500)  # the status widget shows only after a moment: idle must hold twice
        page.wait_for_function(IDLE, timeout=120_000, polling=50)
        visit_s = max(visit_s, time.perf_counter() - began - 0.5)
        visit_cpu_s = _process_cpu_s(process.pid) - cpu_before  # the server's work for the visit (load-independent)
        page.close()
        lines = log_lines(log)
        return {"page": name, "server_s": round(server_s, 3), "visit_s": round(visit_s, 3),
                "visit_server_cpu_s": round(visit_cpu_s, 3),
                "server": summary(lines[:mark]), "visit": summary(lines[mark:])}
    finally:
        e2e.stop_app(process, home)


# Injected before any of the page's scripts: times (performance.now(), ms) of the websocket's life and of
# Home's heading and run table appearing in the DOM.
BROWSER_MARKS = f"window.__coldHomeDrawn = {json.dumps(e2e.HOME_DRAWN)};" + """
window.__cold = {ws: []};
(() => {
  const Native = window.WebSocket;
  function Wrapped(...args) {
    const ws = new Native(...args);
    const rec = {created: performance.now(), n: 0};
    window.__cold.ws.push(rec);
    ws.addEventListener('open', () => { rec.open = performance.now(); });
    ws.addEventListener('message', () => { const t = performance.now(); if (!rec.first) rec.first = t; rec.last = t; rec.n++; });
    return ws;
  }
  Wrapped.prototype = Native.prototype;
  for (const k of ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']) Wrapped[k] = Native[k];
  window.WebSocket = Wrapped;
  const seen = () => {
    const c = window.__cold;
    if (!c.heading && [...document.querySelectorAll('h1')].some(h => h.textContent.includes('Compression Lab')))
      c.heading = performance.now();
    if (!c.table && document.querySelector(window.__coldHomeDrawn))
      c.table = performance.now();
  };
  new MutationObserver(seen).observe(document, {subtree: true, childList: true, characterData: true});
})();
"""

BROWSER_READ = """() => {
  const o = performance.timeOrigin, nav = performance.getEntriesByType('navigation')[0];
  const res = performance.getEntriesByType('resource');
  const scripts = res.filter(r => r.initiatorType === 'script' || r.name.endsWith('.js'));
  const fetches = res.filter(r => r.initiatorType === 'fetch' || r.initiatorType === 'xmlhttprequest');
  const paint = Object.fromEntries(performance.getEntriesByType('paint').map(p => [p.name, o + p.startTime]));
  const ws = window.__cold.ws[0] || {};
  const at = t => (t === undefined || t === null) ? null : o + t;
  // Nagle's signature: a small same-origin response (one segment over localhost) whose body arrived >= 30 ms
  // after its headers (the server held it until the browser's delayed ACK). Split at the websocket's creation:
  // before it, the page's own static files; after it, the chunks the first script run's elements pull in.
  const local = res.filter(r => r.name.startsWith(location.origin) && r.responseStart > 0 && r.encodedBodySize < 60000);
  const held = local.filter(r => r.responseEnd - r.responseStart >= 30);
  const split = ws.created || Infinity;
  return {request_index: at(nav.requestStart), index_received: at(nav.responseEnd),
          scripts_loaded: scripts.length ? at(Math.max(...scripts.map(r => r.responseEnd))) : null,
          n_scripts: scripts.length, script_bytes: scripts.reduce((a, r) => a + (r.encodedBodySize || 0), 0),
          dom_content_loaded: at(nav.domContentLoadedEventEnd), first_paint: paint['first-paint'] || null,
          fetches: fetches.map(r => [r.name.replace(/^https?:\/\/[^/]+/, ''), at(r.startTime), at(r.responseEnd)]),
          ws_created: at(ws.created), ws_open: at(ws.open), ws_first_message: at(ws.first),
          ws_messages: ws.n || 0, heading: at(window.__cold.heading), table: at(window.__cold.table),
          held: {small_responses: local.length, held_before_ws: held.filter(r => r.startTime < split).length,
                 held_after_ws: held.filter(r => r.startTime >= split).length,
                 held_ms: Math.round(held.reduce((a, r) => a + r.responseEnd - r.responseStart, 0))}};
}"""

MILESTONES = ["python", "streamlit_imported", "manifest_scan.start", "manifest_scan.end", "runtime_init.end",
              "server_listening", "health_ok", "goto", "request_index", "index_received", "scripts_loaded",
              "dom_content_loaded", "ws_created", "ws_open", "session_init.end", "script.start", "app.start", "page.start",
              "page.end", "app.end", "script.end", "watch_update.start", "watch_update.end", "ws_first_message",
              "heading", "table", "visible", "warmup_done"]


def _process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of one process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def breakdown_start(browser, home: Path, index: int, extra_env: dict | None = None, wait_warmup: bool = False) -> dict:
    """One cold start with the server's and the browser's milestones, in ms since launch."""
    port = e2e.free_port()
    url = f"http://localhost:{port}"
    marks_path = home / f"cold_marks_{port}.jsonl"
    marks_path.unlink(missing_ok=True)
    env = {**os.environ, "COMPRESS_LAB_HOME": str(home), "COMPRESS_LAB_LATENCY_REPEATS": "5",
           "COMPRESS_LAB_WORKER_IDLE": "30", "COLD_MARKS": str(marks_path), **(extra_env or {})}
    launched = time.time()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "cold_start_marks.py"), "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "localhost", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=open(home / f"cold_marks_{port}.log", "wb"), stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        times = {}
        deadline = time.monotonic() + 60
        while "health_ok" not in times:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start (status {process.poll()})")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        times["health_ok"] = time.time()
            except OSError:
                time.sleep(0.02)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.add_init_script(BROWSER_MARKS)
        times["goto"] = time.time()
        page.goto(url)
        page.get_by_role("heading", name="Compression Lab", exact=True).wait_for(timeout=60_000)
        page.locator(e2e.HOME_DRAWN).first.wait_for(timeout=60_000)
        times["visible"] = time.time()  # what bench_ui's cold start stops at (Playwright sees both)
        server_cpu_s = _process_cpu_s(process.pid)  # the server's own work until then, which load delays but does not change
        page.wait_for_timeout(300)  # let the last messages of the run arrive
        if wait_warmup:  # how long after launch the warm-up finished (the next visit's imports and baseline)
            for _ in range(300):
                if '"warmup_done"' in marks_path.read_text():
                    break
                time.sleep(0.1)
        browser_marks = page.evaluate(BROWSER_READ)
        page.close()
    finally:
        e2e.stop_app(process, home)
    for line in marks_path.read_text().splitlines():
        row = json.loads(line)
        times.setdefault(row["mark"], row["t"])  # the first of each (the Home session's script run)
    fetches = browser_marks.pop("fetches")
    held = browser_marks.pop("held")
    for key, value in browser_marks.items():
        if isinstance(value, (int, float)) and key not in ("n_scripts", "script_bytes", "ws_messages") and value:
            times[key] = value / 1000
    out = {"start": index, "ms": {k: round(1000 * (times[k] - launched)) for k in MILESTONES if times.get(k)},
           "fetches": [(name, round(1000 * (a / 1000 - launched)), round(1000 * (b / 1000 - launched)))
                       for name, a, b in fetches],
           "n_scripts": browser_marks["n_scripts"], "script_bytes": browser_marks["script_bytes"],
           "ws_messages": browser_marks["ws_messages"], "server_cpu_ms_at_visible": round(1000 * server_cpu_s),
           "held_responses": held}
    return out


def breakdown(browser, home: Path, starts: int, extra_env: dict | None = None, wait_warmup: bool = False) -> dict:
    rows = [breakdown_start(browser, home, i, extra_env, wait_warmup) for i in range(starts)]
    median = {k: round(statistics.median([r["ms"][k] for r in rows if k in r["ms"]]))
              for k in MILESTONES if any(k in r["ms"] for r in rows)}
    cpu = [r["server_cpu_ms_at_visible"] for r in rows]
    return {"starts": rows, "median_ms": median, "server_cpu_ms_at_visible_median": round(statistics.median(cpu))}


def print_breakdown(result: dict) -> None:
    median = result["median_ms"]
    previous = 0
    print(f"{'milestone (median of ' + str(len(result['starts'])) + ' starts)':44s} {'since launch':>12s} {'step':>7s}")
    for key in MILESTONES:
        if key in median:
            print(f"{key:44s} {median[key]:9d} ms {median[key] - previous:+6d}")
            previous = median[key]
    print(f"server CPU until Home was visible: median {result['server_cpu_ms_at_visible_median']} ms "
          f"({[r['server_cpu_ms_at_visible'] for r in result['starts']]})")
    print("fetches (first start):", result["starts"][0]["fetches"])
    print("small responses held >= 30 ms after their headers (Nagle), per start: before the websocket / after it "
          "/ of all small ones, summed hold:",
          [f"{h['held_before_ws']}/{h['held_after_ws']}/{h['small_responses']}, {h['held_ms']} ms"
           for h in (r["held_responses"] for r in result["starts"])])
    print("scripts:", result["starts"][0]["n_scripts"], "files,", result["starts"][0]["script_bytes"], "bytes;",
          "websocket messages until read:", result["starts"][0]["ws_messages"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", default=",".join(PAGES))
    parser.add_argument("--home", help="home folder (reused: baseline and runs are made once)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--breakdown", type=int, default=0, metavar="N",
                        help="split N cold starts to Home into server and browser milestones instead")
    parser.add_argument("--wait-warmup", action="store_true",
                        help="with --breakdown: also wait (up to 30 s) for the warm-up to finish and report when")
    parser.add_argument("--warm-at-start", action="store_true",
                        help="with --breakdown: start the warm-up when the server listens (COLD_WARM_AT_START=1)")
    parser.add_argument("--nodelay-at-bind", action="store_true",
                        help="with --breakdown: TCP_NODELAY on the listening socket from the start "
                             "(COLD_NODELAY_AT_BIND=1, what a fixed Streamlit would do)")
    parser.add_argument("--serve", action="store_true",
                        help="with --breakdown: start the server as `python -m ui.serve` does (TCP_NODELAY at bind "
                             "and no component manifest scan)")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="profile_cold_"))
    home.mkdir(parents=True, exist_ok=True)
    if not args.breakdown and not (home / "prepared").exists():  # the breakdown takes the home as it is
        prepare_home(home)
        (home / "prepared").write_text("baseline and runs made\n")
    load_before = os.getloadavg()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=e2e.CHROMIUM, args=e2e.CHROMIUM_ARGS)
        if args.breakdown:
            extra_env = {"COLD_WARM_AT_START": "1", "COMPRESS_LAB_WARMUP_DELAY": "0"} if args.warm_at_start else {}
            if args.nodelay_at_bind or args.serve:
                extra_env["COLD_NODELAY_AT_BIND"] = "1"
            if args.serve:
                extra_env["COLD_SKIP_SCAN"] = "1"
            result = breakdown(browser, home, args.breakdown, extra_env, wait_warmup=args.wait_warmup)
            browser.close()
            result["load_average_before"] = [round(x, 2) for x in load_before]
            result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
            if args.json:
                print(json.dumps(result))
            else:
                print_breakdown(result)
                print(f"load average before {result['load_average_before']}, after {result['load_average_after']}")
            return 0
        results = [profile_page(browser, home, n.strip()) for n in args.pages.split(",") if n.strip()]
        browser.close()
    out = {"pages": results, "load_average_before": [round(x, 2) for x in load_before],
           "load_average_after": [round(x, 2) for x in os.getloadavg()]}
    if args.json:
        print(json.dumps(out))
    else:
        for r in results:
            print(f"{r['page']:17s} server up {r['server_s']:.2f} s (imports {r['server']['import_s']:.2f} s) · "
                  f"visit {r['visit_s']:.2f} s (server CPU {r['visit_server_cpu_s']:.2f} s), "
                  f"imports {r['visit']['import_s']:.2f} s "
                  f"[{', '.join(r['visit']['imported']) or 'no heavy module'}]")
            print("    top:", ", ".join(f"{n} {s:.2f}" for n, s in r["visit"]["top"][:5]))
        print(f"load average before {out['load_average_before']}, after {out['load_average_after']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
