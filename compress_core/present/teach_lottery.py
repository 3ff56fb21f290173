"""The Learn page's lottery-ticket lesson: a small measured demonstration of Frankle & Carbin (2019).

Iterative magnitude pruning with rewinding to the initial weights, beside the paper's control: the
same masks with freshly drawn initial weights. Both curves are measured here with the engine's own
steps (`methods.lottery`: `next_masks`, `masked_copy`, `reinitialised`, `train_masked`), on the
teaching model's architecture, with settings small enough for a classroom: a few rounds that each
halve the surviving weights (one global magnitude threshold), a few epochs per training, one seed.
The dense point is the same architecture trained from the same initial weights with the same
epochs, so every point of both curves had the same training budget.

Every accuracy carries its 95 % Wilson interval over the test images (`present.executive.wilson`),
and `summary` says in numbers what the measurement shows, including where the two curves cannot
be told apart. No Streamlit here: `ui/learn_lottery.py` draws what these return.
"""
from __future__ import annotations

import types
from dataclasses import asdict, dataclass
from typing import Callable, Optional

import pandas as pd
import plotly.graph_objects as go
import torch
from torch import nn

from compress_core import fmt
from compress_core.methods.lottery import (dense_masks, next_masks, reinitialised, remaining_fraction,
                                           train_masked)
from compress_core.present import plots
from compress_core.present.executive import change_interval, wilson
from compress_core.specs import check_choice, check_range
from compress_core.training.loop import FitConfig

TICKET, REINIT = "ticket, rewound to its initial weights", "same mask, random re-initialisation"
COLORS = {TICKET: plots.color_of("lottery"), REINIT: "#d62728"}


@dataclass(frozen=True)
class LotterySettings:
    """The lesson's procedure: small on purpose, so it runs in seconds on 2 CPU cores."""

    rounds: int = 6  # pruning rounds; after round r, (1 - rate)^r of the weights remain (6 rounds of 50 %: 1.6 %)
    rate: float = 0.5  # share of the surviving weights removed per round (the paper: 20 %, in more rounds)
    epochs: int = 10  # epochs of every training: the dense network's and each round's (the baseline trains 30)
    scope: str = "global"  # one magnitude threshold over all layers (the paper prunes each layer by its own rate)
    seed: int = 0  # initial weights, batch order, re-initialisation draws
    lr: float = 1e-3  # Adam, as the baseline
    batch_size: int = 32  # the baseline's batch size on small data sets

    def __post_init__(self):
        check_range("rounds", self.rounds, 1, 12, integer=True)
        check_range("rate", self.rate, 0, 0.95, low_open=True)
        check_range("epochs", self.epochs, 1, 100, integer=True)
        check_choice("scope", self.scope, ("layer", "global"))

    def describe(self) -> str:
        left = (1 - self.rate) ** self.rounds
        return (f"{self.rounds} rounds, each removing {fmt.pct(self.rate, 0)} of the surviving weights by |w| "
                f"({'one global threshold' if self.scope == 'global' else 'per layer'}), down to "
                f"{fmt.pct(left, 1)} of the weights; every network trained {self.epochs} epochs (Adam, lr "
                f"{self.lr:g}, batch {self.batch_size}); one seed ({self.seed})")


LESSON = LotterySettings()


def _point(round_: int, remaining: float, variant: str, accuracy: float, n: int) -> dict:
    low, high = wilson(accuracy, n)
    return {"round": round_, "remaining": remaining, "variant": variant, "accuracy": accuracy,
            "correct": round(accuracy * n), "examples": n, "low": low, "high": high}


