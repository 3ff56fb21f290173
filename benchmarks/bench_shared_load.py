"""A shared lab under load: many browsers on one server, in a real Chromium driven by Playwright.

The app runs in shared mode (`COMPRESS_LAB_SHARED=1`, an operator password) on a free
localhost port with a temporary home whose digits baseline is trained first (as a lab
prepared before a presentation would be). Then, for `--seconds`, `--sessions` browser
sessions (separate browser contexts, so separate Streamlit sessions) work at once:

The sessions first open the Prune page all at once (the time until all have it is reported
as `join_s`); the load's clock starts then.

- viewers (all sessions but one) move the Prune page's amount slider with the arrow keys and
  now and then open another page (Runs, Quantize, Learn, Compare, Home);
- one operator signs in with the password, sets fine-tuning to `--epochs` epochs and submits
  a small pruning run every `--interval` seconds while it has fewer than two runs active.

Measured:
- preview latency: from an arrow-key move of the slider to the sparsity card showing the
  new value (the same measure as `bench_ui.py`), p50 / p95 / max over every viewer's moves;
- page opens: from `goto` to the page's title and an idle script, p50 / p95;
- runs submitted (rows the store holds) vs finished once the load stops and the queue has
  drained (at most `--drain` seconds), by status;
- exceptions seen on screen: `st.exception` blocks (tracebacks) and error boxes, counted at
  every page open and after every slider move, with the distinct first lines;
- the server's resident memory (VmRSS of the `streamlit` process from /proc, sampled every
  second): at start, at the end of the load, and its peak; and the workers' RSS at the end.

For the server alone under many viewers, without a browser per viewer, see `bench_viewers.py`.

`--no-operator`: every session is a viewer (no runs submitted, no worker processes training
beside the server): what `--sessions` people moving sliders at once cost by themselves.

`--cpu-per-move 10`: one session, the server's CPU seconds (from /proc) per Prune page open and per
slider move, new settings and cached ones: the server's capacity in moves per second whatever the browsers cost.

`--idle-memory 1,11,21`: instead of the load, the server's memory per idle browser session:
open that many sessions (separate browser contexts) on `--idle-page` (home or prune), let them
settle, read the server's RSS (median of 5 samples, one per second), then open more; the
per-session cost is the least-squares slope of RSS over the session count (target, issue 19:
at most 20 MB). The sessions stay open and idle while the RSS is read.

    python benchmarks/bench_shared_load.py [--sessions 10] [--seconds 120] [--no-operator] [--json FILE]
    python benchmarks/bench_shared_load.py --idle-memory 1,11,21 [--idle-page prune] [--json FILE]
"""
from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The end-to-end tests' server helpers (tests/ is not a package).
_spec = importlib.util.spec_from_file_location("e2e_support", ROOT / "tests" / "e2e" / "conftest.py")
e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(e2e)

PASSWORD = "bench-operator-password"
SPARSITY_IS = """v => [...document.querySelectorAll('[data-testid="stMetric"]')].some(
    m => m.innerText.startsWith('Sparsity') && m.innerText.includes(v))"""
IDLE = """() => !document.querySelector('[data-testid="stStatusWidget"]')
              && !document.querySelector('[data-testid="stSkeleton"]')"""
PAGES = [("runs", "Runs"), ("quantize", "Quantize"), ("learn", "Learn"), ("compare", "Compare"),
         ("", "Compression Lab")]
ERROR_BLOCKS = '[data-testid="stException"], [data-testid="stAlertContentError"]'


