"""FLOPs of one sample's forward pass: dense (counted by torch) and non-zero (counted by hand).

- Dense: `torch.utils.flop_counter.FlopCounterMode`, which counts 2 FLOPs per multiply-add
  (MAC) of every matmul, linear and convolution it sees.
- Non-zero: the MACs an ideal sparse kernel would still do. No library counts these (torch's
  counter, fvcore and thop all count a masked weight as if it were dense), so this module counts
  them by hand, per Linear/Conv layer: a weight is used once per output position (a Linear's
  output rows, e.g. tokens; a convolution's output pixels), so the layer does
  `weights x positions` MACs dense and `non-zero weights x positions` sparse. The zero weights'
  MACs are taken off torch's dense count, so work outside these layers (attention matmuls,
  pooling) stays as torch counted it.

The theoretical speed-up is the baseline's dense FLOPs / the compressed model's non-zero FLOPs:
what an ideal kernel could gain. It is never a measurement; the report shows it beside the
measured speed-up and labels it so.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from compress_core.measure.metrics import effective_weight, example_batch
from compress_core.measure.runtimes import device_of

FLOPS_PER_MAC = 2  # FlopCounterMode's convention
_COUNTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)  # layers whose weights multiply each output position


def _forward(model: nn.Module, input_shape: Sequence[int], counter=None) -> None:
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            batch = example_batch(model, input_shape, 1, device_of(model), zeros=True)
            if counter is None:
                model(batch)
            else:
                with counter:
                    model(batch)
    finally:
        model.train(was_training)


def dense_flops(model: nn.Module, input_shape: Sequence[int]) -> int:
    """FLOPs of one sample's forward pass as torch's FlopCounterMode counts them (2 per multiply-add)."""
    counter = FlopCounterMode(display=False)
    _forward(model, input_shape, counter)
    return int(counter.get_total_flops())


def layer_macs(model: nn.Module, input_shape: Sequence[int]) -> list[dict]:
    """Per Linear/Conv layer of one sample's forward pass: name, type, weights, non-zero weights,
    output positions, dense and non-zero MACs (counted by hand, see the module's docstring).

    Positions are read from each call's output (forward hooks), so a layer called twice counts twice.
    """
    positions: dict[str, int] = {}
    handles = []

    def hook(name):
        def record(module, inputs, output):
            if isinstance(output, torch.Tensor):
                channels = module.out_features if isinstance(module, nn.Linear) else module.out_channels
                positions[name] = positions.get(name, 0) + output.numel() // max(channels, 1)
        return record

    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, _COUNTED)]
    try:
        for name, module in layers:
            handles.append(module.register_forward_hook(hook(name)))
        _forward(model, input_shape)
    finally:
        for handle in handles:
            handle.remove()
    rows = []
    for name, module in layers:
        if name not in positions:  # not used by this forward pass
            continue
        weight = effective_weight(module)
        total, nonzero = weight.numel(), int(torch.count_nonzero(weight))
        rows.append({"name": name, "type": type(module).__name__, "weights": total, "nonzero": nonzero,
                     "positions": positions[name], "macs_dense": total * positions[name],
                     "macs_nonzero": nonzero * positions[name]})
    return rows


def nonzero_flops(model: nn.Module, input_shape: Sequence[int], dense: int | None = None) -> int:
    """Torch's dense FLOPs (`dense`, counted here when None) less 2 FLOPs per multiply-add of a zero weight."""
    dense = dense_flops(model, input_shape) if dense is None else int(dense)
    skipped = sum(row["macs_dense"] - row["macs_nonzero"] for row in layer_macs(model, input_shape))
    return max(0, dense - FLOPS_PER_MAC * skipped)


def theoretical_speedup(baseline_dense: float | None, flops: float | None) -> float | None:
    """The baseline's dense FLOPs / the model's non-zero FLOPs; None when either is missing."""
    if not baseline_dense or not flops:
        return None
    return float(baseline_dense) / float(flops)
