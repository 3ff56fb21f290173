"""Explain a run: per-class and flip tables against a hand-computed example, attribution that finds a
destroyed layer, seed exemplars, the `explain` CLI and its one-line refusals."""
from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from compress_core.cli.main import main
from compress_core.errors import CompressError
from compress_core.explore import attribution
from compress_core.explore.explain import explain_run, example_inputs, seed_runs
from compress_core.explore.flips import confusion_difference, flip_tables, per_class, seed_exemplars
from compress_core.present import explain as figures
from compress_core.runs import jobs
from compress_core.runs.artifacts import load_state

# --- a hand-computed example: 6 test examples, 3 classes (+ a 4th class with no examples) -----
Y = [0, 0, 1, 1, 2, 2]
BASE = [[0.8, 0.1, 0.1, 0.0],  # 0 right
        [0.6, 0.3, 0.1, 0.0],  # 0 right
        [0.2, 0.7, 0.1, 0.0],  # 1 right
        [0.5, 0.4, 0.1, 0.0],  # 0 WRONG (true 1)
        [0.1, 0.2, 0.7, 0.0],  # 2 right
        [0.1, 0.1, 0.8, 0.0]]  # 2 right
RUN = [[0.9, 0.05, 0.05, 0.0],  # 0 right
       [0.3, 0.6, 0.1, 0.0],  # 1 wrong: forgotten, run's wrong class at 0.6
       [0.1, 0.2, 0.7, 0.0],  # 2 wrong: forgotten at 0.7
       [0.2, 0.7, 0.1, 0.0],  # 1 right: learnt, true class at 0.7
       [0.1, 0.1, 0.8, 0.0],  # 2 right
       [0.5, 0.1, 0.4, 0.0]]  # 0 wrong: forgotten at 0.5
NAMES = ["a", "b", "c", "d"]


def _pred(probs):
    return np.asarray(probs).argmax(1)


def test_per_class_table_matches_the_hand_computed_one():
    rows = per_class(Y, _pred(BASE), _pred(RUN), NAMES)
    got = [(r["label"], r["examples"], r["baseline_accuracy"], r["run_accuracy"], r["difference"]) for r in rows]
    assert got == [("a", 2, 1.0, 0.5, -0.5), ("b", 2, 0.5, 0.5, 0.0), ("c", 2, 1.0, 0.5, -0.5),
                   ("d", 0, None, None, None)]


def test_confusion_difference_matches_the_hand_computed_one():
    diff = confusion_difference(Y, _pred(BASE), _pred(RUN), 3)
    assert diff.tolist() == [[-1, 1, 0], [-1, 0, 1], [1, 0, -1]]


def test_flip_tables_match_the_hand_computed_ones():
    flips = flip_tables(Y, BASE, RUN)
    forgotten = [(r["id"], r["true"], r["baseline_pred"], r["run_pred"], r["confidence"], r["baseline_true_prob"],
                  r["run_true_prob"]) for r in flips["forgotten"]]
    assert forgotten == [(2, 1, 1, 2, pytest.approx(0.7), pytest.approx(0.7), pytest.approx(0.2)),
                         (1, 0, 0, 1, pytest.approx(0.6), pytest.approx(0.6), pytest.approx(0.3)),
                         (5, 2, 2, 0, pytest.approx(0.5), pytest.approx(0.8), pytest.approx(0.4))]
    assert [(r["id"], r["true"], r["baseline_pred"], r["run_pred"], r["confidence"]) for r in flips["learnt"]] == \
        [(3, 1, 0, 1, pytest.approx(0.7))]
    assert flips["counts"] == {"examples": 6, "forgotten": 3, "learnt": 1, "baseline_correct": 5, "run_correct": 3}
    assert [r["id"] for r in flip_tables(Y, BASE, RUN, limit=2)["forgotten"]] == [2, 1]


def test_seed_exemplars_are_forgotten_under_a_strict_majority():
    masks = {0: [True, True, False, False], 1: [True, False, True, False], 2: [True, True, False, False]}
    result = seed_exemplars({s: np.array(m) for s, m in masks.items()})
    assert result["counts"] == [3, 2, 1, 0] and result["threshold"] == 2 and result["exemplars"] == [0, 1]
    assert seed_exemplars({0: np.array([True]), 1: np.array([False])})["exemplars"] == []  # 1 of 2 is no majority


