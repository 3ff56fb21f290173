"""A model summary shown before any run: parameters, a layer table, the input it expects, FLOPs.

Pure functions of a module and an input shape, so the browser, the CLI and tests show the same.
FLOPs come from `compress_core.measure.metrics.flops` (torch's FlopCounterMode, 2 FLOPs per
multiply-add) on one sample.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd
from torch import nn

from compress_core.measure.metrics import flops


def layer_table(model: nn.Module) -> pd.DataFrame:
    """One row per leaf module that holds parameters: name, type, weight shape, parameters."""
    rows = []
    for name, module in model.named_modules():
        own = list(module.parameters(recurse=False))
        if not own:
            continue
        weight = getattr(module, "weight", None)
        shape = list(weight.shape) if weight is not None and hasattr(weight, "shape") else list(own[0].shape)
        rows.append({"layer": name or "(root)", "type": type(module).__name__, "shape": "×".join(map(str, shape)),
                     "params": sum(p.numel() for p in own)})
    return pd.DataFrame(rows, columns=["layer", "type", "shape", "params"])


def summarize(model: nn.Module, input_shape: Sequence[int], *, description: str = "", normalize: str = "",
              comes_trained: bool = False) -> dict:
    """Parameter count, layer table, expected input, FLOPs of one sample; `flops` None when counting fails."""
    try:
        counted = flops(model.eval(), tuple(input_shape))["flops_dense"]
    except Exception:  # a graph FlopCounterMode cannot trace: say so rather than guess
        counted = None
    return {"params": sum(p.numel() for p in model.parameters()), "layers": layer_table(model),
            "input_shape": list(input_shape), "flops": counted, "description": description,
            "normalize": normalize, "comes_trained": comes_trained}
