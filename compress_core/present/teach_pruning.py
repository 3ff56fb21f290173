"""What the Learn page's pruning lesson shows for one slider value, without copying and pruning the model per move.

Why (issue 19, docs/performance.md "lp20"): an uncached move of the lesson cost about 12 ms of CPU on one
thread, half of it `teach.pruned_copy` (a `copy.deepcopy` of the model and torch's top-k in `prune_to`),
and the churn of a fresh model per move fed Python's garbage collector. `PruningLesson` keeps ONE copy of
the model in the form `prune_to` leaves (`weight_orig` and a `weight_mask` on every prunable layer, made by
`prune.identity`) and a move only writes new masks into it. Everything the lesson shows is then measured on
that copy by the same functions as before (`evaluate`, `count_params`, `teach.file_sizes`'s encoding,
`teach.histogram_parts`, `teach.first_layer`), so every number is the one `teach.pruned_copy` gives.

The masks are torch's own: L1 pruning removes the `round(amount * n)` smallest |w| (`torch.nn.utils.prune`'s
count; global scope over all prunable weights together, layer scope per layer). With the |w| sorted once,
that set is "|w| <= the k-th smallest" whenever no other weight ties with it; the count is checked on every
move, and a tie, an amount of 0 (no masks at all) or a model that already has zeros or masks takes the
reference path (`reference_numbers`: copy and `prune_to`). Written by hand: torch's pruning has no form
that reuses a ranking. The copy is shared by every session of a server, so one move at a time uses it (a lock).
"""
from __future__ import annotations

import copy
import threading
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from compress_core.measure.metrics import clean_state_dict, count_params, serialized_size, sparse_encode
from compress_core.models.zoo import prunable_layers
from compress_core.present import teach
from compress_core.present.preview import prunable_weights
from compress_core.specs import check_range
from compress_core.training.loop import evaluate

SCOPES = ("global", "layer")


def reference_numbers(model: nn.Module, x_test: torch.Tensor, y_test: torch.Tensor, amount: float, scope: str,
                      units: Sequence[int]) -> dict:
    """The lesson's numbers for `amount` (a share, 0 <= amount < 1) through a pruned copy (`teach.pruned_copy`):
    accuracy, parameter counts, file sizes, the histogram's parts, the pruned first-layer weights of `units`."""
    pruned = teach.pruned_copy(model, amount, scope)
    return _measure(model, pruned, x_test, y_test, scope, units, serialized_size(clean_state_dict(model)))


def _measure(model: nn.Module, pruned: nn.Module, x_test: torch.Tensor, y_test: torch.Tensor, scope: str,
             units: Sequence[int], dense_bytes: int) -> dict:
    accuracy, _ = evaluate(pruned, x_test, y_test)
    total, nonzero = count_params(pruned)
    return {"accuracy": accuracy, "total": total, "nonzero": nonzero, "dense_bytes": dense_bytes,
            "sparse_bytes": len(sparse_encode(clean_state_dict(pruned))),
            "hist": teach.histogram_parts(model, pruned, scope),
            "first_layer": teach.first_layer(pruned)[list(units)].numpy()}


class PruningLesson:
    """One masked copy of `model` and its sorted magnitudes: `numbers(amount, scope, ...)` for any slider value.

    `model` is never modified (the page shares it with other pages)."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.weights = prunable_weights(model)  # per layer, flattened, in prunable_layers' order
        self.sorted = {"global": np.sort(np.abs(np.concatenate(list(self.weights.values()))))}
        self.sorted.update({name: np.sort(np.abs(w)) for name, w in self.weights.items()})
        self.dense_bytes = serialized_size(clean_state_dict(model))  # no slider changes the dense file
        # Zeros or masks already: torch would prune a share relative to them (prune_to's `_relative`).
        self.supported = all(s.size and s[0] > 0 for s in self.sorted.values()) and not any(
            torch_prune.is_pruned(m) for _, m in prunable_layers(model))
        self.copy, self.layers = None, []
        if self.supported:
            self.copy = copy.deepcopy(model)
            self.layers = prunable_layers(self.copy)
            for _, module in self.layers:
                torch_prune.identity(module, "weight")  # the form prune_to leaves: weight_orig, weight_mask, a hook
        self.lock = threading.Lock()

    def keep_masks(self, amount: float, scope: str) -> dict[str, np.ndarray] | None:
        """Per layer, True for the weights L1 pruning at `amount` keeps (flattened), or None where a weight ties
        with the largest removed one (torch's top-k then picks some of the tied weights, these masks would not)."""
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}; got {scope!r}")
        if not self.supported:
            return None
        groups = {"global": list(self.weights)} if scope == "global" else {name: [name] for name in self.weights}
        masks = {}
        for group, names in groups.items():
            ranked = self.sorted[group]
            k = int(round(float(amount) * ranked.size))  # torch.nn.utils.prune._compute_nparams_toprune
            threshold = ranked[k - 1] if k > 0 else -np.inf
            if k < ranked.size and ranked[k] == threshold:  # a tie at the threshold
                return None
            for name in names:
                masks[name] = np.abs(self.weights[name]) > threshold
        return masks

    def numbers(self, amount: float, scope: str, x_test: torch.Tensor, y_test: torch.Tensor,
                units: Sequence[int]) -> dict:
        """`reference_numbers(model, x_test, y_test, amount, scope, units)`, on the masked copy when it can be."""
        check_range("amount", amount, 0, 1, high_open=True)
        masks = self.keep_masks(amount, scope) if amount > 0 else None  # amount 0: pruned_copy adds no masks
        if masks is None:
            return reference_numbers(self.model, x_test, y_test, amount, scope, units)
        with self.lock:
            with torch.no_grad():
                for name, module in self.layers:
                    mask = torch.from_numpy(masks[name].reshape(tuple(module.weight_mask.shape)))
                    module.weight_mask.copy_(mask)  # 0/1 in the mask's dtype, as torch's own masks
                    module.weight = module.weight_orig * module.weight_mask  # what the pruning hook computes
            return _measure(self.model, self.copy, x_test, y_test, scope, units, self.dense_bytes)
