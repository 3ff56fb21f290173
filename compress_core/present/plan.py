"""Tables and figures of a plan to a budget (pure functions of plan rows and run metrics).

The Planner page, and anything else that shows a `plan` run, draws from these: the per-layer
plan, the allocation figure, and predicted beside realized.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from compress_core import fmt
from compress_core.present.plots import LAYOUT, figure

FP32 = 32
# One colour per bit width (fp32 grey; fewer bits, warmer), so a figure's bars read as widths at a glance.
BITS_COLOURS = {32: "#7f7f7f", 8: "#1f77b4", 6: "#2ca02c", 5: "#bcbd22", 4: "#ff7f0e", 3: "#d62728", 2: "#9467bd"}


def bits_name(bits) -> str:
    return "fp32" if bits is None or int(bits) >= FP32 else f"{int(bits)}-bit"


def plan_table(rows: Sequence[Mapping]) -> pd.DataFrame:
    """One row per layer: layer, weights, sparsity (%), bits, weights kept, predicted drop (pp)."""
    return pd.DataFrame([{"layer": r["layer"], "weights": int(r["params"]),
                          "sparsity (%)": round(100 * float(r["sparsity"]), 1), "bits": bits_name(r["bits"]),
                          "weights kept": int(r["params"]) - int(round(float(r["sparsity"]) * int(r["params"]))),
                          "predicted drop (pp)": round(100 * float(r["predicted_drop"]), 2)} for r in rows],
                        columns=["layer", "weights", "sparsity (%)", "bits", "weights kept", "predicted drop (pp)"])


def allocation_figure(rows: Sequence[Mapping], title: str = "Planned allocation per layer") -> go.Figure:
    """Sparsity per layer as bars coloured by the layer's bit width (one legend entry per width)."""
    fig = figure(title, "layer", "sparsity (%)", barmode="overlay")
    for bits in sorted({int(r["bits"]) for r in rows}, reverse=True):
        part = [r for r in rows if int(r["bits"]) == bits]
        fig.add_bar(x=[r["layer"] for r in part], y=[100 * float(r["sparsity"]) for r in part], name=bits_name(bits),
                    marker_color=BITS_COLOURS.get(bits, "#17becf"),
                    text=[f"{100 * float(r['sparsity']):.0f}% · {bits_name(bits)}" for r in part], textposition="auto",
                    customdata=[[int(r["params"]), 100 * float(r["predicted_drop"])] for r in part],
                    hovertemplate="%{x}: %{y:.1f}% of %{customdata[0]:,} weights removed, " + bits_name(bits)
                                  + "; predicted drop %{customdata[1]:.2f} pp<extra></extra>")
    fig.update_xaxes(categoryorder="array", categoryarray=[r["layer"] for r in rows])
    fig.update_yaxes(range=[0, 100])
    return fig


def _pair(metrics: Mapping) -> list[tuple]:
    """(figure, unit kind, predicted, realized, budget) rows of a plan run's metrics."""
    out = [("test accuracy", "share", metrics.get("predicted_accuracy"), metrics.get("accuracy"), None)]
    if metrics.get("target_flops") is not None:
        out.append(("effective FLOPs", "flops", metrics.get("predicted_flops"), metrics.get("flops_effective"),
                    metrics.get("target_flops")))
    out.append(("deployed size", "bytes", metrics.get("predicted_size"), metrics.get("size_bytes"),
                metrics.get("target_size")))
    if metrics.get("target_latency_ms") is not None:
        # predicted: the baseline's latency (masks and fake k-bit weights run the same dense kernels)
        out.append((f"latency at batch {metrics.get('target_batch')}", "ms",
                    metrics.get("baseline_latency_ms_at_batch"), metrics.get("latency_ms_at_batch"),
                    metrics.get("target_latency_ms")))
    return out


def _text(kind: str, value) -> str:
    if value is None:
        return "n/a"
    return {"share": lambda v: fmt.pct(v, 2), "bytes": fmt.size, "flops": fmt.flops, "ms": fmt.ms}[kind](value)


def predicted_vs_realized(metrics: Mapping) -> pd.DataFrame:
    """Predicted beside realized (and the budget) for accuracy, size, FLOPs and latency, as text cells."""
    rows = []
    for name, kind, predicted, realized, budget in _pair(metrics):
        if kind == "share":
            gap = fmt.pp(realized - predicted, 2) if None not in (realized, predicted) else "n/a"
        elif None not in (realized, predicted) and predicted:
            gap = f"{(realized - predicted) / predicted:+.1%}"
        else:
            gap = "n/a"
        rows.append({"figure": name, "predicted": _text(kind, predicted), "realized": _text(kind, realized),
                     "realized - predicted": gap, "budget": _text(kind, budget) if budget is not None else ""})
    return pd.DataFrame(rows, columns=["figure", "predicted", "realized", "realized - predicted", "budget"])


def predicted_vs_realized_figure(metrics: Mapping, title: str = "Predicted vs realized") -> go.Figure:
    """Accuracy and size side by side: a predicted and a realized bar each, the budget as a dashed line."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("test accuracy (%)", "deployed size (kB)"))
    acc = [metrics.get("predicted_accuracy"), metrics.get("accuracy")]
    size = [metrics.get("predicted_size"), metrics.get("size_bytes")]
    names = ["predicted", "realized"]
    colours = ["#9edae5", "#17becf"]
    fig.add_bar(x=names, y=[100 * v if v is not None else None for v in acc], marker_color=colours, row=1, col=1,
                text=[_text("share", v) for v in acc], textposition="auto", showlegend=False)
    fig.add_bar(x=names, y=[v / 1000 if v is not None else None for v in size], marker_color=colours, row=1, col=2,
                text=[_text("bytes", v) for v in size], textposition="auto", showlegend=False)
    if metrics.get("baseline_accuracy") is not None:
        fig.add_hline(y=100 * metrics["baseline_accuracy"], line_dash="dot", line_color="#7f7f7f", row=1, col=1,
                      annotation_text="baseline", annotation_position="bottom right")
    if metrics.get("target_size") is not None:
        fig.add_hline(y=metrics["target_size"] / 1000, line_dash="dash", line_color="#d62728", row=1, col=2,
                      annotation_text="budget", annotation_position="top right")
    low = min([v for v in acc if v is not None] + [metrics.get("baseline_accuracy") or 1.0])
    fig.update_yaxes(range=[max(0.0, 100 * low - 5), 100], row=1, col=1)
    fig.update_layout(title=dict(text=title), **{k: v for k, v in LAYOUT.items() if k not in ("xaxis", "yaxis")})
    return fig
