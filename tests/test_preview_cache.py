"""The previews' cache (ui/preview_cache.py): shared results, a bound on entries, a bound on concurrency.

The real preview functions run (on a tiny model); a wrapper around them only counts calls
and how many run at once.
"""
from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from compress_core.present import preview
from ui import preview_cache


@pytest.fixture
def base():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3))
    data = SimpleNamespace(x_test=torch.randn(20, 8), y_test=torch.randint(0, 3, (20,)), x_train=torch.randn(40, 8),
                           input_shape=(8,))
    return SimpleNamespace(model=model, data=data, info={"key": "tiny-baseline"})


@pytest.fixture
def counted(monkeypatch):
    """Counts calls of the real `preview.prune_preview` and the most that ran at the same time."""
    stats = {"calls": 0, "running": 0, "most": 0}
    lock = threading.Lock()
    real = preview.prune_preview

    def prune_preview(*args, **kwargs):
        with lock:
            stats["calls"] += 1
            stats["running"] += 1
            stats["most"] = max(stats["most"], stats["running"])
        try:
            time.sleep(0.02)  # long enough for concurrent callers to overlap if nothing stops them
            return real(*args, **kwargs)
        finally:
            with lock:
                stats["running"] -= 1

    monkeypatch.setattr(preview, "prune_preview", prune_preview)
    preview_cache.prune.clear()
    yield stats
    preview_cache.prune.clear()


def test_the_same_settings_are_computed_once_for_everyone(base, counted):
    first = preview_cache.prune("tiny-baseline", base, "l1", "global", 0.5, 0, None)
    again = preview_cache.prune("tiny-baseline", base, "l1", "global", 0.5, 0, None)
    assert counted["calls"] == 1
    assert again == first
    assert first["sparsity"] == pytest.approx(0.5, abs=0.02)
    other = preview_cache.prune("tiny-baseline", base, "l1", "global", 0.7, 0, None)
    assert counted["calls"] == 2 and other["sparsity"] > first["sparsity"]
    preview_cache.prune("another-baseline", base, "l1", "global", 0.5, 0, None)  # the key is part of the entry
    assert counted["calls"] == 3


def test_the_cache_keeps_at_most_max_entries(base, counted):
    amounts = [i / (2 * preview_cache.MAX_ENTRIES) for i in range(preview_cache.MAX_ENTRIES + 1)]
    for amount in amounts:  # one more distinct setting than the cache holds
        preview_cache.prune("tiny-baseline", base, "random", "global", amount, 0, None)
    assert counted["calls"] == len(amounts)
    preview_cache.prune("tiny-baseline", base, "random", "global", amounts[-1], 0, None)  # the newest: kept
    assert counted["calls"] == len(amounts)
    preview_cache.prune("tiny-baseline", base, "random", "global", amounts[0], 0, None)  # the oldest: dropped
    assert counted["calls"] == len(amounts) + 1


def test_at_most_slots_previews_compute_at_once(base, counted):
    results = {}

    def move(i):
        results[i] = preview_cache.prune("tiny-baseline", base, "l1", "layer", 0.1 + i / 20, 0, None)

    threads = [threading.Thread(target=move, args=(i,)) for i in range(4 * preview_cache.SLOTS + 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == len(threads) and counted["calls"] == len(threads)
    assert counted["most"] == preview_cache.SLOTS

