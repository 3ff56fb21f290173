"""The Learn page's lessons: small pure functions and Plotly figures that explain pruning,
gradual pruning, distillation and quantization on a real trained model.

Every lesson goes through the engine's own code (`prune_to`, `prune_channels`,
`agp_schedule`, `distillation_loss`, `quantize_symmetric`, `quantization_error`), so a
figure shows what a run does, not a textbook idealisation. Models passed in are never
modified: the page shares them with other pages through Streamlit's resource cache.
No Streamlit here: the page draws what these return, and tests check them directly.
"""
from __future__ import annotations

import copy
import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
from torch import nn

from compress_core import fmt
from plotly.subplots import make_subplots
from compress_core.errors import CompressError
from compress_core.measure.metrics import count_params, flops, latency_ms
from compress_core.methods.distill import distillation_loss
from compress_core.methods.prune import agp_schedule, make_permanent, prune_to
from compress_core.methods.quantize import (
    MAX_BITS,
    MIN_BITS,
    fake_quantize,
    fake_quantize_model,
    quantization_error,
    quantize_symmetric,
)
from compress_core.methods.structured import prune_channels
from compress_core.models.zoo import build_model, prunable_layers
from compress_core.present import plots
from compress_core.present.preview import histogram, histogram_edges, prunable_weights, removed_thresholds
from compress_core.specs import TrainSpec, check_range
from compress_core.training.loop import evaluate, seeded

# LeNet-300-100 on the 8x8 digits, the data set's default epochs: the same cached baseline
# as the Prune and Quantize pages' defaults and the Distill page's default teacher.
TEACHING_SPEC = TrainSpec(model="lenet300", dataset="digits")
PRUNED_GREY = "#c8c8c8"
STUDENT_WIDTH = 32  # the untrained student of the distillation lesson (the Distill page's default width)
BITS = tuple(range(MIN_BITS, MAX_BITS + 1))
GRANULARITY_LABELS = {"tensor": "one scale per tensor", "channel": "one scale per output channel"}
# The colours plots.accuracy_vs_bits gives these labels (it takes its palette in sorted label order).
GRANULARITY_COLORS = {"channel": plots.color_of("quantize"), "tensor": "#e377c2"}
# ---------------------------------------------------------------- pruning
def pruned_copy(model: nn.Module, amount: float, scope: str = "global") -> nn.Module:
    """A copy of `model` with L1 magnitude masks removing `amount` of its weights (the engine's `prune_to`)."""
    check_range("amount", amount, 0, 1, high_open=True)
    pruned = copy.deepcopy(model)
    if amount > 0:
        prune_to(pruned, "l1", scope, amount)
    return pruned


def threshold_histogram(model: nn.Module, pruned: nn.Module, scope: str) -> go.Figure:
    """All prunable weights, the kept ones and the removed ones, with the magnitude threshold(s)."""
    return histogram_figure(histogram_parts(model, pruned, scope), scope)


def histogram_parts(model: nn.Module, pruned: nn.Module, scope: str) -> dict:
    """What the threshold histogram draws, as a few kB of numbers (the Learn page caches them per slider value):
    bin edges of all prunable weights, counts of all of them and of the removed ones, the threshold(s)."""
    before = np.concatenate(list(prunable_weights(model).values()))
    after = np.concatenate(list(prunable_weights(pruned).values()))
    edges = histogram_edges(before)
    removed = after == 0
    thresholds = removed_thresholds(pruned)
    if scope == "global" and thresholds:  # one threshold for every layer
        thresholds = {"all layers": max(thresholds.values())}
    return {"edges": edges, "all": histogram(before, edges), "removed": histogram(before[removed], edges),
            "thresholds": thresholds,
            "total": int(before.size), "removed_share": float(removed.mean())}


def histogram_figure(parts: Mapping, scope: str) -> go.Figure:
    """`histogram_parts` drawn: every weight as one histogram in the kept colour, the removed ones as a grey area
    over it (so the blue left showing is what the mask keeps), the threshold(s) as dashed lines.

    Why this way: the histogram trace is the same at every amount, and what the slider changes (the grey area, the
    threshold lines, the title and the thresholds named in the legend) are layout shapes, a title and the names of
    traces without points, which plotly.js redraws alone instead of recomputing the figure (docs/performance.md,
    seventh round). The grey area starts at zero in each bin: with one threshold every bin is all kept or all removed
    but the one it cuts, and with a share per layer a bin shows how many of its weights went.
    """
    edges = np.asarray(parts["edges"], dtype=float)
    counts, removed = np.asarray(parts["all"]), np.asarray(parts["removed"])
    title = f"All {parts['total']:,} weights: the {fmt.pct(parts['removed_share'])} smallest in |w| are removed"
    if scope == "layer":
        title += " (that share in every layer)"
    fig = plots.figure(title, "weight value", "number of weights")
    width = float(edges[1] - edges[0]) if len(edges) > 1 else 1.0
    kept_color, removed_color = plots.color_of("l1"), plots.color_of("baseline")
    plots.step_histogram(fig, edges, counts, "kept: M = 1", kept_color, 0.55,
                         f"w in [%{{x:.3f}} ± {width / 2:.3f}]: %{{y}} weights before pruning<extra></extra>")
    top = float(counts.max()) if len(counts) else 1.0
    shapes = []
    if removed.any():
        # the removed counts' step outline, closed along the axis: x at the bin edges, y the count of each bin
        corners = [(edges[0], 0.0)]
        for left, right, count in zip(edges[:-1], edges[1:], removed):
            corners += [(left, float(count)), (right, float(count))]
        corners.append((edges[-1], 0.0))
        shapes.append(dict(type="path", path="M" + "L".join(f"{x:.9g},{y:.9g}" for x, y in corners) + "Z",
                           xref="x", yref="y", layer="above", fillcolor=PRUNED_GREY,
                           line=dict(color=removed_color, width=1)))
    fig.add_trace(plots.legend_entry("removed: M = 0, so W' = 0", dict(color=removed_color, width=1),
                                     fill="tozeroy", fillcolor=PRUNED_GREY))
    for i, (label, t) in enumerate(parts["thresholds"].items()):
        line = dict(color="#222", width=1.5, dash=plots.DASHES[i % len(plots.DASHES)])
        shapes += [dict(type="line", x0=x, x1=x, y0=0, y1=top, xref="x", yref="y", layer="above", line=line)
                   for x in (-t, t)]
        fig.add_trace(plots.legend_entry(f"{label}: |w| ≤ {t:.3g} removed", line))
    # layout dicts in one call: plotly.py validates shapes added one by one at several ms each
    fig.update_layout(shapes=shapes)
    return fig


