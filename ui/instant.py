"""Instant previews: every position of a preview's slider computed ahead, so the browser redraws a move itself.

Why (issue 19): after a fragment rerun had been cut to ~40 ms of server time, a slider move still took 85-150 ms
(p50) to reach the screen, most of it in the browser: Streamlit's frontend applying the fragment's deltas and
re-rendering its elements (docs/performance.md, "Fourth round"). No server-side change removes that. So when a
preview has few slider positions and each is cheap, the server computes all of them once, after the page is
drawn, and sends them to the browser in one table; the browser then draws a move from the table at once (the
cards' markup and the figure, exactly what the server would send), and the server's own rerun, which still
happens (the slider is a normal Streamlit widget, so the page state, runs and tests are unchanged), arrives
with the same content and changes nothing on screen.

How it fits together:
- `bind(slider, setting, value)` names the table (`version`: a hash of the slider and everything else the
  preview depends on) and gives the fragment its `tag` (version|value). The fragment draws as before, with the
  tag on its cards block (`data-lab-tag`, ui/cards.py) and on its live charts (ui/live_chart.py).
- `offer(binding, values, entry)` emits a small invisible element (the table's slot) and registers the build.
  `entry(value)` returns what the fragment would draw at that value: {"slots": {slot: cards markup},
  "charts": {chart key: figure}}, made by the same functions the fragment uses.
- `finish()` runs at the end of the run (`@builds_after` on the fragment for its own reruns, and the page's
  last line for a whole page run, so the rest of the page is drawn first): it computes the entries (cached
  underneath: the same `preview_cache` numbers and `figure_cache` figures a move would use), stops at once
  when the visitor moves again (the next run goes on from the caches), and sends the table once per browser
  session. A table whose first entries show it would cost more than BUDGET_S is not built (the moves go
  through the server as before). A model slow to evaluate gets a table of the numbers that need no evaluation:
  its accuracy card reads "measuring…" until the server's run fills it in, as before.
- The browser half (`live_chart_assets/instant.js`) watches the slider; charts travel as one base figure and,
  per value, the paths that differ from it (`patch`).

`COMPRESS_LAB_INSTANT=0` turns it off (the AppTest suite does: a page run there would wait for the table).
Lecture mode (larger chart fonts, drawn by ui/figures.chart) is not tabulated. Written by hand: no library
precomputes Streamlit widget states.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections import OrderedDict
from functools import wraps
from typing import Callable, Iterable, NamedTuple

import streamlit as st

NAME = "compression_lab_instant"  # the components v2 name
ENV = "COMPRESS_LAB_INSTANT"
# The most one table may cost to build (this thread's CPU seconds), estimated once a tenth of its entries (at least
# PROBE) are built, so that one-time costs of the first entries (cold caches) do not count a hundred times: the Learn
# pruning lesson's table measures 3.3 s here, and its first 3 entries alone projected more than 4 s.
BUDGET_S = 8.0
PROBE = 3
MAX_TABLES = 32  # built tables kept (40 kB-1.5 MB each), least recently used dropped
MAX_SENT = 64  # versions remembered per session as already in its browser
WAIT_POLL_S = 0.02
# The build waits this long after the run has drawn everything, so that the page's own messages reach the browser
# first (a build holds the GIL most of the time, and Streamlit's event loop needs it to send them), and yields the
# GIL after each entry for the same reason.
SETTLE_S = 0.3
YIELD_S = 0.002
# Nor does a build compete with the server's background warm-up (ui/warmup.py: the imports and caches that make
# the other pages' first visits fast): it waits until that has finished, at most WARMUP_WAIT_S.
WARMUP_WAIT_S = 60.0
SENT = "_instant_sent"  # session_state: versions this session's browser holds

_JS = ("export default a => {\n"
       "  const m = import(new URL('component/ui.live_chart.assets/instant.js', document.baseURI).href);\n"
       "  m.then(s => s.attach(a), () => {});\n"
       "};\n")
KEY_PREFIX = "lab_instant_"  # the elements' keys: their containers are hidden (no gap in the page's layout)
# Two lines: Streamlit takes a one-line string with glob characters ([, *) for a file path.
_CSS = f'/* instant previews: hidden elements */\n[class*="st-key-{KEY_PREFIX}"] {{ display: none; }}'
_component = st.components.v2.component(NAME, html='<div class="lab-instant"></div>', css=_CSS, js=_JS,
                                        isolate_styles=False)

_tables: "OrderedDict[str, bytes | None]" = OrderedDict()  # version -> table JSON (None: over budget)
_building: set[str] = set()
# browser session -> [its run, (binding, values, entry, slot), ...] offered in that run and not built yet; a run
# that ended early leaves its offers until the session's next offer (at most MAX_PENDING sessions are kept)
_pending: "OrderedDict[str, list]" = OrderedDict()
MAX_PENDING = 64
_lock = threading.Lock()


class Binding(NamedTuple):
    """One preview's slider and the setting its table is for."""

    slider: str  # the slider's widget key
    version: str  # names the table: slider + setting
    value: str  # the slider's current value as the browser's <input type=range> reads it

    @property
    def tag(self) -> str:
        return tag_of(self.version, self.value)

    def tag_at(self, value) -> str:
        """The tag of this table's entry for another slider value (what the page draws there carries it)."""
        return tag_of(self.version, value_text(value))