# ---------------------------------------------------------------- memory, from /proc (no psutil needed)
def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def worker_pids(home: Path) -> list[int]:
    """Processes whose command line runs this lab's worker (they run in sessions of their own)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if "compress_core" in cmd and f"COMPRESS_LAB_HOME={home}".encode() in environ:
            pids.append(int(entry.name))
    return pids


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process has used, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class MemorySampler(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.samples, self.stop = pid, [], threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            value = rss_mb(self.pid)
            if value is not None:
                self.samples.append(value)
            self.stop.wait(1.0)


# ---------------------------------------------------------------- one browser session
class Tally:
    """What every session saw, gathered in one place (asyncio: one thread, no locks needed)."""

    def __init__(self):
        self.preview_s: list[float] = []
        self.open_s: list[float] = []
        self.preview_timeouts = 0
        self.page_timeouts = 0
        self.errors_on_screen = 0
        self.error_lines: dict[str, int] = {}
        self.clicks = 0
        self.refused: list[str] = []


async def wait_idle(page, timeout_ms: int) -> bool:
    try:
        await page.wait_for_function(IDLE, timeout=timeout_ms)
        return True
    except Exception:
        return False


async def count_errors(page, tally: Tally) -> None:
    blocks = page.locator(ERROR_BLOCKS)
    n = await blocks.count()
    for i in range(n):
        try:
            text = (await blocks.nth(i).inner_text(timeout=2_000)).strip().splitlines()
        except Exception:
            text = ["(unreadable)"]
        first = text[0][:160] if text else "(empty)"
        if first.startswith("refused:"):  # a cap's refusal is an answer, not a failure; counted apart
            tally.refused.append(first)
            continue
        tally.errors_on_screen += 1
        tally.error_lines[first] = tally.error_lines.get(first, 0) + 1


async def open_page(page, url: str, heading: str, tally: Tally, timeout_ms: int = 180_000) -> bool:
    began = time.perf_counter()
    try:
        await page.goto(url)
        await page.get_by_role("heading", name=heading, exact=True).wait_for(timeout=timeout_ms)
        await wait_idle(page, timeout_ms)
    except Exception:
        tally.page_timeouts += 1
        return False
    tally.open_s.append(time.perf_counter() - began)
    await count_errors(page, tally)
    return True


async def open_prune(page, url: str, tally: Tally) -> bool:
    if not await open_page(page, f"{url}/prune", "Prune", tally):
        return False
    try:
        await page.get_by_text("Accuracy, one-shot").first.wait_for(timeout=180_000)
    except Exception:
        tally.page_timeouts += 1
        return False
    return True


async def viewer(browser, url: str, clock: "Clock", tally: Tally, index: int) -> None:
    """Slider moves on the Prune page (5 per visit), then another page, round and round."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    visit = index  # sessions start on different pages
    first = True
    tries = 0
    while first or time.monotonic() < clock.until:
        opened = await open_prune(page, url, tally)
        tries += 1
        if first and (opened or tries >= 3):  # a session that cannot join does not hold the others back
            await clock.joined()
            first = False
        if not opened:
            continue
        until = clock.until
        thumb = page.locator(".st-key-prune_amount input[type='range']")
        value = 50  # the slider's default after a fresh page load
        step = 1 if index % 2 == 0 else -1
        for _ in range(5):
            if time.monotonic() >= until:
                break
            await wait_idle(page, 30_000)
            await page.wait_for_timeout(150)
            value += step
            began = time.perf_counter()
            await thumb.focus()
            await thumb.press("ArrowRight" if step > 0 else "ArrowLeft")
            try:
                await page.wait_for_function(SPARSITY_IS, arg=f"{value}.0 %", timeout=120_000, polling="raf")
                tally.preview_s.append(time.perf_counter() - began)
            except Exception:
                tally.preview_timeouts += 1
                break
            await count_errors(page, tally)
        path, heading = PAGES[visit % len(PAGES)]
        visit += 1
        if time.monotonic() < until:
            await open_page(page, f"{url}/{path}", heading, tally)
    await context.close()