def test_sqnr_is_signal_over_error_power_in_db():
    assert attribution.sqnr_db(torch.tensor([1.0, 1.0]), torch.tensor([1.0, 0.0])) == pytest.approx(10 * math.log10(2))
    assert attribution.sqnr_db(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0])) is None  # nothing to measure


# --- attribution on a tiny trained model with one layer destroyed --------------------------------

@pytest.fixture(scope="module")
def trained():
    """An MLP trained on three Gaussian blobs in 10-D (well separated: the baseline is ~100% right)."""
    gen = torch.Generator().manual_seed(0)
    centres = torch.randn(3, 10, generator=gen) * 3
    y = torch.arange(3).repeat_interleave(200)
    x = centres[y] + torch.randn(600, 10, generator=gen)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    assert attribution.accuracy(model, x, y) > 0.95
    return model.eval(), x, y


def _fake_run(model: nn.Module, destroyed: str) -> nn.Module:
    """Every layer mildly pruned (30% smallest weights zeroed), layer `destroyed` zeroed entirely."""
    run = copy.deepcopy(model)
    with torch.no_grad():
        for name, layer in attribution.prunable_layers(run):
            w = layer.weight
            if name == destroyed:
                w.zero_()
            else:
                w.mul_(w.abs() > w.abs().flatten().kthvalue(int(0.3 * w.numel())).values)
    return run


@pytest.mark.parametrize("mode", ["weights", "mask"])
@pytest.mark.parametrize("destroyed", ["0", "2", "4"])
def test_attribution_puts_the_destroyed_layer_first(trained, destroyed, mode):
    model, x, y = trained
    result = attribution.attribute(model, _fake_run(model, destroyed), x, y, mode=mode)
    rows = result["rows"]
    assert result["available"] and rows[0]["layer"] == destroyed
    assert rows[0]["drop"] > 0.3 and all(r["drop"] < 0.1 for r in rows[1:])
    assert rows[0]["recovered"] > 0.3  # restoring it alone gives most of the accuracy back
    assert min(rows, key=lambda r: r["sqnr_db"])["layer"] == destroyed
    assert rows[0]["changed_share"] == pytest.approx(1.0)
    assert sum(r["params_share"] for r in rows) == pytest.approx(1.0)
    assert sum(r["flops_share"] for r in rows) == pytest.approx(1.0)
    assert result["baseline_accuracy"] == attribution.accuracy(model, x, y)


def test_layers_that_do_not_correspond_are_said_in_one_line(trained):
    model, x, y = trained
    smaller = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 3))
    result = attribution.attribute(model, smaller, x, y)
    assert result == {"available": False, "reason": result["reason"]} and "structured pruning" in result["reason"]
    other = nn.Sequential(nn.Linear(10, 3))
    assert "do not correspond" in attribution.attribute(model, other, x, y)["reason"]


# --- finished runs in a store ---------------------------------------------------------------------

SPEC = {"kind": "prune", "model": "lenet300", "dataset": "digits", "amount": 0.9, "baseline_epochs": 2,
        "finetune_epochs": 1}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("explain_home")


@pytest.fixture(scope="module")
def runs(home):
    return {seed: jobs.record_foreground({**SPEC, "seed": seed}, home=home) for seed in (0, 1, 2)}


