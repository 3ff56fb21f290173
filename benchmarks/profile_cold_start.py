"""Where a cold start and each page's first visit spend their time: imports and wall clock (issue 19).

A real server (`streamlit run app.py`, as `bench_ui.py` starts it) runs with Python's import
profiler on (`PYTHONPROFILEIMPORTTIME=1`, the same as `python -X importtime`) and the
background warm-up off (`COMPRESS_LAB_WARMUP=0`, so every import is charged to the visit that
asked for it). A home folder with the digits baseline and a few finished runs stands in for a
lab in use (Home then draws its run table). For each page, a fresh server is started and a
fresh Chromium page opens that page directly; the script reports

- `server_s`: process launch to `/_stcore/health` answering, and what the server imported;
- `visit_s`: from `goto` to the page's first heading with no script running;
- what the visit imported: the total import time, the top-level modules by cumulative time,
  and whether torch, transformers, pandas, plotly were among them.

Import times are measured inside the server, so they add up to less than the wall clock (the
script itself, widgets, the websocket and the browser's drawing make up the rest).

    python benchmarks/profile_cold_start.py [--pages home,runs,prune] [--home DIR] [--json]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
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
    from compress_core.runs import jobs
    from compress_core.context import RunContext
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
        began = time.perf_counter()
        page.goto(f"{url}/{'' if name == 'home' else name}")
        page.wait_for_function(IDLE, timeout=120_000, polling=50)
        if name == "home":  # its run table (or the "no runs" box) is the last thing drawn
            page.locator('[data-testid="stDataFrame"], [data-testid="stAlert"]').first.wait_for(timeout=120_000)
        visit_s = time.perf_counter() - began
        page.wait_for_timeout(500)  # the status widget shows only after a moment: idle must hold twice
        page.wait_for_function(IDLE, timeout=120_000, polling=50)
        visit_s = max(visit_s, time.perf_counter() - began - 0.5)
        page.close()
        lines = log_lines(log)
        return {"page": name, "server_s": round(server_s, 3), "visit_s": round(visit_s, 3),
                "server": summary(lines[:mark]), "visit": summary(lines[mark:])}
    finally:
        e2e.stop_app(process, home)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", default=",".join(PAGES))
    parser.add_argument("--home", help="home folder (reused: baseline and runs are made once)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="profile_cold_"))
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "prepared").exists():
        prepare_home(home)
        (home / "prepared").write_text("baseline and runs made\n")
    load_before = os.getloadavg()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=e2e.CHROMIUM, args=e2e.CHROMIUM_ARGS)
        results = [profile_page(browser, home, n.strip()) for n in args.pages.split(",") if n.strip()]
        browser.close()
    out = {"pages": results, "load_average_before": [round(x, 2) for x in load_before],
           "load_average_after": [round(x, 2) for x in os.getloadavg()]}
    if args.json:
        print(json.dumps(out))
    else:
        for r in results:
            print(f"{r['page']:17s} server up {r['server_s']:.2f} s (imports {r['server']['import_s']:.2f} s) · "
                  f"visit {r['visit_s']:.2f} s, imports {r['visit']['import_s']:.2f} s "
                  f"[{', '.join(r['visit']['imported']) or 'no heavy module'}]")
            print("    top:", ", ".join(f"{n} {s:.2f}" for n, s in r["visit"]["top"][:5]))
        print(f"load average before {out['load_average_before']}, after {out['load_average_after']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
