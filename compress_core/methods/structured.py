"""Structured pruning: remove whole neurons and channels with Torch-Pruning.

Torch-Pruning's dependency graph finds every tensor coupled to a channel (the next
layer's inputs, batch-norm statistics, both sides of a residual add), so removing a
channel removes it everywhere at once and the model stays consistent. Every group
loses the same share of its channels (`global_pruning=False`), ranked by the L1 or L2
norm of the group's weights. The result is a smaller dense model: fewer FLOPs *and*
a real speed-up on ordinary kernels, unlike masks.

Note:
    Removing a share p of the channels of two consecutive layers shrinks the weight
    matrix between them on both sides, so inner layers keep about (1 - p)^2 of their
    weights; the first layer (fixed inputs) and the classifier (fixed outputs) keep
    about (1 - p).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch_pruning as tp
from torch import nn

from compress_core.errors import CompressError
from compress_core.measure.metrics import device_of, layer_rows
from compress_core.models.zoo import prunable_layers

_NORMS = {"l1": 1, "l2": 2}
NOTE = "physical removal: smaller dense tensors, real speed-up possible"


def kept_channels(channels: int, amount: float) -> int:
    """Channels a group keeps: Torch-Pruning's local rounding, `int(n * (1 - amount))`."""
    return int(channels * (1 - amount))


def max_amount(channels: int) -> float:
    """Largest amount (3 decimals) that keeps at least one of `channels` under that rounding."""
    amount = math.floor((1 - 1 / channels) * 1000) / 1000
    while amount > 0 and kept_channels(channels, amount) < 1:  # float rounding: 5 * (1 - 0.8) < 1
        amount = round(amount - 0.001, 3)
    return amount


def _pruner(model: nn.Module, input_shape: Sequence[int], amount: float, importance: str) -> tp.pruner.MetaPruner:
    if importance not in _NORMS:
        raise CompressError(f"importance must be one of {', '.join(_NORMS)}; got {importance!r}")
    device = device_of(model)
    classifier = prunable_layers(model)[-1][1]  # its outputs are the classes: never pruned
    return tp.pruner.MetaPruner(model, torch.zeros(1, *input_shape, device=device),
                                importance=tp.importance.MagnitudeImportance(p=_NORMS[importance]),
                                pruning_ratio=amount, global_pruning=False, ignored_layers=[classifier])


def _groups(pruner: tp.pruner.MetaPruner, model: nn.Module) -> list[tuple[str, list[str], int]]:
    """(root layer, layers whose outputs are coupled with it, channels) per prunable group."""
    names = {module: name for name, module in model.named_modules()}
    out = []
    for group in pruner.DG.get_all_groups(ignored_layers=pruner.ignored_layers,
                                          root_module_types=pruner.root_module_types):
        root = group[0].dep.target.module
        coupled = [names[dep.target.module] for dep, _ in group
                   if isinstance(dep.target.module, (nn.Linear, nn.Conv2d))
                   and pruner.DG.is_out_channel_pruning_fn(dep.handler) and dep.target.module is not root]
        out.append((names[root], coupled, pruner.DG.get_out_channels(root)))
    return out


def check_amount(groups: list[tuple[str, list[str], int]], amount: float) -> None:
    """Refuse an amount that would leave a group without channels, naming the layer and the limit.

    Torch-Pruning leaves single-channel groups untouched, so they never block an amount.
    """
    blocked = [(max_amount(n), name, coupled, n) for name, coupled, n in groups
               if n > 1 and kept_channels(n, amount) < 1]
    if blocked:
        limit, name, coupled, n = min(blocked)
        with_ = f" (coupled with {', '.join(coupled)})" if coupled else ""
        raise CompressError(
            f"structured amount {amount:g} would remove every channel of layer {name!r}{with_}: it has {n} "
            f"channels and int({n} * (1 - {amount:g})) = 0 are kept; the largest amount that keeps at least one "
            f"channel in every layer is {limit:g}")


