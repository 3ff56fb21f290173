"""The dashboard's figures and number formats, checked without a browser."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from compress_core import fmt, plots


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
    front = plots.pareto_front(df)
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
    assert list(points["size_encoding"][:3]) == ["sparse", "fp32", "4-bit packed"]
    assert points.loc[0, "size_reduction"] == pytest.approx(205 / 110)  # vs the fp32 checkpoint
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
    assert "7 grid values" in fig.data[1].name
    fig = plots.accuracy_vs_bits(pd.DataFrame({"bits": [2, 4, 8], "accuracy": [0.8, 0.95, 0.97],
                                               "label": ["fake", "fake", "fake"]}), 0.978)
    _check(fig, "bits", "accuracy")
    _check(plots.bars(["fp32", "int8"], [205, 56], ["#000", "#111"], "Size", "size (kB)", ["205 kB", "56 kB"]), "",
           "kB")