async def operator(browser, url: str, clock: "Clock", tally: Tally, home: Path, epochs: int, interval: float) -> None:
    """Signs in, then submits a small pruning run every `interval` s while fewer than two of its runs are active."""
    from compress_core.runs import jobs

    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    opened = False
    for _ in range(3):
        opened = await open_prune(page, url, tally)
        if opened:
            break
    await clock.joined()
    until = clock.until
    if not opened:
        return
    box = page.locator(".st-key-access_password input")
    await box.fill(PASSWORD)
    await box.press("Enter")
    await wait_idle(page, 30_000)
    await page.locator(".st-key-access_sign_in button").first.click()
    await page.locator(".st-key-access_sign_out button").first.wait_for(timeout=60_000)
    epochs_box = page.locator(".st-key-prune_epochs input")
    await epochs_box.fill(str(epochs))
    await epochs_box.press("Enter")
    await wait_idle(page, 30_000)
    thumb = page.locator(".st-key-prune_amount input[type='range']")
    store = jobs.open_store(home)
    while time.monotonic() < until:
        active = [r for r in store.list_runs(kind="prune") if r["status"] in ("queued", "running")]
        if len(active) < 2:
            await thumb.focus()
            await thumb.press("ArrowRight")  # a new amount each time: every run is a different spec
            await wait_idle(page, 30_000)
            await page.locator(".st-key-prune_run button").first.click()
            tally.clicks += 1
            await wait_idle(page, 30_000)
            await count_errors(page, tally)
        await asyncio.sleep(interval)
    await context.close()


class Clock:
    """The load's clock starts when every session has its first Prune page (joining is timed apart)."""

    def __init__(self, sessions: int, seconds: float):
        self.left, self.seconds, self.ready = sessions, seconds, asyncio.Event()
        self.began = time.monotonic()
        self.until = float("inf")
        self.join_s = None

    async def joined(self) -> None:
        self.left -= 1
        if self.left == 0:
            now = time.monotonic()
            self.join_s, self.until = now - self.began, now + self.seconds
            self.ready.set()
        await self.ready.wait()


# ---------------------------------------------------------------- memory per idle session
IDLE_PAGES = {"home": ("", "Compression Lab", e2e.HOME_DRAWN),
              "prune": ("prune", "Prune", 'text="Accuracy, one-shot"')}


def slope(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of ys over xs (MB per session)."""
    if len(xs) < 2:
        return None
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else None


async def idle_sessions(url: str, pid: int, counts: list[int], page_name: str, settle_s: float) -> list[dict]:
    """Open sessions on `page_name` up to each of `counts`; the server's RSS once they are idle."""
    from playwright.async_api import async_playwright

    path, heading, ready = IDLE_PAGES[page_name]
    points = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=e2e.CHROMIUM, args=e2e.CHROMIUM_ARGS)
        contexts = []

        async def one() -> None:
            context = await browser.new_context(viewport={"width": 1400, "height": 1000})
            page = await context.new_page()
            await page.goto(f"{url}/{path}")
            await page.get_by_role("heading", name=heading, exact=True).wait_for(timeout=300_000)
            await page.locator(ready).first.wait_for(timeout=300_000)
            await wait_idle(page, 120_000)
            contexts.append(context)

        for count in counts:
            while len(contexts) < count:  # a few at a time: the machine has 2 cores
                await asyncio.gather(*[one() for _ in range(min(4, count - len(contexts)))])
            await asyncio.sleep(settle_s)
            samples = []
            for _ in range(5):
                samples.append(rss_mb(pid))
                await asyncio.sleep(1.0)
            points.append({"sessions": count, "rss_mb": round(statistics.median(samples), 1),
                           "load_average_1min": round(os.getloadavg()[0], 2)})
            print(f"{count:3d} idle sessions on {page_name}: server RSS {points[-1]['rss_mb']:.0f} MB", flush=True)
        for context in contexts:
            await context.close()
        await browser.close()
    return points


