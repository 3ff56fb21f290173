"""Many viewers moving preview sliders at once, measured at the server: a protocol-level load generator.

Issue 19's target: 20 viewers moving sliders at once keep p95 <= 300 ms. Twenty real Chromium
sessions on a 2-core machine measure the browsers, not the server (docs/performance.md, "Many
viewers"), so here `--viewers` lightweight viewers speak Streamlit's websocket protocol from Python
(`viewer_protocol.Session`: the same rerun requests Chromium sends, checked against Chromium by
`tests/e2e/test_viewer_protocol_browser.py`), all from this one process with asyncio:

- each viewer opens its own session on its page (`--pages`, assigned round robin: Prune's amount,
  Quantize's bits, Distill's temperature slider), then moves the slider `--rate` times a second
  (open loop: a move is sent on time even while the previous one is still running, as a browser
  sends it; viewers start at evenly spread phases). `--values follow`: every viewer walks the same
  values (a class following the teacher: mostly cached settings); `spread`: each viewer starts
  at its own value (more new settings);
- a move is timed from sending it to the `script_finished` of the fragment run that served it;
- `--chromium` adds ONE real Chromium viewer (a child process, Playwright) that moves Prune's slider
  with the arrow keys at the same rate and times slider-to-numbers on screen, as `bench_ui.py` does.

Reported (one JSON line, and `--json FILE`): p50/p95/max per viewer kind and per page, moves sent and
answered, errors (exception elements, error alerts, failed runs), page-open times, the server's CPU
(one process: `/proc/PID/stat`, cores used and CPU ms per answered move), its RSS (start, end, peak),
the generator's own CPU (this process, `getrusage`: ms per move and share of a core) and the 1-minute
load average before and after, and `moves`: [seconds since the first move, ms, viewer] of every move.
The server runs from `--app-root` (default: this checkout), so a `git archive` copy of another commit
can be measured by the same generator; `--server-env STREAMLIT_SERVER_FILE_WATCHER_TYPE=auto` and the
like change its settings; `--nice -10` (root) lets it and the generator have the CPU they ask for on a
machine shared with other jobs (the Chromium viewer keeps the normal priority); `--py-spy FILE`
samples the server (the thread holding the GIL) during the load. Results: docs/performance.md, "Many viewers".

    python benchmarks/bench_viewers.py --viewers 20 --rate 1 --seconds 30 [--chromium] [--json FILE]
    python benchmarks/bench_viewers.py --viewers 20 --rate 4 --values spread   # a worst case: dragging
"""
from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


vp = _load("viewer_protocol", ROOT / "benchmarks" / "viewer_protocol.py")
shared = _load("bench_shared_load", ROOT / "benchmarks" / "bench_shared_load.py")  # rss_mb, cpu_s, MemorySampler
e2e = shared.e2e

# page -> (slider key, its default, lowest and highest value, step)
SLIDERS = {"prune": ("prune_amount", 50, 0, 99, 1), "quantize": ("quantize_bits", 4, 2, 8, 1),
           "distill": ("distill_temperature", 4.0, 0.5, 20.0, 0.5)}
ERROR_KINDS = {"exception"}


def walk(page: str, start_offset: int, n: int) -> list[float]:
    """`n` successive slider values, stepping one step at a time from the default (+ `start_offset` steps),
    bouncing between the slider's ends: what a viewer pressing arrow keys sends."""
    key, default, low, high, step = SLIDERS[page]
    span = round((high - low) / step)
    index = round((default - low) / step) + start_offset
    direction = 1
    values = []
    for _ in range(n):
        index %= span + 1
        if index + direction > span or index + direction < 0:
            direction = -direction
        index += direction
        values.append(low + index * step if isinstance(step, float) else int(low + index * step))
    return values


def is_error(msg) -> bool:
    """An exception element, an error alert, or a script run that did not end well."""
    if msg.WhichOneof("type") == "delta" and msg.delta.WhichOneof("type") == "new_element":
        element = msg.delta.new_element
        kind = element.WhichOneof("type")
        if kind in ERROR_KINDS:
            return True
        if kind == "alert" and element.alert.format == element.alert.ERROR:
            return True
    if msg.WhichOneof("type") == "script_finished":
        return msg.script_finished not in (vp.FINISHED_OK, vp.FINISHED_SCRIPT_OK, vp.FINISHED_EARLY)
    return False