def test_explain_a_prune_run_agrees_with_what_the_run_measured(runs, home):
    run = runs[0]
    result = explain_run(run["id"], home, limit=10_000)
    assert result["accuracy"]["run"] == pytest.approx(run["metrics"]["accuracy"])
    assert result["accuracy"]["baseline"] == pytest.approx(run["baseline"]["accuracy"])
    per = result["per_class"]
    assert sum(r["examples"] for r in per) == result["examples"]
    assert sum(r["run_accuracy"] * r["examples"] for r in per) == pytest.approx(result["accuracy"]["run"] *
                                                                                  result["examples"])
    counts = result["flips"]["counts"]
    assert counts["run_correct"] - counts["baseline_correct"] == counts["learnt"] - counts["forgotten"]
    assert len(result["flips"]["forgotten"]) == counts["forgotten"]
    diff = np.array(result["confusion_difference"])
    assert diff.sum() == 0 and np.trace(diff) == counts["run_correct"] - counts["baseline_correct"]
    attr = result["attribution"]
    assert attr["available"] and attr["mode"] == "mask"
    # mask mode, every layer compressed: the model right after pruning, before fine-tuning
    assert attr["all_compressed_accuracy"] == pytest.approx(run["metrics"]["accuracy_before_finetune"])
    keys = [(-r["drop"], -r["recovered"]) for r in attr["rows"]]
    assert keys == sorted(keys)  # most to blame first


def test_a_run_with_a_destroyed_layer_blames_that_layer(runs, home, tmp_path):
    """A fake 'run': a finished run's saved weights with layer net.3 zeroed, explained in weights mode."""
    run = copy.deepcopy(runs[1])
    state = load_state(run["artifacts"]["weights"])
    state["net.3.weight"] = torch.zeros_like(state["net.3.weight"])
    path = tmp_path / "destroyed.pt"
    torch.save(state, path)
    run["artifacts"] = {**run["artifacts"], "weights": str(path)}
    attr = explain_run(run, home, seeds=False, mode="weights")["attribution"]
    assert attr["rows"][0]["layer"] == "net.3" and attr["rows"][0]["drop"] > 0.3


def test_seed_exemplars_are_forgotten_under_most_seeds(runs, home):
    assert [r["spec"]["seed"] for r in seed_runs(runs[0], home)] == [0, 1, 2]
    forgotten = {seed: {r["id"] for r in explain_run(run["id"], home, limit=10_000, seeds=False,
                                                      attribution=False)["flips"]["forgotten"]}
                 for seed, run in runs.items()}
    result = explain_run(runs[0]["id"], home, limit=10_000, attribution=False)
    seeds = result["seeds"]
    assert seeds["available"] and seeds["seeds"] == [0, 1, 2] and seeds["threshold"] == 2
    expected = {i for i in range(result["examples"]) if sum(i in f for f in forgotten.values()) >= 2}
    assert set(seeds["exemplars"]) == expected
    for row in result["flips"]["forgotten"]:
        assert row["seeds_forgotten"] == sum(row["id"] in f for f in forgotten.values())
        assert row["exemplar"] == (row["id"] in expected)


def test_example_inputs_are_drawable(runs, home):
    images = example_inputs(runs[0]["id"], [0, 5], home)
    assert images["kind"] == "image" and len(images["items"]) == 2
    assert images["items"][0].shape == (8, 8) and images["items"][0].min() >= 0 and images["items"][0].max() <= 1


