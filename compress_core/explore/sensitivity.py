"""Per-layer sensitivity: which layers can take pruning, and how much each should take.

The scan prunes one layer at a time (by a pruning criterion, L1 magnitude by default; no
fine-tuning) at several amounts
and measures test accuracy, leaving every other layer intact. Layers whose accuracy
holds up can be pruned harder; `propose_layer_amounts` turns the scan into per-layer
amounts that meet a global sparsity target with the least predicted accuracy loss.

Note:
    The prediction adds the per-layer drops as if layers did not interact. It is a
    ranking aid, not a promise: pruning several layers at once usually costs more than
    the sum, and fine-tuning afterwards recovers much of it.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn.utils import prune

from compress_core.context import RunContext
from compress_core.data.datasets import Dataset
from compress_core.errors import CompressError
from compress_core.methods.criteria import calibration_batch, get_criterion, scorer
from compress_core.models.zoo import prunable_layers
from compress_core.progress import ProgressCallback, emit
from compress_core.specs import TrainSpec, check_range
from compress_core.training.loop import evaluate

COLUMNS = ["layer", "type", "params", "amount", "accuracy", "baseline_accuracy", "drop"]
GRID_STEP = 0.01  # resolution of the proposed amounts


def check_amounts(amounts: Sequence[float]) -> list[float]:
    """Sorted distinct amounts, each in (0, 1)."""
    amounts = list(amounts)
    if not amounts:
        raise CompressError("amounts must list at least one pruning amount in (0, 1), e.g. 0.3,0.5,0.7,0.9")
    for amount in amounts:
        check_range("amount", amount, 0, 1, low_open=True, high_open=True)
    return sorted(set(float(a) for a in amounts))


def layer_sensitivity(model: nn.Module, data: Dataset, amounts: Sequence[float], *, criterion: str = "l1",
                      seed: int = 0, device: torch.device | None = None,
                      on_progress: ProgressCallback = None, layers: Sequence[str] | None = None) -> pd.DataFrame:
    """Long table (layer, type, params, amount, accuracy, baseline_accuracy, drop) for `model` on the test set.

    Each layer's weights are masked in place by `criterion`'s scores (computed once per
    layer on the intact model, calibrated on a `seed`ed training batch if the criterion
    needs one) with `torch.nn.utils.prune`'s L1 method, evaluated, and restored, so the
    model is unchanged afterwards and nothing is copied but one layer's weights at a
    time. `drop` = baseline accuracy - accuracy (points as a share). `layers` (names) limits
    the scan to those layers: the Ray backend scans each layer in a task of its own.
    """
    amounts = check_amounts(amounts)
    torch.manual_seed(seed)  # a random criterion draws its scores from the seed
    scores = scorer(get_criterion(criterion), model, lambda: calibration_batch(data.x_train, seed))
    baseline, _ = evaluate(model, data.x_test, data.y_test, device)
    wanted, layers = layers, prunable_layers(model)
    if wanted is not None:
        unknown = sorted(set(wanted) - {name for name, _ in layers})
        if unknown:
            raise CompressError(f"layer(s) {', '.join(unknown)} are not prunable layers of the model; "
                                f"layers: {', '.join(name for name, _ in layers)}")
        layers = [(name, module) for name, module in layers if name in set(wanted)]
    rows, total, done = [], len(layers) * len(amounts), 0
    for name, module in layers:
        saved = module.weight.detach().clone()
        importance = scores(module)
        try:
            for amount in amounts:
                mask = prune.L1Unstructured(amount).compute_mask(importance, torch.ones_like(saved))
                with torch.no_grad():
                    module.weight.copy_(saved * mask)
                accuracy, _ = evaluate(model, data.x_test, data.y_test, device)
                rows.append({"layer": name, "type": type(module).__name__, "params": saved.numel(),
                             "amount": amount, "accuracy": accuracy, "baseline_accuracy": baseline,
                             "drop": baseline - accuracy})
                done += 1
                emit(on_progress, "sensitivity", done, total, f"{name} at {amount:.0%}: accuracy {accuracy:.3f}")
        finally:
            with torch.no_grad():
                module.weight.copy_(saved)
    return pd.DataFrame(rows, columns=COLUMNS)


def run_sensitivity(spec: TrainSpec, amounts: Sequence[float], ctx: RunContext, criterion: str = "l1") -> pd.DataFrame:
    """The scan by `criterion` on the cached baseline of `spec` (trained first if it is not cached yet)."""
    from compress_core.training.baseline import get_baseline

    amounts = check_amounts(amounts)
    get_criterion(criterion)  # a bad name fails before any training
    base = get_baseline(spec, ctx)
    return layer_sensitivity(base.model, base.data, amounts, criterion=criterion, seed=spec.seed, device=ctx.device,
                             on_progress=ctx.on_progress)


def layer_sizes(sensitivity: pd.DataFrame) -> dict[str, int]:
    """Weights per layer, as recorded in the scan, in layer order."""
    sizes = sensitivity.drop_duplicates("layer").set_index("layer")["params"]
    return {str(k): int(v) for k, v in sizes.items()}


def _drop_curves(sensitivity: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per layer: (amounts, drops) with the point (0, 0) added, for linear interpolation."""
    curves = {}
    for layer, part in sensitivity.groupby("layer", sort=False):
        part = part.sort_values("amount")
        curves[str(layer)] = (np.concatenate([[0.0], part["amount"].to_numpy(float)]),
                              np.concatenate([[0.0], part["drop"].to_numpy(float)]))
    return curves


