"""The faster preview paths (issue 19) give the same numbers and the same figures as the plain ones.

- `prune_preview` with a `MagnitudeLookup` (global L1 as one threshold lookup) returns exactly
  what torch's top-k path returns, and falls back to it where they could differ (ties, zeros).
- `plots.figure` reuses a once-validated layout: same figure JSON as building it from scratch, and
  what is added afterwards is still validated.
- The histograms are step lines with the same bins and counts (`y` sums to the weights counted); the quantization grid's lines are
  one trace, not one layout shape per level.
- `ui.profile` writes fragment timings only when `LAB_PROFILE` is set.
"""
from __future__ import annotations

import copy
import json

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from torch import nn

from compress_core.present import plots, preview


def tiny_model_and_data(seed: int = 0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(12, 24), nn.ReLU(), nn.Linear(24, 16), nn.ReLU(), nn.Linear(16, 3))
    x = torch.randn(90, 12)
    y = model(x).argmax(dim=1)  # labels the model gets right, so pruning visibly changes accuracy
    return model, x, y


def assert_same_preview(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], np.ndarray):
            assert np.array_equal(a[key], b[key]), key
        else:
            assert a[key] == b[key], key


@pytest.mark.parametrize("amount", [0.0, 0.01, 0.3, 0.5, 0.77, 0.99])
def test_lookup_prune_preview_equals_torch_path(amount):
    model, x, y = tiny_model_and_data()
    lookup = preview.MagnitudeLookup(model)
    edges = preview.histogram_edges(np.concatenate(list(preview.prunable_weights(model).values())))
    plain = preview.prune_preview(model, x, y, "l1", "global", amount, 0, edges)
    fast = preview.prune_preview(model, x, y, "l1", "global", amount, 0, edges, lookup=lookup)
    assert_same_preview(plain, fast)
    if 0 < amount:
        assert fast["thresholds"] and fast["sparsity"] == pytest.approx(amount, abs=1e-3)
    assert all(not torch.nn.utils.prune.is_pruned(m) for m in model.modules())  # the baseline is untouched


def test_lookup_applies_torch_masks_and_refuses_ties_and_zeros():
    model, x, y = tiny_model_and_data(1)
    lookup = preview.MagnitudeLookup(model)
    copy_ = copy.deepcopy(model)
    thresholds = lookup.apply(copy_, 0.4)
    assert thresholds and all(torch.nn.utils.prune.is_pruned(m) for m in copy_ if isinstance(m, nn.Linear))
    assert max(thresholds.values()) == pytest.approx(lookup.threshold(0.4))

    with torch.no_grad():  # exact zeros already: torch prunes a share relative to them, so no lookup
        model[0].weight[0, :6] = 0.0
    zeros = preview.MagnitudeLookup(model)
    assert zeros.apply(copy.deepcopy(model), 0.4) is None
    plain = preview.prune_preview(model, x, y, "l1", "global", 0.4)
    assert_same_preview(plain, preview.prune_preview(model, x, y, "l1", "global", 0.4, lookup=zeros))

    tied = nn.Sequential(nn.Linear(4, 4))
    with torch.no_grad():
        tied[0].weight.copy_(torch.tensor([[0.5, -0.5, 0.5, 0.5]] * 4))  # every |w| ties
    assert preview.MagnitudeLookup(tied).apply(copy.deepcopy(tied), 0.5) is None


def _validated_figure(title, x_title, y_title, **layout):
    fig = go.Figure()
    fig.update_layout(title=dict(text=title), xaxis_title=x_title, yaxis_title=y_title, **{**plots.LAYOUT, **layout})
    return fig


@pytest.mark.parametrize("layout", [{}, {"barmode": "group", "showlegend": False, "height": 330},
                                    {"margin": {"l": 50, "r": 20, "t": 60, "b": 40}}])
def test_figure_reuses_the_layout_and_still_validates(layout):
    fig = plots.figure("title", "x (unit)", "y (unit)", **layout)
    assert fig.to_plotly_json() == _validated_figure("title", "x (unit)", "y (unit)", **layout).to_plotly_json()
    fig.add_bar(x=[1], y=[2])
    with pytest.raises(ValueError):
        fig.add_bar(x=[1], y=[2], marker_color="not a colour")
    with pytest.raises(ValueError):
        fig.update_layout(xaxis_title_font_size="big")
    assert plots.figure("other", "a", "b").layout.title.text == "other"  # the cached layout is not shared


def test_step_histogram_keeps_bins_and_counts():
    edges = np.linspace(-1, 1, 5)
    counts = np.array([1, 4, 2, 0])
    fig = plots.weight_histogram(edges, {"before": (counts, "#123456")}, {"all layers": 0.3})
    trace = fig.data[0]
    assert trace.type == "scatter" and trace.line.shape == "hvh" and trace.fill == "tozeroy"
    # one point per bin centre, closed by a zero one bin beyond each end: the steps fall on the edges
    assert list(trace.x) == pytest.approx([-1.25, -0.75, -0.25, 0.25, 0.75, 1.25])
    assert list(trace.y) == [0, 1, 4, 2, 0, 0] and sum(trace.y) == counts.sum()
    steps = [(a + b) / 2 for a, b in zip(trace.x[:-1], trace.x[1:])]
    assert steps == pytest.approx(list(edges))
    assert trace.marker.color == trace.line.color == "#123456"


def test_quantization_grid_draws_its_lines_as_one_shape():
    levels = np.linspace(-1, 1, 63)
    fig = plots.quantization_grid(np.linspace(-1, 1, 17), np.arange(16), levels, 6, "net.1")
    # the histogram and the grid's legend entry, which has no points and is the same for every grid: a new grid
    # changes no trace, so plotly.js does not recompute the figure
    histogram, legend = fig.data
    assert legend.name == "grid values" and legend.x == (None,) and legend.hoverinfo == "skip"
    assert "63 values" in fig.layout.title.text
    (grid,) = fig.layout.shapes
    assert grid.type == "path" and grid.xref == "x" and grid.yref == "y" and grid.line.color == legend.line.color
    segments = [part.split("L") for part in grid.path.split("M")[1:]]
    assert len(segments) == len(levels)
    xs = [float(a.split(",")[0]) for a, _ in segments]
    assert xs == pytest.approx(list(levels)) and all(a.split(",")[0] == b.split(",")[0] for a, b in segments)
    assert [float(b.split(",")[1]) for _, b in segments] == pytest.approx([15 * 1.05] * len(levels))
    assert plots.quantization_grid(np.linspace(-1, 1, 17), np.arange(16), levels[::2], 5, "net.1").data[1] == legend
    many = plots.quantization_grid(np.linspace(-1, 1, 17), np.arange(16), np.linspace(-1, 1, 255), 8, "net.1")
    assert many.layout.shapes[0].path.count("M") == 64 and many.data[1].name == "grid values (every 4th drawn)"


def test_profile_writes_only_when_asked(tmp_path, monkeypatch):
    from ui import profile

    @profile.timed("demo")
    def body(value):
        profile.mark("first")
        profile.mark("second")
        return value * 2

    out = tmp_path / "profile.jsonl"
    monkeypatch.delenv("LAB_PROFILE", raising=False)
    assert body(2) == 4 and not out.exists()
    monkeypatch.setenv("LAB_PROFILE", str(out))
    assert body(3) == 6
    row = json.loads(out.read_text().splitlines()[-1])
    assert row["fragment"] == "demo" and set(row["steps"]) == {"first", "second"}
    assert row["total_ms"] >= sum(row["steps"].values()) - 1e-6
    profile.mark("outside")  # no fragment timed: nothing happens
