"""Which runs are worth keeping: the Pareto front of two metrics.

A run is dominated when another run is at least as good on both metrics and strictly
better on one (e.g. no larger and at least as accurate, and smaller or more accurate).
Every run that is not dominated is on the front; identical runs are all kept.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def pareto_front(df: pd.DataFrame, x: str, y: str, *, minimize_x: bool = True, maximize_y: bool = True) -> pd.Series:
    """Boolean Series (same index as `df`): True for rows that no other row dominates on (`x`, `y`).

    Rows with a missing `x` or `y` are never on the front. Hand-written (pandas and numpy
    have no Pareto helper): an all-pairs comparison, fine for the hundreds of runs a lab holds.
    """
    for column in (x, y):
        if column not in df.columns:
            raise KeyError(f"column {column!r} not in the table; columns: {', '.join(map(str, df.columns))}")
    xs = pd.to_numeric(df[x], errors="coerce").to_numpy(dtype=float)
    ys = pd.to_numeric(df[y], errors="coerce").to_numpy(dtype=float)
    valid = ~(np.isnan(xs) | np.isnan(ys))
    # Turn both into "larger is better" so one comparison rule covers every direction.
    gx = -xs if minimize_x else xs
    gy = ys if maximize_y else -ys
    gx, gy = gx[valid], gy[valid]
    no_worse = (gx[:, None] >= gx[None, :]) & (gy[:, None] >= gy[None, :])  # [i, j]: i is no worse than j
    better = (gx[:, None] > gx[None, :]) | (gy[:, None] > gy[None, :])
    dominated = (no_worse & better).any(axis=0)
    front = np.zeros(len(df), dtype=bool)
    front[np.flatnonzero(valid)] = ~dominated
    return pd.Series(front, index=df.index, name="pareto")
