"""The pure parts of the Learn page's lottery-ticket and per-class damage lessons and of the predict-then-reveal
questions: each number is checked against the engine's own functions or against labels written by hand."""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from compress_core.data.datasets import load_dataset
from compress_core.methods import lottery
from compress_core.methods.prune import agp_schedule, prune_to
from compress_core.methods.quantize import fake_quantize
from compress_core.models.zoo import build_model, prunable_layers
from compress_core.present import teach_damage as td
from compress_core.present import teach_lottery as tl
from compress_core.present import teach_predict as tp
from compress_core.training.loop import FitConfig, evaluate, fit, seeded


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return load_dataset("digits", tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def trained(digits):
    with seeded(0):
        model = build_model("mlp", digits.input_shape, digits.num_classes, (48, 24))
    fit(model, digits, FitConfig(4, 1e-3, 32, 0), device=torch.device("cpu"))
    return model


# ---------------------------------------------------------------- lottery
SMALL = tl.LotterySettings(rounds=2, rate=0.5, epochs=2, scope="global", seed=3)


@pytest.fixture(scope="module")
def curves(digits, trained):
    return tl.lottery_curves(trained, digits, SMALL)


def test_lottery_curves_halve_the_weights_and_share_the_dense_point(curves):
    assert len(curves) == 2 * (SMALL.rounds + 1)
    for r in range(SMALL.rounds + 1):
        rows = curves[curves["round"] == r]
        assert set(rows["variant"]) == {tl.TICKET, tl.REINIT}
        assert rows["remaining"].tolist() == pytest.approx([0.5 ** r] * 2, abs=1e-3)
    dense = curves[curves["round"] == 0]
    assert dense["accuracy"].nunique() == 1  # one dense network, drawn once for both curves
    assert (curves["low"] <= curves["accuracy"]).all() and (curves["accuracy"] <= curves["high"]).all()
    assert (curves["correct"] == (curves["accuracy"] * curves["examples"]).round()).all()


def test_lottery_ticket_is_the_engines_procedure_rewound_to_the_same_init(digits, trained, curves):
    """Round 1 rebuilt by hand from methods.lottery: train dense from the seeded init, prune 50 % of |w|
    globally, reset the survivors to the init and train again: the same accuracy as the lesson's."""
    config = FitConfig(SMALL.epochs, SMALL.lr, SMALL.batch_size, SMALL.seed)
    init = lottery.reinitialised(trained, SMALL.seed)
    dense = lottery.masked_copy(trained, init, lottery.dense_masks(trained))
    fit(dense, digits, config, device=torch.device("cpu"))
    masks = lottery.next_masks(dense, lottery.dense_masks(trained), SMALL.rate, "global")
    ticket = lottery.masked_copy(trained, init, masks)
    fit(ticket, digits, config, device=torch.device("cpu"))
    accuracy, _ = evaluate(ticket, digits.x_test, digits.y_test)
    row = curves[(curves["round"] == 1) & (curves["variant"] == tl.TICKET)]
    assert float(row["accuracy"].iloc[0]) == pytest.approx(accuracy, abs=1.5 / len(digits.y_test))
    assert all(torch.equal(a, b) for a, b in zip(trained.state_dict().values(),
                                                 copy.deepcopy(trained).state_dict().values()))


def _hand_curves(points: list[tuple[float, float, float]], n: int = 450) -> pd.DataFrame:
    rows = []
    for r, (remaining, ticket, reinit) in enumerate(points):
        rows += [tl._point(r, remaining, tl.TICKET, ticket, n), tl._point(r, remaining, tl.REINIT, reinit, n)]
    return pd.DataFrame(rows)


def test_lottery_summary_reads_the_noise_right():
    table = _hand_curves([(1.0, 0.97, 0.97), (0.5, 0.97, 0.965), (0.25, 0.96, 0.90), (0.125, 0.85, 0.60)])
    s = tl.summary(table)
    assert s["dense"] == pytest.approx(0.97)
    assert s["sparsest_holding"]["remaining"] == 0.25  # 0.96 vs 0.97 on 450 images: within noise; 0.85 is not
    assert s["first_beyond"]["remaining"] == 0.25 and s["first_beyond"]["gap"] == pytest.approx(0.06)
    assert s["last"]["gap_images"] == round(0.25 * 450) and s["last"]["beyond_noise"]
    assert s["rounds_beyond"] == 2 and s["rounds"] == 3
    text = tl.summary_text(s)
    assert "25.0 % of the weights" in text and "+25.0 pp" in text and "beyond noise" in text
    flat = tl.summary(_hand_curves([(1.0, 0.97, 0.97), (0.5, 0.96, 0.965)]))
    assert flat["first_beyond"] is None
    assert "does not show the paper's effect" in tl.summary_text(flat)


def test_lottery_figure_draws_both_variants_on_a_reversed_log_axis(curves):
    fig = tl.lottery_figure(curves, SMALL)
    assert [t.name for t in fig.data] == [tl.TICKET, tl.REINIT]
    assert fig.layout.xaxis.type == "log" and fig.layout.xaxis.autorange == "reversed"
    ticket = curves[curves["variant"] == tl.TICKET].sort_values("round")
    assert list(fig.data[0].y) == pytest.approx(list(100 * ticket["accuracy"]))


def test_lottery_settings_are_checked():
    with pytest.raises(ValueError, match="rounds"):
        tl.LotterySettings(rounds=0)
    with pytest.raises(ValueError, match="scope"):
        tl.LotterySettings(scope="channel")


# ---------------------------------------------------------------- per-class damage
def test_class_flags_mark_only_a_class_hit_beyond_the_overall_rate():
    y = np.repeat(np.arange(4), 40)
    base = y.copy()
    even = y.copy()
    even[[0, 40, 80, 120]] = (y[[0, 40, 80, 120]] + 1) % 4  # one image forgotten per class
    flags = td.class_flags(y, base, even, 4)
    assert [f["forgotten"] for f in flags] == [1, 1, 1, 1] and not any(f["flagged"] for f in flags)
    skewed = y.copy()
    skewed[40:60] = 0  # class 1 loses 20 of 40 images, the others none
    flags = td.class_flags(y, base, skewed, 4)
    assert [f["flagged"] for f in flags] == [False, True, False, False]
    assert flags[1]["expected"] == pytest.approx(40 * 20 / 160) and flags[1]["p_value"] < 1e-6


def test_compare_counts_flips_and_finds_the_worst_class():
    y = np.array([0, 0, 1, 1, 2, 2])
    base = np.eye(3)[[0, 0, 1, 0, 2, 2]]  # the dense model misses one 1
    run = np.eye(3)[[0, 0, 1, 1, 0, 1]]  # the pruned one gets that 1, loses both 2s
    out = td.compare(y, base, run, ["a", "b", "c"])
    assert out["counts"]["forgotten"] == 2 and out["counts"]["learnt"] == 1
    assert out["accuracy"] == pytest.approx(4 / 6) and out["change"] == pytest.approx(-1 / 6)
    assert out["worst"]["label"] == "c" and out["worst"]["difference"] == -1.0
    by_label = {r["label"]: r for r in out["classes"]}
    assert by_label["b"]["learnt"] == 1 and by_label["c"]["forgotten"] == 2
    assert by_label["c"]["low"] == 0.0 and 0 < by_label["c"]["high"] < 1


def test_class_damage_is_the_engines_pruning_on_every_test_image(digits, trained):
    before = copy.deepcopy(trained.state_dict())
    levels = td.class_damage(trained, digits, (0.5, 0.9))
    assert all(torch.equal(before[k], v) for k, v in trained.state_dict().items())  # the model is not touched
    pruned = copy.deepcopy(trained)
    prune_to(pruned, "l1", "global", 0.9)
    accuracy, _ = evaluate(pruned, digits.x_test, digits.y_test)
    entry = levels[1]
    assert entry["sparsity"] == 0.9 and entry["accuracy"] == pytest.approx(accuracy)
    assert entry["baseline_accuracy"] == pytest.approx(evaluate(trained, digits.x_test, digits.y_test)[0])
    assert sum(r["examples"] for r in entry["classes"]) == len(digits.y_test)
    assert entry["counts"]["forgotten"] - entry["counts"]["learnt"] == \
        entry["counts"]["baseline_correct"] - entry["counts"]["run_correct"]
    assert "Top-1 moves by" in td.damage_text(entry)
    tuned = td.class_damage(trained, digits, (0.9,), finetune_epochs=1)[0]
    assert tuned["finetune_epochs"] == 1 and tuned["accuracy"] > entry["accuracy"]  # fine-tuning recovers
    assert len(td.spread_figure(levels).data) == digits.num_classes + 1
    assert len(td.class_figure(entry).data[0].x) == digits.num_classes


# ---------------------------------------------------------------- predict, then reveal
def test_judge_choice_right_wrong_and_ties():
    values = {"a": 0.2, "b": 0.9, "c": 0.9}
    right = tp.judge_choice("b", values, tie=1e-9)
    assert right["correct"] and right["answers"] == ["b", "c"] and "tied with c" in right["text"]
    wrong = tp.judge_choice("a", values)
    assert not wrong["correct"] and wrong["gap"] == pytest.approx(0.7) and "90.0 %" in wrong["text"]
    assert tp.judge_choice("a", values, largest=False)["correct"]
    with pytest.raises(KeyError):
        tp.judge_choice("z", values)


def test_judge_number_says_how_far():
    far = tp.judge_number(0.5, 0.8, tolerance=0.05, unit_gap=lambda v: f"{100 * v:.1f} points")
    assert not far["close"] and far["off"] == pytest.approx(-0.3) and "30.0 points too low" in far["text"]
    assert "Measured: 80.0 %" in far["text"] and "far off" in far["text"]
    assert tp.judge_number(0.8, 0.7875, tolerance=0.05)["close"]
    assert "exactly right" in tp.judge_number(0.5, 0.5, tolerance=0.0)["text"]


def test_measured_answers_are_the_engines(trained):
    sparsities = tp.layer_sparsities(trained, 0.9)
    pruned = copy.deepcopy(trained)
    prune_to(pruned, "l1", "global", 0.9)
    assert sparsities == {n: pytest.approx(float((m.weight == 0).float().mean())) for n, m in prunable_layers(pruned)}
    weights = {n: m.weight.numel() for n, m in prunable_layers(trained)}
    assert sum(sparsities[n] * w for n, w in weights.items()) / sum(weights.values()) == pytest.approx(0.9, abs=1e-3)
    assert tp.agp_sparsity_after(0.0, 0.9, 10, 5) == pytest.approx(agp_schedule(0.0, 0.9, 10)[4])
    errors = tp.rounding_errors(trained, 4)
    w = prunable_layers(trained)[0][1].weight.detach()
    layer_only = float((fake_quantize(w, 4, "tensor") - w).pow(2).sum())
    assert errors["tensor"] * sum(weights.values()) >= layer_only  # the first layer's share of the total
    assert errors["tensor"] > errors["channel"] > 0
    sizes = tp.layer_magnitudes(trained)
    assert [sizes[n]["weights"] for n in weights] == list(weights.values())
