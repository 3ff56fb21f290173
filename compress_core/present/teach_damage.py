"""The Learn page's per-class damage lesson (Hooker et al. 2019, "What do compressed deep neural networks forget?").

The paper's point: a pruned model's top-1 accuracy can stay close to the dense model's while a few
classes, and a few hard examples, pay most of the cost. Here the teaching model is pruned by the
engine (`teach.pruned_copy`: global L1 masks) at a few sparsities, optionally fine-tuned the way runs
fine-tune (`training.baseline.finetune_config`), and compared with the dense model on the same test
images through `explore.flips` (`per_class`, `flip_tables`): accuracy per class, the change per class
against the change overall, and the examples whose answer flipped.

Honest about size: digits has 450 test images, about 45 per class, so one image moves a class by
about 2.2 points. Each class's accuracy carries a 95 % Wilson interval, and a class is called hit
*beyond noise* only when more of its images were forgotten than the overall forgetting rate explains:
a one-sided binomial test (scipy) at 5 %, Bonferroni-corrected over the classes. Without that test,
the worst of ten noisy classes always looks alarming. No Streamlit here (`ui/learn_damage.py`).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
import torch
from torch import nn

from compress_core import fmt
from compress_core.explore.flips import flip_masks, flip_tables, per_class
from compress_core.present import plots
from compress_core.present.executive import wilson
from compress_core.present.teach import pruned_copy
from compress_core.specs import check_range
from compress_core.training.loop import predict_logits

SPARSITIES = (0.5, 0.7, 0.8, 0.9, 0.95)  # shares of the weights removed (global L1)
FINETUNE_EPOCHS = 2  # the lesson's fine-tuned variant: the lab's cosine Adam fine-tuning, this many epochs
ALPHA = 0.05  # family-wise level of the "hit beyond noise" test over all classes
HIT, OTHER = "#d62728", "#7f9fbf"


def probabilities(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    """Softmax class probabilities (N, K) of `model` on `x`, in eval mode, without gradients."""
    return torch.softmax(predict_logits(model, x, torch.device("cpu")), dim=1).numpy()


def class_flags(y, base_pred, run_pred, num_classes: int, alpha: float = ALPHA) -> list[dict]:
    """Per class: images forgotten (dense right, pruned wrong) against what the overall rate predicts.

    Under the null hypothesis every image the dense model gets right is forgotten with the same
    probability, the overall rate (all forgotten / all the dense model got right). A class is
    `flagged` when P(X >= its forgotten count) under Binomial(its dense-correct images, that rate) is
    below alpha / num_classes (Bonferroni). Returns one row per class: class, base_correct, forgotten,
    expected, p_value, flagged.
    """
    from scipy.stats import binom  # ~0.8 s to import: only when a lesson measures the damage (issue 19)

    y = np.asarray(y, dtype=np.int64).reshape(-1)
    base_pred, run_pred = np.asarray(base_pred).reshape(-1), np.asarray(run_pred).reshape(-1)
    forgotten, _ = flip_masks(y, base_pred, run_pred)
    base_ok = base_pred == y
    rate = forgotten.sum() / max(int(base_ok.sum()), 1)
    rows = []
    for c in range(num_classes):
        members = y == c
        n_ok, lost = int((base_ok & members).sum()), int((forgotten & members).sum())
        p = float(binom.sf(lost - 1, n_ok, rate)) if n_ok else 1.0  # P(X >= lost)
        rows.append({"class": c, "base_correct": n_ok, "forgotten": lost, "expected": float(rate * n_ok),
                     "p_value": p, "flagged": bool(lost > 0 and p < alpha / num_classes)})
    return rows


def compare(y, base_probs: np.ndarray, run_probs: np.ndarray, class_names: Sequence[str]) -> dict:
    """Overall and per-class accuracy of the pruned model against the dense one on the same images.

    {examples, baseline_accuracy, accuracy, change, counts (flip_tables' counts), classes: per_class rows
    plus low/high (95 % Wilson interval of the pruned class accuracy), base_correct, forgotten, learnt,
    expected, p_value, flagged}, worst: the class with the largest drop.
    """
    y = np.asarray(y, dtype=np.int64).reshape(-1)
    base_pred, run_pred = base_probs.argmax(1), run_probs.argmax(1)
    rows = per_class(y, base_pred, run_pred, list(class_names))
    flags = class_flags(y, base_pred, run_pred, len(class_names))
    _, learnt = flip_masks(y, base_pred, run_pred)
    for row, flag in zip(rows, flags):
        n = row["examples"]
        low, high = wilson(row["run_accuracy"], n) if n else (None, None)
        row.update(low=low, high=high, learnt=int((learnt & (y == row["class"])).sum()),
                   **{k: flag[k] for k in ("base_correct", "forgotten", "expected", "p_value", "flagged")})
    counts = flip_tables(y, base_probs, run_probs, limit=0)["counts"]
    n = len(y)
    accuracy, baseline = counts["run_correct"] / n, counts["baseline_correct"] / n
    usable = [r for r in rows if r["difference"] is not None]
    worst = min(usable, key=lambda r: (r["difference"], r["class"]))
    return {"examples": n, "baseline_accuracy": baseline, "accuracy": accuracy, "change": accuracy - baseline,
            "counts": counts, "classes": rows, "worst": worst}


def class_damage(model: nn.Module, data, sparsities: Sequence[float] = SPARSITIES, finetune_epochs: int = 0,
                 seed: int = 0) -> list[dict]:
    """`compare` at each sparsity (global L1), with `finetune_epochs` of the lab's fine-tuning (0: none).

    `model` is not modified. Each entry also holds `sparsity` and `finetune_epochs`.
    """
    from compress_core.training.baseline import default_batch_size, finetune_config
    from compress_core.training.loop import fit

    check_range("finetune_epochs", finetune_epochs, 0, 100, integer=True)
    base_probs = probabilities(model, data.x_test)
    out = []
    for amount in sparsities:
        pruned = pruned_copy(model, amount, "global")
        if finetune_epochs:  # masks stay: the pruned weights get no gradient through the mask
            fit(pruned, data, finetune_config(finetune_epochs, None, data, default_batch_size(data), seed),
                device=torch.device("cpu"))
        entry = compare(data.y_test, base_probs, probabilities(pruned, data.x_test), data.class_names)
        out.append({"sparsity": amount, "finetune_epochs": finetune_epochs, **entry})
    return out


def damage_text(entry: dict) -> str:
    """What one sparsity shows, in sentences (every number from `compare`)."""
    n, counts, worst = entry["examples"], entry["counts"], entry["worst"]
    net = counts["run_correct"] - counts["baseline_correct"]
    flagged = [r["label"] for r in entry["classes"] if r["flagged"]]
    text = (f"Top-1 moves by {fmt.pp(entry['change'])} ({net:+d} images of {n} net: "
            f"{fmt.pct(entry['accuracy'])} against {fmt.pct(entry['baseline_accuracy'])}). Behind that net number, "
            f"{counts['forgotten'] + counts['learnt']} images changed answer: {counts['forgotten']} forgotten (dense "
            f"right, pruned wrong) and {counts['learnt']} learnt. The hardest-hit digit, {worst['label']}, moves by "
            f"{fmt.pp(worst['difference'])} ({worst['forgotten']} of its {worst['examples']} images forgotten, "
            f"{worst['learnt']} learnt). ")
    if flagged:
        text += (f"Hit beyond noise (more images forgotten than the overall rate explains, binomial test, 5 % "
                 f"over all {len(entry['classes'])} classes): digit{'s' if len(flagged) > 1 else ''} "
                 f"{', '.join(flagged)}.")
    else:
        text += ("No digit is hit beyond noise: with about 45 images per class, these differences could come from "
                 "the overall forgetting rate landing unevenly by chance.")
    return text


def spread_figure(levels: Sequence[dict], highlight: int | None = None) -> go.Figure:
    """Accuracy change per digit (thin lines) and overall (thick) against the share of weights removed.

    `highlight`: the class drawn in red (default: the hardest-hit class at the highest sparsity)."""
    tuned = levels[0]["finetune_epochs"] if levels else 0
    fig = plots.figure("Top-1 hides uneven damage: each digit's accuracy change vs the overall change"
                       + (f" (after {tuned} fine-tuning epochs)" if tuned else " (no fine-tuning)"),
                       "weights removed (%)", "accuracy change vs the dense model (points)")
    x = [fmt.pct(e["sparsity"], 0) for e in levels]  # categories: evenly spaced, labelled as they are
    classes = levels[0]["classes"] if levels else []
    worst = {levels[-1]["worst"]["class"] if highlight is None else highlight} if levels else set()
    for i, row in enumerate(classes):
        y = [100 * e["classes"][i]["difference"] for e in levels]
        hit = row["class"] in worst
        fig.add_scatter(x=x, y=y, mode="lines+markers", name=f"digit {row['label']}",
                        line=dict(width=2.5 if hit else 1, color=HIT if hit else OTHER),
                        marker=dict(size=5), opacity=1 if hit else 0.7,
                        hovertemplate=f"digit {row['label']}<br>%{{x}} removed: %{{y:+.1f}} points<extra></extra>")
    fig.add_scatter(x=x, y=[100 * e["change"] for e in levels], mode="lines+markers", name="top-1, all digits",
                    line=dict(width=4, color="#222"),
                    hovertemplate="all digits<br>%{x} removed: %{y:+.1f} points<extra></extra>")
    fig.update_xaxes(type="category")
    return fig


def class_figure(entry: dict) -> go.Figure:
    """Each digit's accuracy change at one sparsity, with its 95 % interval, beside the overall change."""
    rows = entry["classes"]
    labels = [f"digit {r['label']}" for r in rows]
    change = [100 * r["difference"] for r in rows]
    upper = [100 * (r["high"] - r["run_accuracy"]) for r in rows]
    lower = [100 * (r["run_accuracy"] - r["low"]) for r in rows]
    colors = [HIT if r["flagged"] else OTHER for r in rows]
    custom = [[r["forgotten"], r["learnt"], r["examples"], r["p_value"]] for r in rows]
    tuned = entry["finetune_epochs"]
    fig = plots.figure(f"At {fmt.pct(entry['sparsity'], 0)} of the weights removed"
                       + (f", {tuned} fine-tuning epochs" if tuned else ", no fine-tuning")
                       + ": accuracy change per digit", "", "accuracy change vs the dense model (points)")
    fig.add_bar(x=labels, y=change, marker_color=colors, name="per digit",
                error_y=dict(type="data", symmetric=False, array=upper, arrayminus=lower, thickness=1.2),
                customdata=custom,
                hovertemplate="%{x}: %{y:+.1f} points<br>%{customdata[0]} forgotten, %{customdata[1]} learnt of "
                              "%{customdata[2]} images<br>binomial p = %{customdata[3]:.2g}<extra></extra>")
    fig.add_hline(y=100 * entry["change"], line_dash="dash", line_color="#222",
                  annotation_text=f"top-1, all digits: {fmt.pp(entry['change'])}", annotation_position="top left")
    fig.add_annotation(text="red: hit beyond noise (binomial test, 5 % over all classes); whiskers: 95 % interval "
                            "of the class accuracy (~45 images each)",
                       xref="paper", yref="paper", x=0, y=1.06, showarrow=False, xanchor="left",
                       font=dict(size=11, color="#555"))
    fig.update_layout(showlegend=False)
    return fig
