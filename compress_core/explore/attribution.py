"""Which layer is to blame: per-layer attribution measured by swapping the run's own layers.

For every prunable layer L (Linear/Conv2d, `models.zoo.prunable_layers`) of a run whose layers
match its baseline's one to one (same names and weight shapes: unstructured pruning, fake k-bit
quantization, pipelines of those), two models are evaluated on the test examples, no retraining:

- *only L compressed*: the baseline with layer L compressed as the run compressed it;
- *all but L compressed*: the baseline with every prunable layer compressed except L.

"Compressed as the run did" has two modes. `weights`: the run's own weight and bias of the layer
(its k-bit grid, its mask, and any fine-tuned values). `mask`: the baseline's weight times the run's
mask (its zeros), so a pruned-and-fine-tuned run is attributed by what its masks remove, without
fine-tuning's co-adapted values blurring the swap; "all compressed" is then the model right after
pruning, before fine-tuning (the run's `accuracy_before_finetune`).

`drop` = baseline accuracy - accuracy with only L compressed (what L alone costs);
`recovered` = accuracy with all but L compressed - accuracy with all compressed (what restoring L
alone gives back). Rows are sorted by `drop`, then `recovered`, highest first. Beside them: the
layer's share of the prunable parameters and of the forward FLOPs (`measure.metrics.flops`,
2 FLOPs per multiply-add), the share of its weights that differ from the baseline's, and its output
error as SQNR in dB: 10·log10(Σ y² / Σ (y - ŷ)²), where y is the baseline layer's output and ŷ the
run layer's output on the *same* input (the baseline's activations into L on the test examples),
so a layer's SQNR does not include errors of the layers before it.

Note:
    In `weights` mode the run's layer L carries everything the run did to it: its mask or k-bit
    grid, and for fine-tuned runs the fine-tuned values. "All compressed" is the baseline with every prunable
    layer swapped; other tensors (biases of non-prunable layers, BatchNorm statistics) stay the
    baseline's, so its accuracy may differ slightly from the run's own (both are reported).
"""
from __future__ import annotations

import copy
import math
from typing import Sequence

import torch
from torch import nn

from compress_core.measure.metrics import flops
from compress_core.models.zoo import prunable_layers

SQNR_EXAMPLES = 256  # test examples whose layer inputs feed the SQNR


def correspondence(base: nn.Module, run: nn.Module) -> tuple[list[str], str | None]:
    """(names of the prunable layers both models share, None) or ([], the reason they do not match)."""
    base_layers, run_layers = dict(prunable_layers(base)), dict(prunable_layers(run))
    if not base_layers:
        return [], "the model has no Linear or Conv2d layers to attribute"
    if list(base_layers) != list(run_layers):
        return [], ("the run's layers do not correspond to the baseline's (a different architecture: "
                    "distillation or a changed model), so per-layer swaps are not defined")
    changed = [n for n in base_layers if base_layers[n].weight.shape != run_layers[n].weight.shape]
    if changed:
        return [], (f"the run's layers have other shapes than the baseline's ({', '.join(changed[:3])}"
                    f"{'...' if len(changed) > 3 else ''}: channels removed by structured pruning, or a distilled "
                    "student of another size), so per-layer swaps are not defined")
    return list(base_layers), None


