"""Instant previews show exactly what a run does before fine-tuning, and answer fast."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from compress_core import api

from compress_core.present import preview
from compress_core.training.baseline import get_baseline
from compress_core.context import RunContext
from compress_core.methods.prune import prune_to
from compress_core.methods.quantize import fake_quantize_model
from compress_core.specs import PruneSpec
from compress_core.training.loop import evaluate

BASELINE_EPOCHS = 2


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COMPRESS_LAB_LATENCY_REPEATS", "5")
        yield tmp_path_factory.mktemp("preview_home")


@pytest.fixture(scope="module")
def base(home):
    spec = PruneSpec(baseline_epochs=BASELINE_EPOCHS).baseline_spec()
    ctx = RunContext.create(home=home)
    assert not preview.baseline_is_cached(spec, ctx)
    baseline = get_baseline(spec, ctx)
    assert preview.baseline_is_cached(spec, ctx)
    return baseline


@pytest.mark.parametrize("method,scope", [("l1", "global"), ("l1", "layer"), ("random", "global")])
def test_prune_preview_equals_the_run_before_fine_tuning(home, base, method, scope):
    spec = PruneSpec(method=method, scope=scope, amount=0.6, finetune_epochs=0, baseline_epochs=BASELINE_EPOCHS)
    run = api.run(spec, home=home).metrics
    shown = preview.prune_preview(base.model, base.data.x_test, base.data.y_test, method, scope, 0.6, spec.seed)
    assert shown["accuracy"] == pytest.approx(run["accuracy_before_finetune"], abs=1e-9)
    assert shown["params_nonzero"] == run["params_nonzero"]
    assert shown["sparsity"] == pytest.approx(run["sparsity"])
    assert shown["size_sparse_bytes"] == run["size_sparse_bytes"]
    assert (shown["thresholds"] != {}) == (method == "l1")


def test_l1_threshold_separates_removed_from_kept_weights(base):
    edges = preview.histogram_edges(np.concatenate(list(preview.prunable_weights(base.model).values())))
    shown = preview.prune_preview(base.model, base.data.x_test, base.data.y_test, "l1", "global", 0.7, 0, edges)
    t = max(shown["thresholds"].values())
    weights = np.concatenate(list(preview.prunable_weights(base.model).values()))
    assert np.mean(np.abs(weights) <= t) == pytest.approx(0.7, abs=1e-4)
    assert shown["kept_counts"].sum() == shown["params_nonzero"] - sum(  # kept weights, biases aside
        m.bias.numel() for m in base.model.modules() if isinstance(m, torch.nn.Linear))
    assert preview.prune_preview(base.model, base.data.x_test, base.data.y_test, "l1", "global", 0.0)["sparsity"] == 0


def test_structured_preview_equals_the_run_before_fine_tuning(home, base):
    spec = PruneSpec(method="structured", amount=0.5, finetune_epochs=0, baseline_epochs=BASELINE_EPOCHS)
    run = api.run(spec, home=home).metrics
    shown = preview.structured_preview(base.model, base.data.x_test, base.data.y_test, base.data.input_shape, 0.5)
    assert shown["accuracy"] == pytest.approx(run["accuracy_before_finetune"], abs=1e-9)
    assert shown["params_total"] == run["params_total"]
    assert shown["param_ratio"] == pytest.approx(run["param_ratio"])
    assert [row["channels_kept"] for row in shown["layers"]] == [150, 50, 10]  # the classifier keeps its classes
    assert shown["flops"] < shown["flops_before"]


def test_quantize_preview(base):
    x, y = base.data.x_test, base.data.y_test
    shown = preview.quantize_preview(base.model, x, y, "net.1", 3, "channel", channel=999)
    expected, _ = evaluate(fake_quantize_model(copy.deepcopy(base.model), 3, "channel"), x, y)
    assert shown["accuracy"] == expected
    assert len(shown["levels"]) == 2**3 - 1 and shown["levels"][0] == -shown["levels"][-1]
    assert shown["channel"] == 299  # clamped to the layer's last output channel
    assert shown["counts"].sum() == 64  # that channel's weights (one per input feature)
    assert shown["shown_error"]["max_abs"] <= shown["grid_step"] / 2 + 1e-7  # its own grid: half a step at most
    tensor = preview.quantize_preview(base.model, x, y, "net.1", 8, "tensor")
    assert tensor["channel"] is None and tensor["counts"].sum() == 300 * 64
    assert tensor["shown_error"] == tensor["error"]  # one grid for the whole layer
    assert tensor["error"]["sqnr_db"] > shown["error"]["sqnr_db"]
    assert tensor["size_packed_bytes"] < tensor["size_fp32_bytes"]


def test_softened_outputs_spread_with_temperature(base):
    x = base.data.x_test[:4]
    cold, warm = preview.softened_outputs(base.model, x, 1.0), preview.softened_outputs(base.model, x, 8.0)
    assert np.allclose(cold.sum(1), 1, atol=1e-5) and np.allclose(warm.sum(1), 1, atol=1e-5)
    assert (preview.entropy_bits(warm) > preview.entropy_bits(cold)).all()
    assert (cold.argmax(1) == warm.argmax(1)).all()


@pytest.mark.parametrize("amount", [0.0, 0.1, 0.5, 0.6, 0.93, 1.0])
def test_magnitude_lookup_equals_prune_to(base, amount):
    """One threshold lookup on the sorted |w| keeps exactly the weights global L1 pruning keeps."""
    lookup = preview.MagnitudeLookup(base.model)
    pruned = copy.deepcopy(base.model)
    if amount > 0:
        prune_to(pruned, "l1", "global", amount)
    kept = {name: w != 0 for name, w in preview.prunable_weights(pruned).items()}
    masks = lookup.keep_masks(amount)
    assert masks.keys() == kept.keys()
    for name in kept:
        assert np.array_equal(masks[name], kept[name]), name
    weights = np.concatenate(list(preview.prunable_weights(pruned).values()))
    assert lookup.sparsity(amount) == float((weights == 0).mean())
    if 0 < amount < 1:
        assert lookup.threshold(amount) == pytest.approx(max(preview.removed_thresholds(pruned).values()))
