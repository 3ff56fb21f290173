"""Random: weights go at random, whatever their size; the control that shows a criterion matters.

Scores are drawn from torch's global generator, so a run seeded with `torch.manual_seed`
draws the same mask every time. The pruner removes the smallest scores, so scoring `1 - u`
removes the weights with the largest draws `u`, as `prune.RandomUnstructured` does: a
one-shot per-layer mask equals its mask for the same generator state.
"""
import torch

from compress_core.methods.criteria import Criterion, register


def random_scores(module, calibration=None):
    return 1 - torch.rand_like(module.weight.detach())


CRITERION = register(Criterion(
    name="random", label="random pruning (control)", colour="#ff7f0e",
    description="zero weights at random (the control)", scores=random_scores))
