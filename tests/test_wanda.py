"""Wanda (Sun et al. 2023): input norms change which weights survive, and the CLI runs it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from compress_core.methods.criteria import collect_input_norms
from compress_core.methods.criteria.wanda import rank_within_rows, wanda_scores
from compress_core.methods.prune import prune_to

ROOT = Path(__file__).resolve().parents[1]


class TwoLayers(nn.Module):
    """A Linear layer the tests set by hand, and a second one so the model has an output."""

    def __init__(self, weight):
        super().__init__()
        self.fc = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
        self.out = nn.Linear(weight.shape[0], 1, bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(weight)
            self.out.weight.fill_(1.0)

    def forward(self, x):
        return self.out(self.fc(x))


def _fc_mask(weight, inputs, method, scope="layer", amount=0.5):
    model = TwoLayers(weight)
    prune_to(model, method, scope, amount, inputs)
    return model.fc.weight_mask


def test_a_loud_input_keeps_a_small_weight_that_l1_would_remove():
    """Weights 1.0 (feature 0) and 0.5 (feature 1); feature 1's inputs are 100x larger.

    L1 keeps 1.0. Wanda scores 1.0 * ||X_0|| = 1.0 * 0.2 = 0.2 against 0.5 * ||X_1|| = 0.5 * 20 = 10,
    so it keeps the 0.5 weight instead."""
    weight = torch.tensor([[1.0, 0.5]])
    inputs = torch.tensor([[0.1, 10.0], [0.1, -10.0], [-0.1, 10.0], [0.1, 10.0]])  # ||X_0|| = 0.2, ||X_1|| = 20
    assert _fc_mask(weight, inputs, "l1").tolist() == [[1.0, 0.0]]
    assert _fc_mask(weight, inputs, "wanda").tolist() == [[0.0, 1.0]]
    model = TwoLayers(weight)
    scores = wanda_scores(model.fc, collect_input_norms(model, inputs))
    assert scores.flatten().tolist() == pytest.approx([0.2, 10.0])


def test_wanda_row_removes_the_same_share_of_every_row():
    """Row 0 is loud everywhere, row 1 quiet: per layer, Wanda empties row 1; per row, each row loses half."""
    weight = torch.tensor([[4.0, 3.0, 2.0, 1.0],
                           [0.4, 0.3, 0.2, 0.1]])
    inputs = torch.ones(8, 4)
    assert _fc_mask(weight, inputs, "wanda").tolist() == [[1, 1, 1, 1], [0, 0, 0, 0]]
    assert _fc_mask(weight, inputs, "wanda_row").tolist() == [[1, 1, 0, 0], [1, 1, 0, 0]]
    for scope in ("layer", "global"):
        model = TwoLayers(torch.randn(6, 10, generator=torch.Generator().manual_seed(0)))
        prune_to(model, "wanda_row", scope, 0.5, torch.randn(32, 10))
        assert model.fc.weight_mask.sum(dim=1).tolist() == [5.0] * 6  # every row keeps exactly half


def test_rank_within_rows():
    ranks = rank_within_rows(torch.tensor([[3.0, 1.0, 2.0], [0.0, 5.0, 4.0]]))
    assert ranks.flatten().tolist() == pytest.approx([1.0, 1 / 3, 2 / 3, 1 / 3, 1.0, 2 / 3])


def test_conv_scores_use_one_norm_per_input_channel_over_positions():
    conv = nn.Conv2d(2, 3, 3, padding=1, bias=False)
    model = nn.Sequential(conv, nn.Flatten())
    x = torch.zeros(5, 2, 4, 4)
    x[:, 1] = 2.0  # channel 0 silent, channel 1: 5 samples x 16 positions of 2.0 -> norm sqrt(80 * 4)
    scores = wanda_scores(conv, collect_input_norms(model, x))
    assert (scores[:, 0] == 0).all()
    assert torch.allclose(scores[:, 1], conv.weight[:, 1].detach().abs() * (80 * 4) ** 0.5)


def test_grouped_conv_scores_pick_each_groups_channels():
    conv = nn.Conv2d(4, 4, 1, groups=2, bias=False)
    model = nn.Sequential(conv)
    x = torch.ones(3, 4, 2, 2) * torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 4, 1, 1)
    scores = wanda_scores(conv, collect_input_norms(model, x))
    norms = torch.tensor([1.0, 2.0, 3.0, 4.0]) * 12 ** 0.5  # 3 samples x 4 positions
    expected = torch.stack([norms[:2], norms[:2], norms[2:], norms[2:]]).view(4, 2, 1, 1)
    assert torch.allclose(scores, conv.weight.detach().abs() * expected)


def test_cli_prunes_by_wanda(lab_home):
    cmd = [sys.executable, "-m", "compress_core", "prune", "--model", "lenet300", "--dataset", "digits",
           "--method", "wanda", "--amount", "0.5", "--finetune-epochs", "0", "--json", "--home", str(lab_home)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["spec"]["method"] == "wanda" and result["status"] == "finished"
    m = result["metrics"]
    assert m["sparsity"] == pytest.approx(0.5, abs=0.005)
    assert m["accuracy"] == m["accuracy_before_finetune"] > 0.5  # no fine-tuning; half the weights still work


@pytest.fixture(scope="module")
def app_home(tmp_path_factory):
    from apptest_helpers import worker_home

    with worker_home(tmp_path_factory, "wanda_app_home") as (home, _):
        yield home


def test_wanda_appears_on_the_pages_and_the_preview_matches_a_run(app_home):
    """No page lists criteria by hand: Wanda shows up in the Prune, Sweeps and Sensitivity pages."""
    import copy

    from apptest_helpers import open_page, shown

    from compress_core.context import RunContext
    from compress_core.methods.criteria import calibration_batch
    from compress_core import fmt
    from compress_core.runs import jobs
    from compress_core.specs import PruneSpec
    from compress_core.training.baseline import get_baseline
    from compress_core.training.loop import evaluate

    spec = PruneSpec(method="wanda", amount=0.7, finetune_epochs=0, baseline_epochs=3)
    base = get_baseline(spec.baseline_spec(), RunContext.create(home=app_home))
    at = open_page("prune", prune_baseline_epochs=3, prune_method="wanda", prune_amount=70)
    assert "wanda" in at.radio(key="prune_method").options and not at.exception
    model = copy.deepcopy(base.model)
    prune_to(model, "wanda", "global", 0.7, calibration_batch(base.data.x_train, 0))
    accuracy, _ = evaluate(model, base.data.x_test, base.data.y_test)
    assert shown(at, "Accuracy, one-shot") == fmt.pct(accuracy)
    run = jobs.wait(jobs.submit(spec.to_dict(), app_home), app_home, timeout=300)
    assert run["status"] == "finished", run.get("error")
    assert run["metrics"]["accuracy_before_finetune"] == pytest.approx(accuracy)
    for page, key in (("sweep", "sweep_prune_method"), ("sensitivity", "sens_method")):
        at = open_page(page, **({"sweep_method": "prune"} if page == "sweep" else {"sens_baseline_epochs": 3}))
        assert "wanda" in at.radio(key=key).options, page
