"""AppTest: the Prune page takes the bundled text set and offers text models only, and its
preview of one-shot pruning on the built-in tinybert matches the engine."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from compress_core.context import RunContext
from compress_core.methods.prune import prune_to
from compress_core import fmt
from compress_core.runs import jobs
from compress_core.specs import PruneSpec
from compress_core.training.baseline import get_baseline
from compress_core.training.loop import evaluate
from ui import common

from apptest_helpers import open_page, shown, worker_home

RUN_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with worker_home(tmp_path_factory, "text_app_home") as (home, _):
        yield home


def test_prune_page_takes_text_data_and_tinybert(home: Path):
    at = open_page("prune", prune_dataset="text-demo", prune_baseline_epochs=2)
    model_box = at.selectbox(key="prune_model")
    assert model_box.options == ["tinybert"] and model_box.value == "tinybert"  # text data: text models only
    assert any("text, token ids" in c.value for c in at.caption)
    for run in jobs.open_store(home).list_runs(status=list(common.ACTIVE)):  # the baseline trains in a worker
        assert jobs.wait(run["id"], home, timeout=RUN_TIMEOUT_S)["status"] == "finished"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.slider(key="prune_amount").set_value(70).run()
    base = get_baseline(PruneSpec(model="tinybert", dataset="text-demo", baseline_epochs=2).baseline_spec(),
                        RunContext.create(home=home))
    model = copy.deepcopy(base.model)
    torch.manual_seed(0)
    prune_to(model, "l1", "global", 0.7)
    accuracy, _ = evaluate(model, base.data.x_test, base.data.y_test)
    assert shown(at, "Accuracy, one-shot") == fmt.pct(accuracy)