def prune_channels(model: nn.Module, input_shape: Sequence[int], amount: float, importance: str = "l1") -> nn.Module:
    """Physically remove `amount` of the output channels of every group except the classifier, in place.

    Traced in eval mode so the example input does not touch batch-norm running statistics.
    """
    if getattr(model, "is_vision_transformer", False):
        raise CompressError("structured pruning of a ViT is not supported (head removal is written for BERT-style "
                            "text encoders); use an unstructured method (l1, wanda, random), quantize or distil")
    was_training = model.training
    model.eval()
    pruner = _pruner(model, input_shape, amount, importance)
    check_amount(_groups(pruner, model), amount)
    pruner.step()
    try:  # a graph Torch-Pruning cannot keep consistent (e.g. attention reshapes by head) fails here, in one line
        with torch.no_grad():
            model(torch.zeros(2, *input_shape, device=device_of(model)))
    except Exception as exc:
        raise CompressError(f"structured pruning left {type(model).__name__} inconsistent ({type(exc).__name__}: "
                            f"{' '.join(str(exc).split())[:200]}); models with attention or reshapes by channel "
                            "count need head-aware pruning: use unstructured pruning (l1) for this model") from None
    model.train(was_training)
    return model


def structured_rows(model: nn.Module, shapes_before: dict[str, list[int]]) -> list[dict]:
    """`layer_rows` plus the shape before pruning and the output channels kept per layer."""
    rows = []
    for row in layer_rows(model):
        before = shapes_before[row["name"]]
        rows.append({**row, "shape_before": before, "channels_before": before[0], "channels_kept": row["shape"][0],
                     "params_before": math.prod(before)})
    return rows


def layer_shapes(model: nn.Module) -> dict[str, list[int]]:
    return {name: list(module.weight.shape) for name, module in prunable_layers(model)}


def load_pruned(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> nn.Module:
    """Load a structured-pruned state dict into a freshly built model of the same architecture.

    Written by hand: `tp.state_dict`/`tp.load_state_dict` pickle whole module objects,
    which `torch.load(..., weights_only=True)` rightly refuses. A plain state dict already
    holds every new shape, so each tensor is resized to it and the size attributes
    (`in_features`, `out_channels`, `num_features`, ...) follow.
    """
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        for key, tensor in list(module.named_parameters(recurse=False)):
            saved = state_dict.get(prefix + key)
            if saved is not None and saved.shape != tensor.shape:
                setattr(module, key, nn.Parameter(torch.empty_like(saved, device=tensor.device),
                                                  requires_grad=tensor.requires_grad))
        for key, tensor in list(module.named_buffers(recurse=False)):
            saved = state_dict.get(prefix + key)
            if tensor is not None and saved is not None and saved.shape != tensor.shape:
                setattr(module, key, torch.empty_like(saved, device=tensor.device))
        _sync_sizes(module)
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())  # torch's message spans lines; CompressError is one
        raise CompressError(f"these weights do not fit a pruned {type(model).__name__}: {detail}") from None
    return model


def _sync_sizes(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        module.out_features, module.in_features = module.weight.shape
    elif isinstance(module, nn.modules.conv._ConvNd):
        if module.groups > 1 and module.groups == module.out_channels:  # depthwise: one group per channel
            module.groups = module.weight.shape[0]
        module.out_channels = module.weight.shape[0]
        module.in_channels = module.weight.shape[1] * module.groups
    elif isinstance(module, nn.modules.batchnorm._BatchNorm):
        sized = [t for t in (module.weight, module.running_mean) if t is not None]
        module.num_features = sized[0].shape[0] if sized else module.num_features


def relation_note(amount: float, param_ratio: float) -> str:
    return (f"channel ratio {amount:g} -> parameter ratio {param_ratio:.3f}: inner layers lose channels on both sides "
            f"and keep about (1 - {amount:g})^2 = {(1 - amount) ** 2:.3f} of their weights, the first layer and the "
            f"classifier about 1 - {amount:g} = {1 - amount:.3f}")
