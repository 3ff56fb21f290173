"""Plan to a budget: per-layer sparsity and bit width that fit a size or FLOPs budget at the
highest predicted accuracy.

Three pieces, each a plain function:

- `measure_curves`: the measured per-layer curves. The pruning column (32 bits) is the
  sensitivity scan itself (`explore.sensitivity.layer_sensitivity`); with quantization allowed,
  each layer is also masked at every scanned amount *and* fake-quantized at every candidate bit
  width, alone, with the rest of the model intact, and evaluated. No fine-tuning.
- `layer_cost`: what one layer costs at (sparsity, bits) in the lab's own size forms (bytes,
  exactly as `measure.metrics.sparse_encode` and `pipeline.sparse_packed_size_bytes` count them)
  or in density-scaled FLOPs (`flops_effective`).
- `allocate`: a multiple-choice knapsack solved by dynamic programming over the discretized
  budget: one option (sparsity, bits) per layer, total cost within the budget, least summed
  predicted drop.

Why a knapsack DP and not greedy marginal gain: with bit widths in the mix, a layer's cost is
not a smooth function of one knob (going from 8 to 4 bits halves it at once, and a sparse layer
switches from packed codes to bitmap + codes at some sparsity), so the drop-per-byte curves are
not convex and greedy steps can stop at a poor corner. The DP is exact up to the bucket width
(costs are rounded *up* to buckets, so a plan it returns never exceeds the budget by its own
count), and costs layers x buckets x options, milliseconds for the models here.

Note:
    The drops are one-shot, per-layer and added as if layers did not interact; fine-tuning
    recovers much of them, and quantizing after fine-tuning costs a little. `correction_from_history`
    reads earlier plan runs of the same model and data set from the store and shifts the prediction
    by their mean gap (realized - predicted), so predictions are corrected by measured gaps, not by a guess.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn.utils import prune

from compress_core.data.datasets import Dataset
from compress_core.errors import CompressError
from compress_core.explore.sensitivity import check_amounts, layer_sensitivity
from compress_core.measure.core import deployable_size
from compress_core.measure.metrics import clean_state_dict, global_sparsity, serialized_size, sparse_encode
from compress_core.methods.criteria import calibration_batch, get_criterion, scorer
from compress_core.methods.quantize import MAX_BITS, MIN_BITS, fake_quantize
from compress_core.models.zoo import prunable_layers
from compress_core.progress import ProgressCallback, emit
from compress_core.training.loop import evaluate

FP32 = 32  # "bits" of a layer left in fp32
GRANULARITY = "channel"  # k-bit weights get one fp32 scale per output channel (the fake-quantize default)
DEFAULT_AMOUNTS = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98)
DEFAULT_BITS = (2, 3, 4, 6, 8)
AMOUNT_STEP = 0.01  # resolution of planned sparsities (curves interpolated between scanned amounts)
BUCKETS = 4000  # resolution of the budget in the knapsack DP
CURVE_COLUMNS = ["layer", "params", "amount", "bits", "accuracy", "baseline_accuracy", "drop"]
TARGETS = ("size", "flops")


class Unreachable(CompressError):
    """The budget is below the cheapest plan; `smallest` is that plan's cost."""

    def __init__(self, message: str, smallest: float):
        super().__init__(message)
        self.smallest = smallest


@dataclass(frozen=True)
class LayerInfo:
    """What a layer's cost depends on: its weight count, output channels (one scale each) and FLOPs."""

    name: str
    params: int
    channels: int
    flops: int = 0


def layer_infos(model: nn.Module, flops_per_layer: Mapping[str, int] | None = None) -> list[LayerInfo]:
    flops_per_layer = flops_per_layer or {}
    return [LayerInfo(name, m.weight.numel(), int(m.weight.shape[0]) if m.weight.dim() >= 2 else 1,
                      int(flops_per_layer.get(name, 0))) for name, m in prunable_layers(model)]


# --- costs ------------------------------------------------------------------------------------

def pruned_count(params: int, amount: float) -> int:
    """Weights torch's L1 pruning removes at `amount` (its own rounding: round(amount * n))."""
    return int(round(amount * params))


