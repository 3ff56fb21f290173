"""Warm the preview pages' heavy imports and the default baseline in the background once Home is on screen.

Cold start stays light (Home imports neither torch nor the engine's methods), but the first
visit to Prune, Quantize or Distill would then pay for importing torch, scikit-learn and the
preview modules and for loading the cached baseline from disk (about 2-3 s here, see
docs/performance.md). One daemon thread per server process does that work right after the first
page has rendered, while the visitor is reading it:

1. imports what the preview pages import first (torch, the data sets, the method registry, the
   criteria, the preview modules and caches);
2. when the default digits baseline is already cached on disk (a prepared lab), loads it into
   `common`'s shared baseline cache (`st.cache_resource`), computes its weight histogram
   (`common.baseline_weights`) and the default pruning preview (`preview_cache.prune`), and builds one
   figure from it (Plotly's validators load on the first figure), so the first Prune, Quantize,
   Distill or Learn visit (Learn's lessons use the same baseline) finds them warm. It never trains:
   a missing baseline is queued by the page that needs it, as before;
3. imports what only the Learn page adds (its lessons' engine and UI modules, kaleido for the figures'
   export menu), loads the attention lesson's tinybert baseline when it is cached (its text split imports
   scikit-learn), and last what a lesson needs only once the visitor measures something (`scipy.stats`, the
   damage lesson's binomial test, ~0.8 s);
4. indexes the loaded modules for `inspect.getmodule` and freezes the objects alive now out of the
   garbage collector's work (`settle`, below).

Stages 2-4 each start only once no preview has run for `QUIET_S` (`wait_for_quiet`): a visitor already moving a
slider is not made to wait for them.

Stage 4 comes from a profile of a first visit after the warm-up (`benchmarks/profile_first_visit.py`): Streamlit's
`declare_component` (the live chart's asset folders, once per server) calls `inspect.getmodule`, whose first call
after torch is loaded walks the ~1,600 modules loaded since (~70 ms of CPU; 0.7 s under cProfile); Learn's first
visit imported kaleido and scikit-learn (1.2 and 0.9 s under cProfile: Learn's server CPU per first visit went
from 0.81-0.87 s to 0.39-0.45 s with them warmed).

`timings` records when each stage ended (seconds since the thread started), for tests and benchmarks.
When the thread ends it prints one line to stderr, `compress-lab warm-up done {json of timings}` (`DONE_LINE`),
the signal `benchmarks/bench_ui.py --after-warmup` waits for in the server's log.

A page that needs any of this earlier simply waits: on Python's import lock, or on the cache's
per-key lock (Streamlit computes one cached value once, the other caller waits for it).
`COMPRESS_LAB_WARMUP=0` switches the warm-up off (the profile script uses that to charge every
import to the visit that asks for it).
"""
from __future__ import annotations

import importlib
import json
import os
import sys
import threading
import time

# What the preview pages import first; importing them here only moves that cost earlier.
MODULES = ("torch", "compress_core.data.datasets", "compress_core.methods.registry", "compress_core.methods.criteria",
           "compress_core.present.preview", "compress_core.present.plots", "ui.preview_cache")
# After the default baseline: the Learn page's own modules, then what a lesson needs only when measured.
# Each is optional here (a module renamed or missing is simply skipped; its page reports the problem).
LATER_MODULES = ("compress_core.present.teach", "ui.learn_quantization", "ui.learn_lottery", "ui.learn_damage",
                 "ui.learn_attention", "kaleido", "choreographer.browsers.chromium", "scipy.stats")

# Seconds the thread waits before importing. Started at once, its imports (torch holds the GIL for
# most of its ~1 s import) delayed the delivery of the Home page it follows: cold start to a rendered
# Home measured 3.2 s with an immediate warm-up against 2.1 s without (bench_ui.py --pages "" --starts 5,
# alternated, load 0.2-1.5). After a short wait the page is on screen and the visitor is reading it.
DELAY_S = float(os.environ.get("COMPRESS_LAB_WARMUP_DELAY", "1.0"))
# Each stage after the imports waits until no preview fragment has run for QUIET_S seconds (`note_activity`: a
# visitor moving a slider), at most QUIET_MAX_S per stage. Its stages hold the GIL for 0.2-1.6 s each; run while a
# visitor moves the Prune slider they made the first three moves after a first visit 150-300 ms instead of ~80 ms
# (bench_ui.py --via-home: the warm-up was still loading the baseline, the Learn modules and tinybert).
QUIET_S = float(os.environ.get("COMPRESS_LAB_WARMUP_QUIET", "0.6"))
QUIET_MAX_S = 30.0
_last_activity = [float("-inf")]  # time.monotonic() of the latest preview fragment run

