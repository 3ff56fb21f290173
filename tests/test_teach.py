"""The Learn page's lessons: each function agrees with the engine and with the formula it illustrates."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from compress_core.present import teach
from compress_core.training.baseline import get_baseline
from compress_core.context import RunContext
from compress_core.errors import CompressError
from compress_core.measure.metrics import global_sparsity
from compress_core.models.zoo import prunable_layers
from compress_core.methods.prune import agp_schedule
from compress_core.specs import TrainSpec
from compress_core.training.loop import evaluate, predict_logits


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """LeNet-300-100 on digits, 3 epochs: the teaching model, trained briefly."""
    return get_baseline(TrainSpec(model="lenet300", dataset="digits", epochs=3),
                        RunContext.create(home=tmp_path_factory.mktemp("teach_home")))


@pytest.fixture(scope="module")
def logits(base):
    return predict_logits(base.model, base.data.x_test)


def state(model) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items()}


def titled(fig) -> bool:
    return bool(fig.layout.title.text)


# ---------------------------------------------------------------- pruning
@pytest.mark.parametrize("scope", ["global", "layer"])
def test_pruned_copy_reaches_the_amount_and_leaves_the_model_alone(base, scope):
    before = state(base.model)
    pruned = teach.pruned_copy(base.model, 0.7, scope)
    assert global_sparsity(pruned) == pytest.approx(0.7, abs=1e-3)
    assert all(torch.equal(before[k], v) for k, v in base.model.state_dict().items())
    assert global_sparsity(teach.pruned_copy(base.model, 0.0)) == 0.0
    with pytest.raises(CompressError, match="amount"):
        teach.pruned_copy(base.model, 1.0)


def traces_json(fig) -> str:
    """The traces as the browser gets them (NaN-safe, unlike comparing plotly objects holding numpy arrays)."""
    return json.dumps(json.loads(fig.to_json())["data"])


def removed_area(fig) -> list[tuple[float, float]]:
    """The grey area's outline of a threshold histogram, as (x, y) corners."""
    (path,) = [s.path for s in fig.layout.shapes if s.type == "path"]
    return [tuple(map(float, corner.split(","))) for corner in path.strip("MZ").split("L")]


def test_threshold_histogram_splits_weights_at_the_threshold(base):
    pruned = teach.pruned_copy(base.model, 0.6, "global")
    fig = teach.threshold_histogram(base.model, pruned, "global")
    histogram, removed_legend, line_legend = fig.data
    total = sum(m.weight.numel() for _, m in prunable_layers(base.model))
    assert sum(histogram.y) == total and histogram.name == "kept: M = 1"  # every weight, the same at every amount
    corners = removed_area(fig)  # the removed weights: one horizontal step per bin, from the first edge to the last
    removed = [y for (x0, y), (x1, y1) in zip(corners[1:-1:2], corners[2:-1:2])]
    assert sum(removed) == pytest.approx(0.6 * total, abs=1) and corners[0][1] == corners[-1][1] == 0
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    t = max(s.x0 for s in lines)
    assert sorted(s.x0 for s in lines) == pytest.approx([-t, t]) and all(s.x0 == s.x1 for s in lines)
    weights = torch.cat([m.weight.detach().flatten() for _, m in prunable_layers(pruned)])
    assert weights[weights != 0].abs().min() > t  # every kept weight is above the threshold
    assert line_legend.name == f"all layers: |w| ≤ {t:.3g} removed" and line_legend.x == (None,)
    assert removed_legend.name.startswith("removed") and removed_legend.fill == "tozeroy"
    assert "60.0 %" in fig.layout.title.text and fig.layout.xaxis.title.text
    layer_fig = teach.threshold_histogram(base.model, teach.pruned_copy(base.model, 0.6, "layer"), "layer")
    assert len(layer_fig.data) == 2 + 3  # the histogram, the removed area's legend entry, one per layer's threshold
    assert len([s for s in layer_fig.layout.shapes if s.type == "line"]) == 2 * 3
    # another amount changes no trace but the names of the thresholds: plotly.js restyles, it does not recompute
    other = teach.threshold_histogram(base.model, teach.pruned_copy(base.model, 0.3, "global"), "global")
    assert other.data[0] == histogram and other.data[1] == removed_legend
    assert sum(y for (_, y), _ in zip(removed_area(other)[1:-1:2], removed_area(other)[2:-1:2])) == \
        pytest.approx(0.3 * total, abs=1)
    nothing = teach.threshold_histogram(base.model, teach.pruned_copy(base.model, 0.0), "global")
    assert not nothing.layout.shapes and nothing.data[0] == histogram


