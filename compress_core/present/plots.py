"""Plotly figures of runs and previews, as pure functions of DataFrames and dicts.

No Streamlit here: the pages pass data in and draw what comes back, and tests can
check a figure without a browser. Every figure has a title, axis titles with units,
hover text, and the same colour for a method on every page (`METHOD_COLORS`).
"""
from __future__ import annotations

import copy
import functools
import math
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from compress_core import fmt
from compress_core.explore.pareto import pareto_front
from compress_core.measure import catalogue
from compress_core.methods.labels import styles as built_in_styles
from compress_core.present.run_list import method_of  # noqa: F401  (plots.method_of: the pages' name for it)

# Colours and labels of the things a figure tells apart: training stages, pruning criteria
# (prune runs are coloured by criterion), and every other run kind from the method registry.
STAGE_STYLES = {"baseline": ("#6c757d", "baseline (dense)"), "scratch": ("#bcbd22", "student from scratch")}
STRUCTURED_STYLE = ("#2ca02c", "structured pruning")
STAGE_METHOD = {"baseline": "baseline", "train": "baseline", "distill": "distill", "scratch": "scratch"}


def _styles() -> dict[str, tuple[str, str]]:
    """(colour, label) by colour key, in display order: baseline, criteria, then the other run kinds."""
    from compress_core.methods.criteria import criteria  # imports torch: only when a figure needs the styles
    from compress_core.methods.registry import all_methods

    styles = {"baseline": STAGE_STYLES["baseline"], **{c.name: (c.colour, c.label) for c in criteria()},
              "structured": STRUCTURED_STYLE}
    styles.update({m.kind: (m.colour, m.label) for m in all_methods() if m.kind not in ("train", "prune")})
    styles["scratch"] = STAGE_STYLES["scratch"]
    return styles


def method_order() -> list[str]:
    """Colour keys in the order legends and report sections list them."""
    return list(_styles())