def file_sizes(dense: nn.Module, pruned: nn.Module) -> tuple[int, int]:
    """(bytes of the dense fp32 checkpoint, bytes of the pruned model's sparse encoding), both measured by
    serializing: the sparse file holds a position bitmap and the non-zero values (`sparse_encode`)."""
    from compress_core.measure.metrics import clean_state_dict, serialized_size, sparse_encode

    return serialized_size(clean_state_dict(dense)), len(sparse_encode(clean_state_dict(pruned)))


def first_layer(model: nn.Module) -> torch.Tensor:
    """The first prunable layer's effective weight (masks applied), detached: one row per hidden unit."""
    return prunable_layers(model)[0][1].weight.detach().cpu()


def strongest_units(weight: torch.Tensor, n: int) -> list[int]:
    """The `n` units with the largest incoming weight norm: their weight images look most like templates."""
    return torch.linalg.vector_norm(weight.reshape(len(weight), -1), dim=1).argsort(descending=True)[:n].tolist()


def unit_tiles(images: np.ndarray, gap: int = 1) -> np.ndarray:
    """`n` images of h×w side by side in one array (h, n·w + (n − 1)·gap), NaN in the gaps between them."""
    n, h, w = images.shape
    tiles = np.full((h, n * w + (n - 1) * gap), np.nan)
    for i in range(n):
        tiles[:, i * (w + gap):i * (w + gap) + w] = images[i]
    return tiles


def unit_images(before, after, units: Sequence[int], image_shape: Sequence[int],
                labels: Sequence[int] | None = None) -> go.Figure:
    """Each unit's incoming weights drawn as an image of the input: dense on top, pruned below (pruned pixels grey).

    One figure with the images tiled on one pair of axes (NaN gaps between them), not one subplot per image: twelve
    subplots took about 90 ms to build per slider move and as long again to draw in the browser (docs/performance.md,
    Learn). Trace 0 is the dense row, trace 1 the row below it, also the dense weights; the pruned pixels of that row
    are covered by one grey layout shape (a path of squares), and each image's count of kept pixels is a note. So
    the traces are the same at every amount, and a slider move changes only the shape and the notes, which
    plotly.js redraws alone instead of recomputing the figure (docs/performance.md, seventh round).
    `before`/`after`: first-layer weights (tensors or arrays), one row per unit; `units` picks the rows shown,
    `labels` names them (default: the row numbers).
    """
    h, w = image_shape
    units = list(units)
    n, gap = len(units), 1
    labels = units if labels is None else list(labels)
    dense = np.asarray(before, dtype=float)[units].reshape(n, h, w)
    pruned = np.asarray(after, dtype=float)[units].reshape(n, h, w) == 0
    tiles = unit_tiles(dense, gap).astype(np.float32)  # float32: the figure is sent to the browser
    below = h + gap + 1  # the lower row's first y: two empty rows between the rows of images
    limit = float(np.abs(dense).max()) or 1.0
    look = dict(colorscale="RdBu_r", zmid=0, zmin=-limit, zmax=limit, hoverongaps=False)
    traces = [go.Heatmap(z=tiles, y0=0, name="dense", colorbar=dict(title=dict(text="weight"), len=0.9),
                         hovertemplate="dense: w = %{z:.3f}<extra></extra>", **look),
              go.Heatmap(z=tiles, y0=below, name="before pruning", showscale=False,
                         hovertemplate="w = %{z:.3f} before pruning (grey: pruned to 0)<extra></extra>", **look)]
    squares = []  # each run of pruned pixels along a row of an image is one rectangle
    for i, r in zip(*np.nonzero(pruned.any(axis=2))):
        edges = np.diff(np.concatenate([[0], pruned[i, r].astype(np.int8), [0]]))  # +1 where a run starts, -1 after
        for start, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
            x0, x1, y0 = i * (w + gap) + start - 0.5, i * (w + gap) + end - 0.5, below + r - 0.5
            squares.append(f"M{x0:g},{y0:g}H{x1:g}V{y0 + 1:g}H{x0:g}Z")
    centers = [i * (w + gap) + (w - 1) / 2 for i in range(n)]
    notes = [dict(x=c, y=-0.7, text=f"unit {u}", yanchor="bottom") for c, u in zip(centers, labels)]
    notes += [dict(x=c, y=2 * h + gap + 0.6, text=f"{int((~p).sum())} of {h * w} kept", yanchor="top")
              for c, p in zip(centers, pruned)]
    notes += [dict(x=-0.8, y=(h - 1) / 2, text="dense", xanchor="right", textangle=-90),
              dict(x=-0.8, y=below + (h - 1) / 2, text="pruned", xanchor="right", textangle=-90)]
    rows = below + h
    layout = dict(
        title=dict(text=f"First layer: the 8×8 input weights of {n} hidden units "
                        "(red: positive, blue: negative, grey: pruned)"),
        annotations=[dict(note, xref="x", yref="y", showarrow=False, font=dict(size=12)) for note in notes],
        shapes=[dict(type="path", path="".join(squares) or "M0,0", xref="x", yref="y", layer="above",
                     fillcolor=PRUNED_GREY, line=dict(width=0), visible=bool(squares))],
        xaxis=dict(visible=False, range=[-1.6, tiles.shape[1] - 0.5], constrain="domain"),
        yaxis=dict(visible=False, range=[rows + 0.5, -1.8], scaleanchor="x", constrain="domain"),
        plot_bgcolor="white", paper_bgcolor="white",  # no named template: setting one costs ~15 ms per figure
        margin=dict(l=20, r=20, t=60, b=20), height=360)
    fig = go.Figure(data=traces, layout=layout)  # built in one go: add_* calls one by one cost more
    return fig


