""""Predict, then reveal": the measured answers of the Learn page's questions, and how far a guess was.

A student commits to a guess before the app shows anything; only then is the answer measured by the
engine (never typed in) and compared with the guess. This module holds the pure parts: one
measurement function per question (each a call into the engine's own code) and two judges, one for
a choice among measured values and one for a number. `ui/predict.py` draws the question;
`ui/predict_questions.py` wires each question to its measurement.
"""
from __future__ import annotations

from typing import Callable, Mapping, Optional

from torch import nn

from compress_core import fmt
from compress_core.methods.quantize import quantization_error
from compress_core.models.zoo import prunable_layers
from compress_core.present.teach import GRANULARITY_LABELS, agp_curve, pruned_copy


# ---------------------------------------------------------------- judges
def points(share: float) -> str:
    """A distance between two shares, in percentage points: 0.0275 -> '2.8 points'."""
    return f"{100 * share:.1f} points"


def judge_choice(guess, values: Mapping, *, largest: bool = True, show: Callable = fmt.pct,
                 name: Callable = str, tie: float = 0.0, most: Optional[str] = None) -> dict:
    """The option with the largest (or smallest) measured value is the answer; how far `guess` was from it.

    `values` maps each option to its measured value; options within `tie` of the best count as
    right too. `most` says what the answer does ("is emptied most"; default: "has the largest value").
    Returns {answer, answers (all within tie), correct, guess_value, answer_value, gap
    (answer value - guess value, positive when the answer is larger), text}.
    """
    if guess not in values:
        raise KeyError(f"guess {guess!r} is not one of the options {list(values)}")
    best = max(values.values()) if largest else min(values.values())
    answers = [k for k, v in values.items() if abs(v - best) <= tie]
    answer = answers[0]
    correct = guess in answers
    gap = values[answer] - values[guess]
    most = most or f"has the {'largest' if largest else 'smallest'} value"
    if correct:
        text = f"Right: {name(guess)} {most}, with {show(values[guess])}" + (
            f", tied with {', '.join(name(a) for a in answers if a != guess)}" if len(answers) > 1 else "") + "."
    else:
        text = (f"Not quite: {name(answer)} {most}, with {show(values[answer])}; your pick, {name(guess)}, has "
                f"{show(values[guess])}.")
    return {"answer": answer, "answers": answers, "correct": correct, "guess_value": values[guess],
            "answer_value": values[answer], "gap": gap, "text": text}


def judge_number(guess: float, measured: float, *, tolerance: float, show: Callable = fmt.pct,
                 unit_gap: Optional[Callable] = None) -> dict:
    """How far a numeric guess was from the measured value; `close` within `tolerance` (same units).

    `show` formats the values, `unit_gap` the distance (default: percentage points of shares).

    Returns {measured, guess, off (guess - measured), close, text}.
    """
    off = guess - measured
    close = abs(off) <= tolerance
    gap = (unit_gap or points)(abs(off))
    direction = "too high" if off > 0 else "too low" if off < 0 else "exact"
    text = (f"Measured: {show(measured)}. Your guess, {show(guess)}, is "
            + ("exactly right." if off == 0 else f"{gap} {direction}")
            + ("" if off == 0 else (": close." if close else ": far off.")))
    return {"measured": measured, "guess": guess, "off": off, "close": close, "text": text}


# ---------------------------------------------------------------- measured answers
def layer_sparsities(model: nn.Module, amount: float = 0.9) -> dict[str, float]:
    """Share of zero weights per prunable layer after global L1 pruning of `amount` (the engine's `prune_to`)."""
    pruned = pruned_copy(model, amount, "global")
    return {name: float((m.weight == 0).float().mean()) for name, m in prunable_layers(pruned)}


def layer_magnitudes(model: nn.Module) -> dict[str, dict]:
    """Per prunable layer: inputs per unit (fan-in), weight count and mean |w|.

    Why one global threshold empties layers unevenly: the layer with the smallest weights loses most."""
    return {name: {"fan_in": int(m.weight[0].numel()), "weights": int(m.weight.numel()),
                   "mean_abs": float(m.weight.detach().abs().mean())} for name, m in prunable_layers(model)}


def agp_sparsity_after(start: float, end: float, steps: int, step: int) -> float:
    """The AGP schedule's sparsity after `step` of `steps` (the engine's `agp_schedule`)."""
    curve = agp_curve(start, end, steps)
    return float(curve.loc[curve["step"] == step, "sparsity"].iloc[0])


def rounding_errors(model: nn.Module, bits: int = 4) -> dict[str, float]:
    """Mean squared rounding error over every prunable weight of `model` at `bits`, per granularity.

    Each layer's error comes from the engine's `quantization_error`; layers are weighted by their size.
    """
    out = {}
    for granularity in GRANULARITY_LABELS:
        total, count = 0.0, 0
        for _, module in prunable_layers(model):
            w = module.weight.detach()
            total += quantization_error(w, bits, granularity)["mse"] * w.numel()
            count += w.numel()
        out[granularity] = total / max(count, 1)
    return out


def class_changes(entry: Mapping) -> dict[str, float]:
    """Digit label -> accuracy change (pruned - dense) at one sparsity of `teach_damage.class_damage`."""
    return {row["label"]: row["difference"] for row in entry["classes"] if row["difference"] is not None}


def last_round_gap(curves) -> dict:
    """The lottery lesson's last round: remaining share, ticket and re-init accuracy, gap (`teach_lottery.gaps`)."""
    from compress_core.present.teach_lottery import gaps

    row = gaps(curves).iloc[-1]
    return {"remaining": float(row["remaining"]), "ticket": float(row["ticket"]), "reinit": float(row["reinit"]),
            "gap": float(row["gap"]), "beyond_noise": bool(row["beyond_noise"])}

