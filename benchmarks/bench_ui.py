"""Dashboard speed in a real browser (Debian's Chromium driven by Playwright).

- Instant preview, per page (Prune, Quantize, Distill, Learn; digits baselines): the time from
  an arrow-key move of the page's preview slider to the new numbers on screen (a text that
  names the new value, drawn by the same fragment run as the cards and figure), p50 and p95
  of `--moves` moves. Target (issue 19): p95 at most 100 ms.
- First visit per page: from `page.goto` on a freshly started server (baselines already on
  disk) to the page's preview numbers on screen, and to its preview figure drawn (Plotly's plot
  element in the figure's container). Target (issue 19): at most 1 s. The moves start after the figure.
  `--via-home` times the visit most visitors make instead: from a click on the page's sidebar link
  on a Home page already open (read for `--home-dwell` s), rather than a deep link that also loads
  Streamlit's frontend in a new browser context.
- Cold start: from launching the server as the README does (`python -m ui.serve`; `--plain`:
  `streamlit run app.py`, also for the page servers) to the rendered Home page (its title
  and run table drawn), median of `--starts` fresh server processes. Target (issue 19): 1.5 s.
  `--floor` alternates each start with one of `benchmarks/floor_app.py`: the same Home drawn by Streamlit
  with none of the lab's code, the floor below which the lab's cold start cannot go on this machine, and times
  as many page switches in that app (a sidebar click to a page of four number cards: Streamlit's own cost of a
  first visit through the sidebar).

Every baseline is trained (or taken from `--home`'s cache) by a warm-up visit before anything
is timed. The machine's 1-minute load average is read before and after and printed beside the
figures: on a shared machine the same code measures slower.

With `--detail` each move is also broken down (issue 19's profile): the time to the last change
inside the preview figure's container (the figure redrawn), whether Plotly's plot element was replaced
(a remount and `newPlot`) or updated in place (`Plotly.react`), the websocket frames and bytes the
server sent for the move, the numbers' time as the page itself sees it (a MutationObserver, no polling),
from the server's `LAB_PROFILE` file (`ui/profile.py`) the fragment body's time and its steps, the CPU
time per move of the server's and the browser's processes (independent of the load average, unlike the
wall times) and the page main thread's script/style/layout time (Chromium's Performance metrics).
`--dataset text-demo` switches each page to the bundled text set (the tinybert model) before the moves
(its first visit then includes the switch). `--dataset text-minilm` then also types the folder of a
MiniLM-sized BERT (6 layers, hidden 384, 12 heads, FFN 1536, 22.7 M parameters; built once by
`benchmarks/minilm_folder.py` under `--home`, or `--text-model DIR`) into the page's "local Hugging Face
folder" box: the `hf:DIR` model source a user brings a model through. For the pages whose accuracy may
arrive after the other numbers (progressive previews: Prune, Quantize), each move also records when the
accuracy card stops reading "measuring…" (`accuracy_ms`, p50/p95).

    python benchmarks/bench_ui.py [--moves 20] [--starts 3] [--pages prune,quantize] [--home DIR] [--json]
                                  [--detail] [--dataset text-demo|text-minilm] [--text-model DIR]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The end-to-end tests' server and browser helpers (tests/ is not a package).
_spec = importlib.util.spec_from_file_location("e2e_support", ROOT / "tests" / "e2e" / "conftest.py")
e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(e2e)

IDLE = """() => !document.querySelector('[data-testid="stStatusWidget"]')
              && !document.querySelector('[data-testid="stSkeleton"]')"""


def sidebar_link_after_home(page, url: str, title: str, dwell_s: float):
    """Open Home at `url` in `page`, read it for `dwell_s` once it is drawn and idle, and return the sidebar's link
    to the page called `title` (the first visit most visitors make is a click on it)."""
    page.goto(url)
    page.get_by_role("heading", name="Compression Lab", exact=True).wait_for(timeout=60_000)
    page.locator(e2e.HOME_DRAWN).first.wait_for(timeout=60_000)
    wait_idle(page, 60_000)
    page.wait_for_timeout(1000 * dwell_s)
    return page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True)


def wait_idle(page, timeout_ms: int) -> None:
    """Let the page finish its current script run; a busy machine may keep it running, so never fail here."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(IDLE, timeout=timeout_ms)
    except PlaywrightTimeout:
        print("note: the page did not go idle; measuring anyway", file=sys.stderr)