def tag_of(version: str, value: str) -> str:
    return f"{version}|{value}"


def value_text(value) -> str:
    """A slider value as the browser's range input holds it: 51 → "51", 4.0 → "4", 4.5 → "4.5" (JavaScript's
    String(Number(input.value)))."""
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def enabled() -> bool:
    if os.environ.get(ENV, "1") == "0":
        return False
    from ui import figures

    return not figures._presentation()["font_size"]  # lecture fonts: ui/figures.chart redraws the figure


def bind(slider: str, setting: tuple, value) -> Binding | None:
    """The binding of slider `slider` at `value` for a preview that depends on `setting` (a tuple of everything
    else it shows: baseline key, method, …), or None when instant previews are off."""
    if not enabled():
        return None
    version = hashlib.sha1(repr((slider, setting)).encode()).hexdigest()[:16]
    return Binding(slider, version, value_text(value))


def tag(binding: Binding | None) -> str | None:
    return binding.tag if binding is not None else None


def _run() -> tuple[str, object]:
    """(browser session, this run's identity): Streamlit gives each run of a session a new `cursors` dict, held in
    `_pending` with the offers, so offers left by an interrupted run are never built into its stale slots."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return (ctx.session_id, ctx.cursors) if ctx is not None else ("", None)


def _fragment_run() -> bool:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return bool(ctx is not None and ctx.fragment_ids_this_run)


def offer(binding: Binding | None, values: Iterable, entry: Callable[[object], dict]) -> None:
    """Place the table's element here and build the table at the end of this run (`finish`).

    `values`: every value the slider can take; `entry(value)`: {"slots": {name: markup}, "charts": {key: figure}}
    as the fragment draws it at `value` (figures: plotly Figures or their JSON)."""
    if binding is None:
        return
    slot = st.empty()
    _draw(slot, binding, None)  # without the table: a few bytes per move
    with _lock:
        state = _tables.get(binding.version, _MISSING)
    if state is None or (state is not _MISSING and binding.version in st.session_state.get(SENT, ())):
        return  # over budget, or already in this browser
    session, run = _run()
    with _lock:
        offers = _pending.get(session)
        if offers is None or offers[0] is not run:
            offers = _pending[session] = [run]
        _pending.move_to_end(session)
        while len(_pending) > MAX_PENDING:
            _pending.popitem(last=False)
        offers.append((binding, list(values), entry, slot))


def _draw(slot, binding: Binding, table: bytes | None) -> None:
    head = json.dumps({"slider": binding.slider, "version": binding.version}).encode()
    data = head if table is None else head[:-1] + b', "table": ' + table + b"}"
    # The table comes in an element of its own key, so that the same run can replace the first one with it.
    key = f"{KEY_PREFIX}{binding.slider}" + ("_table" if table is not None else "")
    from ui import live_chart

    live_chart._serve_assets()  # instant.js is served from the live chart's asset folder
    with slot:
        _component(key=key, data=data, width="stretch", height="content")


def builds_after(func):
    """Decorator for a preview fragment: build what it offered once it has drawn everything (its own reruns)."""
    @wraps(func)
    def run(*args, **kwargs):
        result = func(*args, **kwargs)  # not after an exception (a rerun or stop request, an error shown)
        if _fragment_run():
            finish()
        return result
    return run


def finish(page_end: bool = False) -> None:
    """Build and send the tables offered in this run. A page calls it last (`page_end=True`): in a fragment's own
    rerun the fragment's `builds_after` already did, so the page-end call does nothing there."""
    if page_end and _fragment_run():
        return
    session, run = _run()
    with _lock:
        offers = _pending.pop(session, None)
    if offers is None or offers[0] is not run or not _after_warmup() or not _wait(lambda: False, SETTLE_S):
        return
    for binding, values, entry, slot in offers[1:]:
        table = _table(binding, values, entry)
        if table is None:
            return  # interrupted (the visitor moved) or over budget
        _draw(slot, binding, table)
        sent = st.session_state.setdefault(SENT, [])
        if binding.version not in sent:
            sent.append(binding.version)
            del sent[:-MAX_SENT]