def test_unit_images_grey_exactly_the_pruned_pixels(base):
    pruned = teach.pruned_copy(base.model, 0.8)
    before, after = teach.first_layer(base.model), teach.first_layer(pruned)
    units = teach.strongest_units(before, 4)
    norms = before.norm(dim=1)
    assert norms[units[0]] == norms.max() and list(norms[units]) == sorted(norms[units], reverse=True)
    fig = teach.unit_images(before, after, units, (8, 8))
    assert len(fig.data) == 2 and titled(fig)  # one figure: the dense row and the row below (images tiled, NaN gaps)
    top, below = fig.data
    assert top.y0 == 0 and below.y0 == 10  # rows 0-7, two empty rows, rows 10-17
    weights = np.array(top.z, dtype=float)
    assert np.array_equal(weights, np.array(below.z, dtype=float), equal_nan=True)
    (grey,) = fig.layout.shapes
    covered = np.zeros((8, weights.shape[1]), dtype=bool)  # the grey squares, as pixels of the lower row
    for square in grey.path.split("Z")[:-1]:
        x0, y0 = map(float, square[1:square.index("H")].split(","))
        x1 = float(square[square.index("H") + 1:square.index("V")])
        y1 = float(square[square.index("V") + 1:square.rindex("H")])
        assert y1 - y0 == 1 and x1 > x0
        covered[int(y0 + 0.5) - 10, int(x0 + 0.5):int(x1 + 0.5)] = True
    for i, u in enumerate(units):  # image i: columns 9i..9i+7
        dense = weights[:8, 9 * i:9 * i + 8]
        zero = (after[u] == 0).reshape(8, 8).numpy()
        assert np.allclose(dense, before[u].reshape(8, 8).numpy()) and not np.isnan(dense).any()
        assert np.array_equal(covered[:, 9 * i:9 * i + 8], zero)  # grey shows exactly where a weight was pruned
    assert not covered[:, 8::9].any() and np.isnan(weights[:, 8]).all()
    kept = [a.text for a in fig.layout.annotations if a.text.endswith("kept")]
    assert kept == [f"{int(torch.count_nonzero(after[u]))} of 64 kept" for u in units]
    named = teach.unit_images(before[units], after[units], range(len(units)), (8, 8), labels=units)
    assert np.array_equal(np.array(named.data[0].z, dtype=float), weights, equal_nan=True)
    assert [a.text for a in named.layout.annotations][:len(units)] == [f"unit {u}" for u in units]
    # another amount: the same traces, only the grey squares and the notes differ
    fewer = teach.unit_images(before, teach.first_layer(teach.pruned_copy(base.model, 0.3)), units, (8, 8))
    assert traces_json(fewer) == traces_json(fig) and fewer.layout.shapes[0].path != grey.path
    dense_only = teach.unit_images(before, before, units, (8, 8))
    assert traces_json(dense_only) == traces_json(fig) and dense_only.layout.shapes[0].visible is False


def test_structured_copy_is_faster_in_flops_masked_is_not(base):
    df = teach.speed_comparison(base.model, base.data.input_shape, 0.5, batch=64, repeats=5).set_index("method")
    dense, masked, structured = df.loc["baseline"], df.loc["l1"], df.loc["structured"]
    assert masked.flops_dense == dense.flops_dense  # a dense kernel multiplies the zeros too
    assert masked.flops_effective == pytest.approx(0.5 * dense.flops_dense, rel=0.02)
    assert masked.params_nonzero < dense.params_nonzero == dense.params_total
    assert structured.flops_dense < 0.5 * dense.flops_dense and structured.params_total < dense.params_total
    assert (df["latency_ms"] > 0).all()
    fig = teach.speed_figure(df.reset_index(), 64, 1)
    assert titled(fig) and "batch 64" in fig.layout.annotations[1].text


# ---------------------------------------------------------------- gradual pruning
def test_agp_curve_is_the_engine_schedule():
    curve = teach.agp_curve(0.2, 0.9, 6)
    assert curve["sparsity"].tolist() == pytest.approx([0.2, *agp_schedule(0.2, 0.9, 6)])
    assert curve["sparsity"].iloc[-1] == pytest.approx(0.9) and curve["sparsity"].is_monotonic_increasing
    assert curve["removed_in_step"].sum() == pytest.approx(0.7)
    assert curve["removed_in_step"].iloc[1] > curve["removed_in_step"].iloc[-1]  # fast first, slow at the end
    with pytest.raises(CompressError, match="start sparsity 0.8 must not exceed the end sparsity 0.5"):
        teach.agp_curve(0.8, 0.5, 4)
    with pytest.raises(CompressError, match="steps"):
        teach.agp_curve(0.0, 0.5, 0)
    assert titled(teach.agp_figure(curve))