def lottery_curves(template: nn.Module, data, settings: LotterySettings = LESSON,
                   on_round: Optional[Callable[[int, int], None]] = None) -> pd.DataFrame:
    """Accuracy against the share of weights remaining, for the rewound ticket and the re-initialised control.

    `template` gives the architecture only (its weights are not used and not modified): the initial
    weights are a seeded fresh draw (`reinitialised`). Round 0 is the dense network, the same point
    for both variants. Each round prunes the previous round's trained *ticket* (as the paper), then
    trains the new mask twice: from the original initial weights (the ticket) and from a new draw
    (the control). `on_round(done, total)` reports progress. One row per (round, variant).
    """
    cpu = torch.device("cpu")
    ctx = types.SimpleNamespace(on_progress=None, device=cpu)  # what train_masked reads of a RunContext
    config = FitConfig(settings.epochs, settings.lr, settings.batch_size, settings.seed)
    n = len(data.y_test)
    init = reinitialised(template, settings.seed)
    masks = dense_masks(template)
    trained, accuracy, _ = train_masked(template, init, masks, data, config, ctx, "dense")
    rows = [_point(0, 1.0, v, accuracy, n) for v in (TICKET, REINIT)]
    if on_round:
        on_round(0, settings.rounds)
    for r in range(1, settings.rounds + 1):
        masks = next_masks(trained, masks, settings.rate, settings.scope)
        left = remaining_fraction(masks)
        trained, accuracy, _ = train_masked(template, init, masks, data, config, ctx, f"round {r} ticket")
        rows.append(_point(r, left, TICKET, accuracy, n))
        fresh = reinitialised(template, settings.seed * 1000 + r + 1)  # the engine's run draws the same way
        _, accuracy, _ = train_masked(template, fresh, masks, data, config, ctx, f"round {r} reinit")
        rows.append(_point(r, left, REINIT, accuracy, n))
        if on_round:
            on_round(r, settings.rounds)
    return pd.DataFrame(rows)


def gaps(curves: pd.DataFrame) -> pd.DataFrame:
    """Per round: ticket minus re-init accuracy, in images and points, and whether it is beyond noise.

    The interval treats the two accuracies as independent binomials on the same number of test
    images (`executive.change_interval`, conservative); a gap inside it is reported as within noise.
    """
    wide = curves.pivot(index="round", columns="variant", values="accuracy")
    n = int(curves["examples"].iloc[0])
    remaining = curves.groupby("round")["remaining"].first()
    rows = []
    for r in wide.index:
        ticket, reinit = float(wide.loc[r, TICKET]), float(wide.loc[r, REINIT])
        low, high = change_interval(ticket, reinit, n)
        rows.append({"round": int(r), "remaining": float(remaining[r]), "ticket": ticket, "reinit": reinit,
                     "gap": ticket - reinit, "gap_images": round((ticket - reinit) * n), "low": low, "high": high,
                     "beyond_noise": not (low <= 0 <= high)})
    return pd.DataFrame(rows)


def summary(curves: pd.DataFrame) -> dict:
    """What the measurement shows, in numbers: the dense accuracy, the sparsest ticket still within noise of
    it, the last round's gap, and the first round from which the ticket beats the re-init beyond noise."""
    table = gaps(curves)
    n = int(curves["examples"].iloc[0])
    dense = float(table.loc[table["round"] == 0, "ticket"].iloc[0])
    pruned = table[table["round"] > 0]
    holding = [row for row in pruned.itertuples() if row.ticket >= dense or
               change_interval(row.ticket, dense, n)[1] >= 0]  # not below dense beyond noise
    sparsest = min(holding, key=lambda row: row.remaining) if holding else None
    beyond = pruned[pruned["beyond_noise"] & (pruned["gap"] > 0)]
    last = pruned.iloc[-1]
    return {"examples": n, "dense": dense,
            "sparsest_holding": None if sparsest is None else {"remaining": sparsest.remaining,
                                                              "accuracy": sparsest.ticket},
            "first_beyond": None if beyond.empty else {"remaining": float(beyond["remaining"].iloc[0]),
                                                       "gap": float(beyond["gap"].iloc[0])},
            "last": {"remaining": float(last["remaining"]), "ticket": float(last["ticket"]),
                     "reinit": float(last["reinit"]), "gap": float(last["gap"]),
                     "gap_images": int(last["gap_images"]), "beyond_noise": bool(last["beyond_noise"])},
            "rounds_beyond": int(pruned["beyond_noise"].sum()), "rounds": len(pruned)}