def speed_comparison(model: nn.Module, input_shape: Sequence[int], amount: float, batch: int = 256,
                     repeats: int = 30) -> pd.DataFrame:
    """The dense model, a masked copy (L1, `amount` of the weights) and a structured copy (`amount` of
    each hidden layer's neurons removed), measured now: parameters, FLOPs and latency at `batch`.

    The masks are folded in (`prune.remove`) before timing, as a saved pruned model is.
    """
    masked = make_permanent(pruned_copy(model, amount))
    structured = copy.deepcopy(model)
    if amount > 0:
        prune_channels(structured, input_shape, amount)
    rows = []
    for name, method, m in (("dense", "baseline", model), ("masked (L1)", "l1", masked),
                            ("neurons removed", "structured", structured)):
        total, nonzero = count_params(m)
        f = flops(m, input_shape)
        rows.append({"model": name, "method": method, "params_total": total, "params_nonzero": nonzero,
                     "flops_dense": f["flops_dense"], "flops_effective": f["flops_effective"],
                     "latency_ms": latency_ms(m, input_shape, batch, repeats=repeats)})
    return pd.DataFrame(rows)


def equal_params_accuracy(model: nn.Module, data, amount: float, finetune_epochs: int = 2) -> pd.DataFrame:
    """Structured vs unstructured at EQUAL kept parameters, before and after fine-tuning (same budget).

    Structured removes `amount` of each hidden layer's neurons; the unstructured copy is global L1
    pruned to keep exactly as many weights. Both are then fine-tuned with the lab's own
    fine-tuning (cosine Adam, masks / smaller shapes kept) for `finetune_epochs`.
    """
    from compress_core.training.baseline import default_batch_size, finetune_config
    from compress_core.training.loop import evaluate, fit

    structured = copy.deepcopy(model)
    prune_channels(structured, data.input_shape, amount)
    total, _ = count_params(model)
    kept, _ = count_params(structured)
    weights = sum(m.weight.numel() for _, m in prunable_layers(model))
    removed = (total - kept) / max(weights, 1)  # the same number of weights removed, chosen by magnitude
    masked = pruned_copy(model, min(removed, 0.999))
    cpu = torch.device("cpu")
    rows = []
    for name, method, m in (("neurons removed (structured)", "structured", structured),
                            ("weights masked (unstructured L1)", "l1", masked)):
        before = evaluate(m, data.x_test, data.y_test, cpu)[0]
        after = None
        if finetune_epochs:  # 0: right after pruning only (instant); fine-tuning takes seconds
            fit(m, data, finetune_config(finetune_epochs, None, data, default_batch_size(data), 0), device=cpu)
            after = evaluate(m, data.x_test, data.y_test, cpu)[0]
        _, nonzero = count_params(m)
        rows.append({"model": name, "method": method, "params_kept": nonzero, "kept_share": nonzero / total,
                     "before_finetune": before, "after_finetune": after})
    return pd.DataFrame(rows)


def equal_params_figure(df: pd.DataFrame, dense_accuracy: float, epochs: int) -> go.Figure:
    share = df["kept_share"].mean()
    tuned = df["after_finetune"].notna().all()
    fig = plots.figure(f"Accuracy at {fmt.pct(share, 0)} of the parameters kept, right after pruning"
                       + (f" and after {epochs} epochs of fine-tuning" if tuned else ""), "", "top-1 test accuracy (%)",
                       barmode="group")
    columns = (("before_finetune", "right after pruning", 0.55),
               ("after_finetune", f"after {epochs} fine-tuning epochs", 1.0))
    for column, name, opacity in columns if tuned else columns[:1]:
        fig.add_bar(x=df["model"], y=100 * df[column], name=name, opacity=opacity,
                    marker_color=[plots.color_of(m) for m in df["method"]],
                    text=[fmt.pct(v, 1) for v in df[column]], textposition="auto")
    fig.add_hline(y=100 * dense_accuracy, line_dash="dash", line_color=plots.color_of("baseline"),
                  annotation_text=f"dense {fmt.pct(dense_accuracy, 1)}", annotation_position="top left")
    low = df["before_finetune"].min() if not tuned else min(df["before_finetune"].min(), df["after_finetune"].min())
    fig.update_yaxes(range=[max(0.0, 100 * float(low) - 8), 100])
    return fig


def speed_figure(df: pd.DataFrame, batch: int, threads: int) -> go.Figure:
    """FLOPs a dense kernel computes (and the non-zero share) beside the measured latency."""
    fig = make_subplots(1, 2, subplot_titles=["FLOPs per input (2 per multiply-add)",
                                              f"Measured latency, batch {batch}, {threads} thread(s)"])
    colors = [plots.color_of(m) for m in df["method"]]
    hover = [f"{fmt.count(n)} of {fmt.count(t)} weights non-zero" for n, t in zip(df["params_nonzero"],
                                                                                  df["params_total"])]
    fig.add_bar(x=df["model"], y=df["flops_dense"], marker_color=colors, name="computed by a dense kernel",
                customdata=hover, text=[fmt.flops(v) for v in df["flops_dense"]], textposition="outside",
                hovertemplate="%{x}: %{text} computed<br>%{customdata}<extra></extra>", row=1, col=1)
    fig.add_bar(x=df["model"], y=df["flops_effective"], marker=dict(color=colors, pattern_shape="/"), opacity=0.55,
                name="on non-zero weights only (an ideal sparse kernel)", customdata=hover,
                hovertemplate="%{x}: %{y:,} FLOPs touch non-zero weights<br>%{customdata}<extra></extra>",
                row=1, col=1)
    fig.add_bar(x=df["model"], y=df["latency_ms"], marker_color=colors, showlegend=False,
                text=[fmt.ms(v) for v in df["latency_ms"]], textposition="outside", cliponaxis=False,
                hovertemplate="%{x}: %{text} per call (median)<extra></extra>", row=1, col=2)
    fig.update_layout(title=dict(text="Masks zero weights, but a dense kernel still multiplies them"),
                      barmode="group", **{k: v for k, v in plots.LAYOUT.items() if k != "margin"},
                      margin=dict(l=60, r=30, t=90, b=40), uniformtext=dict(minsize=10, mode="show"))
    fig.update_traces(cliponaxis=False, textangle=0)
    fig.update_yaxes(title_text="FLOPs per input", row=1, col=1)
    fig.update_yaxes(title_text="milliseconds per call", row=1, col=2)
    return fig


