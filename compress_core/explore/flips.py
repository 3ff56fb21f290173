"""What changed between a baseline's and a compressed model's predictions, as pure functions.

Inputs are plain arrays over the same test examples: true labels `y` (N,), and each model's
class probabilities (N, K). Nothing here loads a model, so the tables can be checked against
predictions written by hand (tests/test_explain.py does).

- `per_class`: accuracy per class of both models and the difference (run - baseline, points of 1.0).
- `confusion_difference`: confusion matrix of the run minus that of the baseline (rows: true class,
  columns: predicted class); positive off-diagonal cells are new mistakes.
- `flip_tables`: the *forgotten* examples (baseline right, run wrong), ranked by the run's
  probability of its wrong class (how confidently it is now wrong), and the *learnt* ones
  (baseline wrong, run right), ranked by the run's probability of the true class.
- `seed_exemplars`: across the seeds of a sweep, the examples forgotten under most seeds:
  compression-identified exemplars (Hooker et al. 2019, "What do compressed deep neural networks
  forget?", which compares populations of models; here a strict majority of the seeds' runs).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

CONFIDENCE = {
    "forgotten": "the compressed model's probability of its wrong predicted class",
    "learnt": "the compressed model's probability of the true class (its prediction)",
}


def _labels(y) -> np.ndarray:
    return np.asarray(y, dtype=np.int64).reshape(-1)


def per_class(y, base_pred, run_pred, class_names: Sequence[str] | None = None) -> list[dict]:
    """One row per class: {class, label, examples, baseline_accuracy, run_accuracy, difference}.

    Accuracies are shares in [0, 1] (None for a class without test examples); `difference` is
    run - baseline.
    """
    y, base_pred, run_pred = _labels(y), _labels(base_pred), _labels(run_pred)
    k = len(class_names) if class_names else int(max(y.max(initial=-1), base_pred.max(initial=-1),
                                                     run_pred.max(initial=-1)) + 1)
    rows = []
    for c in range(k):
        members = y == c
        n = int(members.sum())
        base = float((base_pred[members] == c).mean()) if n else None
        run = float((run_pred[members] == c).mean()) if n else None
        rows.append({"class": c, "label": str(class_names[c]) if class_names else str(c), "examples": n,
                     "baseline_accuracy": base, "run_accuracy": run,
                     "difference": None if n == 0 else run - base})
    return rows


def confusion(y, pred, k: int) -> np.ndarray:
    """Counts[true, predicted] over the examples."""
    out = np.zeros((k, k), dtype=np.int64)
    np.add.at(out, (_labels(y), _labels(pred)), 1)
    return out


def confusion_difference(y, base_pred, run_pred, k: int) -> np.ndarray:
    """confusion(run) - confusion(baseline): where the run gained (+) or lost (-) examples."""
    return confusion(y, run_pred, k) - confusion(y, base_pred, k)


def flip_masks(y, base_pred, run_pred) -> tuple[np.ndarray, np.ndarray]:
    """(forgotten, learnt) boolean masks: baseline right and run wrong; baseline wrong and run right."""
    y, base_pred, run_pred = _labels(y), _labels(base_pred), _labels(run_pred)
    base_ok, run_ok = base_pred == y, run_pred == y
    return base_ok & ~run_ok, ~base_ok & run_ok


def flip_tables(y, base_probs, run_probs, limit: int | None = None, ids=None) -> dict:
    """{"forgotten": rows, "learnt": rows, "counts": {...}, "confidence": CONFIDENCE}.

    A row: {id, true, baseline_pred, run_pred, confidence, baseline_true_prob, run_true_prob}.
    `id` is the example's index in the test split (or `ids[i]`). Forgotten rows are sorted by the
    run's probability of its wrong class, learnt rows by its probability of the true class, both
    highest first (ties: lower id first); `limit` keeps the first rows of each.
    """
    y = _labels(y)
    base_probs, run_probs = np.asarray(base_probs, dtype=np.float64), np.asarray(run_probs, dtype=np.float64)
    base_pred, run_pred = base_probs.argmax(1), run_probs.argmax(1)
    forgotten, learnt = flip_masks(y, base_pred, run_pred)
    rows_idx = np.arange(len(y))
    true_base = base_probs[rows_idx, y]
    true_run = run_probs[rows_idx, y]
    run_top = run_probs[rows_idx, run_pred]
    ids = rows_idx if ids is None else np.asarray(ids)

    def table(mask: np.ndarray, score: np.ndarray) -> list[dict]:
        chosen = np.flatnonzero(mask)
        order = chosen[np.lexsort((chosen, -score[chosen]))]  # score descending, then id ascending
        if limit is not None:
            order = order[:limit]
        return [{"id": int(ids[i]), "true": int(y[i]), "baseline_pred": int(base_pred[i]),
                 "run_pred": int(run_pred[i]), "confidence": float(score[i]),
                 "baseline_true_prob": float(true_base[i]), "run_true_prob": float(true_run[i])} for i in order]

    return {"forgotten": table(forgotten, run_top), "learnt": table(learnt, true_run),
            "counts": {"examples": int(len(y)), "forgotten": int(forgotten.sum()), "learnt": int(learnt.sum()),
                       "baseline_correct": int((base_pred == y).sum()), "run_correct": int((run_pred == y).sum())},
            "confidence": dict(CONFIDENCE)}


def seed_exemplars(forgotten_by_seed: dict[int, np.ndarray]) -> dict:
    """Examples forgotten under a strict majority of the seeds' runs.

    `forgotten_by_seed` maps seed -> boolean mask over the same test examples. Returns
    {seeds, threshold, counts (list: seeds forgetting each example), exemplars (ids, most seeds first)}.
    """
    seeds = sorted(forgotten_by_seed)
    if not seeds:
        return {"seeds": [], "threshold": None, "counts": [], "exemplars": []}
    stacked = np.stack([np.asarray(forgotten_by_seed[s], dtype=bool) for s in seeds])
    counts = stacked.sum(0)
    threshold = len(seeds) // 2 + 1
    chosen = np.flatnonzero(counts >= threshold)
    chosen = chosen[np.lexsort((chosen, -counts[chosen]))]
    return {"seeds": seeds, "threshold": threshold, "counts": counts.astype(int).tolist(),
            "exemplars": [int(i) for i in chosen]}