def __getattr__(name: str):
    # METHOD_COLORS / METHOD_LABELS are read from the registries when first asked for, so importing
    # this module does not import every method (and torch) before a page needs them.
    if name == "METHOD_COLORS":
        return {key: colour for key, (colour, _) in _styles().items()}
    if name == "METHOD_LABELS":
        return {key: label for key, (_, label) in _styles().items()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Legend under the plot: long method names never collide with the title.
LAYOUT = dict(template="plotly_white", margin=dict(l=60, r=30, t=60, b=40), hovermode="closest",
               legend=dict(orientation="h", yanchor="top", y=-0.2, xanchor="left", x=0.0))


def _style(method: str) -> tuple[str, str] | None:
    # built-in keys from the torch-free table (the same values, tested); others from the registries
    return built_in_styles().get(method) or _styles().get(method)


def color_of(method: str) -> str:
    return (_style(method) or ("#17becf", method))[0]


def label_of(method: str) -> str:
    return (_style(method) or ("", method))[1]


def figure(title: str, x_title: str, y_title: str, **layout) -> go.Figure:
    """An empty figure in the lab's one layout (also used by the lessons in `teach`).

    The shared part (`LAYOUT`, whose template alone took plotly ~8 ms to validate on every call, most
    of a preview's figure time) is validated once and reused as plain JSON; what a call adds (titles,
    `layout`) is validated as usual. A `layout` that overrides a `LAYOUT` key takes the plain path.
    """
    if set(layout) & set(LAYOUT):
        fig = go.Figure()
        fig.update_layout(title=dict(text=title), xaxis_title=x_title, yaxis_title=y_title, **{**LAYOUT, **layout})
        return fig
    # `_validate=False` (plotly's own switch, pinned plotly==7.1.0) only for the copy of the layout that
    # `_base_layout` validated; validation is back on for everything added after.
    fig = go.Figure(layout=copy.deepcopy(_base_layout()), _validate=False)
    fig._validate = fig.layout._validate = True
    fig.update_layout(title=dict(text=title), xaxis_title=x_title, yaxis_title=y_title, **layout)
    return fig


@functools.lru_cache(maxsize=1)
def _base_layout() -> dict:
    """`LAYOUT` (its template expanded) validated by plotly once, as plain JSON."""
    return go.Figure(layout=LAYOUT).layout.to_plotly_json()


# ---------------------------------------------------------------- run tables
def smallest_size(metrics: Mapping) -> tuple[float | None, str]:
    """(bytes, form) of a run's model as it would be deployed: its `size_bytes`/`size_form`
    (`measure.core.deployable_size`; records of older versions are upgraded first)."""
    metrics = catalogue.upgrade_metrics(metrics)
    return metrics.get("size_bytes"), metrics.get("size_form", "")


def run_setting(kind: str, spec: Mapping) -> str:
    """The few spec values that tell runs of one kind apart, as a short label (from the method registry)."""
    from compress_core.methods.registry import describe

    return describe(kind, spec)


def run_points(runs: Iterable[Mapping]) -> pd.DataFrame:
    """One tidy row per run (from store records): method, figures, sizes; for tables and scatters."""
    rows = []
    for run in runs:
        base = run.get("baseline") or {}
        spec, metrics = run.get("spec") or {}, catalogue.upgrade_metrics(run.get("metrics"), base)
        size, form = metrics.get("size_bytes"), metrics.get("size_form", "")
        progress = run.get("progress") or {}
        base_params, base_size = base.get("params_total"), base.get("size_fp32_bytes") or metrics.get("size_fp32_bytes")
        rows.append({
            "id": run.get("id"), "kind": run.get("kind"), "method": method_of(run.get("kind"), spec),
            "setting": run_setting(run.get("kind"), spec),
            "status": run.get("status"), "stage": progress.get("stage"),
            "progress": min(1.0, progress.get("step", 0) / progress["total"]) if progress.get("total") else None,
            "error": run.get("error"), "dataset": spec.get("dataset"), "model": spec.get("model"),
            "amount": spec.get("amount"), "schedule": spec.get("schedule"), "bits": spec.get("bits"),
            "accuracy": metrics.get("accuracy"), "baseline_accuracy": metrics.get("baseline_accuracy"),
            "accuracy_change": metrics.get("accuracy_change"), "sparsity": metrics.get("sparsity"),
            "removed": 1 - metrics["params_nonzero"] / base_params
            if base_params and metrics.get("params_nonzero") is not None else None,
            "param_compression_ratio": metrics.get("param_compression_ratio"), "size_bytes": size, "size_form": form,
            "compression_ratio": metrics.get("compression_ratio", base_size / size if base_size and size else None),
            "size_fp32_bytes": metrics.get("size_fp32_bytes"), "speedup_b1": metrics.get("speedup_b1"),
            "baseline_size_bytes": base.get("size_fp32_bytes"),
            "created_at": pd.to_datetime(run.get("created_at"), unit="s", utc=True) if run.get("created_at") else None,
        })
    columns = ["id", "kind", "method", "setting", "status", "stage", "progress", "error", "dataset", "model", "amount",
               "schedule", "bits", "accuracy", "baseline_accuracy", "accuracy_change", "sparsity", "removed",
               "param_compression_ratio", "size_bytes", "size_form", "compression_ratio", "size_fp32_bytes",
               "speedup_b1", "baseline_size_bytes", "created_at"]
    return pd.DataFrame(rows, columns=columns)


# ---------------------------------------------------------------- pruning
DASHES = ("dash", "dot", "dashdot", "longdash")  # one per threshold (or layer) drawn on a weight histogram


def legend_entry(name: str, line: dict, **style) -> dict:
    """A scatter trace without points: only its legend entry shows, in `line`'s style (and `style`'s).

    For what a figure draws as layout shapes, which have no hover and whose legend plotly.js does not redraw when
    only the shape changes: the entry stays the same trace at every slider position (or changes only its name,
    a restyle), so a move does not make plotly.js recompute the figure (docs/performance.md, seventh round).
    """
    return dict(type="scatter", x=[None], y=[None], mode="lines", name=name, line=line, hoverinfo="skip", **style)


def weight_histogram(edges: np.ndarray, series: Mapping[str, tuple[np.ndarray, str]],
                     thresholds: Mapping[str, float] | None = None, title: str = "Weight histogram") -> go.Figure:
    """Histograms sharing `edges`; `series` maps a label to (counts, colour).

    `thresholds` (label -> |w|) draws each L1 cut as a pair of dashed lines at +-t: the
    weights between them are removed. Each pair is a legend entry, so labels never overlap.
    """
    width = float(edges[1] - edges[0]) if len(edges) > 1 else 1.0
    fig = figure(title, "weight value", "number of weights")
    top = 1.0
    for label, (counts, color) in series.items():
        top = max(top, float(np.max(counts)) if len(counts) else 0.0)
        step_histogram(fig, edges, counts, label, color, 0.55,
                       f"w in [%{{x:.3f}} ± {width / 2:.3f}]: %{{y}} weights<extra>{label}</extra>")
    for i, (label, t) in enumerate((thresholds or {}).items()):
        fig.add_scatter(x=[-t, -t, None, t, t], y=[0, top, None, 0, top], mode="lines",
                        name=f"{label}: |w| ≤ {t:.3g} removed", line=dict(color="#222", dash=DASHES[i % len(DASHES)]),
                        hovertemplate=f"{label}: threshold |w| = {t:.4g}<extra></extra>")
    return fig


def step_histogram(fig: go.Figure, edges: np.ndarray, counts: np.ndarray, name: str, color: str, opacity: float,
                   hover: str) -> None:
    """Add one histogram as a filled step outline: one SVG path in the browser instead of a bar per bin.

    The dashboard redraws a preview's figure on every slider move; a bar trace is drawn as one
    element per bin (80 bins, two series: 160), a step line as one path, which Chromium draws about
    3x faster (docs/performance.md). Same bins and counts: one point per bin at its centre (`y` holds
    exactly the counts), `hvh` steps at the bin edges, and a zero one bin-width beyond each end closes
    the outline at the first and last edges. `hover` is the hover template of a bin (`%{x}`: its centre).
    """
    edges = np.asarray(edges, dtype=float)
    counts = np.asarray(counts)
    centers = (edges[:-1] + edges[1:]) / 2
    width = float(edges[1] - edges[0]) if len(edges) > 1 else 1.0
    x = np.concatenate([[centers[0] - width], centers, [centers[-1] + width]]) if len(counts) else centers
    y = np.concatenate([[0], counts, [0]]) if len(counts) else counts
    fig.add_scatter(x=x, y=y, name=name, mode="lines", line=dict(color=color, width=1, shape="hvh"),
                    fill="tozeroy", marker=dict(color=color), opacity=opacity, hovertemplate=hover)


def layer_sparsity(layers: Sequence[Mapping], color: str | None = None,
                   title: str = "Sparsity per layer") -> go.Figure:
    """Share of zero weights in each prunable layer, with its size in the hover text (L1's colour by default)."""
    if color is None:
        from compress_core.methods.criteria import get_criterion  # imports torch: not at module import

        color = get_criterion("l1").colour
    names = [row["name"] for row in layers]
    fig = figure(title, "layer", "zero weights (%)")
    fig.add_bar(x=names, y=[100 * row["sparsity"] for row in layers], marker_color=color, name="sparsity",
                customdata=[[fmt.count(r["params"]), fmt.count(r["nonzero"]), "×".join(map(str, r["shape"]))]
                            for r in layers],
                hovertemplate="%{x} (%{customdata[2]}): %{y:.1f} % zero<br>%{customdata[1]} of %{customdata[0]} "
                              "weights non-zero<extra></extra>")
    fig.update_yaxes(range=[0, 100])
    return fig


def layer_params(layers: Sequence[Mapping],
                 title: str = "Weights per layer before and after removing channels") -> go.Figure:
    """Structured pruning: each layer's weight count before and after (rows need params_before)."""
    names = [row["name"] for row in layers]
    fig = figure(title, "layer", "weights (count)", barmode="group")
    fig.add_bar(x=names, y=[row["params_before"] for row in layers], name="before", marker_color=color_of("baseline"),
                hovertemplate="%{x}: %{y:,} weights before<extra></extra>")
    fig.add_bar(x=names, y=[row["params"] for row in layers], name="after", marker_color=color_of("structured"),
                customdata=["×".join(map(str, row["shape"])) for row in layers],
                hovertemplate="%{x}: %{y:,} weights after (shape %{customdata})<extra></extra>")
    return fig


def training_curve(history: Sequence[Mapping], stage_colors: Mapping[str, str] | None = None,
                   title: str = "Training curve") -> go.Figure:
    """Test accuracy (left axis) and training loss (right axis) per epoch, one colour per stage.

    Stages that follow each other (baseline, then fine-tuning) share one epoch axis;
    stages that run side by side (distilled and scratch students) each start at 1.
    """
    colors = {**{s: color_of(m) for s, m in STAGE_METHOD.items()}, **(stage_colors or {})}
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.update_layout(title=dict(text=title), **LAYOUT)
    df = pd.DataFrame(list(history))
    if df.empty:
        return fig
    parallel = {"distill", "scratch"}
    offset = 0
    for stage, part in df.groupby("stage", sort=False):
        start = 0 if stage in parallel else offset
        x = part["epoch"] + start
        color = colors.get(stage, "#17becf")
        fig.add_scatter(x=x, y=100 * part["test_accuracy"], name=f"{stage}: test accuracy", mode="lines+markers",
                        line_color=color, hovertemplate=f"{stage} epoch %{{customdata}}: %{{y:.2f}} % test accuracy"
                                                        "<extra></extra>", customdata=part["epoch"])
        fig.add_scatter(x=x, y=part["train_loss"], name=f"{stage}: train loss", mode="lines",
                        line=dict(color=color, dash="dot"), secondary_y=True,
                        hovertemplate=f"{stage} epoch %{{customdata}}: train loss %{{y:.4f}}<extra></extra>",
                        customdata=part["epoch"])
        if stage not in parallel:
            offset = int(x.max())
    fig.update_xaxes(title_text="epoch (stages in order)")
    fig.update_yaxes(title_text="test accuracy (%)", secondary_y=False)
    fig.update_yaxes(title_text="training loss (cross-entropy)", secondary_y=True)
    return fig


def accuracy_vs_removed(points: pd.DataFrame, baseline_accuracy: float | None = None,
                        title: str = "Accuracy vs sparsity, all pruning runs of this model") -> go.Figure:
    """Final test accuracy against the share of the baseline's parameters removed, one line per method.

    "Removed" is 1 - non-zero parameters / the baseline's parameters, so masked (zeroed)
    and structured (physically removed) pruning share one axis. Each line starts at
    the dense baseline (0 % removed).
    """
    fig = figure(title, "sparsity (% of the baseline's parameters removed)",
                  "test accuracy after fine-tuning (%)")
    for method, part in points.dropna(subset=["removed", "accuracy"]).groupby("method", sort=True):
        part = part.sort_values("removed")
        x, y = 100 * part["removed"], 100 * part["accuracy"]
        if baseline_accuracy is not None:
            x, y = pd.concat([pd.Series([0.0]), x]), pd.concat([pd.Series([100 * baseline_accuracy]), y])
        labels = ["baseline (dense)"] + [f"run {i} ({s})" for i, s in zip(part["id"], part["setting"])]
        fig.add_scatter(x=x, y=y, mode="lines+markers", name=label_of(method),
                        line_color=color_of(method), text=labels[-len(x):],
                        hovertemplate="%{text}<br>%{x:.1f} % removed<br>accuracy %{y:.2f} %<extra></extra>")
    if baseline_accuracy is not None:
        fig.add_hline(y=100 * baseline_accuracy, line_dash="dash", line_color=color_of("baseline"),
                      annotation_text=f"baseline {fmt.pct(baseline_accuracy, 2)}", annotation_position="bottom left")
    fig.update_xaxes(range=[-2, 100])
    return fig


def agp_schedule(targets: Sequence[float], title: str = "Gradual pruning schedule (AGP, cubic)") -> go.Figure:
    """Target sparsity after each pruning step during fine-tuning (Zhu & Gupta 2017)."""
    fig = figure(title, "pruning step", "target sparsity (%)")
    fig.add_scatter(x=list(range(1, len(targets) + 1)), y=[100 * t for t in targets], mode="lines+markers",
                    line_color=color_of("l1"), name="target",
                    hovertemplate="step %{x}: %{y:.1f} % of weights zero<extra></extra>")
    fig.update_yaxes(range=[0, 100])
    return fig


def pareto(points: pd.DataFrame, title: str = "Accuracy vs size, all finished runs") -> go.Figure:
    """Accuracy against the smallest measured checkpoint size (log axis, kB), Pareto front drawn."""
    points = points.dropna(subset=["size_bytes", "accuracy"])
    fig = figure(title, "size of the smallest measured encoding (kB, log scale)", "test accuracy (%)")
    for method, part in points.groupby("method", sort=True):
        fig.add_scatter(x=part["size_bytes"] / 1000, y=100 * part["accuracy"], mode="markers",
                        name=label_of(method), marker=dict(color=color_of(method), size=10),
                        customdata=np.column_stack([part["id"].astype(str), part["model"].astype(str),
                                                    part["dataset"].astype(str), part["size_form"].astype(str),
                                                    [fmt.size(s) for s in part["size_bytes"]]]),
                        hovertemplate="run %{customdata[0]}<br>%{customdata[1]} on %{customdata[2]}<br>"
                                      "%{customdata[4]} (%{customdata[3]})<br>accuracy %{y:.2f} %<extra></extra>")
    front = points[pareto_front(points, "size_bytes", "accuracy")].sort_values("size_bytes")
    if len(front):
        fig.add_scatter(x=front["size_bytes"] / 1000, y=100 * front["accuracy"], mode="lines", name="Pareto front",
                        line=dict(color="#222", dash="dash", shape="hv"), hoverinfo="skip")
    dense = baseline_points(points)
    if len(dense):  # where every run started: the dense fp32 model, for scale
        fig.add_scatter(x=dense["baseline_size_bytes"] / 1000, y=100 * dense["baseline_accuracy"], mode="markers",
                        name="dense baseline (fp32)", marker=dict(symbol="star", size=14, color=color_of("baseline"),
                                                                  line=dict(color="#222", width=1)),
                        customdata=np.column_stack([dense["model"].astype(str),
                                                    [fmt.size(s) for s in dense["baseline_size_bytes"]]]),
                        hovertemplate="dense baseline %{customdata[0]}<br>%{customdata[1]} fp32<br>"
                                      "accuracy %{y:.2f} %<extra></extra>")
    sizes = pd.concat([points["size_bytes"], dense["baseline_size_bytes"]]) / 1000
    fig.update_xaxes(type="log", **log_ticks(sizes.min(), sizes.max(), "kB"))
    return fig


def baseline_points(points: pd.DataFrame) -> pd.DataFrame:
    """One dense-baseline point per model and data set in `points` (its fp32 size and accuracy)."""
    if "baseline_size_bytes" not in points:
        return pd.DataFrame(columns=["model", "dataset", "baseline_size_bytes", "baseline_accuracy"])
    known = points.dropna(subset=["baseline_size_bytes", "baseline_accuracy"])
    return known.groupby(["model", "dataset"], as_index=False)[["baseline_size_bytes", "baseline_accuracy"]].first()


def log_ticks(low: float, high: float, unit: str = "") -> dict:
    """Tick values and labels for a log axis: 1, 2, 5 x 10^k within [low, high], each with its unit.

    Plotly's default log ticks label minor ticks with their leading digit only ("7 8 9 10 2 3"),
    which reads as nonsense; these say "20 kB".
    """
    if not (low and high) or low <= 0 or not np.isfinite([low, high]).all():
        return {}
    values = [m * 10.0 ** k for k in range(int(np.floor(np.log10(low))) - 1, int(np.ceil(np.log10(high))) + 1)
              for m in (1, 2, 5)]
    inside = [v for v in values if low / 1.5 <= v <= high * 1.5]
    if len(inside) < 2:
        inside = [v for v in values if low / 10 <= v <= high * 10]
    return {"tickvals": inside, "ticktext": [f"{v:g} {unit}".strip() for v in inside]}


# ---------------------------------------------------------------- comparisons
def bars(labels: Sequence[str], values: Sequence[float], colors: Sequence[str], title: str, y_title: str,
         text: Sequence[str] | None = None) -> go.Figure:
    """One bar per item with its formatted value written on it."""
    fig = figure(title, "", y_title, showlegend=False)
    fig.add_bar(x=list(labels), y=list(values), marker_color=list(colors),
                text=list(text) if text is not None else None, textposition="auto",
                hovertemplate="%{x}: %{text}<extra></extra>" if text is not None else "%{x}: %{y}<extra></extra>")
    return fig


def softened_outputs(probs: np.ndarray, class_names: Sequence[str], labels: Sequence[str], temperature: float,
                     title: str | None = None) -> go.Figure:
    """The teacher's softmax(z/T) for a few inputs: one group of bars per class, one colour per input."""
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"]
    fig = figure(title or f"Teacher's softened outputs at T = {temperature:g}", "class",
                  "probability softmax(z / T) (%)", barmode="group")
    for i, row in enumerate(probs):
        fig.add_bar(x=list(class_names), y=100 * row, name=labels[i], marker_color=palette[i % len(palette)],
                    hovertemplate=f"{labels[i]}<br>class %{{x}}: %{{y:.2f}} %<extra></extra>")
    fig.update_xaxes(type="category")
    return fig


ORDINALS = {2: "2nd", 3: "3rd"}  # "every 2nd": the thinned grid's legend (4 and up: "4th")


def quantization_grid(edges: np.ndarray, counts: np.ndarray, levels: np.ndarray, bits: int, layer: str,
                      title: str | None = None) -> go.Figure:
    """A layer's weight histogram with the values a k-bit grid can represent drawn on it.

    The grid lines are one layout shape (one SVG path), not a trace: when a slider changes only the grid, plotly.js
    redraws just that shape, while any changed trace makes it recompute and redraw the whole figure (11 ms against
    28-39 ms per move in Chromium, docs/performance.md, seventh round). Its legend entry is a trace without points
    ("grid values", the same for every grid: plotly.js does not redraw the legend when only a shape changes), and
    the title says how many values the grid has. The cost: a grid line has no hover of its own. More than 64 values
    are thinned to at most 64 lines, and the legend says so.
    """
    fig = figure(title or f"{layer}: weights and the {bits}-bit grid ({len(levels)} values)", "weight value",
                 "number of weights")
    step_histogram(fig, edges, counts, "weights (fp32)", color_of("baseline"), 0.7,
                   "w ≈ %{x:.4f}: %{y} weights<extra></extra>")
    top = float(max(counts.max(), 1)) * 1.05 if len(counts) else 1.05
    levels = np.asarray(levels, dtype=float)
    every = math.ceil(len(levels) / 64) if len(levels) > 64 else 1
    shown = levels[::every]
    line = dict(color=color_of("quantize"), width=1)
    name = "grid values" + (f" (every {ORDINALS.get(every, f'{every}th')} drawn)" if every > 1 else "")
    fig.add_trace(legend_entry(name, line, opacity=0.5))
    if len(shown):
        # An axis shape's path takes data coordinates; 9 significant digits keep every line where its value is.
        path = "".join(f"M{v:.9g},0L{v:.9g},{top:.9g}" for v in shown)
        # layout dicts, not add_shape: plotly.py validates a shape added one by one at several ms each
        fig.update_layout(shapes=[dict(type="path", path=path, xref="x", yref="y", layer="above", opacity=0.5,
                                       line=line)])
    return fig


def accuracy_vs_bits(points: pd.DataFrame, baseline_accuracy: float | None = None,
                     title: str = "Accuracy vs bits (fake-quantized weights)") -> go.Figure:
    """Test accuracy for each bit width; `points` has columns bits, accuracy and optionally label."""
    fig = figure(title, "bits per weight", "test accuracy (%)")
    label_col = "label" if "label" in points.columns else None
    groups = points.groupby(label_col, sort=True) if label_col else [("quantized", points)]
    palette = [color_of("quantize"), "#e377c2", "#17becf", "#8c564b"]
    symbols = ["circle", "diamond", "square", "triangle-up"]
    for i, (label, part) in enumerate(groups):
        part = part.sort_values("bits")
        fig.add_scatter(x=part["bits"], y=100 * part["accuracy"], mode="lines+markers", name=str(label),
                        line_color=palette[i % len(palette)],
                        marker=dict(symbol=symbols[i % len(symbols)], size=8 + 4 * (len(part) == 1)),
                        hovertemplate=f"{label}<br>%{{x}} bits: %{{y:.2f}} %<extra></extra>")
    if baseline_accuracy is not None:
        fig.add_hline(y=100 * baseline_accuracy, line_dash="dash", line_color=color_of("baseline"),
                      annotation_text=f"fp32 baseline {fmt.pct(baseline_accuracy, 2)}",
                      annotation_position="bottom right")
    fig.update_xaxes(dtick=1)
    return fig


# ---------------------------------------------------------------- sweeps
# What a sweep varies: axis title with unit, and the factor from the stored level to the axis.
SWEEP_LEVELS = {
    "amount": ("pruning amount (% of weights removed)", 100.0),
    "temperature": ("distillation temperature T", 1.0),
    "width": ("student width (hidden units)", 1.0),
    "bits": ("bits per weight", 1.0),
}
_VARIANT_DASHES = {"global": "solid", "layer": "dash"}


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    return f"rgba({int(h[0:2], 16)}, {int(h[2:4], 16)}, {int(h[4:6], 16)}, {alpha})"


def variant_style(variant: str) -> tuple[str, str]:
    """(colour, dash) of a sweep variant: the criterion's colour ('l1-layer' -> L1 blue), the scope's dash."""
    criterion, _, scope = str(variant).partition("-")
    return color_of(criterion), _VARIANT_DASHES.get(scope, "solid")


def sweep_curve(summary: pd.DataFrame, points: pd.DataFrame | None, metric: str, param: str, *,
                band: str = "std", baseline: float | None = None, title: str | None = None) -> go.Figure:
    """Mean of `metric` against the swept level, one line per variant, with a band over the seeds.

    `summary` is `sweep.sweep_summary` (variant, level, n, mean, std, min, max); `band` is
    "std" (mean ± one standard deviation) or "minmax". `points` (level, seed, variant and
    the metric) adds every finished seed as a faint dot. `baseline` (raw units) is a dashed line.
    """
    x_title, x_scale = SWEEP_LEVELS.get(param, (param, 1.0))
    y_title, y_scale = catalogue.axis(metric)
    spread = "± 1 std over seeds" if band == "std" else "min–max over seeds"
    fig = figure(title or f"{y_title.split(' (')[0]} vs {x_title.split(' (')[0]} (band: {spread})", x_title, y_title)
    for variant, part in summary.groupby("variant", sort=False):
        part = part.sort_values("level")
        color, dash = variant_style(variant)
        x = (part["level"] * x_scale).tolist()
        mean = part["mean"] * y_scale
        low, high = ((part["mean"] - part["std"]) * y_scale, (part["mean"] + part["std"]) * y_scale) \
            if band == "std" else (part["min"] * y_scale, part["max"] * y_scale)
        fig.add_scatter(x=x + x[::-1], y=high.tolist() + low.tolist()[::-1], fill="toself", mode="lines",
                        fillcolor=_rgba(color, 0.18), line=dict(width=0), hoverinfo="skip", showlegend=False,
                        legendgroup=variant, name=f"{variant} band")
        fig.add_scatter(x=x, y=mean, mode="lines+markers", name=f"{variant} (mean)", legendgroup=variant,
                        line=dict(color=color, dash=dash), marker=dict(size=8),
                        customdata=np.column_stack([part["n"], part["std"] * y_scale, part["min"] * y_scale,
                                                    part["max"] * y_scale]),
                        hovertemplate=f"{variant}<br>level %{{x:.4g}}<br>mean %{{y:.4g}} ± %{{customdata[1]:.3g}} "
                                      "(std, %{customdata[0]} seeds)<br>min %{customdata[2]:.4g}, max "
                                      "%{customdata[3]:.4g}<extra></extra>")
        if points is not None and metric in points.columns:
            dots = points[(points["variant"] == variant) & points[metric].notna()]
            if len(dots):
                fig.add_scatter(x=dots["level"] * x_scale, y=dots[metric] * y_scale, mode="markers",
                                marker=dict(color=color, size=6, opacity=0.45), legendgroup=variant,
                                showlegend=False, name=f"{variant} seeds", customdata=dots["seed"],
                                hovertemplate=f"{variant}, seed %{{customdata}}<br>level %{{x:.4g}}: %{{y:.4g}}"
                                              "<extra></extra>")
    if baseline is not None:
        fig.add_hline(y=baseline * y_scale, line_dash="dash", line_color=color_of("baseline"),
                      annotation_text=f"baseline {baseline * y_scale:.4g}", annotation_position="bottom left")
    return fig


# ---------------------------------------------------------------- per-layer sensitivity
_LAYER_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                  "#bcbd22", "#17becf"]


