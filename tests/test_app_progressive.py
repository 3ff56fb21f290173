"""The Prune page's progressive preview (issue 19): numbers first, the accuracy when its evaluation ends.

`COMPRESS_LAB_PROGRESSIVE=1` puts the digits baseline on the path a slow (transformer) model takes. The
evaluation is held back by an event, so the test sees the state a browser sees while it runs: every
number drawn, the accuracy "measuring…". A newer move (here: a pending rerun) ends the run without
waiting; the evaluation finishes in the background and the next run shows its accuracy at once. Without
a newer move the same run waits and fills the accuracy card in. The values are the engine's.
"""
from __future__ import annotations

import copy
import threading
import time

import pytest
import torch

from compress_core import fmt
from compress_core.context import RunContext
from compress_core.measure.metrics import global_sparsity
from compress_core.methods.prune import prune_to
from compress_core.present import preview
from compress_core.specs import PruneSpec
from compress_core.training.baseline import get_baseline
from compress_core.training.loop import evaluate
from compress_core.runs import jobs
from ui import common, preview_cache

import chart_helpers
from apptest_helpers import cards, open_page, shown, worker_home

BASELINE_EPOCHS = 2


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with worker_home(tmp_path_factory, "progressive_home") as (home, mp):
        mp.setenv("COMPRESS_LAB_PROGRESSIVE", "1")
        yield home


def one_shot_accuracy(home, amount: float) -> tuple[str, str]:
    """(accuracy, sparsity) of the baseline after global L1 pruning at `amount`, as the cards format them."""
    base = get_baseline(PruneSpec(baseline_epochs=BASELINE_EPOCHS).baseline_spec(), RunContext.create(home=home))
    model = copy.deepcopy(base.model)
    torch.manual_seed(0)
    prune_to(model, "l1", "global", amount)
    return fmt.pct(evaluate(model, base.data.x_test, base.data.y_test)[0]), fmt.pct(global_sparsity(model))


def ready_page(home):
    at = open_page("prune", prune_baseline_epochs=BASELINE_EPOCHS)
    for run in jobs.open_store(home).list_runs(status=list(common.ACTIVE)):  # the baseline's training
        assert jobs.wait(run["id"], home, timeout=240)["status"] == "finished"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_numbers_first_then_the_accuracy(home, monkeypatch):
    at = ready_page(home)
    release = threading.Event()
    real = preview.pruned_accuracy

    def held(*args, **kwargs):
        release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(preview, "pruned_accuracy", held)
    monkeypatch.setattr(preview_cache, "_rerun_pending", lambda: True)  # the user moved the slider again
    at.slider(key="prune_amount").set_value(80).run()
    assert not at.exception, [e.value for e in at.exception]
    accuracy, sparsity = one_shot_accuracy(home, 0.8)
    assert shown(at, "Accuracy, one-shot") == "measuring…"  # the run did not wait for the evaluation
    assert shown(at, "Sparsity") == sparsity == "80.0 %"
    assert shown(at, "Non-zero parameters") and shown(at, "Sparse size")
    assert chart_helpers.find(at, "prune_preview_hist")  # the histogram is drawn with the numbers
    release.set()
    deadline = time.monotonic() + 30
    while preview_cache._jobs and time.monotonic() < deadline:  # the evaluation ends in the background
        time.sleep(0.05)
    at.run()  # the next run finds the result cached
    assert shown(at, "Accuracy, one-shot") == accuracy


def test_the_same_run_fills_the_accuracy_in(home):
    at = ready_page(home)
    at.slider(key="prune_amount").set_value(65).run()
    assert not at.exception, [e.value for e in at.exception]
    accuracy, sparsity = one_shot_accuracy(home, 0.65)
    assert shown(at, "Accuracy, one-shot") == accuracy
    assert shown(at, "Sparsity") == sparsity
    labels = [c["label"] for c in cards(at)]
    assert labels.count("Accuracy, one-shot") == 1 and labels.count("Sparsity") == 1  # one set of cards, filled in
    assert len([s for s in at.slider if s.key == "prune_amount"]) == 1


def test_quantize_fills_its_accuracy_in(home):
    at = open_page("quantize", quantize_baseline_epochs=BASELINE_EPOCHS)
    for run in jobs.open_store(home).list_runs(status=list(common.ACTIVE)):
        assert jobs.wait(run["id"], home, timeout=240)["status"] == "finished"
    at.run()
    at.slider(key="quantize_bits").set_value(3).run()
    assert not at.exception, [e.value for e in at.exception]
    base = get_baseline(PruneSpec(baseline_epochs=BASELINE_EPOCHS).baseline_spec(), RunContext.create(home=home))
    full = preview.quantize_preview(base.model, base.data.x_test, base.data.y_test, at.selectbox(key="quantize_layer").value,
                                    3, at.radio(key="quantize_granularity").value)
    assert shown(at, "Accuracy at 3 bits") == fmt.pct(full["accuracy"])
    assert shown(at, "Packed size") == fmt.size(full["size_packed_bytes"])