class Viewer:
    """One simulated browser tab: a websocket, a `viewer_protocol.Session`, and the timings of its moves."""

    def __init__(self, url: str, page: str, index: int):
        self.url, self.page, self.index = url, page, index
        self.session = vp.Session(url=f"{url}/{page}", page_name=page)
        self.key = SLIDERS[page][0]
        self.pending: list[float] = []  # send times of moves no run has started for yet
        self.covered: list[float] = []  # moves the fragment run in progress serves
        self.latencies: list[float] = []
        self.timeline: list[tuple[float, float]] = []  # (sent, seconds to answer), perf_counter clock
        self.errors = 0
        self.sent = 0
        self.received_bytes = 0
        self.opened = asyncio.Event()
        self.open_s: float | None = None
        self.ws = self.reader = None
        self.fragment = ""

    async def open(self) -> None:
        """Connect and ask for the page; returns once its first script run has finished."""
        import websockets

        ws_url = self.url.replace("http", "ws", 1) + "/_stcore/stream"
        began = time.perf_counter()
        self.ws = await websockets.connect(ws_url, subprotocols=["streamlit"], origin=self.url, max_size=None,
                                           compression=None, ping_interval=None)
        self.reader = asyncio.create_task(self.read(began))
        await self.ws.send(self.session.open_page())
        await self.opened.wait()
        self.fragment = self.session.fragment_of[self.session.key_id(self.key)]

    async def move_along(self, values: list[float], start_at: float, interval: float, stop_at: float) -> None:
        """Send a move every `interval` s from `start_at` until `stop_at` (open loop), then wait for the answers."""
        for k, value in enumerate(values):
            due = start_at + k * interval
            if due >= stop_at:
                break
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            payload = self.session.move(self.key, value)
            self.pending.append(time.perf_counter())
            self.sent += 1
            await self.ws.send(payload)

    async def close(self, wait_s: float = 30.0) -> None:
        deadline = time.monotonic() + wait_s  # let the last moves be answered
        while (self.pending or self.covered) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self.reader.cancel()
        await self.ws.close()

    async def read(self, began: float) -> None:
        async for payload in self.ws:
            self.received_bytes += len(payload)
            msg = vp.parse(payload)
            self.session.absorb(msg)
            kind = msg.WhichOneof("type")
            if is_error(msg):
                self.errors += 1
            if kind == "new_session":
                if self.fragment and self.fragment in msg.metadata.run.fragment_ids:
                    self.covered, self.pending = self.covered + self.pending, []
            elif kind == "script_finished":
                if not self.opened.is_set() and msg.script_finished == vp.FINISHED_SCRIPT_OK:
                    self.open_s = time.perf_counter() - began
                    self.opened.set()
                elif msg.script_finished == vp.FINISHED_OK and self.fragment in msg.metadata.run.fragment_ids:
                    now = time.perf_counter()
                    self.latencies.extend(now - sent for sent in self.covered)
                    self.timeline.extend((sent, now - sent) for sent in self.covered)
                    self.covered = []


# ---------------------------------------------------------------- the one real browser
CHROMIUM_SHOWS = """v => [...document.querySelectorAll('[data-testid="stMetric"], .lab-card')].some(
    m => m.innerText.startsWith('Sparsity') && m.innerText.includes(v))"""