async def cpu_per_move(url: str, pid: int, moves: int, opens: int) -> dict:
    """Server CPU of one Prune page open and of one slider move (cache hits after the first pass), one session.

    What the server can serve: `cores / cpu_per_move` moves per second at most, whatever the browsers do.
    """
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=e2e.CHROMIUM, args=e2e.CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1400, "height": 1000})
        tally = Tally()
        assert await open_prune(page, url, tally), "the Prune page did not open"  # warm: imports, baseline
        await asyncio.sleep(3)
        began = cpu_s(pid)
        for _ in range(opens):
            assert await open_prune(page, url, tally)
            await wait_idle(page, 60_000)
        await asyncio.sleep(1)
        open_cpu = (cpu_s(pid) - began) / opens
        thumb = page.locator(".st-key-prune_amount input[type='range']")
        value, times, cpu = 50, [], {}
        for sweep in ("first", "cached"):  # first pass computes each preview, the second finds them cached
            began = cpu_s(pid)
            for i in range(moves):
                step = 1 if i < moves // 2 else -1
                await wait_idle(page, 30_000)
                await page.wait_for_timeout(150)
                value += step
                t = time.perf_counter()
                await thumb.focus()
                await thumb.press("ArrowRight" if step > 0 else "ArrowLeft")
                await page.wait_for_function(SPARSITY_IS, arg=f"{value}.0 %", timeout=60_000, polling="raf")
                times.append(time.perf_counter() - t)
            await wait_idle(page, 30_000)
            cpu[sweep] = (cpu_s(pid) - began) / moves  # includes the idle waits' background (fragment polls)
        await browser.close()
    return {"open_cpu_ms": round(1000 * open_cpu, 1), "move_cpu_ms_first": round(1000 * cpu["first"], 1),
            "move_cpu_ms_cached": round(1000 * cpu["cached"], 1),
            "move_ms_p50": round(1000 * statistics.median(times), 1)}


def on_fresh_server(args, prefix: str, measure):
    """Start a server on a home with the default baseline cached, run the coroutine `measure(url, pid)` against it.

    Returns (what `measure` returned, load average before, load average after); the server is always stopped.
    """
    from compress_core.context import RunContext
    from compress_core.specs import PruneSpec
    from compress_core.training.baseline import get_baseline

    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix=prefix))
    get_baseline(PruneSpec().baseline_spec(), RunContext.create(home=home))
    port = e2e.free_port()
    url = f"http://localhost:{port}"
    process = e2e.start_app(home, port, home / "streamlit.log")
    try:
        e2e.wait_healthy(url, process)
        load_start = os.getloadavg()[0]
        measured = asyncio.run(measure(url, process.pid))
        return measured, load_start, os.getloadavg()[0]
    finally:
        e2e.stop_app(process, home)


def write_result(args, result: dict) -> None:
    """Print the result as one JSON line, and write it to `--json FILE` when asked."""
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    print(json.dumps(result))


def cpu_mode(args) -> int:
    result, load_start, load_end = on_fresh_server(
        args, "bench_cpu_", lambda url, pid: cpu_per_move(url, pid, args.cpu_per_move, 5))
    result.update({"cpu_count": os.cpu_count(), "load_average_1min_start": load_start,
                   "load_average_1min_end": load_end})
    write_result(args, result)
    print(f"server CPU: {result['open_cpu_ms']:.0f} ms per Prune page open, {result['move_cpu_ms_first']:.0f} ms per "
          f"slider move (new setting), {result['move_cpu_ms_cached']:.0f} ms (cached setting); load average "
          f"{load_start:.1f} -> {load_end:.1f}")
    return 0


def idle_memory(args) -> int:
    counts = sorted({int(c) for c in args.idle_memory.split(",") if c.strip()})
    points, load_start, load_end = on_fresh_server(
        args, "bench_idle_", lambda url, pid: idle_sessions(url, pid, counts, args.idle_page, args.settle))
    per_session = slope([p["sessions"] for p in points], [p["rss_mb"] for p in points])
    result = {"page": args.idle_page, "points": points, "mb_per_idle_session": per_session,
              "target_mb_per_session": 20, "cpu_count": os.cpu_count(),
              "load_average_1min_start": load_start, "load_average_1min_end": load_end}
    write_result(args, result)
    print(f"server memory per idle session on {args.idle_page}: "
          f"{'-' if per_session is None else format(per_session, '.1f')} MB (slope of RSS over "
          f"{[p['sessions'] for p in points]} sessions; target <= 20 MB); "
          f"load average {load_start:.1f} -> {load_end:.1f}")
    return 0


