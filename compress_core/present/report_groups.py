"""How the report compares runs fairly (ShrinkBench's reporting rules): settings repeated over seeds,
fine-tuning budgets, and FLOPs beside measured speed.

- A *setting* is a run's full spec without its seed. Runs of one setting with different seeds are
  one row of the report: the mean, with the spread over seeds as min–max (with 3 to 5 seeds a
  range is more honest than a standard deviation).
- A run's *fine-tuning budget* is the training the compressed model got after (or while) being
  compressed: prune fine-tuning epochs, a distilled student's epochs, none for post-training
  quantization. Runs with different budgets compared side by side are flagged, since a longer
  budget buys accuracy that the method itself did not.
- FLOPs: the baseline's dense count against the run's non-zero count (`measure/flops.py`); the
  ratio is the theoretical speed-up of an ideal sparse kernel, shown beside the measured one.
Pure functions of store records.
"""
from __future__ import annotations

import json
import math
import re
from typing import Callable, Mapping, Optional, Sequence

from compress_core.errors import CompressError
from compress_core.methods import spec_fields

SPREAD_NAME = "min–max over seeds"
MAX_NAMED = 3  # settings named per budget in a footnote before "and N more"


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def full_spec(spec: Mapping) -> dict:
    """Every field of `spec`, defaults filled in (as stored when another version wrote it).

    A built-in kind's spec that already has every field (what this version stores) comes back as it is,
    without the spec classes: rebuilding it would give the same dict (`methods/spec_fields.py`, tested)."""
    if spec_fields.is_complete(spec):
        return dict(spec)
    from compress_core.methods.registry import spec_from_dict  # the spec classes (torch): only when called

    try:
        return spec_from_dict(dict(spec)).to_dict()
    except CompressError:
        return dict(spec)


def setting_key(run: Mapping) -> str:
    """The run's kind and full spec without the seed, as a comparable string."""
    spec = {k: v for k, v in full_spec(run.get("spec") or {}).items() if k != "seed"}
    return json.dumps([run.get("kind"), spec], sort_keys=True, default=str)


def group_by_setting(runs: Sequence[Mapping]) -> list[list[Mapping]]:
    """Runs grouped by setting, in order of each setting's first run; within a group by seed."""
    groups: dict[str, list[Mapping]] = {}
    for run in runs:
        groups.setdefault(setting_key(run), []).append(run)
    return [sorted(g, key=lambda r: ((r.get("spec") or {}).get("seed") or 0, r.get("id") or "")) for g in groups.values()]


def seeds_of(group: Sequence[Mapping]) -> list:
    return [(r.get("spec") or {}).get("seed", 0) for r in group]