def cold_start(browser, home: Path, context=None, port: int | None = None, plain: bool = False,
               tab_after_health: bool = False, script: str = "app.py") -> float:
    """Seconds from process launch to the whole Home page on screen: its title, run table (or notice), page links
    and sidebar controls.

    By default a new browser context on a new port: a visitor whose browser has never loaded the app (Chromium
    fetches and compiles Streamlit's ~2 MB of JavaScript). With `context` and a fixed `port`, the visitor is
    returning: the server is as cold, but the browser's HTTP cache already holds the app's static files.

    The visitor's empty tab is opened before the launch, and the page is asked for as soon as the server answers its
    health check (asked every 20 ms): opening a tab is the visitor's browser's work, not the server's, and a
    Playwright context takes 0.2-0.3 s to open on a 2-core machine. `tab_after_health` measures as the rounds before
    2 Dec 2026 did: the tab opened after the health check answered, asked every 0.1 s (docs/performance.md, eighth
    round, has both side by side)."""
    port = port or e2e.free_port()
    url = f"http://localhost:{port}"
    new_page = context.new_page if context is not None else browser.new_page
    page = None if tab_after_health else new_page()
    began = time.perf_counter()
    process = e2e.start_app(home, port, home / "bench_streamlit.log", plain=plain, script=script)
    try:
        e2e.wait_healthy(url, process, timeout=60, poll=0.1 if tab_after_health else 0.02)
        page = page or new_page()
        page.goto(url)
        page.get_by_role("heading", name="Compression Lab", exact=True).wait_for(timeout=60_000)
        page.locator(e2e.HOME_DRAWN).first.wait_for(timeout=60_000)
        # and the rest of Home, which has lazy frontend code of its own: the last card's page link and the sidebar's
        # controls. Since the run table is static (2 Dec 2026) it no longer comes last, so waiting for it alone
        # stopped the clock 0.1 s before Home was whole.
        page.locator('[data-testid="stMain"] a[href*="classics"]').first.wait_for(timeout=60_000)
        page.locator('[data-testid="stSidebar"] [data-testid="stRadio"]').first.wait_for(timeout=60_000)
        return time.perf_counter() - began
    finally:
        if page is not None:
            page.close()
        e2e.stop_app(process, home)


# Streamlit's floor on this machine: Home's elements with none of the lab's code (`--floor`).
FLOOR_APP = "benchmarks/floor_app.py"


def floor_page_switch(browser, home: Path, dwell_s: float = 1.0) -> float:
    """Seconds from a click on Prune in the floor app's sidebar (its Home read for `dwell_s`) to the page's numbers:
    Streamlit's own page switch here, for a page with a slider and four number cards and nothing else."""
    port = e2e.free_port()
    process = e2e.start_app(home, port, home / "bench_streamlit.log", script=FLOOR_APP)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        e2e.wait_healthy(f"http://localhost:{port}", process, timeout=60)
        link = sidebar_link_after_home(page, f"http://localhost:{port}", "Prune", dwell_s)
        began = time.perf_counter()
        link.click()
        page.get_by_text("Accuracy, one-shot").first.wait_for(timeout=60_000)
        page.get_by_text("50.0 %").first.wait_for(timeout=60_000)
        return time.perf_counter() - began
    finally:
        page.close()
        e2e.stop_app(process, home)


def _quantize_values(moves):
    """4 → 8 and back: the bits slider's values after each ArrowRight/ArrowLeft, starting at 4."""
    values, v, step = [], 4, 1
    for _ in range(moves):
        if not 2 <= v + step <= 8:
            step = -step
        v += step
        values.append(v)
    return values


# page -> (url path, slider key, text that shows the preview is drawn, values after successive moves,
#          the text that shows the numbers for a value are on screen). Arrow keys step one slider step.
PAGES = {
    "prune": ("prune", "prune_amount", "Accuracy, one-shot",
              lambda n: [(51 + i, "ArrowRight") for i in range(n)], lambda v: f"Sparsity|{v}.0 %"),
    "quantize": ("quantize", "quantize_bits", "Instant preview",
                 lambda n: [(v, "ArrowRight" if v > p else "ArrowLeft")
                            for p, v in zip([4] + _quantize_values(n), _quantize_values(n))],
                 lambda v: f"Accuracy at {v} bits|"),
    "distill": ("distill", "distill_temperature", "Instant preview",
                lambda n: [(4.0 + 0.5 * (i + 1), "ArrowRight") for i in range(n)], lambda v: f"|at T = {v:g}"),
    "learn": ("learn", "learn_prune_amount", "Magnitude pruning",
              lambda n: [(71 + i, "ArrowRight") for i in range(min(n, 28))],
              lambda v: f"@[data-lab-slot=learn_prune_cards][data-lab-tag$='|{v}']\n|L1 pruning, {v} %,"),
    # Other Learn lessons with a slider (not in the default --pages): the quantization lesson's bits (its tab is
    # opened first, LEARN_TABS) and the damage lesson's sparsity (a select_slider of 5 values, tab "Pruning damage").
    "learn-quantization": ("learn", "learn_q_bits", "Magnitude pruning",
                           lambda n: _bounce([2, 3, 4, 5, 6, 7, 8], 3, n), lambda v: f"Accuracy at {v} bits|"),
    "learn-damage": ("learn", "learn_damage_sparsity", "Magnitude pruning",
                     lambda n: _bounce([50, 70, 80, 90, 95], 80, n), lambda v: f"|prune {v} % with"),
}
DEFAULT_PAGES = ("prune", "quantize", "distill", "learn")
NAV_TITLES = {"prune": "Prune", "quantize": "Quantize", "distill": "Distill", "learn": "Learn",
              "learn-quantization": "Learn", "learn-damage": "Learn"}  # page -> its link in the sidebar (app.py)
