"""The Learn page's "predict, then reveal" questions, one per section, each answered by a measurement.

`pages/learn.py` calls one function at the end of each lesson; the lottery and per-class damage
lessons (`ui/learn_lottery.py`, `ui/learn_damage.py`) call theirs. Every answer comes from
`compress_core.present.teach_predict` (the engine's pruning, AGP schedule, quantizer, the label-share
control, the lottery and damage lessons' measurements): nothing here is typed in.
"""
from __future__ import annotations

from typing import Callable

import pandas as pd
import streamlit as st

from compress_core import fmt
from compress_core.models.zoo import prunable_layers
from compress_core.present import teach_predict as tp
from compress_core.present.teach import GRANULARITY_LABELS
from compress_core.present.teach_controls import SETTINGS
from ui import predict

PRUNE_AMOUNT = 0.9
AGP = (0.0, 0.9, 10, 5)  # start, end, steps, the step asked about
QUANT_BITS = 4


def _points(v: float) -> str:
    return f"{100 * v:.1f} points"


def _table(rows: dict, value_name: str, key: str, show: Callable = fmt.pct) -> None:
    st.dataframe(pd.DataFrame({"": list(rows), value_name: [show(v) for v in rows.values()]}), hide_index=True,
                 key=key)


def pruning(base) -> None:
    """At 90 % global pruning, which layer is emptied most? (measured per-layer sparsities)"""
    layers = {name: "×".join(map(str, m.weight.shape)) for name, m in prunable_layers(base.model)}

    def details(measured, _guess) -> None:
        sizes = tp.layer_magnitudes(base.model)
        st.dataframe(pd.DataFrame({"layer": list(measured),
                                   f"zeros after global L1 at {fmt.pct(PRUNE_AMOUNT, 0)}": [fmt.pct(v) for v in
                                                                                           measured.values()],
                                   "inputs per unit": [sizes[n]["fan_in"] for n in measured],
                                   "mean |w| before": [f"{sizes[n]['mean_abs']:.3f}" for n in measured]}),
                     hide_index=True, key="learn_predict_prune_table")
        st.caption("Measured just now. One magnitude threshold holds for all layers, so the layer whose weights are "
                   "smallest in |w| loses most (compare the last column). A per-layer scope would give every layer "
                   f"{fmt.pct(PRUNE_AMOUNT, 0)}.")

    predict.ask("learn_predict_prune",
                f"Prune {fmt.pct(PRUNE_AMOUNT, 0)} of the model's weights with one global magnitude threshold. "
                "Which layer is emptied most?",
                options=list(layers), format_func=lambda n: f"{n} ({layers[n]} weights)",
                measure=lambda: tp.layer_sparsities(base.model, PRUNE_AMOUNT),
                judge=lambda g, m: tp.judge_choice(g, m, largest=True, most="is emptied most"),
                details=details, note="It is the engine's global L1 pruning, counted layer by layer.")


def gradual() -> None:
    """AGP from 0 to 90 % in 10 steps: the sparsity after half the steps (the engine's schedule)."""
    start, end, steps, step = AGP

    def details(measured, _guess) -> None:
        linear = start + (end - start) * step / steps
        st.caption(f"The engine's cubic schedule is at {fmt.pct(measured)} after step {step} of {steps}; a linear "
                   f"one would be at {fmt.pct(linear)}. Cubic AGP removes most weights early, while many are "
                   "redundant, and slows down near the end.")

    predict.ask("learn_predict_agp",
                f"AGP from {fmt.pct(start, 0)} to {fmt.pct(end, 0)} sparsity in {steps} steps: what is the sparsity "
                f"after step {step}, half of the steps?",
                slider=dict(min_value=0, max_value=int(100 * end), value=int(50 * end), step=1, format="%d%%"),
                measure=lambda: tp.agp_sparsity_after(start, end, steps, step),
                judge=lambda g, m: tp.judge_number(g / 100, m, tolerance=0.05, unit_gap=_points),
                details=details, note="It is the engine's AGP schedule (the one the Prune page runs).")


def distillation(control: Callable[[], dict]) -> None:
    """With 10 % of the labels, which student wins? `control()` is the page's cached label-share measurement."""
    def details(measured, _guess) -> None:
        _table({k: measured[k] for k in SETTINGS}, "test accuracy, seed 0", "learn_predict_kd_table")
        gain = measured[SETTINGS[1]] - measured[SETTINGS[0]]
        st.caption(f"Measured just now, one seed: distilled (teacher on all labels) minus scratch is {fmt.pp(gain)} "
                   f"({round(gain * 450):+d} of 450 test images). With one seed, gaps under about 2 points are "
                   "within noise.")

    predict.ask("learn_predict_kd",
                "Only 10 % of the training labels are known. Which student (an mlp with 16 hidden units) scores "
                "highest on the test digits?", options=list(SETTINGS),
                measure=lambda: {k: v for k, v in control().items() if k in SETTINGS or k == "labeled"},
                judge=lambda g, m: tp.judge_choice(g, {k: m[k] for k in SETTINGS}, largest=True,
                                                   most="scores highest"),
                details=details, spinner="Training the two teachers and three students (about 20 s)…",
                note="Committing trains a teacher and three students here (seed 0, about 20 s on 2 cores).")


def quantization(base) -> None:
    """At 4 bits, is the rounding error larger per tensor or per channel? (measured over every weight)"""
    def details(measured, _guess) -> None:
        _table({GRANULARITY_LABELS[g]: v for g, v in measured.items()}, "mean squared rounding error",
               "learn_predict_quant_table", show=lambda v: f"{v:.3g}")
        st.caption(f"Measured just now over all weights at {QUANT_BITS} bits: one scale per tensor has "
                   f"{fmt.ratio(measured['tensor'] / measured['channel'])} the error of one scale per output channel. "
                   "A per-tensor grid is sized for the widest channel, so narrow channels round coarsely.")

    predict.ask("learn_predict_quant",
                f"Every weight on a {QUANT_BITS}-bit grid: which gives the larger rounding error over the whole "
                "model?", options=list(GRANULARITY_LABELS), format_func=GRANULARITY_LABELS.get,
                measure=lambda: tp.rounding_errors(base.model, QUANT_BITS),
                judge=lambda g, m: tp.judge_choice(g, m, largest=True, show=lambda v: f"MSE {v:.3g}",
                                                   name=GRANULARITY_LABELS.get, most="gives the larger error"),
                details=details, note="It is the engine's fake quantizer, applied to every layer.")