def sensitivity_heatmap(table: pd.DataFrame, title: str = "Accuracy drop, each layer pruned alone") -> go.Figure:
    """Layer x amount -> accuracy drop in points, from a `sensitivity.layer_sensitivity` table.

    Red is a loss, blue a (usually noise-sized) gain; each cell is labelled with its value.
    """
    layers = list(dict.fromkeys(table["layer"]))
    drop = table.pivot(index="layer", columns="amount", values="drop").loc[layers]
    accuracy = table.pivot(index="layer", columns="amount", values="accuracy").loc[layers]
    params = table.drop_duplicates("layer").set_index("layer").loc[layers, "params"]
    columns = [f"{a:.0%}" if round(100 * a, 6) == round(100 * a) else f"{a:.1%}" for a in drop.columns]
    z = 100 * drop.to_numpy(float)
    custom = np.dstack([100 * accuracy.to_numpy(float), np.repeat(params.to_numpy()[:, None], len(columns), 1)])
    fig = figure(title, "amount pruned in that layer (% of its weights)", "layer")
    limit = max(float(np.nanmax(np.abs(z))) if z.size else 0.0, 1.0)
    fig.add_heatmap(z=z, x=columns, y=layers, customdata=custom, colorscale="RdBu_r", zmid=0, zmin=-limit, zmax=limit,
                    text=[[f"{v:+.1f}" for v in row] for row in z], texttemplate="%{text}",
                    colorbar=dict(title=dict(text="accuracy drop (pp)")),
                    hovertemplate="layer %{y} (%{customdata[1]:,} weights) at %{x}:<br>accuracy %{customdata[0]:.2f} %"
                                  "<br>drop %{z:+.2f} pp<extra></extra>")
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category", autorange="reversed")
    return fig