LEARN_TABS = {"learn-quantization": "Quantization", "learn-damage": "Pruning damage"}  # page -> the tab of its slider


def _bounce(values: list, start, moves: int) -> list[tuple]:
    """(value, key) after each arrow-key move through `values` from `start`, turning at either end."""
    out, i, step = [], values.index(start), 1
    for _ in range(moves):
        if not 0 <= i + step < len(values):
            step = -step
        i += step
        out.append((values[i], "ArrowRight" if step > 0 else "ArrowLeft"))
    return out


# Installed in every document of a first visit's tab: the time (performance.now()) of the latest plot drawn in the
# page's main area (Plotly adds its `.main-svg` when it draws a figure, whichever element holds it), so that once the
# page is idle the visit's "every figure" time is the last of them (a finished run's figures come after the preview).
PLOTS_SEEN = """(() => { window.__labLastPlot = 0;
  new MutationObserver(records => { for (const r of records) for (const n of r.addedNodes)
      if (n.nodeType === 1 && (n.matches('svg.main-svg') || n.querySelector('svg.main-svg'))
          && n.closest('[data-testid="stMain"]')) window.__labLastPlot = performance.now(); })
    .observe(document, {childList: true, subtree: true}); })();"""
# page -> the key of its preview figure (the container `--detail` watches for the redraw).
# The preview figure drawn: Plotly's plot element inside the figure's container.
DRAWN = "key => !!document.querySelector('.st-key-' + key + ' .js-plotly-plot')"
FIGURES = {"prune": "prune_preview_hist", "quantize": "quantize_preview_grid", "distill": "distill_preview_soft",
           "learn": "learn_prune_hist", "learn-quantization": "learn_q_grid", "learn-damage": "learn_damage_classes"}
# Further figures a move redraws (the figure time is the last change in any of them): the pruning lesson's unit
# images, the quantization lesson's error, accuracy and levels figures.
MORE_FIGURES = {"learn": ["learn_prune_units"],
                "learn-quantization": ["learn_q_error", "learn_q_accuracy", "learn_q_levels"]}
# In the page: the time of the last key press and of the last change inside the figure's container.
WATCH = """figs => { if (window.__lab) return true;
  const lab = window.__lab = {press: 0, pressWall: 0, figMut: 0, want: null, shown: 0, painted: 0};
  document.addEventListener('keydown', () => { lab.press = performance.now(); lab.pressWall = Date.now(); lab.figMut = 0;
                                               lab.shown = 0; lab.painted = 0; }, true);
  const keys = [figs, ...(window.__labMoreFigures || [])];  // every figure a move redraws
  const inside = n => n && n.nodeType === 1 && keys.some(fig => n.closest('.st-key-' + fig) || n.querySelector('.st-key-' + fig));
  new MutationObserver(records => {  // the numbers' time, seen in the page (no polling, no round trip)
      if (lab.want && !lab.shown && window.__labShows(lab.want)) {
        lab.shown = performance.now();  // in the DOM; the frame that paints it begins in the next animation frame
        requestAnimationFrame(() => { lab.painted = performance.now(); });
      }
      for (const r of records) {
      const t = r.target.nodeType === 1 ? r.target : r.target.parentElement;
      // Streamlit marks the figure's element container stale while the fragment reruns (data-stale and a class, an
      // opacity fade that starts only after 0.5 s) and unmarks it when the rerun delivers: no redraw of the figure
      if (r.type === 'attributes' && t === r.target && keys.some(fig => t.classList.contains('st-key-' + fig))) continue;
      if ((t && keys.some(fig => t.closest('.st-key-' + fig))) || [...r.addedNodes].some(inside)) { lab.figMut = performance.now(); return; }
  } }).observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
  return true; }"""
TAG = """fig => { const el = document.querySelector('.st-key-' + fig + ' .js-plotly-plot');
  if (el) el.__labTag = (window.__labTag = (window.__labTag || 0) + 1); return !!el; }"""
# Resolves once the figure has not changed for 300 ms (at most 5 s): [ms press -> last change, plot replaced].
SETTLED = """fig => new Promise(resolve => { const lab = window.__lab; const began = performance.now();
  const check = () => { const now = performance.now();
    if (now - Math.max(lab.figMut, lab.press) > 300 || now - began > 5000) {
      const el = document.querySelector('.st-key-' + fig + ' .js-plotly-plot');
      resolve([lab.figMut > lab.press ? lab.figMut - lab.press : null, !el || el.__labTag !== window.__labTag]);
    } else setTimeout(check, 25); };
  check(); })"""