async def drive(url: str, args, home: Path, tally: Tally, timing: dict) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=e2e.CHROMIUM, args=e2e.CHROMIUM_ARGS)
        # warm-up, not measured: the server's first Prune page imports torch and renders the preview once
        warm = await browser.new_page()
        await warm.goto(f"{url}/prune")
        await warm.get_by_text("Accuracy, one-shot").first.wait_for(timeout=300_000)
        await warm.close()
        timing["rss_mb_start"] = rss_mb(timing["pid"])  # after the warm-up: what one visitor costs is in it
        clock = Clock(args.sessions, args.seconds)
        viewers = args.sessions if args.no_operator else args.sessions - 1
        sessions = [] if args.no_operator else [operator(browser, url, clock, tally, home, args.epochs, args.interval)]
        sessions += [viewer(browser, url, clock, tally, i) for i in range(viewers)]
        await asyncio.gather(*sessions)
        timing["load_s"] = time.monotonic() - clock.began - clock.join_s
        timing["join_s"] = clock.join_s
        await browser.close()


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def drain(home: Path, seconds: float) -> float:
    """Wait until no run is queued or running (at most `seconds`); returns the seconds waited."""
    from compress_core.runs import jobs

    began = time.monotonic()
    store = jobs.open_store(home)
    while time.monotonic() - began < seconds:
        if not any(r["status"] in ("queued", "running") for r in store.list_runs()):
            break
        time.sleep(1.0)
    return time.monotonic() - began


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10, help="browser sessions, one of them the operator")
    parser.add_argument("--seconds", type=float, default=120.0, help="how long the load lasts")
    parser.add_argument("--epochs", type=int, default=1, help="fine-tuning epochs of the operator's runs")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between the operator's submissions")
    parser.add_argument("--drain", type=float, default=300.0, help="at most this long to wait for queued runs after")
    parser.add_argument("--json", help="also write the result as JSON to this file")
    parser.add_argument("--no-operator", action="store_true", help="every session is a viewer (no runs submitted)")
    parser.add_argument("--idle-memory", metavar="COUNTS",
                        help="e.g. 1,11,21: measure server memory per idle session instead of the load")
    parser.add_argument("--idle-page", choices=sorted(IDLE_PAGES), default="home",
                        help="the page the idle sessions show (--idle-memory)")
    parser.add_argument("--home", help="--idle-memory: home folder to reuse (its cached baseline and runs)")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds idle sessions settle before RSS is read")
    parser.add_argument("--cpu-per-move", type=int, metavar="MOVES",
                        help="instead of the load: server CPU per Prune page open and per slider move, one session")
    args = parser.parse_args(argv)
    if args.cpu_per_move:
        return cpu_mode(args)
    if args.idle_memory:
        if not Path(e2e.CHROMIUM).exists():
            print(f"skipped: {e2e.CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
            return 1
        return idle_memory(args)
    if args.sessions < (1 if args.no_operator else 2):
        parser.error("--sessions must be at least 2 (one operator and at least one viewer)")
    if not Path(e2e.CHROMIUM).exists():
        print(f"skipped: {e2e.CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 1
    from compress_core.context import RunContext
    from compress_core.runs import jobs
    from compress_core.specs import PruneSpec
    from compress_core.training.baseline import get_baseline

    home = Path(tempfile.mkdtemp(prefix="bench_shared_"))
    get_baseline(PruneSpec().baseline_spec(), RunContext.create(home=home))  # prepared before the audience comes
    port = e2e.free_port()
    url = f"http://localhost:{port}"
    process = e2e.start_app(home, port, home / "streamlit.log",
                            env={"COMPRESS_LAB_SHARED": "1", "COMPRESS_LAB_OPERATOR_PASSWORD": PASSWORD})
    tally = Tally()
    timing = {"pid": process.pid}
    try:
        e2e.wait_healthy(url, process)
        sampler = MemorySampler(process.pid)
        sampler.start()
        load_start = os.getloadavg()[0]
        asyncio.run(drive(url, args, home, tally, timing))
        load_s = timing["load_s"]
        rss_start = timing["rss_mb_start"]
        rss_end = rss_mb(process.pid)
        load_end = os.getloadavg()[0]
        drained_s = drain(home, args.drain)
        sampler.stop.set()
        workers_mb = sum(rss_mb(pid) or 0 for pid in worker_pids(home))
        runs = [r for r in jobs.open_store(home).list_runs(kind="prune")]
    finally:
        e2e.stop_app(process, home)
    statuses: dict[str, int] = {}
    for r in runs:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    ms = [1000 * t for t in tally.preview_s]
    result = {
        "sessions": args.sessions, "viewers": args.sessions - (0 if args.no_operator else 1),
        "operators": 0 if args.no_operator else 1, "seconds": round(load_s, 1),
        "join_s": round(timing["join_s"], 1),
        "preview_moves": len(ms), "preview_ms_p50": percentile(ms, 50), "preview_ms_p95": percentile(ms, 95),
        "preview_ms_max": max(ms, default=None), "preview_timeouts": tally.preview_timeouts,
        "page_opens": len(tally.open_s), "page_open_s_p50": percentile(tally.open_s, 50),
        "page_open_s_p95": percentile(tally.open_s, 95), "page_timeouts": tally.page_timeouts,
        "run_clicks": tally.clicks, "runs_submitted": len(runs), "runs_finished": statuses.get("finished", 0),
        "runs_by_status": statuses, "drain_s": round(drained_s, 1), "refusals_on_screen": len(tally.refused),
        "errors_on_screen": tally.errors_on_screen, "error_lines": tally.error_lines,
        "server_rss_mb_start": rss_start, "server_rss_mb_end": rss_end,
        "server_rss_mb_peak": max(sampler.samples, default=None), "workers_rss_mb_end": workers_mb,
        "cpu_count": os.cpu_count(), "load_average_1min_start": load_start, "load_average_1min_end": load_end,
        "home": str(home),
    }
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    print(json.dumps(result))
    f = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
    rows = [
        ("sessions (viewers + operator)", f"{args.sessions} ({result['viewers']} + {result['operators']}) for "
                                          f"{load_s:.0f} s, after all "
                                          f"opened the Prune page at once (took {timing['join_s']:.0f} s)"),
        ("preview latency p50 / p95 / max", f"{f(result['preview_ms_p50'], '.0f')} / {f(result['preview_ms_p95'], '.0f')}"
                                            f" / {f(result['preview_ms_max'], '.0f')} ms over {len(ms)} slider moves"
                                            f" ({tally.preview_timeouts} timed out)"),
        ("page open p50 / p95", f"{f(result['page_open_s_p50'], '.2f')} / {f(result['page_open_s_p95'], '.2f')} s "
                                f"over {len(tally.open_s)} opens ({tally.page_timeouts} timed out)"),
        ("runs submitted / finished", f"{len(runs)} / {statuses.get('finished', 0)} (by status {statuses}; "
                                      f"queue drained in {drained_s:.0f} s after the load)"),
        ("exceptions / error boxes on screen", f"{tally.errors_on_screen} {tally.error_lines or ''}".strip()),
        ("server RSS start / end / peak", f"{f(rss_start, '.0f')} / {f(rss_end, '.0f')} / "
                                          f"{f(result['server_rss_mb_peak'], '.0f')} MB (workers {workers_mb:.0f} MB)"),
        ("machine", f"{os.cpu_count()} CPUs, 1-min load average {load_start:.1f} -> {load_end:.1f}"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
