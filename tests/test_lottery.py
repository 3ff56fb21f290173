"""Lottery tickets: masks shrink by the rate each round, rewinding restores the stored weights, the
controls keep the ticket's sparsity, and the run kind works through the API, the CLI and the store."""
from __future__ import annotations

import copy
import json

import pytest
import torch
from torch import nn

import compress_core
from compress_core.cli import main as cli
from compress_core.errors import CompressError, RunCancelled
from compress_core.methods.lottery import (dense_masks, masked_copy, next_masks, plain_copy, random_masks,
                                           reinitialised, remaining_fraction, rewind_state)
from compress_core.methods.registry import get_method, spec_from_dict
from compress_core.models.zoo import prunable_layers
from compress_core.runs import jobs
from compress_core.runs.artifacts import load_state
from compress_core.training.loop import FitConfig

TINY = {"kind": "lottery", "model": "mlp", "hidden": [16], "dataset": "digits", "epochs": 2, "rounds": 2, "rate": 0.5}


def _net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 40), nn.ReLU(), nn.Linear(40, 30), nn.ReLU(), nn.Linear(30, 10))


def _alive(model):
    return {name: int(torch.count_nonzero(m.weight.detach())) for name, m in prunable_layers(model)}


@pytest.mark.parametrize("scope", ["layer", "global"])
def test_each_round_removes_the_rate_of_the_remaining_weights(scope):
    model, rate = _net(), 0.2
    masks = dense_masks(model)
    sizes = {name: m.numel() for name, m in masks.items()}
    for r in range(1, 6):
        before = {name: int(m.sum()) for name, m in masks.items()}
        previous, masks = masks, next_masks(model, masks, rate, scope)
        after = {name: int(m.sum()) for name, m in masks.items()}
        if scope == "layer":  # every layer loses round(rate * its survivors)
            assert after == {n: before[n] - round(rate * before[n]) for n in before}
        assert remaining_fraction(masks) == pytest.approx((1 - rate) ** r, abs=2 / sum(sizes.values()) * r + 1e-3)
        for name in masks:  # a weight once pruned stays pruned
            assert not (masks[name] & ~previous[name]).any()
        model = masked_copy(model, {k: v + 0.01 * torch.randn_like(v) for k, v in _state(model).items()}, masks)


def _state(model):
    return {k: v.detach().clone() for k, v in plain_copy(model).state_dict().items()}


def test_next_masks_drop_the_smallest_surviving_magnitudes():
    model = _net()
    masks = next_masks(model, dense_masks(model), 0.5, "layer")
    for name, layer in prunable_layers(model):
        w = layer.weight.detach().abs()
        assert w[masks[name]].min() >= w[~masks[name]].max()


def test_rewinding_restores_the_stored_weights_under_the_mask():
    model = _net()
    init = _state(model)
    masks = next_masks(model, dense_masks(model), 0.7, "layer")
    ticket = masked_copy(model, init, masks)
    for name, layer in prunable_layers(ticket):
        w = layer.weight.detach()
        assert torch.equal(w[masks[name]], init[f"{name}.weight"][masks[name]]), "survivors keep their stored values"
        assert not w[~masks[name]].any(), "the pruned weights are zero"


def test_rewind_to_iteration_k_replays_the_dense_training(lab_home):
    from compress_core.data.datasets import load_dataset

    data = load_dataset("digits", lab_home / "data")
    model, config = _net(), FitConfig(epochs=1, lr=1e-3, batch_size=64, seed=0)
    assert rewind_state(model, data, config, 0, torch.device("cpu")).keys() == model.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(rewind_state(model, data, config, 0, "cpu").values(),
                                                 model.state_dict().values()))
    at_3 = rewind_state(model, data, config, 3, torch.device("cpu"))
    by_hand = copy.deepcopy(model)
    # replay by hand: three Adam steps on the same batches
    gen = torch.Generator().manual_seed(0)
    order = torch.randperm(len(data.x_train), generator=gen)
    opt = torch.optim.Adam(by_hand.parameters(), lr=1e-3)
    for i in range(3):
        idx = order[i * 64:(i + 1) * 64]
        opt.zero_grad()
        nn.functional.cross_entropy(by_hand(data.x_train[idx]), data.y_train[idx]).backward()
        opt.step()
    assert all(torch.allclose(at_3[k], v) for k, v in by_hand.state_dict().items())
    assert not torch.equal(at_3["1.weight"], model.state_dict()["1.weight"])
    with pytest.raises(CompressError, match="rewind_iteration must be below the 22 optimiser steps"):
        rewind_state(model, data, config, 22, torch.device("cpu"))


def test_controls_keep_the_tickets_sparsity():
    model = _net()
    masks = next_masks(model, dense_masks(model), 0.6, "layer")
    shuffled = random_masks(masks, seed=3)
    assert {n: int(m.sum()) for n, m in shuffled.items()} == {n: int(m.sum()) for n, m in masks.items()}
    assert any(not torch.equal(shuffled[n], masks[n]) for n in masks)
    fresh = reinitialised(model, seed=5)
    control = masked_copy(model, fresh, masks)
    assert _alive(control) == {n: int(m.sum()) for n, m in masks.items()}
    assert not torch.equal(fresh["1.weight"], _state(model)["1.weight"])