# "label|text": a metric card (st.metric, or a card of ui/cards.py's one-element block) whose text starts with label and contains text; "|text": any text on the page.
# textContent, not innerText: innerText lays the page out to know what is visible, and this probe runs every frame
# while a move renders. Polling body.innerText cost the Learn page (3,400 DOM nodes) ~30-40 ms per move and Distill
# ~5-15 ms (p50, same tree, alternated: docs/performance.md "Fourth round"); the text checked is the new value's.
# Alternatives are separated by newlines (any one shows the numbers); "@selector": an element matching it exists
# (the Learn lesson's cards carry their slider value in `data-lab-tag`, ui/instant.py).
SHOWS = """v => v.split('\\n').some(one => { if (one.startsWith('@')) return !!document.querySelector(one.slice(1));
  const [label, text] = one.split('|');
  if (label) return [...document.querySelectorAll('[data-testid="stMetric"], .lab-card')].some(
      m => m.textContent.startsWith(label) && m.textContent.includes(text));
  return document.body.textContent.includes(text); })"""


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def tree_cpu_s(root: int, exclude: int | None = None) -> float:
    """CPU seconds (user + system) so far of process `root` and its descendants (Linux /proc), leaving out the
    subtree of `exclude`: the work a move costs, which a loaded machine delays but does not change."""
    parents, times = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        if pid == exclude:
            continue
        total += times.get(pid, 0.0)
        todo.extend(child for child, parent in parents.items() if parent == pid)
    return total


def browser_times(cdp) -> dict:
    """Seconds the page's main thread spent so far in scripts, style, layout and all tasks (CDP Performance)."""
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return {"script": metrics.get("ScriptDuration", 0.0), "style": metrics.get("RecalcStyleDuration", 0.0),
            "layout": metrics.get("LayoutDuration", 0.0), "tasks": metrics.get("TaskDuration", 0.0)}


# page -> the key of its "local Hugging Face folder" box (common.model_picker: f"{prefix}_{key}_hf")
HF_BOX = {"prune": "prune_model_hf", "quantize": "quantize_model_hf", "distill": "distill_teacher_hf"}
# page -> the label of the accuracy card of a value (progressive previews fill it in after the numbers)
ACCURACY = {"prune": lambda v: "Accuracy, one-shot", "quantize": lambda v: f"Accuracy at {v} bits"}
ARRIVED = """label => [...document.querySelectorAll('[data-testid="stMetric"], .lab-card')].some(
    m => m.innerText.startsWith(label) && !m.innerText.includes('measuring'))"""
MODEL_SHOWN = """name => name === 'distill' ? document.body.innerText.includes('teacher (hf:')
    : /fp32 [0-9.]+ MB/.test(document.body.innerText)"""  # a MiniLM-sized model's cards say ~90 MB (tinybert: kB)
TEXT_MODEL: dict = {"folder": None}  # --dataset text-minilm: the hf folder typed into the page


def choose_dataset(page, name: str, dataset: str) -> None:
    """Pick `dataset` in the page's data set box and wait until the preview (baseline trained) is drawn again;
    for `text-minilm` pick text-demo and type the MiniLM-sized folder into the page's Hugging Face box."""
    box = page.locator(f".st-key-{name}_dataset")
    box.locator("input").first.click()  # a react-aria combo box
    page.get_by_role("option", name="text-demo" if dataset == "text-minilm" else dataset, exact=True).click()
    page.wait_for_function("""() => [...document.querySelectorAll('[data-testid="stSelectbox"] input')].some(
        i => i.value === 'tinybert')""", timeout=60_000)  # the text set offers text models only
    wait_idle(page, 300_000)
    if dataset == "text-minilm" and name in HF_BOX:
        field = page.locator(f".st-key-{HF_BOX[name]} input")
        field.fill(str(TEXT_MODEL["folder"]))
        field.press("Enter")
        page.wait_for_function(MODEL_SHOWN, arg=name, timeout=600_000)  # its preview drawn (MB-sized, hf: teacher)
        wait_idle(page, 600_000)