# ---------------------------------------------------------------- distillation
def test_dark_example_is_right_and_confident(base, logits):
    y = base.data.y_test
    i = teach.dark_example(logits, y)
    sharp, soft = teach.softmax(logits[i], 1.0), teach.softmax(logits[i], 4.0)
    assert sharp.argmax() == int(y[i]) and sharp.max() >= 0.95
    assert soft.sum() == pytest.approx(1.0, abs=1e-5)
    assert np.sort(soft)[-2] > np.sort(sharp)[-2]  # the runner-up shows once softened
    fig = teach.temperature_figure(logits[i], 4.0, base.data.class_names, str(int(y[i])))
    assert list(fig.data[0].y) == pytest.approx((100 * sharp).tolist(), abs=1e-4)
    assert list(fig.data[1].y) == pytest.approx((100 * soft).tolist(), abs=1e-4)


def test_class_similarity_blanks_the_diagonal(base, logits):
    y = base.data.y_test
    matrix = teach.class_similarity(logits, y, 4.0)
    assert np.isnan(np.diag(matrix)).all()
    own = torch.softmax(logits / 4.0, 1)[y == 3].mean(0)[3].item()
    assert np.nansum(matrix[3]) == pytest.approx(1 - own, abs=1e-5)
    pairs = teach.alike_pairs(matrix, base.data.class_names, 3)
    assert [p for _, _, p in pairs] == sorted((p for _, _, p in pairs), reverse=True)
    assert pairs[0][2] == pytest.approx(np.nanmax(matrix)) and pairs[0][0] != pairs[0][1]
    assert titled(teach.similarity_figure(matrix, base.data.class_names, 4.0))


def test_kd_loss_is_alpha_t2_kl_plus_hard_cross_entropy(base, logits):
    """The loss the page shows is the right formula, written out by hand here."""
    y = base.data.y_test
    student = predict_logits(teach.untrained_student(base.data.input_shape, 10), base.data.x_test)
    t, alpha = 3.0, 0.7
    p_t, log_p_s = torch.softmax(logits / t, 1), torch.log_softmax(student / t, 1)
    kl = (p_t * (torch.log(p_t) - log_p_s)).sum(1).mean()
    ce = torch.nn.functional.cross_entropy(student, y)
    terms = teach.kd_loss_terms(student, logits, y, t, alpha)
    assert terms["soft"] == pytest.approx(float(alpha * t * t * kl), rel=1e-4)
    assert terms["hard"] == pytest.approx(float((1 - alpha) * ce), rel=1e-4)
    assert terms["total"] == pytest.approx(terms["soft"] + terms["hard"], rel=1e-5)


def test_t_squared_keeps_the_soft_gradient_from_fading(base, logits):
    y = base.data.y_test
    student = predict_logits(teach.untrained_student(base.data.input_shape, 10), base.data.x_test)
    df = teach.kd_gradients(student, logits, y, [8.0, 16.0], 0.9).set_index("temperature")
    assert (df["soft_without_t2"] * df.index ** 2).tolist() == pytest.approx(df["soft"].tolist())
    assert df.loc[16.0, "soft_without_t2"] / df.loc[8.0, "soft_without_t2"] == pytest.approx(1 / 4, rel=0.25)
    assert df.loc[16.0, "soft"] / df.loc[8.0, "soft"] == pytest.approx(1.0, rel=0.25)
    assert df.loc[8.0, "hard"] == pytest.approx(df.loc[16.0, "hard"])  # the label term ignores T
    assert titled(teach.kd_gradient_figure(df.reset_index(), 8.0, 0.9))


def distill_record(run_id, fraction, transfer, accuracy, scratch, dataset="digits"):
    return {"id": run_id, "kind": "distill", "status": "finished",
            "spec": {"dataset": dataset, "train_fraction": fraction, "transfer": transfer},
            "metrics": {"accuracy": accuracy, "scratch_accuracy": scratch, "teacher_accuracy": 0.98}}