def spread(values: Sequence) -> Optional[dict]:
    """{n, mean, min, max, std} of the values that are present; None when none is."""
    xs = [float(v) for v in values if not _missing(v) and isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not xs:
        return None
    mean = sum(xs) / len(xs)
    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return {"n": len(xs), "mean": mean, "min": min(xs), "max": max(xs), "std": std}


_NUMBER = re.compile(r"^([+-]?[0-9][0-9.,]*)\s*(\S*)$")  # '93.56 %' -> ('93.56', '%')


def _bare(text: str, unit: str) -> str:
    match = _NUMBER.match(text)
    return match.group(1) if match and match.group(2) == unit else text


def spread_text(values: Sequence, fmt: Callable) -> str:
    """'97.1 %\n(96.8 – 97.5)': the mean, then on a second line the min–max over seeds (the mean's unit not
    repeated) when they differ; one number for one seed; '' when no value is present."""
    s = spread(values)
    if s is None:
        return ""
    mean, low, high = fmt(s["mean"]), fmt(s["min"]), fmt(s["max"])
    if s["n"] == 1 or low == high:
        return mean
    match = _NUMBER.match(mean)
    if match:
        low, high = _bare(low, match.group(2)), _bare(high, match.group(2))
    return f"{mean}\n({low} – {high})"


# ---------------------------------------------------------------- fine-tuning budgets
def _epochs_text(n) -> str:
    return "none" if not n else f"{n} epoch{'s' if n != 1 else ''}"


def finetune_budget(run: Mapping) -> Optional[tuple[str, str]]:
    """(comparable budget, phrase) of the training the compressed model got; None for a baseline or an
    unknown kind. The phrase reads after a run's name: 'fine-tuned 3 epochs', 'none', 'trained 12 epochs
    (student, automatic)'."""
    kind, spec, metrics = run.get("kind"), full_spec(run.get("spec") or {}), run.get("metrics") or {}
    if kind == "prune":
        n = spec.get("finetune_epochs")
        return (f"ft{n}", f"fine-tuned {_epochs_text(n)}" if n else "no fine-tuning")
    if kind == "quantize":
        return ("ft0", "no fine-tuning")
    if kind == "distill":
        n = spec.get("epochs") if spec.get("epochs") is not None else metrics.get("student_epochs")
        auto = " (automatic)" if spec.get("epochs") is None else ""
        if n is None:
            return ("distill-auto", "student trained for the automatic number of epochs")
        return (f"distill{n}", f"student trained {_epochs_text(n)}{auto}")
    if kind == "deep-compression":
        a, b = spec.get("finetune_epochs") or 0, spec.get("centroid_epochs") or 0
        if not a and not b:
            return ("ft0", "no fine-tuning")
        return (f"dc{a}+{b}", f"fine-tuned {_epochs_text(a)} + centroids {_epochs_text(b)}")
    if kind == "lottery":
        epochs = spec.get("epochs")
        per = _epochs_text(epochs) if epochs else "the data set's default epochs"
        return (f"lottery{spec.get('rounds')}x{epochs}", f"retrained {spec.get('rounds')} rounds × {per}")
    if kind == "pipeline":
        parts = []
        for step in spec.get("steps") or []:
            if step.get("kind") == "prune":
                parts.append(int(step.get("finetune_epochs") or 0))
            elif step.get("kind") == "distill":
                parts.append(int(step.get("epochs") or 0))
        total = sum(parts)
        return (f"ft{total}", f"fine-tuned {_epochs_text(total)} over its steps" if total else "no fine-tuning")
    return None


def budget_flags(runs: Sequence[Mapping], label_of: Callable[[Mapping], str]) -> tuple[set, list[str]]:
    """(ids of runs whose budget differs from another compared run's, one footnote per data set).

    Runs are compared within a data set. A footnote names the settings per budget, e.g.
    'On digits: L1 pruning 90 % fine-tuned 10 epochs; int8 no fine-tuning: not a like-for-like comparison.'
    """
    by_dataset: dict[str, dict[str, list[Mapping]]] = {}
    phrases: dict[str, str] = {}
    for run in runs:
        budget = finetune_budget(run)
        if budget is None:
            continue
        key, phrase = budget
        phrases[key] = phrase
        dataset = str((run.get("spec") or {}).get("dataset"))
        by_dataset.setdefault(dataset, {}).setdefault(key, []).append(run)
    flagged, notes = set(), []
    for dataset in sorted(by_dataset):
        budgets = by_dataset[dataset]
        if len(budgets) < 2:
            continue
        parts = []
        for key, group in budgets.items():
            flagged.update(r.get("id") for r in group)
            names = list(dict.fromkeys(label_of(r) for r in group))
            more = f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else ""
            parts.append(f"{', '.join(names[:MAX_NAMED])}{more}: {phrases[key]}")
        notes.append(f"Unequal fine-tuning budgets on {dataset}: {'; '.join(parts)}. Not a like-for-like "
                     "comparison: a longer budget buys accuracy the method itself did not.")
    return flagged, notes


# ---------------------------------------------------------------- FLOPs
def flops_figures(run: Mapping) -> dict:
    """{flops_dense (the baseline's), flops_nonzero (the run's), theoretical_speedup}; None where not measured.

    Runs measured before `flops_nonzero` was recorded keep their stored theoretical speed-up (the same
    ratio, with each layer's FLOPs scaled by its weight density) and show no non-zero count.
    """
    metrics, base = run.get("metrics") or {}, run.get("baseline") or {}
    dense = base.get("flops_dense") if base else None
    if dense is None and run.get("kind") == "train":
        dense = metrics.get("flops_dense")
    nonzero = metrics.get("flops_nonzero")
    from compress_core.measure.flops import theoretical_speedup  # its module counts FLOPs with torch

    theory = theoretical_speedup(dense, nonzero)
    if theory is None and not _missing(metrics.get("theoretical_speedup")):
        theory = metrics.get("theoretical_speedup")
    return {"flops_dense": dense, "flops_nonzero": nonzero, "theoretical_speedup": theory}