def page_moves(browser, url: str, name: str, moves: int, detail: list | None = None,
               dataset: str | None = None, server_pid: int | None = None,
               accuracy: list | None = None, via_home: float | None = None) -> tuple[tuple, list[float]]:
    """First-visit seconds (to the numbers, to the preview figure drawn, the server's CPU, to every figure of the page
    drawn: a finished run's figures too) and each slider move's seconds to the new numbers.

    The first visit is a deep link (`goto` the page's URL in a new browser context: Chromium loads Streamlit's
    frontend first) or, with `via_home` (seconds spent on Home), the way most visitors arrive: the new context
    opens Home, reads it for `via_home` s once it is drawn, and clicks the page's link in the sidebar; the time
    runs from the click (the frontend is loaded, the page's script runs over the open websocket).

    The moves start once the page's preview figure is drawn: a visitor moves the slider of a page they see.
    (Before 1 Dec 2026 they started once the numbers were shown, so the first moves could land while the
    browser was still evaluating plotly.js, ~1 s here: the "one slow move per page" of docs/performance.md.)

    With a `detail` list, one dict per move is appended to it (figure redraw, plot replaced, frames, bytes);
    with an `accuracy` list, the seconds from each move to its accuracy card's value (Prune, Quantize).
    """
    path, key, ready, values, shows = PAGES[name]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.add_init_script(PLOTS_SEEN)
    traffic = {"frames": 0, "bytes": 0}

    def count(payload) -> None:
        traffic["frames"] += 1
        traffic["bytes"] += len(payload)

    if detail is not None:
        page.on("websocket", lambda ws: ws.on("framereceived", count))
    if via_home is not None:
        link = sidebar_link_after_home(page, url, NAV_TITLES[name], via_home)
    cpu_at_goto = tree_cpu_s(server_pid) if server_pid else None
    began = time.perf_counter()
    began_in_page = page.evaluate("performance.now()") if via_home is not None else 0.0  # a deep link: its document
    if via_home is not None:
        link.click()
    else:
        page.goto(f"{url}/{path}")
    page.get_by_text(ready).first.wait_for(timeout=300_000)
    if dataset:
        choose_dataset(page, name, dataset)
    if name in LEARN_TABS:
        page.get_by_role("tab", name=LEARN_TABS[name], exact=True).click()
    start_value = {"prune": 50, "quantize": 4, "distill": 4.0, "learn": 70, "learn-quantization": 3,
                   "learn-damage": 80}[name]
    page.wait_for_function(SHOWS, arg=shows(start_value), timeout=300_000)
    first_visit = time.perf_counter() - began
    page.wait_for_function(DRAWN, arg=FIGURES[name], timeout=120_000, polling="raf")
    first_visit = (first_visit, time.perf_counter() - began,
                   tree_cpu_s(server_pid) - cpu_at_goto if server_pid else None)  # the server's CPU for the visit
    wait_idle(page, 60_000)
    first_visit += ((page.evaluate("window.__labLastPlot") - began_in_page) / 1000,)  # to every figure drawn
    fig = FIGURES.get(name) if detail is not None else None  # the in-page times of every move
    if fig:
        page.evaluate("s => { window.__labShows = eval(s); }", SHOWS)
        page.evaluate("keys => { window.__labMoreFigures = keys; }", MORE_FIGURES.get(name, []))
        page.evaluate(WATCH, fig)
    thumb = page.locator(f".st-key-{key} input[type='range']")
    thumb.focus()
    times = []
    cpu_before = (tree_cpu_s(server_pid), tree_cpu_s(os.getpid(), exclude=server_pid)) if fig and server_pid else None
    cdp = page.context.new_cdp_session(page) if fig else None  # Chromium's own split of its main-thread time
    if cdp:
        cdp.send("Performance.enable")
        main_before = browser_times(cdp)
    for value, press in values(moves):
        wait_idle(page, 120_000)
        page.wait_for_timeout(150)
        if fig:
            page.evaluate(TAG, fig)
            page.evaluate("v => { window.__lab.want = v; }", shows(value))
        traffic.update(frames=0, bytes=0)
        began = time.perf_counter()
        # key down, then up once the numbers show: Playwright's `press` returns only when the key-up is handled, and
        # that waits behind whatever the page does after the key-down (a figure redrawn in the browser, ~50 ms)
        page.keyboard.down(press)
        page.wait_for_function(SHOWS, arg=shows(value), timeout=30_000, polling="raf")
        times.append(time.perf_counter() - began)
        page.keyboard.up(press)
        if accuracy is not None and name in ACCURACY:  # the accuracy card filled in (progressive previews)
            page.wait_for_function(ARRIVED, arg=ACCURACY[name](value), timeout=120_000, polling="raf")
            accuracy.append(time.perf_counter() - began)
        if fig:
            shown_wall = time.time()
            figure_ms, replaced = page.evaluate(SETTLED, fig)
            wait_idle(page, 30_000)
            seen, painted = page.evaluate("() => [window.__lab.shown && window.__lab.shown - window.__lab.press, "
                                          "window.__lab.painted && window.__lab.painted - window.__lab.press]")
            detail.append({"numbers_ms": round(1000 * times[-1], 1), "numbers_in_page_ms": round(seen, 1) if seen else None,
                           "numbers_painted_ms": round(painted, 1) if painted else None,
                           "figure_ms": None if figure_ms is None else round(figure_ms, 1),
                           "plot_replaced": replaced, "frames": traffic["frames"], "bytes": traffic["bytes"],
                           "press_wall": page.evaluate("() => window.__lab.pressWall") / 1000, "shown_wall": shown_wall})
    if cdp and detail:
        main_after = browser_times(cdp)
        detail[0]["page_main_thread_ms_per_move"] = {k: round(1000 * (main_after[k] - main_before[k]) / len(times), 1)
                                                     for k in main_after}
    if cpu_before is not None and detail:  # per move: the server's CPU, and the browser's (with Playwright's polling)
        detail[0]["cpu_ms_per_move"] = {
            "server": round(1000 * (tree_cpu_s(server_pid) - cpu_before[0]) / len(times), 1),
            "browser": round(1000 * (tree_cpu_s(os.getpid(), exclude=server_pid) - cpu_before[1]) / len(times), 1)}
    page.close()
    return first_visit, times


