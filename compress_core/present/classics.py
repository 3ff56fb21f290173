"""What the Classics page and `classic` command show: the paper's rows beside ours, and the lottery figure.

Pure functions of rows and run dicts (no Streamlit, no store), so the page, the CLI and the tests
draw the same thing.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from compress_core.methods.lottery import VARIANTS
from compress_core.present.plots import color_of, figure

VARIANT_STYLES = {"ticket": ("winning ticket (rewound)", color_of("lottery")),
                  "reinit": ("same mask, random re-init", "#7f7f7f"),
                  "random_mask": ("random mask, same sparsity", "#e377c2")}
VARIANT_KEYS = {"ticket": "accuracy", "reinit": "reinit_accuracy", "random_mask": "random_mask_accuracy"}


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def compare_rows(paper: Sequence[Mapping], ours: Sequence[Mapping]) -> list[dict]:
    """One row per paper row: its label, then for every other key the paper's value, ours and the gap.

    Rows are matched by their first key's value (e.g. the stage), else by position, and our rows
    the paper has no counterpart for are added at the end. A gap is ours minus the paper's where both
    are numbers, "same"/"differs" for text, blank where either side is missing.
    """
    if not paper and not ours:
        return []
    label_key = next(iter((paper or ours)[0]))
    used: set[int] = set()
    out = []

    def match(i: int, row: Mapping):
        for j, candidate in enumerate(ours):
            if j not in used and candidate.get(label_key) == row.get(label_key):
                return j
        return i if i < len(ours) and i not in used else None

    pairs = []
    for i, row in enumerate(paper):
        j = match(i, row)
        if j is not None:
            used.add(j)
        pairs.append((row, ours[j] if j is not None else {}))
    pairs += [({}, row) for j, row in enumerate(ours) if j not in used]
    keys = [k for k in dict.fromkeys([*(k for r in paper for k in r), *(k for r in ours for k in r)]) if k != label_key]
    for p, o in pairs:
        line = {label_key: p.get(label_key, o.get(label_key))}
        for key in keys:
            a, b = p.get(key), o.get(key)
            line[f"paper {key}"], line[f"ours {key}"] = a, b
            if _is_number(a) and _is_number(b):
                line[f"gap {key}"] = b - a
            elif a is not None and b is not None and not _is_number(a) and not _is_number(b):
                line[f"gap {key}"] = "same" if a == b else "differs"
            else:
                line[f"gap {key}"] = None
        out.append(line)
    return out


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def comparison_text(rows: Sequence[Mapping]) -> str:
    """`compare_rows` output as an aligned plain-text table (for the CLI)."""
    if not rows:
        return "(no rows)"
    columns = list(rows[0])
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def lottery_series(runs: Sequence[Mapping]) -> dict:
    """Per variant: remaining % -> accuracies in % over `runs` (one per seed), plus the dense accuracies."""
    series = {v: {} for v in VARIANTS}
    dense = []
    for run in runs:
        metrics = run.get("metrics") or {}
        if metrics.get("baseline_accuracy") is not None:
            dense.append(100 * metrics["baseline_accuracy"])
        for row in metrics.get("rounds") or []:
            x = round(100 * row["remaining_fraction"], 3)
            for variant in VARIANTS:
                value = row.get(VARIANT_KEYS[variant])
                if value is not None:
                    series[variant].setdefault(x, []).append(100 * value)
    return {"variants": {v: s for v, s in series.items() if s}, "dense": dense}


def lottery_figure(runs: Sequence[Mapping], title: str = "Lottery tickets: test accuracy vs weights remaining") -> go.Figure:
    """Accuracy against the share of weights remaining, one line per variant, mean over seeds with min-max bars.

    The dense network (every weight) is the dashed line with its own seed range as a band. The x axis
    is logarithmic and reversed, as in the paper: pruning goes from left (dense) to right (sparse).
    """
    data = lottery_series(runs)
    seeds = len({(r.get("spec") or {}).get("seed") for r in runs})
    fig = figure(f"{title} ({seeds} seed{'s' if seeds != 1 else ''})", "weights remaining (%), log scale",
                 "test accuracy (%)")
    for variant, points in data["variants"].items():
        xs = sorted(points, reverse=True)
        values = [np.asarray(points[x]) for x in xs]
        mean = [float(v.mean()) for v in values]
        name, colour = VARIANT_STYLES[variant]
        fig.add_scatter(x=xs, y=mean, mode="lines+markers", name=name, line_color=colour,
                        error_y=dict(type="data", symmetric=False, array=[float(v.max()) - m for v, m in zip(values, mean)],
                                     arrayminus=[m - float(v.min()) for v, m in zip(values, mean)], visible=len(runs) > 1),
                        customdata=[[len(v)] for v in values],
                        hovertemplate="%{x:.1f} % of the weights<br>mean accuracy %{y:.2f} %<br>"
                                      "%{customdata[0]} seed(s)<extra>" + name + "</extra>")
    if data["dense"]:
        dense = np.asarray(data["dense"])
        fig.add_hline(y=float(dense.mean()), line_dash="dash", line_color=color_of("baseline"),
                      annotation_text=f"dense {dense.mean():.2f} %", annotation_position="bottom left")
        if len(dense) > 1 and dense.max() > dense.min():
            fig.add_hrect(y0=float(dense.min()), y1=float(dense.max()), fillcolor=color_of("baseline"), opacity=0.12,
                          line_width=0)
    fig.update_xaxes(type="log", autorange="reversed")
    return fig


def spread_table(runs: Sequence[Mapping]) -> list[dict]:
    """Per share of weights: mean, min and max accuracy (%) of each variant over the runs, for tables."""
    data = lottery_series(runs)
    xs = sorted({x for points in data["variants"].values() for x in points}, reverse=True)
    rows = []
    for x in xs:
        row = {"weights_pct": x}
        for variant, points in data["variants"].items():
            values = np.asarray(points.get(x, []))
            if len(values):
                row[f"{variant} mean"] = float(values.mean())
                row[f"{variant} min"] = float(values.min())
                row[f"{variant} max"] = float(values.max())
        rows.append(row)
    return rows