@pytest.mark.parametrize("bad, message", [
    ({"rounds": 0}, r"rounds must be in \[1, 30\]; got 0"),
    ({"rounds": 31}, r"rounds must be in \[1, 30\]; got 31"),
    ({"rate": 0.0}, r"rate must be in \(0, 0.95\]; got 0.0"),
    ({"rate": 1.0}, r"rate must be in \(0, 0.95\]; got 1.0"),
    ({"scope": "row"}, "scope must be one of layer, global; got 'row'"),
    ({"rewind_iteration": -1}, r"rewind_iteration must be in \[0, "),
])
def test_bad_settings_are_one_line(bad, message):
    with pytest.raises(CompressError, match=message):
        spec_from_dict({**TINY, **bad})


def test_a_model_without_prunable_layers_is_one_line(lab_home, tmp_path):
    (tmp_path / "nolayers.py").write_text(
        "import torch\nfrom torch import nn\n\n"
        "class Bare(nn.Module):\n"
        "    def __init__(self, n_in, n_out):\n"
        "        super().__init__()\n"
        "        self.w = nn.Parameter(torch.randn(n_in, n_out) * 0.01)\n"
        "    def forward(self, x):\n"
        "        return x.flatten(1) @ self.w\n\n"
        "def build(input_shape, num_classes):\n"
        "    n = 1\n"
        "    for d in input_shape:\n"
        "        n *= d\n"
        "    return Bare(n, num_classes)\n")
    with pytest.raises(CompressError, match="has no prunable layer"):
        compress_core.run({**TINY, "model": f"{tmp_path / 'nolayers.py'}:build", "hidden": None}, home=lab_home)


@pytest.fixture(scope="module")
def tiny_run(lab_home):
    events = []
    result = compress_core.run(TINY, on_progress=events.append, home=lab_home)
    return result, events


def test_the_run_reports_accuracy_per_round_and_variant(tiny_run):
    result, events = tiny_run
    m = result.metrics
    assert [r["round"] for r in m["rounds"]] == [1, 2]
    assert [r["remaining_fraction"] for r in m["rounds"]] == pytest.approx([0.5, 0.25], abs=0.01)
    for row in m["rounds"]:
        for key in ("accuracy", "reinit_accuracy", "random_mask_accuracy"):
            assert 0 <= row[key] <= 1
    assert m["accuracy"] == m["rounds"][-1]["accuracy"] and m["reinit_accuracy"] == m["rounds"][-1]["reinit_accuracy"]
    assert m["remaining_fraction"] == pytest.approx(0.25, abs=0.01)
    assert 0.7 < m["sparsity"] < 0.76, "three quarters of the weights (biases stay) are zero"
    assert m["baseline_accuracy"] > 0.5
    stages = [e for e in events if e.stage == "lottery"]
    assert [(e.step, e.total) for e in stages] == [(0, 2), (1, 2), (1, 2), (2, 2)]
    assert {"round 1 ticket", "round 1 reinit", "round 1 random mask", "round 2 ticket"} <= {e.stage for e in events}


def test_the_round_one_mask_comes_from_the_dense_baseline(tiny_run, lab_home):
    """Round 0 is the cached baseline, trained from the very initialisation the tickets rewind to."""
    result, _ = tiny_run
    train = compress_core.run({"kind": "train", "model": "mlp", "hidden": [16], "dataset": "digits", "epochs": 2},
                              home=lab_home)
    assert result.metrics["baseline_accuracy"] == train.metrics["accuracy"]


def test_cancel_stops_the_run(lab_home):
    def cancel_at_round_two(event):
        if event.stage == "lottery" and event.step == 1:
            raise RunCancelled("cancelled")

    with pytest.raises(RunCancelled):
        compress_core.run({**TINY, "controls": False}, on_progress=cancel_at_round_two, home=lab_home)


def test_registered_with_sweep_parameters_and_report_settings():
    method = get_method("lottery")
    assert list(method.sweep) == ["rounds", "rate"] and method.sweep["rounds"].integer
    assert "rewind_iteration" in method.report_settings
    assert method.describe(TINY).startswith("2 rounds of 50% -> 25.0% left")


def test_cli_runs_it_through_the_store(lab_home, capsys):
    args = ["lottery", "--model", "mlp", "--hidden", "16", "--epochs", "2", "--rounds", "1", "--rate", "0.3",
            "--rewind-iteration", "5", "--no-controls", "--home", str(lab_home), "--json"]
    assert cli.main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == "lottery" and out["spec"]["rewind_iteration"] == 5
    assert out["metrics"]["rounds"][0]["reinit_accuracy"] is None
    assert out["metrics"]["remaining_fraction"] == pytest.approx(0.7, abs=0.01)
    stored = jobs.get(out["id"], lab_home)
    assert stored["status"] == "finished" and stored["metrics"]["rounds"] == out["metrics"]["rounds"]
    rewind = load_state(out["artifacts"]["rewind_weights"])
    final = load_state(out["artifacts"]["weights"])
    for key in ("net.0.weight",) if "net.0.weight" in final else [k for k in final if k.endswith("weight")][:1]:
        kept = final[key] != 0
        assert kept.float().mean().item() == pytest.approx(0.7, abs=0.01)
        assert rewind[key].shape == final[key].shape and bool(rewind[key].all()), "the dense rewind point"


def test_cli_bad_rate_is_one_line(capsys):
    assert cli.main(["lottery", "--model", "mlp", "--rate", "2"]) == 2
    assert capsys.readouterr().err.strip() == "error: rate must be in (0, 0.95]; got 2.0"