def swapped(base: nn.Module, run: nn.Module, names: Sequence[str], mode: str = "weights") -> nn.Module:
    """A copy of `base` whose layers `names` are compressed as the run compressed them.

    mode "weights": the run's weight and bias; mode "mask": the baseline's weight with the run's zeros
    (its pruning mask) and the baseline's bias, so fine-tuning does not blur what the mask costs.
    """
    model = copy.deepcopy(base)
    mine, theirs = dict(prunable_layers(model)), dict(prunable_layers(run))
    with torch.no_grad():
        for name in names:
            if mode == "mask":
                mine[name].weight.mul_((theirs[name].weight.detach() != 0).to(mine[name].weight.dtype))
                continue
            for attr in ("weight", "bias"):
                target, source = getattr(mine[name], attr, None), getattr(theirs[name], attr, None)
                if isinstance(target, torch.Tensor) and isinstance(source, torch.Tensor):
                    target.copy_(source.detach().to(target.device, target.dtype))
    return model.eval()


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 512) -> float:
    """Top-1 accuracy, batch by batch, without gradients."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            correct += int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
    return correct / max(len(x), 1)


def sqnr_db(reference: torch.Tensor, approx: torch.Tensor) -> float | None:
    """10·log10(signal power / error power); None when undefined (identical outputs: no error to
    measure; or an all-zero reference)."""
    signal = float(reference.double().pow(2).sum())
    noise = float((reference.double() - approx.double()).pow(2).sum())
    if noise == 0.0 or signal == 0.0:
        return None
    return 10.0 * math.log10(signal / noise)


def layer_sqnr(base: nn.Module, run: nn.Module, names: Sequence[str], x: torch.Tensor) -> dict[str, float | None]:
    """SQNR (dB) of each run layer's output against the baseline layer's, on the baseline's inputs to it."""
    inputs: dict[str, torch.Tensor] = {}
    layers = dict(prunable_layers(base))
    hooks = [layers[n].register_forward_hook(lambda m, args, out, n=n: inputs.__setitem__(n, args[0].detach()))
             for n in names]
    try:
        with torch.no_grad():
            base.eval()(x)
    finally:
        for hook in hooks:
            hook.remove()
    run_layers = dict(prunable_layers(run))
    out = {}
    with torch.no_grad():
        for name in names:
            if name not in inputs:  # a layer the forward pass never reached
                out[name] = None
                continue
            out[name] = sqnr_db(layers[name](inputs[name]), run_layers[name](inputs[name]))
    return out


def _changed_share(base_layer: nn.Module, run_layer: nn.Module) -> float:
    a, b = base_layer.weight.detach(), run_layer.weight.detach()
    return float((a != b).float().mean())


def attribute(base: nn.Module, run: nn.Module, x: torch.Tensor, y: torch.Tensor, input_shape=None,
              mode: str = "weights") -> dict:
    """Per-layer attribution (see the module docstring); `mode` as in `swapped`.

    Returns {available: True, rows, baseline_accuracy, all_compressed_accuracy, examples, method} or
    {available: False, reason} when the layers do not correspond.
    """
    base, run = base.eval(), run.eval()
    names, reason = correspondence(base, run)
    if reason:
        return {"available": False, "reason": reason}
    base_acc = accuracy(base, x, y)
    all_acc = accuracy(swapped(base, run, names, mode), x, y)
    shape = tuple(input_shape) if input_shape is not None else tuple(x.shape[1:])
    per_layer_flops = flops(base, shape)["flops_per_layer"]
    total_flops = sum(per_layer_flops.values()) or 1
    base_layers = dict(prunable_layers(base))
    params = {n: base_layers[n].weight.numel() for n in names}
    total_params = sum(params.values()) or 1
    compressed = swapped(base, run, names, mode)  # each layer as the swaps use it
    sqnr = layer_sqnr(base, compressed, names, x[:SQNR_EXAMPLES])
    rows = []
    for name in names:
        only = accuracy(swapped(base, run, [name], mode), x, y)
        all_but = accuracy(swapped(base, run, [n for n in names if n != name], mode), x, y)
        rows.append({"layer": name, "type": type(base_layers[name]).__name__,
                     "params": params[name], "params_share": params[name] / total_params,
                     "flops": int(per_layer_flops.get(name, 0)),
                     "flops_share": per_layer_flops.get(name, 0) / total_flops,
                     "changed_share": _changed_share(base_layers[name], dict(prunable_layers(compressed))[name]),
                     "accuracy_only_this": only, "accuracy_all_but_this": all_but,
                     "drop": base_acc - only, "recovered": all_but - all_acc, "sqnr_db": sqnr[name]})
    rows.sort(key=lambda r: (-r["drop"], -r["recovered"], r["layer"]))
    what = ("the run's pruning mask applied to the baseline's weights of a layer" if mode == "mask" else
            "the run's weight and bias of a layer put into the baseline")
    return {"available": True, "rows": rows, "baseline_accuracy": base_acc, "all_compressed_accuracy": all_acc,
            "examples": int(len(x)), "mode": mode,
            "method": f"layer swaps: {what} (only this "
                      "layer) or every layer but it (all but this), accuracy on the test examples; SQNR of the "
                      "layer's output on the baseline's inputs to it; FLOPs by torch FlopCounterMode "
                      "(2 per multiply-add)"}
