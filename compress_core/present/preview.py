"""Instant previews: cheap what-if numbers computed on the cached baseline, no training.

The dashboard calls these on every slider move, so each must answer in tens of
milliseconds for small models. They reuse the engine's own pruning and measuring
functions, so a preview shows exactly what a run does before fine-tuning.
"""
from __future__ import annotations

import copy
import json

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
    `quantize_numbers` + `quantized_accuracy`, the two parts a progressive preview draws apart.
    """
    accuracy, loss = quantized_accuracy(model, x_test, y_test, bits, granularity)
    return {"accuracy": accuracy, "loss": loss, **quantize_numbers(model, layer, bits, granularity, channel)}


def quantize_numbers(model: nn.Module, layer: str, bits: int, granularity: str, channel: int = 0,
                     size_fp32_bytes: int | None = None) -> dict:
    """Everything `quantize_preview` returns but accuracy and loss: no model copy, no evaluation (about 1 ms).

    `size_fp32_bytes` (the baseline's `serialized_size`, which no setting changes) saves a torch.save of the
    whole model per call: 70-240 ms for a MiniLM-sized encoder."""
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
    return {"size_packed_bytes": packed_size_bytes(model, bits, granularity),
            "size_fp32_bytes": serialized_size(model.state_dict()) if size_fp32_bytes is None else size_fp32_bytes,
            "error": quantization_error(weight, bits, granularity),
            "shown_error": quantization_error(shown, bits, granularity), "edges": edges,
            "counts": histogram(values.numpy(), edges), "levels": levels, "channel": channel if scale.dim() else None,
            "grid_step": step}


def quantized_accuracy(model: nn.Module, x_test: torch.Tensor, y_test: torch.Tensor, bits: int,
                       granularity: str) -> tuple[float, float]:
    """(accuracy, loss) with every weight of a copy of `model` on its k-bit grid: the same for any layer shown."""
    quantized = fake_quantize_model(copy.deepcopy(model), bits, granularity)
    return evaluate(quantized, x_test, y_test)


def softened_outputs(model: nn.Module, x: torch.Tensor, temperature: float) -> np.ndarray:
    """softmax(logits / T) of `model` for the rows of `x`: what a distilled student learns from."""
    return soften(predict_logits(model, x), temperature)


def soften(logits: torch.Tensor, temperature: float) -> np.ndarray:
    """softmax(logits / T): `softened_outputs` from logits computed once (they do not depend on T)."""
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


_SPARSE_FRAME = len(sparse_encode({})) - len(b"[]")  # sparse_encode's bytes around its JSON header and payload


class PruneNumbers:
    """What global L1 pruning at any amount does to a model's size, found without copying or running it.

    A slider move on a large model (a MiniLM-sized encoder: 22.7 M parameters, one evaluation
    on the 240 test sentences about 1 s on one thread) cannot wait for the pruned copy to be built
    and evaluated. Everything `prune_preview` reports except accuracy and loss follows from which
    weights the mask removes, and for global L1 those are the `MagnitudeLookup` threshold's: per
    layer, the removed weights are one contiguous block of its sorted signed values (|w| <= t).
    So sparsity, non-zero parameters, the dense and sparse file sizes, the per-layer thresholds
    and the histogram of the kept weights (cumulative counts per bin edge minus the removed block)
    are a few `searchsorted` calls per layer. The file sizes reproduce `serialized_size` (measured
    once per tensor order: torch.save's size does not depend on the values) and `sparse_encode`'s
    header and payload byte for byte. Written by hand: no library derives these from a ranking.

    Ties at the threshold (a MiniLM-sized model's 10.6 M float32 weights tie at 3 of 20 amounts between
    51 and 70 %) are the one exception: which tied weights torch's top-k removes only its own top-k over
    every weight can say (0.7-1.5 s, as slow as the evaluation), so there the per-layer split of the few tied
    weights follows a fixed rule (`removed_block`); sparsity and non-zero counts stay exact. `numbers(amount,
    edges)` returns None where more could differ (weights already zero or masked); the caller then runs
    `prune_preview`.
    """

    def __init__(self, model: nn.Module, lookup: "MagnitudeLookup"):
        self.lookup = lookup
        self.layers = [name for name, _ in prunable_layers(model)]
        self.signed = {name: np.sort(w) for name, w in lookup.weights.items()}  # per layer, signed, ascending
        self.supported = bool(lookup.sorted.size) and lookup.sorted[0] != 0 and not any(
            torch_prune.is_pruned(m) for _, m in prunable_layers(model))
        dense = clean_state_dict(model)
        pruned = copy.deepcopy(model)  # the key order a pruned model's state dict has (torch moves weight_orig last)
        for _, module in prunable_layers(pruned):
            torch_prune.identity(module, "weight")
        order = [k[:-len("_orig")] if k.endswith("_orig") else k for k in pruned.state_dict() if not k.endswith("_mask")]
        del pruned
        self.entries = {}  # state-dict key -> (numpy dtype name, shape, numel, itemsize, non-zero, counted, layer)
        weight_keys = {f"{name}.weight": name for name in self.layers}
        for key, tensor in dense.items():
            bf16 = tensor.dtype == torch.bfloat16
            array = (tensor.view(torch.int16) if bf16 else tensor).numpy()
            counted = tensor.is_floating_point() and not key.endswith(("running_mean", "running_var"))
            self.entries[key] = ("bfloat16" if bf16 else str(array.dtype), list(array.shape), array.size,
                                 array.itemsize, bf16 or array.dtype.kind == "f", int(np.count_nonzero(array)),
                                 counted, weight_keys.get(key))
        self.order = {False: list(dense), True: order}
        self.fp32_bytes = {False: serialized_size(dense),
                           True: serialized_size({k: dense[k] for k in order})}  # clones: no shared storage
        self.params_total = sum(e[2] for e in self.entries.values() if e[6])

    def removed_block(self, amount: float) -> dict[str, tuple[int, int, int, int]]:
        """Per layer, what global L1 at `amount` removes from its sorted signed weights `s`: the block
        s[lo:hi] strictly inside (-t, t), plus `neg` weights equal to -t and `pos` equal to t.

        Without ties at the threshold every weight with |w| = t goes (the usual case: exact). With ties
        torch's top-k removes only some of them; see the stand-in below."""
        k = self.lookup.removed_count(amount)
        if k == 0:
            return {name: (0, 0, 0, 0) for name in self.layers}
        t = self.lookup.threshold(amount)
        block = {}
        for name, s in self.signed.items():
            lo_neg, hi_neg = int(s.searchsorted(-t, "left")), int(s.searchsorted(-t, "right"))
            lo_pos, hi_pos = int(s.searchsorted(t, "left")), int(s.searchsorted(t, "right"))
            block[name] = (hi_neg, lo_pos, hi_neg - lo_neg, hi_pos - lo_pos)
        need = k - sum(hi - lo for lo, hi, _, _ in block.values())
        if sum(neg + pos for _, _, neg, pos in block.values()) == need:
            return block
        # Ties at t: torch's top-k removes only `need` of the tied weights, and which ones only its own top-k over
        # every |w| can say (0.7-1.5 s for 10.6 M weights, as slow as the evaluation). A stand-in: the first
        # `need` in layer order, negative before positive. Totals (sparsity, non-zero parameters) stay exact;
        # per layer, the sparse size and the two histogram bins holding +-t can differ by the few tied weights.
        for name, (lo, hi, neg, pos) in block.items():
            take_neg = min(neg, need)
            take_pos = min(pos, need - take_neg)
            need -= take_neg + take_pos
            block[name] = (lo, hi, take_neg, take_pos)
        return block

    def numbers(self, amount: float, edges: np.ndarray | None = None) -> dict | None:
        """`prune_preview(model, ..., "l1", "global", amount, edges=edges)` without accuracy and loss, or None."""
        if not self.supported:
            return None
        block = self.removed_block(amount)
        removed = {name: hi - lo + neg + pos for name, (lo, hi, neg, pos) in block.items()}
        masked = amount > 0  # prune_preview masks every prunable layer (state-dict order changes) for any amount > 0
        header, offset, nonzero = [], 0, 0
        for key in self.order[masked]:
            dtype, shape, n, itemsize, floating, nz, counted, layer = self.entries[key]
            if layer is not None:
                nz -= removed[layer]  # no zeros before pruning (checked), so every removed weight is a new zero
            nonzero += nz if counted else 0
            entry = {"name": key, "dtype": dtype, "shape": shape}
            bitmap = (n + 7) // 8  # np.packbits of the mask
            if floating and bitmap + nz * itemsize < n * itemsize:  # sparse_encode's rule
                entry["encoding"], size = "bitmap", bitmap + nz * itemsize
                entry["bitmap_bytes"] = bitmap
            else:
                entry["encoding"], size = "dense", n * itemsize
            entry["offset"], entry["size"] = offset, size
            offset += size
            header.append(entry)
        sparse_bytes = _SPARSE_FRAME + len(json.dumps(header).encode()) + offset
        total_removed = sum(removed.values())
        t = self.lookup.threshold(amount)
        thresholds = {}
        for name, (lo, hi, neg, pos) in block.items():
            if neg or pos:
                thresholds[name] = t
            elif hi > lo:
                s = self.signed[name]
                thresholds[name] = float(max(-s[lo], s[hi - 1]))
        out = {"params_total": self.params_total, "params_nonzero": nonzero,
               "sparsity": total_removed / max(self.lookup.sorted.size, 1),
               "param_compression_ratio": self.params_total / max(nonzero, 1),
               "size_fp32_bytes": self.fp32_bytes[masked], "size_sparse_bytes": sparse_bytes,
               "thresholds": thresholds}
        if edges is not None:
            out["kept_counts"] = self.kept_counts(block, edges, t)
        return out

    def kept_counts(self, block: dict[str, tuple[int, int, int, int]], edges: np.ndarray, t: float) -> np.ndarray:
        """`histogram(kept weights, edges)`: per layer, np.histogram's cumulative counts at the edges
        (searchsorted 'left', the last edge 'right') less the removed weights below each edge."""
        cum = np.zeros(len(edges), dtype=np.intp)
        below = edges[:-1]
        for name, s in self.signed.items():
            lo, hi, neg, pos = block[name]
            at = np.concatenate((s.searchsorted(below, "left"), s.searchsorted(edges[-1:], "right")))
            gone = np.clip(at - lo, 0, hi - lo)
            if neg or pos:
                gone = gone + neg * np.append(-t < below, -t <= edges[-1]) + pos * np.append(t < below, t <= edges[-1])
            cum += at - gone
        return np.diff(cum)


def pruned_accuracy(model: nn.Module, x_test: torch.Tensor, y_test: torch.Tensor, amount: float,
                    lookup: "MagnitudeLookup | None" = None, seed: int = 0,
                    x_train: torch.Tensor | None = None) -> tuple[float, float]:
    """(accuracy, loss) of `model` after global L1 pruning at `amount`: `prune_preview`'s evaluation alone
    (the same copy, masks and call), for the part of a progressive preview that arrives after the numbers."""
    pruned = copy.deepcopy(model)
    torch.manual_seed(seed)
    done = amount <= 0 or (lookup is not None and lookup.apply(pruned, amount) is not None)
    if not done:
        prune_to(pruned, "l1", "global", amount,
                 None if x_train is None else (lambda: calibration_batch(x_train, seed)))
    return evaluate(pruned, x_test, y_test)