def sensitivity_lines(table: pd.DataFrame, title: str = "Test accuracy per layer pruned alone") -> go.Figure:
    """One line per layer: accuracy against the amount pruned in that layer only, from the dense baseline at 0 %."""
    fig = figure(title, "amount pruned in that layer (% of its weights)", "test accuracy (%)")
    baseline = float(table["baseline_accuracy"].iloc[0]) if len(table) else None
    for i, (layer, part) in enumerate(table.groupby("layer", sort=False)):
        part = part.sort_values("amount")
        x = [0.0] + (100 * part["amount"]).tolist()
        y = [100 * baseline] + (100 * part["accuracy"]).tolist()
        fig.add_scatter(x=x, y=y, mode="lines+markers", name=f"{layer} ({int(part['params'].iloc[0]):,} weights)",
                        line_color=_LAYER_PALETTE[i % len(_LAYER_PALETTE)],
                        hovertemplate=f"{layer}<br>%{{x:.0f}} % pruned: accuracy %{{y:.2f}} %<extra></extra>")
    if baseline is not None:
        fig.add_hline(y=100 * baseline, line_dash="dash", line_color=color_of("baseline"),
                      annotation_text=f"baseline {fmt.pct(baseline, 2)}", annotation_position="bottom left")
    fig.update_xaxes(range=[-2, 101])
    return fig