def summarize_detail(rows: list[dict], profile_rows: list[dict]) -> dict:
    """Medians and p95s of `page_moves`' per-move details and of the server's fragment timings."""
    def stats(values):
        values = [v for v in values if v is not None]
        return {"p50": round(statistics.median(values), 1), "p95": round(percentile(values, 95), 1)} if values else None

    out = {"cpu_ms_per_move": rows[0].get("cpu_ms_per_move") if rows else None,
           "page_main_thread_ms_per_move": rows[0].get("page_main_thread_ms_per_move") if rows else None,
           "numbers_in_page_ms": stats([r.get("numbers_in_page_ms") for r in rows]),
           "numbers_painted_ms": stats([r.get("numbers_painted_ms") for r in rows]),
           "figure_ms": stats([r["figure_ms"] for r in rows]),
           "plot_replaced": sum(bool(r["plot_replaced"]) for r in rows), "moves": len(rows),
           "frames": stats([r["frames"] for r in rows]), "bytes": stats([r["bytes"] for r in rows]),
           "moves_detail": rows}
    if profile_rows:
        out["server_fragment_ms"] = stats([r["total_ms"] for r in profile_rows])
        if len(profile_rows) == len(rows):  # one fragment run per move: split the move at the server
            ends = [p["t"] for p in profile_rows]
            out["press_to_fragment_start_ms"] = stats(
                [1000 * (end - p["total_ms"] / 1000 - r["press_wall"]) for end, p, r in zip(ends, profile_rows, rows)])
            out["fragment_end_to_numbers_ms"] = stats([1000 * (r["shown_wall"] - end) for end, r in zip(ends, rows)])
        steps = sorted({s for r in profile_rows for s in r["steps"]})
        out["server_steps_ms"] = {s: stats([r["steps"].get(s) for r in profile_rows]) for s in steps}
    return out


def read_profile(path: Path, name: str, last: int) -> list[dict]:
    """The last `last` lines of fragment `name` in a `LAB_PROFILE` file (the timed moves)."""
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r.get("fragment") == name][-last:]


WARMUP_DONE = "compress-lab warm-up done"  # ui/warmup.py's DONE_LINE, on the server's stderr