def weight_bytes(params: int, nonzero: int, bits: int, channels: int) -> int:
    """Bytes of one weight tensor in the lab's size forms, whichever is smaller:
    dense (fp32 values, or packed k-bit codes) or a bitmap of non-zeros plus their values/codes.
    k-bit tensors add one 4-byte fp32 scale per output channel. This is the per-tensor rule of
    `metrics.sparse_encode` (fp32) and `pipeline.sparse_packed_size_bytes` (k-bit)."""
    if bits >= FP32:
        return min(4 * params, math.ceil(params / 8) + 4 * nonzero)
    dense = math.ceil(params * bits / 8)
    sparse = math.ceil(params / 8) + math.ceil(nonzero * bits / 8)
    return min(dense, sparse) + 4 * channels


def layer_cost(info: LayerInfo, amount: float, bits: int, target: str = "size") -> float:
    """What `info`'s layer costs at (`amount` sparsity, `bits`): bytes, or density-scaled FLOPs."""
    nonzero = info.params - pruned_count(info.params, amount)
    if target == "flops":
        return info.flops * nonzero / max(info.params, 1)
    return weight_bytes(info.params, nonzero, bits, info.channels)


def fixed_bytes(model: nn.Module, quantized: bool) -> int:
    """Bytes outside the planned weights: other tensors at their dtype's size; for the serialized sparse
    encoding (no quantization) also its header, measured on the baseline, plus room for the bitmap fields."""
    planned = {f"{name}.weight" if name else "weight" for name, _ in prunable_layers(model)}
    state = clean_state_dict(model)
    other = sum(t.numel() * t.element_size() for k, t in state.items() if k not in planned)
    if quantized:
        return other
    payload = sum(t.numel() * t.element_size() for t in state.values())
    header = len(sparse_encode(state)) - payload  # JSON header + magic, all tensors dense
    return other + header + 32 * len(planned)  # a bitmap entry adds "bitmap_bytes" and a longer encoding name


def realized_size(model: nn.Module, bits_by_layer: Mapping[str, int]) -> dict:
    """The size measures of a planned (pruned and/or quantized) model, as the run reports them.

    With any layer below 32 bits: `size_packed_bytes` (every weight tensor as dense codes or fp32) and
    `size_sparse_quantized_bytes` (per tensor the smaller of that and bitmap + non-zero codes), counted,
    not serialized; `bits` (the widest quantized layer) and `bits_label` (its form's name). Always:
    `sparsity`, `size_fp32_bytes`, `size_sparse_bytes` (serialized). `size_bytes` is picked from these by
    `measure.core.deployable_size`, exactly as for the finished run.
    """
    state = clean_state_dict(model)
    out = {"sparsity": global_sparsity(model), "size_fp32_bytes": serialized_size(state),
           "size_sparse_bytes": len(sparse_encode(state))}
    quantized = {name: b for name, b in bits_by_layer.items() if b < FP32}
    if quantized:
        layers = dict(prunable_layers(model))
        weight_keys = {f"{name}.weight": name for name in layers}
        dense = sparse = 0
        for key, tensor in state.items():
            name = weight_keys.get(key)
            if name is None:
                size = tensor.numel() * tensor.element_size()
                dense, sparse = dense + size, sparse + size
                continue
            bits = int(bits_by_layer.get(name, FP32))
            channels = int(tensor.shape[0]) if tensor.dim() >= 2 else 1
            n, nz = tensor.numel(), int(torch.count_nonzero(tensor))
            dense += 4 * n if bits >= FP32 else math.ceil(n * bits / 8) + 4 * channels
            sparse += weight_bytes(n, nz, bits, channels)
        widths = sorted(set(int(b) for b in bits_by_layer.values()))
        out.update(size_packed_bytes=dense, size_sparse_quantized_bytes=sparse, bits=max(quantized.values()),
                   bits_label=bits_label(widths))
    return out


def bits_label(widths: Sequence[int]) -> str:
    """'4-bit' for one width, 'mixed 4/8/fp32-bit' for several."""
    names = ["fp32" if w >= FP32 else str(w) for w in sorted(set(widths))]
    return f"{names[0]}-bit" if len(names) == 1 else f"mixed {'/'.join(names)}-bit"


def predicted_size(metrics: Mapping) -> float:
    """The deployed size the lab would report for these size measures (`measure.core.deployable_size`)."""
    size, _ = deployable_size(metrics)
    return float(size)


# --- measured curves ----------------------------------------------------------------------------

