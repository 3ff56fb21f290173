"""Per-layer sensitivity scan, the per-layer amount proposal, and the `sensitivity` command."""
from __future__ import annotations

import copy
import json

import pandas as pd
import pytest
import torch

from compress_core.cli import main as cli
from compress_core.training.baseline import get_baseline
from compress_core.context import RunContext
from compress_core.errors import CompressError
from compress_core.measure.metrics import global_sparsity
from compress_core.methods.prune import apply_layer_amounts
from compress_core.explore.sensitivity import (achieved_sparsity, layer_sensitivity, layer_sizes,
                                       predicted_drop, propose_layer_amounts)
from compress_core.specs import TrainSpec

SPEC = TrainSpec(model="mlp", hidden=(32, 16), epochs=5)
AMOUNTS = [0.3, 0.6, 0.9, 0.99]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("sensitivity_home")


@pytest.fixture(scope="module")
def base(home):
    return get_baseline(SPEC, RunContext.create(home=home))


@pytest.fixture(scope="module")
def table(base):
    return layer_sensitivity(base.model, base.data, AMOUNTS)


def test_scan_shape_and_model_left_intact(base, table):
    before = copy.deepcopy(base.model.state_dict())
    again = layer_sensitivity(base.model, base.data, AMOUNTS)
    pd.testing.assert_frame_equal(again, table)  # deterministic
    assert all(torch.equal(before[k], v) for k, v in base.model.state_dict().items())
    assert list(table.columns) == ["layer", "type", "params", "amount", "accuracy", "baseline_accuracy", "drop"]
    assert len(table) == 3 * len(AMOUNTS)
    assert layer_sizes(table) == {"net.1": 64 * 32, "net.3": 32 * 16, "net.5": 16 * 10}
    assert (table["drop"] == table["baseline_accuracy"] - table["accuracy"]).all()


def test_drop_grows_with_the_amount(table):
    drops = table.pivot(index="layer", columns="amount", values="drop")
    # per layer: pruning 99 % costs more than pruning 30 % (small noise allowed in between)
    assert (drops[0.99] > drops[0.3] + 0.02).all()
    mean = drops.mean()
    assert all(later >= earlier - 0.02 for earlier, later in zip(mean, mean[1:]))


def test_proposal_meets_the_target(base, table):
    sizes = layer_sizes(table)
    proposal = propose_layer_amounts(table, sizes, 0.8)
    assert set(proposal) == set(sizes) and all(0 <= a <= 0.99 for a in proposal.values())
    assert achieved_sparsity(proposal, sizes) == pytest.approx(0.8, abs=1e-5)
    uniform = {name: 0.8 for name in sizes}
    assert predicted_drop(table, proposal) <= predicted_drop(table, uniform) + 1e-9
    model = apply_layer_amounts(copy.deepcopy(base.model), proposal)
    assert global_sparsity(model) == pytest.approx(0.8, abs=0.002)


def test_greedy_prunes_the_insensitive_layer_first():
    rows = [("a", 100, a, d) for a, d in ((0.5, 0.0), (0.9, 0.0), (0.95, 0.01))] + \
           [("b", 100, a, d) for a, d in ((0.5, 0.2), (0.9, 0.5), (0.95, 0.6))]
    table = pd.DataFrame(rows, columns=["layer", "params", "amount", "drop"])
    proposal = propose_layer_amounts(table, None, 0.5)
    assert proposal == pytest.approx({"a": 0.95, "b": 0.05})
    with pytest.raises(CompressError, match="scan larger amounts"):
        propose_layer_amounts(table, None, 0.96)
    with pytest.raises(CompressError, match=r"target sparsity must be in \[0, 1\)"):
        propose_layer_amounts(table, None, 1.0)


def test_cli_sensitivity_json(home, capsys):
    argv = ["sensitivity", "--model", "mlp", "--hidden", "32,16", "--baseline-epochs", "5",
            "--amounts", "0.5,0.9", "--target", "0.7", "--home", str(home), "--json"]
    assert cli.main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["rows"]) == 3 * 2 and out["amounts"] == [0.5, 0.9]
    assert out["achieved_sparsity"] == pytest.approx(0.7, abs=1e-5) and set(out["proposal"]) == set(out["layers"])


@pytest.mark.parametrize("amounts, message", [("0.5,1.5", r"amount must be in \(0, 1\); got 1\.5"),
                                              ("0.5,x", "comma-separated numbers")])
def test_cli_sensitivity_bad_amounts(home, capsys, amounts, message):
    assert cli.main(["sensitivity", "--model", "mlp", "--amounts", amounts, "--home", str(home)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert __import__("re").search(message, err), err
