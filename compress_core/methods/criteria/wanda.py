"""Wanda: prune by weight magnitude times input activation norm (Sun et al. 2023, arXiv 2306.11695).

The score of weight W_ij (output i, input feature j) is |W_ij| * ||X_j||_2, where
||X_j||_2 is the L2 norm of input feature j over the calibration rows: a small weight on
a loud input can matter more than a large weight on a quiet one. For Conv2d the norm is
per input channel, over samples and spatial positions, and the same for every kernel
position of that channel (the paper prunes Linear layers; this is the natural per-channel
reading for convolutions, not im2col columns). The norms come from one forward pass of
a seeded batch of training inputs (`criteria.calibration_batch`, 128 rows), collected
with forward hooks for all layers at once; there is no weight update, as in the paper.

Comparison group (how the scores are ranked):
- The paper compares scores within each output row ("per output") and removes the same
  share of every row, so every layer ends at the target sparsity.
- `wanda` feeds the raw scores to torch's pruning, which ranks them as the scope says:
  `layer` ranks all weights of a layer together (the paper's "per layer" ablation group),
  `global` ranks all layers together (beyond the paper: norms of different layers are
  compared directly).
- `wanda_row` is the paper's per-output group: each score is replaced by its rank within
  its output row (normalised to (0, 1]), so `layer` scope removes the same share of every
  row (to within one weight). With `global` scope every row of every layer loses the
  same share too, since ranks carry no scale, which is again the paper's setting.
"""
from __future__ import annotations

import torch
from torch import nn

from compress_core.methods.criteria import Calibration, Criterion, register


def input_norm_per_weight(module: nn.Module, calibration: Calibration) -> torch.Tensor:
    """||X_j||_2 shaped to broadcast over `module.weight` (grouped convolutions included)."""
    weight = module.weight
    norm = calibration.input_norm(module).to(weight.device, weight.dtype)
    if isinstance(module, nn.Conv2d):
        groups, out_channels = module.groups, weight.shape[0]
        per_group = norm.view(groups, -1)  # (groups, in_channels / groups)
        group_of_out = torch.arange(out_channels, device=weight.device) // (out_channels // groups)
        return per_group[group_of_out][:, :, None, None]  # (out, in / groups, 1, 1)
    return norm.view(1, -1)  # Linear: (1, in_features)


def wanda_scores(module: nn.Module, calibration: Calibration) -> torch.Tensor:
    """|W| * ||X_j||_2 of the effective weight (already-pruned weights score 0)."""
    return module.weight.detach().abs() * input_norm_per_weight(module, calibration)


def rank_within_rows(scores: torch.Tensor) -> torch.Tensor:
    """Each score's rank within its output row (dim 0), as (rank + 1) / row length in (0, 1]."""
    rows = scores.reshape(scores.shape[0], -1)
    ranks = rows.argsort(dim=1, stable=True).argsort(dim=1, stable=True)
    return ((ranks + 1).to(scores.dtype) / rows.shape[1]).view_as(scores)


def wanda_row_scores(module: nn.Module, calibration: Calibration) -> torch.Tensor:
    return rank_within_rows(wanda_scores(module, calibration))


CRITERION = register(Criterion(
    name="wanda", label="Wanda pruning (|W|·‖X‖)", colour="#e377c2",
    description="zero weights with the smallest |weight| x input norm (Wanda; calibration batch)",
    scores=wanda_scores, needs_calibration=True))

ROW_CRITERION = register(Criterion(
    name="wanda_row", label="Wanda pruning, per output row", colour="#8c6d31",
    description="Wanda compared within each output row: every row loses the same share (as in the paper)",
    scores=wanda_row_scores, needs_calibration=True))
