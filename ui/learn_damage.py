"""The Learn page's lesson "What does pruning forget?" (Hooker et al. 2019), measured on the teaching model.

Its own module so the rest of the Learn page can change without touching it: `pages/learn.py`
calls `lesson(base, try_it)` once. The numbers come from `compress_core.present.teach_damage`
(the engine's global L1 pruning, optional fine-tuning, `explore.flips`), cached across sessions per
baseline and fine-tuning budget: without fine-tuning they take well under a second, with it about
a second more.
"""
from __future__ import annotations

from typing import Callable

import streamlit as st

from compress_core import fmt
from compress_core.present import teach_damage as td
from compress_core.present import teach_predict as tp
from ui import common, predict, profile

P = "learn_damage"
QUESTION_SPARSITY = 0.8


@st.cache_data(show_spinner="Pruning at each sparsity and comparing every test image…", max_entries=8)
def damage(key: str, _base, finetune_epochs: int) -> list[dict]:
    """`teach_damage.class_damage` of baseline `key`, once per server and fine-tuning budget."""
    return td.class_damage(_base.model, _base.data, td.SPARSITIES, finetune_epochs)


@st.fragment
@profile.timed("learn-damage")
def lesson(base, try_it: Callable[[str, str, dict, str], None]) -> None:
    """Draw the lesson; `try_it` is the Learn page's button that opens another page preset."""
    st.subheader("What does pruning forget? Top-1 hides uneven damage")
    st.markdown("Hooker et al. (2019, *What do compressed deep neural networks forget?*) prune image classifiers "
                "until top-1 accuracy has barely moved, and find that the cost is not spread evenly: a few classes "
                "and a small set of hard, atypical examples lose most. A single accuracy number averages that away. "
                "Here the lesson model is pruned by global magnitude at a few sparsities and compared with the dense "
                "model image by image.")
    c = st.columns([1, 2])
    tuned = c[0].radio("Fine-tuning after pruning", (0, td.FINETUNE_EPOCHS), key="learn_damage_finetune",
                       format_func=lambda e: f"{e} epochs (the lab's cosine Adam)" if e else "none",
                       help="the paper prunes during training; fine-tuning recovers the average, not every class")
    levels = damage(base.info["key"], base, tuned)
    names = [fmt.pct(e["sparsity"], 0) for e in levels]
    picked = c[1].select_slider("Share of the weights removed", names, value=fmt.pct(QUESTION_SPARSITY, 0),
                                key="learn_damage_sparsity")
    entry = levels[names.index(picked)]
    counts = entry["counts"]
    common.metric_grid([
        ("Top-1 accuracy", fmt.pct(entry["accuracy"]), fmt.pp(entry["change"]),
         f"all {entry['examples']} test digits; dense {fmt.pct(entry['baseline_accuracy'])}"),
        (f"Hardest-hit digit: {entry['worst']['label']}", fmt.pct(entry["worst"]["run_accuracy"]),
         fmt.pp(entry["worst"]["difference"]),
         f"{entry['worst']['examples']} test images; 95 % interval {fmt.pct(entry['worst']['low'])} – "
         f"{fmt.pct(entry['worst']['high'])}"),
        ("Images that flipped", fmt.count(counts["forgotten"] + counts["learnt"]),
         f"{counts['forgotten']} forgotten, {counts['learnt']} learnt",
         "forgotten: the dense model was right and the pruned one is wrong; learnt: the reverse"),
        ("Digits hit beyond noise", str(sum(r["flagged"] for r in entry["classes"])), None,
         "more images forgotten than the overall rate explains: one-sided binomial test, 5 % over all 10 digits"),
    ], per_row=4)
    common.chart(td.class_figure(entry), key="learn_damage_classes")  # updated in place per move
    st.markdown(td.damage_text(entry))
    common.chart(td.spread_figure(levels, entry["worst"]["class"]), key="learn_damage_spread")
    st.caption(f"Honest limits: {entry['examples']} test images, about 45 per digit, so one image moves a digit by "
               "about 2.2 points, and the worst of ten digits always looks bad by chance: that is why only a "
               "binomial test against the overall forgetting rate marks a digit red. One model, one seed; the paper "
               "compares populations of independently trained models at each sparsity, and finds that the examples "
               "they forget (pruning-identified exemplars) are mostly atypical, hard ones. A run's Explain "
               "section lists the examples forgotten under most seeds of a seed sweep.")
    try_it(f"prune {picked} with {tuned or 3} fine-tuning epochs, then open Explain on its run", "pages/prune.py",
           {"prune_dataset": "digits", "prune_model": "lenet300", "prune_method": "l1", "prune_scope": "global",
            "prune_schedule": "oneshot", "prune_amount": round(100 * entry["sparsity"]),
            "prune_epochs": tuned or 3, "prune_baseline_epochs": base_epochs()}, "learn_damage_try")
    question(base)


def base_epochs() -> int:
    """The other pages' 'baseline epochs' box value for the teaching baseline (0: the data set's default)."""
    from compress_core.present.teach import TEACHING_SPEC

    return TEACHING_SPEC.epochs or 0


def question(base) -> None:
    """At 90 % without fine-tuning, which digit loses most?"""
    def details(entry, _guess) -> None:
        changes = tp.class_changes(entry)
        st.caption("Measured just now, per digit (points): " + ", ".join(f"{d}: {100 * v:+.1f}"
                                                                       for d, v in changes.items())
                   + f". Top-1 moved by {fmt.pp(entry['change'])}. One image is about 2.2 points of a digit, so "
                     "digits a few points apart are within noise of each other.")

    def measure() -> dict:
        levels = damage(base.info["key"], base, 0)
        return next(e for e in levels if e["sparsity"] == QUESTION_SPARSITY)

    predict.ask("learn_predict_damage",
                f"Prune {fmt.pct(QUESTION_SPARSITY, 0)} of the weights (global magnitude, no fine-tuning). Which "
                "digit loses the most accuracy?", options=[str(d) for d in base.data.class_names],
                format_func=lambda d: f"digit {d}", measure=measure,
                judge=lambda g, m: tp.judge_choice(g, tp.class_changes(m), largest=False, show=fmt.pp,
                                                   name=lambda d: f"digit {d}", most="loses most"),
                details=details, note="It is the engine's pruning, evaluated on every test image.")