_started = threading.Event()
done = threading.Event()  # set when the warm-up has finished (or given up); for tests and benchmarks
timings: dict[str, float] = {}  # stage -> seconds since the thread started, in the order they ended
DONE_LINE = "compress-lab warm-up done"  # + the timings as JSON, on the server's stderr when the thread ends


def note_activity() -> None:
    """A preview fragment ran now (`ui/profile.timed` calls this for every preview): the next stage waits."""
    _last_activity[0] = time.monotonic()


def wait_for_quiet(quiet_s: float | None = None, max_s: float | None = None) -> float:
    """Sleep until no preview has run for `quiet_s` seconds, or `max_s` have passed; the seconds waited."""
    quiet_s = QUIET_S if quiet_s is None else quiet_s
    began = time.monotonic()
    deadline = began + (QUIET_MAX_S if max_s is None else max_s)
    while True:
        now = time.monotonic()
        idle = now - _last_activity[0]
        if idle >= quiet_s or now >= deadline:
            return now - began
        time.sleep(max(0.01, min(quiet_s - idle, deadline - now)))


def _import_all() -> bool:
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # a broken optional import shows up (with its message) on the page that needs it
            return False
    from compress_core.methods.registry import load_methods

    load_methods()  # every run kind, as the pages' registry look-ups would
    return True


def warm_default_baseline() -> bool:
    """Load the default (digits) baseline and its first preview into the shared caches if it is on disk.

    Returns whether it was warmed (False: not trained yet, nothing done).
    """
    from compress_core.models.zoo import prunable_layers
    from compress_core.specs import PruneSpec
    from ui import common, preview_cache

    spec = PruneSpec()  # the Prune, Quantize and Distill pages' defaults share this baseline
    base = common.cached_baseline(spec.baseline_spec())
    if base is None:
        return False
    common.use_few_threads()  # as the pages do: previews are tiny tensors
    edges, before = common.baseline_weights(base.info["key"], base.model)
    key = preview_cache.key_of(base)
    # The call the Prune page makes: it also times one evaluation (`evaluation_ms`, progressive or not; 64 ms of
    # the first Prune fragment after the warm-up when only `prune` was warmed). A slow model's accuracy is left
    # pending (nothing is evaluated here); its numbers are cached.
    r, _ = preview_cache.prune_progressive(key, base, spec.method, spec.scope, spec.amount, spec.seed, edges)
    layer = prunable_layers(base.model)[0][0]  # the Quantize page's first preview: the first layer, defaults
    preview_cache.quantize_progressive(key, base, layer, *preview_cache.QUANTIZE_FIRST)
    _warm_figures(edges, before, r)
    return True


def _warm_figures(edges, before, preview: dict) -> None:
    """Build and serialise one preview figure: Plotly loads its validators on the first figure (~0.1 s)."""
    import plotly.io as pio

    from compress_core.present import plots

    figure = plots.weight_histogram(edges, {"baseline weights": (before, plots.color_of("baseline")),
                                            "kept": (preview["kept_counts"], plots.color_of("l1"))},
                                    preview["thresholds"], "warm-up")
    pio.to_json(figure, validate=False)  # what st.plotly_chart sends


def _import_later() -> None:
    for name in LATER_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # optional: the page that imports it shows the error
            continue


def warm_attention_baseline() -> bool:
    """Load the Learn attention lesson's tinybert baseline into the shared cache if it is on disk (never trains)."""
    from compress_core.present import teach_attention
    from ui import common

    return common.cached_baseline(teach_attention.ATTENTION_SPEC) is not None


