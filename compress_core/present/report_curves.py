"""Curves for the report: accuracy against the swept level (pruning amount, bits, temperature, width)
wherever the chosen runs hold one setting at three or more levels, mean and min–max over seeds.

ShrinkBench's point: one compressed model is one point, and a method is judged by its curve.
Runs need not come from a sweep: any runs that differ only in a method's sweep parameter (and
the seed) form a curve, so a hand-made series counts too. Pruning variants (criterion and
scope, e.g. the random control of a sweep) share one figure, one line each, as on the Sweeps page.
"""
from __future__ import annotations

import json
from typing import Mapping, Sequence

import pandas as pd

from compress_core.present import plots
from compress_core.present.report_groups import full_spec

MIN_LEVELS = 3  # two points make a segment, not a curve
_VARIANT_FIELDS = {"prune": ("method", "scope")}  # lines of one figure (a sweep's controls)


def _level(value):
    """A spec value as a level: a one-layer width list [32] -> 32; anything else not a number -> None."""
    if isinstance(value, (list, tuple)):
        value = value[0] if len(value) == 1 else None
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def curve_sets(runs: Sequence[Mapping]) -> list[dict]:
    """One dict per curve figure: kind, param, field, title parts, `points` (run_id, level, seed, variant,
    status, accuracy) and the mean baseline accuracy. Deterministic order (kind, param, key)."""
    from compress_core.methods.registry import get_method, kinds  # every method (torch): only when building

    found: dict[tuple, list[dict]] = {}
    for run in runs:
        kind = run.get("kind")
        if kind not in kinds():
            continue
        spec = full_spec(run.get("spec") or {})
        accuracy = (run.get("metrics") or {}).get("accuracy")
        if accuracy is None:
            continue
        for param, swept in get_method(kind).sweep.items():
            level = _level(spec.get(swept.field))
            if level is None:
                continue
            variant_fields = _VARIANT_FIELDS.get(kind, ())
            rest = {k: v for k, v in spec.items() if k not in ("seed", swept.field, *variant_fields)}
            variant = "-".join(str(spec.get(f)) for f in variant_fields) or kind
            key = (kind, param, json.dumps(rest, sort_keys=True, default=str))
            found.setdefault(key, []).append({
                "run_id": run.get("id"), "level": level, "seed": spec.get("seed", 0), "variant": variant,
                "status": "finished", "error": None, "accuracy": accuracy,
                "baseline_accuracy": (run.get("metrics") or {}).get("baseline_accuracy"),
                "model": spec.get("model"), "dataset": spec.get("dataset")})
    out = []
    for (kind, param, _), rows in sorted(found.items(), key=lambda item: item[0]):
        points = pd.DataFrame(rows)
        if points.groupby("variant")["level"].nunique().max() < MIN_LEVELS:
            continue
        baseline = points["baseline_accuracy"].dropna()
        out.append({"kind": kind, "param": param, "points": points,
                    "baseline": float(baseline.mean()) if len(baseline) else None,
                    "model": rows[0]["model"], "dataset": rows[0]["dataset"],
                    "seeds": int(points.groupby(["variant", "level"])["seed"].nunique().max())})
    return out


def curve_figure(curve: Mapping):
    """Mean accuracy against the level per variant, the band spanning min–max over seeds, every seed a dot."""
    from compress_core.explore.sweep import sweep_summary  # imports specs (torch): only when building
    from compress_core.methods.registry import get_method

    summary = sweep_summary(curve["points"], "accuracy")
    label = get_method(curve["kind"]).label.capitalize()
    seeds = f", {curve['seeds']} seeds per point (band: min–max)" if curve["seeds"] > 1 else ", one seed per point"
    title = f"{label}: accuracy vs {curve['param']} ({curve['model']} on {curve['dataset']}{seeds})"
    return plots.sweep_curve(summary, curve["points"], "accuracy", curve["param"], band="minmax",
                             baseline=curve["baseline"], title=title)
