"""The background evaluations of progressive previews (ui/preview_cache.py): newest move first, results kept.

A session that moves the slider again drops its evaluation that has not started yet (nobody waits for it);
one that is already running finishes and its result is cached, so coming back to that value is instant.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from ui import preview_cache


@pytest.fixture
def one_worker(monkeypatch):
    """One evaluation at a time and empty bookkeeping, whatever this machine's SLOTS."""
    executor = ThreadPoolExecutor(max_workers=1)
    monkeypatch.setattr(preview_cache, "_executor", executor)
    monkeypatch.setattr(preview_cache, "_accuracy", type(preview_cache._accuracy)())
    monkeypatch.setattr(preview_cache, "_jobs", {})
    monkeypatch.setattr(preview_cache, "_wanted", {})
    monkeypatch.setattr(preview_cache, "FLUSH_S", 0.0)
    yield
    executor.shutdown(wait=True)


def test_a_newer_move_drops_the_queued_evaluation_and_keeps_the_running_one(one_worker):
    started, release = [], threading.Event()

    def compute(name, value, hold=False):
        def run():
            started.append(name)
            if hold:
                release.wait(10)
            return value, 0.0
        return run

    first = preview_cache.evaluated(("k", "prune", 0.5), compute("a", 0.9, hold=True))
    deadline = time.monotonic() + 10
    while not started and time.monotonic() < deadline:
        time.sleep(0.01)
    second = preview_cache.evaluated(("k", "prune", 0.6), compute("b", 0.8))  # queued behind "a"
    third = preview_cache.evaluated(("k", "prune", 0.7), compute("c", 0.7))  # the slider moved again
    assert second.cancelled()  # "b" never runs: nobody waits for it any more
    release.set()
    assert third.result(10) == (0.7, 0.0) and first.result(10) == (0.9, 0.0)
    assert started == ["a", "c"]
    assert preview_cache.known_or_pending(("k", "prune", 0.5), compute("again", 0.0)) == (0.9, 0.0)  # kept
    assert isinstance(preview_cache.known_or_pending(("k", "prune", 0.6), compute("b", 0.8)), preview_cache.Pending)


def test_wait_returns_the_result_or_gives_up_when_a_rerun_is_pending(one_worker, monkeypatch):
    done = preview_cache.wait(preview_cache.Pending(("k", "q", 4), lambda: (0.5, 1.5)))
    assert done == {"accuracy": 0.5, "loss": 1.5}
    release = threading.Event()
    monkeypatch.setattr(preview_cache, "_rerun_pending", lambda: True)

    def held():
        release.wait(10)
        return 0.4, 1.0

    assert preview_cache.wait(preview_cache.Pending(("k", "q", 5), held)) is None  # the user moved on: no waiting
    release.set()


def test_a_busy_server_does_not_make_a_fast_model_look_slow():
    """`evaluation_ms` times the model, not the machine: another thread hogging the GIL (the warm-up importing,
    another session's figure) must not push a 2 ms model onto the progressive path for the server's lifetime."""
    from types import SimpleNamespace

    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 300), torch.nn.ReLU(),
                                torch.nn.Linear(300, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10))
    x, y = torch.randn(450, 1, 8, 8), torch.randint(0, 10, (450,))
    base = SimpleNamespace(model=model, data=SimpleNamespace(x_test=x, y_test=y))
    stop = threading.Event()

    def hog():  # pure Python: holds the GIL for its whole switch interval each time it gets it
        while not stop.is_set():
            sum(i * i for i in range(2000))

    hogs = [threading.Thread(target=hog, daemon=True)]
    for thread in hogs:
        thread.start()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the dashboard runs (ui/common.py): no OpenMP worker to spin-wait for
    try:
        estimate = preview_cache.evaluation_ms(f"busy-test-{time.time_ns()}", base)
    finally:
        torch.set_num_threads(threads)
        stop.set()
        for thread in hogs:
            thread.join()
    assert estimate < preview_cache.PROGRESSIVE_MS, estimate


@pytest.mark.parametrize("overhead_ms, row_ms, rows, expected_ms, timed_rows", [
    (2.0, 0.001, 450, 2.45, [64] * 5 + [450]),  # the 64-row estimate (14.5 ms) is mostly overhead: the split says 2.45
    (0.0, 30 / 450, 450, 30.0, [64] * 5 + [450] * 2),  # a split that really costs 30 ms: progressive, timed twice
    (1.0, 10.0, 2000, 641 * 2000 / 64, [64] * 5),  # MiniLM-like: far over FULL_SPLIT_MS, never run whole
    (0.1, 0.01, 450, 0.74 * 450 / 64, [64] * 3),  # fast: the first timing decides
])
def test_evaluation_ms_times_the_whole_split_when_the_row_estimate_is_affordable(monkeypatch, overhead_ms, row_ms, rows,
                                                                                expected_ms, timed_rows):
    """A per-call overhead scaled up with the rows made small models look slow (docstring of evaluation_ms): where
    the 64-row estimate is over PROGRESSIVE_MS but cheap to check, the whole split is timed and the least counts."""
    from types import SimpleNamespace

    from compress_core.training import loop

    clock, calls = [0.0], []

    def fake_evaluate(model, x, y):
        calls.append(len(x))
        clock[0] += (overhead_ms + row_ms * len(x)) / 1000

    monkeypatch.setattr(loop, "evaluate", fake_evaluate)
    monkeypatch.setattr(time, "thread_time", lambda: clock[0])
    base = SimpleNamespace(model=None, data=SimpleNamespace(x_test=list(range(rows)), y_test=list(range(rows))))
    assert preview_cache.evaluation_ms(f"fake-{time.time_ns()}", base) == pytest.approx(expected_ms, rel=1e-6)
    assert calls == timed_rows