# ---------------------------------------------------------------- comparing runs
_RUN_DASHES = ["solid", "dash", "dot", "dashdot", "longdash"]
_RUN_PATTERNS = ["", "/", ".", "x", "-"]


def run_styles(runs: Sequence[tuple[str, str]]) -> dict[str, tuple[str, int]]:
    """(run id, method) pairs -> run id: (method colour, index among runs of that method).

    Runs keep their method's colour on every page; the index picks a dash or a bar pattern
    so two runs of one method stay apart.
    """
    seen: dict[str, int] = {}
    styles = {}
    for run_id, method in runs:
        styles[run_id] = (color_of(method), seen.get(method, 0))
        seen[method] = seen.get(method, 0) + 1
    return styles


def compare_curves(curves: Sequence[tuple[str, Sequence[Mapping], str, int]],
                   title: str = "Test accuracy while training: each run's own stages") -> go.Figure:
    """Overlaid test-accuracy curves; `curves` holds (label, history, colour, style index) per run.

    The baseline's training is shared context, so it is left out unless a run has nothing
    else (a baseline run itself); each other stage starts at epoch 1.
    """
    fig = figure(title, "epoch of the stage", "test accuracy (%)")
    for label, history, color, index in curves:
        df = pd.DataFrame(list(history))
        if df.empty:
            continue
        own = df[df["stage"] != "baseline"]
        for stage, part in (own if len(own) else df).groupby("stage", sort=False):
            fig.add_scatter(x=part["epoch"], y=100 * part["test_accuracy"], mode="lines+markers",
                            name=f"{label} · {stage}", line=dict(color=color, dash=_RUN_DASHES[index % 5]),
                            hovertemplate=f"{label} · {stage}<br>epoch %{{x}}: %{{y:.2f}} % test accuracy"
                                          "<extra></extra>")
    return fig