# ---------------------------------------------------------------- gradual pruning
def agp_curve(start: float, end: float, steps: int) -> pd.DataFrame:
    """Sparsity before step 1 (`start`) and after each AGP step, and how much each step removes."""
    check_range("start sparsity", start, 0, 1, high_open=True)
    check_range("end sparsity", end, 0, 1, high_open=True)
    if start > end:
        raise CompressError(f"start sparsity {start:g} must not exceed the end sparsity {end:g}")
    targets = [start, *agp_schedule(start, end, steps)]
    return pd.DataFrame({"step": range(steps + 1), "sparsity": targets,
                         "removed_in_step": [0.0, *np.diff(targets)]})


SCHEDULES = ("one-shot", "AGP (cubic)", "linear")


def schedule_comparison(model: nn.Module, data, final: float, steps: int = 10, epochs: int = 3,
                        seed: int = 0) -> pd.DataFrame:
    """One-shot, cubic AGP and linear schedules to the same final sparsity, with the same fine-tuning budget,
    measured: accuracy after fine-tuning and the accuracy curve per epoch.

    Uses the engine's own pieces: `AGPPruner` (its targets replaced by evenly spaced ones for the linear
    schedule) called before every optimiser step, the lab's fine-tuning (cosine Adam), global L1.
    """
    from compress_core.methods.prune import AGPPruner
    from compress_core.training.baseline import default_batch_size, finetune_config
    from compress_core.training.loop import fit

    config = finetune_config(epochs, None, data, default_batch_size(data), seed)
    rows = []
    for name in SCHEDULES:
        m = copy.deepcopy(model)
        hook = None
        if name == "one-shot":
            prune_to(m, "l1", "global", final)
        else:
            hook = AGPPruner(m, "l1", "global", final, steps)
            if name == "linear":
                hook.targets = [final * t / steps for t in range(1, steps + 1)]
        history = fit(m, data, config, device=torch.device("cpu"), before_step=hook)
        if hook is not None:
            hook.finish()
        accuracy = evaluate(m, data.x_test, data.y_test, torch.device("cpu"))[0]
        for row in history:
            rows.append({"schedule": name, "epoch": row["epoch"], "accuracy": row["test_accuracy"],
                         "final_accuracy": accuracy})
    return pd.DataFrame(rows)


# Measured by `schedule_comparison` on the teaching model (LeNet-300-100, digits, 90 %, 10 steps, 3 epochs, seed 0):
# the accuracy after each fine-tuning epoch.
DOC_SCHEDULES = pd.DataFrame(
    [{"schedule": name, "epoch": e + 1, "accuracy": a, "final_accuracy": acc[-1]}
     for name, acc in (("one-shot", (0.9711, 0.9778, 0.9778)), ("AGP (cubic)", (0.8467, 0.9578, 0.9556)),
                       ("linear", (0.9489, 0.8489, 0.9022))) for e, a in enumerate(acc)])


def schedule_figure(df: pd.DataFrame, final: float) -> go.Figure:
    fig = plots.figure(f"Measured: three schedules to {fmt.pct(final, 0)} sparsity, same fine-tuning budget",
                       "fine-tuning epoch", "top-1 test accuracy (%)")
    colors = {"one-shot": "#7f7f7f", "AGP (cubic)": plots.color_of("prune"), "linear": "#17becf"}
    for name, group in df.groupby("schedule", sort=False):
        fig.add_scatter(x=group["epoch"], y=100 * group["accuracy"], mode="lines+markers", name=name,
                        line=dict(color=colors.get(name)),
                        hovertemplate=f"{name}<br>epoch %{{x}}: %{{y:.2f}} %<extra></extra>")
    return fig


def agp_figure(curve: pd.DataFrame) -> go.Figure:
    """The cubic schedule: target sparsity per step, and the share each step removes."""
    fig = plots.figure("AGP: prune fast while many weights are redundant, slowly near the end", "pruning step",
                  "share of weights (%)")
    fig.add_bar(x=curve["step"][1:], y=100 * curve["removed_in_step"][1:], name="removed in this step",
                marker_color=plots.color_of("l1"), opacity=0.35,
                hovertemplate="step %{x} removes %{y:.1f} % of all weights<extra></extra>")
    fig.add_scatter(x=curve["step"], y=100 * curve["sparsity"], mode="lines+markers", name="target sparsity s_t",
                    line_color=plots.color_of("l1"),
                    hovertemplate="after step %{x}: %{y:.1f} % of weights zero<extra></extra>")
    fig.update_yaxes(range=[0, 100])
    return fig


# ---------------------------------------------------------------- distillation
def softmax(logits: torch.Tensor, temperature: float) -> np.ndarray:
    """softmax(z / T) along the last axis."""
    return torch.softmax(logits / temperature, dim=-1).numpy()


def dark_example(logits: torch.Tensor, labels: torch.Tensor, temperature: float = 4.0, confident: float = 0.95) -> int:
    """A test input the teacher gets right with confidence at T = 1 whose runner-up class is the most
    visible at `temperature`: almost one-hot at T = 1, dark knowledge once softened. Falls back to
    the most confident correct input when none reaches `confident`.
    """
    sharp, soft = torch.softmax(logits, dim=1), torch.softmax(logits / temperature, dim=1)
    right = logits.argmax(1) == labels
    pool = right & (sharp.amax(1) >= confident)
    if not pool.any():
        pool = right if right.any() else torch.ones_like(right)
    score = torch.where(pool, soft.topk(2, dim=1).values[:, 1], torch.tensor(-1.0))
    return int(score.argmax())