def wait_warmup_done(log: Path, process, timeout_s: float = 300) -> dict:
    """Wait for the server's warm-up to log that it has finished; returns its stage timings (s since it began)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with status {process.returncode}")
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith(WARMUP_DONE):
                return json.loads(line[len(WARMUP_DONE):])
        time.sleep(0.05)
    raise TimeoutError(f"the warm-up did not finish within {timeout_s} s (see {log})")


def pages_bench(browser, home: Path, names: list[str], moves: int, dwell_s: float = 0.0, detail: bool = False,
                dataset: str | None = None, after_warmup: bool = False, via_home: bool = False,
                plain: bool = False) -> dict:
    """Warm-up visit of every page (trains missing baselines), then a fresh server: first visits and moves.

    `dwell_s` > 0: on the fresh server a visitor first opens Home and reads it for `dwell_s` seconds
    (the server warms the preview imports meanwhile) before the timed first visits.
    `after_warmup`: the timed visits start once the server's warm-up has finished (a visitor who arrives after
    the server has warmed); a Home visit first, without a dwell, when the warm-up starts only after a page.
    `via_home`: each first visit is a click in the sidebar of a Home page read for `dwell_s` (`page_moves`), and no
    separate landing visit is made (unless `after_warmup` needs one to start the warm-up).
    """
    for warm in (True, False):
        port = e2e.free_port()
        url = f"http://localhost:{port}"
        profile_path = home / f"bench_profile_{port}.jsonl"
        env = {"LAB_PROFILE": str(profile_path)} if detail and not warm else None
        log = home / "bench_streamlit.log"
        launched = time.perf_counter()
        process = e2e.start_app(home, port, log, env=env, plain=plain)
        try:
            e2e.wait_healthy(url, process)
            if ((dwell_s > 0 and not via_home) or after_warmup) and not warm:
                landing = browser.new_page()
                landing.goto(url)
                landing.get_by_role("heading", name="Compression Lab", exact=True).wait_for(timeout=60_000)
                landing.wait_for_timeout(0 if via_home else 1000 * dwell_s)
                landing.close()
            warmup = None
            if after_warmup and not warm:
                stages = wait_warmup_done(log, process)
                warmup = {"done_after_launch_s": round(time.perf_counter() - launched, 2), "stages_s": stages}
            out = {"_warmup": warmup} if warmup else {}
            for name in names:
                rows = [] if not warm else None  # every move's in-page times (and with --detail, the server's)
                accuracy = []
                first, times = page_moves(browser, url, name, 1 if warm else moves, rows, dataset, process.pid,
                                          accuracy, dwell_s if via_home and not warm else None)
                out[name] = {"first_visit_s": round(first[0], 3), "first_visit_figure_s": round(first[1], 3),
                             "first_visit_all_figures_s": round(first[3], 3),
                             "first_visit_server_cpu_s": None if first[2] is None else round(first[2], 3), "p50_ms": round(1000 * statistics.median(times), 1),
                             "p95_ms": round(1000 * percentile(times, 95), 1),
                             "all_ms": [round(1000 * t, 1) for t in times]}
                if accuracy:
                    out[name]["accuracy"] = {"p50_ms": round(1000 * statistics.median(accuracy), 1),
                                             "p95_ms": round(1000 * percentile(accuracy, 95), 1),
                                             "all_ms": [round(1000 * t, 1) for t in accuracy]}
                if rows is not None:
                    out[name]["detail"] = summarize_detail(rows, read_profile(profile_path, name, len(rows)))
        finally:
            e2e.stop_app(process, home)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=20)
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--returning-starts", type=int, default=0,
                        help="also time this many cold starts for a returning visitor: same port and browser "
                             "context, so Chromium's cache holds Streamlit's static files (the server is as cold)")
    parser.add_argument("--pages", default=",".join(DEFAULT_PAGES),
                        help=f"pages to time, comma-separated (default {','.join(DEFAULT_PAGES)}; also "
                             "learn-quantization, learn-damage: other Learn lessons' sliders)")
    parser.add_argument("--tab-after-health", action="store_true",
                        help="cold starts as measured before 2 Dec 2026: the browser tab opened after the server "
                             "answered its health check (asked every 0.1 s), so the time includes opening it")
    parser.add_argument("--plain", action="store_true",
                        help="servers launch as `streamlit run app.py` instead of the README's `python -m ui.serve` "
                             "(Nagle off from the first request, no component manifest scan, Streamlit's Plotly "
                             "theme built after the server listens: ui/serve.py)")
    parser.add_argument("--floor", action="store_true",
                        help=f"after each cold start of the lab, one of {FLOOR_APP} (Home's elements drawn by "
                             "Streamlit with none of the lab's code, same launcher), and as many page switches in "
                             "it (sidebar click to a page of number cards): what Streamlit and the browser cost on "
                             "this machine before the lab does anything")
    parser.add_argument("--home-dwell", type=float, default=0.0,
                        help="seconds a visitor reads Home on the fresh server before the timed first visits")
    parser.add_argument("--via-home", action="store_true",
                        help="first visits as most visitors make them: open Home (read it for --home-dwell s), then "
                             "click the page in the sidebar; timed from the click (default: a deep link to the page "
                             "in a new browser context, which also loads Streamlit's frontend)")
    parser.add_argument("--after-warmup", action="store_true",
                        help="start the timed first visits once the server's warm-up has finished (its log line)")
    parser.add_argument("--home", help="home folder to use (its cached baseline is reused); default: a temp folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--detail", action="store_true",
                        help="per move: figure redraw time, plot replaced or updated, websocket frames and bytes, "
                             "and the server's fragment timings (LAB_PROFILE)")
    parser.add_argument("--dataset", help="switch each page to this data set first (text-demo: tinybert; "
                                          "text-minilm: text-demo with a MiniLM-sized hf:DIR model)")
    parser.add_argument("--text-model", help="with --dataset text-minilm: this save_pretrained folder instead of "
                                             "the MiniLM-sized one built under the home folder")
    args = parser.parse_args(argv)
    if not Path(e2e.CHROMIUM).exists():
        print(f"skipped: {e2e.CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    from compress_core.context import RunContext
    from compress_core.specs import PruneSpec
    from compress_core.training.baseline import get_baseline

    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="bench_ui_"))
    if args.dataset == "text-minilm":
        from minilm_folder import ensure_folder

        TEXT_MODEL["folder"] = Path(args.text_model).resolve() if args.text_model else \
            ensure_folder(home / "minilm-sized")
    began = time.perf_counter()
    get_baseline(PruneSpec().baseline_spec(), RunContext.create(home=home))  # what the page asks for first
    baseline_s = time.perf_counter() - began
    names = [n.strip() for n in args.pages.split(",") if n.strip()]
    unknown = sorted(set(names) - set(PAGES))
    if unknown:
        parser.error(f"--pages: unknown {unknown}; allowed: {sorted(PAGES)}")
    load_before = os.getloadavg()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=e2e.CHROMIUM, args=e2e.CHROMIUM_ARGS)
        starts, floor = [], []
        for _ in range(args.starts):  # with --floor, the lab and the floor app alternate
            starts.append(cold_start(browser, home, plain=args.plain, tab_after_health=args.tab_after_health))
            if args.floor:
                floor.append(cold_start(browser, home, plain=args.plain, tab_after_health=args.tab_after_health,
                                        script=FLOOR_APP))
        switches = [floor_page_switch(browser, home, args.home_dwell or 1.0) for _ in range(args.starts)] \
            if args.floor else []
        returning = []
        if args.returning_starts:
            context, port = browser.new_context(), e2e.free_port()
            cold_start(browser, home, context, port, args.plain)  # the visit that fills the browser's cache, not counted
            returning = [cold_start(browser, home, context, port, args.plain, args.tab_after_health)
                         for _ in range(args.returning_starts)]
            context.close()
        pages = pages_bench(browser, home, names, args.moves, args.home_dwell, args.detail, args.dataset,
                            args.after_warmup, args.via_home, args.plain) if names else {}
        warmup = pages.pop("_warmup", None)  # --after-warmup: when the server's warm-up ended, its stages
        browser.close()
    result = {
        "warmup": warmup,
        "pages": pages, "home_dwell_s": args.home_dwell, "preview_target_p95_ms": 100, "first_visit_target_s": 1,
        "first_visit_from": "a click in Home's sidebar" if args.via_home else "a deep link in a new browser context",
        "launcher": "streamlit run app.py" if args.plain else "python -m ui.serve",
        "cold_start_s_median": statistics.median(starts) if starts else None,
        "cold_start_s_all": [round(t, 2) for t in starts], "cold_start_target_s": 1.5,
        "cold_start_method": ("tab opened after the health check (polled every 0.1 s)" if args.tab_after_health
                              else "tab opened before the launch, health polled every 20 ms"),
        "cold_start_floor_s_median": statistics.median(floor) if floor else None,
        "cold_start_floor_s_all": [round(t, 2) for t in floor],
        "floor_page_switch_s_median": statistics.median(switches) if switches else None,
        "floor_page_switch_s_all": [round(t, 2) for t in switches],
        "cold_start_returning_s_median": statistics.median(returning) if returning else None,
        "cold_start_returning_s_all": [round(t, 2) for t in returning],
        "baseline_ready_s": baseline_s, "cpu_count": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    if args.json:
        print(json.dumps(result))
    else:
        if warmup:
            print(f"warm-up finished {warmup['done_after_launch_s']:.2f} s after the server's launch (a Home visit "
                  f"started it); its stages, s since it began: {warmup['stages_s']}")
        for name, r in pages.items():
            print(f"{name:9s} slider-to-numbers p50 {r['p50_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms over "
                  f"{len(r['all_ms'])} moves (target p95 <= 100 ms); first visit {r['first_visit_s']:.2f} s "
                  f"to the numbers, {r['first_visit_figure_s']:.2f} s to the figure drawn, "
                  f"{r['first_visit_all_figures_s']:.2f} s to every figure (target <= 1 s); server CPU "
                  f"{r['first_visit_server_cpu_s']} s")
            if r.get("accuracy"):
                print(f"          accuracy shown p50 {r['accuracy']['p50_ms']:.0f} ms, p95 "
                      f"{r['accuracy']['p95_ms']:.0f} ms after the move")
            d = r.get("detail")
            if d:
                print(f"          in the page, from the key press: numbers in the DOM {d['numbers_in_page_ms']} ms, "
                      f"painted (next frame) {d['numbers_painted_ms']} ms, figure redrawn {d['figure_ms']} ms")
            if d and args.detail:
                print(f"          figure redrawn {d['figure_ms']} ms; plot replaced in {d['plot_replaced']} of "
                      f"{d['moves']} moves; frames {d['frames']}, bytes {d['bytes']}; server fragment "
                      f"{d.get('server_fragment_ms')} ms, steps {d.get('server_steps_ms')}")
        if starts:
            print(f"cold start to Home: median {result['cold_start_s_median']:.2f} s over {len(starts)} starts "
                  f"(target <= 1.5 s); all: {result['cold_start_s_all']}; {result['cold_start_method']}")
        if floor:
            print(f"cold start of Streamlit's floor ({FLOOR_APP}: Home's elements, none of the lab's code), "
                  f"alternated with the lab's: median {result['cold_start_floor_s_median']:.2f} s; all: "
                  f"{result['cold_start_floor_s_all']}")
            print(f"Streamlit's page switch in the floor app (a click on Prune in its sidebar to its four number "
                  f"cards, no figure): median {result['floor_page_switch_s_median']:.2f} s; all: "
                  f"{result['floor_page_switch_s_all']}")
        if returning:
            print(f"cold start to Home, returning browser (its cache holds the app's static files): median "
                  f"{result['cold_start_returning_s_median']:.2f} s; all: {result['cold_start_returning_s_all']}")
        print(f"machine: {os.cpu_count()} CPUs, load average (1, 5, 15 min) before {result['load_average_before']}, "
              f"after {result['load_average_after']} (shared machine: other jobs compete for the same cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
