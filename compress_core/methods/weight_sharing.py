"""Trained quantization by weight sharing (Han et al. 2016, Deep Compression section 3).

Every prunable layer's surviving (non-zero) weights are clustered into at most 2^b centroids by
1-D k-means with **linear initialisation** (centroids spread evenly over [min, max] of the
surviving weights, which the paper found best because it keeps the rare large weights); each
weight is then replaced by its centroid, so a layer holds at most 2^b distinct non-zero values
and stores a b-bit index per weight plus the codebook. Pruned weights stay exactly zero.

The centroids are then fine-tuned: the gradient of a centroid is the sum of the gradients of
the weights that share it (the paper's eq. 3), and the weights are rewritten from the codebook
after every step, so the sharing and the mask hold throughout. Biases train as usual.

k-means is scikit-learn's (`KMeans` with an explicit linear `init`). Written by hand: only the
grouped-gradient centroid update (`grouped_gradient`, an `index_add_` of the weight gradients),
which no library offers for a codebook tied to a layer's weights.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from compress_core.errors import CompressError
from compress_core.models.zoo import prunable_layers
from compress_core.progress import emit
from compress_core.specs import check_range
from compress_core.training.loop import FitConfig, evaluate

MIN_BITS, MAX_BITS = 1, 8


def check_bits(name: str, bits) -> None:
    check_range(name, bits, MIN_BITS, MAX_BITS, integer=True)


def is_conv(module: nn.Module) -> bool:
    return isinstance(module, nn.modules.conv._ConvNd)


def layer_bits(module: nn.Module, conv_bits: int, fc_bits: int) -> int:
    """The codebook bits of a layer by its kind: convolutions get `conv_bits`, every other layer `fc_bits`."""
    return conv_bits if is_conv(module) else fc_bits


def linear_init(values: np.ndarray, k: int) -> np.ndarray:
    """k centroids evenly spaced over [min, max] of `values` (the paper's linear initialisation), as KMeans' init."""
    return np.linspace(values.min(), values.max(), k).reshape(-1, 1)


def cluster(values: np.ndarray, bits: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(codebook float32 of at most 2^bits centroids, centroid index of every value) by 1-D k-means.

    Fewer centroids than 2^bits when there are fewer distinct values (k-means cannot place more
    clusters than points); an empty input gives an empty codebook.
    """
    from sklearn.cluster import KMeans  # scikit-learn is imported only by runs that share weights

    check_bits("bits", bits)
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if not len(values):
        return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
    k = min(2 ** bits, len(np.unique(values)))
    with warnings.catch_warnings():  # identical points: k-means says so, the codebook is still right
        warnings.simplefilter("ignore")
        km = KMeans(n_clusters=k, init=linear_init(values, k), n_init=1, random_state=seed).fit(values.reshape(-1, 1))
    return km.cluster_centers_.reshape(-1).astype(np.float32), km.labels_.astype(np.int64)


@dataclass
class SharedLayer:
    """One layer whose surviving weights share a codebook.

    `mask` marks the surviving weights; `labels[i]` is the centroid of the i-th surviving weight
    (in `weight[mask]` order); `codebook` is the trainable centroid vector.
    """

    name: str
    module: nn.Module
    bits: int
    mask: torch.Tensor
    labels: torch.Tensor
    codebook: torch.Tensor

    @torch.no_grad()
    def write(self) -> None:
        """Set the layer's weights from the codebook: centroid values where kept, exact zeros elsewhere."""
        weight = self.module.weight
        shared = torch.zeros_like(weight)
        shared[self.mask] = self.codebook.detach().to(weight.dtype)[self.labels]
        weight.copy_(shared)

    def to(self, device) -> "SharedLayer":
        self.mask, self.labels = self.mask.to(device), self.labels.to(device)
        self.codebook = nn.Parameter(self.codebook.detach().to(device))
        return self

    @property
    def key(self) -> str:
        """The weight's key in the model's state dict."""
        return f"{self.name}.weight" if self.name else "weight"


def share_weights(model: nn.Module, conv_bits: int, fc_bits: int, seed: int = 0) -> list[SharedLayer]:
    """Cluster every prunable layer's non-zero weights (masks already folded in) and write the centroids back.

    Returns one `SharedLayer` per prunable layer; the model's weights then hold at most 2^b
    distinct non-zero values per layer and the same zeros as before.
    """
    check_bits("conv_bits", conv_bits)
    check_bits("fc_bits", fc_bits)
    layers = prunable_layers(model)
    if not layers:
        raise CompressError(f"model {type(model).__name__} has no prunable layer (Linear or Conv2d) to share weights in")
    shared = []
    for name, module in layers:
        if hasattr(module, "weight_orig"):
            raise CompressError(f"layer {name!r} still has a pruning mask; fold it in (make_permanent) first")
        weight = module.weight.detach()
        mask = weight != 0
        bits = layer_bits(module, conv_bits, fc_bits)
        codebook, labels = cluster(weight[mask].cpu().numpy(), bits, seed)
        layer = SharedLayer(name, module, bits, mask, torch.from_numpy(labels).to(weight.device),
                            nn.Parameter(torch.from_numpy(codebook).to(weight.device)))
        layer.write()
        shared.append(layer)
    return shared


def grouped_gradient(layer: SharedLayer) -> torch.Tensor:
    """Gradient of each centroid: the sum of the gradients of the weights that share it (Han et al. 2016, eq. 3).

    Hand-written (see the module note). Reads `layer.module.weight.grad` from the last backward pass.
    """
    grad = layer.module.weight.grad
    out = torch.zeros_like(layer.codebook.detach())
    if grad is None or not len(layer.labels):
        return out
    return out.index_add_(0, layer.labels, grad[layer.mask].to(out.dtype))


def finetune_centroids(model: nn.Module, layers: list[SharedLayer], data, config: FitConfig, *, on_progress=None,
                       device=None, stage: str = "centroids") -> list[dict]:
    """Fine-tune the codebooks (and every parameter that is not a shared weight) with Adam on cross-entropy.

    Each step: backward through the model, set every codebook's gradient to its grouped gradient,
    step, rewrite the weights from the codebooks. Same schedule as the lab's fine-tuning (cosine
    decay of `config.lr`, seeded batches); returns per-epoch history rows like `fit`.
    """
    device = device or next(model.parameters()).device
    model.to(device)
    for layer in layers:
        layer.to(device)
    shared_ids = {id(layer.module.weight) for layer in layers}
    others = [p for p in model.parameters() if p.requires_grad and id(p) not in shared_ids]
    codebooks = [layer.codebook for layer in layers]
    opt = torch.optim.Adam(codebooks + others, lr=config.lr, weight_decay=config.weight_decay)
    x, y = data.x_train.to(device), data.y_train.to(device)
    n = len(x)
    gen = torch.Generator().manual_seed(config.seed)
    steps_per_epoch = max(1, math.ceil(n / config.batch_size))
    total, step, history = steps_per_epoch * config.epochs, 0, []
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(n, generator=gen).to(device)
        loss_sum = 0.0
        for start in range(0, n, config.batch_size):
            idx = order[start:start + config.batch_size]
            if config.cosine:
                for group in opt.param_groups:
                    group["lr"] = config.lr * 0.5 * (1 + math.cos(math.pi * step / total))
            model.zero_grad(set_to_none=True)
            opt.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            for layer in layers:
                layer.codebook.grad = grouped_gradient(layer)
            opt.step()
            for layer in layers:
                layer.write()
            loss_sum += loss.item() * len(idx)
            step += 1
        accuracy, test_loss = evaluate(model, data.x_test, data.y_test, device)
        history.append({"epoch": epoch, "stage": stage, "train_loss": loss_sum / max(n, 1), "test_loss": test_loss,
                        "test_accuracy": accuracy})
        emit(on_progress, stage, epoch, config.epochs, f"{stage}: epoch {epoch}/{config.epochs}",
             test_accuracy=accuracy, train_loss=history[-1]["train_loss"])
    model.zero_grad(set_to_none=True)
    return history


def codebooks(layers: list[SharedLayer]) -> dict[str, np.ndarray]:
    """{state-dict key of each shared weight: its codebook as float32}, for the storage codec."""
    return {layer.key: layer.codebook.detach().cpu().numpy().astype(np.float32) for layer in layers}