def summary_text(s: dict) -> str:
    """The summary as sentences (every number from `summary`)."""
    n = s["examples"]
    parts = [f"Dense: {fmt.pct(s['dense'])} on {n} test images (one image is {100 / n:.2f} points)."]
    hold = s["sparsest_holding"]
    parts.append(f"The rewound ticket stays within noise of the dense network or above it down to "
                 f"{fmt.pct(hold['remaining'])} of the weights ({fmt.pct(hold['accuracy'])})." if hold else
                 "No pruned ticket stays within noise of the dense network here.")
    first = s["first_beyond"]
    parts.append(f"It first beats the re-initialised control beyond noise at {fmt.pct(first['remaining'])} of "
                 f"the weights ({fmt.pp(first['gap'])}); in {s['rounds_beyond']} of {s['rounds']} pruned rounds the "
                 "gap between the two is beyond noise." if first else
                 "At no round does it beat the re-initialised control beyond noise: on this model and budget the "
                 "measurement does not show the paper's effect.")
    last = s["last"]
    parts.append(f"At {fmt.pct(last['remaining'])} of the weights: ticket {fmt.pct(last['ticket'])}, re-init "
                 f"{fmt.pct(last['reinit'])}, a gap of {fmt.pp(last['gap'])} ({last['gap_images']:+d} images, "
                 f"{'beyond' if last['beyond_noise'] else 'within'} noise).")
    return " ".join(parts)


def lottery_figure(curves: pd.DataFrame, settings: LotterySettings = LESSON) -> go.Figure:
    """Test accuracy against weights remaining (log axis, sparser to the right), both variants, 95 % intervals."""
    fig = plots.figure("Lottery tickets on this model: rewound ticket vs random re-initialisation",
                       "weights remaining (%, log scale: sparser to the right)", "test accuracy (%)")
    for variant, color in COLORS.items():
        part = curves[curves["variant"] == variant].sort_values("round")
        fig.add_scatter(x=(100 * part["remaining"]).tolist(), y=(100 * part["accuracy"]).tolist(),
                        mode="lines+markers", name=variant, line_color=color,
                        error_y=dict(type="data", symmetric=False,
                                     array=(100 * (part["high"] - part["accuracy"])).tolist(),
                                     arrayminus=(100 * (part["accuracy"] - part["low"])).tolist(), thickness=1),
                        customdata=part[["round", "correct", "examples"]].to_numpy().tolist(),
                        hovertemplate=f"{variant}<br>round %{{customdata[0]}}: %{{x:.2f}} % of the weights<br>"
                                      "%{y:.2f} % (%{customdata[1]} of %{customdata[2]} images)<extra></extra>")
    dense = 100 * float(curves.loc[curves["round"] == 0, "accuracy"].iloc[0])
    fig.add_hline(y=dense, line_dash="dot", line_color="#6c757d",
                  annotation_text=f"dense {dense:.1f} % (same init, same epochs)", annotation_position="top right")
    fig.update_xaxes(type="log", autorange="reversed",
                     **plots.log_ticks(100 * curves["remaining"].min(), 100.0, "%"))
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=-0.35, x=0))
    fig.add_annotation(text=f"one seed; bars: 95 % Wilson interval over {int(curves['examples'].iloc[0])} test images",
                       xref="paper", yref="paper", x=1, y=1.06, showarrow=False, font=dict(size=11, color="#555"),
                       xanchor="right")
    return fig


def settings_dict(settings: LotterySettings = LESSON) -> dict:
    return asdict(settings)