def test_fraction_results_average_runs_of_the_main_data_set():
    runs = [distill_record("a", 0.1, "all", 0.96, 0.90), distill_record("b", 0.1, "all", 0.98, 0.92),
            distill_record("c", 1.0, "labeled", 0.97, 0.975),
            distill_record("d", 0.1, "all", 0.5, 0.4, dataset="mnist"),
            {**distill_record("e", 0.1, "all", 0.1, 0.1), "metrics": {"accuracy": 0.1}}]  # no scratch control
    df = teach.fraction_results(runs).set_index(["train_fraction", "transfer"])
    assert list(df.index) == [(0.1, "all"), (1.0, "labeled")]
    assert df.loc[(0.1, "all"), "accuracy"] == pytest.approx(0.97) and df.loc[(0.1, "all"), "runs"] == 2
    assert teach.fraction_results([]).empty
    fig = teach.fraction_figure(teach.DOC_FRACTION_RESULTS, "docs")
    assert len(fig.data) == 2 and len(fig.data[0].x) == 3 and titled(fig)


# ---------------------------------------------------------------- quantization
def test_grid_view_matches_the_engine_grid(base):
    w = teach.layer_weight(base.model, "net.3")
    view = teach.grid_view(w, 4, "tensor", 0)
    assert len(view["levels"]) == 2 ** 4 - 1 and view["step"] == pytest.approx(float(w.abs().max()) / 7)
    channel = teach.narrowest_channel(w)
    assert w[channel].abs().max() == w.abs().amax(dim=1).min()
    per_channel = teach.grid_view(w, 4, "channel", channel)
    assert per_channel["step"] == pytest.approx(float(w[channel].abs().max()) / 7)
    assert per_channel["counts"].sum() == w.shape[1]
    with pytest.raises(CompressError, match="unknown layer 'nope'; allowed: net.1, net.3, net.5"):
        teach.layer_weight(base.model, "nope")


def test_error_falls_about_6_db_per_bit_and_per_channel_helps(base):
    df = teach.error_vs_bits(teach.layer_weight(base.model, "net.1"))
    for granularity, part in df.groupby("granularity"):
        sqnr = part.set_index("bits")["sqnr_db"]
        assert sqnr.is_monotonic_increasing
        assert (sqnr[8] - sqnr[4]) / 4 == pytest.approx(6.02, abs=0.8)
    by = df.set_index(["granularity", "bits"])["sqnr_db"]
    assert all(by["channel"][b] >= by["tensor"][b] for b in teach.BITS)
    assert titled(teach.error_figure(df, 4, "net.1"))


def test_levels_per_channel(base):
    w = teach.layer_weight(base.model, "net.1")
    df = teach.levels_per_channel(w, 3)
    assert (df["levels_channel"] == 7).all() and df["levels_tensor"].max() == 7
    assert (df["levels_tensor"] <= df["levels_channel"]).all() and df["levels_tensor"].min() < 7
    assert df["range"].is_monotonic_increasing


def test_levels_figure_draws_every_width_and_highlights_one(base):
    w = teach.layer_weight(base.model, "net.1")
    frames = {k: teach.levels_per_channel(w, k) for k in teach.BITS}
    fig = teach.levels_figure(frames, 3, "net.1")
    assert titled(fig) and "at 3 bits" in fig.layout.title.text
    curves = [t for t in fig.data if t.showlegend is False]
    assert len(curves) == 2 * len(teach.BITS)
    assert all(t.opacity < 0.5 and t.line.width == 1 for t in curves)  # every width faint, with its hover
    tensor = next(t for t in curves if t.name == "3 bits, per tensor")
    assert list(tensor.y) == list(frames[3]["levels_tensor"]) and tensor.line.shape == "hv"
    assert set(next(t for t in curves if t.name == "8 bits, per channel").y) == {255}
    # the chosen width drawn strong over its faint curves: two path shapes that trace the same steps
    strong = {s.name: s for s in fig.layout.shapes}
    assert set(strong) == {"3 bits, per channel", "3 bits, per tensor"}
    assert all(s.xref == "x" and s.yref == "y" and s.layer == "above" for s in strong.values())
    assert strong["3 bits, per channel"].path == f"M0,7H{len(frames[3]) - 1}"
    assert strong["3 bits, per tensor"].line.width == 2 and strong["3 bits, per channel"].line.width == 3
    assert path_points(strong["3 bits, per tensor"].path) == step_points(frames[3]["levels_tensor"])
    # the legend: one entry per granularity, in the strong style, with no points of its own
    legend = [t for t in fig.data if t.showlegend is not False]
    assert [t.name for t in legend] == [teach.GRANULARITY_LABELS[g] for g in ("channel", "tensor")]
    assert all(t.x == (None,) for t in legend)
    # a fixed log axis: every width's curves fit, and the axis never rescales between moves
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis.tickvals == (1, 3, 7, 15, 31, 63, 127, 255)
    low, high = fig.layout.yaxis.range
    assert 10 ** low < 1 and 10 ** high > 255
    # another width: the same traces (plotly.js redraws only the two shapes), other shapes and title
    other = teach.levels_figure(frames, 6, "net.1")
    assert json.loads(fig.to_json())["data"] == json.loads(other.to_json())["data"]
    assert {s.name for s in other.layout.shapes} == {"6 bits, per channel", "6 bits, per tensor"}
    assert path_points(next(s.path for s in other.layout.shapes if s.name.endswith("tensor"))) == \
        step_points(frames[6]["levels_tensor"])
    # a width with no curves of its own: every curve faint, none drawn strong, and still a figure
    assert teach.levels_figure({k: frames[k] for k in (2, 4)}, 3, "net.1").layout.shapes == ()