def digit_figure(image: torch.Tensor, title: str) -> go.Figure:
    """One input image (first channel), as the model sees it (normalised pixels)."""
    z = image[0].numpy()
    fig = plots.figure(title, "pixel column", "pixel row", height=330, margin=dict(l=50, r=20, t=60, b=40))
    fig.add_heatmap(z=z, colorscale="gray_r", showscale=False,
                    hovertemplate="row %{y}, column %{x}: %{z:.2f} (normalised)<extra></extra>")
    fig.update_yaxes(autorange="reversed", scaleanchor="x", showgrid=False)
    fig.update_xaxes(showgrid=False)
    return fig


def temperature_figure(logits: torch.Tensor, temperature: float, class_names: Sequence[str],
                       true_class: str) -> go.Figure:
    """The teacher's probabilities for one input at T = 1 and at `temperature`."""
    probs = np.stack([softmax(logits, 1.0), softmax(logits, temperature)])
    labels = ["T = 1 (the ordinary softmax)", f"T = {temperature:g} (softened)"]
    return plots.softened_outputs(probs, class_names, labels, temperature,
                                  title=f"Teacher's probabilities for this input (class {true_class}): "
                                        f"T = 1 vs T = {temperature:g}")


def class_similarity(logits: torch.Tensor, labels: torch.Tensor, temperature: float) -> np.ndarray:
    """Mean softmax(z/T) over the test inputs of each true class (rows), own class blanked (NaN)."""
    probs = torch.softmax(logits / temperature, dim=1)
    k = logits.shape[1]
    matrix = np.full((k, k), np.nan)
    for c in range(k):
        rows = probs[labels == c]
        if len(rows):
            matrix[c] = rows.mean(0).numpy()
    np.fill_diagonal(matrix, np.nan)
    return matrix