def layer_removed_compare(series: Sequence[tuple[str, Sequence[Mapping], str, int]],
                          title: str = "Weights removed per layer, side by side") -> go.Figure:
    """Grouped bars per layer: share of the layer's original weights zeroed or removed, one bar per run.

    Masked layers count zeros; structured layers (rows with `params_before`) count removed
    weights, so both kinds of pruning read on one axis. `series` is (label, layers, colour, index);
    layers without a zero count (int8 layers) are left out.
    """
    fig = figure(title, "layer", "weights removed (% of the layer)", barmode="group")
    for label, layers, color, index in series:
        layers = [row for row in layers if "nonzero" in row]  # int8 layers have no zero count
        if not layers:
            continue
        names = [row["name"] for row in layers]
        removed = [100 * (1 - row["nonzero"] / max(row.get("params_before") or row["params"], 1)) for row in layers]
        fig.add_bar(x=names, y=removed, name=label, marker=dict(color=color, pattern_shape=_RUN_PATTERNS[index % 5]),
                    customdata=[[fmt.count(r["nonzero"]), fmt.count(r.get("params_before") or r["params"])]
                                for r in layers],
                    hovertemplate=f"{label}<br>%{{x}}: %{{y:.1f}} % removed<br>%{{customdata[0]}} of "
                                  "%{customdata[1]} weights left<extra></extra>")
    fig.update_yaxes(range=[0, 100])
    return fig