def path_points(path: str) -> list[tuple[float, float]]:
    """The corners of a path of M, H and V commands (step_path's), in order."""
    points, x, y = [], 0.0, 0.0
    for command, value in re.findall(r"([MHV])([^MHV]+)", path):
        if command == "M":
            x, y = map(float, value.split(","))
        elif command == "H":
            x = float(value)
        else:
            y = float(value)
        points.append((x, y))
    return points


def step_points(y) -> list[tuple[float, float]]:
    """The corners plotly.js's "hv" line draws through y at x = 0, 1, ...: a horizontal run, then a vertical step."""
    y = [float(v) for v in y]
    points = [(0.0, y[0])]
    for x in range(1, len(y)):
        if y[x] != y[x - 1]:
            points += [(float(x), y[x - 1]), (float(x), y[x])]
    if points[-1][0] != len(y) - 1:
        points.append((float(len(y) - 1), y[-1]))
    return points


def test_step_path_holds_each_value_until_the_next_and_writes_only_corners():
    assert teach.step_path(np.array([1, 1, 3, 3, 3, 7])) == "M0,1H2V3H5V7"
    assert teach.step_path(np.array([3, 3, 3])) == "M0,3H2"
    assert teach.step_path(np.array([0.25])) == "M0,0.25"
    assert teach.step_path(np.array([])) == ""
    y = np.array([1, 5, 5, 2, 2, 2, 9, 9])
    assert path_points(teach.step_path(y)) == step_points(y)


def test_accuracy_vs_bits_holds_at_8_bits(base):
    df = teach.accuracy_vs_bits(base.model, base.data.x_test, base.data.y_test)
    fp32, _ = evaluate(base.model, base.data.x_test, base.data.y_test)
    assert len(df) == 2 * len(teach.BITS)
    assert (df[df["bits"] == 8]["accuracy"] >= fp32 - 0.01).all()


# ---------------------------------------------------------------- evidence from runs
def prune_record(run_id, amount, accuracy_change, size):
    return {"id": run_id, "kind": "prune", "status": "finished", "created_at": 1.0,
            "spec": {"method": "l1", "amount": amount, "dataset": "digits", "model": "lenet300"},
            "metrics": {"accuracy": 0.97 + accuracy_change, "baseline_accuracy": 0.97,
                        "accuracy_change": accuracy_change, "sparsity": amount, "size_fp32_bytes": 200_000,
                        "size_sparse_bytes": size},
            "baseline": {"size_fp32_bytes": 200_000}}


def test_best_runs_pick_the_smallest_within_one_point():
    runs = [prune_record("a", 0.5, 0.0, 100_000), prune_record("b", 0.9, -0.005, 25_000),
            prune_record("c", 0.98, -0.05, 5_000)]  # c is smaller but loses 5 points
    best = teach.best_runs(runs)
    assert best["id"].tolist() == ["b"] and best["compression_ratio"].iloc[0] == pytest.approx(8.0)
    assert best["trade_off"].iloc[0].startswith("8.0× smaller")
    assert teach.best_runs([]).empty


def test_doc_numbers_are_the_documented_ones():
    """The fallback figures quote docs/distillation.md; keep them in step with it."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "distillation.md").read_text()
    for row in teach.DOC_FRACTION_RESULTS.itertuples():
        for value in (row.accuracy, row.scratch_accuracy):
            assert f"{100 * value:.2f}" in text
