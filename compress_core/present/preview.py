"""Instant previews: cheap what-if numbers computed on the cached baseline, no training.

The dashboard calls these on every slider move, so each must answer in tens of
milliseconds for small models. They reuse the engine's own pruning and measuring
functions, so a preview shows exactly what a run does before fine-tuning.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from compress_core.context import RunContext
from compress_core.measure.metrics import (
    clean_state_dict,
    count_params,
    flops,
    layer_rows,
    serialized_size,
    sparse_encode,
)
from compress_core.methods.criteria import calibration_batch
from compress_core.methods.prune import prune_to
from compress_core.methods.quantize import (
    fake_quantize_model,
    packed_size_bytes,
    quantization_error,
    quantize_symmetric,
)
from compress_core.methods.structured import prune_channels
from compress_core.models.zoo import MODELS, prunable_layers
from compress_core.specs import TrainSpec
from compress_core.training.baseline import cache_key, resolve
from compress_core.training.loop import evaluate, predict_logits


def baseline_is_cached(spec: TrainSpec, ctx: RunContext) -> bool:
    """True when `get_baseline(spec, ctx)` would load weights instead of training.

    Lets the UI decide between loading at once and queueing a background training run.
    """
    from compress_core.training.baseline import load_baseline_data

    data = load_baseline_data(spec, ctx)
    spec = resolve(spec, data)
    source = None
    if spec.model not in MODELS or any(v is not None for v in (spec.weights, spec.normalize, spec.resize)):
        from compress_core.models.fit import model_and_data  # the key holds the source's content fingerprint

        source = model_and_data(spec, data)[0].fingerprint
    folder = ctx.home / "baselines" / cache_key(spec, source, data)
    return (folder / "weights.pt").exists() and (folder / "info.json").exists()


def prunable_weights(model: nn.Module) -> dict[str, np.ndarray]:
    """Flattened effective weights (masks applied) of every prunable layer, by layer name."""
    return {name: module.weight.detach().cpu().numpy().reshape(-1) for name, module in prunable_layers(model)}


def weight_state(state_dict: dict[str, torch.Tensor], layer_names: list[str]) -> dict[str, np.ndarray]:
    """Flattened `<layer>.weight` tensors of a saved state dict (e.g. a run's weights artifact)."""
    return {name: state_dict[f"{name}.weight"].cpu().numpy().reshape(-1)
            for name in layer_names if f"{name}.weight" in state_dict}


def histogram_edges(values: np.ndarray, bins: int = 80) -> np.ndarray:
    """Bin edges symmetric around zero covering `values`, shared by before/after histograms."""
    limit = float(np.abs(values).max()) if values.size else 1.0
    return np.linspace(-limit, limit, bins + 1)


def histogram(values: np.ndarray, edges: np.ndarray, *, skip_zeros: bool = False) -> np.ndarray:
    """Counts of `values` in `edges`; `skip_zeros` leaves pruned (exactly zero) weights out."""
    if skip_zeros:
        values = values[values != 0]
    return np.histogram(values, bins=edges)[0]


def removed_thresholds(model: nn.Module) -> dict[str, float]:
    """Per layer, the largest magnitude among the weights its pruning mask removed.

    With L1 pruning every weight at or below this magnitude is gone (global scope: the
    same value for every layer). Layers with nothing removed are left out.
    """
    out = {}
    for name, module in prunable_layers(model):
        if not torch_prune.is_pruned(module):
            continue
        removed = module.weight_orig.detach()[module.weight_mask == 0]
        if removed.numel():
            out[name] = float(removed.abs().max())
    return out


def prune_preview(model: nn.Module, x_test: torch.Tensor, y_test: torch.Tensor, method: str, scope: str,
                  amount: float, seed: int = 0, edges: np.ndarray | None = None,
                  x_train: torch.Tensor | None = None, lookup: "MagnitudeLookup | None" = None) -> dict:
    """One-shot pruning of a copy of `model` (no fine-tuning) and what it does.

    Same call, seed and calibration batch (drawn from `x_train`, needed by criteria that
    read activations) as `run_prune`, so `accuracy` equals a run's
    `accuracy_before_finetune`. Returns accuracy, loss, sparsity, params, sizes (dense
    fp32 checkpoint and sparse encoding), L1 thresholds and, with `edges`, the histogram
    of the weights that survive.

    With `lookup` (the `MagnitudeLookup` of `model`), global L1 pruning is one threshold
    lookup instead of torch's top-k over every weight: the same weights are zeroed (checked on
    each call; a tie at the threshold takes torch's path), so every number is the same.
    """
    pruned = copy.deepcopy(model)
    torch.manual_seed(seed)  # the random control draws its mask from the run's seed
    thresholds = None
    if amount > 0 and method == "l1" and scope == "global" and lookup is not None:
        thresholds = lookup.apply(pruned, amount)  # None on a tie: torch's path below
    if amount > 0 and thresholds is None:
        prune_to(pruned, method, scope, amount,
                 None if x_train is None else (lambda: calibration_batch(x_train, seed)))
    accuracy, loss = evaluate(pruned, x_test, y_test)
    total, nonzero = count_params(pruned)
    state = clean_state_dict(pruned)
    weights = np.concatenate(list(prunable_weights(pruned).values()))
    out = {"accuracy": accuracy, "loss": loss, "params_total": total, "params_nonzero": nonzero,
           "sparsity": float((weights == 0).mean()), "param_compression_ratio": total / max(nonzero, 1),
           "size_fp32_bytes": serialized_size(state), "size_sparse_bytes": len(sparse_encode(state)),
           "thresholds": (thresholds if thresholds is not None else removed_thresholds(pruned)) if method == "l1" else {}}
    if edges is not None:
        out["kept_counts"] = histogram(weights, edges, skip_zeros=True)
    return out


def structured_preview(model: nn.Module, x_test: torch.Tensor, y_test: torch.Tensor, input_shape, amount: float,
                       importance: str = "l1") -> dict:
    """Channels removed from a copy of `model` (no fine-tuning): accuracy, parameters, FLOPs, size, layer shapes.

    Same call as the structured run, so `accuracy` equals its `accuracy_before_finetune`.
    Raises CompressError when `amount` would empty a layer.
    """
    pruned = copy.deepcopy(model)
    if amount > 0:
        prune_channels(pruned, input_shape, amount, importance)
    accuracy, loss = evaluate(pruned, x_test, y_test)
    before, _ = count_params(model)
    total, _ = count_params(pruned)
    shapes_before = {row["name"]: row for row in layer_rows(model)}
    layers = [{**row, "params_before": shapes_before[row["name"]]["params"],
               "channels_before": shapes_before[row["name"]]["shape"][0], "channels_kept": row["shape"][0]}
              for row in layer_rows(pruned)]
    return {"accuracy": accuracy, "loss": loss, "params_total": total, "params_before": before,
            "param_ratio": total / max(before, 1), "flops": flops(pruned, input_shape)["flops_dense"],
            "flops_before": flops(model, input_shape)["flops_dense"],
            "size_fp32_bytes": serialized_size(clean_state_dict(pruned)), "layers": layers}


def quantize_preview(model: nn.Module, x_test: torch.Tensor, y_test: torch.Tensor, layer: str, bits: int,
                     granularity: str, channel: int = 0) -> dict:
    """k-bit fake quantization of a copy of `model`, seen from one layer.

    Returns the whole model's accuracy with every weight on its k-bit grid, its packed
    size (and the fp32 checkpoint's), the chosen layer's quantization error (mse, max_abs,
    sqnr_db), and the weights that share one grid (the whole layer for "tensor", output
    channel `channel` for "channel"): their histogram, error and the grid's values.
    """
    modules = dict(prunable_layers(model))
    weight = modules[layer].weight.detach().cpu()
    _, scale = quantize_symmetric(weight, bits, granularity)
    if scale.dim():
        channel = min(max(int(channel), 0), len(scale) - 1)
        shown, step = weight[channel:channel + 1], float(scale[channel])  # one row keeps its own scale
    else:
        shown, step = weight, float(scale)
    values = shown.reshape(-1)
    qmax = 2 ** (bits - 1) - 1
    levels = step * np.arange(-qmax, qmax + 1)
    edges = histogram_edges(values.numpy(), bins=min(120, max(16, values.numel() // 4)))  # ~4 weights a bin
    quantized = fake_quantize_model(copy.deepcopy(model), bits, granularity)
    accuracy, loss = evaluate(quantized, x_test, y_test)
    return {"accuracy": accuracy, "loss": loss, "size_packed_bytes": packed_size_bytes(model, bits, granularity),
            "size_fp32_bytes": serialized_size(model.state_dict()),
            "error": quantization_error(weight, bits, granularity),
            "shown_error": quantization_error(shown, bits, granularity), "edges": edges,
            "counts": histogram(values.numpy(), edges), "levels": levels, "channel": channel if scale.dim() else None,
            "grid_step": step}


def softened_outputs(model: nn.Module, x: torch.Tensor, temperature: float) -> np.ndarray:
    """softmax(logits / T) of `model` for the rows of `x`: what a distilled student learns from."""
    logits = predict_logits(model, x)
    return torch.softmax(logits / temperature, dim=1).numpy()


def entropy_bits(probs: np.ndarray) -> np.ndarray:
    """Entropy of each row of `probs` in bits: how much a softened output says beyond the top class."""
    p = np.clip(probs, 1e-12, 1.0)
    return -(p * np.log2(p)).sum(axis=1)


class MagnitudeLookup:
    """Sorted weight magnitudes of a model, so any L1 pruning amount is one threshold lookup.

    Sorting the |w| of every prunable layer once (global scope: all layers together, as
    `prune_to(..., "l1", "global", amount)` ranks them) turns each slider move into an index
    into the sorted array instead of a model copy and a top-k over every weight. torch's
    pruning removes the `round(amount * n)` smallest magnitudes; so does `keep_masks`, with
    ties at the threshold (not met by trained float weights) the only possible difference.
    Written by hand: torch.nn.utils.prune has no precomputed-ranking form.
    """

    def __init__(self, model: nn.Module):
        self.weights = prunable_weights(model)
        self.sorted = np.sort(np.abs(np.concatenate(list(self.weights.values()))))

    def removed_count(self, amount: float) -> int:
        """Weights that global L1 pruning at `amount` removes (torch's rounding)."""
        return int(round(float(amount) * self.sorted.size))

    def threshold(self, amount: float) -> float:
        """The largest removed magnitude at `amount` (-inf when nothing is removed)."""
        k = self.removed_count(amount)
        return float(self.sorted[k - 1]) if k > 0 else float("-inf")

    def keep_masks(self, amount: float) -> dict[str, np.ndarray]:
        """Per layer, True for the weights global L1 pruning at `amount` keeps (flattened)."""
        t = self.threshold(amount)
        return {name: np.abs(w) > t for name, w in self.weights.items()}

    def sparsity(self, amount: float) -> float:
        """Share of prunable weights removed at `amount`: the preview's sparsity card."""
        return self.removed_count(amount) / max(self.sorted.size, 1)

    def apply(self, model: nn.Module, amount: float) -> dict[str, float] | None:
        """Mask in `model` (a copy of the model this lookup was built from) the weights global L1 pruning at
        `amount` removes, with torch's own `custom_from_mask` (so the model is in prune_to's form: a mask on
        every prunable layer); returns `removed_thresholds`' per-layer values, or None (nothing changed) when
        weights tie at the threshold, where torch's top-k picks some of them and `keep_masks` would not."""
        if (self.sorted.size and self.sorted[0] == 0) or any(torch_prune.is_pruned(m) for _, m in prunable_layers(model)):
            return None  # zeros already (torch prunes a share relative to them) or masks already: torch's path
        masks = self.keep_masks(amount)
        if sum(int((~keep).sum()) for keep in masks.values()) != self.removed_count(amount):
            return None
        thresholds = {}
        for name, module in prunable_layers(model):  # the same masks, in the same form, as prune_to leaves
            keep = masks[name]
            torch_prune.custom_from_mask(module, "weight", torch.from_numpy(keep.reshape(tuple(module.weight.shape))))
            if not keep.all():
                thresholds[name] = float(np.abs(self.weights[name][~keep]).max())
        return thresholds