def chromium_viewer(url: str, rate: float) -> int:
    """Child process: open Prune in Chromium, print READY, wait for `GO seconds` on stdin, move the slider
    with arrow keys at `rate` per second for that long, print one JSON line of slider-to-numbers seconds."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=e2e.CHROMIUM, args=e2e.CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/prune")
        page.wait_for_function(CHROMIUM_SHOWS, arg="50.0 %", timeout=300_000)
        page.wait_for_timeout(1000)
        thumb = page.locator(".st-key-prune_amount input[type='range']")
        thumb.focus()
        print("READY", flush=True)
        seconds = float(sys.stdin.readline().split()[1])
        values = walk("prune", 0, 10_000)
        times, timeouts, value = [], 0, 50
        stop_at = time.monotonic() + seconds
        interval = 1.0 / rate
        next_at = time.monotonic()
        for new in values:
            if time.monotonic() >= stop_at:
                break
            time.sleep(max(0.0, next_at - time.monotonic()))
            began = time.perf_counter()
            thumb.press("ArrowRight" if new > value else "ArrowLeft")
            value = new
            try:
                page.wait_for_function(CHROMIUM_SHOWS, arg=f"{value}.0 %", timeout=60_000, polling="raf")
                times.append(time.perf_counter() - began)
            except Exception:
                timeouts += 1
                break
            next_at = max(next_at + interval, time.monotonic())  # a browser's user waits to see the numbers
        errors = page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]').count()
        browser.close()
    print(json.dumps({"times_s": times, "timeouts": timeouts, "errors_on_screen": errors}), flush=True)
    return 0


# ---------------------------------------------------------------- the run
def summary(seconds: list[float]) -> dict:
    if not seconds:
        return {"n": 0}
    ms = sorted(1000 * s for s in seconds)
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 1), "p95_ms": round(shared.percentile(ms, 95), 1),
            "max_ms": round(ms[-1], 1)}


def start_server(app_root: Path, home: Path, env: dict | None = None, nice: int = 0):
    """`streamlit run app.py` from `app_root` (this checkout or a `git archive` copy) on a free port."""
    port = e2e.free_port()
    full_env = {**os.environ, "COMPRESS_LAB_HOME": str(home), "COMPRESS_LAB_WORKER_IDLE": "30", **(env or {})}
    process = subprocess.Popen(
        (["nice", "-n", str(nice)] if nice else []) + [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "localhost", "--browser.gatherUsageStats", "false"],
        cwd=app_root, env=full_env, stdout=open(home / "streamlit.log", "ab"), stderr=subprocess.STDOUT,
        start_new_session=True)
    return process, f"http://localhost:{port}"


async def load(args, url: str, pid: int) -> dict:
    pages = args.pages.split(",")
    # Warm the server as a lab before a class would: one session opens each page (baseline, imports).
    for page in pages:
        warm = Viewer(url, page, -1)
        await asyncio.wait_for(warm.open(), 300)
        await warm.close()
    chromium = None
    if args.chromium:
        chromium = subprocess.Popen([sys.executable, __file__, "--chromium-viewer", url, "--rate", str(args.rate)],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                    preexec_fn=lambda: os.setpriority(os.PRIO_PROCESS, 0, 0))  # a viewer's own machine
        line = await asyncio.to_thread(chromium.stdout.readline)
        if not line.startswith("READY"):
            raise RuntimeError(f"the Chromium viewer did not start: {line!r}")
    interval = 1.0 / args.rate
    n_moves = int(args.seconds * args.rate) + 2
    viewers = [Viewer(url, pages[i % len(pages)], i) for i in range(args.viewers)]
    await asyncio.wait_for(asyncio.gather(*(v.open() for v in viewers)), 600)  # all open at once, as a class does
    await asyncio.sleep(1.0)
    idle0, idle_t0 = shared.cpu_s(pid), time.monotonic()  # what the open sessions cost while nobody moves
    await asyncio.sleep(args.idle_s)
    idle_cores = (shared.cpu_s(pid) - idle0) / (time.monotonic() - idle_t0)
    start_at = time.monotonic() + 0.5
    stop_at = start_at + args.seconds
    tasks = []
    for i, v in enumerate(viewers):
        offset = 0 if args.values == "follow" else 7 * i
        tasks.append(asyncio.create_task(v.move_along(walk(v.page, offset, n_moves),
                                                      start_at + i * interval / len(viewers), interval, stop_at)))
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    sampler = shared.MemorySampler(pid)
    sampler.start()
    bytes0 = sum(v.received_bytes for v in viewers)
    cpu0, own0, load0 = shared.cpu_s(pid), resource.getrusage(resource.RUSAGE_SELF), os.getloadavg()[0]
    wall0 = time.monotonic()
    spy = None
    if args.py_spy:  # a sampling profile of the server during the load (collapsed stacks, on-CPU samples only)
        spy = subprocess.Popen(["py-spy", "record", "--nonblocking", "--gil", "--format", "raw", "--rate", "200",
                                "-o", args.py_spy, "-p", str(pid), "-d", str(int(args.seconds))],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if chromium:
        chromium.stdin.write(f"GO {args.seconds}\n")
        chromium.stdin.flush()
    await asyncio.sleep(max(0.0, stop_at - time.monotonic()))
    cpu1, own1, wall1 = shared.cpu_s(pid), resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    load1 = os.getloadavg()[0]
    bytes1 = sum(v.received_bytes for v in viewers)
    await asyncio.gather(*tasks)
    await asyncio.gather(*(v.close() for v in viewers))
    if spy:
        await asyncio.to_thread(spy.wait, 60)
    sampler.stop.set()
    browser = None
    if chromium:
        out = await asyncio.to_thread(chromium.communicate, None, 180)
        browser = json.loads(out[0].strip().splitlines()[-1])
    latencies = [s for v in viewers for s in v.latencies]
    answered = len(latencies)
    own_cpu = (own1.ru_utime + own1.ru_stime) - (own0.ru_utime + own0.ru_stime)
    result = {
        "viewers": args.viewers, "rate_per_viewer_s": args.rate, "seconds": args.seconds, "values": args.values,
        "pages": pages, "protocol": {**summary(latencies), "sent": sum(v.sent for v in viewers),
                                     "unanswered": sum(v.sent for v in viewers) - answered,
                                     "errors": sum(v.errors for v in viewers),
                                     "kb_per_move": round((bytes1 - bytes0) / 1000 / max(1, answered), 1)},
        "per_page": {p: summary([s for v in viewers if v.page == p for s in v.latencies]) for p in pages},
        "page_open": summary([v.open_s for v in viewers if v.open_s is not None]),
        "server": {"idle_cpu_cores": round(idle_cores, 3), "cpu_cores": round((cpu1 - cpu0) / (wall1 - wall0), 2),
                   "cpu_ms_per_move": round(1000 * (cpu1 - cpu0) / max(1, answered), 1),
                   "rss_mb_start": round(sampler.samples[0], 1) if sampler.samples else None,
                   "rss_mb_end": round(sampler.samples[-1], 1) if sampler.samples else None,
                   "rss_mb_peak": round(max(sampler.samples), 1) if sampler.samples else None},
        "generator": {"cpu_cores": round(own_cpu / (wall1 - wall0), 3),
                      "cpu_ms_per_move": round(1000 * own_cpu / max(1, answered), 2)},
        "load_avg_1min": [round(load0, 2), round(load1, 2)],
    }
    t0 = min((t for v in viewers for t, _ in v.timeline), default=0.0)
    result["moves"] = sorted([round(t - t0, 3), round(1000 * s, 1), v.index] for v in viewers for t, s in v.timeline)
    if browser is not None:
        result["chromium"] = {**summary(browser["times_s"]), "timeouts": browser["timeouts"],
                              "errors_on_screen": browser["errors_on_screen"]}
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=20, help="protocol-level viewers (default 20)")
    parser.add_argument("--rate", type=float, default=1.0, help="slider moves per second per viewer (default 1)")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the load lasts (default 30)")
    parser.add_argument("--pages", default="prune,quantize,distill", help="pages, given to viewers round robin")
    parser.add_argument("--values", choices=("follow", "spread"), default="follow",
                        help="follow: all viewers walk the same values; spread: each starts at its own value")
    parser.add_argument("--chromium", action="store_true", help="add one real Chromium viewer on Prune")
    parser.add_argument("--app-root", default=str(ROOT), help="the checkout whose app.py the server runs")
    parser.add_argument("--home", help="lab home (default: a fresh temporary one with the digits baseline)")
    parser.add_argument("--server-env", action="append", default=[], help="NAME=VALUE for the server, repeatable")
    parser.add_argument("--idle-s", type=float, default=5.0, help="seconds the open sessions sit idle, measured")
    parser.add_argument("--nice", type=int, default=0,
                        help="scheduling priority of the server and the generator (e.g. -10, needs root): on a machine "
                             "shared with other jobs, what the server does when it gets the CPU it asks for")
    parser.add_argument("--json", help="also write the result to this file")
    parser.add_argument("--py-spy", help="record the server with py-spy (pip install py-spy) into this collapsed-"
                                         "stack file during the load: samples of the thread holding the GIL only")
    parser.add_argument("--chromium-viewer", help=argparse.SUPPRESS)  # the child process's mode: the server URL
    args = parser.parse_args(argv)
    if args.chromium_viewer:
        return chromium_viewer(args.chromium_viewer, args.rate)
    if args.chromium and not Path(e2e.CHROMIUM).exists():
        print(f"skipped: {e2e.CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 0

    from compress_core.context import RunContext
    from compress_core.specs import PruneSpec
    from compress_core.training.baseline import get_baseline

    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="bench_viewers_"))
    get_baseline(PruneSpec().baseline_spec(), RunContext.create(home=home))
    env = dict(item.split("=", 1) for item in args.server_env)
    if args.nice:  # this process (the generator) too, so that its timings are not the ones delayed
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)
    process, url = start_server(Path(args.app_root), home, env, args.nice)
    try:
        e2e.wait_healthy(url, process)
        result = asyncio.run(load(args, url, process.pid))
    finally:
        e2e.stop_app(process, home)
    result["app_root"], result["nice"] = args.app_root, args.nice
    print(json.dumps(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