def test_cli_json_keys(runs, home, capsys):
    assert main(["explain", runs[0]["id"], "--json", "--home", str(home)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"run_id", "kind", "examples", "class_names", "accuracy", "per_class", "confusion_difference", "flips",
            "seeds", "attribution", "notes", "seconds", "threads"} <= set(out)
    assert set(out["per_class"][0]) == {"class", "label", "examples", "baseline_accuracy", "run_accuracy",
                                        "difference"}
    assert {"forgotten", "learnt", "counts", "confidence"} <= set(out["flips"])
    flip = (out["flips"]["forgotten"] + out["flips"]["learnt"])[0]
    assert {"id", "true", "baseline_pred", "run_pred", "confidence"} <= set(flip)
    assert {"layer", "params_share", "flops_share", "accuracy_only_this", "accuracy_all_but_this", "drop",
            "recovered", "sqnr_db"} <= set(out["attribution"]["rows"][0])
    assert main(["explain", runs[0]["id"], "--home", str(home), "--no-seeds"]) == 0
    assert "per-layer attribution (mask mode)" in capsys.readouterr().out


def _one_line_error(argv, capsys, fragment):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and fragment in err, err


def test_cli_refuses_runs_it_cannot_explain_in_one_line(runs, home, capsys, tmp_path):
    store = jobs.open_store(home)
    _one_line_error(["explain", "r20990101-000000-00000000", "--home", str(home)], capsys, "no run with id")
    running = store.create_run("prune", SPEC, status="running")
    _one_line_error(["explain", running, "--home", str(home)], capsys, "is still running")
    store.fail(running, "CompressError: boom")
    _one_line_error(["explain", running, "--home", str(home)], capsys, "failed; only finished runs")
    _one_line_error(["explain", runs[0]["id"], "--home", str(home), "--mode", "mystery"], capsys,
                    "attribution mode must be one of auto, mask, weights")
    # a finished run whose weights were deleted
    gone = jobs.record_foreground({**SPEC, "seed": 7}, home=home)
    from pathlib import Path

    Path(gone["artifacts"]["weights"]).unlink()
    _one_line_error(["explain", gone["id"], "--home", str(home)], capsys, "are missing")
    store.delete(gone["id"])


def test_figures_show_the_explanation(runs, home):
    result = explain_run(runs[0]["id"], home, seeds=False)
    fig = figures.per_class_figure(result)
    assert [t.name for t in fig.data] == ["baseline", "compressed run", "difference (run - baseline)"]
    assert list(fig.data[2].y) == pytest.approx([r["difference"] * 100 for r in result["per_class"]])
    heat = figures.confusion_figure(result)
    assert heat.data[0].z == tuple(tuple(r) for r in result["confusion_difference"]) or \
        np.array(heat.data[0].z).tolist() == result["confusion_difference"]
    bars = figures.attribution_figure(result)
    assert bars.data[0].y[-1].startswith(result["attribution"]["rows"][0]["layer"])  # most to blame on top
    assert len(figures.flip_table(result)) == len(result["flips"]["forgotten"])
    assert "per-layer attribution" in figures.text_summary(result)
    assert figures.attribution_figure({"attribution": {"available": False, "reason": "x"}}) is None


def test_train_runs_have_no_baseline_to_explain(home):
    train = jobs.record_foreground({"kind": "train", "model": "mlp", "hidden": [8], "dataset": "digits",
                                    "epochs": 1}, home=home)
    with pytest.raises(CompressError, match="is a train run"):
        explain_run(train["id"], home)
    jobs.open_store(home).delete(train["id"])


# --- every run kind: quantization, structured pruning, distillation ------------------------------

MLP = {"model": "mlp", "hidden": [32], "dataset": "digits", "baseline_epochs": 2}


@pytest.mark.parametrize("spec, available, fragment", [
    ({"kind": "quantize", "scheme": "fake", "bits": 2, **MLP}, True, None),
    ({"kind": "quantize", "scheme": "int8", **MLP}, False, "int8 ONNX Runtime graph"),
    ({"kind": "prune", "method": "structured", "amount": 0.5, "finetune_epochs": 0, **MLP}, False,
     "channels removed by structured pruning"),
    ({"kind": "distill", "teacher": "mlp", "teacher_hidden": [32], "model": "mlp", "hidden": [8],
      "dataset": "digits", "teacher_epochs": 2, "epochs": 1}, False, "other shapes"),
], ids=["fake2bit", "int8", "structured", "distill"])
def test_every_kind_is_explained_or_says_why_not(spec, available, fragment, home):
    run = jobs.record_foreground(spec, home=home)
    result = explain_run(run["id"], home, seeds=False)
    assert result["accuracy"]["run"] == pytest.approx(run["metrics"]["accuracy"])
    assert result["accuracy"]["baseline"] == pytest.approx(run["baseline"]["accuracy"])
    attr = result["attribution"]
    assert attr["available"] is available
    if available:  # fake k-bit: every layer swapped is the run itself, and each layer has a finite error
        assert attr["mode"] == "weights" and attr["all_compressed_accuracy"] == pytest.approx(result["accuracy"]["run"])
        assert all(r["sqnr_db"] is not None and r["sqnr_db"] > 0 for r in attr["rows"])
    else:
        assert fragment in attr["reason"] and "\n" not in attr["reason"]
    jobs.open_store(home).delete(run["id"])