def predicted_drop(sensitivity: pd.DataFrame, layer_amounts: Mapping[str, float]) -> float:
    """Sum of each layer's interpolated accuracy drop at its amount (layers assumed independent)."""
    curves = _drop_curves(sensitivity)
    unknown = sorted(set(layer_amounts) - set(curves))
    if unknown:
        raise CompressError(f"layer(s) {', '.join(unknown)} not in the sensitivity scan; layers: {', '.join(curves)}")
    return float(sum(np.interp(a, *curves[name]) for name, a in layer_amounts.items()))


def achieved_sparsity(layer_amounts: Mapping[str, float], sizes: Mapping[str, int]) -> float:
    """Global sparsity over the layers in `sizes` when each loses its share in `layer_amounts` (0 if absent)."""
    total = sum(sizes.values())
    return sum(sizes[name] * layer_amounts.get(name, 0.0) for name in sizes) / max(total, 1)


def propose_layer_amounts(sensitivity: pd.DataFrame, sizes: Mapping[str, int] | None,
                          target_sparsity: float) -> dict[str, float]:
    """Per-layer amounts whose weighted mean is `target_sparsity`, with the least predicted accuracy loss.

    Greedy (hand-written: no library allocates pruning budgets from a sensitivity table):
    in steps of 1 % of a layer, always prune next where the predicted drop per removed
    weight is smallest, then trim the last step so the target is met exactly. Amounts
    never exceed the largest amount scanned (no extrapolation).
    """
    check_range("target sparsity", target_sparsity, 0, 1, high_open=True)
    sizes = dict(layer_sizes(sensitivity) if sizes is None else sizes)
    curves = _drop_curves(sensitivity)
    missing = sorted(set(sizes) - set(curves))
    if missing:
        raise CompressError(f"layer(s) {', '.join(missing)} have no sensitivity rows; scanned: {', '.join(curves)}")
    total = sum(sizes.values())
    ceiling = {name: float(curves[name][0][-1]) for name in sizes}
    reachable = sum(sizes[n] * ceiling[n] for n in sizes) / max(total, 1)
    if target_sparsity > reachable + 1e-12:
        raise CompressError(f"target sparsity {target_sparsity:g} needs more than the largest scanned amounts allow "
                            f"(at most {reachable:.4f}); scan larger amounts, e.g. up to 0.99")
    amounts = {name: 0.0 for name in sizes}
    needed, removed, last = target_sparsity * total, 0.0, None
    while removed < needed - 1e-9:
        best, best_cost = None, math.inf
        for name, n in sizes.items():
            a = amounts[name]
            if a >= ceiling[name] - 1e-12 or n == 0:
                continue
            step = min(GRID_STEP, ceiling[name] - a)
            cost = (np.interp(a + step, *curves[name]) - np.interp(a, *curves[name])) / (n * step)
            if cost < best_cost or (cost == best_cost and n > sizes[best]):
                best, best_cost = name, cost
        step = min(GRID_STEP, ceiling[best] - amounts[best])
        amounts[best] += step
        removed += sizes[best] * step
        last = best
    if last is not None:  # give back the overshoot of the last step
        amounts[last] -= (removed - needed) / sizes[last]
    return {name: round(a, 6) for name, a in amounts.items()}