def pareto_view(points: pd.DataFrame, x: str, x_title: str, front: pd.Series, *, log_x: bool = True,
                title: str | None = None) -> go.Figure:
    """Accuracy against `x` with the Pareto front in method colours and dominated runs greyed.

    `points` needs id, method, accuracy, `x` and `hover` (text shown on hover, e.g. the spec);
    `front` is a boolean Series on the same index (`pareto.pareto_front`). Each marker carries
    its run id as customdata[0], so a click can open the run.
    """
    points = points.dropna(subset=[x, "accuracy"])
    front = front.reindex(points.index).fillna(False).astype(bool)
    fig = figure(title or f"Accuracy vs {x_title.split(' (')[0]}: the Pareto front", x_title, "test accuracy (%)")
    hover = f"%{{customdata[1]}}<br>{x_title}: %{{x:,.4g}}<br>test accuracy %{{y:.2f}} %<extra></extra>"
    dominated = points[~front]
    if len(dominated):
        fig.add_scatter(x=dominated[x], y=100 * dominated["accuracy"], mode="markers", name="dominated",
                        marker=dict(color="#c8c8c8", size=10, line=dict(color="#999", width=1)),
                        customdata=np.column_stack([dominated["id"], dominated["hover"]]), hovertemplate=hover)
    kept = points[front]
    for method, part in kept.groupby("method", sort=True):
        fig.add_scatter(x=part[x], y=100 * part["accuracy"], mode="markers", name=label_of(method),
                        marker=dict(color=color_of(method), size=12, line=dict(color="#222", width=1)),
                        customdata=np.column_stack([part["id"], part["hover"]]), hovertemplate=hover)
    if len(kept):
        line = kept.sort_values(x)
        fig.add_scatter(x=line[x], y=100 * line["accuracy"], mode="lines", name="Pareto front",
                        line=dict(color="#222", dash="dash", shape="hv"), hoverinfo="skip")
    if log_x:
        fig.update_xaxes(type="log", tickformat="~s")  # 20k, 50k, 100k rather than log-axis digit labels
    return fig
