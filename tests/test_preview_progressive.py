"""Progressive previews (issue 19): the numbers that need no evaluation, and the accuracy that arrives after.

- `preview.PruneNumbers` gives every number of `prune_preview` but accuracy and loss (sparsity, non-zero
  parameters, dense and sparse file sizes, thresholds, the kept weights' histogram) without copying or
  running the model, and they equal the full preview's exactly: on an MLP and on a tiny BERT built here.
- Where that could differ (zeros already in the weights) it answers None; on ties at the threshold the totals
  stay exact and only the split of the tied weights between layers and bins may differ.
- `preview.pruned_accuracy` is the full preview's accuracy and loss.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from compress_core.models.text import TextClassifier
from compress_core.models.transformers_env import import_transformers
from compress_core.present import preview


def tiny_bert_and_data(seed: int = 0):
    """A 2-layer BERT classifier (random weights) and token ids with padding: built here, nothing downloaded."""
    transformers = import_transformers()
    config = transformers.BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=32, num_labels=3)
    torch.manual_seed(seed)
    model = TextClassifier(transformers.BertForSequenceClassification(config).eval(), pad_id=0)
    x = torch.randint(1, 50, (40, 12))
    x[::3, 8:] = 0  # some padded texts
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, x, y


def mlp_and_data(seed: int = 0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(12, 24), nn.ReLU(), nn.Linear(24, 16), nn.ReLU(), nn.Linear(16, 3))
    x = torch.randn(90, 12)
    return model, x, model(x).argmax(dim=1)


def without_evaluation(full: dict) -> dict:
    return {k: v for k, v in full.items() if k not in ("accuracy", "loss")}


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], np.ndarray):
            assert a[key].dtype.kind == b[key].dtype.kind and np.array_equal(a[key], b[key]), key
        else:
            assert a[key] == b[key], key


@pytest.mark.parametrize("build", [mlp_and_data, tiny_bert_and_data])
@pytest.mark.parametrize("amount", [0.0, 0.004, 0.3, 0.5, 0.77, 0.99])
def test_numbers_without_evaluation_equal_the_full_preview(build, amount):
    model, x, y = build()
    lookup = preview.MagnitudeLookup(model)
    edges = preview.histogram_edges(np.concatenate(list(preview.prunable_weights(model).values())))
    numbers = preview.PruneNumbers(model, lookup)
    fast = numbers.numbers(amount, edges)
    full = preview.prune_preview(model, x, y, "l1", "global", amount, 0, edges)
    assert fast is not None
    assert_same(fast, without_evaluation(full))
    assert int(fast["kept_counts"].sum()) == lookup.sorted.size - lookup.removed_count(amount)  # kept, in range
    assert preview.pruned_accuracy(model, x, y, amount, lookup) == (full["accuracy"], full["loss"])
    assert not any(torch.nn.utils.prune.is_pruned(m) for m in model.modules())  # the baseline is untouched


def test_numbers_change_with_the_amount_and_skip_evaluation(monkeypatch):
    model, x, y = tiny_bert_and_data(1)
    numbers = preview.PruneNumbers(model, preview.MagnitudeLookup(model))
    monkeypatch.setattr(preview, "evaluate", lambda *a, **k: pytest.fail("the numbers ran the model"))
    low, high = numbers.numbers(0.2), numbers.numbers(0.8)
    assert low["params_nonzero"] > high["params_nonzero"] and low["size_sparse_bytes"] > high["size_sparse_bytes"]
    assert low["size_fp32_bytes"] == high["size_fp32_bytes"]  # masks do not shrink the dense file


def test_numbers_refuse_zeros_and_keep_totals_exact_on_ties():
    model, x, y = mlp_and_data(2)
    with torch.no_grad():
        model[0].weight[0, :3] = 0.0  # zeros before pruning
    assert preview.PruneNumbers(model, preview.MagnitudeLookup(model)).numbers(0.5) is None
    model, x, y = mlp_and_data(3)
    with torch.no_grad():
        w = model[0].weight  # the first layer: five magnitudes, both signs, below every other layer's weights
        w.copy_(torch.sign(w) * torch.randint(1, 6, w.shape, generator=torch.Generator().manual_seed(0)) * 1e-3)
    lookup = preview.MagnitudeLookup(model)
    numbers = preview.PruneNumbers(model, lookup)
    edges = preview.histogram_edges(np.concatenate(list(preview.prunable_weights(model).values())))
    tied = [a / 100 for a in range(1, 60) if lookup.apply(copy.deepcopy(model), a / 100) is None]
    assert len(tied) > 5  # amounts whose cut falls inside a tied group: torch's top-k picks among them
    for amount in tied:  # totals exact; per layer only the tied weights' split may differ from torch's
        full = preview.prune_preview(model, x, y, "l1", "global", amount, 0, edges)
        fast = numbers.numbers(amount, edges)
        for key in ("params_total", "params_nonzero", "sparsity", "param_compression_ratio", "size_fp32_bytes"):
            assert fast[key] == full[key], key
        assert max(fast["thresholds"].values()) == max(full["thresholds"].values()) == lookup.threshold(amount)
        tied_weights = int((np.abs(np.concatenate(list(lookup.weights.values()))) == lookup.threshold(amount)).sum())
        assert np.abs(fast["kept_counts"] - full["kept_counts"]).sum() <= 2 * tied_weights
        assert fast["kept_counts"].sum() == full["kept_counts"].sum()
        assert abs(fast["size_sparse_bytes"] - full["size_sparse_bytes"]) <= 4 * tied_weights + 16
    full = preview.prune_preview(model, x, y, "l1", "global", 0.95, 0, edges)  # past the ties: exact again
    assert_same(numbers.numbers(0.95, edges), without_evaluation(full))


@pytest.mark.parametrize("granularity", ["tensor", "channel"])
def test_quantize_parts_equal_the_full_preview(granularity):
    from compress_core.measure.metrics import serialized_size

    model, x, y = tiny_bert_and_data(2)
    layer = preview.prunable_weights(model).__iter__().__next__()
    full = preview.quantize_preview(model, x, y, layer, 3, granularity, channel=1)
    numbers = preview.quantize_numbers(model, layer, 3, granularity, 1, serialized_size(model.state_dict()))
    assert_same(numbers, without_evaluation(full))
    assert preview.quantized_accuracy(model, x, y, 3, granularity) == (full["accuracy"], full["loss"])


def test_softened_outputs_from_logits_once():
    from compress_core.training.loop import predict_logits

    model, x, y = tiny_bert_and_data(3)
    logits = predict_logits(model, x[:4])
    for t in (1.0, 4.0):
        assert np.array_equal(preview.soften(logits, t), preview.softened_outputs(model, x[:4], t))
