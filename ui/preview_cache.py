"""The instant previews, cached per baseline and settings, bounded in entries, age and concurrency.

A room of viewers moves the same sliders over the same baseline: the second visitor at
"prune 60 %" gets the first one's numbers from `st.cache_data` (shared by all sessions of
the server) instead of pruning and evaluating again. Each cache holds at most
`MAX_ENTRIES` results (least recently used dropped first) for at most `TTL_S` seconds;
a result is a few kB (numbers and histograms, never a model), so the caches stay a few MB.
At most `SLOTS` previews compute at once in the server process (one torch thread each),
so many sliders moving at once queue for a slot instead of taking every core from the
worker processes that run the jobs.

`key` is `key_of(base)`: the lab's home folder and the baseline's cache key (a hash of model,
data fingerprint, training settings and seed), so it names one set of trained weights;
arguments with a leading underscore are not hashed (the model and data are fixed by `key`).
"""
from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from contextlib import contextmanager
from typing import Callable, NamedTuple

import streamlit as st

from compress_core.present import preview
from ui import common

MAX_ENTRIES = 256
TTL_S = 3600
SLOTS = max(1, (os.cpu_count() or 2) // 2)
_slots = threading.BoundedSemaphore(SLOTS)


def key_of(base) -> str:
    """The cache key of a baseline's previews: this lab's home and the baseline's own key."""
    return f"{common.home()}::{base.info['key']}"


@contextmanager
def slot():
    """Wait for one of the `SLOTS` places to compute a preview in this server process."""
    with _slots:
        yield


@st.cache_resource(show_spinner=False, max_entries=16)
def magnitudes(key: str, _base) -> preview.MagnitudeLookup:
    """The baseline's sorted weight magnitudes (once per baseline), so global L1 at any amount is one lookup."""
    return preview.MagnitudeLookup(_base.model)


@st.cache_data(show_spinner=False, max_entries=MAX_ENTRIES, ttl=TTL_S)
def prune(key: str, _base, method: str, scope: str, amount: float, seed: int, _edges) -> dict:
    """`preview.prune_preview` of the baseline `key` (its histogram on the baseline's `_edges`)."""
    lookup = magnitudes(key, _base) if (method, scope) == ("l1", "global") else None
    with slot():
        return preview.prune_preview(_base.model, _base.data.x_test, _base.data.y_test, method, scope, amount, seed,
                                     _edges, _base.data.x_train, lookup)


@st.cache_data(show_spinner=False, max_entries=MAX_ENTRIES, ttl=TTL_S)
def structured(key: str, _base, amount: float, importance: str) -> dict:
    """`preview.structured_preview` of the baseline `key` (a CompressError is raised, not cached)."""
    with slot():
        return preview.structured_preview(_base.model, _base.data.x_test, _base.data.y_test, _base.data.input_shape,
                                          amount, importance)


@st.cache_data(show_spinner=False, max_entries=MAX_ENTRIES, ttl=TTL_S)
def quantize(key: str, _base, layer: str, bits: int, granularity: str, channel: int) -> dict:
    """`preview.quantize_preview` of the baseline `key`."""
    with slot():
        return preview.quantize_preview(_base.model, _base.data.x_test, _base.data.y_test, layer, bits, granularity,
                                        channel)


@st.cache_data(show_spinner=False, max_entries=MAX_ENTRIES, ttl=TTL_S)
def softened(key: str, _base, rows: int, temperature: float):
    """`preview.softened_outputs` of the baseline `key` on its first `rows` test inputs (its logits computed once)."""
    return preview.soften(logits(key, _base, rows), temperature)


@st.cache_resource(show_spinner=False, max_entries=16)
def logits(key: str, _base, rows: int):
    """The baseline's logits on its first `rows` test inputs: the temperature does not change them, and for a
    MiniLM-sized teacher they are a forward pass (~80 ms on one thread) that each new T used to repeat."""
    from compress_core.training.loop import predict_logits

    with slot():
        return predict_logits(_base.model, _base.data.x_test[:rows])


@st.cache_resource(show_spinner=False, max_entries=16)
def fp32_bytes(key: str, _base) -> int:
    """`serialized_size` of the baseline's state dict (no slider changes it; 70-240 ms for a MiniLM-sized model)."""
    from compress_core.measure.metrics import serialized_size

    return serialized_size(_base.model.state_dict())


@st.cache_data(show_spinner=False, max_entries=MAX_ENTRIES, ttl=TTL_S)
def quantize_numbers(key: str, _base, layer: str, bits: int, granularity: str, channel: int) -> dict:
    """`preview.quantize_numbers` of the baseline `key`: everything but the accuracy, without evaluation."""
    return preview.quantize_numbers(_base.model, layer, bits, granularity, channel, fp32_bytes(key, _base))


def quantize_progressive(key: str, base, layer: str, bits: int, granularity: str, channel: int):
    """(preview, None), or for a slow model (numbers with accuracy and loss None, the `Pending` evaluation).

    The accuracy depends on the bits and granularity only, so another layer or channel reuses it."""
    if not progressive(key, base):
        return quantize(key, base, layer, bits, granularity, channel), None
    numbers = quantize_numbers(key, base, layer, bits, granularity, channel)
    known = known_or_pending((key, "quantize", int(bits), granularity), lambda: preview.quantized_accuracy(
        base.model, base.data.x_test, base.data.y_test, bits, granularity))
    if not isinstance(known, Pending):
        return {"accuracy": known[0], "loss": known[1], **numbers}, None
    return {"accuracy": None, "loss": None, **numbers}, known


# --------------------------------------------------------------------------- progressive previews (issue 19)
# A model whose evaluation on the test split takes longer than PROGRESSIVE_MS gets its preview in two
# steps: the numbers that need no evaluation at once (`preview.PruneNumbers`, about 1 ms even for a
# MiniLM-sized encoder), the accuracy when a background evaluation ends. Estimated by `evaluation_ms` (thread
# CPU time, one torch thread): lenet300 on digits ~2 ms (its one-step preview is 8-12 ms: stays as it was),
# tinybert on text-demo ~21 ms, the MiniLM-sized encoder ~1 s. Why 10 ms and not more: tinybert measured
# both ways, alternated on a quiet machine (bench_ui --dataset text-demo, COMPRESS_LAB_PROGRESSIVE=1/0, load
# ~2): numbers p50/p95 Prune 73/100 and 70/98 ms progressive against 96/125 and 90/107 ms in one step, the
# accuracy arriving as early either way (104-112 vs 106-120 ms p50).
# `COMPRESS_LAB_PROGRESSIVE=1/0` forces it on/off (benchmarks, tests).
PROGRESSIVE_MS = 10.0
# `evaluation_ms` times the whole test split itself when its 64-row estimate says that costs at most this (ms).
FULL_SPLIT_MS = 250.0
# The Quantize page's preview before the visitor touches it (bits slider, granularity, output channel): the page's
# widget defaults, and what the warm-up (ui/warmup.py) computes ahead of the first visit.
QUANTIZE_FIRST = (4, "channel", 0)
MEASURING = "measuring…"  # what an accuracy card reads while its evaluation runs
WAIT_POLL_S = 0.02
FLUSH_S = 0.01
_accuracy: "OrderedDict[tuple, tuple[float, tuple[float, float]]]" = OrderedDict()  # job -> (time, (acc, loss))
_jobs: dict[tuple, Future] = {}
_wanted: dict[str, tuple] = {}  # browser session -> the evaluation it waits for
_lock = threading.Lock()
_executor = ThreadPoolExecutor(max_workers=SLOTS, thread_name_prefix="preview-accuracy")


@st.cache_resource(show_spinner=False, max_entries=16)
def evaluation_ms(key: str, _base) -> float:
    """One evaluation of the baseline on its test split, in ms, estimated from its first 64 rows (once per baseline).

    Timed in this thread's CPU time (`time.thread_time`; the evaluation runs on one torch thread, this one),
    so neither a loaded machine nor another thread holding the GIL makes a fast model look slow: on the
    benchmark's fresh server the wall-clock timing, taken while the warm-up thread imported modules, put the
    2 ms digits model on the progressive path for the server's lifetime. Two untimed calls first (a
    process's first forwards of a shape pay one-time set-up), then the least of three timings, stopping early
    only when one is under PROGRESSIVE_MS (a MiniLM-sized model pays five 64-row evaluations once, ~1 s).

    Scaling 64 rows up to the split counts the per-call overhead once per 64 rows, which is most of a small
    model's time: the digits model's 450 rows take ~1 ms, its 64 rows ~0.3-0.5 ms quiet and ~2-3 ms while another
    thread holds the GIL (measured on a 2-core machine), which the scaling made 2-3 ms and 10-19 ms, over
    PROGRESSIVE_MS. So when the estimate is over PROGRESSIVE_MS but at most FULL_SPLIT_MS, the whole split is
    timed itself (up to twice, once more only while still over), and the least timing counts."""
    from compress_core.training.loop import evaluate

    x, y = _base.data.x_test, _base.data.y_test
    rows = min(64, len(x))

    def cpu_ms(n: int) -> float:  # this thread's CPU ms for one evaluation of the first n rows
        began = time.thread_time()
        evaluate(_base.model, x[:n], y[:n])
        return 1000 * (time.thread_time() - began)

    for _ in range(2):  # one-time set-up of this input shape, not timed (digits: 16 and 9 ms, then 0.3 ms)
        evaluate(_base.model, x[:rows], y[:rows])
    best = float("inf")
    for _ in range(3):
        best = min(best, cpu_ms(rows) * len(x) / max(rows, 1))
        if best <= PROGRESSIVE_MS:
            return best
    if rows == len(x) or best > FULL_SPLIT_MS:
        return best
    for _ in range(2):
        best = min(best, cpu_ms(len(x)))
        if best <= PROGRESSIVE_MS:
            break
    return best


def progressive(key: str, base) -> bool:
    """Whether the baseline `key`'s prune preview draws its numbers before its accuracy (see PROGRESSIVE_MS)."""
    forced = os.environ.get("COMPRESS_LAB_PROGRESSIVE", "")
    if forced in ("0", "1"):
        return forced == "1"
    return evaluation_ms(key, base) > PROGRESSIVE_MS


@st.cache_resource(show_spinner=False, max_entries=16)
def prune_numbers_source(key: str, _base) -> preview.PruneNumbers:
    """The baseline's `preview.PruneNumbers` (per-layer sorted weights and file layout, once per baseline)."""
    return preview.PruneNumbers(_base.model, magnitudes(key, _base))


@st.cache_data(show_spinner=False, max_entries=MAX_ENTRIES, ttl=TTL_S)
def prune_numbers(key: str, _base, amount: float, _edges) -> dict | None:
    """Global L1 preview numbers without evaluation (None where they would not be exact)."""
    return prune_numbers_source(key, _base).numbers(amount, _edges)


def _session() -> str:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else ""


def _evaluate(job: tuple, compute) -> tuple[float, float]:
    with _lock:
        if job not in _wanted.values():  # abandoned while queued: no session waits for it any more
            _jobs.pop(job, None)  # under the same lock, so no session can pick this future up now
            raise _Abandoned()
    try:
        with slot():
            result = compute()
        with _lock:
            _accuracy[job] = (time.monotonic(), result)
            while len(_accuracy) > MAX_ENTRIES:
                _accuracy.popitem(last=False)
            for session in [s for s, wanted in _wanted.items() if wanted == job]:
                del _wanted[session]
        return result
    finally:
        with _lock:
            _jobs.pop(job, None)


class _Abandoned(Exception):
    """An evaluation nobody waits for any more, dropped before it started."""


def evaluated(job: tuple, compute) -> tuple[float, float] | Future:
    """(accuracy, loss) of `job` when known (any session's), else the Future of `compute()` running for it.

    `job` names the evaluation (baseline key, method and its settings). The evaluation runs in a background
    thread (at most `SLOTS` at once, sharing `slot()`); a session that asks for a new job drops its previous
    one if that has not started and nobody else waits for it. Results: at most MAX_ENTRIES, TTL_S each.
    """
    session = _session()
    with _lock:
        known = _accuracy.get(job)
        if known is not None and time.monotonic() - known[0] < TTL_S:
            _accuracy.move_to_end(job)
            _wanted.pop(session, None)
            return known[1]
        previous, _wanted[session] = _wanted.get(session), job
        future = _jobs.get(job)
        if future is None or future.cancelled():
            future = _jobs[job] = _executor.submit(_evaluate, job, compute)
        old = _jobs.get(previous) if previous not in (None, job) and previous not in _wanted.values() else None
    if old is not None and old.cancel():
        with _lock:
            _jobs.pop(previous, None)
    return future


class Pending(NamedTuple):
    """An evaluation a progressive preview waits for: started by `wait`, once the numbers have been drawn."""

    job: tuple
    compute: Callable[[], tuple[float, float]]


def known_or_pending(job: tuple, compute) -> tuple[float, float] | Pending:
    """The cached (accuracy, loss) of `job`, or the `Pending` evaluation to hand to `wait`."""
    with _lock:
        known = _accuracy.get(job)
        if known is not None and time.monotonic() - known[0] < TTL_S:
            _accuracy.move_to_end(job)
            return known[1]
    return Pending(job, compute)


def prune_accuracy(key: str, base, amount: float, seed: int) -> tuple[float, float] | Pending:
    """Global L1 pruning at `amount`: `preview.pruned_accuracy` of the baseline `key`, cached or pending."""
    lookup = magnitudes(key, base)
    return known_or_pending((key, "prune", float(amount), int(seed)), lambda: preview.pruned_accuracy(
        base.model, base.data.x_test, base.data.y_test, amount, lookup, seed, base.data.x_train))


def prune_progressive(key: str, base, method: str, scope: str, amount: float, seed: int, edges):
    """(preview numbers, None), or for a slow model's global L1 preview (numbers with accuracy and loss None,
    the `Pending` evaluation) so the page draws the numbers first; `wait` then fills them in."""
    if (method, scope) == ("l1", "global") and progressive(key, base):
        numbers = prune_numbers(key, base, amount, edges)
        if numbers is not None:
            known = prune_accuracy(key, base, amount, seed)
            if not isinstance(known, Pending):
                return {**numbers, "accuracy": known[0], "loss": known[1]}, None
            return {**numbers, "accuracy": None, "loss": None}, known
    return prune(key, base, method, scope, amount, seed, edges), None


def _rerun_pending() -> bool:
    """True when the browser asked for a new run (a slider moved again, the page was left) since this one began.

    Streamlit has no public query for this, and a widget rerun inside a fragment does not interrupt the
    running fragment; so this reads the script runner's request state (read only). Without it: False.
    """
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    requests = getattr(get_script_run_ctx(), "script_requests", None)
    state = getattr(requests, "_state", None)
    return state is not None and getattr(state, "name", "CONTINUE") != "CONTINUE"


def wait(pending: Pending) -> dict | None:
    """Start `pending`'s evaluation (after a moment in which the numbers already drawn go out to the browser,
    rather than competing with it for the CPU and the GIL) and return {"accuracy", "loss"} when it ends, or
    None as soon as a newer run is pending (the slider moved again: this run ends now so the next one starts
    at once; the evaluation goes on and is cached)."""
    time.sleep(FLUSH_S)
    future = evaluated(pending.job, pending.compute)
    if not isinstance(future, Future):
        return {"accuracy": future[0], "loss": future[1]}
    while not future.done():
        wait_futures([future], timeout=WAIT_POLL_S)
        if not future.done() and _rerun_pending():
            return None
    accuracy, loss = future.result()
    return {"accuracy": accuracy, "loss": loss}
