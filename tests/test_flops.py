"""FLOPs: torch's dense count equals a hand count on small models; non-zero FLOPs skip zero weights."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from compress_core.measure.flops import dense_flops, layer_macs, nonzero_flops, theoretical_speedup
from compress_core.measure.metrics import flops as density_scaled_flops


def _conv_net():
    torch.manual_seed(0)
    # 1x8x8 input -> conv 3x3 pad 1 (4 ch, 8x8 out) -> conv 3x3 stride 2, groups 2 (4 ch, 4x4 out) -> linear 64 -> 10
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=2),
                         nn.ReLU(), nn.Flatten(), nn.Linear(64, 10))


def test_dense_flops_of_a_linear_model_by_hand():
    model = nn.Sequential(nn.Linear(20, 30), nn.ReLU(), nn.Linear(30, 5))
    assert dense_flops(model, (20,)) == 2 * (20 * 30 + 30 * 5)  # 2 FLOPs per multiply-add, biases not counted


def test_dense_flops_of_a_conv_model_by_hand():
    macs = 4 * 1 * 9 * (8 * 8) + 4 * (4 // 2) * 9 * (4 * 4) + 64 * 10  # out ch x in ch/groups x k^2 x positions
    model = _conv_net()
    assert dense_flops(model, (1, 8, 8)) == 2 * macs
    rows = {r["name"]: r for r in layer_macs(model, (1, 8, 8))}
    assert [rows[n]["positions"] for n in ("0", "2", "5")] == [64, 16, 1]
    assert sum(r["macs_dense"] for r in rows.values()) == macs


def test_a_90_percent_sparse_layer_gives_10x_fewer_flops():
    model = nn.Sequential(nn.Linear(100, 100, bias=False))
    dense = dense_flops(model, (100,))
    prune.l1_unstructured(model[0], "weight", amount=0.9)  # masks: the dense kernel still does every MAC
    assert dense_flops(model, (100,)) == dense == 2 * 100 * 100
    nonzero = nonzero_flops(model, (100,))
    assert nonzero == 2 * 1000
    assert theoretical_speedup(dense, nonzero) == pytest.approx(10.0)


def test_nonzero_count_of_a_pruned_conv_net_matches_the_density_scaled_count():
    model = _conv_net()
    for layer in (model[0], model[2], model[5]):
        prune.random_unstructured(layer, "weight", amount=0.6)
    rows = layer_macs(model, (1, 8, 8))
    by_hand = sum(torch.count_nonzero(m.weight).item() * r["positions"] for m, r in zip((model[0], model[2], model[5]), rows))
    assert sum(r["macs_nonzero"] for r in rows) == by_hand
    nonzero = nonzero_flops(model, (1, 8, 8))
    assert nonzero == 2 * by_hand  # every FLOP of this net is in a Linear/Conv layer
    # an independent count (each layer's FlopCounterMode FLOPs scaled by its density) agrees
    assert nonzero == density_scaled_flops(model, (1, 8, 8))["flops_effective"]


def test_theoretical_speedup_needs_both_counts():
    assert theoretical_speedup(None, 100) is None and theoretical_speedup(1000, 0) is None
    assert theoretical_speedup(1000, 250) == 4.0