def measure_curves(model: nn.Module, data: Dataset, amounts: Sequence[float], bits: Sequence[int] = (), *,
                   criterion: str = "l1", seed: int = 0, device: torch.device | None = None,
                   on_progress: ProgressCallback = None) -> pd.DataFrame:
    """Long table (layer, params, amount, bits, accuracy, baseline_accuracy, drop), one layer at a time.

    Rows with bits 32 are the sensitivity scan (`layer_sensitivity`, reused as is) plus amount 0;
    for each width in `bits`, every layer is masked at 0 and every scanned amount by the same criterion
    and its weights fake-quantized (per output channel), evaluated on the test split and restored.
    """
    amounts = check_amounts(amounts) if amounts else []
    for b in bits:
        if not (isinstance(b, int) and MIN_BITS <= b <= MAX_BITS):
            raise CompressError(f"bits must be whole numbers from {MIN_BITS} to {MAX_BITS}; got {b!r}")
    baseline, _ = evaluate(model, data.x_test, data.y_test, device)
    rows = [{"layer": name, "params": m.weight.numel(), "amount": 0.0, "bits": FP32, "accuracy": baseline,
             "baseline_accuracy": baseline, "drop": 0.0} for name, m in prunable_layers(model)]
    if amounts:
        scan = layer_sensitivity(model, data, amounts, criterion=criterion, seed=seed, device=device,
                                 on_progress=on_progress)
        rows += [{**r, "bits": FP32} for r in scan.to_dict("records")]
    if bits:
        torch.manual_seed(seed)
        scores = scorer(get_criterion(criterion), model, lambda: calibration_batch(data.x_train, seed))
        layers = prunable_layers(model)
        total, done = len(layers) * (len(amounts) + 1) * len(bits), 0
        for name, module in layers:
            saved = module.weight.detach().clone()
            importance = scores(module)
            try:
                for amount in [0.0, *amounts]:
                    mask = (prune.L1Unstructured(amount).compute_mask(importance, torch.ones_like(saved))
                            if amount > 0 else torch.ones_like(saved))
                    for b in bits:
                        with torch.no_grad():
                            module.weight.copy_(fake_quantize(saved * mask, b, GRANULARITY))
                        accuracy, _ = evaluate(model, data.x_test, data.y_test, device)
                        rows.append({"layer": name, "params": saved.numel(), "amount": amount, "bits": b,
                                     "accuracy": accuracy, "baseline_accuracy": baseline, "drop": baseline - accuracy})
                        done += 1
                        emit(on_progress, "sensitivity", done, total,
                             f"{name} at {amount:.0%}, {b} bits: accuracy {accuracy:.3f}")
            finally:
                with torch.no_grad():
                    module.weight.copy_(saved)
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


# --- allocation ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    """One (sparsity, bits) per layer with its predicted drop, and the plan's predicted cost and drop."""

    rows: tuple  # dicts: layer, params, sparsity, bits, cost, predicted_drop
    cost: float
    drop: float

    def amounts(self) -> dict[str, float]:
        return {r["layer"]: r["sparsity"] for r in self.rows}

    def bits(self) -> dict[str, int]:
        return {r["layer"]: r["bits"] for r in self.rows}


def layer_options(curves: pd.DataFrame, layer: str, *, prune: bool, step: float = AMOUNT_STEP) -> list[tuple]:
    """(amount, bits, predicted drop) candidates of one layer: every measured bit width, and amounts on a
    `step` grid up to the largest scanned one (drops interpolated linearly between measured amounts,
    negative ones read as 0)."""
    part = curves[curves["layer"] == layer]
    out = []
    for b, rows in part.groupby("bits"):
        rows = rows.sort_values("amount").drop_duplicates("amount")
        xs, ys = rows["amount"].to_numpy(float), rows["drop"].to_numpy(float)
        grid = np.round(np.arange(0.0, xs.max() + 1e-9, step), 6) if prune and len(xs) > 1 else np.array([0.0])
        grid = np.union1d(grid, xs) if prune else grid
        for a in grid:  # a negative drop is noise of a finite test split: no layer gains by compression
            out.append((float(a), int(b), max(0.0, float(np.interp(a, xs, ys)))))
    return out


def smallest_cost(layers: Sequence[LayerInfo], *, largest_amount: float, bits: Sequence[int], target: str = "size",
                  fixed: float = 0.0) -> float:
    """The cheapest plan's cost (every layer at `largest_amount` and its cheapest width), known before any scan:
    costs do not depend on the measured drops, so an unreachable budget is refused at once."""
    return fixed + sum(min(layer_cost(i, largest_amount, b, target) for b in (FP32, *bits)) for i in layers)


