import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from compress_core.measure.metrics import (clean_state_dict, compare_to_baseline, count_params, flops, global_sparsity,
                                   latency_ms, layer_rows, serialized_size, sparse_decode, sparse_encode)
from compress_core.models.zoo import build_model


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))


def test_flops_count_two_per_multiply_add_and_scale_with_density():
    model = _mlp()
    f = flops(model, (4,))
    assert f["flops_dense"] == 2 * (4 * 3 + 3 * 2)
    prune.l1_unstructured(model[0], "weight", amount=6)  # half of layer 0's 12 weights
    f = flops(model, (4,))
    assert f["flops_dense"] == 36
    assert f["flops_effective"] == 36 - 24 // 2


def test_counts_and_sparsity_follow_masks():
    model = _mlp()
    prune.l1_unstructured(model[0], "weight", amount=6)
    total, nonzero = count_params(model)
    assert total == 12 + 3 + 6 + 2
    assert nonzero == total - 6
    assert global_sparsity(model) == pytest.approx(6 / 18)
    rows = layer_rows(model)
    assert [r["sparsity"] for r in rows] == [0.5, 0.0]
    assert set(clean_state_dict(model)) == {"0.weight", "0.bias", "2.weight", "2.bias"}


def test_sparse_encoding_round_trips_and_shrinks():
    model = build_model("lenet300", (1, 8, 8), 10)
    prune.global_unstructured([(m, "weight") for m in model.modules() if isinstance(m, nn.Linear)],
                              pruning_method=prune.L1Unstructured, amount=0.9)
    state = clean_state_dict(model)
    blob = sparse_encode(state)
    decoded = sparse_decode(blob)
    assert set(decoded) == set(state)
    for key in state:
        assert decoded[key].dtype == state[key].dtype
        assert torch.equal(decoded[key], state[key])
    assert len(blob) < serialized_size(state) / 5


def test_dense_tensors_stay_dense_in_the_sparse_format():
    state = {"w": torch.randn(50, 50)}
    blob = sparse_encode(state)
    assert torch.equal(sparse_decode(blob)["w"], state["w"])
    assert len(blob) < 50 * 50 * 4 + 400


def test_latency_is_a_positive_median_and_ratios_compare_to_baseline():
    model = _mlp()
    assert latency_ms(model, (4,), 1, repeats=5, warmup=1) > 0
    base = {"flops_dense": 100, "latency_ms_b1": 2.0, "latency_ms_b64": 4.0, "size_fp32_bytes": 1000}
    mine = {"flops_effective": 25, "latency_ms_b1": 1.0, "latency_ms_b64": 4.0, "size_fp32_bytes": 500}
    ratios = compare_to_baseline(mine, base)
    assert ratios == {"theoretical_speedup": 4.0, "speedup_b1": 2.0, "speedup_b64": 1.0, "size_ratio_fp32": 0.5}


def test_paired_latency_times_both_models():
    from compress_core.measure.metrics import paired_latency_ms

    small, large = _mlp(), nn.Sequential(nn.Linear(4, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 2))
    a, b = paired_latency_ms(small, large, (4,), 64, repeats=15, warmup=2)
    assert 0 < a < b, "a 512-wide network takes longer than a 3-wide one"


def test_device_of_models_without_parameters_is_cpu():
    """int8 layers keep packed weights that are not parameters; timing and FLOPs still find a device."""
    from compress_core.measure.metrics import device_of, latency_ms

    assert device_of(_mlp()) == torch.device("cpu")
    no_params = nn.Sequential(nn.ReLU(), nn.Flatten())
    assert device_of(no_params) == torch.device("cpu")
    assert latency_ms(no_params, (4,), 1, repeats=3, warmup=1) > 0
