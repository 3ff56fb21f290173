"""Plotly figures for transformer previews and lessons (pure functions; no Streamlit).

Kept apart from `plots.py` so the transformer pieces grow without touching the shared module.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import plotly.graph_objects as go

from compress_core import fmt
from compress_core.present.plots import color_of, figure


def head_plan(scores: Sequence[Sequence[float]], removed: Sequence[Sequence[int]],
              title: str = "Attention heads: importance, and those a structured run removes (x)") -> go.Figure:
    """Heatmap of head importance (layers x heads) with a cross on each head that goes."""
    fig = figure(title, "head", "encoder layer")
    n_layers = len(scores)
    fig.add_heatmap(z=[list(row) for row in scores], x=list(range(len(scores[0]) if scores else 0)),
                    y=list(range(n_layers)), colorscale="Blues", colorbar=dict(title="L-norm"),
                    hovertemplate="layer %{y}, head %{x}: importance %{z:.3g}<extra></extra>")
    xs = [h for layer in removed for h in layer]
    ys = [i for i, layer in enumerate(removed) for _ in layer]
    fig.add_scatter(x=xs, y=ys, mode="markers", marker=dict(symbol="x", size=18, color=color_of("structured"),
                                                            line=dict(width=2)),
                    name="removed", hovertemplate="layer %{y}, head %{x}: removed<extra></extra>")
    fig.update_yaxes(autorange="reversed", dtick=1)
    fig.update_xaxes(dtick=1)
    return fig


def int8_sizes(rows: Sequence[Mapping], rest_bytes: int | None = None,
               title: str = "Per layer: fp32 vs int8 weights (counted)") -> go.Figure:
    """Grouped bars, one pair per Linear layer (kB); embeddings and LayerNorms as one fp32 bar."""
    names = [r["name"].replace("hf.", "").replace("bert.encoder.layer.", "L") for r in rows]
    fig = figure(title, "", "kB")
    fig.add_bar(x=names, y=[r["fp32_bytes"] / 1000 for r in rows], name="fp32", marker_color=color_of("baseline"),
                text=[fmt.size(r["fp32_bytes"]) for r in rows], hovertemplate="%{x}: %{text} fp32<extra></extra>")
    fig.add_bar(x=names, y=[r["int8_bytes"] / 1000 for r in rows], name="int8 weights + fp32 scales and bias",
                marker_color=color_of("quantize"), text=[fmt.size(r["int8_bytes"]) for r in rows],
                hovertemplate="%{x}: %{text} int8<extra></extra>")
    if rest_bytes:
        fig.add_bar(x=["embeddings, LayerNorm (stay fp32)"], y=[rest_bytes / 1000], name="not Linear: stays fp32",
                    marker_color="#adb5bd", text=[fmt.size(rest_bytes)])
    fig.update_layout(barmode="group")
    return fig


def student_layers(teacher_layers: int, layer_map: Sequence[int], init: str,
                   title: str = "Student layers and the teacher layers they come from") -> go.Figure:
    """Teacher layers on the left, student layers on the right, a line from each student layer to its teacher layer."""
    fig = figure(title, "", "layer (input at the top)", showlegend=False)
    fig.add_scatter(x=[0] * teacher_layers, y=list(range(teacher_layers)), mode="markers+text",
                    marker=dict(size=22, symbol="square", color=color_of("baseline")),
                    text=[f"T{i}" for i in range(teacher_layers)], textposition="middle left",
                    hovertemplate="teacher layer %{y}<extra></extra>")
    k = len(layer_map)
    ys = [(i + 1) * teacher_layers / k - 1 for i in range(k)]  # spread over the same height
    fig.add_scatter(x=[1] * k, y=ys, mode="markers+text", marker=dict(size=22, symbol="square",
                                                                       color=color_of("distill")),
                    text=[f"S{i}" for i in range(k)], textposition="middle right",
                    hovertemplate="student layer %{text}<extra></extra>")
    for i, (y, j) in enumerate(zip(ys, layer_map)):
        fig.add_scatter(x=[0, 1], y=[j, y], mode="lines", line=dict(color="#888", dash="dot"),
                        hovertemplate=f"S{i} <- T{j} ({init})<extra></extra>")
    fig.update_xaxes(tickvals=[0, 1], ticktext=["teacher", "student"], range=[-0.6, 1.6])
    fig.update_yaxes(autorange="reversed", showticklabels=False)
    return fig


def head_ablation(drop: Sequence[Sequence[float]], norms: Sequence[Sequence[float]],
                  title: str = "Accuracy lost when one head is removed alone (no fine-tuning)") -> go.Figure:
    """Heatmap of the accuracy drop (percentage points) per head, its L1 norm in the hover text."""
    fig = figure(title, "head", "encoder layer")
    fig.add_heatmap(z=[[100 * v for v in row] for row in drop], customdata=[list(r) for r in norms],
                    x=list(range(len(drop[0]) if drop else 0)), y=list(range(len(drop))), colorscale="Reds",
                    colorbar=dict(title="pp lost"), texttemplate="%{z:.1f}",
                    hovertemplate="layer %{y}, head %{x}: %{z:.2f} pp lost; L1 norm %{customdata:.3g}<extra></extra>")
    fig.update_yaxes(autorange="reversed", dtick=1)
    fig.update_xaxes(dtick=1)
    return fig


def heads_curve(rows: Sequence[Mapping], title: str = "Removing the weakest heads of every layer") -> go.Figure:
    """Test accuracy against heads removed per layer, parameters in the hover text."""
    fig = figure(title, "heads removed per layer (lowest L1 norm first)", "top-1 test accuracy (%)")
    fig.add_scatter(x=[r["heads_removed"] for r in rows], y=[100 * r["accuracy"] for r in rows], mode="lines+markers",
                    marker_color=color_of("structured"), customdata=[fmt.count(r["params"]) for r in rows],
                    hovertemplate="%{x} removed: %{y:.1f} %, %{customdata} parameters<extra></extra>", name="accuracy")
    fig.update_xaxes(dtick=1)
    return fig


def layer_drop(rows: Sequence[Mapping], title: str = "Keeping k of the encoder layers (before distillation)") -> go.Figure:
    """Bars: test accuracy of the model cut to k layers, parameters written on each bar."""
    fig = figure(title, "encoder layers kept", "top-1 test accuracy (%)", showlegend=False)
    fig.add_bar(x=[str(r["layers"]) for r in rows], y=[100 * r["accuracy"] for r in rows],
                marker_color=color_of("distill"), text=[f"{100 * r['accuracy']:.1f} %, {fmt.count(r['params'])} params"
                                                        for r in rows], textposition="auto",
                hovertemplate="%{x} layers: %{text}<extra></extra>")
    return fig