def settle() -> None:
    """Index the loaded modules for `inspect.getmodule`, then move every object alive now out of the GC's work.

    `inspect.getmodule(frame)` (Streamlit's `declare_component` calls it) maps files to modules by walking all
    of `sys.modules` the first time it meets a file, and caches the map: with torch loaded that walk took ~70 ms
    of the first preview visit's CPU. Done here, in the background, later look-ups of a loaded module are dict hits.

    `gc.freeze()` moves the objects alive now (modules, the cached baselines and lookups: they live as long as
    the server) to the permanent generation, which collections never traverse. A full (generation-2)
    collection then walks only what sessions allocate since; before, it walked the whole torch/plotly/streamlit
    heap (148-165 ms each on a quiet machine, a few per benchmark run: the slow moves of docs/performance.md;
    measured at load 8: 297 and 724 ms without the freeze, 1.6 and 3.1 ms with it).
    `COMPRESS_LAB_GC_FREEZE=0` leaves the collector as Python has it (for before/after measurements).
    """
    import gc
    import inspect

    # A code object from a file name inspect has never seen (a known one returns at once, walking nothing; Streamlit's
    # start-up looks up app.py and this file before torch is loaded), so the look-up walks and indexes every module.
    inspect.getmodule(compile("", "<compress-lab: index the loaded modules>", "exec"))
    if os.environ.get("COMPRESS_LAB_GC_FREEZE") != "0":
        gc.collect()  # free what the imports left behind first: freezing garbage would keep it for good
        gc.freeze()
    if os.environ.get("LAB_GC_LOG"):  # where the collections after the warm-up begin (log_collections)
        with open(os.environ["LAB_GC_LOG"], "a", encoding="utf-8") as out:
            out.write(json.dumps({"settled": True, "frozen": gc.get_freeze_count(), "t": time.time()}) + "\n")


def _warm() -> None:
    began = time.perf_counter()
    try:
        time.sleep(DELAY_S)  # let the page that started the warm-up reach the browser first
        if _import_all():
            timings["imports"] = time.perf_counter() - began
            wait_for_quiet()
            if warm_default_baseline():
                timings["baseline"] = time.perf_counter() - began
        wait_for_quiet()
        _import_later()
        try:
            wait_for_quiet()
            if warm_attention_baseline():
                timings["attention"] = time.perf_counter() - began
        except Exception:  # optional: the Learn page shows its own error
            pass
        timings["learn"] = time.perf_counter() - began
        wait_for_quiet()
        settle()
        timings["settled"] = time.perf_counter() - began
    except Exception:  # the page that needs the baseline shows its own error
        pass
    finally:
        done.set()
        print(f"{DONE_LINE} {json.dumps({k: round(v, 3) for k, v in timings.items()})}", file=sys.stderr, flush=True)


def log_collections(path: str):
    """Append one JSON line per generation-1 or -2 collection (generation, ms, objects collected) to `path`.

    Opt-in (`LAB_GC_LOG`) timing for the before/after of `gc.freeze` (docs/performance.md); without it nothing is
    installed. The pause is wall time between gc's "start" and "stop" callbacks (the collector holds the GIL).
    """
    import gc

    began: dict[str, float] = {}

    def timer(phase: str, info: dict) -> None:
        if phase == "start":
            began["t"] = time.perf_counter()
            return
        if info["generation"] == 0:  # the frequent young collections (~1 ms): not written, the file would slow them
            return
        line = json.dumps({"gen": info["generation"], "ms": round(1000 * (time.perf_counter() - began["t"]), 2),
                           "collected": info["collected"], "t": time.time()})
        with open(path, "a", encoding="utf-8") as out:
            out.write(line + "\n")

    gc.callbacks.append(timer)
    return timer  # for gc.callbacks.remove


def running() -> bool:
    """Whether the warm-up thread has started and not finished (ui/instant.py waits for it)."""
    return _started.is_set() and not done.is_set()


def start() -> None:
    """Start the warm-up thread once per process (later calls do nothing; `COMPRESS_LAB_WARMUP=0`: never).

    Switching it off lets `benchmarks/profile_cold_start.py` charge every import to the visit that needs it.
    """
    if _started.is_set() or os.environ.get("COMPRESS_LAB_WARMUP") == "0":
        return
    _started.set()
    if os.environ.get("LAB_GC_LOG"):
        log_collections(os.environ["LAB_GC_LOG"])
    threading.Thread(target=_warm, name="compress-lab-warmup", daemon=True).start()
