"""The dashboard's figures and number formats, checked without a browser."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from compress_core import fmt

from compress_core.explore.pareto import pareto_front
from compress_core.present import plots


def test_formats_carry_units():
    assert fmt.size(950) == "950 B"
    assert fmt.size(205_077) == "205 kB"
    assert fmt.size(1_069_205) == "1.07 MB"
    assert fmt.flops(45_200) == "45.2 kFLOPs"
    assert fmt.flops(3.2e9) == "3.2 GFLOPs"
    assert fmt.pct(0.97777) == "97.8 %"
    assert fmt.pp(0.004) == "+0.4 pp" and fmt.pp(-0.0089) == "-0.9 pp"
    assert fmt.count(50610) == "50,610"
    assert fmt.ratio(9.333) == "9.33×"
    assert fmt.ms(0.02234) == "0.0223 ms"
    assert {fmt.size(None), fmt.pct(float("nan")), fmt.ratio(None)} == {"n/a"}


def test_every_method_has_one_colour_and_label():
    assert set(plots.METHOD_LABELS) <= set(plots.METHOD_COLORS)
    assert len(set(plots.METHOD_COLORS.values())) == len(plots.METHOD_COLORS)
    assert plots.method_of("prune", {"method": "random"}) == "random"
    assert plots.method_of("train", {}) == "baseline"
    assert plots.method_of("distill", {}) == "distill"


def test_pareto_front_keeps_runs_nothing_beats():
    df = pd.DataFrame({"size_bytes": [10, 20, 30, 15, 40], "accuracy": [0.80, 0.90, 0.85, 0.70, 0.95]})
    front = df[pareto_front(df, "size_bytes", "accuracy")]
    assert list(front.index) == [0, 1, 4]


def test_smallest_size_names_the_encoding_it_measured():
    assert plots.smallest_size({"size_fp32_bytes": 205, "size_sparse_bytes": 203, "sparsity": 0.0}) == (205, "fp32")
    assert plots.smallest_size({"size_fp32_bytes": 205, "size_sparse_bytes": 99, "sparsity": 0.55}) == (99, "sparse")
    assert plots.smallest_size({"size_fp32_bytes": 205, "size_quantized_bytes": 28, "scheme": "fake",
                                "bits": 4}) == (28, "4-bit packed")
    assert plots.smallest_size({"size_fp32_bytes": 205, "size_quantized_bytes": 56, "scheme": "int8"}) == (56, "int8")
    assert plots.smallest_size({}) == (None, "")


def _run(run_id, kind, spec, metrics, status="finished", baseline=None, progress=None):
    return {"id": run_id, "kind": kind, "spec": spec, "metrics": metrics, "status": status, "created_at": 1.7e9,
            "baseline": baseline or {}, "progress": progress or {}}


RUNS = [
    _run("a", "prune", {"method": "l1", "amount": 0.5, "scope": "global", "schedule": "oneshot", "finetune_epochs": 3,
                        "model": "lenet300", "dataset": "digits"},
         {"accuracy": 0.97, "accuracy_change": -0.008, "sparsity": 0.5, "params_nonzero": 25_000,
          "size_fp32_bytes": 205_000, "size_sparse_bytes": 110_000}, baseline={"params_total": 50_000}),
    _run("b", "prune", {"method": "structured", "amount": 0.5, "finetune_epochs": 3, "model": "lenet300",
                        "dataset": "digits"},
         {"accuracy": 0.98, "sparsity": 0.0, "params_nonzero": 17_500, "size_fp32_bytes": 74_000,
          "size_sparse_bytes": 72_000}, baseline={"params_total": 50_000}),
    _run("c", "quantize", {"scheme": "fake", "bits": 4, "granularity": "channel", "model": "lenet300",
                           "dataset": "digits"},
         {"accuracy": 0.975, "size_fp32_bytes": 205_000, "size_quantized_bytes": 28_000, "scheme": "fake", "bits": 4}),
    _run("d", "distill", {"teacher": "lenet300", "temperature": 4.0, "alpha": 0.9, "train_fraction": 1.0, "epochs": 10,
                          "model": "mlp", "dataset": "digits"}, {}, status="running",
         progress={"stage": "distill", "step": 3, "total": 10}),
]


def test_run_points_is_one_tidy_row_per_run():
    points = plots.run_points(RUNS)
    assert list(points["method"]) == ["l1", "structured", "quantize", "distill"]
    assert points.loc[0, "removed"] == pytest.approx(0.5) and points.loc[1, "removed"] == pytest.approx(0.65)
    assert list(points["size_form"][:3]) == ["sparse", "fp32", "4-bit packed"]
    assert points.loc[0, "compression_ratio"] == pytest.approx(205 / 110)  # vs the fp32 checkpoint
    assert points.loc[3, "progress"] == pytest.approx(0.3) and pd.isna(points.loc[0, "progress"])
    assert points.loc[0, "setting"] == "50% global oneshot, 3 ep"
    assert "T=4.0" in points.loc[3, "setting"]
    assert plots.run_points([]).empty


def _check(fig: go.Figure, x_title_part: str, y_title_part: str) -> None:
    """Title, axis titles with units, and hover text on every trace."""
    assert isinstance(fig, go.Figure)
    assert fig.layout.title.text
    assert x_title_part in fig.layout.xaxis.title.text and y_title_part in fig.layout.yaxis.title.text
    for trace in fig.data:
        assert trace.hovertemplate or trace.hoverinfo == "skip", trace.name


def test_weight_histogram_draws_one_legend_entry_per_threshold():
    edges = np.linspace(-1, 1, 11)
    counts = np.arange(10)
    fig = plots.weight_histogram(edges, {"before": (counts, plots.color_of("baseline")),
                                         "after": (counts // 2, plots.color_of("l1"))}, {"all layers": 0.25})
    _check(fig, "weight", "number")
    assert [t.marker.color for t in fig.data[:2]] == [plots.METHOD_COLORS["baseline"], plots.METHOD_COLORS["l1"]]
    cut = fig.data[2]
    assert "0.25" in cut.name and list(cut.x) == [-0.25, -0.25, None, 0.25, 0.25]


def test_layer_charts():
    rows = [{"name": "net.1", "type": "Linear", "shape": [300, 64], "params": 19200, "nonzero": 9600, "sparsity": 0.5,
             "params_before": 19200}]
    fig = plots.layer_sparsity(rows)
    _check(fig, "layer", "%")
    assert list(fig.data[0].y) == [50.0]
    _check(plots.layer_params(rows), "layer", "weights")


def test_training_curve_runs_sequential_stages_on_and_parallel_ones_side_by_side():
    history = [{"epoch": e, "stage": s, "train_loss": 1 / e, "test_loss": 1.0, "test_accuracy": 0.9}
               for s, n in (("baseline", 3), ("finetune", 2)) for e in range(1, n + 1)]
    fig = plots.training_curve(history, {"finetune": plots.color_of("l1")})
    accuracy = [t for t in fig.data if "accuracy" in t.name]
    assert list(accuracy[1].x) == [4, 5]  # fine-tuning follows the baseline's 3 epochs
    students = [{"epoch": e, "stage": s, "train_loss": 1.0, "test_loss": 1.0, "test_accuracy": 0.8}
                for s in ("distill", "scratch") for e in (1, 2)]
    fig = plots.training_curve(history[:3] + students)
    assert [list(t.x) for t in fig.data if "accuracy" in t.name][1:] == [[1, 2], [1, 2]]
    assert fig.layout.yaxis.title.text == "test accuracy (%)"


def test_tradeoff_charts():
    points = plots.run_points(RUNS)
    fig = plots.accuracy_vs_removed(points, 0.978)
    _check(fig, "removed", "accuracy")
    l1 = next(t for t in fig.data if t.name == plots.METHOD_LABELS["l1"])
    assert list(l1.x) == [0.0, 50.0] and l1.line.color == plots.METHOD_COLORS["l1"]  # starts at the baseline
    fig = plots.pareto(points)
    _check(fig, "kB", "accuracy")
    assert fig.layout.xaxis.type == "log"
    assert fig.data[-1].name == "Pareto front"
    _check(plots.agp_schedule([0.2, 0.4, 0.5]), "step", "sparsity")


def test_preview_and_comparison_charts():
    _check(plots.softened_outputs(np.full((2, 3), 1 / 3), ["a", "b", "c"], ["x0", "x1"], 4.0), "class", "probability")
    edges = np.linspace(-1, 1, 21)
    fig = plots.quantization_grid(edges, np.ones(20), np.linspace(-1, 1, 7), 3, "net.1")
    _check(fig, "weight", "number")
    assert "7 values" in fig.layout.title.text and fig.data[1].name == "grid values" and fig.layout.shapes
    fig = plots.accuracy_vs_bits(pd.DataFrame({"bits": [2, 4, 8], "accuracy": [0.8, 0.95, 0.97],
                                               "label": ["fake", "fake", "fake"]}), 0.978)
    _check(fig, "bits", "accuracy")
    _check(plots.bars(["fp32", "int8"], [205, 56], ["#000", "#111"], "Size", "size (kB)", ["205 kB", "56 kB"]), "",
           "kB")


def test_sweep_curve_draws_mean_band_and_seeds_per_variant():
    summary = pd.DataFrame({"variant": ["l1-global"] * 2 + ["l1-layer"] * 2, "level": [0.5, 0.9] * 2,
                            "metric": "accuracy", "n": 2, "mean": [0.95, 0.80, 0.94, 0.70],
                            "std": [0.01, 0.05, 0.0, 0.1], "min": [0.94, 0.75, 0.94, 0.6], "max": [0.96, 0.85, 0.94, 0.8]})
    points = pd.DataFrame({"variant": ["l1-global"] * 2, "level": [0.5, 0.5], "seed": [0, 1],
                           "accuracy": [0.94, 0.96]})
    fig = plots.sweep_curve(summary, points, "accuracy", "amount", band="std", baseline=0.97)
    _check(fig, "amount (%", "accuracy (%)")
    band, mean, seeds = fig.data[:3]
    assert list(mean.x) == [50.0, 90.0] and list(mean.y) == pytest.approx([95.0, 80.0])
    assert list(band.y) == pytest.approx([96.0, 85.0, 75.0, 94.0])  # upper out, lower back
    assert band.fill == "toself" and list(seeds.y) == pytest.approx([94.0, 96.0])
    assert mean.line.color == plots.METHOD_COLORS["l1"]
    layer = next(t for t in fig.data if t.name == "l1-layer (mean)")
    assert layer.line.dash == "dash" and layer.line.color == plots.METHOD_COLORS["l1"]
    minmax = plots.sweep_curve(summary, None, "accuracy", "amount", band="minmax")
    assert list(minmax.data[0].y) == pytest.approx([96.0, 85.0, 75.0, 94.0])
    assert "min–max" in minmax.layout.title.text
    assert plots.variant_style("random-global") == (plots.METHOD_COLORS["random"], "solid")
    assert plots.variant_style("quantize")[0] == plots.METHOD_COLORS["quantize"]


SENSITIVITY = pd.DataFrame({"layer": ["net.1"] * 2 + ["net.3"] * 2, "type": "Linear", "params": [100, 100, 50, 50],
                            "amount": [0.5, 0.9] * 2, "accuracy": [0.95, 0.90, 0.96, 0.50],
                            "baseline_accuracy": 0.96, "drop": [0.01, 0.06, 0.0, 0.46]})


def test_sensitivity_figures():
    fig = plots.sensitivity_heatmap(SENSITIVITY)
    _check(fig, "amount", "layer")
    heat = fig.data[0]
    assert list(heat.y) == ["net.1", "net.3"] and list(heat.x) == ["50%", "90%"]
    np.testing.assert_allclose(np.asarray(heat.z), [[1.0, 6.0], [0.0, 46.0]])
    assert heat.zmid == 0 and "pp" in heat.colorbar.title.text
    fig = plots.sensitivity_lines(SENSITIVITY)
    _check(fig, "amount", "accuracy (%)")
    assert [list(t.x) for t in fig.data] == [[0.0, 50.0, 90.0]] * 2
    assert list(fig.data[1].y) == pytest.approx([96.0, 96.0, 50.0])  # starts at the dense baseline


def test_comparison_figures_keep_method_colours_and_tell_runs_apart():
    styles = plots.run_styles([("a", "l1"), ("b", "l1"), ("c", "quantize")])
    assert styles == {"a": (plots.METHOD_COLORS["l1"], 0), "b": (plots.METHOD_COLORS["l1"], 1),
                      "c": (plots.METHOD_COLORS["quantize"], 0)}
    history = [{"epoch": e, "stage": s, "train_loss": 1.0, "test_loss": 1.0, "test_accuracy": 0.9}
               for s, n in (("baseline", 3), ("finetune", 2)) for e in range(1, n + 1)]
    fig = plots.compare_curves([("a", history, *styles["a"]), ("b", history, *styles["b"]),
                                ("c", history[:3], *styles["c"])])
    _check(fig, "epoch", "accuracy")
    assert [t.name for t in fig.data] == ["a · finetune", "b · finetune", "c · baseline"]
    assert fig.data[0].line.dash != fig.data[1].line.dash
    masked = [{"name": "net.1", "params": 100, "nonzero": 25}]
    shrunk = [{"name": "net.1", "params": 50, "params_before": 100, "nonzero": 50}]
    int8 = [{"name": "net.1", "params": 100, "int8": True}]
    fig = plots.layer_removed_compare([("a", masked, *styles["a"]), ("b", shrunk, *styles["b"]),
                                       ("c", int8, *styles["c"])])
    _check(fig, "layer", "%")
    assert [list(t.y) for t in fig.data] == [[75.0], [50.0]]  # zeroed and removed on one axis; int8 has no count


def test_pareto_view_greys_dominated_runs_and_carries_run_ids():

    points = pd.DataFrame({"id": ["a", "b", "c"], "method": ["l1", "quantize", "random"],
                           "accuracy": [0.95, 0.90, 0.85], "size_kb": [100.0, 50.0, 120.0],
                           "hover": ["run a", "run b", "run c"]})
    front = pareto_front(points, "size_kb", "accuracy")
    fig = plots.pareto_view(points, "size_kb", "size (kB)", front)
    _check(fig, "kB", "accuracy")
    dominated = fig.data[0]
    assert dominated.name == "dominated" and dominated.customdata[0][0] == "c" and dominated.marker.color == "#c8c8c8"
    on_front = {t.name: t for t in fig.data[1:-1]}
    assert on_front[plots.METHOD_LABELS["l1"]].marker.color == plots.METHOD_COLORS["l1"]
    assert fig.data[-1].name == "Pareto front" and list(fig.data[-1].x) == [50.0, 100.0]
    assert fig.layout.xaxis.type == "log"