def allocate(curves: pd.DataFrame, layers: Sequence[LayerInfo], budget: float, *, target: str = "size",
             fixed: float = 0.0, prune: bool = True, step: float = AMOUNT_STEP, buckets: int = BUCKETS) -> Plan:
    """The plan with the least summed predicted drop whose cost (fixed + per-layer costs) fits `budget`.

    Multiple-choice knapsack by dynamic programming: `dp[c]` is the least drop of the layers so far at
    cost bucket c; each layer's options shift it. Costs are rounded up to buckets of (budget - fixed) /
    `buckets`, so the plan's exact cost is within budget. Raises `Unreachable` (with the smallest
    reachable cost) when even the cheapest option of every layer does not fit.
    """
    if target not in TARGETS:
        raise CompressError(f"target must be one of {', '.join(TARGETS)}; got {target!r}")
    options = {}
    for info in layers:
        opts = layer_options(curves, info.name, prune=prune, step=step)
        if not opts:
            raise CompressError(f"layer {info.name} has no measured curve; measured: "
                                f"{', '.join(map(str, curves['layer'].unique()))}")
        options[info.name] = [(a, b, d, layer_cost(info, a, b, target)) for a, b, d in opts]
    smallest = fixed + sum(min(o[3] for o in options[i.name]) for i in layers)
    room = budget - fixed
    if smallest > budget or room < 0:
        raise Unreachable(f"budget {budget:,.0f} is below the smallest reachable {smallest:,.0f}", smallest)
    unit = max(room / buckets, 1e-9)
    size = buckets + 1
    dp = np.full(size, np.inf)
    dp[0] = 0.0
    choices = []
    for info in layers:
        opts = options[info.name]
        units = [min(size, math.ceil(o[3] / unit - 1e-9)) for o in opts]
        new = np.full(size, np.inf)
        pick = np.full(size, -1, dtype=np.int64)
        for j, (opt, k) in enumerate(zip(opts, units)):
            if k >= size:
                continue
            cand = dp[:size - k] + opt[2]
            better = cand < new[k:]
            new[k:][better] = cand[better]
            pick[k:][better] = j
        dp = new
        choices.append((pick, units))
    if not np.isfinite(dp).any():  # rounding up left nothing: fall back to the cheapest options
        chosen = [min(range(len(options[i.name])), key=lambda j, i=i: options[i.name][j][3]) for i in layers]
    else:
        # Among plans of equal predicted drop take the one that uses the most budget: the per-layer drops
        # miss interactions, and less compression is the safer bet.
        c = int(np.flatnonzero(dp <= dp.min() + 1e-12)[-1])
        chosen = []
        for pick, units in reversed(choices):
            j = int(pick[c])
            chosen.append(j)
            c -= units[j]
        chosen.reverse()
    rows = []
    for info, j in zip(layers, chosen):
        a, b, d, cost = options[info.name][j]
        rows.append({"layer": info.name, "params": info.params, "sparsity": round(a, 6), "bits": b,
                     "cost": cost, "predicted_drop": d})
    return Plan(tuple(rows), fixed + sum(r["cost"] for r in rows), sum(r["predicted_drop"] for r in rows))


# --- correcting predictions by earlier plans ------------------------------------------------------

def correction_from_history(runs: Sequence[Mapping], model: str, dataset: str, hidden=None) -> tuple[float, int]:
    """(mean gap realized - uncorrected predicted accuracy, runs it is the mean of), as a share.

    From finished plan runs of the same model, widths and data set: an additive shift, the same for every
    plan. It folds in what the one-shot sum misses: recovery by fine-tuning, layer interactions, and the
    cost of quantizing after fine-tuning. (0.0, 0) without history.
    """
    gaps = []
    for run in runs:
        spec, m = run.get("spec") or {}, run.get("metrics") or {}
        same_widths = (spec.get("hidden") or None) == (list(hidden) if hidden else None)
        if (run.get("kind") != "plan" or run.get("status") != "finished" or spec.get("model") != model
                or spec.get("dataset") != dataset or not same_widths):
            continue
        raw, realized = m.get("predicted_accuracy_uncorrected"), m.get("accuracy")
        if raw is None or realized is None:
            continue
        gaps.append(realized - raw)
    if not gaps:
        return 0.0, 0
    return float(np.mean(gaps)), len(gaps)