def alike_pairs(matrix: np.ndarray, class_names: Sequence[str], n: int = 3) -> list[tuple[str, str, float]]:
    """The `n` largest off-diagonal entries: (true class, the wrong class it resembles, mean probability)."""
    flat = np.nan_to_num(matrix, nan=-1.0).ravel()
    top = np.argsort(flat)[::-1][:n]
    k = matrix.shape[1]
    return [(class_names[i // k], class_names[i % k], float(flat[i])) for i in top]


def similarity_figure(matrix: np.ndarray, class_names: Sequence[str], temperature: float) -> go.Figure:
    """Heatmap of `class_similarity`: which wrong classes the teacher thinks each class resembles."""
    fig = plots.figure(f"Dark knowledge at T = {temperature:g}: probability the teacher gives to each wrong class",
                  "wrong class the teacher considers", "true class of the test inputs", height=430)
    fig.add_heatmap(z=100 * matrix, x=list(class_names), y=list(class_names), colorscale="Purples",
                    colorbar=dict(title=dict(text="mean %")),
                    hovertemplate="true %{y}, class %{x}: %{z:.2f} % on average<extra></extra>")
    fig.update_xaxes(type="category", side="bottom")
    fig.update_yaxes(type="category", autorange="reversed")
    return fig


def untrained_student(input_shape: Sequence[int], num_classes: int, width: int = STUDENT_WIDTH,
                      seed: int = 0) -> nn.Module:
    """The distillation lesson's student at the start of training: an mlp with one hidden layer."""
    with seeded(seed):
        return build_model("mlp", input_shape, num_classes, (width,))


def kd_loss_terms(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                  temperature: float, alpha: float) -> dict:
    """The two terms of the engine's `distillation_loss` and their sum, as floats."""
    soft = float(distillation_loss(student_logits, teacher_logits, labels, temperature, 1.0))
    hard = float(distillation_loss(student_logits, teacher_logits, labels, temperature, 0.0))
    return {"soft": alpha * soft, "hard": (1 - alpha) * hard,
            "total": float(distillation_loss(student_logits, teacher_logits, labels, temperature, alpha))}


def _gradient_norm(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                   temperature: float, alpha: float) -> float:
    """Mean per-input L2 norm of d loss / d student logits (the loss averages over the batch: times B)."""
    z = student_logits.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(distillation_loss(z, teacher_logits, labels, temperature, alpha), z)
    return float((grad * len(z)).norm(dim=1).mean())


def kd_gradients(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                 temperatures: Sequence[float], alpha: float) -> pd.DataFrame:
    """Gradient size of each loss term against T: the soft term with and without the T² factor, the hard term.

    d(KL)/dz_s = (p_s - p_t) / T, and p_s - p_t itself shrinks like 1/T: without T² the soft
    term's gradient fades as 1/T²; with it, its weight against the hard term stays put.
    """
    rows = []
    for t in temperatures:
        soft = _gradient_norm(student_logits, teacher_logits, labels, t, 1.0)
        rows.append({"temperature": t, "soft": alpha * soft, "soft_without_t2": alpha * soft / t ** 2,
                     "hard": (1 - alpha) * _gradient_norm(student_logits, teacher_logits, labels, t, 0.0)})
    return pd.DataFrame(rows)


def soft_hard_ratios(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                     temperatures: Sequence[float], alpha: float) -> dict:
    """T -> (gradient norm of the soft term as used, α·T²·KL) / (that of the hard term, (1 − α)·CE)."""
    df = kd_gradients(student_logits, teacher_logits, labels, sorted(set(temperatures)), alpha)
    return {float(t): s / max(h, 1e-12) for t, s, h in zip(df["temperature"], df["soft"], df["hard"])}


def kd_gradient_figure(df: pd.DataFrame, temperature: float, alpha: float) -> go.Figure:
    fig = plots.figure(f"Why T²: gradient size of each term on the student's logits (α = {alpha:g})", "temperature T",
                  "mean gradient norm per input (log scale)")
    lines = [("soft", "α·T²·KL (the loss as used)", plots.color_of("distill"), "solid"),
             ("soft_without_t2", "α·KL without T²", plots.color_of("distill"), "dot"),
             ("hard", "(1 − α)·CE with the labels", plots.color_of("scratch"), "solid")]
    for column, name, color, dash in lines:
        fig.add_scatter(x=df["temperature"], y=df[column], mode="lines", name=name, line=dict(color=color, dash=dash),
                        hovertemplate=f"{name}<br>T = %{{x:g}}: %{{y:.3g}}<extra></extra>")
    fig.add_vline(x=temperature, line_dash="dash", line_color="#222",
                  annotation_text=f"T = {temperature:g}", annotation_position="top")
    fig.update_yaxes(type="log", dtick=1)
    return fig


# Measured in docs/distillation.md (digits, lenet300 teacher, mlp 16 student, mean of seeds 0-2).
DOC_FRACTION_RESULTS = pd.DataFrame([
    {"train_fraction": 0.1, "transfer": "all", "accuracy": 0.9726, "scratch_accuracy": 0.9052,
     "teacher_accuracy": 0.9770, "runs": 3},
    {"train_fraction": 0.1, "transfer": "labeled", "accuracy": 0.9511, "scratch_accuracy": 0.9052,
     "teacher_accuracy": 0.9770, "runs": 3},
    {"train_fraction": 1.0, "transfer": "labeled", "accuracy": 0.9719, "scratch_accuracy": 0.9733,
     "teacher_accuracy": 0.9770, "runs": 3},
])


def fraction_results(runs: Sequence[Mapping]) -> pd.DataFrame:
    """Distilled vs scratch accuracy per (labelled fraction, transfer), averaged over finished distill runs
    (store records with full specs, see `report.full_spec`).

    Only runs with a scratch control, on the data set most of them use (accuracies compare
    within one data set only). Empty when there are none.
    """
    rows = [{"dataset": str(r["spec"]["dataset"]), "train_fraction": r["spec"]["train_fraction"],
             "transfer": r["spec"]["transfer"], "accuracy": r["metrics"]["accuracy"],
             "scratch_accuracy": r["metrics"]["scratch_accuracy"],
             "teacher_accuracy": r["metrics"].get("teacher_accuracy")}
            for r in runs if r.get("kind") == "distill" and r.get("status") == "finished"
            and (r.get("metrics") or {}).get("scratch_accuracy") is not None]
    if not rows:
        return pd.DataFrame(columns=["dataset", *DOC_FRACTION_RESULTS.columns])
    df = pd.DataFrame(rows)
    df = df[df["dataset"] == df["dataset"].value_counts().index[0]]
    return (df.groupby(["dataset", "train_fraction", "transfer"], as_index=False)
            .agg(accuracy=("accuracy", "mean"), scratch_accuracy=("scratch_accuracy", "mean"),
                 teacher_accuracy=("teacher_accuracy", "mean"), runs=("accuracy", "size")))


def regime(fraction: float, transfer: str) -> str:
    where = "every input" if transfer == "all" else "the labelled inputs"
    return f"{fmt.pct(fraction, 0)} labels, soft targets on {where}"


def fraction_figure(df: pd.DataFrame, source: str) -> go.Figure:
    """Distilled student vs the same student from scratch for each labelled-fraction regime."""
    df = df.sort_values(["train_fraction", "transfer"])
    names = [regime(f, t) for f, t in zip(df["train_fraction"], df["transfer"])]
    fig = plots.figure(f"Distillation pays off when labels are scarce ({source})", "", "top-1 test accuracy (%)",
                  barmode="group")
    for column, name, method in (("accuracy", "distilled student", "distill"),
                                 ("scratch_accuracy", "same student from scratch", "scratch")):
        fig.add_bar(x=names, y=100 * df[column], name=name, marker_color=plots.color_of(method),
                    customdata=df["runs"], text=[fmt.pct(v, 1) for v in df[column]], textposition="auto",
                    hovertemplate=f"{name}<br>%{{x}}: %{{y:.2f}} % (mean of %{{customdata}} run(s))<extra></extra>")
    teacher = df["teacher_accuracy"].dropna()
    if len(teacher):
        fig.add_hline(y=100 * teacher.mean(), line_dash="dash", line_color=plots.color_of("baseline"),
                      annotation_text=f"teacher {fmt.pct(teacher.mean(), 1)}", annotation_position="top left")
    low = min(100 * df[["accuracy", "scratch_accuracy"]].min().min(), 100 * teacher.min() if len(teacher) else 100)
    fig.update_yaxes(range=[max(0.0, low - 5), 100])
    return fig


# The control of "soft targets need no labels": a second teacher trained on the same 10 % of the labels
# (benchmarks/bench_label_share.py, digits, LeNet-300-100 teachers, mlp-16 student, seeds 0-2; docs/distillation.md).
DOC_LABEL_SHARE = {"teacher on all labels": 0.9778, "teacher on the same labels": 0.9141, "scratch": 0.9052,
                   "distilled, teacher on all labels": 0.9711, "distilled, teacher on the same labels": 0.9111,
                   "seeds": 3, "labeled": 135}


def label_share_figure(summary: Mapping, source: str) -> go.Figure:
    """The student with 10 % of the labels: alone, distilled from a teacher that saw only those labels, and
    distilled from a teacher that saw all of them; each teacher's accuracy beside its student."""
    rows = [("student from scratch<br>(labelled share only)", summary["scratch"], None, "scratch"),
            ("distilled, teacher trained<br>on the same labelled share", summary["distilled, teacher on the same labels"],
             summary["teacher on the same labels"], "distill"),
            ("distilled, teacher trained<br>on ALL labels", summary["distilled, teacher on all labels"],
             summary["teacher on all labels"], "distill")]
    fig = plots.figure(f"Where the gain comes from, {summary['labeled']} labels ({source})", "",
                       "top-1 test accuracy (%)", barmode="group")
    fig.add_bar(x=[r[0] for r in rows], y=[100 * r[1] for r in rows], name="student",
                marker_color=[plots.color_of(r[3]) for r in rows], text=[fmt.pct(r[1], 1) for r in rows],
                textposition="auto", hovertemplate="%{x}: %{y:.2f} %<extra>student</extra>")
    teachers = [r for r in rows if r[2] is not None]
    fig.add_scatter(x=[r[0] for r in teachers], y=[100 * r[2] for r in teachers], mode="markers+text",
                    name="its teacher", marker=dict(symbol="line-ew-open", size=40, color=plots.color_of("baseline")),
                    text=[f"teacher {fmt.pct(r[2], 1)}" for r in teachers], textposition="top center")
    low = min(r[1] for r in rows)
    fig.update_yaxes(range=[max(0.0, 100 * low - 6), 100])
    return fig


# ---------------------------------------------------------------- quantization
def layer_weight(model: nn.Module, layer: str) -> torch.Tensor:
    """A prunable layer's weight, detached (CompressError naming the layers when `layer` is unknown)."""
    layers = dict(prunable_layers(model))
    if layer not in layers:
        raise CompressError(f"unknown layer {layer!r}; allowed: {', '.join(layers)}")
    return layers[layer].weight.detach().cpu()


def narrowest_channel(weight: torch.Tensor) -> int:
    """The output channel with the smallest range max|w| (but not all zero): per-tensor scales hurt it most."""
    amax = weight.abs().reshape(len(weight), -1).amax(dim=1)
    return int(torch.where(amax > 0, amax, torch.inf).argmin())


def grid_view(weight: torch.Tensor, bits: int, granularity: str, channel: int) -> dict:
    """The weights that share one grid (the layer, or one output channel) and that grid's values."""
    _, scale = quantize_symmetric(weight, bits, granularity)
    values = weight[channel].reshape(-1) if scale.dim() else weight.reshape(-1)
    step = float(scale[channel]) if scale.dim() else float(scale)
    qmax = 2 ** (bits - 1) - 1
    edges = histogram_edges(values.numpy(), bins=min(120, max(16, values.numel() // 4)))
    rounded = fake_quantize(weight, bits, granularity)
    shown = rounded[channel].reshape(-1) if scale.dim() else rounded.reshape(-1)
    # The rounding error of the weights on THIS grid, beside this grid's own step: at most half of it.
    # (The layer-wide maximum mixes channels whose steps differ, so it is not comparable with one step.)
    return {"edges": edges, "counts": histogram(values.numpy(), edges),
            "levels": step * np.arange(-qmax, qmax + 1), "step": step,
            "max_abs": float((shown - values).abs().max()) if values.numel() else 0.0}


def error_vs_bits(weight: torch.Tensor) -> pd.DataFrame:
    """Rounding error of the layer at every bit width, per tensor and per channel (SQNR in dB, MSE)."""
    return pd.DataFrame([{"bits": b, "granularity": g, **quantization_error(weight, b, g)}
                         for g in GRANULARITY_LABELS for b in BITS])


def error_figure(df: pd.DataFrame, bits: int, layer: str) -> go.Figure:
    """SQNR against bits: about 6 dB per extra bit, higher with per-channel scales."""
    fig = plots.figure(f"{layer}: rounding error vs bits", "bits per weight",
                  "signal-to-quantization-noise ratio (dB, higher is better)")
    for g, color in GRANULARITY_COLORS.items():
        label = GRANULARITY_LABELS[g]
        part = df[df["granularity"] == g]
        fig.add_scatter(x=part["bits"], y=part["sqnr_db"], mode="lines+markers", name=label, line_color=color,
                        customdata=part["mse"],
                        hovertemplate=f"{label}<br>%{{x}} bits: %{{y:.1f}} dB (MSE %{{customdata:.2g}})<extra></extra>")
    fig.add_vline(x=bits, line_dash="dash", line_color="#222", annotation_text=f"{bits} bits",
                  annotation_position="top left")
    fig.update_xaxes(dtick=1)
    return fig


def accuracy_vs_bits(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> pd.DataFrame:
    """Test accuracy with every weight fake-quantized, for each bit width and granularity."""
    rows = []
    for g, label in GRANULARITY_LABELS.items():
        for b in BITS:
            accuracy, _ = evaluate(fake_quantize_model(copy.deepcopy(model), b, g), x, y)
            rows.append({"bits": b, "granularity": g, "label": label, "accuracy": accuracy})
    return pd.DataFrame(rows)


def levels_per_channel(weight: torch.Tensor, bits: int) -> pd.DataFrame:
    """How many grid values fall inside each output channel's range [-max|w|, max|w|].

    With one scale per tensor the grid is sized for the widest channel, so narrow channels
    get only a few values; with one scale per channel every channel uses all 2^k - 1.
    """
    amax = weight.abs().reshape(len(weight), -1).amax(dim=1)
    qmax = 2 ** (bits - 1) - 1
    step = float(amax.max()) / qmax if float(amax.max()) > 0 else 1.0
    per_tensor = 2 * torch.floor(amax / step + 1e-9).long() + 1
    df = pd.DataFrame({"channel": range(len(weight)), "range": amax.numpy(), "levels_tensor": per_tensor.numpy(),
                       "levels_channel": 2 * qmax + 1})
    return df.sort_values("range").reset_index(drop=True)


def levels_figure(frames: Mapping[int, pd.DataFrame], bits: int, layer: str) -> go.Figure:
    """Grid values each output channel can use, per tensor vs per channel, channels sorted by range: the curves of
    every bit width in `frames` (bits -> `levels_per_channel`) drawn faint, those of `bits` drawn strong over them.

    Why this way: the faint curves are the same traces at every bit width, and the strong pair are two layout shapes
    (path shapes in data coordinates), so a move of the bits slider changes only two shapes and the title, which
    plotly.js redraws alone instead of recomputing the figure (docs/performance.md, eighth round). The reader sees
    where the other widths lie, and hovering a curve (the faint trace under a strong one too) names its bit width.
    The y axis is logarithmic over a fixed range (1 to 2^8 − 1 values, ticks at 2^k − 1), so it never rescales
    between moves and each extra bit is one step up. The legend is two entries in the strong style (traces without
    points).
    """
    fig = plots.figure(f"{layer} at {bits} bits: grid values inside each output channel's range "
                       f"(faint: {min(frames)}-{max(frames)} bits)",
                       "output channels, narrowest range first", "grid values a channel can use (log scale)")
    strong = {"channel": 3, "tensor": 2}
    traces = []
    for k, df in sorted(frames.items()):
        rank = np.arange(len(df), dtype=np.int16 if len(df) < 2 ** 15 else np.int32)
        look = dict(type="scatter", mode="lines", opacity=0.3, showlegend=False)
        traces.append(dict(look, x=rank, y=df["levels_channel"].to_numpy(np.int16), name=f"{k} bits, per channel",
                           line=dict(color=GRANULARITY_COLORS["channel"], width=1),
                           hovertemplate=f"{k} bits, one scale per channel: every channel uses all %{{y}} values"
                                         "<extra></extra>"))
        # a step line, not a marker per channel: one SVG path instead of hundreds
        traces.append(dict(look, x=rank, y=df["levels_tensor"].to_numpy(np.int16), name=f"{k} bits, per tensor",
                           line=dict(color=GRANULARITY_COLORS["tensor"], width=1, shape="hv"),
                           customdata=np.column_stack([df["channel"], df["range"]]).astype(np.float32),
                           hovertemplate=f"{k} bits, one scale per tensor: channel %{{customdata[0]}} "
                                         "(max |w| = %{customdata[1]:.3f}): %{y} values<extra></extra>"))
    traces += [plots.legend_entry(GRANULARITY_LABELS[g], dict(color=GRANULARITY_COLORS[g], width=strong[g]))
               for g in ("channel", "tensor")]
    fig.add_traces(traces)  # in one call: add_scatter one by one cost 3 ms a trace
    chosen = frames.get(bits)  # a width without curves of its own (not in `frames`) is drawn with none strong
    fig.update_layout(shapes=[] if chosen is None else [  # layout dicts, not add_shape: plotly.py validates each
        dict(type="path", xref="x", yref="y", layer="above", path=step_path(chosen[column].to_numpy()),
             line=dict(color=GRANULARITY_COLORS[g], width=strong[g]), name=f"{bits} bits, {label}")
        for g, column, label in (("channel", "levels_channel", "per channel"),
                                 ("tensor", "levels_tensor", "per tensor"))])  # added shape at several ms
    ticks = [2 ** k - 1 for k in range(1, max(MAX_BITS, *frames) + 1)]  # 1, 3, 7, ..., 255: 2^k - 1 values
    fig.update_yaxes(type="log", range=[math.log10(0.8), math.log10(ticks[-1] * 1.25)], tickvals=ticks,
                     ticktext=[str(t) for t in ticks])
    return fig


def step_path(y: np.ndarray) -> str:
    """An SVG path (data coordinates, x = 0, 1, ...) through `y` drawn as plotly.js's "hv" step line: each value
    held until the next x, then a vertical step. Only the corners are written, so a run of equal values is one
    segment; the path ends at the last point, as the trace does."""
    y = np.asarray(y, dtype=float)
    if len(y) == 0:
        return ""
    steps = np.flatnonzero(np.diff(y)) + 1  # x where the value changes
    parts = [f"M0,{y[0]:.9g}"]
    for x in steps:
        parts.append(f"H{x}V{y[x]:.9g}")
    last = steps[-1] if len(steps) else 0
    if last < len(y) - 1:
        parts.append(f"H{len(y) - 1}")
    return "".join(parts)


# ---------------------------------------------------------------- evidence from the run store
def best_runs(runs: Sequence[Mapping], max_loss: float = 0.01) -> pd.DataFrame:
    """Per method, the finished run that shrinks the model most while losing at most `max_loss` accuracy.

    Columns: method, id, compression_ratio, accuracy_change, and `trade_off`, the report's
    plain sentence ("4.1× smaller, ..."). Empty when no run qualifies.
    """
    from compress_core.present.report import trade_off

    by_id = {r["id"]: r for r in runs}
    points = plots.run_points([r for r in runs if r.get("status") == "finished" and r.get("kind") != "train"])
    points = points.dropna(subset=["compression_ratio", "accuracy_change"])
    points = points[points["accuracy_change"] >= -max_loss]
    if points.empty:
        return pd.DataFrame(columns=["method", "id", "compression_ratio", "accuracy_change", "trade_off"])
    best = points.sort_values("compression_ratio", ascending=False).groupby("method", sort=True).head(1)
    best = best[["method", "id", "compression_ratio", "accuracy_change"]].reset_index(drop=True)
    best["trade_off"] = [trade_off(by_id[i]) for i in best["id"]]
    return best


def int8_evidence(runs: Sequence[Mapping]) -> str:
    """What this lab measured for int8, as one sentence for the FAQ: the latest finished int8 run's size ratio
    and batch-64 speed-up against fp32, or what to expect and how to measure it when there is none."""
    int8 = [r for r in runs if r.get("kind") == "quantize" and (r.get("spec") or {}).get("scheme") == "int8"
            and r.get("status") == "finished" and (r.get("metrics") or {}).get("compression_ratio")]
    if not int8:
        return ("8-bit weights take a quarter of fp32's bits, but the file also holds scales, zero points and the "
                "graph, so it is a little less than 4× smaller, and on small models int8 kernels can be slower than "
                "fp32 (per-call quantize/dequantize overhead). Run an int8 quantization: the Quantize page shows its "
                "size and latency beside fp32.")
    run = max(int8, key=lambda r: r.get("created") or r.get("id") or "")
    m = run["metrics"]
    speed = m.get("speedup_b64")
    verdict = ("faster" if speed and speed > 1.05 else "slower" if speed and speed < 0.95 else "about as fast")
    return (f"your int8 run `{run['id']}` ({run['spec'].get('model')}) is {fmt.ratio(m['compression_ratio'])} smaller "
            f"than its fp32 baseline (not 4×: scales, zero points and the graph take bytes too) and "
            f"{verdict} at batch 64 ({fmt.ratio(speed)} the fp32 speed, measured in the same runtime).")