def _wait(done: Callable[[], bool], seconds: float) -> bool:
    """Sleep until `done()` or `seconds` have passed; False at once when a newer run is asked for meanwhile."""
    from ui import preview_cache

    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        if preview_cache._rerun_pending():
            return False
        time.sleep(min(WAIT_POLL_S, max(0.0, deadline - time.monotonic())))
    return not preview_cache._rerun_pending()


def _after_warmup() -> bool:
    """Wait for the server's warm-up to finish (if it runs), at most WARMUP_WAIT_S."""
    from ui import warmup

    return _wait(lambda: not warmup.running(), WARMUP_WAIT_S)


def _table(binding: Binding, values: list, entry) -> bytes | None:
    """The table's JSON: built here, or by another session (waited for), or None (interrupted, over budget)."""
    from ui import preview_cache

    while True:
        with _lock:
            if binding.version in _tables:
                _tables.move_to_end(binding.version)
                return _tables[binding.version]
            if binding.version not in _building:
                _building.add(binding.version)
                break
        if preview_cache._rerun_pending():
            return None
        time.sleep(WAIT_POLL_S)
    built = _INTERRUPTED  # stays so when a Streamlit control exception (a rerun, a stop) ends the build
    try:
        try:
            built = build(binding.version, values, entry, stop=preview_cache._rerun_pending)
        except Exception:  # a value the preview cannot draw: no table, the moves go through the server
            built = None
    finally:
        with _lock:
            _building.discard(binding.version)
            if built is not _INTERRUPTED:
                _tables[binding.version] = built
                while len(_tables) > MAX_TABLES:
                    _tables.popitem(last=False)
    return None if built is _INTERRUPTED else built


_INTERRUPTED = object()  # build()'s answer when `stop()` said a newer run is waiting
_MISSING = object()


def build(version: str, values: list, entry, stop: Callable[[], bool] = lambda: False):
    """The table of `entry(v)` for every v in `values` as JSON bytes: {"base": {chart: figure}, "entries": {value
    text: {"slots": {name: markup}, "patches": {chart: patch}}}}; None when over BUDGET_S, `_INTERRUPTED` when
    `stop()` turned true between entries."""
    from ui import figure_cache

    base: dict[str, dict] = {}
    entries: dict[str, dict] = {}
    began = time.thread_time()
    for i, value in enumerate(values):
        if i:
            time.sleep(YIELD_S)  # Streamlit's event loop may send what it holds (a sleep releases the GIL)
        if stop():
            return _INTERRUPTED
        drawn = entry(value)
        text = value_text(value)
        patches = {}
        for key, fig in (drawn.get("charts") or {}).items():
            figure = json.loads(fig if isinstance(fig, str) else figure_cache.json_of(fig))
            if key not in base:
                base[key] = figure
            patches[key] = patch(base[key], figure)
        entries[text] = {"slots": drawn.get("slots") or {}, "patches": patches}
        spent = time.thread_time() - began
        probe = max(PROBE, len(values) // 10)
        if (i + 1 == probe and spent / probe * len(values) > BUDGET_S) or spent > 2 * BUDGET_S:
            return None  # the probe's estimate, or later entries slower than it said
    return json.dumps({"version": version, "base": base, "entries": entries}, separators=(",", ":")).encode()


def patch(base, other, path: tuple = ()) -> list:
    """The changes that turn `base` into `other` (JSON values): [path, value] sets a value, [path] deletes a key.

    Objects are compared key by key and lists of objects (traces, shapes) item by item when their lengths match;
    any other differing value (a number list, a base64 array) is replaced whole. `apply` is its inverse."""
    if isinstance(base, dict) and isinstance(other, dict):
        out = []
        for key in base.keys() | other.keys():
            if key not in other:
                out.append([[*path, key]])
            elif key not in base:
                out.append([[*path, key], other[key]])
            elif base[key] != other[key]:
                out.extend(patch(base[key], other[key], (*path, key)))
        return out
    if (isinstance(base, list) and isinstance(other, list) and len(base) == len(other)
            and any(isinstance(item, (dict, list)) for item in base)):
        out = []
        for i, (a, b) in enumerate(zip(base, other)):
            if a != b:
                out.extend(patch(a, b, (*path, i)))
        return out
    return [[list(path), other]]


def apply(base, changes: list):
    """`base` with `changes` (from `patch`) applied, as a new value (instant.js's `apply`, for tests)."""
    out = json.loads(json.dumps(base))
    for change in changes:
        path = change[0]
        if not path:
            out = change[1]
            continue
        target = out
        for step in path[:-1]:
            target = target[step]
        if len(change) == 1:
            del target[path[-1]]
        else:
            target[path[-1]] = change[1]
    return out


def clear() -> None:
    """Forget every built table (tests)."""
    with _lock:
        _tables.clear()
        _building.clear()
        _pending.clear()
